//! The pipeline hub's status reports, and the open-finding counts the live
//! channel sends every second.

use std::collections::BTreeMap;

use sqlx::PgPool;
use vigilo_core::Severity;
use vigilo_storage::{PipelineRecord, PipelineUpdate, Result};

use crate::codec::{col, count_col, json_col, to_json};
use crate::{PostgresStorage, db_err};

pub(crate) async fn insert(store: &PostgresStorage, u: &PipelineUpdate, keep: u32) -> Result<()> {
    let payload = to_json(&u.payload, "pipeline payload")?;
    let mut tx = store.begin().await?;
    sqlx::query(
        "INSERT INTO pipelines (name, updates_total) VALUES ($1, 1) \
         ON CONFLICT (name) DO UPDATE SET updates_total = pipelines.updates_total + 1",
    )
    .bind(&u.pipeline)
    .execute(&mut *tx)
    .await
    .map_err(db_err("count pipeline update"))?;
    sqlx::query(
        "INSERT INTO pipeline_updates (pipeline, status, received_at, payload) \
         VALUES ($1, $2, $3, $4::jsonb)",
    )
    .bind(&u.pipeline)
    .bind(&u.status)
    .bind(u.received_at)
    .bind(payload)
    .execute(&mut *tx)
    .await
    .map_err(db_err("insert pipeline update"))?;
    // Everything older than the `keep` newest of this pipeline.
    sqlx::query(
        "DELETE FROM pipeline_updates WHERE pipeline = $1 AND id <= \
         (SELECT id FROM pipeline_updates WHERE pipeline = $1 \
          ORDER BY id DESC LIMIT 1 OFFSET $2)",
    )
    .bind(&u.pipeline)
    .bind(i64::from(keep.max(1)))
    .execute(&mut *tx)
    .await
    .map_err(db_err("trim pipeline history"))?;
    tx.commit()
        .await
        .map_err(db_err("commit pipeline update"))?;
    Ok(())
}

pub(crate) async fn records(pool: &PgPool, recent: u32) -> Result<Vec<PipelineRecord>> {
    let rows =
        sqlx::query("SELECT name, updates_total AS n FROM pipelines ORDER BY name COLLATE \"C\"")
            .fetch_all(pool)
            .await
            .map_err(db_err("list pipelines"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let name: String = col(r, "name")?;
        let recent = history(pool, &name, recent).await?;
        out.push(PipelineRecord {
            name,
            updates_total: count_col(r, "n")?,
            recent,
        });
    }
    Ok(out)
}

pub(crate) async fn history(pool: &PgPool, name: &str, limit: u32) -> Result<Vec<PipelineUpdate>> {
    let rows = sqlx::query(
        "SELECT pipeline, status, received_at, payload::text AS payload FROM pipeline_updates \
         WHERE pipeline = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(name)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err("read pipeline history"))?;
    rows.iter()
        .map(|r| {
            Ok(PipelineUpdate {
                pipeline: col(r, "pipeline")?,
                status: col(r, "status")?,
                received_at: col(r, "received_at")?,
                payload: json_col(r, "payload")?,
            })
        })
        .collect()
}

pub(crate) async fn open_by_severity(pool: &PgPool) -> Result<BTreeMap<String, u64>> {
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
        out.insert(col(r, "severity")?, count_col(r, "n")?);
    }
    Ok(out)
}
