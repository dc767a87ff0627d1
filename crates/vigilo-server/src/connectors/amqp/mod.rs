//! Amqp source and sink.

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{ConnectorError, Context};

/// `[sources.amqp]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSourceConfig {}

/// `[sinks.amqp]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSinkConfig {}

pub fn start_source(
    _config: AmqpSourceConfig,
    _ctx: Context,
) -> Result<JoinHandle<()>, ConnectorError> {
    Err(ConnectorError::new("amqp", "not built yet"))
}

pub fn start_sink(
    _config: AmqpSinkConfig,
    _ctx: Context,
) -> Result<JoinHandle<()>, ConnectorError> {
    Err(ConnectorError::new("amqp", "not built yet"))
}
