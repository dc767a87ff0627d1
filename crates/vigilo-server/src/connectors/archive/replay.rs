//! Reading the archive back: listing files, decoding one, and replaying a
//! time range through the pipeline (`POST /api/v1/archive/replay`, which
//! `vigilo archive replay` calls).
//!
//! Replay works on whole files. A range selects the files of every hour it
//! touches (the hour Vigilo received their events). Each event is submitted
//! with the origin `archive:<key>` and its archived id as the offset, so
//! storage stores an offset of a file once: replaying a range again, or an
//! overlapping one, stores nothing twice. Events keep their event time, so
//! detection evaluates them as it did the first time.

use std::io::BufRead;
use std::time::Duration;

use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigilo_core::{ErrorCode, Event, NewEvent, Origin};
use vigilo_storage::Storage;

use super::{Archive, ArchiveError, hour_of, parse_key};
use crate::api::{ApiJson, State};
use crate::error::{ApiError, ApiResult};
use crate::pipeline::{Pipeline, SubmitError};

/// The stream name prefix of replayed events.
pub const STREAM_PREFIX: &str = "archive:";
/// Events submitted to the pipeline at a time.
const SUBMIT_BATCH: usize = 500;

/// One archived file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ArchivedFile {
    /// The object's key in the store.
    pub key: String,
    /// Compressed size in bytes.
    pub size: u64,
    /// Id of the file's first event.
    pub first_id: i64,
    /// The hour (UTC) in which Vigilo received the file's events.
    pub hour: DateTime<Utc>,
    /// When the object was written.
    pub last_modified: DateTime<Utc>,
}

