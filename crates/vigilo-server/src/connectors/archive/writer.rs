//! The archive writer: stored events in id order, from the stored position,
//! into complete zstd-compressed NDJSON files, each uploaded with a single
//! put (the store shows a whole object or none), then the position moves to
//! the file's last id.
//!
//! A crash between an upload and the position move starts the next run at
//! the same first event, so it writes the same key again with the same
//! events (and, if the file was closed by age, more after them): the
//! object is overwritten, never duplicated under another key.

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use object_store::{ObjectStoreExt, PutPayload};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::error::RecvError;
use vigilo_core::Event;

use super::{Archive, ArchiveConfig, NAME, hour_of, object_key};
use crate::connectors::Context;
use crate::pipeline::LiveUpdate;

/// Events read from storage per call.
const READ_BATCH: u32 = 1_000;
/// How often the writer looks for new events when nothing wakes it.
const POLL: Duration = Duration::from_secs(1);
/// How often the writer reports to the hub.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Upload retries back off up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Tries of the last upload when the server is shutting down.
const TRIES_AT_STOP: u32 = 5;

/// The writer's settings, checked at start.
#[derive(Debug, Clone)]
pub struct Settings {
    pub max_file_bytes: u64,
    pub max_file_age: Duration,
    pub compression_level: i32,
}

impl Settings {
    pub fn from_config(c: &ArchiveConfig) -> Result<Settings, String> {
        let max_file_age = humantime::parse_duration(c.max_file_age.trim()).map_err(|e| {
            format!(
                "`archive.max_file_age`: `{}` is not a duration (30s, 5m, 1h): {e}",
                c.max_file_age
            )
        })?;
        if max_file_age.is_zero() {
            return Err("`archive.max_file_age` must be above zero".into());
        }
        if c.max_file_bytes == 0 {
            return Err("`archive.max_file_bytes` must be above zero".into());
        }
        let levels = zstd::compression_level_range();
        if !levels.contains(&c.compression_level) {
            return Err(format!(
                "`archive.compression_level` must be {} to {}",
                levels.start(),
                levels.end()
            ));
        }
        Ok(Settings {
            max_file_bytes: c.max_file_bytes,
            max_file_age,
            compression_level: c.compression_level,
        })
    }
}

/// The file being filled.
struct OpenFile {
    encoder: zstd::stream::write::Encoder<'static, Vec<u8>>,
    hour: DateTime<Utc>,
    first_id: i64,
    last_id: i64,
    events: u64,
    raw_bytes: u64,
    opened: Instant,
}

/// A closed file waiting for its upload.
struct Closed {
    key: object_store::path::Path,
    bytes: Vec<u8>,
    last_id: i64,
    events: u64,
}

#[derive(Default)]
struct Stats {
    files: u64,
    events: u64,
    bytes: u64,
    errors: u64,
    last_error: Option<String>,
    last_key: Option<String>,
    /// The newest event id the writer has read.
    newest_seen: i64,
}

