//! Findings: the detection commit (upsert on incident key, evidence,
//! rollups, rule match counts, outbox, watermark), lookups and listings.
//! Triage is in [`crate::triage`], bulk updates in [`crate::bulk`].

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use vigilo_core::finding::{CloseReason, EVIDENCE_CAP};
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{
    AssigneeFilter, FindingChangeKind, FindingQuery, FindingSort, FindingWrite, Page, Result,
    RuleIdFilter, SortOrder, StorageError,
};

use crate::codec::{col, count_col, like_pattern, paging, parse_enum, parse_json, to_json};
use crate::{LOCK_DETECTION, PostgresStorage, db_err, writer_lock};

/// Every column [`decode_finding`] reads, for `SELECT` and `RETURNING`.
pub(crate) const FINDING_COLUMNS: &str = "f.id, f.incident_key, f.rule_id, f.rule_title, \
    f.severity, f.status, f.group_values::text AS group_values, f.service, f.user_name, \
    f.first_seen, f.last_seen, f.event_count, f.evidence, f.description, f.tags, \
    f.risk_score, f.explanation, f.note, f.assignee, f.workflow_tags, f.close_reason, \
    f.recommended_actions, f.enriched_by, f.enriched_at, f.created_at, f.updated_at";

/// The rank of a severity (informational 0 .. critical 4).
pub(crate) fn severity_rank(s: Severity) -> i16 {
    Severity::ALL.iter().position(|x| *x == s).unwrap_or(0) as i16
}

/// A finding row, evidence included, plus its incident key.
pub(crate) fn decode_finding(row: &PgRow) -> Result<(String, Finding)> {
    let risk: i16 = col(row, "risk_score")?;
    let group: String = col(row, "group_values")?;
    let close_reason: Option<String> = col(row, "close_reason")?;
    let severity: String = col(row, "severity")?;
    let status: String = col(row, "status")?;
    let finding = Finding {
        id: col(row, "id")?,
        rule_id: col(row, "rule_id")?,
        rule_title: col(row, "rule_title")?,
        severity: parse_enum::<Severity>(&severity, "severity")?,
        status: parse_enum::<FindingStatus>(&status, "status")?,
        group: parse_json::<BTreeMap<String, String>>(&group, "group_values")?,
        service: col(row, "service")?,
        user: col(row, "user_name")?,
        first_seen: col(row, "first_seen")?,
        last_seen: col(row, "last_seen")?,
        event_count: col(row, "event_count")?,
        evidence: col(row, "evidence")?,
        description: col(row, "description")?,
        tags: col(row, "tags")?,
        risk_score: u8::try_from(risk)
            .map_err(|_| StorageError::Corrupt(format!("risk_score: {risk} is not 0-255")))?,
        explanation: col(row, "explanation")?,
        note: col(row, "note")?,
        assignee: col(row, "assignee")?,
        workflow_tags: col(row, "workflow_tags")?,
        close_reason: close_reason
            .map(|r| parse_enum::<CloseReason>(&r, "close_reason"))
            .transpose()?,
        recommended_actions: col(row, "recommended_actions")?,
        enriched_by: col(row, "enriched_by")?,
        enriched_at: col(row, "enriched_at")?,
        created_at: col(row, "created_at")?,
        updated_at: col(row, "updated_at")?,
    };
    Ok((col(row, "incident_key")?, finding))
}

