//! Findings: the detection commit (upsert on incident key, evidence,
//! rollups, rule match counts, watermark), lookups and listings. Triage
//! (patches, history, notes, bulk updates, groups, exports) is in
//! [`crate::triage`].

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use vigilo_core::finding::EVIDENCE_CAP;
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{
    FindingChangeKind, FindingQuery, FindingSort, FindingWrite, Page, Result, RuleIdFilter,
    SortOrder, StorageError,
};

use crate::codec::{Cols, count_col, micros, minute_of, paging, parse_enum, parse_json, to_json};
use crate::triage::{self, Arg, Where};
use crate::{SqliteStorage, db_err};

/// A finding read whole: its hot row joined with its details (see
/// migration 0005), columns named as [`decode_finding`] reads them.
pub(crate) const FINDING_SELECT: &str = "SELECT f.id AS id, f.incident_key AS incident_key, \
    f.rule_id AS rule_id, d.rule_title AS rule_title, f.severity AS severity, \
    f.status AS status, f.group_json AS group_json, f.service AS service, f.user AS user, \
    f.first_seen AS first_seen, f.last_seen AS last_seen, f.event_count AS event_count, \
    d.description AS description, d.tags_json AS tags_json, f.risk_score AS risk_score, \
    d.explanation AS explanation, f.note AS note, f.created_at AS created_at, \
    f.updated_at AS updated_at, d.evidence_json AS evidence_json, \
    f.assignee AS assignee, f.workflow_tags_json AS workflow_tags_json, \
    f.close_reason AS close_reason, f.enriched_by AS enriched_by, \
    COALESCE(f.enriched_at, -1) AS enriched_at, d.recommended_actions_json AS recommended_actions_json \
    FROM findings f JOIN finding_details d ON d.finding_id = f.id";

/// A finding row, evidence included, plus its incident key.
pub(crate) fn decode_finding<R: Cols>(row: &R) -> Result<(String, Finding)> {
    let risk = row.int("risk_score")?;
    let (assignee, workflow_tags, close_reason) = triage::decode_triage(row)?;
    let finding = Finding {
        id: row.int("id")?,
        rule_id: row.text("rule_id")?.to_string(),
        rule_title: row.text("rule_title")?.to_string(),
        severity: parse_enum::<Severity>(row.text("severity")?, "severity")?,
        status: parse_enum::<FindingStatus>(row.text("status")?, "status")?,
        group: parse_json::<BTreeMap<String, String>>(row.text("group_json")?, "group_json")?,
        service: row.opt_text("service")?.map(str::to_string),
        user: row.opt_text("user")?.map(str::to_string),
        first_seen: row.time("first_seen")?,
        last_seen: row.time("last_seen")?,
        event_count: row.int("event_count")?,
        evidence: parse_json::<Vec<i64>>(row.text("evidence_json")?, "evidence_json")?,
        description: row.text("description")?.to_string(),
        tags: parse_json::<Vec<String>>(row.text("tags_json")?, "tags_json")?,
        risk_score: u8::try_from(risk)
            .map_err(|_| StorageError::Corrupt(format!("risk_score: {risk} is not 0-255")))?,
        explanation: row.text("explanation")?.to_string(),
        note: row.opt_text("note")?.map(str::to_string),
        assignee,
        workflow_tags,
        close_reason,
        recommended_actions: parse_json::<Vec<String>>(
            row.text("recommended_actions_json")?,
            "recommended_actions_json",
        )?,
        enriched_by: row.text("enriched_by")?.to_string(),
        // -1 stands for NULL (see FINDING_SELECT).
        enriched_at: match row.int("enriched_at")? {
            -1 => None,
            us => Some(crate::codec::time_from_micros(us, "enriched_at")?),
        },
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    };
    Ok((row.text("incident_key")?.to_string(), finding))
}

