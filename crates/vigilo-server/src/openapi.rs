//! The OpenAPI 3.1 document, generated from the handlers, and the bundled
//! Swagger UI at `/docs` (served from the binary; no network needed).

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa::OpenApi;

use crate::api::{events, findings, health, iam, rules, stats};
use crate::error::{ErrorBody, ErrorDetail, ErrorResponse};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigilo",
        description = "Real-time compliance and anomaly monitoring. Errors are `{\"error\": {\"code\", \"message\", \"details\"?}}` with a stable snake_case code.",
    ),
    paths(
        health::healthz, health::readyz, health::metrics,
        events::ingest, events::list, events::get_one,
        findings::list, findings::get_one, findings::update,
        stats::summary, stats::overview, stats::timeline, stats::services,
        rules::list, rules::test, rules::reload,
        iam::create, iam::list, iam::get_one, iam::seed_audit,
    ),
    components(schemas(ErrorResponse, ErrorBody, ErrorDetail, stats::Bucket, findings::SortKey, findings::Order, crate::schema::EventInput)),
    tags(
        (name = "events", description = "Ingest and browse events"),
        (name = "findings", description = "Incidents detected by rules and audits"),
        (name = "stats", description = "Summary cards"),
        (name = "dashboard", description = "Dashboard aggregates from rollups"),
        (name = "rules", description = "Sigma rules"),
        (name = "iam", description = "IAM audits"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

static SPEC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json")));

/// The OpenAPI document.
pub async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(SPEC.clone())
}

pub async fn docs_redirect() -> Redirect {
    Redirect::permanent("/docs/")
}

pub async fn docs_index() -> Response {
    swagger_file("")
}

pub async fn docs_asset(Path(file): Path<String>) -> Response {
    swagger_file(&file)
}

fn swagger_file(path: &str) -> Response {
    match utoipa_swagger_ui::serve(path, SWAGGER.clone()) {
        Ok(Some(file)) => {
            let mut resp = (
                [(header::CONTENT_TYPE, file.content_type)],
                file.bytes.into_owned(),
            )
                .into_response();
            if file.gzpipped {
                resp.headers_mut().insert(
                    header::CONTENT_ENCODING,
                    header::HeaderValue::from_static("gzip"),
                );
            }
            resp
        }
        Ok(None) => crate::error::ApiError::new(
            vigilo_core::ErrorCode::RouteNotFound,
            format!("no documentation file `{path}`"),
        )
        .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
