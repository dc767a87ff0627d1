use axum::Json;
use axum::extract::Path;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{ErrorCode, Event, Finding, FindingStatus};
use vigilo_storage::{FindingPatch, FindingQuery, FindingSort, Page, SortOrder};

use super::{ApiJson, ApiQuery, State, paging, params, path_id};
use crate::error::{ApiError, ApiResult, ErrorResponse};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FindingParams {
    #[param(schema_with = params::severity_list_schema, style = Form, explode = false)]
    pub severity: Option<String>,
    #[param(schema_with = params::status_list_schema, style = Form, explode = false)]
    pub status: Option<String>,
    /// A rule id, or a prefix of rule ids followed by `*` (`iam.*`).
    pub rule_id: Option<String>,
    pub user: Option<String>,
    pub service: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub from: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub to: Option<String>,
    /// Sort key (default `last_seen`); ties go to the most recently active.
    pub sort: Option<SortKey>,
    /// `desc` (default: newest, most severe, riskiest first) or `asc`.
    pub order: Option<Order>,
    #[param(schema_with = params::page_schema)]
    pub page: Option<u32>,
    #[param(schema_with = params::page_size_schema)]
    pub page_size: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    LastSeen,
    FirstSeen,
    Severity,
    RiskScore,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Desc,
    Asc,
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

/// List findings, most recently active first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings", params(FindingParams),
    responses((status = 200, body = FindingPage),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed, unknown, or `from` is after `to`")))]
pub async fn list(
    state: State,
    ApiQuery(p): ApiQuery<FindingParams>,
) -> ApiResult<Json<FindingPage>> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let (from, to) = params::time_bounds(p.from.as_deref(), p.to.as_deref())?;
    let q = FindingQuery {
        severity: params::enum_list("severity", p.severity.as_deref())?,
        status: params::enum_list("status", p.status.as_deref())?,
        rule_id: params::rule_id_filter(p.rule_id),
        user: p.user,
        service: p.service,
        from,
        to,
        sort: match p.sort.unwrap_or(SortKey::LastSeen) {
            SortKey::LastSeen => FindingSort::LastSeen,
            SortKey::FirstSeen => FindingSort::FirstSeen,
            SortKey::Severity => FindingSort::Severity,
            SortKey::RiskScore => FindingSort::Risk,
        },
        order: match p.order.unwrap_or(Order::Desc) {
            Order::Desc => SortOrder::Desc,
            Order::Asc => SortOrder::Asc,
        },
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
    responses((status = 200, body = FindingDetail), (status = 404, body = ErrorResponse, description = "not_found")))]
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

/// At least one of the fields; `null` is not a value (leave a field out to
/// keep it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"status": "acknowledged", "note": "looking into it"}))]
pub struct FindingUpdate {
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub status: Option<FindingStatus>,
    /// Analyst note, at most 16,384 characters; an empty string clears it.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_length = 16384)]
    pub note: Option<String>,
}

/// Longest note accepted, in characters.
const MAX_NOTE_CHARS: usize = 16 * 1024;

/// Change a finding's status and/or note.
#[utoipa::path(patch, path = "/api/v1/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "Finding id")),
    request_body = FindingUpdate,
    responses((status = 200, body = Finding),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (no field set, unknown field, note too long)"),
        (status = 404, body = ErrorResponse, description = "not_found"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
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
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("field `note` is longer than {MAX_NOTE_CHARS} characters"),
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