pub async fn run(archive: Archive, settings: Settings, mut ctx: Context) {
    if !ctx.until_leading().await {
        return;
    }
    let mut live = ctx.pipeline.subscribe();
    let mut stats = Stats::default();
    let mut position = loop {
        match ctx.storage.consumer_position(NAME).await {
            Ok(p) => break p,
            Err(e) => {
                note_error(&mut stats, format!("read the archive position: {e}"));
                if ctx.is_stopping() {
                    return;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    };
    stats.newest_seen = position;
    // Events are read ahead of `position` into the open file.
    let mut read_to = position;
    let mut file: Option<OpenFile> = None;
    let mut last_report = Instant::now() - REPORT_EVERY;
    tracing::info!(position, "archive writer resumes");
    loop {
        let stopping = ctx.is_stopping();
        let batch = match ctx.storage.events_after(read_to, READ_BATCH).await {
            Ok(b) => b,
            Err(e) => {
                note_error(&mut stats, format!("read events: {e}"));
                if stopping {
                    break;
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let full = batch.len() as u32 >= READ_BATCH;
        for event in batch {
            read_to = event.id;
            stats.newest_seen = stats.newest_seen.max(event.id);
            let hour = hour_of(event.received_at);
            if file.as_ref().is_some_and(|f| f.hour != hour) {
                // A file holds the events of one hour only.
                let closed = close(file.take(), &archive);
                if !upload(&archive, closed, &mut position, &mut stats, &mut ctx).await {
                    return;
                }
            }
            let open = match file.as_mut() {
                Some(f) => f,
                None => match open_file(&event, hour, settings.compression_level) {
                    Ok(f) => file.insert(f),
                    Err(e) => {
                        note_error(&mut stats, format!("start a file: {e}"));
                        return;
                    }
                },
            };
            if let Err(e) = append(open, &event) {
                note_error(&mut stats, format!("compress event {}: {e}", event.id));
                return;
            }
            if open.raw_bytes >= settings.max_file_bytes {
                let closed = close(file.take(), &archive);
                if !upload(&archive, closed, &mut position, &mut stats, &mut ctx).await {
                    return;
                }
            }
        }
        let aged = file
            .as_ref()
            .is_some_and(|f| f.opened.elapsed() >= settings.max_file_age);
        if (aged || (stopping && !full)) && file.is_some() {
            let closed = close(file.take(), &archive);
            if !upload(&archive, closed, &mut position, &mut stats, &mut ctx).await {
                return;
            }
        }
        if last_report.elapsed() >= REPORT_EVERY {
            report(&ctx, &stats, position, "running").await;
            last_report = Instant::now();
        }
        if stopping && !full && file.is_none() {
            break;
        }
        if full {
            continue;
        }
        // Wait for new events, the file's age limit, or the stop.
        let wait = file
            .as_ref()
            .map(|f| settings.max_file_age.saturating_sub(f.opened.elapsed()))
            .unwrap_or(POLL)
            .min(POLL);
        tokio::select! {
            _ = ctx.stopped() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = wait_for_events(&mut live) => {}
        }
    }
    report(&ctx, &stats, position, "done").await;
    tracing::info!(position, files = stats.files, "archive writer stopped");
}

async fn wait_for_events(live: &mut tokio::sync::broadcast::Receiver<LiveUpdate>) {
    loop {
        match live.recv().await {
            Ok(LiveUpdate::EventsStored { .. }) | Err(RecvError::Lagged(_)) => return,
            Ok(_) => {}
            // The pipeline is gone: the stop follows; the poll covers it.
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

fn open_file(event: &Event, hour: DateTime<Utc>, level: i32) -> std::io::Result<OpenFile> {
    Ok(OpenFile {
        encoder: zstd::stream::write::Encoder::new(Vec::new(), level)?,
        hour,
        first_id: event.id,
        last_id: event.id,
        events: 0,
        raw_bytes: 0,
        opened: Instant::now(),
    })
}

fn append(file: &mut OpenFile, event: &Event) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(event).map_err(std::io::Error::other)?;
    line.push(b'\n');
    file.encoder.write_all(&line)?;
    file.raw_bytes += line.len() as u64;
    file.last_id = event.id;
    file.events += 1;
    Ok(())
}

fn close(file: Option<OpenFile>, archive: &Archive) -> Option<std::io::Result<Closed>> {
    let f = file?;
    let key = object_key(&archive.prefix, f.hour, f.first_id);
    Some(f.encoder.finish().map(|bytes| Closed {
        key,
        bytes,
        last_id: f.last_id,
        events: f.events,
    }))
}

/// Upload a closed file, retrying with backoff, then move the position.
/// False when the writer must end (it could not finish a file, or the
/// server stops while the store is unreachable: the next start redoes
/// the file from the stored position).
async fn upload(
    archive: &Archive,
    closed: Option<std::io::Result<Closed>>,
    position: &mut i64,
    stats: &mut Stats,
    ctx: &mut Context,
) -> bool {
    let closed = match closed {
        None => return true,
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            note_error(stats, format!("finish a file: {e}"));
            return false;
        }
    };
    let size = closed.bytes.len() as u64;
    let payload = PutPayload::from(closed.bytes);
    let mut backoff = Duration::from_millis(200);
    let mut tries = 0u32;
    loop {
        tries += 1;
        let started = Instant::now();
        match archive.store.put(&closed.key, payload.clone()).await {
            Ok(_) => {
                metrics::histogram!("vigilo_archive_upload_seconds")
                    .record(started.elapsed().as_secs_f64());
                break;
            }
            Err(e) => {
                note_error(stats, format!("upload {}: {e}", closed.key));
                report(ctx, stats, *position, "error").await;
                if ctx.is_stopping() && tries >= TRIES_AT_STOP {
                    return false;
                }
                if ctx.is_stopping() {
                    tokio::time::sleep(backoff.min(Duration::from_secs(1))).await;
                } else {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = ctx.stopped() => {}
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    loop {
        match ctx
            .storage
            .set_consumer_position(NAME, closed.last_id)
            .await
        {
            Ok(()) => break,
            Err(e) => {
                note_error(stats, format!("store the archive position: {e}"));
                if ctx.is_stopping() {
                    // The object is up; the next start writes it again.
                    return false;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
    *position = closed.last_id;
    stats.files += 1;
    stats.events += closed.events;
    stats.bytes += size;
    stats.last_key = Some(closed.key.to_string());
    stats.last_error = None;
    metrics::counter!("vigilo_archive_files_total").increment(1);
    metrics::counter!("vigilo_archive_events_total").increment(closed.events);
    metrics::counter!("vigilo_archive_bytes_total").increment(size);
    metrics::gauge!("vigilo_archive_position").set(*position as f64);
    tracing::debug!(key = %closed.key, events = closed.events, bytes = size, "archived a file");
    true
}

fn note_error(stats: &mut Stats, message: String) {
    tracing::warn!(error = %message, "archive");
    metrics::counter!("vigilo_archive_errors_total").increment(1);
    stats.errors += 1;
    stats.last_error = Some(message);
}

async fn report(ctx: &Context, stats: &Stats, position: i64, status: &str) {
    let lag = (stats.newest_seen - position).max(0);
    metrics::gauge!("vigilo_archive_lag_events").set(lag as f64);
    let mut body = Map::new();
    let status = if status == "running" && stats.last_error.is_some() {
        "error"
    } else {
        status
    };
    body.insert("status".into(), json!(status));
    body.insert("files_written".into(), json!(stats.files));
    body.insert("events_archived".into(), json!(stats.events));
    body.insert("bytes_written".into(), json!(stats.bytes));
    body.insert("position".into(), json!(position));
    body.insert("lag".into(), json!(lag));
    body.insert("errors".into(), json!(stats.errors));
    body.insert(
        "last_error".into(),
        stats
            .last_error
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    body.insert(
        "last_file".into(),
        stats
            .last_key
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    if let Err(e) = ctx.hub.report_internal(NAME, body).await {
        tracing::debug!(error = %e, "archive report not recorded");
    }
}
