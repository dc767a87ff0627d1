//! Storage for Vigilo: one trait, one implementation per backend
//! (`vigilo-storage-sqlite`, later PostgreSQL), and a behaviour suite
//! (`testsuite` feature) that every implementation runs unchanged.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigilo_core::finding::{CloseReason, FindingHistory};
use vigilo_core::{Event, Finding, FindingStatus, NewEvent, Severity};

#[cfg(feature = "testsuite")]
pub mod testsuite;

pub mod sketch;

pub mod codec;

/// Copying a store into another (`vigilo storage copy`).
pub mod transfer;

pub mod accounts;
pub mod connectors;
pub use accounts::{
    ApiKeyRecord, AuditEntry, AuditQuery, NewApiKey, NewAuditEntry, NewUser, SessionRecord,
    UserPatch, UserRecord,
};
pub use connectors::{DeadLetter, FindingChange, FindingChangeKind, NewDeadLetter};
pub mod alerts;
pub mod enrichment;
pub use alerts::{
    AlertCommit, AlertGroup, NewNotification, NewSilence, Notification, NotificationAttempt,
    NotificationKind, NotificationQuery, NotificationStatus, Silence, SilenceMatcher,
};
pub use enrichment::{Enrichment, NewEnrichment};

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A finding patch that cannot apply to the finding as stored (a close
    /// reason on a finding that stays open); nothing was written.
    #[error("invalid `{field}`: {message}")]
    InvalidPatch {
        field: &'static str,
        message: String,
    },
    /// A bulk update that selects more findings than [`MAX_BULK`]; nothing
    /// was written.
    #[error("{matched} findings selected, more than the {limit} a bulk update may change")]
    TooManyFindings { matched: u64, limit: u64 },
    /// A write that would break a uniqueness rule (a username taken, an
    /// API key prefix in use); nothing was written.
    #[error("`{field}` is already taken")]
    Conflict { field: &'static str },
    /// A detection commit from a process that no longer leads detection
    /// (see [`Storage::try_lead_detection`]); nothing was written.
    #[error("this process no longer leads detection")]
    NotLeader,
}

/// Most findings one bulk update may change.
pub const MAX_BULK: u64 = 10_000;

/// Largest page a listing returns.
pub const MAX_PAGE_SIZE: u32 = 500;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    pub kind: Option<String>,
    pub service: Option<String>,
    pub user: Option<String>,
    /// Inclusive lower bound on event time.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound on event time.
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive substring of the event's JSON text.
    pub q: Option<String>,
    /// Events whose logsource has each dimension named here (exact match).
    pub logsource: vigilo_core::Logsource,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FindingQuery {
    /// Any of these severities; empty: any.
    pub severity: Vec<Severity>,
    /// Any of these statuses; empty: any.
    pub status: Vec<FindingStatus>,
    pub rule_id: Option<RuleIdFilter>,
    pub user: Option<String>,
    pub service: Option<String>,
    /// Findings whose last_seen is at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Findings whose first_seen is before this.
    pub to: Option<DateTime<Utc>>,
    pub assignee: Option<AssigneeFilter>,
    /// A workflow tag or a rule tag, exactly.
    pub tag: Option<String>,
    /// Case-insensitive text in the rule title, description, rule id, group
    /// values, user, service or note.
    pub q: Option<String>,
    /// Findings whose risk score is at least this.
    pub risk_min: Option<u8>,
    /// Findings whose risk score is at most this.
    pub risk_max: Option<u8>,
    /// Findings scored by this: `heuristic` or a model's name, exactly.
    pub enriched_by: Option<String>,
    pub sort: FindingSort,
    pub order: SortOrder,
    pub page: u32,
    pub page_size: u32,
}

/// How a finding listing matches `assignee`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Findings assigned to no one.
    Unassigned,
    /// Findings assigned to this name, exactly.
    Name(String),
}

/// How a finding listing matches `rule_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleIdFilter {
    Exact(String),
    /// Rule ids that start with this text (`iam.` matches `iam.admin_access`).
    Prefix(String),
}

