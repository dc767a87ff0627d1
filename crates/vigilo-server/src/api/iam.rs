//! IAM audits over HTTP. Each audit is stored; its findings become Vigilo
//! findings (`rule_id` = check id, grouped by principal) next to runtime
//! detections. Re-auditing the same account updates those findings instead
//! of duplicating them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{FromRequest, Multipart, Path, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{ErrorCode, Finding, FindingStatus, Severity};
use vigilo_storage::{Cursor, FindingWrite, IamAudit, NewIamAudit, Page};

use super::export::{self, Cell, ExportFormat, ExportRow};
use super::{ApiQuery, State, paging, path_id};
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::ingest::too_large;

/// The submitted document and the name it came with.
struct Upload {
    bytes: Bytes,
    name: Option<String>,
}

/// Whether an IAM upload is multipart. JSON and CSV (told apart by the
/// auditor from the content) come as themselves; without a `Content-Type`
/// the content decides, so `curl --data-binary` and scripts that send raw
/// bytes work. Other media types, and values that are no media type, are 415.
fn is_multipart(ct: Option<&header::HeaderValue>) -> ApiResult<bool> {
    let Some(ct) = ct else {
        return Ok(false);
    };
    let unsupported = |why: String| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "header `content-type` {why}; send application/json, text/csv or multipart/form-data"
            ),
        )
    };
    let shown = String::from_utf8_lossy(ct.as_bytes())
        .escape_debug()
        .to_string();
    let essence = crate::ingest::media_essence(ct)
        .map_err(|why| unsupported(format!("`{shown}` is not a media type: {why}")))?;
    match essence.as_str() {
        "multipart/form-data" => Ok(true),
        "application/json" | "text/csv" | "application/csv" | "text/plain" => Ok(false),
        _ => Err(unsupported(format!("`{shown}` is not supported"))),
    }
}

async fn read_upload(state: &State, req: Request) -> ApiResult<Upload> {
    let limit = state.config.ingest.max_body_bytes;
    let is_multipart = is_multipart(req.headers().get(header::CONTENT_TYPE))?;
    if is_multipart {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::new(ErrorCode::MalformedBody, e.body_text()))?;
        while let Some(field) = mp
            .next_field()
            .await
            .map_err(|e| ApiError::new(ErrorCode::MalformedBody, e.body_text()))?
        {
            let is_file = field.file_name().is_some() || field.name() == Some("file");
            if !is_file {
                continue;
            }
            let name = field.file_name().map(str::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| ApiError::new(ErrorCode::MalformedBody, e.body_text()))?;
            if bytes.len() > limit {
                return Err(too_large(limit));
            }
            return Ok(Upload { bytes, name });
        }
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "multipart body has no file field (name it `file`)",
        ));
    }
    let bytes = super::events::read_body(req.into_body(), limit).await?;
    Ok(Upload { bytes, name: None })
}

fn run_audit(bytes: &[u8]) -> ApiResult<vigilo_iam::Report> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::new(
            ErrorCode::InvalidIamDocument,
            "body is empty",
        ));
    }
    let opts = vigilo_iam::AuditOptions {
        now: Utc::now(),
        exclusions: vigilo_iam::Exclusions::default(),
    };
    vigilo_iam::audit(bytes, &opts)
        .map_err(|e| ApiError::new(ErrorCode::InvalidIamDocument, e.to_string()))
}

