//! Rules switched on or off through the API.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use vigilo_storage::{Result, RuleState};

use crate::codec::{col, micros, time_col};
use crate::{SqliteStorage, db_err};

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<RuleState>> {
    let rows = sqlx::query("SELECT rule_id, enabled, changed_at FROM rule_states ORDER BY rule_id")
        .fetch_all(pool)
        .await
        .map_err(db_err("list rule states"))?;
    rows.iter()
        .map(|r| {
            Ok(RuleState {
                rule_id: col(r, "rule_id")?,
                enabled: col::<i64>(r, "enabled")? != 0,
                changed_at: time_col(r, "changed_at")?,
            })
        })
        .collect()
}

pub(crate) async fn set(
    store: &SqliteStorage,
    rule_id: &str,
    enabled: bool,
    at: DateTime<Utc>,
) -> Result<RuleState> {
    store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO rule_states (rule_id, enabled, changed_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (rule_id) DO UPDATE SET enabled = excluded.enabled, \
                 changed_at = excluded.changed_at",
                rusqlite::params![rule_id, i64::from(enabled), micros(at)],
            )
            .map_err(db_err("set rule state"))?;
            Ok(())
        })
        .await?;
    Ok(RuleState {
        rule_id: rule_id.to_string(),
        enabled,
        changed_at: at,
    })
}