/// The order of a finding listing; ties always go to the most recently
/// active, then the highest id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FindingSort {
    /// By last_seen.
    #[default]
    LastSeen,
    /// By first_seen.
    FirstSeen,
    /// By severity rank (informational < low < medium < high < critical).
    Severity,
    /// By risk score.
    Risk,
    /// By when the finding was last enriched (never-enriched ones count as
    /// enriched at creation).
    EnrichedAt,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Largest (newest, most severe) first.
    #[default]
    Desc,
    Asc,
}

/// The text a `q` search looks for in an event's JSON text. Characters that
/// JSON always escapes (the control characters, NUL among them) cannot occur
/// raw in that text, so they are searched for in their escaped form, the way
/// the stored JSON spells them: a search for `a`, NUL, `b` finds the string
/// value `"a\u0000b"` and nothing else. Every other character stands for
/// itself.
pub fn json_search_text(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for c in q.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// A new or updated incident, written by the detection stage. Storage upserts
/// on `incident_key`: a new key inserts a finding, a known key updates
/// `last_seen`, `event_count`, severity/risk fields and appends
/// `new_evidence` (capped at [`vigilo_core::finding::EVIDENCE_CAP`]). The
/// evidence is built from `new_evidence` alone: `finding.evidence` is
/// ignored. Status and note set by analysts are never overwritten by an
/// update.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingWrite {
    pub incident_key: String,
    /// `finding.id` is ignored; storage assigns ids.
    pub finding: Finding,
    pub new_evidence: Vec<i64>,
    /// Rule matches this write stands for (detection coalesces the matches
    /// of one incident within a batch into one write).
    pub matches: u64,
}

/// A change to findings. Every field changed writes a history entry with
/// `actor`; fields that already hold the value write none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingPatch {
    /// Moving to `open` or `acknowledged` clears the close reason.
    pub status: Option<FindingStatus>,
    /// `None` keeps the note; `Some("")` clears it.
    pub note: Option<String>,
    /// `None` keeps the assignee; `Some("")` clears it.
    pub assignee: Option<String>,
    /// Replaces the workflow tags (before `add_tags` and `remove_tags`).
    pub workflow_tags: Option<Vec<String>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// Only for a finding that is (or with `status` becomes) resolved or
    /// suppressed: otherwise [`StorageError::InvalidPatch`].
    pub close_reason: Option<CloseReason>,
    /// Who makes the change; empty means `anonymous`.
    pub actor: String,
}

/// The findings a bulk update changes.
#[derive(Debug, Clone, PartialEq)]
pub enum BulkTarget {
    /// These ids; ids of no finding are skipped.
    Ids(Vec<i64>),
    /// Every finding the query selects (its paging and sort are ignored).
    Filter(Box<FindingQuery>),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkResult {
    /// Findings selected.
    pub matched: u64,
    /// Findings the patch changed (the others already held its values).
    pub updated: u64,
}

/// What findings are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Rule,
    Service,
    User,
    Assignee,
}

/// Findings that share one value of a [`GroupBy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingGroup {
    /// The shared value; `None` for findings without one.
    pub key: Option<String>,
    /// The rule's title when grouped by rule.
    pub title: Option<String>,
    pub count: u64,
    /// Of which open.
    pub open: u64,
    pub max_severity: Severity,
    pub last_seen: DateTime<Utc>,
}

/// A time range and bucket width for rollup queries. Buckets are aligned to
/// multiples of `bucket_secs` since the epoch; `bucket_secs` is a multiple of 60.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_secs: i64,
}

/// One bucket of a series, split by a key (event kind, or finding severity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    pub bucket: DateTime<Utc>,
    pub key: String,
    pub count: u64,
}

/// Event counts from the rollups for one (kind, service) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventBreakdown {
    pub kind: String,
    pub service: Option<String>,
    pub count: u64,
}

/// Finding counts from the rollups for one (severity, rule, service) triple,
/// counted at each finding's first_seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingBreakdown {
    pub severity: Severity,
    pub rule_id: String,
    pub service: Option<String>,
    pub count: u64,
    /// Latest last_seen among these findings.
    pub last_seen: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub events: u64,
    pub findings: u64,
    pub findings_by_severity: BTreeMap<String, u64>,
    pub findings_by_status: BTreeMap<String, u64>,
}