fn str_field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// Turn the report's findings into Vigilo findings.
fn finding_writes(report: &Value, audit_id: i64) -> Vec<FindingWrite> {
    let now = Utc::now();
    let Some(list) = report.get("findings").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter()
        .map(|f| {
            let check = str_field(f, "check_id");
            let ptype = str_field(f, "principal_type");
            let principal = str_field(f, "principal");
            let method = f.get("method").and_then(Value::as_str);
            let severity: Severity = str_field(f, "severity").parse().unwrap_or(Severity::Medium);
            let mut group = BTreeMap::new();
            group.insert("principal_type".to_string(), ptype.to_string());
            group.insert("principal".to_string(), principal.to_string());
            if let Some(m) = method {
                group.insert("method".to_string(), m.to_string());
            }
            let title = str_field(f, "title");
            let explanation = str_field(f, "explanation");
            let risk = vigilo_detect::severity_score(severity);
            let tags = f
                .get("references")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            // The title tells apart findings of one check on one principal
            // (e.g. access key 1 and 2), and stays stable across audits.
            let key = format!(
                "iam|{check}|{ptype}|{principal}|{}|{title}",
                method.unwrap_or_default()
            );
            FindingWrite {
                incident_key: key,
                new_evidence: Vec::new(),
                matches: 1,
                finding: Finding {
                    id: 0,
                    rule_id: check.to_string(),
                    rule_title: title.to_string(),
                    severity,
                    status: FindingStatus::Open,
                    group,
                    service: Some("iam".to_string()),
                    user: (ptype == "user").then(|| principal.to_string()),
                    first_seen: now,
                    last_seen: now,
                    event_count: 1,
                    evidence: Vec::new(),
                    description: format!("{title} (IAM audit {audit_id})"),
                    tags,
                    risk_score: risk,
                    explanation: explanation.to_string(),
                    note: None,
                    assignee: None,
                    workflow_tags: Vec::new(),
                    close_reason: None,
                    recommended_actions: Vec::new(),
                    enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
                    enriched_at: None,
                    created_at: now,
                    updated_at: now,
                },
            }
        })
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct AuditCreated {
    #[serde(flatten)]
    pub audit: IamAuditView,
    /// Ids of the Vigilo findings created or updated from this audit.
    pub finding_ids: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct IamAuditView {
    pub id: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub source: Option<String>,
    pub input_format: String,
    #[schema(value_type = Object)]
    pub summary: Value,
    /// The full report (omitted in listings).
    #[serde(skip_serializing_if = "Value::is_null")]
    #[schema(value_type = Object)]
    pub report: Value,
}

impl From<IamAudit> for IamAuditView {
    fn from(a: IamAudit) -> Self {
        IamAuditView {
            id: a.id,
            created_at: a.created_at,
            source: a.source,
            input_format: a.input_format,
            summary: a.summary,
            report: a.report,
        }
    }
}

async fn store_audit(
    state: &State,
    upload: Upload,
) -> ApiResult<(IamAudit, Vec<i64>, vigilo_iam::Report)> {
    let bytes = upload.bytes.clone();
    let report = tokio::task::spawn_blocking(move || run_audit(&bytes))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let report_json =
        serde_json::to_value(&report).map_err(|e| ApiError::internal(e.to_string()))?;
    let format = report_json
        .get("input_format")
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let audit = state
        .storage
        .insert_iam_audit(NewIamAudit {
            created_at: Utc::now(),
            source: upload.name,
            input_format: format,
            summary: report_json.get("summary").cloned().unwrap_or(Value::Null),
            report: report_json.clone(),
        })
        .await?;
    let writes = finding_writes(&report_json, audit.id);
    let findings = state
        .pipeline
        .commit_findings(writes)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    report_to_hub(state, &audit, &report).await;
    Ok((audit, findings.iter().map(|f| f.id).collect(), report))
}

/// Tell the pipeline hub (`iam-audit`) an audit is done, with the summary an
/// IAM audit service publishes for the live board.
async fn report_to_hub(state: &State, audit: &IamAudit, report: &vigilo_iam::Report) {
    let mut body = serde_json::Map::new();
    body.insert("status".into(), "done".into());
    body.insert("pipeline".into(), crate::hub::IAM_AUDIT.into());
    body.insert("audit_id".into(), audit.id.into());
    body.insert("summary".into(), vigilo_iam::seed_summary(report));
    if let Err(e) = state.hub.report_internal(crate::hub::IAM_AUDIT, body).await {
        tracing::warn!(error = %e, audit = audit.id, "iam audit: hub report failed");
    }
}

/// Audit an IAM document (JSON body, CSV credential report, or a multipart
/// upload with a `file` field). Formats are detected: the users/groups format,
/// `get-account-authorization-details`, a policy document, a credential
/// report.
#[utoipa::path(post, path = "/api/v1/iam/audits", tag = "iam",
    request_body(description = "An IAM document: the output of `aws iam get-account-authorization-details`, a policy document, the simple users/groups format, or the credential report (CSV or the `get-credential-report` JSON); as JSON, as CSV, or as a multipart/form-data `file` upload. A document none of these shapes answers 400 `invalid_iam_document`.",
        content(
            (Object = "application/json", example = json!({"users": [{"name": "alice", "mfa_enabled": false, "is_root": true, "permissions": ["*"]}]})),
            (String = "text/csv"),
            (IamUpload = "multipart/form-data"),
        )),
    responses((status = 201, body = AuditCreated),
        (status = 400, body = ErrorResponse, description = "invalid_iam_document, malformed_body, invalid_request (a multipart body without a file)"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type")))]
pub async fn create(state: State, req: Request) -> ApiResult<(StatusCode, Json<AuditCreated>)> {
    let upload = read_upload(&state, req).await?;
    let (audit, finding_ids, _) = store_audit(&state, upload).await?;
    Ok((
        StatusCode::CREATED,
        Json(AuditCreated {
            audit: audit.into(),
            finding_ids,
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    #[param(schema_with = super::params::page_schema)]
    pub page: Option<u32>,
    #[param(schema_with = super::params::page_size_schema)]
    pub page_size: Option<u32>,
    /// Export every stored audit instead of a page: `csv` or `ndjson` (also
    /// chosen by `Accept: text/csv` or `application/x-ndjson`).
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// A multipart upload of an IAM document.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the multipart body; read by `read_upload`
pub struct IamUpload {
    /// The document (JSON or CSV).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<IamAuditView>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// Stored audits, newest first (summaries only); or every stored audit
/// exported as CSV or NDJSON.
#[utoipa::path(get, path = "/api/v1/iam/audits", tag = "iam", params(AuditParams),
    responses(
        (status = 200, description = "A page of audits (JSON), or with `format` (or an `Accept` \
            that prefers it) every stored audit as an attachment: CSV with the columns id, \
            created_at, source, input_format, summary (the summary as JSON text), or NDJSON, one \
            audit per line, as listed (without its report)",
            content(
                (AuditPage = "application/json"),
                (String = "text/csv"),
                (String = "application/x-ndjson"),
            ),
            headers(("Content-Disposition" = String, description = "With an export: `attachment; filename=\"iam-audits-<UTC time>.csv\"` (or `.ndjson`)"))),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed or unknown"),
        (status = 500, body = ErrorResponse, description = "storage_error: a server-side fault, never caused by the request")))]
pub async fn list(
    state: State,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    if let Some(format) = export::negotiate(p.format, &headers) {
        let storage = state.storage.clone();
        return export::export(
            format,
            "iam-audits",
            move |after| {
                let storage = storage.clone();
                Box::pin(async move {
                    let audits = storage.scan_iam_audits(after, export::PAGE_ROWS).await?;
                    Ok(audits.into_iter().map(IamAuditView::from).collect())
                })
            },
            |a: &IamAuditView| Cursor {
                time: a.created_at,
                id: a.id,
            },
        )
        .await;
    }
    let Page {
        items,
        total,
        page,
        page_size,
    } = state.storage.list_iam_audits(page, page_size).await?;
    Ok(Json(AuditPage {
        items: items
            .into_iter()
            .map(|mut a| {
                a.report = Value::Null;
                a.into()
            })
            .collect(),
        total,
        page,
        page_size,
    })
    .into_response())
}

impl ExportRow for IamAuditView {
    fn columns() -> &'static [&'static str] {
        &["id", "created_at", "source", "input_format", "summary"]
    }

    fn cells(&self) -> Vec<Cell<'_>> {
        vec![
            Cell::Int(self.id),
            Cell::Time(self.created_at),
            Cell::from(self.source.as_deref()),
            Cell::from(self.input_format.as_str()),
            Cell::Json(&self.summary),
        ]
    }
}

/// One stored audit with its full report.
#[utoipa::path(get, path = "/api/v1/iam/audits/{id}", tag = "iam",
    params(("id" = i64, Path, description = "Audit id")),
    responses((status = 200, body = IamAuditView), (status = 404, body = ErrorResponse, description = "not_found")))]
pub async fn get_one(state: State, Path(id): Path<String>) -> ApiResult<Json<IamAuditView>> {
    let id = path_id("audit", &id)?;
    state
        .storage
        .get_iam_audit(id)
        .await?
        .map(|a| Json(a.into()))
        .ok_or_else(|| ApiError::not_found("audit", id))
}

/// The IAM audit service's endpoint: `{high_risk, medium_risk, low_risk, details}`.
/// The audit is stored and its findings recorded as with `/api/v1/iam/audits`.
#[utoipa::path(post, path = "/audit-iam", tag = "iam",
    request_body(description = "An IAM document: the output of `aws iam get-account-authorization-details`, a policy document, the simple users/groups format, or the credential report (CSV or the `get-credential-report` JSON); as JSON, as CSV, or as a multipart/form-data `file` upload. A document none of these shapes answers 400 `invalid_iam_document`.",
        content(
            (Object = "application/json", example = json!({"users": [{"name": "alice", "mfa_enabled": false, "is_root": true, "permissions": ["*"]}]})),
            (String = "text/csv"),
            (IamUpload = "multipart/form-data"),
        )),
    responses((status = 200, description = "The IAM audit service's response shape: `{high_risk, medium_risk, low_risk, details: [{risk, issue}]}`", body = Object),
        (status = 400, body = ErrorResponse, description = "invalid_iam_document, malformed_body, invalid_request (a multipart body without a file)"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type")))]
pub async fn seed_audit(state: State, req: Request) -> ApiResult<Json<Value>> {
    let upload = read_upload(&state, req).await?;
    let (_, _, report) = store_audit(&state, upload).await?;
    Ok(Json(vigilo_iam::seed_summary(&report)))
}
