use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::finding::{CloseReason, FindingHistory};
use vigilo_core::{ErrorCode, Event, Finding, FindingStatus, Severity};
use vigilo_storage::{
    AssigneeFilter, BulkTarget, FindingPatch, FindingQuery, FindingSort, GroupBy, Page, SortOrder,
    StorageError,
};

use super::actor::Actor;
use super::export::{self, Cell, ExportFormat, ExportRow};
use super::{ApiJson, ApiQuery, State, paging, params, path_id};
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::pipeline::LiveUpdate;

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
    /// Findings assigned to this analyst, exactly; `none`: unassigned ones.
    #[param(min_length = 1, max_length = 128)]
    pub assignee: Option<String>,
    /// Findings with this workflow tag or rule tag, exactly.
    #[param(min_length = 1, max_length = 64)]
    pub tag: Option<String>,
    /// Case-insensitive text in the rule title, description, rule id, group
    /// values, user, service or note.
    #[param(min_length = 1, max_length = 256)]
    pub q: Option<String>,
    /// Findings whose risk score is at least this (0 to 100).
    #[param(minimum = 0, maximum = 100)]
    pub risk_min: Option<u8>,
    /// Findings whose risk score is at most this (0 to 100).
    #[param(minimum = 0, maximum = 100)]
    pub risk_max: Option<u8>,
    /// Findings scored by this, exactly: `heuristic` or a model's name.
    #[param(min_length = 1, max_length = 128)]
    pub enriched_by: Option<String>,
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
    /// Export every finding the filters select instead of a page, in id
    /// order: `csv` or `ndjson` (also chosen by `Accept: text/csv` or
    /// `application/x-ndjson`); `page`, `page_size`, `sort` and `order` are
    /// then ignored.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// The list's filters, however they arrived: the query string of the
/// list, groups and exports, or the `filter` of a bulk update. One parser
/// for all of them ([`Filters::query`]).
#[derive(Debug, Default)]
pub struct Filters {
    pub severity: Vec<Severity>,
    pub status: Vec<FindingStatus>,
    pub rule_id: Option<String>,
    pub user: Option<String>,
    pub service: Option<String>,
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub q: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Where filters came from, for the errors that name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Query parameters: `invalid_query` naming the parameter.
    Query,
    /// A bulk body's `filter`: `invalid_request` naming `filter.<field>`.
    BulkFilter,
}

impl Origin {
    fn error(self, field: &str, what: &str) -> ApiError {
        match self {
            Origin::Query => ApiError::query(format!("query parameter `{field}` {what}")),
            Origin::BulkFilter => ApiError::new(
                ErrorCode::InvalidRequest,
                format!("field `filter.{field}` {what}"),
            ),
        }
    }

    /// An error of the shared parameter parsers, said of this origin.
    fn restate(self, e: ApiError) -> ApiError {
        match self {
            Origin::Query => e,
            Origin::BulkFilter => ApiError::new(
                ErrorCode::InvalidRequest,
                e.message.replace("query parameter `", "field `filter."),
            ),
        }
    }
}

/// An optional text filter of 1 to `max` characters.
fn bounded(
    origin: Origin,
    field: &str,
    v: Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match v {
        Some(t) if t.is_empty() || t.chars().count() > max => Err(origin.error(
            field,
            &format!("must be 1 to {max} characters (leave it out to mean any)"),
        )),
        other => Ok(other),
    }
}

impl Filters {
    /// From the list's query parameters (comma-separated lists).
    pub fn from_params(p: &FindingParams) -> Result<Filters, ApiError> {
        Ok(Filters {
            severity: params::enum_list("severity", p.severity.as_deref())?,
            status: params::enum_list("status", p.status.as_deref())?,
            rule_id: p.rule_id.clone(),
            user: p.user.clone(),
            service: p.service.clone(),
            assignee: p.assignee.clone(),
            tag: p.tag.clone(),
            q: p.q.clone(),
            from: p.from.clone(),
            to: p.to.clone(),
        })
    }

