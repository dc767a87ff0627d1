//! PostgreSQL backend for [`vigilo_storage::Storage`].
//!
//! One sqlx connection pool; every write is one transaction. Event batches
//! are one multi-row `UNNEST` insert whose per-minute and per-hour rollups
//! are upserted by the same statement; the detection commit upserts
//! findings on their incident key, their evidence, rule match counts, the
//! outbox and the watermark in one transaction. Writers that need a total
//! order (event batches, detection commits) take a transaction-scoped
//! advisory lock, so ids and the watermark follow commit order.
//!
//! Times are `TIMESTAMPTZ` (microseconds, UTC sessions), documents `JSONB`
//! (event payloads are `json`, which keeps the text exactly as sent).
//! With [`PostgresOptions::schema`] every object lives in that schema,
//! created when missing, and every pooled connection sets its
//! `search_path` to it.

mod accounts;
mod alerts;
mod bulk;
mod codec;
mod connectors;
mod enrichment;
mod events;
mod findings;
mod iam;
mod leader;
mod metrics;
mod pipelines;
mod retention;
mod rollups;
mod rule_states;
mod transfer;
mod triage;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};
use vigilo_core::finding::FindingHistory;
use vigilo_core::{Event, Finding, NewEvent};
use vigilo_storage::{
    AlertCommit, AlertGroup, ApiKeyRecord, AuditEntry, AuditQuery, BulkResult, BulkTarget, Cursor,
    DeadLetter, Enrichment, EventBreakdown, EventQuery, FindingBreakdown, FindingChange,
    FindingGroup, FindingPatch, FindingQuery, FindingWrite, GroupBy, IamAudit, MetricGroups,
    MetricPoint, MetricSeriesQuery, NewApiKey, NewAuditEntry, NewDeadLetter, NewEnrichment,
    NewIamAudit, NewSilence, NewUser, Notification, NotificationAttempt, NotificationQuery, Page,
    PipelineRecord, PipelineUpdate, Result, RuleState, SeriesPoint, SeriesQuery, SessionRecord,
    Silence, Storage, StorageError, Totals, UserPatch, UserRecord,
};

