//! HTTP handlers, one module per resource, and the route table.

pub mod events;
pub mod findings;
pub mod health;
pub mod iam;
pub mod rules;
pub mod stats;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use vigilo_core::ErrorCode;

use crate::auth::Permission::*;
use crate::error::ApiError;
use crate::server::{Routes, SharedState};

/// Ingest requests decoded at once; more wait for a slot.
pub const MAX_CONCURRENT_INGEST: usize = 64;

/// Every route, with the permission it requires.
pub fn routes() -> Routes {
    Routes::new()
        .add("GET", "/healthz", Public, get(health::healthz))
        .add("GET", "/readyz", Public, get(health::readyz))
        .add("GET", "/metrics", Public, get(health::metrics))
        .add(
            "GET",
            "/api/openapi.json",
            Public,
            get(crate::openapi::spec),
        )
        .add("GET", "/docs", Public, get(crate::openapi::docs_redirect))
        .add("GET", "/docs/", Public, get(crate::openapi::docs_index))
        .add(
            "GET",
            "/docs/{*file}",
            Public,
            get(crate::openapi::docs_asset),
        )
        .add(
            "POST",
            "/api/v1/events",
            EventsWrite,
            // Bodies are buffered in the handler: bound how many at once, so
            // memory stays bounded however many clients connect.
            post(events::ingest).layer(tower::limit::ConcurrencyLimitLayer::new(
                MAX_CONCURRENT_INGEST,
            )),
        )
        .add("GET", "/api/v1/events", EventsRead, get(events::list))
        .add(
            "GET",
            "/api/v1/events/{id}",
            EventsRead,
            get(events::get_one),
        )
        .add("GET", "/api/v1/findings", FindingsRead, get(findings::list))
        .add(
            "GET",
            "/api/v1/findings/{id}",
            FindingsRead,
            get(findings::get_one),
        )
        .add(
            "PATCH",
            "/api/v1/findings/{id}",
            FindingsWrite,
            patch(findings::update),
        )
        .add(
            "GET",
            "/api/v1/stats/summary",
            FindingsRead,
            get(stats::summary),
        )
        .add(
            "GET",
            "/api/v1/dashboard/overview",
            FindingsRead,
            get(stats::overview),
        )
        .add(
            "GET",
            "/api/v1/dashboard/timeline",
            FindingsRead,
            get(stats::timeline),
        )
        .add(
            "GET",
            "/api/v1/dashboard/services",
            FindingsRead,
            get(stats::services),
        )
        .add("GET", "/api/v1/rules", RulesRead, get(rules::list))
        .add("POST", "/api/v1/rules/test", RulesRead, post(rules::test))
        .add(
            "POST",
            "/api/v1/rules/reload",
            RulesManage,
            post(rules::reload),
        )
        .add("POST", "/api/v1/iam/audits", IamAudit, post(iam::create))
        .add("GET", "/api/v1/iam/audits", IamRead, get(iam::list))
        .add("GET", "/api/v1/iam/audits/{id}", IamRead, get(iam::get_one))
        .add("POST", "/audit-iam", IamAudit, post(iam::seed_audit))
}

/// `Query` whose rejection is a JSON `invalid_query` error naming the field.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(ApiQuery(q.0)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    let text = e.body_text();
    let text = text
        .strip_prefix("Failed to deserialize query string: ")
        .unwrap_or(&text);
    ApiError::query(format!("invalid query parameter: {text}"))
}

/// `Json` whose rejection is a JSON `invalid_request` error naming the field.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(j) => Ok(ApiJson(j.0)),
            Err(e) => Err(json_rejection(e)),
        }
    }
}

fn json_rejection(e: JsonRejection) -> ApiError {
    match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "header `content-type` must be application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            ErrorCode::MalformedBody,
            format!("body is not valid JSON: {}", e.body_text()),
        ),
        other if other.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
        }
        other => ApiError::new(ErrorCode::InvalidRequest, other.body_text()),
    }
}

/// Parse an optional time query parameter (RFC 3339 or epoch s/ms).
pub fn time_param(field: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match v {
        None | Some("") => Ok(None),
        Some(s) => {
            let value = match s.parse::<f64>() {
                Ok(n) if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') => {
                    serde_json::Number::from_f64(n).map(serde_json::Value::Number)
                }
                _ => None,
            }
            .unwrap_or_else(|| serde_json::Value::String(s.to_string()));
            vigilo_core::normalize::parse_timestamp(&value)
                .map(Some)
                .map_err(|why| ApiError::query(format!("query parameter `{field}` {why}")))
        }
    }
}

/// Validate `page` (≥ 1, default 1) and `page_size` (1..=500, default 50).
pub fn paging(page: Option<u32>, page_size: Option<u32>) -> Result<(u32, u32), ApiError> {
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::query("query parameter `page` must be 1 or more"));
    }
    let size = page_size.unwrap_or(50);
    if size == 0 || size > vigilo_storage::MAX_PAGE_SIZE {
        return Err(ApiError::query(format!(
            "query parameter `page_size` must be between 1 and {}",
            vigilo_storage::MAX_PAGE_SIZE
        )));
    }
    Ok((page, size))
}

/// A path id; anything but an integer is simply not found.
pub fn path_id(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .map_err(|_| ApiError::not_found(what, raw))
}

pub type State = axum::extract::State<SharedState>;