    /// The storage query (first page of 50, default order).
    pub fn query(self, origin: Origin) -> Result<FindingQuery, ApiError> {
        let (from, to) = params::time_bounds(self.from.as_deref(), self.to.as_deref())
            .map_err(|e| origin.restate(e))?;
        let assignee = bounded(origin, "assignee", self.assignee, MAX_ASSIGNEE_CHARS)?.map(|a| {
            if a == "none" {
                AssigneeFilter::Unassigned
            } else {
                AssigneeFilter::Name(a)
            }
        });
        Ok(FindingQuery {
            severity: self.severity,
            status: self.status,
            rule_id: params::rule_id_filter(self.rule_id),
            user: self.user,
            service: self.service,
            from,
            to,
            assignee,
            tag: bounded(origin, "tag", self.tag, MAX_TAG_CHARS)?,
            q: bounded(origin, "q", self.q, MAX_Q_CHARS)?,
            page: 1,
            page_size: 50,
            ..FindingQuery::default()
        })
    }
}

/// Longest assignee, in characters.
const MAX_ASSIGNEE_CHARS: usize = 128;
/// Longest workflow tag, in characters.
const MAX_TAG_CHARS: usize = 64;
/// Longest `q`, in characters.
const MAX_Q_CHARS: usize = 256;
/// Most tags one field of a change lists.
const MAX_TAGS: usize = 100;

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    LastSeen,
    FirstSeen,
    Severity,
    RiskScore,
    /// When the finding was last enriched (at creation if never).
    EnrichedAt,
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

/// List findings, most recently active first unless `sort` says otherwise;
/// or export every finding the filters select as CSV or NDJSON.
#[utoipa::path(get, path = "/api/v1/findings", tag = "findings", params(FindingParams),
    responses(
        (status = 200, description = "A page of findings (JSON), or with `format` (or an `Accept` \
            that prefers it) every selected finding, in id order, as an attachment: CSV with the \
            columns id, rule_id, rule_title, severity, status, risk_score, service, user, group \
            (JSON text), first_seen, last_seen, event_count, assignee, workflow_tags (comma-joined), \
            close_reason, note, tags (comma-joined), description, explanation, created_at, \
            updated_at; or NDJSON, one finding (as in the JSON page, evidence ids included) per line",
            content(
                (FindingPage = "application/json"),
                (String = "text/csv"),
                (String = "application/x-ndjson"),
            ),
            headers(("Content-Disposition" = String, description = "With an export: `attachment; filename=\"findings-<UTC time>.csv\"` (or `.ndjson`)"))),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed, unknown, or `from` is after `to`")))]
pub async fn list(
    state: State,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<FindingParams>,
) -> ApiResult<Response> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let mut q = Filters::from_params(&p)?.query(Origin::Query)?;
    q.sort = match p.sort.unwrap_or(SortKey::LastSeen) {
        SortKey::LastSeen => FindingSort::LastSeen,
        SortKey::FirstSeen => FindingSort::FirstSeen,
        SortKey::Severity => FindingSort::Severity,
        SortKey::RiskScore => FindingSort::Risk,
        SortKey::EnrichedAt => FindingSort::EnrichedAt,
    };
    for (name, v) in [("risk_min", p.risk_min), ("risk_max", p.risk_max)] {
        if v.is_some_and(|v| v > 100) {
            return Err(ApiError::query(format!(
                "query parameter `{name}` must be 0 to 100"
            )));
        }
    }
    q.risk_min = p.risk_min;
    q.risk_max = p.risk_max;
    q.enriched_by = bounded(Origin::Query, "enriched_by", p.enriched_by.clone(), 128)?;
    q.order = match p.order.unwrap_or(Order::Desc) {
        Order::Desc => SortOrder::Desc,
        Order::Asc => SortOrder::Asc,
    };
    q.page = page;
    q.page_size = page_size;
    if let Some(format) = export::negotiate(p.format, &headers) {
        let storage = state.storage.clone();
        return export::export(
            format,
            "findings",
            move |after: Option<i64>| {
                let storage = storage.clone();
                let q = q.clone();
                Box::pin(async move { storage.scan_findings(&q, after, export::PAGE_ROWS).await })
            },
            |f: &Finding| f.id,
        )
        .await;
    }
    let page: FindingPage = state.storage.list_findings(&q).await?.into();
    Ok(Json(page).into_response())
}

