//! Findings: the detection commit (upsert on incident key, evidence,
//! rollups, rule match counts, watermark), lookups, listings and patches.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use vigilo_core::finding::EVIDENCE_CAP;
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{FindingPatch, FindingQuery, FindingWrite, Page, Result, StorageError};

use crate::codec::{
    col, count_col, micros, minute_of, paging, parse_enum, parse_json, time_col, to_json,
};
use crate::{SqliteStorage, db_err};

const FINDING_COLUMNS: &str = "id, incident_key, rule_id, rule_title, severity, status, \
    group_json, service, user, first_seen, last_seen, event_count, description, tags_json, \
    risk_score, explanation, note, created_at, updated_at";

/// A finding row without its evidence, plus its incident key.
fn decode_finding(row: &SqliteRow) -> Result<(String, Finding)> {
    let severity: &str = col(row, "severity")?;
    let status: &str = col(row, "status")?;
    let group: &str = col(row, "group_json")?;
    let tags: &str = col(row, "tags_json")?;
    let risk: i64 = col(row, "risk_score")?;
    let finding = Finding {
        id: col(row, "id")?,
        rule_id: col(row, "rule_id")?,
        rule_title: col(row, "rule_title")?,
        severity: parse_enum::<Severity>(severity, "severity")?,
        status: parse_enum::<FindingStatus>(status, "status")?,
        group: parse_json::<BTreeMap<String, String>>(group, "group_json")?,
        service: col(row, "service")?,
        user: col(row, "user")?,
        first_seen: time_col(row, "first_seen")?,
        last_seen: time_col(row, "last_seen")?,
        event_count: col(row, "event_count")?,
        evidence: Vec::new(),
        description: col(row, "description")?,
        tags: parse_json::<Vec<String>>(tags, "tags_json")?,
        risk_score: u8::try_from(risk)
            .map_err(|_| StorageError::Corrupt(format!("risk_score: {risk} is not 0-255")))?,
        explanation: col(row, "explanation")?,
        note: col(row, "note")?,
        created_at: time_col(row, "created_at")?,
        updated_at: time_col(row, "updated_at")?,
    };
    Ok((col(row, "incident_key")?, finding))
}

/// Fill in the evidence of `findings` (any order), reading through `conn`.
async fn attach_evidence(conn: &mut SqliteConnection, findings: &mut [Finding]) -> Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    let mut by_id: HashMap<i64, usize> = HashMap::with_capacity(findings.len());
    for (i, f) in findings.iter().enumerate() {
        by_id.insert(f.id, i);
    }
    let ids: Vec<i64> = by_id.keys().copied().collect();
    for chunk in ids.chunks(10_000) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "SELECT finding_id, event_id FROM finding_evidence WHERE finding_id IN (",
        );
        let mut list = qb.separated(",");
        for id in chunk {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY finding_id, seq");
        let rows = qb
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("read finding evidence"))?;
        for row in &rows {
            let fid: i64 = col(row, "finding_id")?;
            let eid: i64 = col(row, "event_id")?;
            if let Some(&i) = by_id.get(&fid) {
                findings[i].evidence.push(eid);
            }
        }
    }
    Ok(())
}

async fn fetch_findings(
    conn: &mut SqliteConnection,
    sql_tail: &str,
    binds: &[i64],
) -> Result<Vec<(String, Finding)>> {
    let sql = format!("SELECT {FINDING_COLUMNS} FROM findings {sql_tail}");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("read findings"))?;
    let mut keyed: Vec<(String, Finding)> =
        rows.iter().map(decode_finding).collect::<Result<_>>()?;
    let mut findings: Vec<Finding> = keyed.iter().map(|(_, f)| f.clone()).collect();
    attach_evidence(conn, &mut findings).await?;
    for ((_, slot), f) in keyed.iter_mut().zip(findings) {
        *slot = f;
    }
    Ok(keyed)
}

