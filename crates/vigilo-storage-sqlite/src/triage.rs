//! Triage: analysts' changes to findings (status, assignee, workflow tags,
//! close reason, notes), each written with a history entry in the same
//! transaction; bulk updates; groups; and the paged stream exports read.
//!
//! The finding filters are built once ([`crate::findings::finding_where`])
//! as a [`Where`], which both the read path (sqlx) and the write path
//! (rusqlite, for bulk updates) bind.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use vigilo_core::finding::{ANONYMOUS, CloseReason, FindingHistory, HistoryAction, SYSTEM_ACTOR};
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{
    AssigneeFilter, BulkResult, BulkTarget, FindingChangeKind, FindingGroup, FindingPatch,
    FindingQuery, GroupBy, MAX_BULK, MAX_SCAN_PAGE, Page, Result, StorageError,
};

use crate::codec::{
    Cols, count_col, like_pattern, micros, paging, parse_enum, parse_json, time_col, to_json,
};
use crate::findings::{FINDING_SELECT, decode_finding, finding_where, needs_details, read_finding};
use crate::{SqliteStorage, db_err};

// ------------------------------------------------------------ filters

/// A value bound into a [`Where`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    pub(crate) fn text(s: &str) -> Arg {
        Arg::Text(s.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Sql(String),
    Bind(Arg),
}

/// SQL text with bound values, bound by either driver.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Where {
    parts: Vec<Part>,
}

impl Where {
    pub(crate) fn new(sql: &str) -> Self {
        Where {
            parts: vec![Part::Sql(sql.to_string())],
        }
    }

    pub(crate) fn sql(&mut self, sql: &str) -> &mut Self {
        self.parts.push(Part::Sql(sql.to_string()));
        self
    }

    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.parts.push(Part::Bind(arg));
        self
    }

    /// Onto an sqlx query.
    pub(crate) fn push_to(self, qb: &mut QueryBuilder<'_, Sqlite>) {
        for p in self.parts {
            match p {
                Part::Sql(s) => {
                    qb.push(s);
                }
                Part::Bind(Arg::Text(t)) => {
                    qb.push_bind(t);
                }
                Part::Bind(Arg::Int(i)) => {
                    qb.push_bind(i);
                }
            }
        }
    }

    /// As SQL with `?` placeholders and its values, for rusqlite.
    fn to_rusqlite(&self) -> (String, Vec<rusqlite::types::Value>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for p in &self.parts {
            match p {
                Part::Sql(s) => sql.push_str(s),
                Part::Bind(a) => {
                    sql.push('?');
                    args.push(match a {
                        Arg::Text(t) => rusqlite::types::Value::Text(t.clone()),
                        Arg::Int(i) => rusqlite::types::Value::Integer(*i),
                    });
                }
            }
        }
        (sql, args)
    }
}

/// The triage terms of a finding filter: assignee, tag, text.
pub(crate) fn push_triage_filters(w: &mut Where, q: &FindingQuery) {
    match &q.assignee {
        None => {}
        Some(AssigneeFilter::Unassigned) => {
            w.sql(" AND f.assignee IS NULL");
        }
        Some(AssigneeFilter::Name(n)) => {
            w.sql(" AND f.assignee = ").bind(Arg::text(n));
        }
    }
    if let Some(tag) = &q.tag {
        w.sql(" AND (EXISTS (SELECT 1 FROM json_each(f.workflow_tags_json) WHERE value = ")
            .bind(Arg::text(tag))
            .sql(") OR EXISTS (SELECT 1 FROM json_each(d.tags_json) WHERE value = ")
            .bind(Arg::text(tag))
            .sql("))");
    }
    if let Some(text) = &q.q {
        let pattern = like_pattern(text);
        w.sql(" AND (");
        for (i, col) in [
            "d.rule_title",
            "d.description",
            "f.rule_id",
            "f.user",
            "f.service",
            "f.note",
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                w.sql(" OR ");
            }
            w.sql(col)
                .sql(" LIKE ")
                .bind(Arg::Text(pattern.clone()))
                .sql(" ESCAPE '\\'");
        }
        w.sql(" OR EXISTS (SELECT 1 FROM json_each(f.group_json) WHERE value LIKE ")
            .bind(Arg::Text(pattern))
            .sql(" ESCAPE '\\'))");
    }
}

// ------------------------------------------------------------ codec

/// A finding's assignee, workflow tags and close reason from its row.
pub(crate) fn decode_triage<R: Cols>(
    row: &R,
) -> Result<(Option<String>, Vec<String>, Option<CloseReason>)> {
    let assignee = row.opt_text("assignee")?.map(str::to_string);
    let tags = match row.opt_text("workflow_tags_json")? {
        Some(json) => parse_json::<Vec<String>>(json, "workflow_tags_json")?,
        None => Vec::new(),
    };
    let reason = row
        .opt_text("close_reason")?
        .map(|r| parse_enum::<CloseReason>(r, "close_reason"))
        .transpose()?;
    Ok((assignee, tags, reason))
}

