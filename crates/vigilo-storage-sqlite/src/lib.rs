//! SQLite backend for [`vigilo_storage::Storage`].
//!
//! One database file in WAL mode, opened through sqlx with a single write
//! connection (every write is one `BEGIN IMMEDIATE` transaction on it, so
//! writers are serialized and a batch costs one commit) and a pool of read
//! connections that never wait for the writer. Every write transaction
//! (event group commits, detection commits, finding patches, IAM audits)
//! runs whole on the write connection's handle through rusqlite
//! (`SqliteStorage::write_tx`): one hand-over of the connection per
//! transaction rather than one per statement. Reads, migrations and
//! maintenance scripts go through sqlx.
//!
//! Timestamps are stored as integer microseconds since the epoch (UTC).
//! Per-minute rollups of events and findings are maintained in the same
//! transaction as the writes, so dashboard queries never scan raw events.

mod accounts;
mod alerts;
mod bulk;
mod codec;
mod connectors;
mod enrichment;
mod events;
mod findings;
mod iam;
mod metrics;
mod pipelines;
mod retention;
mod rollups;
mod rule_states;
mod transfer;
mod triage;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use vigilo_core::finding::FindingHistory;
use vigilo_core::{Event, Finding, NewEvent};
use vigilo_storage::{
    BulkResult, BulkTarget, DeadLetter, FindingChange, FindingGroup, GroupBy, NewDeadLetter,
};
use vigilo_storage::{
    EventBreakdown, EventQuery, FindingBreakdown, FindingPatch, FindingQuery, FindingWrite,
    IamAudit, NewIamAudit, Page, PipelineRecord, PipelineUpdate, Result, RuleState, SeriesPoint,
    SeriesQuery, Storage, StorageError, Totals,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `synchronous=NORMAL` (the default). In WAL mode a commit appends to
    /// the WAL without an fsync; the WAL is synced at checkpoints. A commit
    /// that returned survives a crash or `kill -9` of the process (the data
    /// is in the operating system's page cache), but the last transactions
    /// may be lost if the machine itself loses power.
    #[default]
    Normal,
    /// `synchronous=FULL`: one fsync of the WAL per commit. A commit that
    /// returned also survives a power loss, at the cost of one fsync per
    /// batch (group commit keeps that to one per `insert_events` call).
    Full,
}

/// Options for [`SqliteStorage::open`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Durability of a commit; see [`Synchronous`].
    pub synchronous: Synchronous,
    /// Read connections in the pool (the writer has its own connection).
    pub read_connections: u32,
    /// Page cache per connection, in KiB. 16 MiB by default: on the load
    /// bench with every user in a burst, 64 MiB raised the server's peak
    /// memory by 40-50 MiB over 32, and 32 by about 40 MiB over 16 (420 s
    /// runs), for no throughput the runs could tell apart.
    pub cache_size_kib: u32,
    /// How long a statement waits for a lock held by another process.
    pub busy_timeout: Duration,
    /// How often a background task checkpoints the WAL into the database
    /// file (a PASSIVE checkpoint on its own connection, so commits never
    /// pay for it). `None` leaves checkpoints to the writer's commits.
    pub checkpoint_interval: Option<Duration>,
    /// WAL size in pages at which a commit checkpoints by itself: the
    /// fallback when background checkpoints cannot keep up.
    pub wal_autocheckpoint_pages: u32,
    /// Bytes of the file mapped into memory for reads (0 disables).
    pub mmap_size: u64,
    /// The by-service index of events is written in batches: once this
    /// many events were stored since the last batch ...
    pub service_index_events: usize,
    /// ... or the first of them is this old (checked at each insert).
    pub service_index_age: Duration,
    /// Top-level numeric payload fields rolled up per minute, by service,
    /// `metric_name` and `source_id`, with the events (`metrics.fields`).
    pub metric_fields: Vec<String>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            read_connections: 4,
            cache_size_kib: 16 * 1024,
            busy_timeout: Duration::from_secs(5),
            checkpoint_interval: Some(Duration::from_millis(500)),
            wal_autocheckpoint_pages: 64_000,
            mmap_size: 256 * 1024 * 1024,
            service_index_events: 100_000,
            service_index_age: Duration::from_secs(2),
            metric_fields: vigilo_storage::DEFAULT_METRIC_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect(),
        }
    }
}

/// The SQLite implementation of [`Storage`].
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    write: SqlitePool,
    read: SqlitePool,
    checkpointer: Option<Arc<Checkpointer>>,
    service_index: Arc<events::ServiceIndex>,
    metric_fields: Arc<metrics::MetricFields>,
}

/// The background checkpoint task; stopped when the last clone of the
/// storage is dropped or closed.
#[derive(Debug)]
struct Checkpointer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn spawn_checkpointer(pool: SqlitePool, every: Duration) -> Checkpointer {
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&pool)
                .await
            {
                Ok((busy, log, done)) => {
                    tracing::trace!(busy, wal_pages = log, checkpointed = done, "wal checkpoint");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "wal checkpoint failed");
                }
            }
        }
    });
    Checkpointer { task }
}