pub(crate) use codec::db_err;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Options for [`PostgresStorage::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// Longest a statement may run before the server cancels it (`None`:
    /// the server's setting).
    pub statement_timeout: Option<Duration>,
    /// The schema every object lives in, created when missing; `None`: the
    /// server's default `search_path`.
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 10,
            statement_timeout: Some(Duration::from_secs(60)),
            schema: None,
        }
    }
}

/// The PostgreSQL implementation of [`Storage`].
#[derive(Clone)]
pub struct PostgresStorage {
    pool: PgPool,
    /// The connection URL with its password masked, for `Debug` and logs.
    url: String,
    schema: Option<String>,
    /// The numeric payload fields rolled up per minute.
    metric_fields: std::sync::Arc<Vec<String>>,
    /// This process's hold on the detection lead (shared by clones).
    lead: std::sync::Arc<leader::Lead>,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("url", &self.url)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

/// `url` with the password of its user info, and any `password` query
/// parameter, replaced by `***`.
pub fn mask_password(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => (&url[..i + 3], &url[i + 3..]),
        None => ("", url),
    };
    // The user info ends at the last `@` before the query, so a password
    // holding `/` or `@` (even unescaped) is masked whole.
    let query_at = rest.find('?').unwrap_or(rest.len());
    let (authority, tail) = match rest[..query_at].rfind('@') {
        Some(at) => {
            let (info, host) = rest.split_at(at);
            let info = match info.find(':') {
                Some(colon) => format!("{}:***", &info[..colon]),
                None => info.to_string(),
            };
            let host_end = host.find(['/', '?']).unwrap_or(host.len());
            (format!("{info}{}", &host[..host_end]), &host[host_end..])
        }
        None => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            (rest[..end].to_string(), &rest[end..])
        }
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// Why [`PostgresStorage::connect`] failed. Reported as
/// [`StorageError::Database`]; a URL in it has its password masked.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("invalid database URL {url}: {source}")]
    InvalidUrl { url: String, source: sqlx::Error },
    #[error("cannot connect to {url}: {source}")]
    Unreachable { url: String, source: sqlx::Error },
    #[error("cannot create schema {schema}: {source}")]
    Schema { schema: String, source: sqlx::Error },
}

impl From<ConnectError> for StorageError {
    fn from(e: ConnectError) -> Self {
        StorageError::Database(e.to_string())
    }
}

/// `name` as an SQL identifier, quoted.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PostgresStorage {
    /// Connect to `url`, create the schema when one is named and missing,
    /// and apply pending migrations.
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self> {
        let masked = mask_password(url);
        let mut base =
            PgConnectOptions::from_str(url).map_err(|source| ConnectError::InvalidUrl {
                url: masked.clone(),
                source,
            })?;
        base = base.options([("TimeZone", "UTC")]);
        if let Some(t) = options.statement_timeout {
            base = base.options([("statement_timeout", t.as_millis().to_string())]);
        }
        base = base.log_statements(tracing::log::LevelFilter::Trace);
        // One connection first: a server that is down or refuses us fails
        // here at once (the pool would retry until its acquire timeout).
        let mut conn = base
            .connect()
            .await
            .map_err(|source| ConnectError::Unreachable {
                url: masked.clone(),
                source,
            })?;
        if let Some(schema) = &options.schema {
            create_schema(&mut conn, schema).await?;
        }
        conn.close().await.map_err(db_err("close"))?;
        let search_path = options
            .schema
            .as_deref()
            .map(|s| format!("SET search_path TO {}", quote_ident(s)));
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                let sql = search_path.clone();
                Box::pin(async move {
                    if let Some(sql) = sql {
                        conn.execute(sql.as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(base)
            .await
            .map_err(|source| ConnectError::Unreachable {
                url: masked.clone(),
                source,
            })?;
        let store = PostgresStorage {
            pool,
            url: masked,
            schema: options.schema.clone(),
            metric_fields: std::sync::Arc::new(metrics::field_list(
                &vigilo_storage::DEFAULT_METRIC_FIELDS.map(String::from),
            )),
            lead: Default::default(),
        };
        store.run_migrations().await?;
        tracing::debug!(url = %store.url, schema = ?store.schema, "postgres storage connected");
        Ok(store)
    }

    async fn run_migrations(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StorageError::Migration(e.to_string()))?;
        // The partitions of the coming days, before the first insert.
        retention::ensure_partitions(self, chrono::Utc::now(), 0).await
    }

    /// Roll up these top-level numeric payload fields (`metrics.fields`)
    /// instead of [`vigilo_storage::DEFAULT_METRIC_FIELDS`], from the next
    /// insert on.
    pub fn with_metric_fields(mut self, fields: &[String]) -> Self {
        self.metric_fields = std::sync::Arc::new(metrics::field_list(fields));
        self
    }

    /// The pool, for maintenance outside the storage API.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Run SQL statements outside the storage API. For maintenance and for
    /// the behaviour suite's fault injection.
    #[doc(hidden)]
    pub async fn execute_script(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sql)
            .execute(&self.pool)
            .await
            .map_err(db_err("execute script"))?;
        Ok(())
    }

    /// Close every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await.map_err(db_err("begin transaction"))
    }
}

/// Create `schema` unless it exists.
async fn create_schema(conn: &mut sqlx::PgConnection, schema: &str) -> Result<()> {
    let created = conn
        .execute(format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)).as_str())
        .await;
    if let Err(e) = created {
        // Another process may have created it in between.
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err("look up the schema"))?;
        if !exists {
            return Err(ConnectError::Schema {
                schema: schema.to_string(),
                source: e,
            }
            .into());
        }
    }
    Ok(())
}

/// Serialize the writers of one kind (`key`) within this schema until the
/// transaction ends.
pub(crate) async fn writer_lock(conn: &mut sqlx::PgConnection, key: i32) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema()), $1)")
        .bind(key)
        .execute(conn)
        .await
        .map_err(db_err("take the writer lock"))?;
    Ok(())
}

pub(crate) const LOCK_EVENTS: i32 = 1;
pub(crate) const LOCK_DETECTION: i32 = 2;

#[async_trait]
impl Storage for PostgresStorage {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await
    }

    async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        events::insert_events(self, events).await
    }

    async fn get_event(&self, id: i64) -> Result<Option<Event>> {
        events::get_event(&self.pool, id).await
    }

    async fn get_events(&self, ids: &[i64]) -> Result<Vec<Event>> {
        events::get_events(&self.pool, ids).await
    }

    async fn list_events(&self, q: &EventQuery) -> Result<Page<Event>> {
        events::list_events(&self.pool, q).await
    }

    async fn scan_events(
        &self,
        q: &EventQuery,
        after: Option<Cursor>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        events::scan_events(&self.pool, q, after, limit).await
    }

    async fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        events::events_after(&self.pool, after_id, limit).await
    }

    async fn detection_watermark(&self) -> Result<i64> {
        findings::watermark(&self.pool).await
    }

    fn shared(&self) -> bool {
        true
    }

    async fn try_lead_detection(&self) -> Result<bool> {
        self.try_lead().await
    }

    async fn commit_detection(
        &self,
        writes: &[FindingWrite],
        watermark: i64,
    ) -> Result<Vec<Finding>> {
        findings::commit_detection(self, writes, watermark).await
    }

    async fn recent_incidents(&self, since: DateTime<Utc>) -> Result<Vec<(String, Finding)>> {
        findings::recent_incidents(&self.pool, since).await
    }

    async fn get_finding(&self, id: i64) -> Result<Option<Finding>> {
        findings::get_finding(&self.pool, id).await
    }

    async fn list_findings(&self, q: &FindingQuery) -> Result<Page<Finding>> {
        findings::list_findings(&self.pool, q).await
    }

    async fn update_finding(
        &self,
        id: i64,
        patch: FindingPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Finding>> {
        triage::update_finding(self, id, patch, now).await
    }

    async fn finding_history(&self, id: i64) -> Result<Option<Vec<FindingHistory>>> {
        triage::history(&self.pool, id).await
    }

    async fn add_finding_note(
        &self,
        id: i64,
        text: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<FindingHistory>> {
        triage::add_note(self, id, text, actor, now).await
    }

    async fn bulk_update_findings(
        &self,
        target: BulkTarget,
        patch: FindingPatch,
        now: DateTime<Utc>,
    ) -> Result<BulkResult> {
        bulk::bulk_update(self, target, patch, now).await
    }

    async fn finding_groups(&self, by: GroupBy, q: &FindingQuery) -> Result<Page<FindingGroup>> {
        triage::groups(&self.pool, by, q).await
    }

    async fn scan_findings(
        &self,
        q: &FindingQuery,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Finding>> {
        triage::scan(&self.pool, q, after_id, limit).await
    }

    async fn metric_series(&self, q: &MetricSeriesQuery) -> Result<Vec<MetricPoint>> {
        metrics::series(self, q).await
    }

    async fn metric_series_top(
        &self,
        q: &MetricSeriesQuery,
        limit: u32,
    ) -> Result<(Vec<MetricPoint>, u64)> {
        metrics::series_top(self, q, limit).await
    }

    async fn metric_groups(&self, limit: u32) -> Result<MetricGroups> {
        metrics::groups(self, limit).await
    }

    async fn event_series(&self, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
        rollups::event_series(&self.pool, q).await
    }

    async fn finding_series(&self, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
        rollups::finding_series(&self.pool, q).await
    }

    async fn event_breakdown(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<EventBreakdown>> {
        rollups::event_breakdown(&self.pool, from, to).await
    }

    async fn finding_breakdown(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingBreakdown>> {
        rollups::finding_breakdown(&self.pool, from, to).await
    }

    async fn totals(&self) -> Result<Totals> {
        rollups::totals(&self.pool).await
    }

    async fn rule_match_counts(&self) -> Result<BTreeMap<String, u64>> {
        rollups::rule_match_counts(&self.pool).await
    }

    async fn insert_iam_audit(&self, audit: NewIamAudit) -> Result<IamAudit> {
        iam::insert(&self.pool, audit).await
    }

    async fn list_iam_audits(&self, page: u32, page_size: u32) -> Result<Page<IamAudit>> {
        iam::list(&self.pool, page, page_size).await
    }

    async fn get_iam_audit(&self, id: i64) -> Result<Option<IamAudit>> {
        iam::get(&self.pool, id).await
    }

    async fn scan_iam_audits(&self, after: Option<Cursor>, limit: u32) -> Result<Vec<IamAudit>> {
        iam::scan(&self.pool, after, limit).await
    }

    async fn rule_states(&self) -> Result<Vec<RuleState>> {
        rule_states::list(&self.pool).await
    }

    async fn set_rule_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> Result<RuleState> {
        rule_states::set(&self.pool, rule_id, enabled, at).await
    }

    async fn insert_pipeline_update(&self, update: &PipelineUpdate, keep: u32) -> Result<()> {
        pipelines::insert(self, update, keep).await
    }

    async fn pipeline_records(&self, recent: u32) -> Result<Vec<PipelineRecord>> {
        pipelines::records(&self.pool, recent).await
    }

    async fn pipeline_history(&self, name: &str, limit: u32) -> Result<Vec<PipelineUpdate>> {
        pipelines::history(&self.pool, name, limit).await
    }

    async fn open_findings_by_severity(&self) -> Result<BTreeMap<String, u64>> {
        pipelines::open_by_severity(&self.pool).await
    }

    async fn create_user(&self, user: NewUser) -> Result<UserRecord> {
        accounts::create_user(&self.pool, user).await
    }

    async fn get_user(&self, id: i64) -> Result<Option<UserRecord>> {
        accounts::get_user(&self.pool, id).await
    }

    async fn get_user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        accounts::get_user_by_name(&self.pool, username).await
    }

    async fn get_user_by_subject(&self, subject: &str) -> Result<Option<UserRecord>> {
        accounts::get_user_by_subject(&self.pool, subject).await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        accounts::list_users(&self.pool).await
    }

    async fn update_user(&self, id: i64, patch: UserPatch) -> Result<Option<UserRecord>> {
        accounts::update_user(&self.pool, id, patch).await
    }

    async fn record_login(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        accounts::record_login(&self.pool, id, at).await
    }

    async fn count_admins(&self) -> Result<u64> {
        accounts::count_admins(&self.pool).await
    }

    async fn create_api_key(&self, key: NewApiKey) -> Result<ApiKeyRecord> {
        accounts::create_api_key(&self.pool, key).await
    }

    async fn api_key_by_prefix(&self, prefix: &str) -> Result<Option<ApiKeyRecord>> {
        accounts::api_key_by_prefix(&self.pool, prefix).await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>> {
        accounts::list_api_keys(&self.pool).await
    }

    async fn revoke_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<Option<ApiKeyRecord>> {
        accounts::revoke_api_key(&self.pool, id, at).await
    }

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        accounts::touch_api_key(&self.pool, id, at).await
    }

    async fn create_session(&self, session: &SessionRecord) -> Result<()> {
        accounts::create_session(&self.pool, session).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>> {
        accounts::get_session(&self.pool, id).await
    }

    async fn rotate_session(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        accounts::rotate_session(&self.pool, id, old_hash, new_hash, at).await
    }

    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        accounts::revoke_session(&self.pool, id, at).await
    }

    async fn revoke_user_sessions(&self, user_id: i64, at: DateTime<Utc>) -> Result<u64> {
        accounts::revoke_user_sessions(&self.pool, user_id, at).await
    }

    async fn insert_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry> {
        accounts::insert_audit(&self.pool, entry).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Page<AuditEntry>> {
        accounts::list_audit(&self.pool, q).await
    }

    async fn get_preferences(&self, user_id: i64) -> Result<Option<serde_json::Value>> {
        accounts::get_preferences(&self.pool, user_id).await
    }

    async fn set_preferences(&self, user_id: i64, prefs: &serde_json::Value) -> Result<()> {
        accounts::set_preferences(&self.pool, user_id, prefs).await
    }

    async fn stream_positions(&self, prefix: &str) -> Result<BTreeMap<String, i64>> {
        connectors::stream_positions(&self.pool, prefix).await
    }

    async fn insert_dead_letter(&self, letter: NewDeadLetter) -> Result<DeadLetter> {
        connectors::insert_dead_letter(&self.pool, letter).await
    }

    async fn list_dead_letters(
        &self,
        source: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<Page<DeadLetter>> {
        connectors::list_dead_letters(&self.pool, source, page, page_size).await
    }

    async fn dead_letter_counts(&self) -> Result<BTreeMap<String, u64>> {
        connectors::dead_letter_counts(&self.pool).await
    }

    async fn finding_changes_after(&self, after: i64, limit: u32) -> Result<Vec<FindingChange>> {
        connectors::changes_after(&self.pool, after, limit).await
    }

    async fn finding_changes_end(&self) -> Result<i64> {
        connectors::changes_end(&self.pool).await
    }

    async fn consumer_position(&self, consumer: &str) -> Result<i64> {
        connectors::consumer_position(&self.pool, consumer).await
    }

    async fn set_consumer_position(&self, consumer: &str, position: i64) -> Result<()> {
        connectors::set_consumer_position(&self.pool, consumer, position).await
    }

    async fn insert_enrichment(&self, e: NewEnrichment) -> Result<Option<Enrichment>> {
        enrichment::insert(self, e).await
    }

    async fn finding_enrichments(&self, finding_id: i64) -> Result<Vec<Enrichment>> {
        enrichment::for_finding(&self.pool, finding_id).await
    }

    async fn cached_enrichment(
        &self,
        content_hash: &str,
        model: &str,
    ) -> Result<Option<Enrichment>> {
        enrichment::cached(&self.pool, content_hash, model).await
    }

    async fn alert_groups(&self) -> Result<Vec<AlertGroup>> {
        alerts::groups(&self.pool).await
    }

    async fn commit_alerts(&self, commit: AlertCommit) -> Result<Vec<Notification>> {
        alerts::commit(self, commit).await
    }

    async fn record_notification_attempt(
        &self,
        id: i64,
        attempt: NotificationAttempt,
    ) -> Result<Option<Notification>> {
        alerts::record_attempt(self, id, attempt).await
    }

    async fn get_notification(&self, id: i64) -> Result<Option<Notification>> {
        alerts::get(&self.pool, id).await
    }

    async fn list_notifications(&self, q: &NotificationQuery) -> Result<Page<Notification>> {
        alerts::list(&self.pool, q).await
    }

    async fn pending_notifications(&self, limit: u32) -> Result<Vec<Notification>> {
        alerts::pending(&self.pool, limit).await
    }

    async fn create_silence(&self, silence: NewSilence) -> Result<Silence> {
        alerts::create_silence(&self.pool, silence).await
    }

    async fn get_silence(&self, id: i64) -> Result<Option<Silence>> {
        alerts::get_silence(&self.pool, id).await
    }

    async fn list_silences(&self) -> Result<Vec<Silence>> {
        alerts::list_silences(&self.pool).await
    }

    async fn expire_silence(&self, id: i64, at: DateTime<Utc>) -> Result<Option<Silence>> {
        alerts::expire_silence(&self.pool, id, at).await
    }

    async fn purge_expired(
        &self,
        r: &vigilo_storage::Retention,
    ) -> Result<vigilo_storage::PurgeReport> {
        retention::purge(self, r).await
    }
}

#[cfg(test)]
mod tests {
    use super::mask_password;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("postgres://vigilo:s3cr3t@db:5432/vigilo"),
            "postgres://vigilo:***@db:5432/vigilo"
        );
        assert_eq!(
            mask_password("postgres://a:b:c@h/d?sslmode=require&password=x"),
            "postgres://a:***@h/d?sslmode=require&password=***"
        );
        assert_eq!(
            mask_password("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(mask_password("postgres://h/d"), "postgres://h/d");
        assert_eq!(
            mask_password("postgres://u:p/a@ss@h:1/d"),
            "postgres://u:***@h:1/d"
        );
        assert_eq!(
            mask_password("postgresql://u:p%40ss@h"),
            "postgresql://u:***@h"
        );
    }
}
