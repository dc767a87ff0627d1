//! Per-minute metric rollups of numeric payload fields.

use sqlx::PgConnection;
use vigilo_core::NewEvent;
use vigilo_storage::{MetricGroups, MetricPoint, MetricSeriesQuery, Result};

use crate::{PostgresStorage, not_implemented};

/// Add a stored batch's metric values to the rollups, in its transaction.
pub(crate) async fn record(
    _store: &PostgresStorage,
    _conn: &mut PgConnection,
    _events: &[NewEvent],
    _ids: &[i64],
) -> Result<()> {
    Ok(())
}

pub(crate) async fn series(
    _s: &PostgresStorage,
    _q: &MetricSeriesQuery,
) -> Result<Vec<MetricPoint>> {
    Err(not_implemented("metric_series"))
}

pub(crate) async fn groups(_s: &PostgresStorage, _limit: u32) -> Result<MetricGroups> {
    Err(not_implemented("metric_groups"))
}
