//! Alerting: routes, receivers (Discord, Slack, webhooks), grouping,
//! inhibition, silences, and the stored history of every notification.

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::connectors::{ConnectorError, Context};

/// `[alerts]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {}

/// Start the alerter: it reads the finding outbox from its stored
/// position. With no receivers configured it only keeps its position.
pub fn start(_config: AlertsConfig, mut ctx: Context) -> Result<JoinHandle<()>, ConnectorError> {
    Ok(tokio::spawn(async move { ctx.stopped().await }))
}
