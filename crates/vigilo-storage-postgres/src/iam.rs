//! IAM audits: the engine's JSON reports, stored as JSONB.

use sqlx::PgPool;
use sqlx::postgres::PgRow;
use vigilo_storage::{Cursor, IamAudit, MAX_SCAN_PAGE, NewIamAudit, Page, Result};

use crate::codec::{col, count_col, json_col, paging, to_json};
use crate::db_err;

const LISTED: &str = "id, created_at, source, input_format, summary::text AS summary";

fn decode(row: &PgRow, with_report: bool) -> Result<IamAudit> {
    Ok(IamAudit {
        id: col(row, "id")?,
        created_at: col(row, "created_at")?,
        source: col(row, "source")?,
        input_format: col(row, "input_format")?,
        summary: json_col(row, "summary")?,
        report: if with_report {
            json_col(row, "report")?
        } else {
            serde_json::Value::Null
        },
    })
}

pub(crate) async fn insert(pool: &PgPool, audit: NewIamAudit) -> Result<IamAudit> {
    let summary = to_json(&audit.summary, "audit summary")?;
    let report = to_json(&audit.report, "audit report")?;
    let (id, created_at): (i64, chrono::DateTime<chrono::Utc>) = sqlx::query_as(
        "INSERT INTO iam_audits (created_at, source, input_format, summary, report) \
         VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) RETURNING id, created_at",
    )
    .bind(audit.created_at)
    .bind(&audit.source)
    .bind(&audit.input_format)
    .bind(summary)
    .bind(report)
    .fetch_one(pool)
    .await
    .map_err(db_err("insert iam audit"))?;
    Ok(IamAudit {
        id,
        created_at,
        source: audit.source,
        input_format: audit.input_format,
        summary: audit.summary,
        report: audit.report,
    })
}

pub(crate) async fn list(pool: &PgPool, page: u32, page_size: u32) -> Result<Page<IamAudit>> {
    let (page, page_size, offset) = paging(page, page_size);
    let mut tx = crate::codec::snapshot(pool).await?;
    let row = sqlx::query("SELECT COUNT(*) AS n FROM iam_audits")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("count iam audits"))?;
    let total = count_col(&row, "n")?;
    let rows = sqlx::query(&format!(
        "SELECT {LISTED} FROM iam_audits ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
    ))
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err("list iam audits"))?;
    tx.commit().await.map_err(db_err("end read"))?;
    let items = rows
        .iter()
        .map(|r| decode(r, false))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn get(pool: &PgPool, id: i64) -> Result<Option<IamAudit>> {
    let row = sqlx::query(&format!(
        "SELECT {LISTED}, report::text AS report FROM iam_audits WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read iam audit"))?;
    row.as_ref().map(|r| decode(r, true)).transpose()
}

pub(crate) async fn scan(
    pool: &PgPool,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<IamAudit>> {
    let limit = i64::from(limit.clamp(1, MAX_SCAN_PAGE));
    let rows = match after {
        Some(c) => {
            sqlx::query(&format!(
                "SELECT {LISTED} FROM iam_audits WHERE (created_at, id) < ($1, $2) \
             ORDER BY created_at DESC, id DESC LIMIT $3"
            ))
            .bind(c.time)
            .bind(c.id)
            .bind(limit)
            .fetch_all(pool)
            .await
        }
        None => {
            sqlx::query(&format!(
                "SELECT {LISTED} FROM iam_audits ORDER BY created_at DESC, id DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await
        }
    }
    .map_err(db_err("scan iam audits"))?;
    rows.iter().map(|r| decode(r, false)).collect()
}
