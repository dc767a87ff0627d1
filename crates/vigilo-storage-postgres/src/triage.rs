//! Triage: analysts' changes to findings (status, assignee, workflow tags,
//! close reason, notes), each written with a history entry in the same
//! transaction; groups; and the paged scans exports read.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use vigilo_core::finding::{ANONYMOUS, CloseReason, FindingHistory, HistoryAction, SYSTEM_ACTOR};
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{
    FindingChangeKind, FindingGroup, FindingPatch, FindingQuery, GroupBy, MAX_SCAN_PAGE, Page,
    Result, StorageError,
};

use crate::codec::{col, count_col, paging, parse_enum};
use crate::findings::{FINDING_COLUMNS, decode_finding, push_finding_filters, read_finding};
use crate::{PostgresStorage, db_err};

fn tag_set<'a>(tags: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    tags.into_iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect()
}

fn joined(tags: &BTreeSet<String>) -> Option<String> {
    (!tags.is_empty()).then(|| tags.iter().cloned().collect::<Vec<_>>().join(","))
}

pub(crate) fn actor_of(actor: &str) -> &str {
    match actor.trim() {
        "" => ANONYMOUS,
        a => a,
    }
}

/// One finding's triage state as stored.
struct State {
    status: FindingStatus,
    note: Option<String>,
    assignee: Option<String>,
    tags: BTreeSet<String>,
    close_reason: Option<CloseReason>,
}

