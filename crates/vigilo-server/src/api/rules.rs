use axum::Json;
use axum::extract::Path;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigilo_core::{ErrorCode, Event, Finding, Severity};
use vigilo_detect::{RuleError, RuleInfo, RuleKind, RuleSource};
use vigilo_storage::RuleState;

use super::{ApiJson, State};
use crate::error::{ApiError, ApiResult, ErrorDetail, ErrorResponse};
use crate::rules::LoadError;
use crate::schema::EventInput;
use crate::server::reload_rules;

#[derive(Serialize, ToSchema)]
pub struct RuleView {
    /// The rule's `name` (else its Sigma `id`): findings carry it.
    pub rule_id: String,
    /// The Sigma `id` as written in the rule.
    pub id: Option<String>,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    /// `detection` or `correlation`.
    pub kind: String,
    pub tags: Vec<String>,
    pub group_by: Vec<String>,
    pub suppression_seconds: u64,
    /// The Sigma logsource of a detection rule; empty for correlations,
    /// which take the events of the rules they refer to.
    pub logsource: LogsourceView,
    /// File the rule came from.
    pub origin: String,
    /// Line of the file where the rule starts.
    pub line: usize,
    /// The bundled pack (`anomaly`, `identity`) for bundled rules.
    pub pack: Option<String>,
    /// False for rules that only feed correlations.
    pub emits_findings: bool,
    /// False when switched off through `PATCH /api/v1/rules/{rule_id}`: the
    /// rule is evaluated but produces no findings.
    pub enabled: bool,
    /// When it was last switched on or off, if ever.
    pub enabled_changed_at: Option<DateTime<Utc>>,
    /// Rules a correlation refers to.
    pub references: Vec<String>,
    /// Matches since the database was created.
    pub matches: u64,
    /// Findings (incidents) this rule opened.
    pub findings: u64,
    /// Event time of the latest match of its findings.
    pub last_match: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct LogsourceView {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleList {
    /// Every loaded rule, detection and correlation, helpers included, in
    /// load order.
    pub items: Vec<RuleView>,
    /// As many as `/readyz` counts in `rules`.
    pub total: usize,
}

/// What a rule listing adds to the compiled rules: counts from storage and
/// the on/off states set through the API.
struct RuleFacts {
    matches: BTreeMap<String, u64>,
    found: HashMap<String, (u64, Option<DateTime<Utc>>)>,
    states: HashMap<String, RuleState>,
    bundled: bool,
}

impl RuleFacts {
    async fn read(state: &State) -> ApiResult<RuleFacts> {
        let mut found: HashMap<String, (u64, Option<DateTime<Utc>>)> = HashMap::new();
        for b in state.storage.finding_breakdown(None, None).await? {
            let e = found.entry(b.rule_id).or_default();
            e.0 += b.count;
            e.1 = e.1.max(b.last_seen);
        }
        Ok(RuleFacts {
            matches: state.storage.rule_match_counts().await?,
            found,
            states: state
                .storage
                .rule_states()
                .await?
                .into_iter()
                .map(|r| (r.rule_id.clone(), r))
                .collect(),
            bundled: state.config.rules.is_empty(),
        })
    }

    fn view(&self, r: &RuleInfo) -> RuleView {
        let st = self.states.get(&r.rule_id);
        RuleView {
            rule_id: r.rule_id.clone(),
            id: r.sigma_id.clone(),
            title: r.title.clone(),
            description: r.description.clone(),
            severity: r.severity,
            kind: match r.kind {
                RuleKind::Detection => "detection".into(),
                RuleKind::Correlation => "correlation".into(),
            },
            tags: r.tags.clone(),
            group_by: r.group_by.clone(),
            suppression_seconds: r.suppression.as_secs(),
            logsource: LogsourceView {
                product: r.logsource.product.clone(),
                category: r.logsource.category.clone(),
                service: r.logsource.service.clone(),
            },
            origin: r.origin.clone(),
            line: r.line,
            pack: self
                .bundled
                .then(|| r.origin.split('/').nth(1).map(str::to_string))
                .flatten(),
            emits_findings: r.emits_findings,
            enabled: st.is_none_or(|s| s.enabled),
            enabled_changed_at: st.map(|s| s.changed_at),
            references: r.references.clone(),
            matches: self.matches.get(&r.rule_id).copied().unwrap_or(0),
            findings: self.found.get(&r.rule_id).map_or(0, |f| f.0),
            last_match: self.found.get(&r.rule_id).and_then(|f| f.1),
        }
    }
}

/// Every loaded rule with its logsource, origin, on/off state, and match
/// and finding counts.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules",
    responses((status = 200, body = RuleList)))]
pub async fn list(state: State) -> ApiResult<Json<RuleList>> {
    let facts = RuleFacts::read(&state).await?;
    let rules = state.pipeline.rules();
    let items: Vec<RuleView> = rules.iter().map(|r| facts.view(r)).collect();
    Ok(Json(RuleList {
        total: items.len(),
        items,
    }))
}

/// Switch a rule on or off.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct RuleUpdate {
    pub enabled: bool,
}