impl ExportRow for Finding {
    fn columns() -> &'static [&'static str] {
        &[
            "id",
            "rule_id",
            "rule_title",
            "severity",
            "status",
            "risk_score",
            "service",
            "user",
            "group",
            "first_seen",
            "last_seen",
            "event_count",
            "assignee",
            "workflow_tags",
            "close_reason",
            "note",
            "tags",
            "description",
            "explanation",
            "created_at",
            "updated_at",
        ]
    }

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Int(self.id),
            Cell::from(self.rule_id.as_str()),
            Cell::from(self.rule_title.as_str()),
            Cell::from(self.severity.as_str()),
            Cell::from(self.status.as_str()),
            Cell::Int(i64::from(self.risk_score)),
            Cell::from(self.service.as_deref()),
            Cell::from(self.user.as_deref()),
            Cell::from(serde_json::to_string(&self.group).unwrap_or_default()),
            Cell::Time(self.first_seen),
            Cell::Time(self.last_seen),
            Cell::Int(self.event_count),
            Cell::from(self.assignee.as_deref()),
            Cell::from(self.workflow_tags.join(",")),
            Cell::from(self.close_reason.map(|r| r.as_str())),
            Cell::from(self.note.as_deref()),
            Cell::from(self.tags.join(",")),
            Cell::from(self.description.as_str()),
            Cell::from(self.explanation.as_str()),
            Cell::Time(self.created_at),
            Cell::Time(self.updated_at),
        ]
    }
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
/// keep it). `close_reason` goes with `status` `resolved` or `suppressed`
/// in the same body; moving to `open` or `acknowledged` clears it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"status": "resolved", "close_reason": "false_positive", "note": "test account"}))]
pub struct FindingUpdate {
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub status: Option<FindingStatus>,
    /// Analyst note, at most 16,384 characters; an empty string clears it.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_length = 16384)]
    pub note: Option<String>,
    /// The analyst to assign, at most 128 characters; an empty string
    /// unassigns.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_length = 128)]
    pub assignee: Option<String>,
    /// Replaces the workflow tags (then `add_tags` and `remove_tags` apply).
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_items = 100, inline, value_type = Vec<Tag>)]
    pub workflow_tags: Option<Vec<String>>,
    /// Workflow tags to add.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_items = 100, inline, value_type = Vec<Tag>)]
    pub add_tags: Option<Vec<String>>,
    /// Workflow tags to remove.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_items = 100, inline, value_type = Vec<Tag>)]
    pub remove_tags: Option<Vec<String>>,
    /// Why the finding is closed; only with `status` `resolved` or
    /// `suppressed`.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub close_reason: Option<CloseReason>,
}

/// A workflow tag in the OpenAPI document: 1 to 64 characters, no comma.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TAG_CHARS))
            .pattern(Some("^[^,]+$"))
            .description(Some("A workflow tag: 1 to 64 characters, no comma."))
            .into()
    }
}

impl ToSchema for Tag {}

/// Longest note accepted, in characters.
const MAX_NOTE_CHARS: usize = 16 * 1024;

/// The change both PATCH and a bulk update's `set` make, checked once.
struct Change {
    status: Option<FindingStatus>,
    note: Option<String>,
    assignee: Option<String>,
    workflow_tags: Option<Vec<String>>,
    add_tags: Option<Vec<String>>,
    remove_tags: Option<Vec<String>>,
    close_reason: Option<CloseReason>,
}