async fn fetch_findings(
    conn: &mut SqliteConnection,
    sql_tail: &str,
    binds: &[i64],
) -> Result<Vec<(String, Finding)>> {
    let sql = format!("{FINDING_SELECT} {sql_tail}");
    let mut q = sqlx::query(&sql);
    for b in binds {
        q = q.bind(*b);
    }
    let rows = q
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("read findings"))?;
    rows.iter().map(decode_finding).collect()
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
    writes: &[FindingWrite],
    watermark: i64,
) -> Result<Vec<Finding>> {
    // Serialize outside the write lock.
    let mut prepared = Vec::with_capacity(writes.len());
    for w in writes {
        let tags_json = to_json(&w.finding.tags, "finding tags")?;
        prepared.push(Prepared {
            workflow_tags_json: triage::tags_json(&w.finding.workflow_tags)?,
            group_json: to_json(&w.finding.group, "finding group")?,
            fingerprint: texts_fingerprint(&w.finding, &tags_json),
            tags_json,
        });
    }
    store
        .write_tx(|db| write_detection(db, writes, &prepared, watermark))
        .await
}

/// What a write needs in JSON, made before the write lock is taken.
struct Prepared {
    group_json: String,
    /// Only a new finding takes the write's workflow tags.
    workflow_tags_json: Option<String>,
    tags_json: String,
    /// See [`texts_fingerprint`].
    fingerprint: i64,
}

/// A fingerprint of the rule's texts a finding carries (title,
/// description, tags, explanation), stored beside the finding so an update
/// rewrites its details only when they changed: FNV-1a over the texts, each
/// followed by a byte no UTF-8 text holds. Never 0, which marks rows whose
/// fingerprint is unknown.
fn texts_fingerprint(f: &Finding, tags_json: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for text in [
        f.rule_title.as_str(),
        f.description.as_str(),
        tags_json,
        f.explanation.as_str(),
    ] {
        for &b in text.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    match h as i64 {
        0 => 1,
        fp => fp,
    }
}

/// The detection commit's statements, prepared (cached) on the write
/// connection.
struct Statements<'c> {
    insert: rusqlite::CachedStatement<'c>,
    insert_details: rusqlite::CachedStatement<'c>,
    update: rusqlite::CachedStatement<'c>,
    update_details: rusqlite::CachedStatement<'c>,
    quick: rusqlite::CachedStatement<'c>,
    evidence: rusqlite::CachedStatement<'c>,
}

impl<'c> Statements<'c> {
    fn prepare(db: &'c rusqlite::Connection) -> Result<Self> {
        let st = |sql: &str, what: &'static str| db.prepare_cached(sql).map_err(db_err(what));
        Ok(Statements {
            insert: st(
                "INSERT INTO findings (incident_key, rule_id, severity, status, group_json, \
                 service, user, first_seen, last_seen, event_count, risk_score, note, \
                 created_at, updated_at, evidence_len, details_fp, assignee, \
                 workflow_tags_json, close_reason) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)",
                "prepare finding insert",
            )?,
            insert_details: st(
                "INSERT INTO finding_details (finding_id, rule_title, description, tags_json, \
                 explanation, evidence_json) VALUES (?1,?2,?3,?4,?5,?6)",
                "prepare finding details insert",
            )?,
            update: st(
                "UPDATE findings SET severity = ?1, last_seen = MAX(last_seen, ?2), \
                 first_seen = MIN(first_seen, ?9), event_count = MAX(event_count, ?3), \
                 risk_score = CASE WHEN enriched_by = 'heuristic' THEN ?4 ELSE risk_score END, \
                 updated_at = ?5, \
                 evidence_len = ?6, details_fp = ?7 WHERE id = ?8",
                "prepare finding update",
            )?,
            update_details: st(
                "UPDATE finding_details SET rule_title = ?1, description = ?2, tags_json = ?3, \
                 explanation = CASE WHEN (SELECT enriched_by FROM findings WHERE id = ?6) \
                 = 'heuristic' THEN ?4 ELSE explanation END, evidence_json = COALESCE(?5, evidence_json) \
                 WHERE finding_id = ?6",
                "prepare finding details update",
            )?,
            quick: st(
                "SELECT id, status, note, group_json, service, user, first_seen, last_seen, \
                 event_count, created_at, evidence_len, details_fp, assignee, \
                 workflow_tags_json, close_reason FROM findings \
                 WHERE incident_key = ?1 AND severity = ?2",
                "prepare finding lookup",
            )?,
            evidence: st(
                "SELECT evidence_json FROM finding_details WHERE finding_id = ?1",
                "prepare finding evidence read",
            )?,
        })
    }
}

