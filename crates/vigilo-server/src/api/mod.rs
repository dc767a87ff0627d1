//! HTTP handlers, one module per resource, and the route table.

pub mod actor;
pub mod compliance;
pub mod dead_letters;
pub mod enrichment;
pub mod events;
pub mod export;
pub mod findings;
pub mod health;
pub mod iam;
pub mod ingest_ws;
pub mod metrics;
pub mod params;
pub mod pipelines;
pub mod rules;
pub mod stats;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{delete, get, patch, post, put};
use serde::de::DeserializeOwned;
use vigilo_core::ErrorCode;

use crate::auth;
use crate::auth::Permission::*;
use crate::error::ApiError;
use crate::server::{Routes, SharedState};

pub use params::paging;

/// Ingest requests decoded at once; more wait for a slot.
pub const MAX_CONCURRENT_INGEST: usize = 64;

/// Every route, with the permission it requires.
pub fn routes() -> Routes {
    Routes::new()
        .add("GET", "/healthz", Public, get(health::healthz))
        .add("GET", "/readyz", Public, get(health::readyz))
        .add("GET", "/metrics", Metrics, get(health::metrics))
        .add("GET", "/api/openapi.json", Docs, get(crate::openapi::spec))
        .add("GET", "/docs", Docs, get(crate::openapi::docs_redirect))
        .add("GET", "/docs/", Docs, get(crate::openapi::docs_index))
        .add(
            "GET",
            "/docs/{*file}",
            Docs,
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
        .add(
            "GET",
            "/api/v1/ingest/ws",
            EventsWrite,
            get(ingest_ws::ingest),
        )
        .add(
            "GET",
            "/ws/ingest",
            EventsWrite,
            get(ingest_ws::dashboard_ingest),
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
            "/api/v1/findings/groups",
            FindingsRead,
            get(findings::groups),
        )
        .add(
            "POST",
            "/api/v1/findings/bulk",
            FindingsWrite,
            post(findings::bulk),
        )
        .add(
            "POST",
            "/api/v1/findings/enrich",
            FindingsWrite,
            post(enrichment::enrich_bulk),
        )
        .add(
            "POST",
            "/api/v1/findings/{id}/enrich",
            FindingsWrite,
            post(enrichment::enrich_one),
        )
        .add(
            "GET",
            "/api/v1/findings/{id}/enrichments",
            FindingsRead,
            get(enrichment::list),
        )
        .add(
            "GET",
            "/api/v1/findings/{id}/history",
            FindingsRead,
            get(findings::history),
        )
        .add(
            "POST",
            "/api/v1/findings/{id}/notes",
            FindingsWrite,
            post(findings::add_note),
        )
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
        .add(
            "PATCH",
            "/api/v1/rules/{rule_id}",
            RulesManage,
            patch(rules::update),
        )
        .add("POST", "/api/v1/rules/test", RulesRead, post(rules::test))
        .add(
            "POST",
            "/api/v1/rules/reload",
            RulesManage,
            post(rules::reload),
        )
        .add(
            "GET",
            "/api/v1/compliance/frameworks",
            FindingsRead,
            get(compliance::frameworks),
        )
        .add(
            "GET",
            "/api/v1/compliance/controls",
            FindingsRead,
            get(compliance::controls),
        )
        .add(
            "GET",
            "/api/v1/compliance/controls/{id}",
            FindingsRead,
            get(compliance::control),
        )
        .add(
            "GET",
            "/api/v1/compliance/export",
            FindingsRead,
            get(compliance::export),
        )
        .add("POST", "/api/v1/iam/audits", IamAudit, post(iam::create))
        .add("GET", "/api/v1/iam/audits", IamRead, get(iam::list))
        .add("GET", "/api/v1/iam/audits/{id}", IamRead, get(iam::get_one))
        .add(
            "GET",
            "/api/v1/metrics/series",
            EventsRead,
            get(metrics::series),
        )
        .add(
            "GET",
            "/api/v1/metrics/fields",
            EventsRead,
            get(metrics::fields),
        )
        .add("POST", "/audit-iam", IamAudit, post(iam::seed_audit))
        .add(
            "GET",
            "/api/v1/pipelines",
            PipelinesRead,
            get(pipelines::list),
        )
        .add(
            "GET",
            "/api/v1/pipelines/{name}",
            PipelinesRead,
            get(pipelines::get_one),
        )
        .add(
            "POST",
            "/api/v1/pipelines/{name}/events",
            PipelinesWrite,
            post(pipelines::report),
        )
        .add(
            "POST",
            "/api/v1/archive/replay",
            RulesManage,
            post(crate::connectors::archive::replay::replay_route),
        )
        .add(
            "GET",
            "/api/v1/dead-letters",
            EventsRead,
            get(dead_letters::list),
        )
        .add(
            "GET",
            "/api/v1/alerts/notifications",
            FindingsRead,
            get(crate::alerts::api::list_notifications),
        )
        .add(
            "GET",
            "/api/v1/alerts/notifications/{id}",
            FindingsRead,
            get(crate::alerts::api::get_notification),
        )
        .add(
            "GET",
            "/api/v1/findings/{id}/notifications",
            FindingsRead,
            get(crate::alerts::api::finding_notifications),
        )
        .add(
            "GET",
            "/api/v1/alerts/receivers",
            FindingsRead,
            get(crate::alerts::api::list_receivers),
        )
        .add(
            "POST",
            "/api/v1/alerts/receivers/{name}/test",
            FindingsWrite,
            post(crate::alerts::api::test_receiver),
        )
        .add(
            "GET",
            "/api/v1/alerts/routes",
            FindingsRead,
            get(crate::alerts::api::list_routes),
        )
        .add(
            "GET",
            "/api/v1/alerts/silences",
            FindingsRead,
            get(crate::alerts::api::list_silences),
        )
        .add(
            "POST",
            "/api/v1/alerts/silences",
            FindingsWrite,
            post(crate::alerts::api::create_silence),
        )
        .add(
            "GET",
            "/api/v1/alerts/silences/{id}",
            FindingsRead,
            get(crate::alerts::api::get_silence),
        )
        .add(
            "DELETE",
            "/api/v1/alerts/silences/{id}",
            FindingsWrite,
            delete(crate::alerts::api::expire_silence),
        )
        .add(
            "GET",
            "/api/v1/auth/config",
            Public,
            get(auth::routes::settings),
        )
        .add(
            "POST",
            "/api/v1/auth/login",
            Public,
            post(auth::routes::login),
        )
        .add(
            "POST",
            "/api/v1/auth/refresh",
            Public,
            post(auth::routes::refresh),
        )
        .add(
            "POST",
            "/api/v1/auth/logout",
            Authenticated,
            post(auth::routes::logout),
        )
        .add(
            "POST",
            "/api/v1/auth/setup",
            Public,
            post(auth::routes::setup),
        )
        .add(
            "GET",
            "/api/v1/auth/me",
            Authenticated,
            get(auth::routes::me),
        )
        .add(
            "GET",
            "/api/v1/auth/me/preferences",
            Preferences,
            get(auth::routes::get_preferences),
        )
        .add(
            "PUT",
            "/api/v1/auth/me/preferences",
            Preferences,
            put(auth::routes::put_preferences),
        )
        .add(
            "GET",
            "/api/v1/auth/oidc/{provider}/login",
            Public,
            get(auth::oidc::login),
        )
        .add(
            "GET",
            "/api/v1/auth/oidc/{provider}/callback",
            Public,
            get(auth::oidc::callback),
        )
        .add(
            "GET",
            "/api/v1/users",
            UsersManage,
            get(auth::admin::list_users),
        )
        .add(
            "POST",
            "/api/v1/users",
            UsersManage,
            post(auth::admin::create_user),
        )
        .add(
            "PATCH",
            "/api/v1/users/{id}",
            UsersManage,
            patch(auth::admin::update_user),
        )
        .add(
            "GET",
            "/api/v1/api-keys",
            UsersManage,
            get(auth::admin::list_keys),
        )
        .add(
            "POST",
            "/api/v1/api-keys",
            UsersManage,
            post(auth::admin::create_key),
        )
        .add(
            "DELETE",
            "/api/v1/api-keys/{id}",
            UsersManage,
            delete(auth::admin::revoke_key),
        )
        .add(
            "GET",
            "/api/v1/audit-log",
            AuditRead,
            get(auth::admin::audit_log),
        )
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

/// `deserialize_with` for an optional body field that, when present, must
/// hold a value: `null` is refused instead of read as absent, as the
/// OpenAPI document (non-nullable, optional) says.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// A path id; anything but an integer is simply not found.
pub fn path_id(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .map_err(|_| ApiError::not_found(what, raw))
}

pub type State = axum::extract::State<SharedState>;
