use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{ErrorCode, Event};
use vigilo_storage::{EventQuery, Page};

use super::{ApiQuery, State, paging, path_id, time_param};
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::ingest::{self, Limits};
use crate::pipeline::SubmitError;

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Events durably stored by this request.
    pub accepted: usize,
}

/// Ingest events: one JSON object, a JSON array, or NDJSON
/// (`Content-Type: application/x-ndjson`), optionally gzip-compressed.
/// Answers 202 only once every event is durably stored; any invalid event
/// rejects the whole request.
#[utoipa::path(post, path = "/api/v1/events", tag = "events",
    request_body(content = Object, description = "An event object, an array of them, or NDJSON",
        content_type = "application/json"),
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_events, empty_batch"),
        (status = 413, body = ErrorResponse, description = "payload_too_large, event_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type, unsupported_encoding"),
        (status = 503, body = ErrorResponse, description = "overloaded (with Retry-After), shutting_down"),
    ))]
pub async fn ingest(
    state: State,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let limits = Limits {
        max_body_bytes: state.config.ingest.max_body_bytes,
        max_event_bytes: state.config.ingest.max_event_bytes,
    };
    let body = read_body(body, limits.max_body_bytes).await?;
    let received_at = Utc::now();
    let events = match ingest::decode(&headers, body, limits, received_at) {
        Ok(ev) => ev,
        Err(e) => {
            let n = e.details.len().max(1) as u64;
            metrics::counter!("vigilo_events_rejected_total", "reason" => e.code.code())
                .increment(n);
            return Err(e);
        }
    };
    let n = events.len();
    match state.pipeline.submit(events).await {
        Ok(stored) => Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: stored }))),
        Err(e) => {
            let reason = match &e {
                SubmitError::Overloaded => "overloaded",
                SubmitError::TooBig(..) => "too_big",
                SubmitError::ShuttingDown => "shutting_down",
                SubmitError::Storage(_) => "storage",
            };
            metrics::counter!("vigilo_events_rejected_total", "reason" => reason)
                .increment(n as u64);
            Err(match e {
                SubmitError::Overloaded => ApiError::new(
                    ErrorCode::Overloaded,
                    "ingest queue is full; retry after the advertised delay",
                )
                .retry_after(state.config.ingest.retry_after_secs),
                SubmitError::TooBig(n, cap) => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "request holds {n} events, more than the ingest queue capacity of {cap} (ingest.queue_capacity)"
                    ),
                ),
                SubmitError::ShuttingDown => {
                    ApiError::new(ErrorCode::ShuttingDown, "server is shutting down").retry_after(5)
                }
                SubmitError::Storage(e) => e.into(),
            })
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    pub kind: Option<String>,
    pub service: Option<String>,
    pub user: Option<String>,
    /// Event time lower bound (inclusive), RFC 3339 or epoch.
    pub from: Option<String>,
    /// Event time upper bound (exclusive), RFC 3339 or epoch.
    pub to: Option<String>,
    /// Case-insensitive text search in the event JSON.
    pub q: Option<String>,
    pub page: Option<u32>,
    /// 1..=500, default 50.
    pub page_size: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

impl From<Page<Event>> for EventPage {
    fn from(p: Page<Event>) -> Self {
        EventPage {
            items: p.items,
            total: p.total,
            page: p.page,
            page_size: p.page_size,
        }
    }
}

/// List stored events, newest event time first.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses((status = 200, body = EventPage), (status = 400, body = ErrorResponse)))]
pub async fn list(state: State, ApiQuery(p): ApiQuery<EventParams>) -> ApiResult<Json<EventPage>> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let q = EventQuery {
        kind: p.kind,
        service: p.service,
        user: p.user,
        from: time_param("from", p.from.as_deref())?,
        to: time_param("to", p.to.as_deref())?,
        q: p.q.filter(|s| !s.is_empty()),
        page,
        page_size,
    };
    Ok(Json(state.storage.list_events(&q).await?.into()))
}

/// One stored event.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = i64, Path, description = "Event id")),
    responses((status = 200, body = Event), (status = 404, body = ErrorResponse)))]
pub async fn get_one(state: State, Path(id): Path<String>) -> ApiResult<Json<Event>> {
    let id = path_id("event", &id)?;
    state
        .storage
        .get_event(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("event", id))
}

/// Buffer a request body up to `limit` bytes; past it, `payload_too_large`.
pub async fn read_body(body: axum::body::Body, limit: usize) -> ApiResult<Bytes> {
    axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| ingest::too_large(limit))
}
