use std::borrow::Cow;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{ErrorCode, Event};
use vigilo_storage::{Cursor, EventQuery, Page};

use super::export::{self, Cell, ExportFormat, ExportRow};
use super::{ApiQuery, State, paging, params, path_id};
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::ingest::{self, Limits};

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// Events durably stored by this request.
    pub accepted: usize,
}

/// The logsource a request gives its events (under the configured
/// derivation rules and each event's own `logsource` object). Not with
/// `X-Vigilo-Logsource` in the same request.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestLogsourceParams {
    /// The events' product (`aws`, `windows`); `vigilo` when nothing names one.
    #[param(schema_with = params::logsource_value_schema)]
    pub product: Option<String>,
    /// The events' category (`process_creation`).
    #[param(schema_with = params::logsource_value_schema)]
    pub category: Option<String>,
    /// The events' service (`cloudtrail`, `security`).
    #[param(schema_with = params::logsource_value_schema)]
    pub service: Option<String>,
}

/// `X-Vigilo-Logsource`, the header form of [`IngestLogsourceParams`].
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // read by hand; this is the OpenAPI description
pub struct IngestLogsourceHeader {
    /// The events' logsource as `product=aws,service=cloudtrail`; not
    /// with the `product`, `category`, `service` query parameters.
    #[param(rename = "X-Vigilo-Logsource", schema_with = params::logsource_header_schema)]
    pub logsource: Option<String>,
}

/// Ingest events: one JSON object, a JSON array of them, or NDJSON
/// (`Content-Type: application/x-ndjson`), optionally gzip-compressed.
/// Answers 202 only once every event is durably stored; any invalid event
/// rejects the whole request.
#[utoipa::path(post, path = "/api/v1/events", tag = "events",
    params(IngestLogsourceParams, IngestLogsourceHeader),
    request_body(
        description = "`application/json` (also `text/json`, and assumed when `Content-Type` is \
            missing): one event object or an array of them. `application/x-ndjson` (also \
            `application/ndjson`, `application/jsonl`, `application/x-jsonlines`, \
            `application/jsonlines`): one event object per line, blank lines skipped. A `charset` \
            parameter, if any, must be `utf-8`. Optionally `Content-Encoding: gzip`. At most \
            `ingest.max_body_bytes` after decompression, `ingest.max_event_bytes` per event and \
            `ingest.max_events_per_request` events (never more than `ingest.queue_capacity`).",
        content(
            (crate::ingest::IngestBody = "application/json"),
            (String = "application/x-ndjson"),
        )
    ),
    responses(
        (status = 202, body = Accepted, description = "Every event is durably stored"),
        (status = 400, body = ErrorResponse, description = "malformed_body (not JSON or NDJSON, \
            not gzip, or the body could not be read), invalid_events (see `details`: \
            event_not_object, invalid_timestamp, invalid_field, malformed_body per event), \
            empty_batch; invalid_logsource (a malformed `product`, `category`, `service` or \
            `X-Vigilo-Logsource` (the header wins where both name a dimension), or an event's malformed `logsource` object, in \
            `details`); invalid_query (an unknown query parameter); nothing was stored"),
        (status = 413, body = ErrorResponse, description = "payload_too_large (the body passes \
            ingest.max_body_bytes, after decompression, or holds more events than \
            ingest.max_events_per_request or ingest.queue_capacity), event_too_large (an event \
            passes ingest.max_event_bytes; see `details`); nothing was stored"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type (`Content-Type` \
            is not a well-formed, supported media type, or names a charset other than utf-8), \
            unsupported_encoding (`Content-Encoding` other than gzip or identity)"),
        (status = 500, body = ErrorResponse, description = "storage_error, internal: server-side \
            faults only, never caused by the request"),
        (status = 503, body = ErrorResponse, description = "overloaded (the ingest queue is full, \
            or the decode budget ingest.decode_budget_bytes stays in use), shutting_down; \
            nothing was stored",
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    ))]
pub async fn ingest(
    state: State,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let cfg = &state.config.ingest;
    let (max_events, max_events_key) = cfg.events_per_request();
    let limits = Limits {
        max_body_bytes: cfg.max_body_bytes,
        max_event_bytes: cfg.max_event_bytes,
        max_events,
        max_events_key,
        retry_after_secs: cfg.retry_after_secs,
    };
    let decoded = async {
        // Media type, encoding and logsource first: a refused request
        // costs no body.
        let media = ingest::media(&headers)?;
        let source = ingest::request_logsource(query.as_deref(), &headers, &[])?;
        let logsource =
            ingest::LogsourceContext::new(source, state.config.logsources.rules.clone());
        let body = read_body(body, limits.max_body_bytes).await?;
        let budget = state.pipeline.decode_budget(cfg.decode_budget());
        let reservation = ingest::reserve(&budget, body.len(), &limits).await?;
        ingest::decode_request(media, body, limits, Utc::now(), logsource, reservation).await
    };
    let events = match decoded.await {
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
        Err(e) => Err(crate::ingest::refused(
            e,
            n,
            "request",
            cfg.retry_after_secs,
        )),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventParams {
    pub kind: Option<String>,
    pub service: Option<String>,
    pub user: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub from: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub to: Option<String>,
    /// Case-insensitive text search in the event's JSON text, taken
    /// literally (no wildcards); control characters match their JSON escape.
    pub q: Option<String>,
    /// Events whose logsource names this product (exact match).
    #[param(schema_with = params::logsource_value_schema)]
    pub product: Option<String>,
    /// Events whose logsource names this category (exact match).
    #[param(schema_with = params::logsource_value_schema)]
    pub category: Option<String>,
    /// Events whose logsource names this service (exact match; `service`
    /// filters the event's own `service` field).
    #[param(schema_with = params::logsource_value_schema)]
    pub logsource_service: Option<String>,
    #[param(schema_with = params::page_schema)]
    pub page: Option<u32>,
    #[param(schema_with = params::page_size_schema)]
    pub page_size: Option<u32>,
    /// Export every event the filters select instead of a page: `csv` or
    /// `ndjson` (also chosen by `Accept: text/csv` or `application/x-ndjson`).
    #[param(inline)]
    pub format: Option<ExportFormat>,
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

/// List stored events, newest event time first; or export every event the
/// filters select as CSV or NDJSON.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses(
        (status = 200, description = "A page of events (JSON), or with `format` (or an `Accept` \
            that prefers it) every selected event as an attachment: CSV with the columns id, \
            timestamp, received_at, kind, service, user, payload (the payload as JSON text), \
            product, category, logsource_service (the event's logsource), or \
            NDJSON, one event per line",
            content(
                (EventPage = "application/json"),
                (String = "text/csv"),
                (String = "application/x-ndjson"),
            ),
            headers(("Content-Disposition" = String, description = "With an export: `attachment; filename=\"events-<UTC time>.csv\"` (or `.ndjson`)"))),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed, unknown, or `from` is after `to`"),
        (status = 500, body = ErrorResponse, description = "storage_error: a server-side fault, never caused by the request")))]