impl Change {
    /// The storage patch, or `invalid_request` naming the field (as
    /// `<prefix><field>`).
    fn patch(self, prefix: &str, actor: &Actor) -> Result<FindingPatch, ApiError> {
        let bad = |field: &str, what: String| {
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("field `{prefix}{field}` {what}"),
            )
        };
        if self
            .note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(bad(
                "note",
                format!("is longer than {MAX_NOTE_CHARS} characters"),
            ));
        }
        if self
            .assignee
            .as_ref()
            .is_some_and(|a| a.chars().count() > MAX_ASSIGNEE_CHARS)
        {
            return Err(bad(
                "assignee",
                format!("is longer than {MAX_ASSIGNEE_CHARS} characters"),
            ));
        }
        for (field, list) in [
            ("workflow_tags", &self.workflow_tags),
            ("add_tags", &self.add_tags),
            ("remove_tags", &self.remove_tags),
        ] {
            let Some(list) = list else { continue };
            if list.len() > MAX_TAGS {
                return Err(bad(field, format!("lists more than {MAX_TAGS} tags")));
            }
            if let Some((i, _)) = list
                .iter()
                .enumerate()
                .find(|(_, t)| t.is_empty() || t.contains(',') || t.chars().count() > MAX_TAG_CHARS)
            {
                return Err(bad(
                    &format!("{field}[{i}]"),
                    format!("must be 1 to {MAX_TAG_CHARS} characters without a comma"),
                ));
            }
        }
        if self.close_reason.is_some() && !self.status.is_some_and(FindingStatus::is_closed) {
            return Err(bad(
                "close_reason",
                format!(
                    "goes with `{prefix}status` resolved or suppressed in the same request{}",
                    match self.status {
                        Some(s) => format!(", not {s}"),
                        None => String::new(),
                    }
                ),
            ));
        }
        Ok(FindingPatch {
            status: self.status,
            note: self.note,
            assignee: self.assignee,
            workflow_tags: self.workflow_tags,
            add_tags: self.add_tags.unwrap_or_default(),
            remove_tags: self.remove_tags.unwrap_or_default(),
            close_reason: self.close_reason,
            actor: actor.as_str().to_string(),
        })
    }

    fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.note.is_none()
            && self.assignee.is_none()
            && self.workflow_tags.is_none()
            && self.add_tags.is_none()
            && self.remove_tags.is_none()
            && self.close_reason.is_none()
    }
}

/// A storage failure as an answer: a patch that cannot apply, or a bulk
/// update past its limit, is the request's fault.
fn triage_error(e: StorageError, bulk_field: &str) -> ApiError {
    match e {
        StorageError::InvalidPatch { field, message } => ApiError::new(
            ErrorCode::InvalidRequest,
            format!("field `{field}`: {message}"),
        ),
        StorageError::TooManyFindings { matched, limit } => ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "field `{bulk_field}` selects {matched} findings; a bulk update changes at most {limit}"
            ),
        ),
        other => other.into(),
    }
}

/// Change a finding's status, note, assignee, workflow tags or close
/// reason; every change is written to its history with the actor of
/// `X-Vigilo-Actor`.
#[utoipa::path(patch, path = "/api/v1/findings/{id}", tag = "findings",
    params(("id" = i64, Path, description = "Finding id"),
        ("X-Vigilo-Actor" = Option<String>, Header, description = "Who makes the change (1 to 128 characters, trimmed; otherwise `anonymous`)")),
    request_body = FindingUpdate,
    responses((status = 200, body = Finding),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (no field set, unknown field, a field too long, a tag with a comma, `close_reason` without `status` resolved or suppressed)"),
        (status = 404, body = ErrorResponse, description = "not_found"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn update(
    state: State,
    actor: Actor,
    address: crate::auth::routes::Address,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FindingUpdate>,
) -> ApiResult<Json<Finding>> {
    let id = path_id("finding", &id)?;
    let change = Change {
        status: body.status,
        note: body.note,
        assignee: body.assignee,
        workflow_tags: body.workflow_tags,
        add_tags: body.add_tags,
        remove_tags: body.remove_tags,
        close_reason: body.close_reason,
    };
    if change.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "body must set at least one of `status`, `note`, `assignee`, `workflow_tags`, \
             `add_tags`, `remove_tags`, `close_reason`",
        ));
    }
    let patch = change.patch("", &actor)?;
    let finding = state
        .storage
        .update_finding(id, patch, Utc::now())
        .await
        .map_err(|e| triage_error(e, "id"))?
        .ok_or_else(|| ApiError::not_found("finding", id))?;
    publish(&state, &finding);
    audit_finding(&state, &actor, address.0, "finding_changed", finding.id).await;
    Ok(Json(finding))
}

