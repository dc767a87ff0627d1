//! Rules switched on or off through the API.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use vigilo_storage::{Result, RuleState};

use crate::db_err;

pub(crate) async fn list(pool: &PgPool) -> Result<Vec<RuleState>> {
    let rows: Vec<(String, bool, DateTime<Utc>)> = sqlx::query_as(
        "SELECT rule_id, enabled, changed_at FROM rule_states ORDER BY rule_id COLLATE \"C\"",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err("read rule states"))?;
    Ok(rows
        .into_iter()
        .map(|(rule_id, enabled, changed_at)| RuleState {
            rule_id,
            enabled,
            changed_at,
        })
        .collect())
}

pub(crate) async fn set(
    pool: &PgPool,
    rule_id: &str,
    enabled: bool,
    at: DateTime<Utc>,
) -> Result<RuleState> {
    let (rule_id, enabled, changed_at): (String, bool, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO rule_states (rule_id, enabled, changed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (rule_id) DO UPDATE SET enabled = EXCLUDED.enabled, \
         changed_at = EXCLUDED.changed_at RETURNING rule_id, enabled, changed_at",
    )
    .bind(rule_id)
    .bind(enabled)
    .bind(at)
    .fetch_one(pool)
    .await
    .map_err(db_err("set rule state"))?;
    Ok(RuleState {
        rule_id,
        enabled,
        changed_at,
    })
}