/// Map a database error (sqlx's on the read path, rusqlite's on the write
/// path) to a [`StorageError`] that says what was being done.
pub(crate) fn db_err<E: std::fmt::Display>(
    context: &'static str,
) -> impl FnOnce(E) -> StorageError {
    move |e| StorageError::Database(format!("{context}: {e}"))
}

impl SqliteStorage {
    /// Open (creating it and its parent directories when missing) the
    /// database file at `path`. Does not migrate: call [`Storage::migrate`].
    pub async fn open(path: &Path, opts: SqliteOptions) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StorageError::Database(format!(
                    "cannot create directory {} for the database: {e}",
                    dir.display()
                ))
            })?;
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(false)
            .statement_cache_capacity(256)
            .pragma("cache_size", format!("-{}", opts.cache_size_kib))
            .pragma("temp_store", "memory")
            .pragma("mmap_size", opts.mmap_size.to_string());
        let write_opts = base
            .clone()
            .create_if_missing(true)
            // Takes effect in a new file (before its first table); `migrate`
            // converts an older file once.
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match opts.synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .pragma(
                "wal_autocheckpoint",
                opts.wal_autocheckpoint_pages.to_string(),
            );
        let write = single_connection_pool()
            .connect_with(write_opts)
            .await
            .map_err(|e| {
                StorageError::Database(format!("cannot open database {}: {e}", path.display()))
            })?;
        // The writer has switched the file to WAL (a persistent setting), so
        // readers only need the per-connection pragmas.
        let read = SqlitePoolOptions::new()
            .max_connections(opts.read_connections.max(1))
            .min_connections(0)
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(|e| {
                StorageError::Database(format!(
                    "cannot open read connections to {}: {e}",
                    path.display()
                ))
            })?;
        let checkpointer = match opts.checkpoint_interval {
            Some(every) => {
                // Checkpoints copy WAL frames into the file without going
                // through the page cache, so this connection keeps a small one.
                let pool = single_connection_pool()
                    .min_connections(0)
                    .connect_with(base.pragma("cache_size", "-2048").pragma("mmap_size", "0"))
                    .await
                    .map_err(|e| {
                        StorageError::Database(format!(
                            "cannot open checkpoint connection to {}: {e}",
                            path.display()
                        ))
                    })?;
                Some(Arc::new(spawn_checkpointer(pool, every)))
            }
            None => None,
        };
        tracing::debug!(path = %path.display(), synchronous = ?opts.synchronous, "sqlite database opened");
        Ok(SqliteStorage {
            write,
            read,
            checkpointer,
            service_index: Arc::new(events::ServiceIndex::new(&opts)),
            metric_fields: Arc::new(metrics::MetricFields::new(&opts.metric_fields)),
        })
    }

    /// A private in-memory database with a single connection, for tests.
    /// Reads share the writer's connection.
    pub async fn open_in_memory() -> Result<Self> {
        Self::open_in_memory_with(&SqliteOptions::default()).await
    }

    /// [`SqliteStorage::open_in_memory`] with the options that apply to it
    /// (the service index batching).
    pub async fn open_in_memory_with(opts: &SqliteOptions) -> Result<Self> {
        let connect = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db_err("in-memory database options"))?
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .foreign_keys(false)
            .statement_cache_capacity(256);
        let pool = single_connection_pool()
            .connect_with(connect)
            .await
            .map_err(db_err("cannot open in-memory database"))?;
        Ok(SqliteStorage {
            write: pool.clone(),
            read: pool,
            checkpointer: None,
            service_index: Arc::new(events::ServiceIndex::new(opts)),
            metric_fields: Arc::new(metrics::MetricFields::new(&opts.metric_fields)),
        })
    }

    /// Run SQL statements on the write connection, outside the storage
    /// API. For maintenance and for the behaviour suite's fault injection.
    #[doc(hidden)]
    pub async fn execute_script(&self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sql)
            .execute(&self.write)
            .await
            .map_err(db_err("execute script"))?;
        Ok(())
    }

    /// Close every connection, checkpointing the WAL.
    pub async fn close(&self) {
        if let Some(c) = &self.checkpointer {
            c.task.abort();
        }
        self.read.close().await;
        self.write.close().await;
    }

    /// Run `work` as one `BEGIN IMMEDIATE` transaction directly on the write
    /// connection's SQLite handle, committing when it returns `Ok` and
    /// rolling back otherwise (a panic rolls back too).
    ///
    /// Every statement runs on the calling thread: no round trip to the
    /// connection's worker thread per statement, which is what a batch of
    /// thousands of rows would otherwise pay. On a multi-threaded runtime
    /// the thread is handed over with `block_in_place`, so other tasks keep
    /// running while SQLite works.
    pub(crate) async fn write_tx<R>(
        &self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<R>,
    ) -> Result<R> {
        let mut conn = self
            .write
            .acquire()
            .await
            .map_err(db_err("acquire the write connection"))?;
        let mut handle = conn
            .lock_handle()
            .await
            .map_err(db_err("lock the write connection"))?;
        let raw = handle.as_raw_handle();
        let run = move || {
            // SAFETY: the locked handle is ours alone until `handle` drops,
            // which is after this closure has returned; the rusqlite view of
            // it does not own (or close) the connection.
            let db = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }
                .map_err(db_err("open the write connection"))?;
            let tx = RawTx::begin(&db)?;
            let out = work(&db)?;
            tx.commit()?;
            Ok(out)
        };
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        match flavor {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
            _ => run(),
        }
    }
}

