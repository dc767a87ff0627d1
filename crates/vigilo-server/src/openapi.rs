//! The OpenAPI 3.1 document, generated from the handlers, and the bundled
//! Swagger UI at `/docs` (served from the binary; no network needed).

use std::sync::{Arc, LazyLock};

use axum::Json;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use utoipa::OpenApi;

use crate::api::findings::TriageSchemas;
use crate::api::{events, findings, health, iam, ingest_ws, metrics, pipelines, rules, stats};
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
        ingest_ws::ingest, ingest_ws::dashboard_ingest,
        findings::list, findings::get_one, findings::update,
        findings::history, findings::add_note, findings::bulk, findings::groups,
        crate::api::enrichment::enrich_one, crate::api::enrichment::enrich_bulk,
        crate::api::enrichment::list,
        crate::api::compliance::frameworks, crate::api::compliance::controls,
        crate::api::compliance::control, crate::api::compliance::export,
        stats::summary, stats::overview, stats::timeline, stats::services,
        rules::list, rules::update, rules::test, rules::reload,
        iam::create, iam::list, iam::get_one, iam::seed_audit,
        pipelines::list, pipelines::get_one, pipelines::report,
        crate::connectors::archive::replay::replay_route,
        crate::api::dead_letters::list,
        metrics::series, metrics::fields,
        crate::alerts::api::list_notifications, crate::alerts::api::get_notification,
        crate::alerts::api::finding_notifications, crate::alerts::api::list_receivers,
        crate::alerts::api::test_receiver, crate::alerts::api::list_routes,
        crate::alerts::api::list_silences, crate::alerts::api::create_silence,
        crate::alerts::api::get_silence, crate::alerts::api::expire_silence,
        crate::auth::oidc::login, crate::auth::oidc::callback,
        crate::auth::routes::settings, crate::auth::routes::login, crate::auth::routes::refresh,
        crate::auth::routes::logout, crate::auth::routes::setup, crate::auth::routes::me,
        crate::auth::routes::get_preferences, crate::auth::routes::put_preferences,
        crate::auth::admin::list_users, crate::auth::admin::create_user, crate::auth::admin::update_user,
        crate::auth::admin::list_keys, crate::auth::admin::create_key, crate::auth::admin::revoke_key,
        crate::auth::admin::audit_log,
    ),
    components(schemas(ErrorResponse, ErrorBody, ErrorDetail, stats::Bucket, crate::api::compliance::EvidenceFormat, findings::SortKey, findings::Order, crate::schema::EventInput)),
    modifiers(&Refine, &TriageSchemas, &Security),
    tags(
        (name = "events", description = "Ingest and browse events"),
        (name = "findings", description = "Incidents detected by rules and audits"),
        (name = "stats", description = "Summary cards"),
        (name = "dashboard", description = "Dashboard aggregates from rollups"),
        (name = "rules", description = "Sigma rules"),
        (name = "iam", description = "IAM audits"),
        (name = "compliance", description = "Compliance frameworks and controls mapped from rules and IAM checks, their status from findings, and the evidence export"),
        (name = "metrics", description = "The metrics explorer: numeric fields over time, from per-minute rollups"),
        (name = "health", description = "Liveness, readiness, metrics"),
        (name = "auth", description = "Sign-in, sessions, the caller and its preferences"),
        (name = "users", description = "Users, API keys and the audit log (admins)"),
        (name = "alerts", description = "Notifications to Discord, Slack and webhooks: the history of every notification, receivers, routes, silences, test-send"),
        (name = "pipelines", description = "The pipeline hub: status reports of pipelines and Vigilo's own stages, broadcast live as `pipeline_update`"),
        (name = "connectors", description = "Broker sources and sinks: messages that could not be ingested"),
    )
)]
pub struct ApiDoc;