/// The detection commit, statement by statement on the write connection
/// (each one a cached prepared statement stepped in place, a few
/// microseconds apiece). An incident already stored with the write's
/// severity, the usual case, costs a lookup of a few columns and an update
/// of its hot row by id, plus a rewrite of its details only while its
/// evidence grows or when the rule's texts changed; any other costs a read
/// of the whole finding and an insert or a full update. The findings
/// returned are built from the writes and what those statements return,
/// with no second read.
fn write_detection(
    db: &rusqlite::Connection,
    writes: &[FindingWrite],
    prepared: &[Prepared],
    watermark: i64,
) -> Result<Vec<Finding>> {
    let mut st = Statements::prepare(db)?;
    let mut ids = Vec::with_capacity(writes.len());
    // Each touched finding as it stands in this transaction, without evidence.
    let mut touched: HashMap<i64, Finding> = HashMap::with_capacity(writes.len());
    // (count delta, latest last_seen) per rollup key.
    let mut rollup: HashMap<RollupKey, (i64, i64)> = HashMap::new();
    let mut matches: HashMap<&str, i64> = HashMap::new();
    let mut created: HashSet<i64> = HashSet::new();

    for (w, p) in writes.iter().zip(prepared) {
        let f = &w.finding;
        *matches.entry(f.rule_id.as_str()).or_default() +=
            i64::try_from(w.matches).unwrap_or(i64::MAX);
        // Rollup bookkeeping: the severity a known finding leaves, and
        // whether this write adds one to the finding's (new) rollup row.
        let known = update_known(&mut st, w, p)?;
        // The rollup row a known finding was counted in: its severity and
        // first_seen before this write.
        let (stored, before) = match known {
            Some((stored, first)) => {
                let severity = stored.severity;
                (stored, Some((severity, first)))
            }
            None => match read_finding(db, "f.incident_key", &w.incident_key)? {
                None => {
                    let mut evidence = Vec::new();
                    append_evidence(&mut evidence, &w.new_evidence);
                    st.insert
                        .execute(rusqlite::params![
                            w.incident_key,
                            f.rule_id,
                            f.severity.as_str(),
                            f.status.as_str(),
                            p.group_json,
                            f.service,
                            f.user,
                            micros(f.first_seen),
                            micros(f.last_seen),
                            f.event_count,
                            i64::from(f.risk_score),
                            f.note,
                            micros(f.created_at),
                            micros(f.updated_at),
                            evidence.len() as i64,
                            p.fingerprint,
                            f.assignee,
                            p.workflow_tags_json,
                            f.close_reason.map(|r| r.as_str()),
                        ])
                        .map_err(db_err("insert finding"))?;
                    let id = db.last_insert_rowid();
                    st.insert_details
                        .execute(rusqlite::params![
                            id,
                            f.rule_title,
                            f.description,
                            p.tags_json,
                            f.explanation,
                            to_json(&evidence, "finding evidence")?,
                        ])
                        .map_err(db_err("insert finding details"))?;
                    created.insert(id);
                    let stored = Finding {
                        id,
                        workflow_tags: triage::tag_list(&f.workflow_tags),
                        first_seen: as_stored(f.first_seen),
                        last_seen: as_stored(f.last_seen),
                        created_at: as_stored(f.created_at),
                        updated_at: as_stored(f.updated_at),
                        evidence: Vec::new(),
                        ..f.clone()
                    };
                    (stored, None)
                }
                Some(mut old) => {
                    let evidence_json = if append_evidence(&mut old.evidence, &w.new_evidence) {
                        Some(to_json(&old.evidence, "finding evidence")?)
                    } else {
                        None
                    };
                    let len = old.evidence.len() as i64;
                    run_update(&mut st, w, p, old.id, len, true, evidence_json)?;
                    let before = Some((old.severity, old.first_seen));
                    let stored = Finding {
                        rule_title: f.rule_title.clone(),
                        severity: f.severity,
                        first_seen: old.first_seen.min(as_stored(f.first_seen)),
                        last_seen: old.last_seen.max(as_stored(f.last_seen)),
                        event_count: old.event_count.max(f.event_count),
                        description: f.description.clone(),
                        tags: f.tags.clone(),
                        risk_score: f.risk_score,
                        explanation: f.explanation.clone(),
                        updated_at: as_stored(f.updated_at),
                        evidence: Vec::new(),
                        ..old
                    };
                    (stored, before)
                }
            },
        };
        // Rollups count findings by the minute of first_seen: a new one
        // counts once; a changed severity, or a first_seen a late event
        // moved back, moves it between rows.
        let key = |severity: Severity, first: DateTime<Utc>| -> RollupKey {
            (
                minute_of(micros(first)),
                severity.as_str(),
                stored.rule_id.clone(),
                stored.service.clone(),
            )
        };
        let here = key(stored.severity, stored.first_seen);
        let counted = match before {
            None => true,
            Some((severity, first)) => {
                let was = key(severity, first);
                let moved = was != here;
                if moved {
                    rollup.entry(was).or_insert((0, i64::MIN)).0 -= 1;
                }
                moved
            }
        };
        let now = rollup.entry(here).or_insert((0, i64::MIN));
        now.0 += i64::from(counted);
        now.1 = now.1.max(micros(stored.last_seen));
        ids.push(stored.id);
        touched.insert(stored.id, stored);
    }

    let mut rollup_upsert = db
        .prepare_cached(
            "INSERT INTO finding_rollup (minute, severity, rule_id, has_service, service, count, last_seen) \
             VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT (minute, severity, rule_id, has_service, service) \
             DO UPDATE SET count = count + excluded.count, last_seen = MAX(last_seen, excluded.last_seen)",
        )
        .map_err(db_err("prepare finding rollup upsert"))?;
    for ((minute, severity, rule_id, service), (delta, last_seen)) in &rollup {
        rollup_upsert
            .execute(rusqlite::params![
                minute,
                severity,
                rule_id,
                service.is_some(),
                service.as_deref().unwrap_or(""),
                delta,
                last_seen,
            ])
            .map_err(db_err("update finding rollups"))?;
    }
    let mut count_match = db
        .prepare_cached(
            "INSERT INTO rule_matches (rule_id, count) VALUES (?1, ?2) \
             ON CONFLICT (rule_id) DO UPDATE SET count = count + excluded.count",
        )
        .map_err(db_err("prepare rule match count"))?;
    for (rule_id, n) in &matches {
        count_match
            .execute(rusqlite::params![rule_id, n])
            .map_err(db_err("update rule match counts"))?;
    }
    // The outbox: one entry per finding this commit touched, in the
    // order first touched.
    let mut logged: HashSet<i64> = HashSet::with_capacity(touched.len());
    for id in &ids {
        if !logged.insert(*id) {
            continue;
        }
        let Some(f) = touched.get(id) else { continue };
        let kind = if created.contains(id) {
            FindingChangeKind::Created
        } else {
            FindingChangeKind::Updated
        };
        crate::connectors::log_change(db, *id, kind, f.status, f.updated_at)?;
    }
    db.prepare_cached("UPDATE detection_state SET watermark = ?1 WHERE id = 1")
        .and_then(|mut st| st.execute([watermark]))
        .map_err(db_err("move detection watermark"))?;

    // In input order: a finding written twice is returned twice, in its
    // final state. Each is moved out at its last mention, so the result does
    // not hold a second copy of every finding while it is built.
    let mut mentions: HashMap<i64, usize> = HashMap::with_capacity(ids.len());
    for id in &ids {
        *mentions.entry(*id).or_default() += 1;
    }
    ids.iter()
        .map(|id| {
            let left = mentions.get_mut(id).map(|n| {
                *n -= 1;
                *n
            });
            let found = match left {
                Some(0) => touched.remove(id),
                _ => touched.get(id).cloned(),
            };
            found.ok_or_else(|| StorageError::Corrupt(format!("finding {id} vanished after write")))
        })
        .collect()
}