impl SqliteStorage {
    /// A file created before incremental vacuum was the default keeps
    /// `auto_vacuum = NONE` until a `VACUUM` rewrites it: done once, here,
    /// at the first start that finds it (it takes about as long as copying
    /// the file, and needs as much free disk). A new file has the mode
    /// from its first connection.
    async fn use_incremental_vacuum(&self) -> Result<()> {
        let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
            .fetch_one(&self.write)
            .await
            .map_err(db_err("read auto_vacuum"))?;
        if mode == 2 {
            return Ok(());
        }
        let started = std::time::Instant::now();
        sqlx::raw_sql("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
            .execute(&self.write)
            .await
            .map_err(db_err("switch to incremental vacuum"))?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sqlite database switched to incremental vacuum"
        );
        Ok(())
    }
}

fn single_connection_pool() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(3600))
}

/// An open `BEGIN IMMEDIATE` transaction on a raw handle; rolled back when
/// dropped without [`RawTx::commit`] (an error or a panic in between).
struct RawTx<'c> {
    db: &'c rusqlite::Connection,
    open: bool,
}

impl<'c> RawTx<'c> {
    fn begin(db: &'c rusqlite::Connection) -> Result<Self> {
        db.execute_batch("BEGIN IMMEDIATE")
            .map_err(db_err("begin write transaction"))?;
        Ok(RawTx { db, open: true })
    }

    fn commit(mut self) -> Result<()> {
        self.db.execute_batch("COMMIT").map_err(db_err("commit"))?;
        self.open = false;
        Ok(())
    }
}