pub(crate) async fn watermark(pool: &PgPool) -> Result<i64> {
    let w: Option<i64> = sqlx::query_scalar("SELECT watermark FROM detection_state WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(db_err("read detection watermark"))?;
    Ok(w.unwrap_or(0))
}

/// Tags as stored: without empty ones, sorted, each once.
pub(crate) fn tag_list(tags: &[String]) -> Vec<String> {
    let set: std::collections::BTreeSet<&String> = tags.iter().filter(|t| !t.is_empty()).collect();
    set.into_iter().cloned().collect()
}

/// One round of writes (each incident key at most once), as one statement:
/// a new incident is inserted; a known one keeps its triage, identity and
/// first sighting, takes the rule's texts and severity (and its risk
/// score and explanation while no model has scored it), never moves
/// `last_seen` or `event_count` back, and appends the new evidence.
/// Returns each finding as stored. Rows are inserted in input order, so
/// new ids follow it.
///
/// Appending the write's own capped list (`EXCLUDED.evidence`) appends
/// what appending all of its ids would: the capped list holds either every
/// distinct id of the write or enough of them to fill any stored list.
const UPSERT_SQL: &str = "WITH input AS ( \
        SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int2[], \
            $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], \
            $11::timestamptz[], $12::int8[], $13::text[], $14::text[], $15::text[], $16::int2[], \
            $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::text[], \
            $23::text[], $24::timestamptz[], $25::timestamptz[], $26::timestamptz[]) \
        WITH ORDINALITY AS t (incident_key, rule_id, rule_title, severity, severity_rank, \
            status, group_values, service, user_name, first_seen, last_seen, event_count, \
            evidence, description, tags, risk_score, explanation, note, assignee, \
            workflow_tags, close_reason, recommended_actions, enriched_by, enriched_at, \
            created_at, updated_at, ord) \
    ) \
    INSERT INTO findings AS f (incident_key, rule_id, rule_title, severity, severity_rank, status, \
        group_values, service, user_name, first_seen, last_seen, event_count, evidence, \
        description, tags, risk_score, explanation, note, assignee, workflow_tags, close_reason, \
        recommended_actions, enriched_by, enriched_at, created_at, updated_at) \
    SELECT t.incident_key, t.rule_id, t.rule_title, t.severity, t.severity_rank, t.status, \
        t.group_values::jsonb, t.service, t.user_name, t.first_seen, t.last_seen, t.event_count, \
        vigilo_append_evidence('{}', t.evidence::bigint[], $27), t.description, \
        vigilo_text_array(t.tags::jsonb), t.risk_score, t.explanation, t.note, t.assignee, \
        vigilo_text_array(t.workflow_tags::jsonb), t.close_reason, \
        vigilo_text_array(t.recommended_actions::jsonb), t.enriched_by, t.enriched_at, \
        t.created_at, t.updated_at \
    FROM input t ORDER BY t.ord \
    ON CONFLICT (incident_key) DO UPDATE SET \
        rule_title = EXCLUDED.rule_title, \
        severity = EXCLUDED.severity, \
        severity_rank = EXCLUDED.severity_rank, \
        first_seen = LEAST(f.first_seen, EXCLUDED.first_seen), \
        last_seen = GREATEST(f.last_seen, EXCLUDED.last_seen), \
        event_count = GREATEST(f.event_count, EXCLUDED.event_count), \
        evidence = vigilo_append_evidence(f.evidence, EXCLUDED.evidence, $27), \
        description = EXCLUDED.description, \
        tags = EXCLUDED.tags, \
        risk_score = CASE WHEN f.enriched_by = 'heuristic' THEN EXCLUDED.risk_score \
            ELSE f.risk_score END, \
        explanation = CASE WHEN f.enriched_by = 'heuristic' THEN EXCLUDED.explanation \
            ELSE f.explanation END, \
        updated_at = EXCLUDED.updated_at";

/// A known incident's severity and first_seen before a write: the finding
/// rollup row it was counted in.
type Before = (Severity, DateTime<Utc>);

/// Key of a finding rollup row: (minute, severity, rule_id, service).
type RollupKey = (DateTime<Utc>, &'static str, String, Option<String>);

fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(secs, 0).unwrap_or(t)
}

/// `ids` as a PostgreSQL array literal (`{1,2,3}`).
fn id_array(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push('}');
    out
}

/// The columns of one round of writes, one array each.
#[derive(Default)]
struct Round<'a> {
    keys: Vec<&'a str>,
    rule_ids: Vec<&'a str>,
    titles: Vec<&'a str>,
    severities: Vec<&'static str>,
    ranks: Vec<i16>,
    statuses: Vec<&'static str>,
    groups: Vec<String>,
    services: Vec<Option<&'a str>>,
    users: Vec<Option<&'a str>>,
    first_seen: Vec<DateTime<Utc>>,
    last_seen: Vec<DateTime<Utc>>,
    event_counts: Vec<i64>,
    evidence: Vec<String>,
    descriptions: Vec<&'a str>,
    tags: Vec<String>,
    risks: Vec<i16>,
    explanations: Vec<&'a str>,
    notes: Vec<Option<&'a str>>,
    assignees: Vec<Option<&'a str>>,
    workflow_tags: Vec<String>,
    close_reasons: Vec<Option<&'static str>>,
    actions: Vec<String>,
    enriched_by: Vec<&'a str>,
    enriched_at: Vec<Option<DateTime<Utc>>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl<'a> Round<'a> {
    fn push(&mut self, w: &'a FindingWrite) -> Result<()> {
        let f = &w.finding;
        self.keys.push(&w.incident_key);
        self.rule_ids.push(&f.rule_id);
        self.titles.push(&f.rule_title);
        self.severities.push(f.severity.as_str());
        self.ranks.push(severity_rank(f.severity));
        self.statuses.push(f.status.as_str());
        self.groups.push(to_json(&f.group, "finding group")?);
        self.services.push(f.service.as_deref());
        self.users.push(f.user.as_deref());
        self.first_seen.push(f.first_seen);
        self.last_seen.push(f.last_seen);
        self.event_counts.push(f.event_count);
        self.evidence.push(id_array(&w.new_evidence));
        self.descriptions.push(&f.description);
        self.tags.push(to_json(&f.tags, "finding tags")?);
        self.risks.push(i16::from(f.risk_score));
        self.explanations.push(&f.explanation);
        self.notes.push(f.note.as_deref());
        self.assignees.push(f.assignee.as_deref());
        self.workflow_tags
            .push(to_json(&tag_list(&f.workflow_tags), "workflow tags")?);
        self.close_reasons.push(f.close_reason.map(|r| r.as_str()));
        self.actions
            .push(to_json(&f.recommended_actions, "recommended actions")?);
        self.enriched_by.push(&f.enriched_by);
        self.enriched_at.push(f.enriched_at);
        self.created_at.push(f.created_at);
        self.updated_at.push(f.updated_at);
        Ok(())
    }

    /// Run the round; each finding as stored and its severity before, by key.
    async fn run(
        &self,
        conn: &mut sqlx::PgConnection,
        sql: &str,
    ) -> Result<HashMap<String, (Finding, Option<Before>)>> {
        // The severities and first_seen the known incidents have now (the
        // detection lock keeps them until the upsert: triage changes
        // neither).
        let before: Vec<(String, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT incident_key, severity, first_seen FROM findings WHERE incident_key = ANY($1)",
        )
        .bind(&self.keys)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("read known incidents"))?;
        let mut before: HashMap<String, (String, DateTime<Utc>)> =
            before.into_iter().map(|(k, s, f)| (k, (s, f))).collect();
        let rows = sqlx::query(sql)
            .bind(&self.keys)
            .bind(&self.rule_ids)
            .bind(&self.titles)
            .bind(&self.severities)
            .bind(&self.ranks)
            .bind(&self.statuses)
            .bind(&self.groups)
            .bind(&self.services)
            .bind(&self.users)
            .bind(&self.first_seen)
            .bind(&self.last_seen)
            .bind(&self.event_counts)
            .bind(&self.evidence)
            .bind(&self.descriptions)
            .bind(&self.tags)
            .bind(&self.risks)
            .bind(&self.explanations)
            .bind(&self.notes)
            .bind(&self.assignees)
            .bind(&self.workflow_tags)
            .bind(&self.close_reasons)
            .bind(&self.actions)
            .bind(&self.enriched_by)
            .bind(&self.enriched_at)
            .bind(&self.created_at)
            .bind(&self.updated_at)
            .bind(EVIDENCE_CAP as i32)
            .fetch_all(conn)
            .await
            .map_err(db_err("upsert findings"))?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in &rows {
            let (key, mut f) = decode_finding(row)?;
            let old = before
                .remove(&key)
                .map(|(s, first)| parse_enum::<Severity>(&s, "severity").map(|s| (s, first)))
                .transpose()?;
            f.evidence = Vec::new();
            out.insert(key, (f, old));
        }
        Ok(out)
    }
}

