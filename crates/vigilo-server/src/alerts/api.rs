//! `/api/v1/alerts/...`: the notification history, receivers (masked),
//! routes, silences, and the test-send.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{ErrorCode, Severity};
use vigilo_storage::{
    NewSilence, Notification, NotificationKind, NotificationQuery, NotificationStatus, Silence,
    SilenceMatcher,
};

use super::config::{FINDING_FIELDS, ReceiverKind, format_duration, parse_duration};
use crate::api::actor::Actor;
use crate::api::{ApiJson, ApiQuery, State, paging, path_id};
use crate::error::{ApiError, ApiResult};

/// One notification to one receiver and its outcome.
#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    pub id: i64,
    pub receiver: String,
    /// The route that chose the receiver; empty for tests and silences.
    pub route: String,
    pub group_key: String,
    /// `firing`, `resolved`, `repeat`, `silence_started`, `silence_ended`, `test`.
    pub kind: String,
    pub finding_ids: Vec<i64>,
    /// `pending`, `sent`, `failed` (every try failed), `suppressed`.
    pub status: String,
    /// Delivery tries so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub title: String,
    /// The request body as sent (the receiver's JSON shape).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    pub silence_id: Option<i64>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        NotificationView {
            id: n.id,
            receiver: n.receiver,
            route: n.route,
            group_key: n.group_key,
            kind: n.kind.as_str().to_string(),
            finding_ids: n.finding_ids,
            status: n.status.as_str().to_string(),
            attempts: n.attempts,
            last_error: n.last_error,
            created_at: n.created_at,
            sent_at: n.sent_at,
            title: n.title,
            body: n.body,
            silence_id: n.silence_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NotificationParams {
    pub receiver: Option<String>,
    pub route: Option<String>,
    /// `pending`, `sent`, `failed`, `suppressed`.
    #[param(pattern = "^(pending|sent|failed|suppressed)$")]
    pub status: Option<String>,
    /// `firing`, `resolved`, `repeat`, `silence_started`, `silence_ended`, `test`.
    #[param(pattern = "^(firing|resolved|repeat|silence_started|silence_ended|test)$")]
    pub kind: Option<String>,
    /// Notifications about this finding.
    pub finding_id: Option<i64>,
    /// Case-insensitive text in the title, body, group key or error.
    pub q: Option<String>,
    /// 1-based (default 1).
    #[param(schema_with = crate::api::params::page_schema)]
    pub page: Option<u32>,
    /// 1 to 500 (default 50).
    #[param(schema_with = crate::api::params::page_size_schema)]
    pub page_size: Option<u32>,
}

fn query_of(p: NotificationParams) -> Result<NotificationQuery, ApiError> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let status = p
        .status
        .as_deref()
        .map(|s| {
            NotificationStatus::parse(s).ok_or_else(|| {
                ApiError::query(format!(
                    "query parameter `status` must be one of pending, sent, failed, suppressed, not `{s}`"
                ))
            })
        })
        .transpose()?;
    let kind = p
        .kind
        .as_deref()
        .map(|k| {
            NotificationKind::parse(k).ok_or_else(|| {
                ApiError::query(format!(
                    "query parameter `kind` must be one of firing, resolved, repeat, silence_started, silence_ended, test, not `{k}`"
                ))
            })
        })
        .transpose()?;
    Ok(NotificationQuery {
        receiver: p.receiver,
        route: p.route,
        status,
        kind,
        finding_id: p.finding_id,
        q: p.q,
        page,
        page_size,
    })
}

/// The notification history, newest first: every notification decided,
/// with its tries and outcome, searchable.
#[utoipa::path(get, path = "/api/v1/alerts/notifications", tag = "alerts",
    params(NotificationParams),
    responses((status = 200, body = NotificationPage),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_query: a filter or paging out of range")))]
pub async fn list_notifications(
    state: State,
    ApiQuery(p): ApiQuery<NotificationParams>,
) -> ApiResult<Json<NotificationPage>> {
    let q = query_of(p)?;
    let found = state.storage.list_notifications(&q).await?;
    Ok(Json(NotificationPage {
        items: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: found.page,
        page_size: found.page_size,
    }))
}

/// One notification.
#[utoipa::path(get, path = "/api/v1/alerts/notifications/{id}", tag = "alerts",
    params(("id" = i64, Path)),
    responses((status = 200, body = NotificationView),
        (status = 404, body = crate::error::ErrorResponse, description = "not_found")))]
