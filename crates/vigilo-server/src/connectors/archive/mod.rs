//! The raw event archive in object storage: every stored event, once, as
//! zstd-compressed NDJSON under `PREFIX/YYYY/MM/DD/HH/<first-id>.ndjson.zst`.
//!
//! - [`config`]: `[archive]` and opening the store (local files, S3 and
//!   S3-compatible stores; `gs://` and `az://` with the `archive-gcp` and
//!   `archive-azure` features).
//! - [`writer`]: the background task that reads stored events in id order
//!   from its stored position and uploads complete files.
//! - [`replay`]: listing and reading archived files, and re-ingesting a
//!   range of them through the pipeline, idempotently.
//!
//! The hour in a key is the hour (UTC) in which Vigilo received the file's
//! events: a file never holds events received in two different hours, so
//! a time range selects whole files.

pub mod config;
pub mod replay;
pub mod writer;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use object_store::path::Path;
use tokio::task::JoinHandle;

pub use config::{Archive, ArchiveConfig};
pub use replay::{ArchivedFile, ReplayReport};

use super::{ConnectorError, Context};

/// The name the archive reports under (hub, metrics, consumer position).
pub const NAME: &str = "archive";

/// What ends every archived object's name.
pub const SUFFIX: &str = ".ndjson.zst";

/// Errors of the archive: the store, a file's contents.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("archive config: {0}")]
    Config(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("archived file {key}: {message}")]
    File { key: String, message: String },
    #[error("storage: {0}")]
    Storage(#[from] vigilo_storage::StorageError),
    #[error("pipeline: {0}")]
    Submit(#[from] crate::pipeline::SubmitError),
}

/// Start the archive writer (or, with `write = false`, nothing: the server
/// only replays from the archive).
pub fn start(config: ArchiveConfig, ctx: Context) -> Result<JoinHandle<()>, ConnectorError> {
    let settings =
        writer::Settings::from_config(&config).map_err(|e| ConnectorError::new(NAME, e))?;
    let archive = Archive::open(&config).map_err(|e| ConnectorError::new(NAME, e.to_string()))?;
    if !config.write {
        tracing::info!(url = %archive.display_url(), "archive is read-only: replay only");
        return Ok(tokio::spawn(async {}));
    }
    tracing::info!(url = %archive.display_url(), "archive writer starting");
    Ok(tokio::spawn(writer::run(archive, settings, ctx)))
}

/// The start of the hour `t` falls in.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(t.year(), t.month(), t.day(), t.hour(), 0, 0)
        .single()
        .unwrap_or(t)
}

/// `PREFIX/YYYY/MM/DD/HH/<first-id>.ndjson.zst`
pub fn object_key(prefix: &Path, hour: DateTime<Utc>, first_id: i64) -> Path {
    let rel = format!(
        "{:04}/{:02}/{:02}/{:02}/{first_id}{SUFFIX}",
        hour.year(),
        hour.month(),
        hour.day(),
        hour.hour()
    );
    let mut key = prefix.clone();
    for part in rel.split('/') {
        key = key.clone().join(part);
    }
    key
}

/// The hour and first id a key names, `None` for an object that is not an
/// archived file.
pub fn parse_key(prefix: &Path, key: &Path) -> Option<(DateTime<Utc>, i64)> {
    let parts: Vec<String> = key
        .prefix_match(prefix)?
        .map(|p| p.as_ref().to_string())
        .collect();
    let [y, m, d, h, name] = parts.as_slice() else {
        return None;
    };
    let first_id: i64 = name.strip_suffix(SUFFIX)?.parse().ok()?;
    let hour = Utc
        .with_ymd_and_hms(
            y.parse().ok()?,
            m.parse().ok()?,
            d.parse().ok()?,
            h.parse().ok()?,
            0,
            0,
        )
        .single()?;
    Some((hour, first_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let prefix = Path::from("events/raw");
        let t = Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap();
        let key = object_key(&prefix, hour_of(t), 42);
        assert_eq!(key.as_ref(), "events/raw/2026/03/04/05/42.ndjson.zst");
        assert_eq!(parse_key(&prefix, &key), Some((hour_of(t), 42)));
        let root = object_key(&Path::default(), hour_of(t), 7);
        assert_eq!(root.as_ref(), "2026/03/04/05/7.ndjson.zst");
        assert_eq!(parse_key(&Path::default(), &root), Some((hour_of(t), 7)));
        assert_eq!(parse_key(&prefix, &Path::from("events/raw/x.txt")), None);
        assert_eq!(
            parse_key(&prefix, &Path::from("events/raw/2026/03/04/05/42.ndjson")),
            None
        );
    }
}