impl Drop for RawTx<'_> {
    fn drop(&mut self) {
        if self.open
            && !self.db.is_autocommit()
            && let Err(e) = self.db.execute_batch("ROLLBACK")
        {
            tracing::error!(error = %e, "rollback failed");
        }
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        self.use_incremental_vacuum().await?;
        MIGRATOR
            .run(&self.write)
            .await
            .map_err(|e| StorageError::Migration(e.to_string()))?;
        metrics::backfill_hours(self).await?;
        events::index_tail(self).await?;
        tracing::info!(
            migrations = MIGRATOR.iter().count(),
            "sqlite schema up to date"
        );
        Ok(())
    }

    async fn insert_events(&self, events: Vec<NewEvent>) -> Result<Vec<Event>> {
        events::insert_events(self, events).await
    }

    async fn get_event(&self, id: i64) -> Result<Option<Event>> {
        events::get_event(&self.read, id).await
    }

    async fn get_events(&self, ids: &[i64]) -> Result<Vec<Event>> {
        events::get_events(&self.read, ids).await
    }

    async fn list_events(&self, q: &EventQuery) -> Result<Page<Event>> {
        events::list_events(&self.read, q).await
    }

    async fn scan_events(
        &self,
        q: &EventQuery,
        after: Option<vigilo_storage::Cursor>,
        limit: u32,
    ) -> Result<Vec<Event>> {
        events::scan_events(&self.read, q, after, limit).await
    }

    async fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        events::events_after(&self.read, after_id, limit).await
    }

    async fn detection_watermark(&self) -> Result<i64> {
        findings::watermark(&self.read).await
    }

    async fn commit_detection(
        &self,
        writes: &[FindingWrite],
        watermark: i64,
    ) -> Result<Vec<Finding>> {
        findings::commit_detection(self, writes, watermark).await
    }

    async fn recent_incidents(&self, since: DateTime<Utc>) -> Result<Vec<(String, Finding)>> {
        findings::recent_incidents(&self.read, since).await
    }

    async fn get_finding(&self, id: i64) -> Result<Option<Finding>> {
        findings::get_finding(&self.read, id).await
    }

    async fn list_findings(&self, q: &FindingQuery) -> Result<Page<Finding>> {
        findings::list_findings(&self.read, q).await
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
        triage::history(&self.read, id).await
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
        triage::bulk_update(self, target, patch, now).await
    }

    async fn finding_groups(&self, by: GroupBy, q: &FindingQuery) -> Result<Page<FindingGroup>> {
        triage::groups(&self.read, by, q).await
    }

    async fn scan_findings(
        &self,
        q: &FindingQuery,
        after_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Finding>> {
        triage::scan(&self.read, q, after_id, limit).await
    }

    async fn event_series(&self, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
        rollups::event_series(&self.read, q).await
    }

    async fn finding_series(&self, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
        rollups::finding_series(&self.read, q).await
    }

    async fn event_breakdown(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<EventBreakdown>> {
        rollups::event_breakdown(&self.read, from, to).await
    }

    async fn finding_breakdown(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<FindingBreakdown>> {
        rollups::finding_breakdown(&self.read, from, to).await
    }

    async fn metric_series(
        &self,
        q: &vigilo_storage::MetricSeriesQuery,
    ) -> Result<Vec<vigilo_storage::MetricPoint>> {
        metrics::metric_series(&self.read, &self.metric_fields, q).await
    }

    async fn metric_series_top(
        &self,
        q: &vigilo_storage::MetricSeriesQuery,
        limit: u32,
    ) -> Result<(Vec<vigilo_storage::MetricPoint>, u64)> {
        metrics::metric_series_top(&self.read, &self.metric_fields, q, limit).await
    }

    async fn metric_groups(&self, limit: u32) -> Result<vigilo_storage::MetricGroups> {
        metrics::metric_groups(&self.read, &self.metric_fields, limit).await
    }

    async fn totals(&self) -> Result<Totals> {
        rollups::totals(&self.read).await
    }

    async fn rule_match_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        rollups::rule_match_counts(&self.read).await
    }

    async fn insert_iam_audit(&self, audit: NewIamAudit) -> Result<IamAudit> {
        iam::insert(self, audit).await
    }

    async fn list_iam_audits(&self, page: u32, page_size: u32) -> Result<Page<IamAudit>> {
        iam::list(&self.read, page, page_size).await
    }

    async fn get_iam_audit(&self, id: i64) -> Result<Option<IamAudit>> {
        iam::get(&self.read, id).await
    }

    async fn scan_iam_audits(
        &self,
        after: Option<vigilo_storage::Cursor>,
        limit: u32,
    ) -> Result<Vec<IamAudit>> {
        iam::scan(&self.read, after, limit).await
    }

    async fn rule_states(&self) -> Result<Vec<RuleState>> {
        rule_states::list(&self.read).await
    }

    async fn set_rule_enabled(
        &self,
        rule_id: &str,
        enabled: bool,
        at: DateTime<Utc>,
    ) -> Result<RuleState> {
        rule_states::set(self, rule_id, enabled, at).await
    }
    async fn insert_pipeline_update(&self, update: &PipelineUpdate, keep: u32) -> Result<()> {
        pipelines::insert(self, update, keep).await
    }

    async fn pipeline_records(&self, recent: u32) -> Result<Vec<PipelineRecord>> {
        pipelines::records(&self.read, recent).await
    }

    async fn pipeline_history(&self, name: &str, limit: u32) -> Result<Vec<PipelineUpdate>> {
        pipelines::history(&self.read, name, limit).await
    }

    async fn open_findings_by_severity(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        pipelines::open_by_severity(&self.read).await
    }

    async fn create_user(
        &self,
        user: vigilo_storage::NewUser,
    ) -> Result<vigilo_storage::UserRecord> {
        accounts::create_user(self, user).await
    }

    async fn get_user(&self, id: i64) -> Result<Option<vigilo_storage::UserRecord>> {
        accounts::get_user(&self.read, id).await
    }

    async fn get_user_by_name(&self, username: &str) -> Result<Option<vigilo_storage::UserRecord>> {
        accounts::get_user_by_name(&self.read, username).await
    }

    async fn get_user_by_subject(
        &self,
        subject: &str,
    ) -> Result<Option<vigilo_storage::UserRecord>> {
        accounts::get_user_by_subject(&self.read, subject).await
    }

    async fn list_users(&self) -> Result<Vec<vigilo_storage::UserRecord>> {
        accounts::list_users(&self.read).await
    }

    async fn update_user(
        &self,
        id: i64,
        patch: vigilo_storage::UserPatch,
    ) -> Result<Option<vigilo_storage::UserRecord>> {
        accounts::update_user(self, id, patch).await
    }

    async fn record_login(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        accounts::record_login(self, id, at).await
    }

    async fn count_admins(&self) -> Result<u64> {
        accounts::count_admins(&self.read).await
    }

    async fn create_api_key(
        &self,
        key: vigilo_storage::NewApiKey,
    ) -> Result<vigilo_storage::ApiKeyRecord> {
        accounts::create_api_key(self, key).await
    }

    async fn api_key_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<vigilo_storage::ApiKeyRecord>> {
        accounts::api_key_by_prefix(&self.read, prefix).await
    }

    async fn list_api_keys(&self) -> Result<Vec<vigilo_storage::ApiKeyRecord>> {
        accounts::list_api_keys(&self.read).await
    }

    async fn revoke_api_key(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<vigilo_storage::ApiKeyRecord>> {
        accounts::revoke_api_key(self, id, at).await
    }

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        accounts::touch_api_key(self, id, at).await
    }

    async fn create_session(&self, session: &vigilo_storage::SessionRecord) -> Result<()> {
        accounts::create_session(self, session).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<vigilo_storage::SessionRecord>> {
        accounts::get_session(&self.read, id).await
    }

    async fn rotate_session(
        &self,
        id: &str,
        old_hash: &str,
        new_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        accounts::rotate_session(self, id, old_hash, new_hash, at).await
    }

    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        accounts::revoke_session(self, id, at).await
    }

    async fn revoke_user_sessions(&self, user_id: i64, at: DateTime<Utc>) -> Result<u64> {
        accounts::revoke_user_sessions(self, user_id, at).await
    }

    async fn insert_audit(
        &self,
        entry: vigilo_storage::NewAuditEntry,
    ) -> Result<vigilo_storage::AuditEntry> {
        accounts::insert_audit(self, entry).await
    }

    async fn list_audit(
        &self,
        q: &vigilo_storage::AuditQuery,
    ) -> Result<Page<vigilo_storage::AuditEntry>> {
        accounts::list_audit(&self.read, q).await
    }

    async fn get_preferences(&self, user_id: i64) -> Result<Option<serde_json::Value>> {
        accounts::get_preferences(&self.read, user_id).await
    }

    async fn stream_positions(
        &self,
        prefix: &str,
    ) -> Result<std::collections::BTreeMap<String, i64>> {
        connectors::stream_positions(&self.read, prefix).await
    }

    async fn insert_dead_letter(&self, letter: NewDeadLetter) -> Result<DeadLetter> {
        connectors::insert_dead_letter(self, letter).await
    }

    async fn list_dead_letters(
        &self,
        source: Option<&str>,
        page: u32,
        page_size: u32,
    ) -> Result<Page<DeadLetter>> {
        connectors::list_dead_letters(&self.read, source, page, page_size).await
    }

    async fn dead_letter_counts(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        connectors::dead_letter_counts(&self.read).await
    }

    async fn finding_changes_after(&self, after: i64, limit: u32) -> Result<Vec<FindingChange>> {
        connectors::changes_after(&self.read, after, limit).await
    }

    async fn consumer_position(&self, consumer: &str) -> Result<i64> {
        connectors::consumer_position(&self.read, consumer).await
    }

    async fn set_consumer_position(&self, consumer: &str, position: i64) -> Result<()> {
        connectors::set_consumer_position(self, consumer, position).await
    }

    async fn insert_enrichment(
        &self,
        e: vigilo_storage::NewEnrichment,
    ) -> Result<Option<vigilo_storage::Enrichment>> {
        enrichment::insert(self, e).await
    }

    async fn finding_enrichments(
        &self,
        finding_id: i64,
    ) -> Result<Vec<vigilo_storage::Enrichment>> {
        enrichment::for_finding(&self.read, finding_id).await
    }

    async fn cached_enrichment(
        &self,
        content_hash: &str,
        model: &str,
    ) -> Result<Option<vigilo_storage::Enrichment>> {
        enrichment::cached(&self.read, content_hash, model).await
    }

    async fn set_preferences(&self, user_id: i64, prefs: &serde_json::Value) -> Result<()> {
        accounts::set_preferences(self, user_id, prefs).await
    }

    // Alerts

    async fn alert_groups(&self) -> Result<Vec<vigilo_storage::AlertGroup>> {
        alerts::alert_groups(&self.read).await
    }

    async fn commit_alerts(
        &self,
        commit: vigilo_storage::AlertCommit,
    ) -> Result<Vec<vigilo_storage::Notification>> {
        alerts::commit_alerts(self, commit).await
    }

    async fn record_notification_attempt(
        &self,
        id: i64,
        attempt: vigilo_storage::NotificationAttempt,
    ) -> Result<Option<vigilo_storage::Notification>> {
        alerts::record_attempt(self, id, attempt).await
    }

    async fn get_notification(&self, id: i64) -> Result<Option<vigilo_storage::Notification>> {
        alerts::get_notification(&self.read, id).await
    }

    async fn list_notifications(
        &self,
        q: &vigilo_storage::NotificationQuery,
    ) -> Result<Page<vigilo_storage::Notification>> {
        alerts::list_notifications(&self.read, q).await
    }

    async fn pending_notifications(&self, limit: u32) -> Result<Vec<vigilo_storage::Notification>> {
        alerts::pending_notifications(&self.read, limit).await
    }

    async fn create_silence(
        &self,
        silence: vigilo_storage::NewSilence,
    ) -> Result<vigilo_storage::Silence> {
        alerts::create_silence(self, silence).await
    }

    async fn get_silence(&self, id: i64) -> Result<Option<vigilo_storage::Silence>> {
        alerts::get_silence(&self.read, id).await
    }

    async fn list_silences(&self) -> Result<Vec<vigilo_storage::Silence>> {
        alerts::list_silences(&self.read).await
    }

    async fn expire_silence(
        &self,
        id: i64,
        at: DateTime<Utc>,
    ) -> Result<Option<vigilo_storage::Silence>> {
        alerts::expire_silence(self, id, at).await
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
    use std::collections::BTreeMap;

    use chrono::TimeZone;
    use serde_json::json;
    use vigilo_core::finding::EVIDENCE_CAP;
    use vigilo_storage::EventQuery;

    use super::*;

    fn event(n: i64) -> NewEvent {
        let ts = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(n);
        let serde_json::Value::Object(payload) = json!({ "n": n }) else {
            unreachable!()
        };
        NewEvent {
            logsource: Default::default(),
            timestamp: ts,
            received_at: ts,
            kind: "log".into(),
            service: Some("api".into()),
            user: None,
            payload,
            origin: None,
        }
    }

    fn all() -> EventQuery {
        EventQuery {
            page: 1,
            page_size: 100,
            ..EventQuery::default()
        }
    }

    #[tokio::test]
    async fn data_survives_reopen_and_ids_continue() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/vigilo.db");
        let s = SqliteStorage::open(&path, SqliteOptions::default())
            .await
            .unwrap();
        s.migrate().await.unwrap();
        let first = s.insert_events(vec![event(1), event(2)]).await.unwrap();
        s.close().await;

        let s = SqliteStorage::open(
            &path,
            SqliteOptions {
                synchronous: Synchronous::Full,
                ..SqliteOptions::default()
            },
        )
        .await
        .unwrap();
        s.migrate().await.unwrap();
        assert_eq!(
            s.get_event(first[1].id).await.unwrap().as_ref(),
            Some(&first[1])
        );
        let next = s.insert_events(vec![event(3)]).await.unwrap();
        assert!(next[0].id > first[1].id);
        assert_eq!(s.list_events(&all()).await.unwrap().total, 3);
    }

    #[tokio::test]
    async fn reads_do_not_wait_for_an_open_write_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("v.db"), SqliteOptions::default())
            .await
            .unwrap();
        s.migrate().await.unwrap();
        s.insert_events(vec![event(1)]).await.unwrap();

        use sqlx::Connection;
        let mut w = s.write.acquire().await.unwrap();
        let mut tx = w.begin_with("BEGIN IMMEDIATE").await.unwrap();
        sqlx::query(
            "INSERT INTO events (ts, received_at, kind, payload) VALUES (0, 0, 'log', '{}')",
        )
        .execute(&mut *tx)
        .await
        .unwrap();
        let page = tokio::time::timeout(Duration::from_secs(2), s.list_events(&all()))
            .await
            .expect("read finished while the writer held its transaction")
            .unwrap();
        assert_eq!(page.total, 1, "uncommitted rows are invisible");
        tx.rollback().await.unwrap();
    }

    /// A database in `dir` as the first `n` migrations left it.
    async fn after_migrations(dir: &Path, n: usize) -> SqliteStorage {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut names: Vec<_> = std::fs::read_dir(&src)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        let old = dir.join("old-migrations");
        std::fs::create_dir_all(&old).unwrap();
        for name in &names[..n] {
            std::fs::copy(src.join(name), old.join(name)).unwrap();
        }
        let s = SqliteStorage::open(&dir.join("v.db"), SqliteOptions::default())
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(old.as_path())
            .await
            .unwrap()
            .run(&s.write)
            .await
            .unwrap();
        s
    }

    #[tokio::test]
    async fn evidence_moves_into_the_finding_row_in_attach_order() {
        // A database as the first two migrations left it, with evidence in
        // its side table (inserted out of order), then the full migration.
        let dir = tempfile::tempdir().unwrap();
        let s = after_migrations(dir.path(), 2).await;
        s.execute_script(
            "INSERT INTO findings (id, incident_key, rule_id, rule_title, severity, status, \
             group_json, first_seen, last_seen, event_count, description, tags_json, \
             risk_score, explanation, created_at, updated_at) VALUES \
             (7, 'k', 'r', 'R', 'high', 'open', '{}', 0, 0, 3, 'd', '[]', 80, 'e', 0, 0), \
             (8, 'k2', 'r', 'R', 'low', 'open', '{}', 0, 0, 1, 'd', '[]', 20, 'e', 0, 0); \
             INSERT INTO finding_evidence (finding_id, seq, event_id) VALUES \
             (7, 2, 20), (7, 0, 30), (7, 1, 10);",
        )
        .await
        .unwrap();
        s.migrate().await.unwrap();
        let f = s.get_finding(7).await.unwrap().unwrap();
        assert_eq!(f.evidence, vec![30, 10, 20], "attach order, not id order");
        assert_eq!(f.event_count, 3);
        let g = s.get_finding(8).await.unwrap().unwrap();
        assert!(g.evidence.is_empty());
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'finding_evidence'",
        )
        .fetch_one(&s.read)
        .await
        .unwrap();
        assert_eq!(left, 0, "the side table is gone");
    }

    #[tokio::test]
    async fn findings_split_into_hot_rows_and_details_and_keep_updating() {
        // A database as the first four migrations left it: one finding with
        // a full evidence list and one with three ids.
        let dir = tempfile::tempdir().unwrap();
        let s = after_migrations(dir.path(), 4).await;
        let full: Vec<i64> = (1..=EVIDENCE_CAP as i64).collect();
        s.execute_script(&format!(
            "INSERT INTO findings (id, incident_key, rule_id, rule_title, severity, status, \
             group_json, service, user, first_seen, last_seen, event_count, description, \
             tags_json, risk_score, explanation, note, created_at, updated_at, evidence_json) \
             VALUES \
             (7, 'k7', 'r', 'R', 'high', 'acknowledged', '{{\"user\":\"u\"}}', 'api', 'u', \
              1000000, 2000000, 150, 'd', '[\"t\"]', 80, 'e', 'seen', 1000000, 2000000, '{}'), \
             (8, 'k8', 'r', 'R', 'high', 'open', '{{}}', NULL, NULL, \
              1000000, 2000000, 3, 'd', '[]', 80, 'e', NULL, 1000000, 2000000, '[30,10,20]');",
            serde_json::to_string(&full).unwrap()
        ))
        .await
        .unwrap();
        s.migrate().await.unwrap();

        let f7 = s.get_finding(7).await.unwrap().unwrap();
        let t = |micros| DateTime::from_timestamp_micros(micros).unwrap();
        let want = Finding {
            id: 7,
            rule_id: "r".into(),
            rule_title: "R".into(),
            severity: vigilo_core::Severity::High,
            status: vigilo_core::FindingStatus::Acknowledged,
            group: [("user".to_string(), "u".to_string())].into(),
            service: Some("api".into()),
            user: Some("u".into()),
            first_seen: t(1_000_000),
            last_seen: t(2_000_000),
            event_count: 150,
            evidence: full.clone(),
            description: "d".into(),
            tags: vec!["t".into()],
            risk_score: 80,
            explanation: "e".into(),
            note: Some("seen".into()),
            assignee: None,
            workflow_tags: Vec::new(),
            close_reason: None,
            recommended_actions: Vec::new(),
            enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
            enriched_at: None,
            created_at: t(1_000_000),
            updated_at: t(2_000_000),
        };
        assert_eq!(f7, want, "every field survives the move");
        assert_eq!(
            s.get_finding(8).await.unwrap().unwrap().evidence,
            vec![30, 10, 20]
        );

        // Detection goes on with both: the full list takes no more ids,
        // the short one does, and new rule texts replace the moved ones.
        let write = |key: &str, id: i64, group: BTreeMap<String, String>| FindingWrite {
            incident_key: key.into(),
            finding: Finding {
                id: 0,
                group,
                last_seen: t(3_000_000),
                event_count: 151,
                evidence: Vec::new(),
                description: "d2".into(),
                note: None,
                status: vigilo_core::FindingStatus::Open,
                updated_at: t(3_000_000),
                ..want.clone()
            },
            new_evidence: vec![id],
            matches: 1,
        };
        s.commit_detection(
            &[
                write("k7", 500, want.group.clone()),
                write("k8", 40, BTreeMap::new()),
            ],
            9,
        )
        .await
        .unwrap();
        let f7 = s.get_finding(7).await.unwrap().unwrap();
        assert_eq!(f7.evidence, full, "a full list stays as it was");
        assert_eq!(f7.description, "d2");
        assert_eq!(f7.status, vigilo_core::FindingStatus::Acknowledged);
        assert_eq!(f7.last_seen, t(3_000_000));
        let f8 = s.get_finding(8).await.unwrap().unwrap();
        assert_eq!(f8.evidence, vec![30, 10, 20, 40]);
        assert_eq!(f8.description, "d2");
        let page = s
            .list_findings(&vigilo_storage::FindingQuery {
                page: 1,
                page_size: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.total, 2);
        assert_eq!(
            page.items,
            vec![f8, f7],
            "listed whole: latest first, then newest id"
        );
    }

    #[tokio::test]
    async fn rollup_tiers_are_backfilled_from_the_minute_rows() {
        use vigilo_storage::sketch::Sketch;
        use vigilo_storage::{MetricAgg, MetricGroupBy, MetricSeriesQuery, SeriesQuery};
        // A database as the first nine migrations left it, with minute
        // rollups of events and metrics across two hours.
        let dir = tempfile::tempdir().unwrap();
        let s = after_migrations(dir.path(), 9).await;
        let h = 1_714_557_600; // 2024-05-01T10:00:00Z
        let mut sql = String::new();
        let mut sketches = Vec::new();
        for (i, minute) in [h + 60, h + 1_800, h + 3_540, h + 3_600, h + 7_140]
            .into_iter()
            .enumerate()
        {
            let n = i as i64 + 1;
            sql.push_str(&format!(
                "INSERT INTO event_rollup VALUES ({minute}, 'log', 1, 'api', {n}),                  ({minute}, 'log', 0, '', 10), ({minute}, 'metric', 1, 'web', 100);"
            ));
            let mut sk = Sketch::new();
            sk.add(n as f64);
            sk.add(10.0 * n as f64);
            let hex: String = sk.to_bytes().iter().map(|b| format!("{b:02X}")).collect();
            sql.push_str(&format!(
                "INSERT INTO metric_rollup VALUES ('cpu', 'service', {minute}, 'api', 2, {}, {}, {}, X'{hex}');",
                11 * n,
                n,
                10 * n
            ));
            sketches.push(sk);
        }
        sql.push_str("INSERT INTO event_index_state VALUES ('metrics', 0);");
        s.execute_script(&sql).await.unwrap();
        s.migrate().await.unwrap();

        let t = |secs| DateTime::from_timestamp(secs, 0).unwrap();
        let series = s
            .event_series(&SeriesQuery {
                from: t(h),
                to: t(h + 7_200),
                bucket_secs: 3_600,
            })
            .await
            .unwrap();
        let counts: Vec<(i64, String, u64)> = series
            .iter()
            .map(|p| (p.bucket.timestamp(), p.key.clone(), p.count))
            .collect();
        assert_eq!(
            counts,
            vec![
                (h, "log".into(), 1 + 2 + 3 + 30),
                (h, "metric".into(), 300),
                (h + 3_600, "log".into(), 4 + 5 + 20),
                (h + 3_600, "metric".into(), 200),
            ]
        );
        assert_eq!(s.totals().await.unwrap().events, 15 + 50 + 500);
        let hour: i64 =
            sqlx::query_scalar("SELECT SUM(count) FROM event_rollup_hour WHERE service = 'api'")
                .fetch_one(&s.read)
                .await
                .unwrap();
        assert_eq!(hour, 15);
        // Mid-hour bounds: minutes from 10:30 to 11:59 (hour 11 whole).
        let b = s
            .event_breakdown(Some(t(h + 1_830)), Some(t(h + 7_150)))
            .await
            .unwrap();
        let api: u64 = b
            .iter()
            .filter(|e| e.service.as_deref() == Some("api"))
            .map(|e| e.count)
            .sum();
        assert_eq!(api, 2 + 3 + 4 + 5);

        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_rollup_hour")
            .fetch_one(&s.read)
            .await
            .unwrap();
        assert_eq!(rows, 2, "one row per hour and group");
        let left: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM event_index_state WHERE name = 'metric_hours_backfill'",
        )
        .fetch_one(&s.read)
        .await
        .unwrap();
        assert_eq!(left, 0, "the backfill marker is gone");
        let q = MetricSeriesQuery {
            field: "cpu".into(),
            group_by: MetricGroupBy::Service,
            agg: MetricAgg::P95,
            range: SeriesQuery {
                from: t(h),
                to: t(h + 7_200),
                bucket_secs: 3_600,
            },
        };
        let points = s.metric_series(&q).await.unwrap();
        let mut first = Sketch::new();
        for sk in &sketches[..3] {
            first.merge(sk);
        }
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].count, 6);
        assert_eq!(
            points[0].value,
            first.quantile(0.95).unwrap().clamp(1.0, 30.0)
        );
        assert_eq!(points[1].count, 4);
        let sum = s
            .metric_series(&MetricSeriesQuery {
                agg: MetricAgg::Sum,
                ..q.clone()
            })
            .await
            .unwrap();
        assert_eq!(sum[0].value, 66.0);
        assert_eq!(sum[1].value, 99.0);
        // A second migrate leaves the hours as they are.
        s.migrate().await.unwrap();
        let again = s
            .metric_series(&MetricSeriesQuery {
                agg: MetricAgg::Sum,
                ..q
            })
            .await
            .unwrap();
        assert_eq!(again, sum);
    }

    #[tokio::test]
    async fn corrupt_rows_are_reported_not_panicked_on() {
        let s = SqliteStorage::open_in_memory().await.unwrap();
        s.migrate().await.unwrap();
        s.execute_script(
            "INSERT INTO events (id, ts, received_at, kind, payload) VALUES (1, 0, 0, 'log', 'not json');
             INSERT INTO events (id, ts, received_at, kind, payload) VALUES (2, 9223372036854775807, 0, 'log', '{}');",
        )
        .await
        .unwrap();
        for id in [1, 2] {
            match s.get_event(id).await {
                Err(StorageError::Corrupt(msg)) => assert!(!msg.is_empty()),
                other => panic!("event {id}: expected a corrupt-data error, got {other:?}"),
            }
        }
    }
}