pub(crate) async fn commit_detection(
    store: &PostgresStorage,
    writes: &[FindingWrite],
    watermark: i64,
) -> Result<Vec<Finding>> {
    let sql = format!("{UPSERT_SQL} RETURNING {FINDING_COLUMNS}");
    // Round r holds the r-th write of each incident key, in input order:
    // a statement may touch a row once, and the writes of one key apply in
    // their order. New incidents all come in the first round.
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(writes.len());
    for (i, w) in writes.iter().enumerate() {
        let r = seen.entry(w.incident_key.as_str()).or_insert(0);
        if rounds.len() <= *r {
            rounds.push(Vec::new());
        }
        rounds[*r].push(i);
        *r += 1;
    }

    let mut tx = store.begin().await?;
    writer_lock(&mut tx, LOCK_DETECTION).await?;
    store.check_lead(&mut tx, watermark).await?;
    // Each write's result (the finding after it, its severity before).
    let mut results: Vec<Option<(Finding, Option<Before>)>> = vec![None; writes.len()];
    for round in &rounds {
        let mut cols = Round::default();
        for &i in round {
            cols.push(&writes[i])?;
        }
        let mut stored = cols.run(&mut tx, &sql).await?;
        for &i in round {
            let got = stored
                .remove(writes[i].incident_key.as_str())
                .ok_or_else(|| {
                    StorageError::Database(format!(
                        "incident {} was not stored",
                        writes[i].incident_key
                    ))
                })?;
            results[i] = Some(got);
        }
    }

    let mut ids = Vec::with_capacity(writes.len());
    let mut touched: HashMap<i64, Finding> = HashMap::with_capacity(writes.len());
    let mut created: HashSet<i64> = HashSet::new();
    let mut rollup: HashMap<RollupKey, (i64, Option<DateTime<Utc>>)> = HashMap::new();
    let mut matches: BTreeMap<&str, i64> = BTreeMap::new();
    for (w, result) in writes.iter().zip(results) {
        let (stored, old) = result.ok_or_else(|| {
            StorageError::Database(format!("incident {} was not written", w.incident_key))
        })?;
        *matches.entry(w.finding.rule_id.as_str()).or_default() +=
            i64::try_from(w.matches).unwrap_or(i64::MAX);
        let key = |severity: Severity, first: DateTime<Utc>| -> RollupKey {
            (
                minute_of(first),
                severity.as_str(),
                stored.rule_id.clone(),
                stored.service.clone(),
            )
        };
        // Rollups count findings at the minute of first_seen: a new one
        // counts once; a changed severity, or a first_seen a late event
        // moved back, moves it between rows.
        let here = key(stored.severity, stored.first_seen);
        let counted = match old {
            None => {
                created.insert(stored.id);
                true
            }
            Some((severity, first)) => {
                let was = key(severity, first);
                let moved = was != here;
                if moved {
                    rollup.entry(was).or_insert((0, None)).0 -= 1;
                }
                moved
            }
        };
        let entry = rollup.entry(here).or_insert((0, None));
        entry.0 += i64::from(counted);
        entry.1 = entry.1.max(Some(stored.last_seen));
        ids.push(stored.id);
        touched.insert(stored.id, stored);
    }

    write_rollups(&mut tx, &rollup).await?;
    if !matches.is_empty() {
        let (rules, counts): (Vec<&str>, Vec<i64>) = matches.into_iter().unzip();
        sqlx::query(
            "INSERT INTO rule_matches (rule_id, count) SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
             ON CONFLICT (rule_id) DO UPDATE SET count = rule_matches.count + EXCLUDED.count",
        )
        .bind(&rules)
        .bind(&counts)
        .execute(&mut *tx)
        .await
        .map_err(db_err("update rule match counts"))?;
    }
    // The outbox: one entry per finding this commit touched, in the order
    // first touched.
    let mut changes = crate::connectors::Changes::default();
    let mut logged: HashSet<i64> = HashSet::with_capacity(touched.len());
    for id in &ids {
        if !logged.insert(*id) {
            continue;
        }
        if let Some(f) = touched.get(id) {
            let kind = if created.contains(id) {
                FindingChangeKind::Created
            } else {
                FindingChangeKind::Updated
            };
            changes.push(*id, kind, f.status, f.updated_at);
        }
    }
    changes.write(&mut tx).await?;
    // Never back: a process that does not lead detection commits IAM audit
    // findings with the watermark it knows, which may be behind.
    sqlx::query("UPDATE detection_state SET watermark = GREATEST(watermark, $1) WHERE id = 1")
        .bind(watermark)
        .execute(&mut *tx)
        .await
        .map_err(db_err("move detection watermark"))?;
    tx.commit().await.map_err(db_err("commit detection"))?;

    // In input order: a finding written twice is returned twice, in its
    // final state.
    ids.iter()
        .map(|id| {
            touched
                .get(id)
                .cloned()
                .ok_or_else(|| StorageError::Corrupt(format!("finding {id} vanished after write")))
        })
        .collect()
}