/// The triage state of finding `id`, locked until the transaction ends.
async fn read_state(conn: &mut PgConnection, id: i64) -> Result<Option<State>> {
    let row = sqlx::query(
        "SELECT status, note, assignee, workflow_tags, close_reason \
         FROM findings WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_err("read finding triage"))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let status: String = col(&row, "status")?;
    let reason: Option<String> = col(&row, "close_reason")?;
    let tags: Vec<String> = col(&row, "workflow_tags")?;
    Ok(Some(State {
        status: parse_enum::<FindingStatus>(&status, "status")?,
        note: col(&row, "note")?,
        assignee: col(&row, "assignee")?,
        tags: tags.into_iter().collect(),
        close_reason: reason
            .map(|r| parse_enum::<CloseReason>(&r, "close_reason"))
            .transpose()?,
    }))
}

async fn insert_history(
    conn: &mut PgConnection,
    finding_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: HistoryAction,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO finding_history (finding_id, at, actor, action, from_value, to_value) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(finding_id)
    .bind(at)
    .bind(actor)
    .bind(action.as_str())
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await
    .map_err(db_err("write finding history"))
}

/// Apply `patch` to finding `id` inside the caller's transaction, with a
/// history entry per changed field. `None` when the finding does not
/// exist, else whether anything changed. `touch` sets updated_at even
/// when nothing did.
pub(crate) async fn apply_patch(
    conn: &mut PgConnection,
    id: i64,
    patch: &FindingPatch,
    now: DateTime<Utc>,
    touch: bool,
) -> Result<Option<bool>> {
    let Some(old) = read_state(conn, id).await? else {
        return Ok(None);
    };
    let actor = actor_of(&patch.actor);
    let status = patch.status.unwrap_or(old.status);
    let note = match &patch.note {
        None => old.note.clone(),
        Some(n) if n.is_empty() => None,
        Some(n) => Some(n.clone()),
    };
    let assignee = match patch.assignee.as_deref() {
        None => old.assignee.clone(),
        Some("") => None,
        Some(a) => Some(a.to_string()),
    };
    let mut tags = match &patch.workflow_tags {
        Some(t) => tag_set(t),
        None => old.tags.clone(),
    };
    tags.extend(tag_set(&patch.add_tags));
    for t in tag_set(&patch.remove_tags) {
        tags.remove(&t);
    }
    let close_reason = if !status.is_closed() {
        if patch.close_reason.is_some() {
            return Err(StorageError::InvalidPatch {
                field: "close_reason",
                message: format!(
                    "a close reason needs status resolved or suppressed; finding {id} is {status}"
                ),
            });
        }
        None
    } else {
        patch.close_reason.or(old.close_reason)
    };

    let mut entries: Vec<(HistoryAction, Option<String>, Option<String>)> = Vec::new();
    if status != old.status {
        entries.push((
            HistoryAction::Status,
            Some(old.status.as_str().to_string()),
            Some(status.as_str().to_string()),
        ));
    }
    if assignee != old.assignee {
        entries.push((
            HistoryAction::Assignee,
            old.assignee.clone(),
            assignee.clone(),
        ));
    }
    if tags != old.tags {
        entries.push((HistoryAction::Tags, joined(&old.tags), joined(&tags)));
    }
    if close_reason != old.close_reason {
        entries.push((
            HistoryAction::CloseReason,
            old.close_reason.map(|r| r.as_str().to_string()),
            close_reason.map(|r| r.as_str().to_string()),
        ));
    }
    if note != old.note {
        entries.push((HistoryAction::Note, old.note.clone(), note.clone()));
    }
    let changed = !entries.is_empty();
    for (action, from, to) in &entries {
        insert_history(
            conn,
            id,
            now,
            actor,
            *action,
            from.as_deref(),
            to.as_deref(),
        )
        .await?;
    }
    if status != old.status {
        // The outbox hears of status changes only: sinks and alerts act
        // on a resolved, suppressed, acknowledged or reopened finding.
        let mut changes = crate::connectors::Changes::default();
        changes.push(id, FindingChangeKind::Status, status, now);
        changes.write(conn).await?;
    }
    if changed || touch {
        let tag_list: Vec<String> = tags.into_iter().collect();
        sqlx::query(
            "UPDATE findings SET status = $1, note = $2, assignee = $3, \
             workflow_tags = $4, close_reason = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(status.as_str())
        .bind(note)
        .bind(assignee)
        .bind(tag_list)
        .bind(close_reason.map(|r| r.as_str()))
        .bind(now)
        .bind(id)
        .execute(conn)
        .await
        .map_err(db_err("update finding"))?;
    }
    Ok(Some(changed))
}

pub(crate) async fn update_finding(
    store: &PostgresStorage,
    id: i64,
    patch: FindingPatch,
    now: DateTime<Utc>,
) -> Result<Option<Finding>> {
    let mut tx = store.begin().await?;
    if apply_patch(&mut tx, id, &patch, now, true).await?.is_none() {
        return Ok(None);
    }
    let f = read_finding(&mut *tx, id)
        .await?
        .ok_or_else(|| StorageError::Corrupt(format!("finding {id} vanished after update")))?;
    tx.commit().await.map_err(db_err("commit finding update"))?;
    Ok(Some(f))
}

pub(crate) async fn add_note(
    store: &PostgresStorage,
    id: i64,
    text: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<FindingHistory>> {
    let actor = actor_of(actor).to_string();
    let mut tx = store.begin().await?;
    let Some(old) = read_state(&mut tx, id).await? else {
        return Ok(None);
    };
    sqlx::query("UPDATE findings SET note = $1, updated_at = $2 WHERE id = $3")
        .bind(text)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update finding note"))?;
    let hid = insert_history(
        &mut tx,
        id,
        now,
        &actor,
        HistoryAction::Note,
        old.note.as_deref(),
        Some(text),
    )
    .await?;
    tx.commit().await.map_err(db_err("commit finding note"))?;
    Ok(Some(FindingHistory {
        id: hid,
        finding_id: id,
        at: DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now),
        actor,
        action: HistoryAction::Note,
        from: old.note,
        to: Some(text.to_string()),
    }))
}

pub(crate) async fn history(pool: &PgPool, id: i64) -> Result<Option<Vec<FindingHistory>>> {
    let mut tx = crate::codec::snapshot(pool).await?;
    let created: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT created_at FROM findings WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("read finding"))?;
    let Some(created) = created else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT id, finding_id, at, actor, action, from_value, to_value \
         FROM finding_history WHERE finding_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err("read finding history"))?;
    tx.commit().await.map_err(db_err("end read"))?;
    let mut out = Vec::with_capacity(rows.len() + 1);
    out.push(FindingHistory {
        id: 0,
        finding_id: id,
        at: created,
        actor: SYSTEM_ACTOR.to_string(),
        action: HistoryAction::Created,
        from: None,
        to: None,
    });
    for r in &rows {
        let action: String = col(r, "action")?;
        out.push(FindingHistory {
            id: col(r, "id")?,
            finding_id: col(r, "finding_id")?,
            at: col(r, "at")?,
            actor: col(r, "actor")?,
            action: parse_enum::<HistoryAction>(&action, "action")?,
            from: col(r, "from_value")?,
            to: col(r, "to_value")?,
        });
    }
    Ok(Some(out))
}