pub async fn get_notification(
    state: State,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    let id = path_id("notification", &id)?;
    match state.storage.get_notification(id).await? {
        Some(n) => Ok(Json(n.into())),
        None => Err(ApiError::not_found("notification", id)),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// 1-based (default 1).
    #[param(schema_with = crate::api::params::page_schema)]
    pub page: Option<u32>,
    /// 1 to 500 (default 50).
    #[param(schema_with = crate::api::params::page_size_schema)]
    pub page_size: Option<u32>,
}

/// The notifications about one finding, newest first.
#[utoipa::path(get, path = "/api/v1/findings/{id}/notifications", tag = "alerts",
    params(("id" = i64, Path), PageParams),
    responses((status = 200, body = NotificationPage),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_query: paging out of range, an unknown parameter"),
        (status = 404, body = crate::error::ErrorResponse, description = "not_found: no such finding")))]
pub async fn finding_notifications(
    state: State,
    Path(id): Path<String>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> ApiResult<Json<NotificationPage>> {
    let id = path_id("finding", &id)?;
    if state.storage.get_finding(id).await?.is_none() {
        return Err(ApiError::not_found("finding", id));
    }
    let (page, page_size) = paging(p.page, p.page_size)?;
    let found = state
        .storage
        .list_notifications(&NotificationQuery {
            finding_id: Some(id),
            page,
            page_size,
            ..NotificationQuery::default()
        })
        .await?;
    Ok(Json(NotificationPage {
        items: found.items.into_iter().map(Into::into).collect(),
        total: found.total,
        page: found.page,
        page_size: found.page_size,
    }))
}

/// A receiver as the API shows it: never its URL's path or query (they
/// carry tokens) nor its secret.
#[derive(Serialize, ToSchema)]
pub struct ReceiverView {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ReceiverKind,
    /// `https://discord.com/…`: the scheme and host only.
    pub url: String,
    /// Whether webhook bodies are signed.
    pub signed: bool,
    pub max_retries: u32,
    pub timeout: String,
    /// Routes that send to it.
    pub routes: Vec<String>,
}

/// `scheme://host[:port]/…`, nothing of the path, query or user info.
pub fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{host}{port}/…", u.scheme())
        }
        Err(_) => "(invalid url)".to_string(),
    }
}

/// The configured receivers (masked).
#[utoipa::path(get, path = "/api/v1/alerts/receivers", tag = "alerts",
    responses((status = 200, body = Vec<ReceiverView>)))]
pub async fn list_receivers(state: State) -> Json<Vec<ReceiverView>> {
    let c = &state.config.alerts;
    Json(
        c.receivers
            .iter()
            .map(|r| ReceiverView {
                name: r.name.clone(),
                kind: r.kind,
                url: r
                    .resolved_url()
                    .as_deref()
                    .map(mask_url)
                    .unwrap_or_default(),
                signed: r.kind == ReceiverKind::Webhook && r.resolved_secret().is_some(),
                max_retries: r.max_retries,
                timeout: format_duration(r.timeout.0),
                routes: c
                    .routes
                    .iter()
                    .filter(|x| x.receivers.contains(&r.name))
                    .map(|x| x.name.clone())
                    .collect(),
            })
            .collect(),
    )
}

/// Send a test message to the receiver now (one try) and answer with the
/// stored notification: `status` is `sent` or `failed` with `last_error`.
#[utoipa::path(post, path = "/api/v1/alerts/receivers/{name}/test", tag = "alerts",
    params(("name" = String, Path)),
    responses((status = 200, body = NotificationView),
        (status = 404, body = crate::error::ErrorResponse, description = "not_found: no such receiver")))]
pub async fn test_receiver(
    state: State,
    Path(name): Path<String>,
) -> ApiResult<Json<NotificationView>> {
    match super::send_test(state.storage.as_ref(), &state.config.alerts, &name).await? {
        Some(n) => Ok(Json(n.into())),
        None => Err(ApiError::not_found("receiver", &name)),
    }
}