/// The security schemes (a bearer session token or API key, the
/// `X-API-Key` header, the browser's session cookie) and each operation's
/// requirement, from the route table: public routes need none, the others
/// any one of the three. `x-vigilo-permission` names the permission the
/// route declares (the README's role matrix says who holds it).
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
        };
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A session token from `POST /api/v1/auth/login`, or an API key (`vgl_…`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
        let table = crate::api::routes();
        for (method, path, perm) in table.table() {
            let Some(item) = doc.paths.paths.get_mut(*path) else {
                continue;
            };
            let op = match *method {
                "GET" => item.get.as_mut(),
                "POST" => item.post.as_mut(),
                "PUT" => item.put.as_mut(),
                "PATCH" => item.patch.as_mut(),
                "DELETE" => item.delete.as_mut(),
                _ => None,
            };
            let Some(op) = op else { continue };
            let public = matches!(perm, crate::auth::Permission::Public);
            // `/metrics` and `/docs` are public unless configured
            // otherwise: credentials are optional.
            let optional = matches!(
                perm,
                crate::auth::Permission::Metrics | crate::auth::Permission::Docs
            );
            let schemes = ["bearer", "api_key", "session_cookie"]
                .into_iter()
                .map(|name| SecurityRequirement::new(name, Vec::<String>::new()));
            op.security = Some(if public {
                vec![SecurityRequirement::default()]
            } else if optional {
                std::iter::once(SecurityRequirement::default())
                    .chain(schemes)
                    .collect()
            } else {
                schemes.collect()
            });
            if !public && !optional {
                for (code, text) in [
                    (
                        "401",
                        "unauthenticated, invalid_token: no, or a wrong, session or API key",
                    ),
                    (
                        "403",
                        "forbidden: the principal lacks the permission; csrf_failed",
                    ),
                ] {
                    if !op.responses.responses.contains_key(code) {
                        let resp = utoipa::openapi::ResponseBuilder::new()
                            .description(text)
                            .content(
                                "application/json",
                                utoipa::openapi::ContentBuilder::new()
                                    .schema(Some(utoipa::openapi::Ref::from_schema_name(
                                        "ErrorResponse",
                                    )))
                                    .build(),
                            )
                            .build();
                        op.responses.responses.insert(code.to_string(), resp.into());
                    }
                }
            }
            op.extensions.get_or_insert_with(Default::default).insert(
                "x-vigilo-permission".to_string(),
                serde_json::json!(perm.as_str()),
            );
        }
    }
}

/// What the derive macros cannot say about query parameters whose schema is
/// written by hand (`schema_with` drops a field's doc comment and its
/// `style`): comma-separated lists are `style: form, explode: false`, and
/// the shared time and paging parameters get their text here, per route.
struct Refine;

impl utoipa::Modify for Refine {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{ParameterIn, ParameterStyle};
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                for p in op.parameters.iter_mut().flatten() {
                    let utoipa::openapi::RefOr::T(p) = p else {
                        continue;
                    };
                    if !matches!(p.parameter_in, ParameterIn::Query) {
                        continue;
                    }
                    let is_array = p
                        .schema
                        .as_ref()
                        .and_then(|s| serde_json::to_value(s).ok())
                        .is_some_and(|v| v["type"] == "array");
                    if is_array {
                        p.style = Some(ParameterStyle::Form);
                        p.explode = Some(false);
                    }
                    if p.description.is_none() {
                        p.description = param_text(path, &p.name);
                    }
                }
            }
        }
    }
}

/// Descriptions of the parameters whose schema is shared.
fn param_text(path: &str, name: &str) -> Option<String> {
    const TIME: &str = "an RFC 3339 date-time or epoch seconds/milliseconds";
    use crate::api::params::Span;
    let window_span = match path {
        "/api/v1/stats/summary" => Some(Span::Days30.text()),
        "/api/v1/dashboard/overview"
        | "/api/v1/dashboard/timeline"
        | "/api/v1/dashboard/services"
        | "/api/v1/metrics/series" => Some(Span::Hours24.text()),
        _ => None,
    };
    let text = match (path, name) {
        (_, "page") => "Page number, from 1 (default 1).".to_string(),
        (_, "page_size") => format!(
            "Items per page, 1 to {} (default 50).",
            vigilo_storage::MAX_PAGE_SIZE
        ),
        (_, "severity") => "Any of these severities, comma-separated (`high,critical`).".into(),
        (_, "status") => "Any of these statuses, comma-separated (`open,acknowledged`).".into(),
        ("/api/v1/findings" | "/api/v1/findings/groups", "from") => format!(
            "Findings still active at or after this time (last_seen ≥ from): {TIME}. Must not be after `to`."
        ),
        ("/api/v1/findings" | "/api/v1/findings/groups", "to") => {
            format!("Findings that began before this time (first_seen < to): {TIME}.")
        }
        ("/api/v1/events", "from") => {
            format!("Event time lower bound, inclusive: {TIME}. Must not be after `to`.")
        }
        ("/api/v1/events", "to") => format!("Event time upper bound, exclusive: {TIME}."),
        (_, "from") => format!(
            "Window start (default: {} before `to`): {TIME}. Must be before `to`.",
            window_span?
        ),
        (_, "to") if window_span.is_some() => format!("Window end (default: now): {TIME}."),
        _ => return None,
    };
    Some(text)
}

static SPEC: LazyLock<utoipa::openapi::OpenApi> = LazyLock::new(ApiDoc::openapi);

static SWAGGER: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
    LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::from("/api/openapi.json")));

/// The OpenAPI document as pretty JSON (what `vigilo openapi` prints).
pub fn document_json() -> String {
    SPEC.to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

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