/// An analyst's change to a finding, in the audit trail.
async fn audit_finding(
    state: &State,
    actor: &Actor,
    address: Option<std::net::IpAddr>,
    action: &str,
    id: i64,
) {
    let target = id.to_string();
    crate::auth::audit::record(
        state,
        crate::auth::audit::Entry {
            actor: actor.as_str(),
            action,
            target: Some(&target),
            address,
            details: serde_json::json!({}),
        },
    )
    .await;
}

/// Tell the live channel's `findings` room that an analyst changed a
/// finding (a `finding` message with `change: "updated"`, evidence empty as
/// the live feed sends it).
pub(super) fn publish(state: &State, finding: &Finding) {
    let live = Finding {
        evidence: Vec::new(),
        ..finding.clone()
    };
    state
        .pipeline
        .publish(LiveUpdate::Findings(Arc::new(vec![live])));
}

#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    /// Oldest first, starting with the finding's `created` entry (id 0).
    pub items: Vec<FindingHistory>,
    pub total: u64,
}

/// A finding's history: who changed what, when; oldest first.
#[utoipa::path(get, path = "/api/v1/findings/{id}/history", tag = "findings",
    params(("id" = i64, Path, description = "Finding id")),
    responses((status = 200, body = HistoryPage),
        (status = 404, body = ErrorResponse, description = "not_found")))]
pub async fn history(state: State, Path(id): Path<String>) -> ApiResult<Json<HistoryPage>> {
    let id = path_id("finding", &id)?;
    let items = state
        .storage
        .finding_history(id)
        .await?
        .ok_or_else(|| ApiError::not_found("finding", id))?;
    Ok(Json(HistoryPage {
        total: items.len() as u64,
        items,
    }))
}

/// A note to append.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"text": "called the service owner"}))]
pub struct NewNote {
    /// 1 to 16,384 characters.
    #[schema(min_length = 1, max_length = 16384)]
    pub text: String,
}

/// Append a note to a finding's history; it also becomes the finding's
/// `note`.
#[utoipa::path(post, path = "/api/v1/findings/{id}/notes", tag = "findings",
    params(("id" = i64, Path, description = "Finding id"),
        ("X-Vigilo-Actor" = Option<String>, Header, description = "Who writes the note (1 to 128 characters, trimmed; otherwise `anonymous`)")),
    request_body = NewNote,
    responses((status = 201, body = FindingHistory, description = "The note's history entry"),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (`text` missing, empty or longer than 16,384 characters, unknown field)"),
        (status = 404, body = ErrorResponse, description = "not_found"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn add_note(
    state: State,
    actor: Actor,
    address: crate::auth::routes::Address,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewNote>,
) -> ApiResult<(StatusCode, Json<FindingHistory>)> {
    let id = path_id("finding", &id)?;
    let n = body.text.chars().count();
    if n == 0 || n > MAX_NOTE_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("field `text` must be 1 to {MAX_NOTE_CHARS} characters"),
        ));
    }
    let entry = state
        .storage
        .add_finding_note(id, &body.text, actor.as_str(), Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found("finding", id))?;
    if let Some(f) = state.storage.get_finding(id).await? {
        publish(&state, &f);
    }
    audit_finding(&state, &actor, address.0, "finding_note_added", id).await;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// The list's filters as JSON, for a bulk update (every field optional;
