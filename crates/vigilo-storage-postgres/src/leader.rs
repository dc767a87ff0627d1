//! The detection lead: several processes share one database, and exactly
//! one of them runs detection at a time.
//!
//! The lead is a session-level advisory lock, held by one connection kept
//! out of the pool for as long as the process leads. When the process dies
//! or its connection breaks, PostgreSQL releases the lock and the next
//! process to try takes it. Two guards keep a process that lost the lead
//! from committing results the new leader also commits:
//!
//! - taking the lead ends with a barrier: an empty transaction that takes
//!   the detection writer lock, so any commit still in flight has landed
//!   before the new leader reads the watermark;
//! - every detection commit of a process that took the lead checks, under
//!   that same writer lock, that its lock connection still holds the lead
//!   (`pg_locks`), and fails with [`StorageError::NotLeader`] otherwise.

use std::sync::atomic::{AtomicI32, Ordering};

use sqlx::{Connection, PgConnection};
use vigilo_storage::{Result, StorageError};

use crate::{LOCK_DETECTION, PostgresStorage, db_err, writer_lock};

/// The advisory lock key (with the schema's hash) of the detection lead.
pub(crate) const LOCK_LEAD: i32 = 3;

/// This process's hold on the lead.
#[derive(Default)]
pub(crate) struct Lead {
    /// The connection holding the lock; `None` while not leading.
    conn: tokio::sync::Mutex<Option<PgConnection>>,
    /// Its backend's process id, which `pg_locks` names; 0 until this
    /// process first takes the lead. Kept after the lead is lost, so a
    /// commit that comes late is refused. Apart from the connection's
    /// mutex: a commit checks it while the lead is being taken.
    pid: AtomicI32,
    /// A connection out of the pool that tried for the lead and did not get
    /// it: the next try reuses it.
    spare: tokio::sync::Mutex<Option<PgConnection>>,
}

impl PostgresStorage {
    pub(crate) async fn try_lead(&self) -> Result<bool> {
        let mut lead = self.lead.conn.lock().await;
        if let Some(conn) = lead.as_mut() {
            // Still connected means still holding: the lock lives as long
            // as the session.
            match sqlx::query("SELECT 1").execute(&mut *conn).await {
                Ok(_) => return Ok(true),
                Err(e) => {
                    tracing::warn!(error = %e, "the detection lead's connection broke; lead lost");
                    *lead = None;
                }
            }
        }
        let mut conn = match self.lead.spare.lock().await.take() {
            Some(c) => c,
            None => self
                .pool
                .acquire()
                .await
                .map_err(db_err("connect for the detection lead"))?
                .detach(),
        };
        let granted: bool =
            sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext(current_schema()), $1)")
                .bind(LOCK_LEAD)
                .fetch_one(&mut conn)
                .await
                .map_err(db_err("try the detection lead"))?;
        if !granted {
            // Kept for the next try, so waiting opens no connection a try.
            *self.lead.spare.lock().await = Some(conn);
            return Ok(false);
        }
        let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .map_err(db_err("read the lead's backend"))?;
        // The barrier: a commit of the previous leader that took the
        // writer lock before this process took the lead lands first.
        let mut tx = self.begin().await?;
        writer_lock(&mut tx, LOCK_DETECTION).await?;
        tx.commit()
            .await
            .map_err(db_err("commit the lead barrier"))?;
        self.lead.pid.store(pid, Ordering::Release);
        *lead = Some(conn);
        tracing::info!(backend = pid, "took the detection lead");
        Ok(true)
    }

    /// Refuse a detection commit up to `watermark` when this process took
    /// the lead once and no longer holds it. Runs inside the commit's
    /// transaction, after the detection writer lock.
    pub(crate) async fn check_lead(&self, tx: &mut PgConnection, watermark: i64) -> Result<()> {
        let pid = self.lead.pid.load(Ordering::Acquire);
        if pid == 0 || watermark == 0 {
            // Never led, or a commit that moves no watermark: findings from
            // outside detection (IAM audits recorded by a process that does
            // not lead), which evaluate no event.
            return Ok(());
        }
        let holds: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND pid = $1 AND classid = hashtext(current_schema())::oid \
             AND objid = $2::oid AND objsubid = 2)",
        )
        .bind(pid)
        .bind(LOCK_LEAD)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("check the detection lead"))?;
        if holds {
            Ok(())
        } else {
            Err(StorageError::NotLeader)
        }
    }

    /// Give the lead up: the next process to try takes it at once. Tests
    /// use it to stand for a holder whose connection broke; a process that
    /// exits lets it go with its connections.
    pub async fn release_lead(&self) {
        if let Some(conn) = self.lead.conn.lock().await.take() {
            let _ = conn.close().await;
        }
    }
}