impl Totals {
    /// `events` events and no findings yet: every severity and status
    /// listed with a zero count, as the API shows them.
    pub fn zeroed(events: u64) -> Totals {
        Totals {
            events,
            findings: 0,
            findings_by_severity: Severity::ALL
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect(),
            findings_by_status: [
                FindingStatus::Open,
                FindingStatus::Acknowledged,
                FindingStatus::Resolved,
                FindingStatus::Suppressed,
            ]
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect(),
        }
    }
}

/// A stored IAM audit: the engine's JSON report plus bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IamAudit {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    /// File name or label the audit was submitted with.
    pub source: Option<String>,
    pub input_format: String,
    pub summary: serde_json::Value,
    pub report: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewIamAudit {
    pub created_at: DateTime<Utc>,
    pub source: Option<String>,
    pub input_format: String,
    pub summary: serde_json::Value,
    pub report: serde_json::Value,
}

/// Where a keyset scan resumes: just after the row with this time and id in
/// the listing's order (newest first, ties by highest id first), so a scan
/// of any length costs one index seek per page, never an OFFSET.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub time: DateTime<Utc>,
    pub id: i64,
}

/// Most rows one page of a keyset scan returns.
pub const MAX_SCAN_PAGE: u32 = 1000;

/// The numeric fields rolled up per minute unless configured otherwise
/// (`metrics.fields`).
pub const DEFAULT_METRIC_FIELDS: [&str; 4] = ["cpu", "latency_ms", "amount", "value"];

/// How a metric series is split. Every value of a field is rolled up by
/// its event's service (events without one form the `None` group); values
/// of events with a top-level `metric_name` or `source_id` (a string, or
/// a number taken as its text) also by that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricGroupBy {
    /// One series of every value.
    None,
    Service,
    MetricName,
    SourceId,
}

impl MetricGroupBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricGroupBy::None => "none",
            MetricGroupBy::Service => "service",
            MetricGroupBy::MetricName => "metric_name",
            MetricGroupBy::SourceId => "source_id",
        }
    }
}

/// What one point of a metric series says about the values in its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricAgg {
    Avg,
    Sum,
    Count,
    Min,
    Max,
    /// A quantile from the mergeable sketch, within
    /// [`sketch::RELATIVE_ACCURACY`] of the true one.
    P50,
    P95,
    P99,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeriesQuery {
    pub field: String,
    pub group_by: MetricGroupBy,
    pub agg: MetricAgg,
    /// Range and bucket width, as for the event series.
    pub range: SeriesQuery,
}

/// The `limit` groups with the most values (ties: the smaller key, `None`
/// first) among `(group, values)` pairs (a group may come more than once),
/// and how many groups there are.
pub fn top_groups(
    counts: impl IntoIterator<Item = (Option<String>, u64)>,
    limit: u32,
) -> (std::collections::BTreeSet<Option<String>>, u64) {
    let mut by_key: std::collections::BTreeMap<Option<String>, u64> =
        std::collections::BTreeMap::new();
    for (key, n) in counts {
        *by_key.entry(key).or_default() += n;
    }
    let total = by_key.len() as u64;
    let mut ranked: Vec<(Option<String>, u64)> = by_key.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    (ranked.into_iter().map(|(k, _)| k).collect(), total)
}

/// One non-empty bucket of one group of a metric series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub bucket: DateTime<Utc>,
    /// The group (`None`: no service, or every value with `group_by` none).
    pub key: Option<String>,
    pub value: f64,
    /// Values the bucket holds.
    pub count: u64,
}

/// The groups the metric rollups have seen, by kind, each sorted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricGroups {
    pub service: Vec<String>,
    pub metric_name: Vec<String>,
    pub source_id: Vec<String>,
}

/// A rule's on/off state as set through the API (rules without one are on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    pub rule_id: String,
    pub enabled: bool,
    pub changed_at: DateTime<Utc>,
}

/// One status report of a pipeline, as the hub received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineUpdate {
    pub pipeline: String,
    pub status: String,
    pub received_at: DateTime<Utc>,
    /// The envelope as posted.
    pub payload: serde_json::Value,
}