/// `{}` selects every finding).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, min_items = 1)]
    pub severity: Option<Vec<Severity>>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, min_items = 1)]
    pub status: Option<Vec<FindingStatus>>,
    /// A rule id, or a prefix of rule ids followed by `*` (`iam.*`).
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub rule_id: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub user: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub service: Option<String>,
    /// An assignee, exactly; `none`: unassigned findings.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, min_length = 1, max_length = 128)]
    pub assignee: Option<String>,
    /// A workflow tag or a rule tag, exactly.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, min_length = 1, max_length = 64)]
    pub tag: Option<String>,
    /// Case-insensitive text in the rule title, description, rule id, group
    /// values, user, service or note.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, min_length = 1, max_length = 256)]
    pub q: Option<String>,
    /// Findings still active at or after this time (last_seen ≥ from): an
    /// RFC 3339 date-time or epoch seconds/milliseconds; not after `to`.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(schema_with = params::time_schema)]
    pub from: Option<serde_json::Value>,
    /// Findings that began before this time (first_seen < to).
    #[serde(default, deserialize_with = "super::present")]
    #[schema(schema_with = params::time_schema)]
    pub to: Option<serde_json::Value>,
}

/// A bulk body's time bound as the text the list's parser reads.
fn time_text(field: &str, v: Option<serde_json::Value>) -> Result<Option<String>, ApiError> {
    match v {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n))
            if whole_number(&n).is_some_and(|v| (0..=params::MAX_EPOCH as i64).contains(&v)) =>
        {
            Ok(whole_number(&n).map(|v| v.to_string()))
        }
        Some(_) => Err(Origin::BulkFilter.error(
            field,
            &format!(
                "must be an RFC 3339 date-time or epoch seconds/milliseconds (0 to {})",
                params::MAX_EPOCH
            ),
        )),
    }
}

impl BulkFilter {
    fn query(self) -> Result<FindingQuery, ApiError> {
        for (field, empty) in [
            (
                "severity",
                self.severity.as_ref().is_some_and(Vec::is_empty),
            ),
            ("status", self.status.as_ref().is_some_and(Vec::is_empty)),
        ] {
            if empty {
                return Err(Origin::BulkFilter
                    .error(field, "is empty; list at least one value or leave it out"));
            }
        }
        Filters {
            severity: self.severity.unwrap_or_default(),
            status: self.status.unwrap_or_default(),
            rule_id: self.rule_id,
            user: self.user,
            service: self.service,
            assignee: self.assignee,
            tag: self.tag,
            q: self.q,
            from: time_text("from", self.from)?,
            to: time_text("to", self.to)?,
        }
        .query(Origin::BulkFilter)
    }
}

/// What a bulk update sets: at least one field; the rules of `PATCH`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct BulkSet {
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub status: Option<FindingStatus>,
    /// At most 128 characters; an empty string unassigns.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_length = 128)]
    pub assignee: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_items = 100, inline, value_type = Vec<Tag>)]
    pub add_tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_items = 100, inline, value_type = Vec<Tag>)]
    pub remove_tags: Option<Vec<String>>,
    /// Only with `status` `resolved` or `suppressed`.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub close_reason: Option<CloseReason>,
    /// At most 16,384 characters; an empty string clears the notes.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false, max_length = 16384)]
    pub note: Option<String>,
}