pub(crate) async fn groups(
    pool: &PgPool,
    by: GroupBy,
    q: &FindingQuery,
) -> Result<Page<FindingGroup>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    let key = match by {
        GroupBy::Rule => "f.rule_id",
        GroupBy::Service => "f.service",
        GroupBy::User => "f.user_name",
        GroupBy::Assignee => "f.assignee",
    };
    let title = if by == GroupBy::Rule {
        "MAX(f.rule_title)"
    } else {
        "NULL::text"
    };
    let mut tx = crate::codec::snapshot(pool).await?;
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT COUNT(DISTINCT {key}) + MAX(CASE WHEN {key} IS NULL THEN 1 ELSE 0 END) AS n \
         FROM findings f WHERE TRUE"
    ));
    push_finding_filters(&mut qb, q);
    let row = qb
        .build()
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("count finding groups"))?;
    let total: Option<i64> = col(&row, "n")?;
    let total = crate::codec::to_count(total.unwrap_or(0), "groups")?;

    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {key} AS key, {title} AS title, COUNT(*) AS n, \
         COUNT(*) FILTER (WHERE f.status = 'open') AS open, \
         MAX(f.severity_rank) AS rank, MAX(f.last_seen) AS last_seen \
         FROM findings f WHERE TRUE"
    ));
    push_finding_filters(&mut qb, q);
    qb.push(format!(
        " GROUP BY {key} ORDER BY n DESC, {key} IS NULL, {key} COLLATE \"C\" LIMIT "
    ))
    .push_bind(i64::from(page_size))
    .push(" OFFSET ")
    .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("group findings"))?;
    tx.commit().await.map_err(db_err("end read"))?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let rank: i16 = col(r, "rank")?;
        let max_severity = usize::try_from(rank)
            .ok()
            .and_then(|i| Severity::ALL.get(i).copied())
            .ok_or_else(|| StorageError::Corrupt(format!("severity rank {rank}")))?;
        items.push(FindingGroup {
            key: col(r, "key")?,
            title: col(r, "title")?,
            count: count_col(r, "n")?,
            open: count_col(r, "open")?,
            max_severity,
            last_seen: col(r, "last_seen")?,
        });
    }
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

/// Up to `limit` findings `q` selects with an id above `after_id`, in id
/// order, evidence included.
pub(crate) async fn scan(
    pool: &PgPool,
    q: &FindingQuery,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<Finding>> {
    let limit = limit.clamp(1, MAX_SCAN_PAGE);
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {FINDING_COLUMNS} FROM findings f WHERE TRUE"
    ));
    push_finding_filters(&mut qb, q);
    if let Some(after) = after_id {
        qb.push(" AND f.id > ").push_bind(after);
    }
    qb.push(" ORDER BY f.id LIMIT ").push_bind(i64::from(limit));
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("scan findings"))?;
    rows.iter()
        .map(|r| decode_finding(r).map(|(_, f)| f))
        .collect()
}