pub async fn list(
    state: State,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<EventParams>,
) -> ApiResult<Response> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let (from, to) = params::time_bounds(p.from.as_deref(), p.to.as_deref())?;
    let logsource = vigilo_core::Logsource {
        product: p.product,
        category: p.category,
        service: p.logsource_service,
    };
    logsource.check("").map_err(|why| {
        ApiError::new(
            ErrorCode::InvalidQuery,
            format!(
                "query parameter {}",
                why.replace("`service`", "`logsource_service`")
            ),
        )
    })?;
    let q = EventQuery {
        kind: p.kind,
        service: p.service,
        user: p.user,
        from,
        to,
        q: p.q.filter(|s| !s.is_empty()),
        logsource,
        page,
        page_size,
    };
    if let Some(format) = export::negotiate(p.format, &headers) {
        let storage = state.storage.clone();
        return export::export(
            format,
            "events",
            move |after| {
                let storage = storage.clone();
                let q = q.clone();
                Box::pin(async move { storage.scan_events(&q, after, export::PAGE_ROWS).await })
            },
            |e: &Event| Cursor {
                time: e.timestamp,
                id: e.id,
            },
        )
        .await;
    }
    let page: EventPage = state.storage.list_events(&q).await?.into();
    Ok(Json(page).into_response())
}

impl ExportRow for Event {
    fn columns() -> &'static [&'static str] {
        &[
            "id",
            "timestamp",
            "received_at",
            "kind",
            "service",
            "user",
            "payload",
            "product",
            "category",
            "logsource_service",
        ]
    }

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Int(self.id),
            Cell::Time(self.timestamp),
            Cell::Time(self.received_at),
            Cell::from(self.kind.as_str()),
            Cell::from(self.service.as_deref()),
            Cell::from(self.user.as_deref()),
            Cell::Text(Cow::Owned(
                serde_json::to_string(&self.payload).unwrap_or_default(),
            )),
            Cell::from(self.logsource.product.as_deref()),
            Cell::from(self.logsource.category.as_deref()),
            Cell::from(self.logsource.service.as_deref()),
        ]
    }
}

/// One stored event.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = i64, Path, description = "Event id")),
    responses((status = 200, body = Event), (status = 404, body = ErrorResponse, description = "not_found")))]
pub async fn get_one(state: State, Path(id): Path<String>) -> ApiResult<Json<Event>> {
    let id = path_id("event", &id)?;
    state
        .storage
        .get_event(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("event", id))
}

/// Buffer a request body up to `limit` bytes; past it, `payload_too_large`
/// (at once, unread, when `Content-Length` already says so). A body that
/// cannot be read (a broken chunked encoding, a dropped connection) is
/// `malformed_body`.
pub async fn read_body(body: axum::body::Body, limit: usize) -> ApiResult<Bytes> {
    use axum::body::HttpBody;
    use futures_util::StreamExt;

    let unreadable = |e: axum::Error| {
        ApiError::new(
            ErrorCode::MalformedBody,
            format!("request body could not be read: {e}"),
        )
    };
    let hint = body.size_hint();
    if usize::try_from(hint.lower()).map_or(true, |n| n > limit) {
        return Err(ingest::too_large(limit));
    }
    let expected = hint
        .exact()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    let mut stream = body.into_data_stream();
    let Some(first) = stream.next().await else {
        return Ok(Bytes::new());
    };
    let first = first.map_err(unreadable)?;
    let mut buf = match stream.next().await {
        // The common case: one frame, kept without a copy.
        None if first.len() <= limit => return Ok(first),
        None => return Err(ingest::too_large(limit)),
        Some(next) => {
            let next = next.map_err(unreadable)?;
            let mut buf = Vec::with_capacity(expected.max(first.len() + next.len()).min(limit));
            buf.extend_from_slice(&first);
            buf.extend_from_slice(&next);
            buf
        }
    };
    if buf.len() > limit {
        return Err(ingest::too_large(limit));
    }
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(unreadable)?;
        if buf.len() + chunk.len() > limit {
            return Err(ingest::too_large(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}
