//! Stored IAM audits.

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use vigilo_storage::{IamAudit, NewIamAudit, Page, Result};

use crate::codec::{col, count_col, micros, paging, parse_json, time_col, to_json};
use crate::{SqliteStorage, db_err};

fn decode(row: &SqliteRow, with_report: bool) -> Result<IamAudit> {
    let summary: &str = col(row, "summary")?;
    let report = if with_report {
        let text: &str = col(row, "report")?;
        parse_json(text, "report")?
    } else {
        serde_json::Value::Null
    };
    Ok(IamAudit {
        id: col(row, "id")?,
        created_at: time_col(row, "created_at")?,
        source: col(row, "source")?,
        input_format: col(row, "input_format")?,
        summary: parse_json(summary, "summary")?,
        report,
    })
}

pub(crate) async fn insert(store: &SqliteStorage, audit: NewIamAudit) -> Result<IamAudit> {
    let summary = to_json(&audit.summary, "audit summary")?;
    let report = to_json(&audit.report, "audit report")?;
    let id = store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO iam_audits (created_at, source, input_format, summary, report) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                rusqlite::params![
                    micros(audit.created_at),
                    audit.source,
                    audit.input_format,
                    summary,
                    report
                ],
            )
            .map_err(db_err("insert iam audit"))?;
            Ok(db.last_insert_rowid())
        })
        .await?;
    Ok(IamAudit {
        id,
        created_at: audit.created_at,
        source: audit.source,
        input_format: audit.input_format,
        summary: audit.summary,
        report: audit.report,
    })
}

pub(crate) async fn list(pool: &SqlitePool, page: u32, page_size: u32) -> Result<Page<IamAudit>> {
    let (page, page_size, offset) = paging(page, page_size);
    let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM iam_audits")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("count iam audits"))?;
    let total = count_col(&row, "n")?;
    let rows = sqlx::query(
        "SELECT id, created_at, source, input_format, summary FROM iam_audits \
         ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
    )
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err("list iam audits"))?;
    let items = rows
        .iter()
        .map(|r| decode(r, false))
        .collect::<Result<_>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn get(pool: &SqlitePool, id: i64) -> Result<Option<IamAudit>> {
    let row = sqlx::query(
        "SELECT id, created_at, source, input_format, summary, report FROM iam_audits WHERE id = ?",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("get iam audit"))?;
    row.map(|r| decode(&r, true)).transpose()
}

/// Up to `limit` audits after `after`, newest first, without their reports.
pub(crate) async fn scan(
    pool: &SqlitePool,
    after: Option<vigilo_storage::Cursor>,
    limit: u32,
) -> Result<Vec<IamAudit>> {
    let limit = i64::from(limit.clamp(1, vigilo_storage::MAX_SCAN_PAGE));
    let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
    let select = "SELECT id, created_at, source, input_format, summary FROM iam_audits";
    let mut out = Vec::new();
    // As with events: the cursor's own time by id, then older times, so a
    // run of equal times is not rescanned for every page.
    let steps: Vec<(String, Vec<i64>)> = match after {
        Some(c) => {
            let t = micros(c.time);
            vec![
                (
                    format!("{select} WHERE created_at = ? AND id < ? ORDER BY id DESC LIMIT ?"),
                    vec![t, c.id],
                ),
                (
                    format!(
                        "{select} WHERE created_at < ? ORDER BY created_at DESC, id DESC LIMIT ?"
                    ),
                    vec![t],
                ),
            ]
        }
        None => vec![(
            format!("{select} ORDER BY created_at DESC, id DESC LIMIT ?"),
            Vec::new(),
        )],
    };
    for (sql, binds) in steps {
        let want = limit - out.len() as i64;
        if want <= 0 {
            break;
        }
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query
            .bind(want)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("scan iam audits"))?;
        for r in &rows {
            out.push(decode(r, false)?);
        }
    }
    Ok(out)
}