/// An integer as JSON Schema counts them: `12`, or `12.0`.
fn whole_number(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// `ids`, present and not null: integers, written as JSON Schema allows them
/// (`12`, or `12.0`).
pub(super) fn whole_ids<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<i64>>, D::Error> {
    let raw: Vec<serde_json::Number> = serde::Deserialize::deserialize(d)?;
    raw.iter()
        .map(|n| {
            whole_number(n)
                .ok_or_else(|| serde::de::Error::custom(format!("ids: `{n}` is not an integer id")))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Either `ids` or `filter`, and `set`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 2, max_properties = 2, example = json!({"filter": {"rule_id": "identity.failed_logins_medium", "status": ["open"]}, "set": {"assignee": "dana", "add_tags": ["triage"]}}))]
pub struct BulkRequest {
    /// Finding ids, 1 to 10,000 (ids of no finding are skipped).
    #[serde(default, deserialize_with = "whole_ids")]
    #[schema(nullable = false, min_items = 1, max_items = 10000)]
    pub ids: Option<Vec<i64>>,
    /// Every finding these filters select, at most 10,000.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(nullable = false)]
    pub filter: Option<BulkFilter>,
    pub set: BulkSet,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResponse {
    /// Findings selected.
    pub matched: u64,
    /// Findings changed (the others already held the values).
    pub updated: u64,
}

/// Change many findings at once, by ids or by the list's filters, in one
/// transaction, with history for each.
#[utoipa::path(post, path = "/api/v1/findings/bulk", tag = "findings",
    params(("X-Vigilo-Actor" = Option<String>, Header, description = "Who makes the change (1 to 128 characters, trimmed; otherwise `anonymous`)")),
    request_body = BulkRequest,
    responses((status = 200, body = BulkResponse),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (both or neither of `ids` and `filter`, more than 10,000 `ids` or findings selected by `filter`, a bad `filter` field, an empty `set`, `close_reason` without `status` resolved or suppressed)"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn bulk(
    state: State,
    actor: Actor,
    address: crate::auth::routes::Address,
    ApiJson(body): ApiJson<BulkRequest>,
) -> ApiResult<Json<BulkResponse>> {
    let limit = vigilo_storage::MAX_BULK;
    let (target, field) = match (body.ids, body.filter) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() as u64 > limit {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("field `ids` must list 1 to {limit} ids"),
                ));
            }
            (BulkTarget::Ids(ids), "ids")
        }
        (None, Some(filter)) => (BulkTarget::Filter(Box::new(filter.query()?)), "filter"),
        _ => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "body must have exactly one of `ids` and `filter`",
            ));
        }
    };
    let set = body.set;
    let change = Change {
        status: set.status,
        note: set.note,
        assignee: set.assignee,
        workflow_tags: None,
        add_tags: set.add_tags,
        remove_tags: set.remove_tags,
        close_reason: set.close_reason,
    };
    if change.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "field `set` must set at least one of `status`, `assignee`, `add_tags`, \
             `remove_tags`, `close_reason`, `note`",
        ));
    }
    let patch = change.patch("set.", &actor)?;
    let r = state
        .storage
        .bulk_update_findings(target, patch, Utc::now())
        .await
        .map_err(|e| triage_error(e, field))?;
    tracing::info!(
        actor = actor.as_str(),
        matched = r.matched,
        updated = r.updated,
        "bulk finding update"
    );
    if r.updated > 0 {
        state
            .pipeline
            .publish(LiveUpdate::FindingsChanged { updated: r.updated });
        crate::auth::audit::record(
            &state,
            crate::auth::audit::Entry {
                actor: actor.as_str(),
                action: "findings_bulk_changed",
                target: None,
                address: address.0,
                details: serde_json::json!({"matched": r.matched, "updated": r.updated}),
            },
        )
        .await;
    }
    Ok(Json(BulkResponse {
        matched: r.matched,
        updated: r.updated,
    }))
}