pub(crate) async fn watermark(pool: &SqlitePool) -> Result<i64> {
    let w: Option<i64> = sqlx::query_scalar("SELECT watermark FROM detection_state WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(db_err("read detection watermark"))?;
    Ok(w.unwrap_or(0))
}

/// Key of a finding rollup row: (minute, severity, rule_id, service).
type RollupKey = (i64, &'static str, String, Option<String>);

pub(crate) async fn commit_detection(
    store: &SqliteStorage,
    writes: Vec<FindingWrite>,
    watermark: i64,
) -> Result<Vec<Finding>> {
    // Serialize outside the write lock.
    let mut prepared = Vec::with_capacity(writes.len());
    for w in &writes {
        prepared.push((
            to_json(&w.finding.group, "finding group")?,
            to_json(&w.finding.tags, "finding tags")?,
        ));
    }

    let mut conn = store.begin_write().await?;
    let mut tx = conn.begin().await?;
    let mut ids = Vec::with_capacity(writes.len());
    // (count delta, latest last_seen) per rollup key.
    let mut rollup: HashMap<RollupKey, (i64, i64)> = HashMap::new();
    let mut matches: HashMap<&str, i64> = HashMap::new();

    for (w, (group_json, tags_json)) in writes.iter().zip(&prepared) {
        let f = &w.finding;
        *matches.entry(f.rule_id.as_str()).or_default() +=
            i64::try_from(w.matches).unwrap_or(i64::MAX);
        let last_seen = micros(f.last_seen);
        let existing = sqlx::query(
            "SELECT id, severity, rule_id, service, first_seen, last_seen FROM findings \
             WHERE incident_key = ?",
        )
        .bind(&w.incident_key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("look up incident"))?;

        let id = match existing {
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO findings (incident_key, rule_id, rule_title, severity, status, \
                     group_json, service, user, first_seen, last_seen, event_count, description, \
                     tags_json, risk_score, explanation, note, created_at, updated_at) \
                     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                )
                .bind(&w.incident_key)
                .bind(&f.rule_id)
                .bind(&f.rule_title)
                .bind(f.severity.as_str())
                .bind(f.status.as_str())
                .bind(group_json)
                .bind(&f.service)
                .bind(&f.user)
                .bind(micros(f.first_seen))
                .bind(last_seen)
                .bind(f.event_count)
                .bind(&f.description)
                .bind(tags_json)
                .bind(i64::from(f.risk_score))
                .bind(&f.explanation)
                .bind(&f.note)
                .bind(micros(f.created_at))
                .bind(micros(f.updated_at))
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("insert finding"))?;
                let slot = rollup
                    .entry((
                        minute_of(micros(f.first_seen)),
                        f.severity.as_str(),
                        f.rule_id.clone(),
                        f.service.clone(),
                    ))
                    .or_insert((0, i64::MIN));
                slot.0 += 1;
                slot.1 = slot.1.max(last_seen);
                id
            }
            Some(row) => {
                let id: i64 = col(&row, "id")?;
                let old_severity: &str = col(&row, "severity")?;
                let old_severity: Severity = parse_enum(old_severity, "severity")?;
                let rule_id: String = col(&row, "rule_id")?;
                let service: Option<String> = col(&row, "service")?;
                let first_seen: i64 = col(&row, "first_seen")?;
                let last_seen = last_seen.max(col(&row, "last_seen")?);
                sqlx::query(
                    "UPDATE findings SET rule_title = ?, severity = ?, \
                     last_seen = MAX(last_seen, ?), event_count = MAX(event_count, ?), \
                     description = ?, tags_json = ?, risk_score = ?, explanation = ?, \
                     updated_at = ? WHERE id = ?",
                )
                .bind(&f.rule_title)
                .bind(f.severity.as_str())
                .bind(last_seen)
                .bind(f.event_count)
                .bind(&f.description)
                .bind(tags_json)
                .bind(i64::from(f.risk_score))
                .bind(&f.explanation)
                .bind(micros(f.updated_at))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err("update finding"))?;
                let minute = minute_of(first_seen);
                if old_severity != f.severity {
                    // The finding moves to its new severity in the rollups.
                    rollup
                        .entry((
                            minute,
                            old_severity.as_str(),
                            rule_id.clone(),
                            service.clone(),
                        ))
                        .or_insert((0, i64::MIN))
                        .0 -= 1;
                }
                let slot = rollup
                    .entry((minute, f.severity.as_str(), rule_id, service))
                    .or_insert((0, i64::MIN));
                if old_severity != f.severity {
                    slot.0 += 1;
                }
                slot.1 = slot.1.max(last_seen);
                id
            }
        };
        append_evidence(&mut tx, id, &w.new_evidence).await?;
        ids.push(id);
    }

    for ((minute, severity, rule_id, service), (delta, last_seen)) in &rollup {
        sqlx::query(
            "INSERT INTO finding_rollup (minute, severity, rule_id, has_service, service, count, last_seen) \
             VALUES (?,?,?,?,?,?,?) ON CONFLICT (minute, severity, rule_id, has_service, service) \
             DO UPDATE SET count = count + excluded.count, last_seen = MAX(last_seen, excluded.last_seen)",
        )
        .bind(*minute)
        .bind(*severity)
        .bind(rule_id)
        .bind(service.is_some())
        .bind(service.as_deref().unwrap_or(""))
        .bind(*delta)
        .bind(*last_seen)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update finding rollups"))?;
    }
    for (rule_id, n) in &matches {
        sqlx::query(
            "INSERT INTO rule_matches (rule_id, count) VALUES (?, ?) \
             ON CONFLICT (rule_id) DO UPDATE SET count = count + excluded.count",
        )
        .bind(*rule_id)
        .bind(*n)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update rule match counts"))?;
    }
    sqlx::query("UPDATE detection_state SET watermark = ? WHERE id = 1")
        .bind(watermark)
        .execute(&mut *tx)
        .await
        .map_err(db_err("move detection watermark"))?;

    // Read back what was stored, in input order.
    let mut stored: HashMap<i64, Finding> = HashMap::with_capacity(ids.len());
    let mut unique: Vec<i64> = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    for chunk in unique.chunks(10_000) {
        let tail = format!("WHERE id IN ({})", vec!["?"; chunk.len()].join(","));
        for (_, f) in fetch_findings(&mut tx, &tail, chunk).await? {
            stored.insert(f.id, f);
        }
    }
    tx.commit().await.map_err(db_err("commit detection"))?;
    drop(conn);

    ids.iter()
        .map(|id| {
            stored
                .get(id)
                .cloned()
                .ok_or_else(|| StorageError::Corrupt(format!("finding {id} vanished after write")))
        })
        .collect()
}