/// Switch a loaded rule's findings off or on, from the next evaluated events,
/// without a restart. The state is stored and outlives reloads and
/// restarts; a switched-off rule is still evaluated (its windows stay
/// current), so switching it back on needs no warm-up.
#[utoipa::path(patch, path = "/api/v1/rules/{rule_id}", tag = "rules",
    params(("rule_id" = String, Path, description = "The rule's `rule_id`")),
    request_body = RuleUpdate,
    responses((status = 200, body = RuleView),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (unknown field, missing `enabled`)"),
        (status = 404, body = ErrorResponse, description = "not_found: no loaded rule has this rule_id"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn update(
    state: State,
    caller: crate::auth::Caller,
    Path(rule_id): Path<String>,
    ApiJson(body): ApiJson<RuleUpdate>,
) -> ApiResult<Json<RuleView>> {
    let rules = state.pipeline.rules();
    let Some(rule) = rules.iter().find(|r| r.rule_id == rule_id) else {
        return Err(ApiError::not_found("rule", &rule_id));
    };
    let stored = state
        .storage
        .set_rule_enabled(&rule_id, body.enabled, Utc::now())
        .await?;
    state.pipeline.set_rule_enabled(&rule_id, body.enabled);
    tracing::info!(
        rule_id = %rule_id,
        enabled = stored.enabled,
        "rule switched {}",
        if stored.enabled { "on" } else { "off" }
    );
    crate::auth::audit::record(
        &state,
        crate::auth::audit::Entry {
            actor: &caller.actor(),
            action: if stored.enabled {
                "rule_enabled"
            } else {
                "rule_disabled"
            },
            target: Some(&rule_id),
            address: caller.address,
            details: serde_json::json!({}),
        },
    )
    .await;
    let facts = RuleFacts::read(&state).await?;
    Ok(Json(facts.view(rule)))
}

/// Sigma rules and sample events. A text that does not parse as Sigma rules
/// answers 400 `invalid_rule`, an event that would not be ingested 400
/// `invalid_events`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "rules": "title: Failed login\nname: example.failed_login\nstatus: experimental\nlogsource:\n  product: vigilo\ndetection:\n  selection:\n    action: login\n    outcome: failure\n  condition: selection\nlevel: medium\n",
    "events": [
        {"timestamp": "2026-01-01T10:00:00Z", "kind": "audit", "user": "alice", "action": "login", "outcome": "failure"},
        {"timestamp": "2026-01-01T10:00:05Z", "kind": "audit", "user": "alice", "action": "login", "outcome": "success"}
    ]
}))]
pub struct RuleTest {
    /// One or more Sigma rules (YAML, `---`-separated).
    #[schema(min_length = 1, pattern = r"\S")]
    pub rules: String,
    /// Sample events, as they would be ingested (at most 100,000).
    #[schema(value_type = Vec<EventInput>, max_items = 100000)]
    pub events: Vec<serde_json::Value>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleTestResult {
    pub events_evaluated: usize,
    /// Findings the rules would produce (ids are 0: nothing is stored).
    pub findings: Vec<Finding>,
}

/// Most sample events one rule test may carry.
const MAX_TEST_EVENTS: usize = 100_000;

fn rule_errors(errors: Vec<RuleError>) -> ApiError {
    let details = errors
        .iter()
        .enumerate()
        .map(|(index, e)| ErrorDetail {
            index,
            code: ErrorCode::InvalidRule.code().to_string(),
            message: e.to_string(),
        })
        .collect();
    ApiError::new(
        ErrorCode::InvalidRule,
        format!("{} rule error(s); see details", errors.len()),
    )
    .with_details(details)
}

/// Run rules over sample events and return what would fire. Touches no
/// stored data and not the running rule set.
#[utoipa::path(post, path = "/api/v1/rules/test", tag = "rules", request_body = RuleTest,
    responses((status = 200, body = RuleTestResult),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (unknown field, too many events), invalid_rule, invalid_events"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn test(ApiJson(body): ApiJson<RuleTest>) -> ApiResult<Json<RuleTestResult>> {
    if body.events.len() > MAX_TEST_EVENTS {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("field `events` holds more than {MAX_TEST_EVENTS} events"),
        ));
    }
    let now = Utc::now();
    let mut events = Vec::with_capacity(body.events.len());
    let mut details = Vec::new();
    for (i, v) in body.events.into_iter().enumerate() {
        match vigilo_core::normalize::normalize(v, now) {
            Ok(e) => events.push(Event::from_new(i as i64 + 1, e)),
            Err(e) => details.push(ErrorDetail {
                index: i,
                code: e.code.code().to_string(),
                message: format!("events[{i}]: {}", e.message),
            }),
        }
    }
    if !details.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidEvents,
            format!("{} sample event(s) are invalid", details.len()),
        )
        .with_details(details));
    }
    if body.rules.trim().is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRule,
            "field `rules` holds no rule",
        ));
    }
    let sources = vec![RuleSource {
        origin: "request".into(),
        text: body.rules,
    }];
    let n = events.len();
    let findings =
        tokio::task::spawn_blocking(move || vigilo_detect::evaluate_once(&sources, &events))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(rule_errors)?;
    Ok(Json(RuleTestResult {
        events_evaluated: n,
        findings,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Reloaded {
    pub rules: usize,
}

/// Reload rules from the configured paths (as SIGHUP does). On any error the
/// running rules stay in force and the errors are returned.
#[utoipa::path(post, path = "/api/v1/rules/reload", tag = "rules",
    responses((status = 200, body = Reloaded),
        (status = 400, body = ErrorResponse, description = "invalid_rule: the configured rules do not load; the running rules stay")))]
pub async fn reload(state: State, caller: crate::auth::Caller) -> ApiResult<Json<Reloaded>> {
    match reload_rules(&state).await {
        Ok(rules) => {
            crate::auth::audit::record(
                &state,
                crate::auth::audit::Entry {
                    actor: &caller.actor(),
                    action: "rules_reloaded",
                    target: None,
                    address: caller.address,
                    details: serde_json::json!({"rules": rules}),
                },
            )
            .await;
            Ok(Json(Reloaded { rules }))
        }
        Err(LoadError::Invalid(errors)) => Err(rule_errors(errors)),
        Err(e) => Err(ApiError::new(ErrorCode::InvalidRule, e.to_string())),
    }
}