/// Tags as stored: as given but without empty ones, sorted, each once.
fn tag_set<'a>(tags: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    tags.into_iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect()
}

/// `tags` in their stored form.
pub(crate) fn tag_list(tags: &[String]) -> Vec<String> {
    tag_set(tags).into_iter().collect()
}

/// The stored JSON of a tag set; `None` (NULL) when it is empty.
pub(crate) fn tags_json(tags: &[String]) -> Result<Option<String>> {
    let list = tag_list(tags);
    if list.is_empty() {
        return Ok(None);
    }
    to_json(&list, "workflow tags").map(Some)
}

fn joined(tags: &BTreeSet<String>) -> Option<String> {
    (!tags.is_empty()).then(|| tags.iter().cloned().collect::<Vec<_>>().join(","))
}

fn actor_of(actor: &str) -> &str {
    match actor.trim() {
        "" => ANONYMOUS,
        a => a,
    }
}

fn decode_history<R: Cols>(row: &R) -> Result<FindingHistory> {
    Ok(FindingHistory {
        id: row.int("id")?,
        finding_id: row.int("finding_id")?,
        at: row.time("at")?,
        actor: row.text("actor")?.to_string(),
        action: parse_enum::<HistoryAction>(row.text("action")?, "action")?,
        from: row.opt_text("from_value")?.map(str::to_string),
        to: row.opt_text("to_value")?.map(str::to_string),
    })
}

// ------------------------------------------------------------ patches

/// One finding's triage state as stored.
struct State {
    status: FindingStatus,
    note: Option<String>,
    assignee: Option<String>,
    tags: BTreeSet<String>,
    close_reason: Option<CloseReason>,
}

fn read_state(db: &rusqlite::Connection, id: i64) -> Result<Option<State>> {
    let mut st = db
        .prepare_cached(
            "SELECT status, note, assignee, workflow_tags_json, close_reason \
             FROM findings WHERE id = ?1",
        )
        .map_err(db_err("prepare finding triage read"))?;
    let mut rows = st.query([id]).map_err(db_err("read finding triage"))?;
    let Some(row) = rows.next().map_err(db_err("read finding triage"))? else {
        return Ok(None);
    };
    let (assignee, tags, close_reason) = decode_triage(row)?;
    Ok(Some(State {
        status: parse_enum::<FindingStatus>(row.text("status")?, "status")?,
        note: row.opt_text("note")?.map(str::to_string),
        assignee,
        tags: tags.into_iter().collect(),
        close_reason,
    }))
}

fn insert_history(
    db: &rusqlite::Connection,
    finding_id: i64,
    at: DateTime<Utc>,
    actor: &str,
    action: HistoryAction,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<i64> {
    db.prepare_cached(
        "INSERT INTO finding_history (finding_id, at, actor, action, from_value, to_value) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(rusqlite::params![
            finding_id,
            micros(at),
            actor,
            action.as_str(),
            from,
            to
        ])
    })
    .map_err(db_err("write finding history"))?;
    Ok(db.last_insert_rowid())
}