/// Append evidence ids not already attached, keeping at most EVIDENCE_CAP.
async fn append_evidence(
    conn: &mut SqliteConnection,
    finding_id: i64,
    new_evidence: &[i64],
) -> Result<()> {
    if new_evidence.is_empty() {
        return Ok(());
    }
    let have: Vec<i64> = sqlx::query_scalar(
        "SELECT event_id FROM finding_evidence WHERE finding_id = ? ORDER BY seq",
    )
    .bind(finding_id)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("read finding evidence"))?;
    let mut seen: std::collections::HashSet<i64> = have.iter().copied().collect();
    let room = EVIDENCE_CAP.saturating_sub(have.len());
    let add: Vec<i64> = new_evidence
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .take(room)
        .collect();
    if add.is_empty() {
        return Ok(());
    }
    let mut qb =
        QueryBuilder::<Sqlite>::new("INSERT INTO finding_evidence (finding_id, seq, event_id) ");
    let start = have.len() as i64;
    qb.push_values(add.iter().enumerate(), |mut b, (i, event_id)| {
        b.push_bind(finding_id)
            .push_bind(start + i as i64)
            .push_bind(*event_id);
    });
    qb.build()
        .execute(&mut *conn)
        .await
        .map_err(db_err("insert finding evidence"))?;
    Ok(())
}

pub(crate) async fn recent_incidents(
    pool: &SqlitePool,
    since: DateTime<Utc>,
) -> Result<Vec<(String, Finding)>> {
    let mut conn = pool.acquire().await.map_err(db_err("acquire connection"))?;
    fetch_findings(
        &mut conn,
        "WHERE last_seen >= ? ORDER BY id",
        &[micros(since)],
    )
    .await
}

pub(crate) async fn get_finding(pool: &SqlitePool, id: i64) -> Result<Option<Finding>> {
    let mut conn = pool.acquire().await.map_err(db_err("acquire connection"))?;
    Ok(fetch_findings(&mut conn, "WHERE id = ?", &[id])
        .await?
        .pop()
        .map(|(_, f)| f))
}

fn push_finding_filters(qb: &mut QueryBuilder<'_, Sqlite>, q: &FindingQuery) {
    qb.push(" WHERE 1 = 1");
    if let Some(s) = q.severity {
        qb.push(" AND severity = ").push_bind(s.as_str());
    }
    if let Some(s) = q.status {
        qb.push(" AND status = ").push_bind(s.as_str());
    }
    if let Some(r) = &q.rule_id {
        qb.push(" AND rule_id = ").push_bind(r.clone());
    }
    if let Some(u) = &q.user {
        qb.push(" AND user = ").push_bind(u.clone());
    }
    if let Some(s) = &q.service {
        qb.push(" AND service = ").push_bind(s.clone());
    }
    if let Some(from) = q.from {
        qb.push(" AND last_seen >= ").push_bind(micros(from));
    }
    if let Some(to) = q.to {
        qb.push(" AND first_seen < ").push_bind(micros(to));
    }
}

pub(crate) async fn list_findings(pool: &SqlitePool, q: &FindingQuery) -> Result<Page<Finding>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    // One read transaction: the total and the page come from one snapshot.
    let mut conn = pool.begin().await.map_err(db_err("begin read"))?;
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) AS n FROM findings");
    push_finding_filters(&mut qb, q);
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("count findings"))?;
    let total = count_col(&row, "n")?;

    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {FINDING_COLUMNS} FROM findings"));
    push_finding_filters(&mut qb, q);
    qb.push(" ORDER BY last_seen DESC, id DESC LIMIT ")
        .push_bind(i64::from(page_size))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("list findings"))?;
    let mut items: Vec<Finding> = rows
        .iter()
        .map(|r| decode_finding(r).map(|(_, f)| f))
        .collect::<Result<_>>()?;
    attach_evidence(&mut conn, &mut items).await?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn update_finding(
    store: &SqliteStorage,
    id: i64,
    patch: FindingPatch,
    now: DateTime<Utc>,
) -> Result<Option<Finding>> {
    let mut conn = store.begin_write().await?;
    let mut tx = conn.begin().await?;
    let done = sqlx::query(
        "UPDATE findings SET status = COALESCE(?1, status), \
         note = CASE WHEN ?2 IS NULL THEN note ELSE NULLIF(?2, '') END, \
         updated_at = ?3 WHERE id = ?4",
    )
    .bind(patch.status.map(|s| s.as_str()))
    .bind(patch.note)
    .bind(micros(now))
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(db_err("update finding"))?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let found = fetch_findings(&mut tx, "WHERE id = ?", &[id]).await?.pop();
    tx.commit().await.map_err(db_err("commit finding update"))?;
    Ok(found.map(|(_, f)| f))
}