async fn write_rollups(
    conn: &mut sqlx::PgConnection,
    rollup: &HashMap<RollupKey, (i64, Option<DateTime<Utc>>)>,
) -> Result<()> {
    if rollup.is_empty() {
        return Ok(());
    }
    let mut minutes = Vec::with_capacity(rollup.len());
    let mut severities = Vec::with_capacity(rollup.len());
    let mut rules = Vec::with_capacity(rollup.len());
    let mut services = Vec::with_capacity(rollup.len());
    let mut deltas = Vec::with_capacity(rollup.len());
    let mut last_seen = Vec::with_capacity(rollup.len());
    for ((minute, severity, rule, service), (delta, last)) in rollup {
        minutes.push(*minute);
        severities.push(*severity);
        rules.push(rule.as_str());
        services.push(service.as_deref());
        deltas.push(*delta);
        last_seen.push(*last);
    }
    sqlx::query(
        "INSERT INTO finding_rollup (minute, severity, rule_id, service, count, last_seen) \
         SELECT * FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], \
                              $5::bigint[], $6::timestamptz[]) \
         ON CONFLICT (minute, severity, rule_id, service) DO UPDATE SET \
           count = finding_rollup.count + EXCLUDED.count, \
           last_seen = GREATEST(finding_rollup.last_seen, EXCLUDED.last_seen)",
    )
    .bind(&minutes)
    .bind(&severities)
    .bind(&rules)
    .bind(&services)
    .bind(&deltas)
    .bind(&last_seen)
    .execute(conn)
    .await
    .map_err(db_err("update finding rollups"))?;
    Ok(())
}