#[derive(Serialize, ToSchema)]
pub struct RouteView {
    pub name: String,
    pub min_severity: Option<Severity>,
    pub rules: Vec<String>,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub receivers: Vec<String>,
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Effective timings (the route's or `[alerts]`'s), e.g. `30s`.
    pub group_wait: String,
    pub group_interval: String,
    pub repeat_interval: String,
    pub group_by: Vec<String>,
}

/// The routes in the order they are tried.
#[utoipa::path(get, path = "/api/v1/alerts/routes", tag = "alerts",
    responses((status = 200, body = Vec<RouteView>)))]
pub async fn list_routes(state: State) -> Json<Vec<RouteView>> {
    let c = &state.config.alerts;
    Json(
        c.routes
            .iter()
            .map(|r| RouteView {
                name: r.name.clone(),
                min_severity: r.min_severity,
                rules: r.rules.clone(),
                services: r.services.clone(),
                tags: r.tags.clone(),
                receivers: r.receivers.clone(),
                continue_: r.continue_,
                group_wait: format_duration(r.group_wait.unwrap_or(c.group_wait).0),
                group_interval: format_duration(r.group_interval.unwrap_or(c.group_interval).0),
                repeat_interval: format_duration(r.repeat_interval.unwrap_or(c.repeat_interval).0),
                group_by: r.group_by.clone().unwrap_or_else(|| c.group_by.clone()),
            })
            .collect(),
    )
}

/// A matcher: the finding's `field` equals `value`, or matches it as a
/// glob (`*`, `?`) when `glob` is true.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatcherBody {
    /// `rule_id`, `service`, `severity`, `user` or `tag`.
    #[schema(pattern = "^(rule_id|service|severity|user|tag)$")]
    pub field: String,
    #[schema(min_length = 1, max_length = 256)]
    pub value: String,
    #[serde(default)]
    pub glob: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    /// All must match; at least one.
    #[schema(min_items = 1)]
    pub matchers: Vec<MatcherBody>,
    /// Default: now.
    pub starts_at: Option<DateTime<Utc>>,
    /// When it ends; or give `duration`.
    pub ends_at: Option<DateTime<Utc>>,
    /// `2h`, `30m`, `1d`: from `starts_at`.
    #[schema(pattern = "^[0-9]+(ms|s|m|h|d|w)$")]
    pub duration: Option<String>,
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub comment: String,
}

#[derive(Serialize, ToSchema)]
pub struct SilenceView {
    pub id: i64,
    pub matchers: Vec<MatcherBody>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// When it was expired early.
    pub expired_at: Option<DateTime<Utc>>,
    /// `pending` (starts later), `active` or `expired`.
    pub state: String,
    pub start_announced: bool,
    pub end_announced: bool,
}

fn silence_view(s: Silence, now: DateTime<Utc>) -> SilenceView {
    let state = if now < s.starts_at {
        "pending"
    } else if now < s.ends_at {
        "active"
    } else {
        "expired"
    };
    SilenceView {
        id: s.id,
        matchers: s
            .matchers
            .into_iter()
            .map(|m| MatcherBody {
                field: m.field,
                value: m.value,
                glob: m.glob,
            })
            .collect(),
        starts_at: s.starts_at,
        ends_at: s.ends_at,
        created_by: s.created_by,
        comment: s.comment,
        created_at: s.created_at,
        expired_at: s.expired_at,
        state: state.to_string(),
        start_announced: s.start_announced,
        end_announced: s.end_announced,
    }
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest, msg)
}

/// Create a silence: findings it matches send nothing while it is active.
/// Every receiver is told when it starts and when it ends.
#[utoipa::path(post, path = "/api/v1/alerts/silences", tag = "alerts",
    request_body = SilenceBody,
    responses((status = 201, body = SilenceView),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_request: the field is named; malformed_body"),
        (status = 415, body = crate::error::ErrorResponse, description = "unsupported_media_type: not application/json")))]
