//! The raw event archive in object storage.

use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::{ConnectorError, Context};

/// `[archive]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {}

pub fn start(_config: ArchiveConfig, _ctx: Context) -> Result<JoinHandle<()>, ConnectorError> {
    Err(ConnectorError::new("archive", "not built yet"))
}