/// Update the incident of `w` if it is stored with the write's severity
/// (the usual case): a lookup of the few hot columns the result needs, then
/// one update by id. The stored evidence is read only when the write brings
/// some and the list is under the cap. `None` when no row matched (a new
/// incident, or one whose severity changes).
fn update_known(
    st: &mut Statements<'_>,
    w: &FindingWrite,
    p: &Prepared,
) -> Result<Option<(Finding, DateTime<Utc>)>> {
    let f = &w.finding;
    let mut rows = st
        .quick
        .query(rusqlite::params![w.incident_key, f.severity.as_str()])
        .map_err(db_err("read finding"))?;
    let Some(row) = rows.next().map_err(db_err("read finding"))? else {
        return Ok(None);
    };
    let id = row.int("id")?;
    let (assignee, workflow_tags, close_reason) = triage::decode_triage(row)?;
    let first_before = row.time("first_seen")?;
    let stored = Finding {
        id,
        status: parse_enum::<FindingStatus>(row.text("status")?, "status")?,
        note: row.opt_text("note")?.map(str::to_string),
        assignee,
        workflow_tags,
        close_reason,
        group: parse_json::<BTreeMap<String, String>>(row.text("group_json")?, "group_json")?,
        service: row.opt_text("service")?.map(str::to_string),
        user: row.opt_text("user")?.map(str::to_string),
        // A late event from before the incident's first one moves it back.
        first_seen: first_before.min(as_stored(f.first_seen)),
        last_seen: row.time("last_seen")?.max(as_stored(f.last_seen)),
        event_count: row.int("event_count")?.max(f.event_count),
        created_at: row.time("created_at")?,
        updated_at: as_stored(f.updated_at),
        evidence: Vec::new(),
        ..f.clone()
    };
    let mut len = row.int("evidence_len")?;
    let texts_changed = row.int("details_fp")? != p.fingerprint;
    drop(rows);
    // The stored list, read only when the write could add to it.
    let mut evidence_json = None;
    if !w.new_evidence.is_empty() && len < EVIDENCE_CAP as i64 {
        let json: String = st
            .evidence
            .query_row([id], |r| r.get(0))
            .map_err(db_err("read finding evidence"))?;
        let mut have = parse_json::<Vec<i64>>(&json, "evidence_json")?;
        if append_evidence(&mut have, &w.new_evidence) {
            len = have.len() as i64;
            evidence_json = Some(to_json(&have, "finding evidence")?);
        }
    }
    run_update(st, w, p, id, len, texts_changed, evidence_json)?;
    Ok(Some((stored, first_before)))
}