/// What findings are grouped by.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupKey {
    Rule,
    Service,
    User,
    Assignee,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupParams {
    /// What to group by (default `rule`).
    #[param(inline)]
    pub by: Option<GroupKey>,
    #[param(schema_with = params::severity_list_schema, style = Form, explode = false)]
    pub severity: Option<String>,
    #[param(schema_with = params::status_list_schema, style = Form, explode = false)]
    pub status: Option<String>,
    /// A rule id, or a prefix of rule ids followed by `*` (`iam.*`).
    pub rule_id: Option<String>,
    pub user: Option<String>,
    pub service: Option<String>,
    /// Findings assigned to this analyst, exactly; `none`: unassigned ones.
    #[param(min_length = 1, max_length = 128)]
    pub assignee: Option<String>,
    /// Findings with this workflow tag or rule tag, exactly.
    #[param(min_length = 1, max_length = 64)]
    pub tag: Option<String>,
    /// Case-insensitive text in the rule title, description, rule id, group
    /// values, user, service or note.
    #[param(min_length = 1, max_length = 256)]
    pub q: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub from: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub to: Option<String>,
    #[param(schema_with = params::page_schema)]
    pub page: Option<u32>,
    #[param(schema_with = params::page_size_schema)]
    pub page_size: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct Group {
    /// The shared value; null for findings without one (no service, no
    /// user, unassigned).
    pub key: Option<String>,
    /// The rule's title when grouped by rule; otherwise null.
    pub title: Option<String>,
    pub count: u64,
    /// Of which open.
    pub open: u64,
    pub max_severity: Severity,
    pub last_seen: chrono::DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupPage {
    pub by: GroupKey,
    /// Largest count first (ties by key, no key last).
    pub items: Vec<Group>,
    /// Groups in all.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// Findings grouped by rule, service, user or assignee, with the list's
/// filters.
#[utoipa::path(get, path = "/api/v1/findings/groups", tag = "findings", params(GroupParams),
    responses((status = 200, body = GroupPage),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed, unknown, or `from` is after `to`")))]
pub async fn groups(
    state: State,
    ApiQuery(p): ApiQuery<GroupParams>,
) -> ApiResult<Json<GroupPage>> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let by = p.by.unwrap_or(GroupKey::Rule);
    let mut q = Filters {
        severity: params::enum_list("severity", p.severity.as_deref())?,
        status: params::enum_list("status", p.status.as_deref())?,
        rule_id: p.rule_id,
        user: p.user,
        service: p.service,
        assignee: p.assignee,
        tag: p.tag,
        q: p.q,
        from: p.from,
        to: p.to,
    }
    .query(Origin::Query)?;
    q.page = page;
    q.page_size = page_size;
    let grouped = state
        .storage
        .finding_groups(
            match by {
                GroupKey::Rule => GroupBy::Rule,
                GroupKey::Service => GroupBy::Service,
                GroupKey::User => GroupBy::User,
                GroupKey::Assignee => GroupBy::Assignee,
            },
            &q,
        )
        .await?;
    Ok(Json(GroupPage {
        by,
        items: grouped
            .items
            .into_iter()
            .map(|g| Group {
                key: g.key,
                title: g.title,
                count: g.count,
                open: g.open,
                max_severity: g.max_severity,
                last_seen: g.last_seen,
            })
            .collect(),
        total: grouped.total,
        page: grouped.page,
        page_size: grouped.page_size,
    }))
}

/// What the derive macros cannot say about triage bodies, added to the
/// OpenAPI document: a `close_reason` requires `status` resolved or
/// suppressed in the same object.
pub struct TriageSchemas;

impl utoipa::Modify for TriageSchemas {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::schema::Schema;
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        let rule = [
            ("if", serde_json::json!({"required": ["close_reason"]})),
            (
                "then",
                serde_json::json!({
                    "required": ["status"],
                    "properties": {"status": {"enum": ["resolved", "suppressed"]}},
                }),
            ),
        ];
        for name in ["FindingUpdate", "BulkSet"] {
            if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut(name) {
                o.extensions
                    .get_or_insert_with(Default::default)
                    .extend(rule.iter().map(|(k, v)| (k.to_string(), v.clone())));
            }
        }
    }
}
