//! SQLite backend for [`vigilo_storage::Storage`].
//!
//! One database file in WAL mode, opened through sqlx with a single write
//! connection (every write is one `BEGIN IMMEDIATE` transaction on it, so
//! writers are serialized and a batch costs one commit) and a pool of read
//! connections that never wait for the writer.
//!
//! Timestamps are stored as integer microseconds since the epoch (UTC).
//! Per-minute rollups of events and findings are maintained in the same
//! transaction as the writes, so dashboard queries never scan raw events.

mod codec;
mod events;
mod findings;
mod iam;
mod rollups;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, Sqlite, Transaction};
use vigilo_core::{Event, Finding, NewEvent};
use vigilo_storage::{
    EventBreakdown, EventQuery, FindingBreakdown, FindingPatch, FindingQuery, FindingWrite,
    IamAudit, NewIamAudit, Page, Result, SeriesPoint, SeriesQuery, Storage, StorageError, Totals,
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
    /// Page cache per connection, in KiB.
    pub cache_size_kib: u32,
    /// How long a statement waits for a lock held by another process.
    pub busy_timeout: Duration,
    /// WAL size in pages that triggers an automatic checkpoint.
    pub wal_autocheckpoint_pages: u32,
    /// Bytes of the file mapped into memory for reads (0 disables).
    pub mmap_size: u64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            read_connections: 4,
            cache_size_kib: 64 * 1024,
            busy_timeout: Duration::from_secs(5),
            wal_autocheckpoint_pages: 4000,
            mmap_size: 256 * 1024 * 1024,
        }
    }
}

/// The SQLite implementation of [`Storage`].
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    write: SqlitePool,
    read: SqlitePool,
}

pub(crate) fn db_err(context: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
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
            .connect_with(base.read_only(true))
            .await
            .map_err(|e| {
                StorageError::Database(format!(
                    "cannot open read connections to {}: {e}",
                    path.display()
                ))
            })?;
        tracing::debug!(path = %path.display(), synchronous = ?opts.synchronous, "sqlite database opened");
        Ok(SqliteStorage { write, read })
    }

    /// A private in-memory database with a single connection, for tests.
    /// Reads share the writer's connection.
    pub async fn open_in_memory() -> Result<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db_err("in-memory database options"))?
            .foreign_keys(false)
            .statement_cache_capacity(256);
        let pool = single_connection_pool()
            .connect_with(opts)
            .await
            .map_err(db_err("cannot open in-memory database"))?;
        Ok(SqliteStorage {
            write: pool.clone(),
            read: pool,
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
        self.read.close().await;
        self.write.close().await;
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        let conn = self
            .write
            .acquire()
            .await
            .map_err(db_err("acquire the write connection"))?;
        Ok(WriteTx { conn })
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

/// The write connection, held for one transaction.
pub(crate) struct WriteTx {
    conn: sqlx::pool::PoolConnection<Sqlite>,
}

impl WriteTx {
    pub(crate) async fn begin(&mut self) -> Result<Transaction<'_, Sqlite>> {
        self.conn
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err("begin write transaction"))
    }
}

#[async_trait]
impl Storage for SqliteStorage {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.write)
            .await
            .map_err(|e| StorageError::Migration(e.to_string()))?;
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

    async fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<Event>> {
        events::events_after(&self.read, after_id, limit).await
    }

    async fn detection_watermark(&self) -> Result<i64> {
        findings::watermark(&self.read).await
    }

    async fn commit_detection(
        &self,
        writes: Vec<FindingWrite>,
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
        findings::update_finding(self, id, patch, now).await
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
}