pub async fn create_silence(
    state: State,
    actor: Actor,
    ApiJson(b): ApiJson<SilenceBody>,
) -> ApiResult<(StatusCode, Json<SilenceView>)> {
    let now = Utc::now();
    if b.matchers.is_empty() {
        return Err(invalid("`matchers` must hold at least one matcher"));
    }
    let mut matchers = Vec::with_capacity(b.matchers.len());
    for (i, m) in b.matchers.into_iter().enumerate() {
        if !FINDING_FIELDS.contains(&m.field.as_str()) {
            return Err(invalid(format!(
                "`matchers[{i}].field` must be one of {}, not `{}`",
                FINDING_FIELDS.join(", "),
                m.field
            )));
        }
        if m.value.is_empty() || m.value.chars().count() > 256 {
            return Err(invalid(format!(
                "`matchers[{i}].value` must hold 1 to 256 characters"
            )));
        }
        matchers.push(SilenceMatcher {
            field: m.field,
            value: m.value,
            glob: m.glob,
        });
    }
    let starts_at = b.starts_at.unwrap_or(now);
    let ends_at = match (b.ends_at, b.duration.as_deref()) {
        (Some(_), Some(_)) => return Err(invalid("give `ends_at` or `duration`, not both")),
        (Some(e), None) => e,
        (None, Some(d)) => {
            let d = parse_duration(d).map_err(|e| invalid(format!("`duration`: {e}")))?;
            let d = chrono::Duration::from_std(d).map_err(|_| invalid("`duration` is too long"))?;
            starts_at + d
        }
        (None, None) => return Err(invalid("`ends_at` or `duration` is required")),
    };
    if ends_at <= starts_at {
        return Err(invalid("`ends_at` must be after `starts_at`"));
    }
    if ends_at <= now {
        return Err(invalid("`ends_at` must be in the future"));
    }
    if b.comment.chars().count() > 1000 {
        return Err(invalid("`comment` must hold at most 1000 characters"));
    }
    let s = state
        .storage
        .create_silence(NewSilence {
            matchers,
            starts_at,
            ends_at,
            created_by: actor.0,
            comment: b.comment,
            created_at: now,
        })
        .await?;
    tracing::info!(id = s.id, created_by = %s.created_by, "silence created");
    Ok((StatusCode::CREATED, Json(silence_view(s, now))))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SilenceParams {
    /// `pending`, `active` or `expired`; default: all.
    #[param(pattern = "^(pending|active|expired)$")]
    pub state: Option<String>,
}

/// Silences, newest first.
#[utoipa::path(get, path = "/api/v1/alerts/silences", tag = "alerts",
    params(SilenceParams),
    responses((status = 200, body = Vec<SilenceView>),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_query: unknown state")))]
pub async fn list_silences(
    state: State,
    ApiQuery(p): ApiQuery<SilenceParams>,
) -> ApiResult<Json<Vec<SilenceView>>> {
    if let Some(s) = &p.state
        && !["pending", "active", "expired"].contains(&s.as_str())
    {
        return Err(ApiError::query(format!(
            "query parameter `state` must be pending, active or expired, not `{s}`"
        )));
    }
    let now = Utc::now();
    let all = state.storage.list_silences().await?;
    Ok(Json(
        all.into_iter()
            .map(|s| silence_view(s, now))
            .filter(|v| p.state.as_deref().is_none_or(|s| v.state == s))
            .collect(),
    ))
}

/// One silence.
#[utoipa::path(get, path = "/api/v1/alerts/silences/{id}", tag = "alerts",
    params(("id" = i64, Path)),
    responses((status = 200, body = SilenceView),
        (status = 404, body = crate::error::ErrorResponse, description = "not_found")))]
pub async fn get_silence(state: State, Path(id): Path<String>) -> ApiResult<Json<SilenceView>> {
    let id = path_id("silence", &id)?;
    match state.storage.get_silence(id).await? {
        Some(s) => Ok(Json(silence_view(s, Utc::now()))),
        None => Err(ApiError::not_found("silence", id)),
    }
}

/// Expire a silence now (it stays listed, as `expired`); its end is
/// announced.
#[utoipa::path(delete, path = "/api/v1/alerts/silences/{id}", tag = "alerts",
    params(("id" = i64, Path)),
    responses((status = 200, body = SilenceView),
        (status = 404, body = crate::error::ErrorResponse, description = "not_found")))]
pub async fn expire_silence(
    state: State,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<Json<SilenceView>> {
    let id = path_id("silence", &id)?;
    let now = Utc::now();
    match state.storage.expire_silence(id, now).await? {
        Some(s) => {
            tracing::info!(id, by = %actor.0, "silence expired");
            Ok(Json(silence_view(s, now)))
        }
        None => Err(ApiError::not_found("silence", id)),
    }
}