/// Write `w` over the stored finding `id`: its hot row always, its details
/// when the rule's texts changed or `evidence_json` brings a new list
/// (of `evidence_len` ids).
fn run_update(
    st: &mut Statements<'_>,
    w: &FindingWrite,
    p: &Prepared,
    id: i64,
    evidence_len: i64,
    texts_changed: bool,
    evidence_json: Option<String>,
) -> Result<()> {
    let f = &w.finding;
    st.update
        .execute(rusqlite::params![
            f.severity.as_str(),
            micros(f.last_seen),
            f.event_count,
            i64::from(f.risk_score),
            micros(f.updated_at),
            evidence_len,
            p.fingerprint,
            id,
            micros(f.first_seen),
        ])
        .map_err(db_err("update finding"))?;
    if texts_changed || evidence_json.is_some() {
        st.update_details
            .execute(rusqlite::params![
                f.rule_title,
                f.description,
                p.tags_json,
                f.explanation,
                evidence_json,
                id,
            ])
            .map_err(db_err("update finding details"))?;
    }
    Ok(())
}

/// The finding whose `column` (`f.id` or `f.incident_key`) is `key`, read on
/// the write connection.
pub(crate) fn read_finding(
    db: &rusqlite::Connection,
    column: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<Option<Finding>> {
    let mut st = db
        .prepare_cached(&format!("{FINDING_SELECT} WHERE {column} = ?1"))
        .map_err(db_err("prepare finding read"))?;
    let mut rows = st.query([key]).map_err(db_err("read finding"))?;
    match rows.next().map_err(db_err("read finding"))? {
        Some(row) => Ok(Some(decode_finding(row)?.1)),
        None => Ok(None),
    }
}

/// A time as it reads back from storage (whole microseconds).
fn as_stored(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros(t)).unwrap_or(t)
}