/// What the hub keeps of one pipeline: its update count and latest reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineRecord {
    pub name: String,
    pub updates_total: u64,
    /// Newest first.
    pub recent: Vec<PipelineUpdate>,
}

/// What one retention step may remove. A cutoff left `None` keeps that
/// kind of data forever.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// Events whose time (`ts`) is before this expire, once detection has
    /// evaluated them (an id at or below [`Storage::detection_watermark`]):
    /// retention never removes an event detection has not seen.
    pub events_before: Option<DateTime<Utc>>,
    /// Findings whose last activity (`last_seen` and `updated_at`, which
    /// every analyst change and detection update moves) is before this
    /// expire, whatever their status, together with everything attached
    /// to them: history, notes, enrichments, notification links and their
    /// outbox entries. A finding with an outbox entry a reader has not
    /// reached yet waits until it has.
    pub findings_before: Option<DateTime<Utc>>,
    /// Rollup rows (events per minute and hour, findings, metrics) of the
    /// minutes and hours that end at or before this expire. Never later
    /// than the events cutoff applied so far: rollups always outlive the
    /// events they count.
    pub rollups_before: Option<DateTime<Utc>>,
    /// Most rows one step deletes of each kind.
    pub batch: u32,
}

/// What one retention step removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    pub events: u64,
    pub findings: u64,
    /// Rollup rows of every tier.
    pub rollups: u64,
    /// Nothing more expires at these cutoffs: the sweep may stop.
    pub done: bool,
}

impl PurgeReport {
    /// Add another step's counts (`done` is the other's).
    pub fn add(&mut self, other: PurgeReport) {
        self.events += other.events;
        self.findings += other.findings;
        self.rollups += other.rollups;
        self.done = other.done;
    }
}

