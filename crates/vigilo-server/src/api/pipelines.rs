//! The pipeline hub's routes.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::ErrorCode;

use super::{ApiJson, ApiQuery, State};
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::hub::{HubError, PipelineView, UpdateView};

/// Largest status report accepted, in bytes of JSON.
pub const MAX_REPORT_BYTES: usize = 64 * 1024;

#[derive(Serialize, ToSchema)]
pub struct PipelineList {
    pub items: Vec<PipelineView>,
    pub total: usize,
}

/// Every pipeline: the configured topics, Vigilo's stages and every agent
/// that reported, by name, each with its latest status, recent history and
/// throughput.
#[utoipa::path(get, path = "/api/v1/pipelines", tag = "pipelines",
    responses((status = 200, body = PipelineList)))]
pub async fn list(state: State) -> Json<PipelineList> {
    let items = state.hub.list();
    Json(PipelineList {
        total: items.len(),
        items,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Reports of history to return, newest first: 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One pipeline with its stored history, newest first.
#[utoipa::path(get, path = "/api/v1/pipelines/{name}", tag = "pipelines",
    params(("name" = String, Path, description = "Pipeline name"), HistoryParams),
    responses((status = 200, body = PipelineView),
        (status = 400, body = ErrorResponse, description = "invalid_query: `limit` is out of range"),
        (status = 404, body = ErrorResponse, description = "not_found: no such pipeline")))]
pub async fn get_one(
    state: State,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<HistoryParams>,
) -> ApiResult<Json<PipelineView>> {
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::query(format!(
            "query parameter `limit` must be between 1 and 1000, got {limit}"
        )));
    }
    state
        .hub
        .get(&name, limit)
        .await
        .map_err(hub_error)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("pipeline", &name))
}

/// A status report: the envelope of a pipeline dashboard hub.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"status": "done", "pipeline": "iam.pipeline", "high": 2, "medium": 1}))]
pub struct Report {
    /// `running`, `done`, `success` or `error`.
    #[schema(pattern = "^(running|done|success|error)$")]
    pub status: String,
    /// The pipeline's name; if present it must equal the path's.
    pub pipeline: Option<String>,
    /// Any other keys (results, counts, messages) are kept as sent.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extra: Map<String, Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Recorded {
    pub pipeline: String,
    pub status: String,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

/// Record a pipeline's status report and broadcast it live as
/// `pipeline_update`. Unknown pipelines are created, unless the hub is
/// restricted to its configured list.
#[utoipa::path(post, path = "/api/v1/pipelines/{name}/events", tag = "pipelines",
    params(("name" = String, Path, pattern = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$", description = "Pipeline name: 1 to 128 letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit")),
    request_body = Report,
    responses((status = 202, body = Recorded),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request: `status` missing or unknown, `pipeline` differs from the path, or a bad name"),
        (status = 404, body = ErrorResponse, description = "not_found: the hub is restricted and does not list this pipeline"),
        (status = 413, body = ErrorResponse, description = "payload_too_large: more than 64 KiB"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn report(
    state: State,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Recorded>)> {
    let Value::Object(body) = body else {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "body must be a JSON object with a `status`",
        ));
    };
    let size = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
    if size > MAX_REPORT_BYTES {
        return Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("status report is {size} bytes, more than {MAX_REPORT_BYTES}"),
        ));
    }
    let u: UpdateView = state.hub.report(&name, body).await.map_err(hub_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Recorded {
            pipeline: name,
            status: u.status,
            received_at: u.received_at,
        }),
    ))
}

fn hub_error(e: HubError) -> ApiError {
    match e {
        HubError::Unknown(name) => ApiError::new(
            ErrorCode::NotFound,
            format!(
                "pipeline `{name}` is not configured (the hub is restricted to `pipelines.names`)"
            ),
        ),
        HubError::Invalid(m) => ApiError::new(ErrorCode::InvalidRequest, m),
        HubError::Storage(e) => e.into(),
    }
}