/// Append the ids of `new_evidence` not already in `have`, keeping at most
/// EVIDENCE_CAP; true when anything was added.
fn append_evidence(have: &mut Vec<i64>, new_evidence: &[i64]) -> bool {
    if new_evidence.is_empty() || have.len() >= EVIDENCE_CAP {
        return false;
    }
    let mut seen: HashSet<i64> = have.iter().copied().collect();
    let before = have.len();
    for &id in new_evidence {
        if have.len() >= EVIDENCE_CAP {
            break;
        }
        if seen.insert(id) {
            have.push(id);
        }
    }
    have.len() > before
}

pub(crate) async fn recent_incidents(
    pool: &SqlitePool,
    since: DateTime<Utc>,
) -> Result<Vec<(String, Finding)>> {
    let mut conn = pool.acquire().await.map_err(db_err("acquire connection"))?;
    fetch_findings(
        &mut conn,
        "WHERE f.last_seen >= ? ORDER BY f.id",
        &[micros(since)],
    )
    .await
}

pub(crate) async fn get_finding(pool: &SqlitePool, id: i64) -> Result<Option<Finding>> {
    let mut conn = pool.acquire().await.map_err(db_err("acquire connection"))?;
    Ok(fetch_findings(&mut conn, "WHERE f.id = ?", &[id])
        .await?
        .pop()
        .map(|(_, f)| f))
}

/// The WHERE clause of `q`'s filters, for the read path (sqlx) and the
/// write path (rusqlite, bulk updates) alike. Its terms on the rule's texts
/// and tags need `finding_details` joined as `d` ([`needs_details`]).
pub(crate) fn finding_where(q: &FindingQuery) -> Where {
    let mut w = Where::new(" WHERE 1 = 1");
    if !q.severity.is_empty() {
        w.sql(" AND f.severity IN (");
        for (i, s) in q.severity.iter().enumerate() {
            w.sql(if i == 0 { "" } else { ", " });
            w.bind(Arg::text(s.as_str()));
        }
        w.sql(")");
    }
    if !q.status.is_empty() {
        w.sql(" AND f.status IN (");
        for (i, s) in q.status.iter().enumerate() {
            w.sql(if i == 0 { "" } else { ", " });
            w.bind(Arg::text(s.as_str()));
        }
        w.sql(")");
    }
    match &q.rule_id {
        None => {}
        Some(RuleIdFilter::Exact(r)) => {
            w.sql(" AND f.rule_id = ").bind(Arg::text(r));
        }
        Some(RuleIdFilter::Prefix(p)) if p.is_empty() => {}
        Some(RuleIdFilter::Prefix(p)) => {
            // A range the rule index can seek: every valid UTF-8 text that
            // starts with `p` sorts (bytewise) between `p` and `p` followed
            // by the last code point.
            w.sql(" AND f.rule_id >= ")
                .bind(Arg::text(p))
                .sql(" AND f.rule_id < ")
                .bind(Arg::Text(format!("{p}\u{10FFFF}")));
        }
    }
    if let Some(u) = &q.user {
        w.sql(" AND f.user = ").bind(Arg::text(u));
    }
    if let Some(s) = &q.service {
        w.sql(" AND f.service = ").bind(Arg::text(s));
    }
    if let Some(from) = q.from {
        w.sql(" AND f.last_seen >= ").bind(Arg::Int(micros(from)));
    }
    if let Some(to) = q.to {
        w.sql(" AND f.first_seen < ").bind(Arg::Int(micros(to)));
    }
    if let Some(min) = q.risk_min {
        w.sql(" AND f.risk_score >= ")
            .bind(Arg::Int(i64::from(min)));
    }
    if let Some(max) = q.risk_max {
        w.sql(" AND f.risk_score <= ")
            .bind(Arg::Int(i64::from(max)));
    }
    if let Some(by) = &q.enriched_by {
        w.sql(" AND f.enriched_by = ").bind(Arg::text(by));
    }
    triage::push_triage_filters(&mut w, q);
    w
}

