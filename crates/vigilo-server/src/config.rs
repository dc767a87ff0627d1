//! The one typed configuration. Loaded in layers by the binary: defaults <
//! TOML file < `VIGILO_*` environment variables (`__` for nesting) < flags.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Directory holding the SQLite database.
    pub data_dir: PathBuf,
    /// Rule files or directories; empty means the bundled packs.
    pub rules: Vec<PathBuf>,
    pub ingest: IngestConfig,
    pub detection: DetectionConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./vigilo-data"),
            rules: Vec::new(),
            ingest: IngestConfig::default(),
            detection: DetectionConfig::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body accepted, after decompression (bytes).
    pub max_body_bytes: usize,
    /// Largest single event accepted (bytes of JSON).
    pub max_event_bytes: usize,
    /// Events held in memory between acceptance and detection; past it,
    /// ingest answers 503 with `Retry-After`.
    pub queue_capacity: usize,
    /// Most events written in one group commit.
    pub max_batch_events: usize,
    /// Seconds advertised in `Retry-After` when the queue is full.
    pub retry_after_secs: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_event_bytes: 256 * 1024,
            queue_capacity: 200_000,
            max_batch_events: 10_000,
            retry_after_secs: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Shortest time between two commits of detection results while events
    /// keep coming (milliseconds). Results evaluated meanwhile wait in
    /// memory, one write per incident; after a quiet spell they commit at
    /// once. Lower: findings are stored sooner; higher: a busy incident is
    /// rewritten less often and ingest keeps more of the write connection.
    pub commit_interval_ms: u64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            commit_interval_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite` (default). PostgreSQL arrives with its own backend.
    pub backend: String,
    /// SQLite `synchronous` pragma: `normal` (durable across process
    /// crashes, the default) or `full` (also across power loss).
    pub sqlite_synchronous: String,
    /// Connection URL for server backends; masked in logs.
    pub url: Option<Secret>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: "sqlite".into(),
            sqlite_synchronous: "normal".into(),
            url: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter, e.g. `info` or `vigilo_server=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_debug() {
        let mut c = Config::default();
        c.storage.url = Some(Secret::new("postgres://u:hunter2@db/v"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(***)"));
    }
}