/// Apply `patch` to finding `id` on the write connection, with a history
/// entry per changed field. `None` when the finding does not exist, else
/// whether anything changed. `touch` sets updated_at even when nothing did.
fn apply_patch(
    db: &rusqlite::Connection,
    id: i64,
    patch: &FindingPatch,
    now: DateTime<Utc>,
    touch: bool,
) -> Result<Option<bool>> {
    let Some(old) = read_state(db, id)? else {
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

    let mut changed = false;
    let mut record = |action: HistoryAction, from: Option<&str>, to: Option<&str>| {
        changed = true;
        insert_history(db, id, now, actor, action, from, to).map(|_| ())
    };
    if status != old.status {
        record(
            HistoryAction::Status,
            Some(old.status.as_str()),
            Some(status.as_str()),
        )?;
        // The outbox hears of status changes only: sinks and alerts act
        // on a resolved, suppressed, acknowledged or reopened finding.
        crate::connectors::log_change(db, id, FindingChangeKind::Status, status, now)?;
    }
    if assignee != old.assignee {
        record(
            HistoryAction::Assignee,
            old.assignee.as_deref(),
            assignee.as_deref(),
        )?;
    }
    if tags != old.tags {
        record(
            HistoryAction::Tags,
            joined(&old.tags).as_deref(),
            joined(&tags).as_deref(),
        )?;
    }
    if close_reason != old.close_reason {
        record(
            HistoryAction::CloseReason,
            old.close_reason.map(|r| r.as_str()),
            close_reason.map(|r| r.as_str()),
        )?;
    }
    if note != old.note {
        record(HistoryAction::Note, old.note.as_deref(), note.as_deref())?;
    }
    if changed || touch {
        let tag_list: Vec<String> = tags.into_iter().collect();
        let tags_json = tags_json(&tag_list)?;
        db.prepare_cached(
            "UPDATE findings SET status = ?1, note = ?2, assignee = ?3, \
             workflow_tags_json = ?4, close_reason = ?5, updated_at = ?6 WHERE id = ?7",
        )
        .and_then(|mut st| {
            st.execute(rusqlite::params![
                status.as_str(),
                note,
                assignee,
                tags_json,
                close_reason.map(|r| r.as_str()),
                micros(now),
                id,
            ])
        })
        .map_err(db_err("update finding"))?;
    }
    Ok(Some(changed))
}

pub(crate) async fn update_finding(
    store: &SqliteStorage,
    id: i64,
    patch: FindingPatch,
    now: DateTime<Utc>,
) -> Result<Option<Finding>> {
    store
        .write_tx(|db| {
            if apply_patch(db, id, &patch, now, true)?.is_none() {
                return Ok(None);
            }
            Ok(Some(read_finding(db, "f.id", &id)?.ok_or_else(|| {
                StorageError::Corrupt(format!("finding {id} vanished after update"))
            })?))
        })
        .await
}

pub(crate) async fn add_note(
    store: &SqliteStorage,
    id: i64,
    text: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<Option<FindingHistory>> {
    let actor = actor_of(actor).to_string();
    store
        .write_tx(|db| {
            let Some(old) = read_state(db, id)? else {
                return Ok(None);
            };
            db.prepare_cached("UPDATE findings SET note = ?1, updated_at = ?2 WHERE id = ?3")
                .and_then(|mut st| st.execute(rusqlite::params![text, micros(now), id]))
                .map_err(db_err("update finding note"))?;
            let hid = insert_history(
                db,
                id,
                now,
                &actor,
                HistoryAction::Note,
                old.note.as_deref(),
                Some(text),
            )?;
            Ok(Some(FindingHistory {
                id: hid,
                finding_id: id,
                at: DateTime::from_timestamp_micros(micros(now)).unwrap_or(now),
                actor,
                action: HistoryAction::Note,
                from: old.note,
                to: Some(text.to_string()),
            }))
        })
        .await
}

pub(crate) async fn history(pool: &SqlitePool, id: i64) -> Result<Option<Vec<FindingHistory>>> {
    // One snapshot: the finding and its entries.
    let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
    let created: Option<i64> = sqlx::query_scalar("SELECT created_at FROM findings WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err("read finding"))?;
    let Some(created) = created else {
        return Ok(None);
    };
    let rows = sqlx::query(
        "SELECT id, finding_id, at, actor, action, from_value, to_value \
         FROM finding_history WHERE finding_id = ? ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err("read finding history"))?;
    let mut out = Vec::with_capacity(rows.len() + 1);
    out.push(FindingHistory {
        id: 0,
        finding_id: id,
        at: crate::codec::time_from_micros(created, "created_at")?,
        actor: SYSTEM_ACTOR.to_string(),
        action: HistoryAction::Created,
        from: None,
        to: None,
    });
    for r in &rows {
        out.push(decode_history(r)?);
    }
    Ok(Some(out))
}

// ------------------------------------------------------------ bulk

pub(crate) async fn bulk_update(
    store: &SqliteStorage,
    target: BulkTarget,
    patch: FindingPatch,
    now: DateTime<Utc>,
) -> Result<BulkResult> {
    store
        .write_tx(|db| {
            let ids = match &target {
                BulkTarget::Ids(ids) => existing_ids(db, ids)?,
                BulkTarget::Filter(q) => selected_ids(db, q)?,
            };
            let matched = ids.len() as u64;
            if matched > MAX_BULK {
                return Err(StorageError::TooManyFindings {
                    matched,
                    limit: MAX_BULK,
                });
            }
            let mut updated = 0;
            for id in ids {
                if apply_patch(db, id, &patch, now, false)? == Some(true) {
                    updated += 1;
                }
            }
            Ok(BulkResult { matched, updated })
        })
        .await
}

/// The distinct ids of `ids` that name a finding, in id order.
fn existing_ids(db: &rusqlite::Connection, ids: &[i64]) -> Result<Vec<i64>> {
    let wanted: BTreeSet<i64> = ids.iter().copied().collect();
    let mut st = db
        .prepare_cached("SELECT 1 FROM findings WHERE id = ?1")
        .map_err(db_err("prepare finding lookup"))?;
    let mut out = Vec::with_capacity(wanted.len());
    for id in wanted {
        if st.exists([id]).map_err(db_err("read finding"))? {
            out.push(id);
        }
    }
    Ok(out)
}

/// The ids `q` selects, in id order: at most one past [`MAX_BULK`], with
/// the count of all of them when there are more.
fn selected_ids(db: &rusqlite::Connection, q: &FindingQuery) -> Result<Vec<i64>> {
    let join = if needs_details(q) {
        " JOIN finding_details d ON d.finding_id = f.id"
    } else {
        ""
    };
    let (filter, args) = finding_where(q).to_rusqlite();
    let sql = format!("SELECT f.id FROM findings f{join}{filter} ORDER BY f.id");
    let mut st = db.prepare(&sql).map_err(db_err("prepare bulk selection"))?;
    let mut rows = st
        .query(rusqlite::params_from_iter(args.iter()))
        .map_err(db_err("select findings"))?;
    let mut ids = Vec::new();
    let mut beyond = 0u64;
    while let Some(row) = rows.next().map_err(db_err("select findings"))? {
        if ids.len() as u64 > MAX_BULK {
            beyond += 1;
            continue;
        }
        ids.push(row.int("id")?);
    }
    if beyond > 0 {
        return Err(StorageError::TooManyFindings {
            matched: ids.len() as u64 + beyond,
            limit: MAX_BULK,
        });
    }
    Ok(ids)
}

// ------------------------------------------------------------ groups

pub(crate) async fn groups(
    pool: &SqlitePool,
    by: GroupBy,
    q: &FindingQuery,
) -> Result<Page<FindingGroup>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    let key = match by {
        GroupBy::Rule => "f.rule_id",
        GroupBy::Service => "f.service",
        GroupBy::User => "f.user",
        GroupBy::Assignee => "f.assignee",
    };
    let join = by == GroupBy::Rule || needs_details(q);
    let from = if join {
        "FROM findings f JOIN finding_details d ON d.finding_id = f.id"
    } else {
        "FROM findings f"
    };
    let title = if by == GroupBy::Rule {
        "MAX(d.rule_title)"
    } else {
        "NULL"
    };
    let mut rank = String::from("CASE f.severity");
    for (i, s) in Severity::ALL.iter().enumerate() {
        rank.push_str(&format!(" WHEN '{}' THEN {i}", s.as_str()));
    }
    rank.push_str(" ELSE 0 END");

    let mut conn = pool.begin().await.map_err(db_err("begin read"))?;
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT COUNT(*) AS n FROM (SELECT 1 {from}"));
    finding_where(q).push_to(&mut qb);
    qb.push(format!(" GROUP BY {key})"));
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("count finding groups"))?;
    let total = count_col(&row, "n")?;

    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {key} AS key, {title} AS title, COUNT(*) AS n, \
         SUM(f.status = 'open') AS open, MAX({rank}) AS rank, MAX(f.last_seen) AS last_seen {from}"
    ));
    finding_where(q).push_to(&mut qb);
    qb.push(format!(
        " GROUP BY {key} ORDER BY n DESC, key IS NULL, key LIMIT "
    ))
    .push_bind(i64::from(page_size))
    .push(" OFFSET ")
    .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("group findings"))?;
    let mut items = Vec::with_capacity(rows.len());
    for r in &rows {
        let rank = r.int("rank")?;
        let max_severity = usize::try_from(rank)
            .ok()
            .and_then(|i| Severity::ALL.get(i).copied())
            .ok_or_else(|| StorageError::Corrupt(format!("severity rank {rank}")))?;
        items.push(FindingGroup {
            key: r.opt_text("key")?.map(str::to_string),
            title: r.opt_text("title")?.map(str::to_string),
            count: count_col(r, "n")?,
            open: count_col(r, "open")?,
            max_severity,
            last_seen: time_col(r, "last_seen")?,
        });
    }
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

// ------------------------------------------------------------ exports

/// Up to `limit` findings `q` selects with an id above `after_id`, in id
/// order: one indexed range of ids per page, each page its own read, so an
/// export holds no snapshot open between pages.
pub(crate) async fn scan(
    pool: &SqlitePool,
    q: &FindingQuery,
    after_id: Option<i64>,
    limit: u32,
) -> Result<Vec<Finding>> {
    let limit = limit.clamp(1, MAX_SCAN_PAGE);
    let mut qb = QueryBuilder::<Sqlite>::new(FINDING_SELECT);
    finding_where(q).push_to(&mut qb);
    if let Some(after) = after_id {
        qb.push(" AND f.id > ").push_bind(after);
    }
    qb.push(" ORDER BY f.id LIMIT ").push_bind(i64::from(limit));
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("export findings"))?;
    rows.iter()
        .map(|r| decode_finding(r).map(|(_, f)| f))
        .collect()
}