impl Archive {
    /// The archived files whose hour overlaps `[from, to)` (either end
    /// open when `None`), in first-id order. Other objects under the
    /// prefix are ignored.
    pub async fn list(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> Result<Vec<ArchivedFile>, ArchiveError> {
        let prefix = (!self.prefix.as_ref().is_empty()).then_some(&self.prefix);
        let objects: Vec<object_store::ObjectMeta> = self.store.list(prefix).try_collect().await?;
        let from_hour = from.map(hour_of);
        let mut files: Vec<ArchivedFile> = objects
            .into_iter()
            .filter_map(|o| {
                let (hour, first_id) = parse_key(&self.prefix, &o.location)?;
                if from_hour.is_some_and(|f| hour < f) || to.is_some_and(|t| hour >= t) {
                    return None;
                }
                Some(ArchivedFile {
                    key: o.location.to_string(),
                    size: o.size,
                    first_id,
                    hour,
                    last_modified: o.last_modified,
                })
            })
            .collect();
        files.sort_by_key(|f| f.first_id);
        Ok(files)
    }

    /// The events of one archived file, in id order.
    pub async fn read(&self, key: &str) -> Result<Vec<Event>, ArchiveError> {
        let path = Path::parse(key).map_err(|e| ArchiveError::File {
            key: key.into(),
            message: e.to_string(),
        })?;
        let bytes = self.store.get(&path).await?.bytes().await?;
        let fail = |message: String| ArchiveError::File {
            key: key.into(),
            message,
        };
        let raw =
            zstd::stream::decode_all(bytes.as_ref()).map_err(|e| fail(format!("not zstd: {e}")))?;
        let mut events = Vec::new();
        for (n, line) in raw.lines().enumerate() {
            let line = line.map_err(|e| fail(format!("line {}: {e}", n + 1)))?;
            if line.trim().is_empty() {
                continue;
            }
            let event: Event =
                serde_json::from_str(&line).map_err(|e| fail(format!("line {}: {e}", n + 1)))?;
            events.push(event);
        }
        Ok(events)
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReplayReport {
    /// Archived files read.
    pub files: u64,
    /// Events in them.
    pub events_read: u64,
    /// Events handed to the pipeline (stored and evaluated).
    pub events_submitted: u64,
    /// Events an earlier replay had already stored.
    pub events_skipped: u64,
}

/// Re-ingest the archived files of `[from, to)` through the pipeline.
pub async fn replay(
    archive: &Archive,
    storage: &dyn Storage,
    pipeline: &Pipeline,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<ReplayReport, ArchiveError> {
    let files = archive.list(Some(from), Some(to)).await?;
    let done = storage.stream_positions(STREAM_PREFIX).await?;
    let mut report = ReplayReport::default();
    for file in files {
        let events = archive.read(&file.key).await?;
        report.files += 1;
        report.events_read += events.len() as u64;
        let stream = format!("{STREAM_PREFIX}{}", file.key);
        let stored_up_to = done.get(&stream).copied().unwrap_or(0);
        let mut todo = Vec::with_capacity(events.len());
        for e in events {
            if e.id <= stored_up_to {
                report.events_skipped += 1;
                continue;
            }
            todo.push(NewEvent {
                logsource: Default::default(),
                timestamp: e.timestamp,
                received_at: e.received_at,
                kind: e.kind,
                service: e.service,
                user: e.user,
                payload: e.payload,
                origin: Some(Origin {
                    stream: stream.clone(),
                    offset: e.id,
                }),
            });
        }
        let batch = SUBMIT_BATCH.min(pipeline.capacity().max(1));
        while !todo.is_empty() {
            let rest = todo.split_off(todo.len().min(batch));
            let chunk = std::mem::replace(&mut todo, rest);
            let n = chunk.len() as u64;
            submit(pipeline, chunk).await?;
            report.events_submitted += n;
        }
    }
    tracing::info!(
        files = report.files,
        submitted = report.events_submitted,
        skipped = report.events_skipped,
        "archive replayed"
    );
    Ok(report)
}

/// Submit, waiting while the queue is full (back-pressure, nothing dropped).
async fn submit(pipeline: &Pipeline, events: Vec<NewEvent>) -> Result<(), ArchiveError> {
    let mut wait = Duration::from_millis(10);
    loop {
        match pipeline.submit(events.clone()).await {
            Ok(_) => return Ok(()),
            Err(SubmitError::Overloaded) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `POST /api/v1/archive/replay`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Start of the range (RFC 3339), widened to the start of its hour.
    pub from: DateTime<Utc>,
    /// End of the range (RFC 3339, exclusive).
    pub to: DateTime<Utc>,
}

/// Re-ingest the archived events Vigilo received in `[from, to)`, through
/// the pipeline, so detection runs over them again (new rules over old
/// data, a backfill). Idempotent: an event a replay stored is never stored
/// again. Answers once every event is stored.
#[utoipa::path(post, path = "/api/v1/archive/replay", tag = "connectors",
    request_body = ReplayRequest,
    responses((status = 200, body = ReplayReport),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_request: `to` not after `from`; malformed_body: not a {from, to} object"),
        (status = 404, body = crate::error::ErrorResponse, description = "not_found: no [archive] is configured"),
        (status = 415, body = crate::error::ErrorResponse, description = "unsupported_media_type: the body must be application/json"),
        (status = 500, body = crate::error::ErrorResponse, description = "internal: the archive could not be read")))]
pub async fn replay_route(
    state: State,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> ApiResult<Json<ReplayReport>> {
    if req.to <= req.from {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`to` must be after `from`",
        ));
    }
    let Some(cfg) = &state.config.archive else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "no archive is configured (`archive.url`)",
        ));
    };
    let archive =
        Archive::open(cfg).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    let report = replay(
        &archive,
        state.storage.as_ref(),
        &state.pipeline,
        req.from,
        req.to,
    )
    .await
    .map_err(|e| match e {
        ArchiveError::Submit(SubmitError::ShuttingDown) => {
            ApiError::new(ErrorCode::ShuttingDown, "the server is shutting down")
        }
        ArchiveError::Storage(e) => e.into(),
        other => ApiError::internal(format!("archive replay: {other}")),
    })?;
    Ok(Json(report))
}
