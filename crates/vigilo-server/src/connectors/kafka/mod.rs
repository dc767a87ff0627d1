//! Kafka source and sink.

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{ConnectorError, Context};

/// `[sources.kafka]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSourceConfig {}

/// `[sinks.kafka]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSinkConfig {}

pub fn start_source(
    _config: KafkaSourceConfig,
    _ctx: Context,
) -> Result<JoinHandle<()>, ConnectorError> {
    Err(ConnectorError::new("kafka", "not built yet"))
}

pub fn start_sink(
    _config: KafkaSinkConfig,
    _ctx: Context,
) -> Result<JoinHandle<()>, ConnectorError> {
    Err(ConnectorError::new("kafka", "not built yet"))
}