/// Whether `q`'s filters read `finding_details` (as `d`).
pub(crate) fn needs_details(q: &FindingQuery) -> bool {
    q.tag.is_some() || q.q.is_some()
}

fn push_finding_filters(qb: &mut QueryBuilder<'_, Sqlite>, q: &FindingQuery) {
    finding_where(q).push_to(qb);
}

/// The ORDER BY of a finding listing: the chosen key, then the most
/// recently active, then the highest id.
fn finding_order(sort: FindingSort, order: SortOrder) -> String {
    let dir = match order {
        SortOrder::Desc => "DESC",
        SortOrder::Asc => "ASC",
    };
    let key = match sort {
        FindingSort::LastSeen => return format!(" ORDER BY f.last_seen {dir}, f.id {dir}"),
        FindingSort::FirstSeen => "f.first_seen".to_string(),
        FindingSort::Severity => {
            let mut case = String::from("CASE f.severity");
            for (rank, s) in Severity::ALL.iter().enumerate() {
                case.push_str(&format!(" WHEN '{}' THEN {rank}", s.as_str()));
            }
            case.push_str(" ELSE -1 END");
            case
        }
        FindingSort::Risk => "f.risk_score".to_string(),
        FindingSort::EnrichedAt => "COALESCE(f.enriched_at, f.created_at)".to_string(),
    };
    format!(" ORDER BY {key} {dir}, f.last_seen DESC, f.id DESC")
}

pub(crate) async fn list_findings(pool: &SqlitePool, q: &FindingQuery) -> Result<Page<Finding>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    // One read transaction: the total and the page come from one snapshot.
    let mut conn = pool.begin().await.map_err(db_err("begin read"))?;
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) AS n FROM findings f");
    if needs_details(q) {
        qb.push(" JOIN finding_details d ON d.finding_id = f.id");
    }
    push_finding_filters(&mut qb, q);
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("count findings"))?;
    let total = count_col(&row, "n")?;

    let mut qb = QueryBuilder::<Sqlite>::new(FINDING_SELECT);
    push_finding_filters(&mut qb, q);
    qb.push(finding_order(q.sort, q.order))
        .push(" LIMIT ")
        .push_bind(i64::from(page_size))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("list findings"))?;
    let items: Vec<Finding> = rows
        .iter()
        .map(|r| decode_finding(r).map(|(_, f)| f))
        .collect::<Result<_>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_fingerprints_tell_texts_apart() {
        let base = Finding {
            id: 0,
            rule_id: "r".into(),
            rule_title: "R".into(),
            severity: Severity::High,
            status: FindingStatus::Open,
            group: BTreeMap::new(),
            service: None,
            user: None,
            first_seen: DateTime::UNIX_EPOCH,
            last_seen: DateTime::UNIX_EPOCH,
            event_count: 1,
            evidence: Vec::new(),
            description: String::new(),
            tags: Vec::new(),
            risk_score: 80,
            explanation: "e".into(),
            note: None,
            assignee: None,
            workflow_tags: Vec::new(),
            close_reason: None,
            recommended_actions: Vec::new(),
            enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
            enriched_at: None,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        };
        let mut seen = HashSet::new();
        for i in 0..2_000 {
            let f = Finding {
                description: format!("description {i}"),
                ..base.clone()
            };
            let fp = texts_fingerprint(&f, "[]");
            assert!(seen.insert(fp), "two descriptions share a fingerprint");
        }
        // The same texts, split differently between fields, differ too.
        let a = Finding {
            rule_title: "ab".into(),
            description: "c".into(),
            ..base.clone()
        };
        let b = Finding {
            rule_title: "a".into(),
            description: "bc".into(),
            ..base.clone()
        };
        assert_ne!(texts_fingerprint(&a, "[]"), texts_fingerprint(&b, "[]"));
        assert_ne!(
            texts_fingerprint(&base, "[]"),
            texts_fingerprint(&base, "[\"t\"]")
        );
    }
}
