//! The pipeline hub's status reports, and the open-finding counts the live
//! channel sends every second.

use std::collections::BTreeMap;

use sqlx::SqlitePool;
use vigilo_core::Severity;
use vigilo_storage::{PipelineRecord, PipelineUpdate, Result, StorageError};

use crate::codec::{col, micros, time_col};
use crate::{SqliteStorage, db_err};

pub(crate) async fn insert(store: &SqliteStorage, u: &PipelineUpdate, keep: u32) -> Result<()> {
    let payload = serde_json::to_string(&u.payload)
        .map_err(|e| StorageError::Database(format!("encode pipeline payload: {e}")))?;
    store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO pipeline_updates (pipeline, status, received_at, payload) \
                 VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![u.pipeline, u.status, micros(u.received_at), payload],
            )
            .map_err(db_err("insert pipeline update"))?;
            db.execute(
                "INSERT INTO pipelines (name, updates_total) VALUES (?1, 1) \
                 ON CONFLICT (name) DO UPDATE SET updates_total = updates_total + 1",
                rusqlite::params![u.pipeline],
            )
            .map_err(db_err("count pipeline update"))?;
            // Everything older than the `keep` newest of this pipeline.
            db.execute(
                "DELETE FROM pipeline_updates WHERE pipeline = ?1 AND id <= \
                 (SELECT id FROM pipeline_updates WHERE pipeline = ?1 \
                  ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                rusqlite::params![u.pipeline, i64::from(keep.max(1))],
            )
            .map_err(db_err("trim pipeline history"))?;
            Ok(())
        })
        .await
}

pub(crate) async fn records(pool: &SqlitePool, recent: u32) -> Result<Vec<PipelineRecord>> {
    let rows = sqlx::query("SELECT name, updates_total FROM pipelines ORDER BY name")
        .fetch_all(pool)
        .await
        .map_err(db_err("list pipelines"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let name: String = col(r, "name")?;
        let total: i64 = col(r, "updates_total")?;
        let recent = history(pool, &name, recent).await?;
        out.push(PipelineRecord {
            name,
            updates_total: u64::try_from(total).unwrap_or(0),
            recent,
        });
    }
    Ok(out)
}

pub(crate) async fn history(
    pool: &SqlitePool,
    name: &str,
    limit: u32,
) -> Result<Vec<PipelineUpdate>> {
    let rows = sqlx::query(
        "SELECT pipeline, status, received_at, payload FROM pipeline_updates \
         WHERE pipeline = ?1 ORDER BY id DESC LIMIT ?2",
    )
    .bind(name)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err("read pipeline history"))?;
    rows.iter()
        .map(|r| {
            let payload: String = col(r, "payload")?;
            Ok(PipelineUpdate {
                pipeline: col(r, "pipeline")?,
                status: col(r, "status")?,
                received_at: time_col(r, "received_at")?,
                payload: serde_json::from_str(&payload)
                    .map_err(|e| StorageError::Corrupt(format!("pipeline update payload: {e}")))?,
            })
        })
        .collect()
}

pub(crate) async fn open_by_severity(pool: &SqlitePool) -> Result<BTreeMap<String, u64>> {
    let rows = sqlx::query(
        "SELECT severity, COUNT(*) AS n FROM findings WHERE status = 'open' GROUP BY severity",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err("count open findings"))?;
    let mut out: BTreeMap<String, u64> = Severity::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    for r in &rows {
        let sev: String = col(r, "severity")?;
        let n: i64 = col(r, "n")?;
        out.insert(sev, u64::try_from(n).unwrap_or(0));
    }
    Ok(out)
}