pub(crate) async fn recent_incidents(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> Result<Vec<(String, Finding)>> {
    let rows = sqlx::query(&format!(
        "SELECT {FINDING_COLUMNS} FROM findings f WHERE f.last_seen >= $1 ORDER BY f.id"
    ))
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(db_err("read recent incidents"))?;
    rows.iter().map(decode_finding).collect()
}

pub(crate) async fn read_finding<'e, E>(conn: E, id: i64) -> Result<Option<Finding>>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let row = sqlx::query(&format!(
        "SELECT {FINDING_COLUMNS} FROM findings f WHERE f.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
    .map_err(db_err("read finding"))?;
    Ok(row
        .as_ref()
        .map(decode_finding)
        .transpose()?
        .map(|(_, f)| f))
}

pub(crate) async fn get_finding(pool: &PgPool, id: i64) -> Result<Option<Finding>> {
    read_finding(pool, id).await
}

/// The `AND ...` terms of `q`'s filters, on `findings` as `f`.
pub(crate) fn push_finding_filters(qb: &mut QueryBuilder<'_, Postgres>, q: &FindingQuery) {
    if !q.severity.is_empty() {
        let v: Vec<&'static str> = q.severity.iter().map(|s| s.as_str()).collect();
        qb.push(" AND f.severity = ANY(").push_bind(v).push(")");
    }
    if !q.status.is_empty() {
        let v: Vec<&'static str> = q.status.iter().map(|s| s.as_str()).collect();
        qb.push(" AND f.status = ANY(").push_bind(v).push(")");
    }
    match &q.rule_id {
        None => {}
        Some(RuleIdFilter::Exact(r)) => {
            qb.push(" AND f.rule_id = ").push_bind(r.clone());
        }
        Some(RuleIdFilter::Prefix(p)) if p.is_empty() => {}
        Some(RuleIdFilter::Prefix(p)) => {
            qb.push(" AND starts_with(f.rule_id, ")
                .push_bind(p.clone())
                .push(")");
        }
    }
    if let Some(u) = &q.user {
        qb.push(" AND f.user_name = ").push_bind(u.clone());
    }
    if let Some(s) = &q.service {
        qb.push(" AND f.service = ").push_bind(s.clone());
    }
    if let Some(from) = q.from {
        qb.push(" AND f.last_seen >= ").push_bind(from);
    }
    if let Some(to) = q.to {
        qb.push(" AND f.first_seen < ").push_bind(to);
    }
    if let Some(min) = q.risk_min {
        qb.push(" AND f.risk_score >= ").push_bind(i16::from(min));
    }
    if let Some(max) = q.risk_max {
        qb.push(" AND f.risk_score <= ").push_bind(i16::from(max));
    }
    if let Some(by) = &q.enriched_by {
        qb.push(" AND f.enriched_by = ").push_bind(by.clone());
    }
    match &q.assignee {
        None => {}
        Some(AssigneeFilter::Unassigned) => {
            qb.push(" AND f.assignee IS NULL");
        }
        Some(AssigneeFilter::Name(n)) => {
            qb.push(" AND f.assignee = ").push_bind(n.clone());
        }
    }
    if let Some(tag) = &q.tag {
        qb.push(" AND (")
            .push_bind(tag.clone())
            .push(" = ANY(f.workflow_tags) OR ")
            .push_bind(tag.clone())
            .push(" = ANY(f.tags))");
    }
    if let Some(text) = &q.q {
        let pattern = like_pattern(text);
        qb.push(" AND (");
        for (i, column) in [
            "f.rule_title",
            "f.description",
            "f.rule_id",
            "f.user_name",
            "f.service",
            "f.note",
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push(column)
                .push(" ILIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\'");
        }
        qb.push(
            " OR EXISTS (SELECT 1 FROM jsonb_each_text(f.group_values) AS g WHERE g.value ILIKE ",
        )
        .push_bind(pattern)
        .push(" ESCAPE '\\'))");
    }
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
        FindingSort::FirstSeen => "f.first_seen",
        FindingSort::Severity => "f.severity_rank",
        FindingSort::Risk => "f.risk_score",
        FindingSort::EnrichedAt => "COALESCE(f.enriched_at, f.created_at)",
    };
    format!(" ORDER BY {key} {dir}, f.last_seen DESC, f.id DESC")
}

pub(crate) async fn list_findings(pool: &PgPool, q: &FindingQuery) -> Result<Page<Finding>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    let mut tx = crate::codec::snapshot(pool).await?;
    let mut qb = QueryBuilder::<Postgres>::new("SELECT COUNT(*) AS n FROM findings f WHERE TRUE");
    push_finding_filters(&mut qb, q);
    let row = qb
        .build()
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("count findings"))?;
    let total = count_col(&row, "n")?;
    let mut qb = QueryBuilder::<Postgres>::new(format!(
        "SELECT {FINDING_COLUMNS} FROM findings f WHERE TRUE"
    ));
    push_finding_filters(&mut qb, q);
    qb.push(finding_order(q.sort, q.order))
        .push(" LIMIT ")
        .push_bind(i64::from(page_size))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("list findings"))?;
    tx.commit().await.map_err(db_err("end read"))?;
    let items = rows
        .iter()
        .map(|r| decode_finding(r).map(|(_, f)| f))
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}