/// Everything Vigilo keeps. Implementations must make each method atomic:
/// a failed call leaves no partial write behind.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Backend name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Apply pending schema migrations. Idempotent.
    async fn migrate(&self) -> Result<()>;

    /// Store events in one transaction (group commit), assign increasing ids
    /// in input order, and add them to the per-minute rollups. Returns the
    /// stored events once they are durable.
    ///
    /// An event with an [`vigilo_core::Origin`] whose offset is at or below
    /// the highest offset already stored for its stream is skipped (not
    /// returned); the streams' highest offsets move in the same transaction.
    async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<Event>>;

    async fn get_event(&self, id: i64) -> Result<Option<Event>>;

    /// The events with these ids that exist, in id order.
    async fn get_events(&self, ids: &[i64]) -> Result<Vec<Event>>;

    /// Filtered, paginated, newest event time first (ties: highest id first).
    async fn list_events(&self, q: &EventQuery) -> Result<Page<Event>>;

    /// One page of a keyset scan over the events `q` selects (its paging
    /// fields are ignored), in `list_events` order: up to `limit` (capped
    /// at [`MAX_SCAN_PAGE`]) events after `after`, from the start when it
    /// is `None`. Exports read a whole selection with it, page by page.
    async fn scan_events(
        &self,
        q: &EventQuery,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Event>>;

    /// Up to `limit` events with id > `after_id`, in id order (detection replay).
    async fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<Event>>;

    /// Id of the last event whose detection results are committed (0 = none).
    async fn detection_watermark(&self) -> Result<i64>;

    /// Whether other processes may store events here at the same time (a
    /// server database shared by several Vigilo processes). Ids still
    /// follow commit order: once an event is visible, so is every event
    /// with a smaller id. Detection then reads what the other processes
    /// stored, not only what its own writer hands over.
    fn shared(&self) -> bool {
        false
    }

    /// Try to become, or stay, the one process that runs detection on this
    /// storage: `true` while this process holds the lead. A backend only
    /// one process opens (SQLite) always grants it. Once granted, a
    /// [`commit_detection`](Storage::commit_detection) made after the lead
    /// was lost (the process's hold on the database broke and another
    /// process took over) fails with [`StorageError::NotLeader`] and writes
    /// nothing, so two processes never commit detection results for the
    /// same events.
    async fn try_lead_detection(&self) -> Result<bool> {
        Ok(true)
    }

    /// Upsert findings and their evidence, update finding rollups and rule
    /// match counts, and move the watermark, all in one transaction. Returns
    /// the findings as stored (with ids), in input order, with their
    /// evidence left empty: a commit touches thousands of busy incidents,
    /// and what listens to it (the live feed, the IAM audit's finding ids)
    /// has no use for up to a hundred ids each; `get_finding` reads them.
    async fn commit_detection(
        &self,
        writes: &[FindingWrite],
        watermark: i64,
    ) -> Result<Vec<Finding>>;

    /// Incidents (key, finding) whose last_seen is at or after `since`, to
    /// rebuild deduplication state after a restart.
    async fn recent_incidents(&self, since: DateTime<Utc>) -> Result<Vec<(String, Finding)>>;

    async fn get_finding(&self, id: i64) -> Result<Option<Finding>>;

    /// Filtered, paginated, newest last_seen first (ties: highest id first).
    async fn list_findings(&self, q: &FindingQuery) -> Result<Page<Finding>>;

    /// Apply a patch and write its history, in one transaction; `None`
    /// when the finding does not exist.
    async fn update_finding(
        &self,
        id: i64,
        patch: FindingPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Finding>>;

    /// A finding's history, oldest first, starting with its `created`
    /// entry; `None` when the finding does not exist.
    async fn finding_history(&self, id: i64) -> Result<Option<Vec<FindingHistory>>>;

    /// Append a note: a `note` history entry whose `to` is `text`, which
    /// also becomes the finding's `note`. `None` when the finding does not
    /// exist.
    async fn add_finding_note(
        &self,
        id: i64,
        text: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FindingHistory>>;

    /// Apply one patch to many findings in one transaction, with history
    /// for each. More than [`MAX_BULK`] selected findings is
    /// [`StorageError::TooManyFindings`] and changes nothing.
    async fn bulk_update_findings(
        &self,
        target: BulkTarget,
        patch: FindingPatch,
        now: DateTime<Utc>,
    ) -> Result<BulkResult>;

    /// The findings `q` selects, grouped: largest count first (ties by
    /// key, no key last), paged by `q.page` / `q.page_size`; the total is
    /// the number of groups.
    async fn finding_groups(&self, by: GroupBy, q: &FindingQuery) -> Result<Page<FindingGroup>>;

    /// A keyset scan of the findings `q` selects, in id order (stable
    /// while detection updates them), paging and sort ignored: up to
    /// `limit` (capped at [`MAX_SCAN_PAGE`]) findings with an id above
    /// `after_id`, from the start when it is `None`, evidence included.
    /// Exports read a whole selection with it, page by page.
    async fn scan_findings(
        &self,
        q: &FindingQuery,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Finding>>;

    /// A numeric field's series from the per-minute metric rollups: one
    /// point per non-empty (bucket, group), ordered by bucket then group
    /// (`None` first). Minutes count for a range as in [`Storage::event_series`].
    async fn metric_series(&self, q: &MetricSeriesQuery) -> Result<Vec<MetricPoint>>;

    /// [`Storage::metric_series`] of only the `limit` groups with the most
    /// values in the range (ties: the smaller key, `None` first), and the
    /// number of groups with values in the range. The default reads every
    /// group and drops the rest; a backend may rank before reading.
    async fn metric_series_top(
        &self,
        q: &MetricSeriesQuery,
        limit: u32,
    ) -> Result<(Vec<MetricPoint>, u64)> {
        let points = self.metric_series(q).await?;
        let keep = top_groups(points.iter().map(|p| (p.key.clone(), p.count)), limit);
        let total = keep.1;
        let points = points
            .into_iter()
            .filter(|p| keep.0.contains(&p.key))
            .collect();
        Ok((points, total))
    }

    /// Every group the metric rollups have seen (at most `limit` per kind,
    /// the first in sort order).
    async fn metric_groups(&self, limit: u32) -> Result<MetricGroups>;

    /// Event counts per bucket and kind, from the rollups only.
    async fn event_series(&self, q: &SeriesQuery) -> Result<Vec<SeriesPoint>>;

    /// New findings per bucket and severity (at first_seen), from the rollups.
    async fn finding_series(&self, q: &SeriesQuery) -> Result<Vec<SeriesPoint>>;

    /// Event counts by kind and service in [from, to), from the rollups.
    async fn event_breakdown(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<EventBreakdown>>;

    /// Finding counts by severity, rule and service in [from, to), from the rollups.
    async fn finding_breakdown(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingBreakdown>>;

    /// Totals: `events` is the sum of the event rollups (every event
    /// received in the rollups' retention period, including events whose
    /// rows have expired since, as the events-over-time series counts
    /// them); the finding counts are of the findings stored.
    async fn totals(&self) -> Result<Totals>;

    /// Matches per rule_id since the database was created: the sum of the
    /// committed [`FindingWrite::matches`] of its findings.
    async fn rule_match_counts(&self) -> Result<BTreeMap<String, u64>>;

    async fn insert_iam_audit(&self, audit: NewIamAudit) -> Result<IamAudit>;

    /// Newest first; `report` may be omitted (Null) in listings.
    async fn list_iam_audits(&self, page: u32, page_size: u32) -> Result<Page<IamAudit>>;

    async fn get_iam_audit(&self, id: i64) -> Result<Option<IamAudit>>;

    /// One page of a keyset scan over every stored audit, in
    /// `list_iam_audits` order (newest `created_at` first, ties by highest
    /// id), `report` omitted (Null): up to `limit` (capped at
    /// [`MAX_SCAN_PAGE`]) audits after `after`.
    async fn scan_iam_audits(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<IamAudit>>;

    /// Every stored rule state, by rule_id.
    async fn rule_states(&self) -> Result<Vec<RuleState>>;

    /// Switch a rule on or off; the latest call for a rule_id wins.
    async fn set_rule_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> Result<RuleState>;

    /// Store a pipeline's status report and keep at most `keep` reports of
    /// that pipeline (the oldest go).
    async fn insert_pipeline_update(&self, update: &PipelineUpdate, keep: u32) -> Result<()>;

    /// Every pipeline that ever reported, with its `recent` newest reports.
    async fn pipeline_records(&self, recent: u32) -> Result<Vec<PipelineRecord>>;

    /// Up to `limit` newest reports of one pipeline, newest first.
    async fn pipeline_history(&self, name: &str, limit: u32) -> Result<Vec<PipelineUpdate>>;

    /// Open findings per severity (every severity present, zeros included).
    async fn open_findings_by_severity(&self) -> Result<BTreeMap<String, u64>>;

    // Accounts: users, API keys, sessions, the audit trail, preferences.

    /// Insert a user; [`StorageError::Conflict`] on a username (compared
    /// case-insensitively) or single sign-on subject already taken.
    async fn create_user(&self, user: NewUser) -> Result<UserRecord>;
    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>>;
    /// By username, case-insensitively.
    async fn get_user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    /// By `<provider>:<subject>`.
    async fn get_user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>>;
    /// Every user, by id.
    async fn list_users(&self) -> Result<Vec<UserRecord>>;
    /// Apply `patch`; `None` when there is no such user.
    async fn update_user(&self, id: i64, patch: UserPatch) -> Result<Option<UserRecord>>;
    async fn record_login(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    /// Users with the `admin` role that are not disabled.
    async fn count_admins(&self) -> Result<u64>;

    /// Insert a key; [`StorageError::Conflict`] when its prefix is taken.
    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyRecord>;
    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>>;
    /// Every key, newest first.
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Revoke a key (a revoked key stays revoked at its first time);
    /// `None` when there is no such key.
    async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<Option<ApiKeyRecord>>;
    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    async fn create_session(&self, session: &SessionRecord) -> Result<()>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>>;
    /// Replace the refresh hash if it is still `old_hash` and the session
    /// is live; false otherwise (a refresh token used twice).
    async fn rotate_session(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// True when the session was live and is now revoked.
    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Revoke every live session of a user; how many.
    async fn revoke_user_sessions(&self, user_id: i64, at: DateTime<Utc>) -> Result<u64>;

    async fn insert_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry>;
    /// Newest first.
    async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditEntry>>;

    async fn get_preferences(&self, user_id: i64) -> Result<Option<serde_json::Value>>;
    async fn set_preferences(&self, user_id: i64, prefs: &serde_json::Value) -> Result<()>;

    // Connectors (see [`connectors`]).

    /// The highest stored offset of each stream whose name starts with
    /// `prefix`, so a source can resume after the last event it stored.
    async fn stream_positions(&self, prefix: &str) -> Result<BTreeMap<String, i64>>;

    async fn insert_dead_letter(&self, letter: NewDeadLetter) -> Result<DeadLetter>;
    /// Newest first, optionally of one source.
    async fn list_dead_letters(
        &self,
        source: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<Page<DeadLetter>>;
    /// Dead letters per source.
    async fn dead_letter_counts(&self) -> Result<BTreeMap<String, u64>>;

    /// Up to `limit` outbox entries with `seq > after`, oldest first.
    async fn finding_changes_after(&self, after: i64, limit: u32) -> Result<Vec<FindingChange>>;
    /// The `seq` of the newest outbox entry (0 when there is none): where a
    /// reader that wants only what comes next starts. This default pages
    /// through the outbox; a backend overrides it with one lookup.
    async fn finding_changes_end(&self) -> Result<i64> {
        let mut end = 0;
        loop {
            let page = self.finding_changes_after(end, 1_000).await?;
            match page.last() {
                Some(c) => end = c.seq,
                None => return Ok(end),
            }
            if page.len() < 1_000 {
                return Ok(end);
            }
        }
    }
    /// The outbox position a reader (a sink, the alerter) has reached; 0
    /// when it never read.
    async fn consumer_position(&self, consumer: &str) -> Result<i64>;
    async fn set_consumer_position(&self, consumer: &str, position: i64) -> Result<()>;

    // Enrichment (see [`enrichment`]).

    /// Store an enrichment and apply its score, explanation, actions,
    /// `enriched_by` and time to the finding, in one step. `None` when the
    /// finding does not exist.
    async fn insert_enrichment(&self, e: NewEnrichment) -> Result<Option<Enrichment>>;
    /// A finding's enrichments, newest first.
    async fn finding_enrichments(&self, finding_id: i64) -> Result<Vec<Enrichment>>;
    /// The newest answer `model` gave (not a fallback, not itself from the
    /// cache) for this content.
    async fn cached_enrichment(
        &self,
        content_hash: &str,
        model: &str,
    ) -> Result<Option<Enrichment>>;

    // Alerts (see [`alerts`]).

    /// Every stored notification group.
    async fn alert_groups(&self) -> Result<Vec<AlertGroup>>;
    /// Apply one alerter step in one transaction; the notifications as
    /// stored (with ids), in input order.
    async fn commit_alerts(&self, commit: AlertCommit) -> Result<Vec<Notification>>;
    /// Record a delivery try; `None` when there is no such notification.
    async fn record_notification_attempt(
        &self,
        id: i64,
        attempt: NotificationAttempt,
    ) -> Result<Option<Notification>>;
    async fn get_notification(&self, id: i64) -> Result<Option<Notification>>;
    /// Filtered, paginated, newest first.
    async fn list_notifications(&self, q: &NotificationQuery) -> Result<Page<Notification>>;
    /// Up to `limit` pending notifications, oldest first (resumed at start).
    async fn pending_notifications(&self, limit: u32) -> Result<Vec<Notification>>;
    async fn create_silence(&self, silence: NewSilence) -> Result<Silence>;
    async fn get_silence(&self, id: i64) -> Result<Option<Silence>>;
    /// Every silence, newest first.
    async fn list_silences(&self) -> Result<Vec<Silence>>;
    /// End a silence at `at` (if it ends later); `None` when there is no
    /// such silence.
    async fn expire_silence(&self, id: i64, at: DateTime<Utc>) -> Result<Option<Silence>>;

    // Retention.

    /// One bounded step of retention: deletes at most `r.batch` rows of
    /// each kind that expired at `r`'s cutoffs (see [`Retention`]), in
    /// short transactions that never hold up ingest for long, and does the
    /// backend's upkeep (PostgreSQL creates the coming days' partitions;
    /// SQLite returns freed pages to the file system). Call it again until
    /// the report says `done`. Listing totals stay exact: the events
    /// before the cutoff applied so far are counted from their rows.
    async fn purge_expired(&self, r: &Retention) -> Result<PurgeReport>;
}
