use axum::Json;
use axum::extract::Path;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{ErrorCode, Event, Finding, FindingStatus, Severity};
use vigilo_storage::{FindingPatch, FindingQuery, Page};

use super::{ApiJson, ApiQuery, State, paging, path_id, time_param};
use crate::error::{ApiError, ApiResult, ErrorResponse};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingParams {
    pub severity: Option<Severity>,
    pub status: Option<FindingStatus>,
    pub rule_id: Option<String>,
    pub user: Option<String>,
    pub service: Option<String>,
    /// Findings still active at or after this time (last_seen ≥ from).
    pub from: Option<String>,
    /// Findings that began before this time (first_seen < to).
    pub to: Option<String>,
    pub page: Option<u32>,
    /// 1..=500, default 50.
    pub page_size: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct FindingPage {
    pub items: Vec<Finding>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

impl From<Page<Finding>> for FindingPage {
    fn from(p: Page<Finding>) -> Self {
        FindingPage {
            items: p.items,
            total: p.total,
            page: p.page,
            page_size: p.page_size,
        }
    }
}

/// List findings, most recently active first.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings", params(FindingParams),
    responses((status = 200, body = FindingPage), (status = 400, body = ErrorResponse)))]
pub async fn list(
    state: State,
    ApiQuery(p): ApiQuery<FindingParams>,
) -> ApiResult<Json<FindingPage>> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let q = FindingQuery {
        severity: p.severity,
        status: p.status,
        rule_id: p.rule_id,
        user: p.user,
        service: p.service,
        from: time_param("from", p.from.as_deref())?,
        to: time_param("to", p.to.as_deref())?,
        page,
        page_size,
    };
    Ok(Json(state.storage.list_findings(&q).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct FindingDetail {
    #[serde(flatten)]
    pub finding: Finding,
    /// The evidence events themselves, in id order.
    pub evidence_events: Vec<Event>,
}

/// One finding with its evidence events.
#[utoipa::path(get, path = "/api/v1/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "Finding id")),
    responses((status = 200, body = FindingDetail), (status = 404, body = ErrorResponse)))]
pub async fn get_one(state: State, Path(id): Path<String>) -> ApiResult<Json<FindingDetail>> {
    let id = path_id("finding", &id)?;
    let finding = state
        .storage
        .get_finding(id)
        .await?
        .ok_or_else(|| ApiError::not_found("finding", id))?;
    let evidence_events = state.storage.get_events(&finding.evidence).await?;
    Ok(Json(FindingDetail {
        finding,
        evidence_events,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingUpdate {
    pub status: Option<FindingStatus>,
    /// Analyst note; an empty string clears it.
    pub note: Option<String>,
}

/// Largest note accepted, in bytes.
const MAX_NOTE_BYTES: usize = 16 * 1024;

/// Change a finding's status and/or note.
#[utoipa::path(patch, path = "/api/v1/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "Finding id")),
    request_body = FindingUpdate,
    responses((status = 200, body = Finding), (status = 400, body = ErrorResponse),
        (status = 404, body = ErrorResponse)))]
pub async fn update(
    state: State,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FindingUpdate>,
) -> ApiResult<Json<Finding>> {
    let id = path_id("finding", &id)?;
    if body.status.is_none() && body.note.is_none() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "body must set `status` or `note`",
        ));
    }
    if body.note.as_ref().is_some_and(|n| n.len() > MAX_NOTE_BYTES) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("field `note` is longer than {MAX_NOTE_BYTES} bytes"),
        ));
    }
    let patch = FindingPatch {
        status: body.status,
        note: body.note,
    };
    state
        .storage
        .update_finding(id, patch, Utc::now())
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("finding", id))
}
