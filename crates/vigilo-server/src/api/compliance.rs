//! Compliance: frameworks, controls with their status, and the evidence
//! export (JSON, CSV, printable HTML). See `crate::compliance` for the
//! mapping and the status rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{FindingQuery, GroupBy, RuleIdFilter};

use super::export::{Cell, push_csv_record};
use super::{ApiQuery, State};
use crate::compliance::{Catalog, ControlStatus, Evaluation, Mapped, RuleFacts, evaluate, parse};
use crate::error::{ApiError, ApiResult, ErrorResponse};

/// Findings of one control shown in its detail and per HTML page.
const DETAIL_FINDINGS: u32 = 200;
/// Evidence events shown per finding in the HTML report.
const HTML_EVENTS: usize = 5;

/// Load the catalog: the bundled mapping, the configured files, the loaded
/// rules' tags.
fn catalog(state: &State) -> ApiResult<Catalog> {
    let mut files = vec![(
        "compliance/bundled.yml".to_string(),
        parse(crate::compliance::BUNDLED, "compliance/bundled.yml")
            .map_err(|e| ApiError::internal(e.to_string()))?,
    )];
    for path in &state.config.compliance.mappings {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            tracing::error!(path = %origin, error = %e, "compliance mapping file unreadable");
            ApiError::internal(format!("compliance mapping file {origin} cannot be read"))
        })?;
        let file = parse(&text, &origin).map_err(|e| {
            tracing::error!(error = %e, "compliance mapping file invalid");
            ApiError::internal(e.to_string())
        })?;
        files.push((origin, file));
    }
    let rules = state.pipeline.rules();
    Catalog::build(
        &files,
        rules
            .iter()
            .map(|r| (r.rule_id.as_str(), r.tags.as_slice())),
    )
    .map_err(|e| {
        tracing::error!(error = %e, "compliance mapping invalid");
        ApiError::internal(e.to_string())
    })
}

/// What is known of every rule and check: loaded, open findings, last seen.
async fn facts(state: &State) -> ApiResult<BTreeMap<String, RuleFacts>> {
    let mut out: BTreeMap<String, RuleFacts> = BTreeMap::new();
    let disabled: Vec<String> = state
        .storage
        .rule_states()
        .await?
        .into_iter()
        .filter(|s| !s.enabled)
        .map(|s| s.rule_id)
        .collect();
    for r in state.pipeline.rules().iter() {
        if r.emits_findings && !disabled.contains(&r.rule_id) {
            out.entry(r.rule_id.clone()).or_default().monitored = true;
        }
    }
    let audited = state.storage.list_iam_audits(1, 1).await?.total > 0;
    if audited {
        let cat = catalog(state)?;
        for rule in cat.mapped_rules() {
            if rule.starts_with("iam.") {
                out.entry(rule.to_string()).or_default().monitored = true;
            }
        }
    }
    let base = FindingQuery {
        page_size: vigilo_storage::MAX_PAGE_SIZE,
        ..FindingQuery::default()
    };
    for g in all_groups(state, &base).await? {
        if let Some(key) = g.key {
            out.entry(key).or_default().last_seen = Some(g.last_seen);
        }
    }
    for sev in Severity::ALL {
        let q = FindingQuery {
            severity: vec![sev],
            status: vec![FindingStatus::Open, FindingStatus::Acknowledged],
            ..base.clone()
        };
        for g in all_groups(state, &q).await? {
            if let Some(key) = g.key {
                out.entry(key)
                    .or_default()
                    .open_by_severity
                    .insert(sev.as_str().to_string(), g.count);
            }
        }
    }
    Ok(out)
}

async fn all_groups(
    state: &State,
    q: &FindingQuery,
) -> ApiResult<Vec<vigilo_storage::FindingGroup>> {
    let mut out = Vec::new();
    let mut q = q.clone();
    q.page = 1;
    loop {
        let page = state.storage.finding_groups(GroupBy::Rule, &q).await?;
        let n = page.items.len();
        out.extend(page.items);
        if n == 0 || out.len() as u64 >= page.total {
            return Ok(out);
        }
        q.page += 1;
    }
}

#[derive(Serialize, ToSchema)]
pub struct FrameworkView {
    /// `soc2`, `iso27001`, `nist_800_53`, `cis_aws`, or one from a user's file.
    pub id: String,
    pub title: String,
    pub controls: u64,
    pub failing: u64,
    pub passing: u64,
    pub not_monitored: u64,
}

#[derive(Serialize, ToSchema)]
pub struct FrameworkList {
    pub items: Vec<FrameworkView>,
}

/// The frameworks, each with its controls counted by status.
#[utoipa::path(get, path = "/api/v1/compliance/frameworks", tag = "compliance",
    responses((status = 200, body = FrameworkList)))]
pub async fn frameworks(state: State) -> ApiResult<Json<FrameworkList>> {
    let cat = catalog(&state)?;
    let facts = facts(&state).await?;
    let items = cat
        .frameworks
        .iter()
        .map(|f| {
            let mut v = FrameworkView {
                id: f.id.clone(),
                title: f.title.clone(),
                controls: f.controls.len() as u64,
                failing: 0,
                passing: 0,
                not_monitored: 0,
            };
            for &ci in &f.controls {
                match evaluate(&cat.controls[ci], &facts).status {
                    ControlStatus::Failing => v.failing += 1,
                    ControlStatus::Passing => v.passing += 1,
                    ControlStatus::NotMonitored => v.not_monitored += 1,
                }
            }
            v
        })
        .collect();
    Ok(Json(FrameworkList { items }))
}

#[derive(Serialize, ToSchema)]
pub struct ControlView {
    /// `<framework>:<control id>`, the path id of the control's detail.
    pub key: String,
    pub framework: String,
    pub id: String,
    pub title: String,
    pub status: ControlStatus,
    /// Open (open or acknowledged) findings of mapped rules, by severity.
    pub open_by_severity: BTreeMap<String, u64>,
    pub open: u64,
    /// Latest `last_seen` of any finding of a mapped rule or check.
    pub last_evidence: Option<DateTime<Utc>>,
    /// Mapped rules and checks that are monitored.
    pub monitored: Vec<String>,
    /// Every mapped rule and check, with the reason.
    pub mapped: Vec<Mapped>,
}

fn control_view(cat: &Catalog, ci: usize, e: Evaluation) -> ControlView {
    let c = &cat.controls[ci];
    ControlView {
        key: c.key.clone(),
        framework: c.framework.clone(),
        id: c.id.clone(),
        title: c.title.clone(),
        status: e.status,
        open_by_severity: e.open_by_severity,
        open: e.open,
        last_evidence: e.last_evidence,
        monitored: e.monitored,
        mapped: c.mapped.clone(),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ControlsParams {
    /// Framework id (`soc2`, `iso27001`, `nist_800_53`, `cis_aws`, …).
    #[param(min_length = 1, max_length = 100)]
    pub framework: String,
}

#[derive(Serialize, ToSchema)]
pub struct ControlList {
    pub framework: String,
    pub items: Vec<ControlView>,
}

fn framework_controls<'a>(cat: &'a Catalog, framework: &str) -> ApiResult<&'a [usize]> {
    cat.framework(framework)
        .map(|f| f.controls.as_slice())
        .ok_or_else(|| ApiError::not_found("framework", framework))
}

/// The controls of one framework with their status.
#[utoipa::path(get, path = "/api/v1/compliance/controls", tag = "compliance",
    params(ControlsParams),
    responses((status = 200, body = ControlList),
        (status = 400, body = ErrorResponse, description = "invalid_query: `framework` missing"),
        (status = 404, body = ErrorResponse, description = "not_found: no such framework")))]
pub async fn controls(
    state: State,
    ApiQuery(p): ApiQuery<ControlsParams>,
) -> ApiResult<Json<ControlList>> {
    let cat = catalog(&state)?;
    let ids = framework_controls(&cat, &p.framework)?.to_vec();
    let facts = facts(&state).await?;
    let items = ids
        .into_iter()
        .map(|ci| control_view(&cat, ci, evaluate(&cat.controls[ci], &facts)))
        .collect();
    Ok(Json(ControlList {
        framework: p.framework,
        items,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ControlDetail {
    pub control: ControlView,
    /// Findings of the mapped rules and checks, most recent first (at most
    /// 200 per rule).
    pub findings: Vec<Finding>,
}

/// Findings of the mapped rules overlapping `[from, to)`, newest first.
async fn control_findings(
    state: &State,
    cat: &Catalog,
    ci: usize,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
) -> ApiResult<Vec<Finding>> {
    let mut out: Vec<Finding> = Vec::new();
    for m in &cat.controls[ci].mapped {
        let q = FindingQuery {
            rule_id: Some(RuleIdFilter::Exact(m.rule.clone())),
            from,
            to,
            ..FindingQuery::default()
        };
        let mut after = None;
        loop {
            let page = state
                .storage
                .scan_findings(&q, after, super::export::PAGE_ROWS)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            out.extend(page);
            if limit.is_some_and(|l| out.len() as u32 >= l) {
                break;
            }
        }
    }
    out.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then(b.id.cmp(&a.id)));
    out.dedup_by_key(|f| f.id);
    if let Some(l) = limit {
        out.truncate(l as usize);
    }
    Ok(out)
}

/// One control: its status, mapped rules and checks, and their findings.
#[utoipa::path(get, path = "/api/v1/compliance/controls/{id}", tag = "compliance",
    params(("id" = String, Path, description = "`<framework>:<control id>`, e.g. `soc2:CC6.1`")),
    responses((status = 200, body = ControlDetail),
        (status = 404, body = ErrorResponse, description = "not_found: no such control")))]
pub async fn control(state: State, Path(id): Path<String>) -> ApiResult<Json<ControlDetail>> {
    let cat = catalog(&state)?;
    let ci = cat
        .find(&id)
        .ok_or_else(|| ApiError::not_found("control", &id))?;
    let facts = facts(&state).await?;
    let findings = control_findings(&state, &cat, ci, None, None, Some(DETAIL_FINDINGS)).await?;
    Ok(Json(ControlDetail {
        control: control_view(&cat, ci, evaluate(&cat.controls[ci], &facts)),
        findings,
    }))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceFormat {
    Json,
    Csv,
    Html,
}

/// An export's period when it names no `from`.
const EXPORT_DEFAULT_DAYS: i64 = 30;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Framework id.
    #[param(min_length = 1, max_length = 100)]
    pub framework: String,
    /// Start of the period (RFC 3339, inclusive): findings whose last_seen
    /// is at or after it (or epoch seconds or milliseconds). Default: 30
    /// days before `to`.
    #[param(schema_with = super::params::time_schema)]
    pub from: Option<String>,
    /// End of the period (RFC 3339, exclusive): findings whose first_seen is
    /// before it. Default: now.
    #[param(schema_with = super::params::time_schema)]
    pub to: Option<String>,
    /// `json` (default), `csv` or `html`.
    pub format: Option<EvidenceFormat>,
    /// Only this control (`<framework>:<control id>`).
    #[param(max_length = 200)]
    pub control: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EvidenceControl {
    #[serde(flatten)]
    pub control: ControlView,
    /// Ids of the period's findings of this control.
    pub findings: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EvidenceExport {
    pub framework: String,
    pub framework_title: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub generated_at: DateTime<Utc>,
    pub controls: Vec<EvidenceControl>,
    /// Every finding of the period mapped to one of the controls, once.
    pub findings: Vec<Finding>,
}

/// The evidence for a framework (or one control) over a period: every
/// finding of a mapped rule or check whose activity overlaps `[from, to)`
/// (last_seen at or after `from`, first_seen before `to`), as JSON, CSV (one
/// row per control and finding) or a printable HTML report (a summary, then
/// one page per failing control with its findings, their triage history and
/// evidence events). The period defaults to the 30 days before now.
#[utoipa::path(get, path = "/api/v1/compliance/export", tag = "compliance",
    params(ExportParams),
    responses((status = 200, description = "The evidence as an attachment: JSON, CSV (one row per control and finding) or a printable HTML report",
            content(
                (EvidenceExport = "application/json"),
                (String = "text/csv"),
                (String = "text/html"),
            )),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter missing or malformed, or `to` not after `from`"),
        (status = 404, body = ErrorResponse, description = "not_found: no such framework, or no such control in it")))]
pub async fn export(state: State, ApiQuery(p): ApiQuery<ExportParams>) -> ApiResult<Response> {
    let to = super::params::time_param("to", p.to.as_deref())?.unwrap_or_else(Utc::now);
    let from = super::params::time_param("from", p.from.as_deref())?
        .unwrap_or(to - chrono::Duration::days(EXPORT_DEFAULT_DAYS));
    if to <= from {
        return Err(ApiError::query("`to` must be after `from`"));
    }
    let cat = catalog(&state)?;
    let framework = cat
        .framework(&p.framework)
        .ok_or_else(|| ApiError::not_found("framework", &p.framework))?;
    let mut ids = framework.controls.clone();
    if let Some(c) = &p.control {
        let ci = cat
            .find(c)
            .ok_or_else(|| ApiError::not_found("control", c))?;
        if !ids.contains(&ci) {
            return Err(ApiError::new(
                vigilo_core::ErrorCode::NotFound,
                format!(
                    "control `{c}` of framework `{}` does not exist",
                    framework.id
                ),
            ));
        }
        ids = vec![ci];
    }
    let facts = facts(&state).await?;
    let mut all: BTreeMap<i64, Finding> = BTreeMap::new();
    let mut controls = Vec::new();
    for ci in ids {
        let found = control_findings(&state, &cat, ci, Some(from), Some(to), None).await?;
        let view = control_view(&cat, ci, evaluate(&cat.controls[ci], &facts));
        controls.push(EvidenceControl {
            control: view,
            findings: found.iter().map(|f| f.id).collect(),
        });
        for f in found {
            all.insert(f.id, f);
        }
    }
    let doc = EvidenceExport {
        framework: framework.id.clone(),
        framework_title: framework.title.clone(),
        from,
        to,
        generated_at: Utc::now(),
        controls,
        findings: all.into_values().collect(),
    };
    let stem = format!(
        "evidence-{}-{}",
        doc.framework,
        doc.generated_at.format("%Y%m%dT%H%M%SZ")
    );
    let (body, content_type, ext) = match p.format.unwrap_or(EvidenceFormat::Json) {
        EvidenceFormat::Json => (
            serde_json::to_vec_pretty(&doc).map_err(|e| ApiError::internal(e.to_string()))?,
            "application/json",
            "json",
        ),
        EvidenceFormat::Csv => (csv(&doc), "text/csv; charset=utf-8", "csv"),
        EvidenceFormat::Html => (
            html(&state, &doc).await?.into_bytes(),
            "text/html; charset=utf-8",
            "html",
        ),
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{stem}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

const CSV_COLUMNS: &[&str] = &[
    "framework",
    "control",
    "control_title",
    "control_status",
    "finding_id",
    "rule_id",
    "rule_title",
    "severity",
    "status",
    "first_seen",
    "last_seen",
    "event_count",
    "user",
    "service",
    "assignee",
    "risk_score",
    "close_reason",
];

fn csv(doc: &EvidenceExport) -> Vec<u8> {
    let by_id: BTreeMap<i64, &Finding> = doc.findings.iter().map(|f| (f.id, f)).collect();
    let mut out = Vec::new();
    push_csv_record(&mut out, CSV_COLUMNS.iter().map(|c| Cell::from(*c)));
    for c in &doc.controls {
        for id in &c.findings {
            let Some(f) = by_id.get(id) else { continue };
            push_csv_record(
                &mut out,
                [
                    Cell::from(doc.framework.as_str()),
                    Cell::from(c.control.id.as_str()),
                    Cell::from(c.control.title.as_str()),
                    Cell::from(c.control.status.as_str()),
                    Cell::Int(f.id),
                    Cell::from(f.rule_id.as_str()),
                    Cell::from(f.rule_title.as_str()),
                    Cell::from(f.severity.as_str()),
                    Cell::from(f.status.as_str()),
                    Cell::Time(f.first_seen),
                    Cell::Time(f.last_seen),
                    Cell::Int(f.event_count),
                    Cell::from(f.user.as_deref()),
                    Cell::from(f.service.as_deref()),
                    Cell::from(f.assignee.as_deref()),
                    Cell::Int(i64::from(f.risk_score)),
                    match &f.close_reason {
                        Some(r) => Cell::from(
                            serde_json::to_value(r)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                        ),
                        None => Cell::Null,
                    },
                ],
            );
        }
    }
    out
}

/// HTML text escaping (element content and quoted attribute values).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

const STYLE: &str = "body{font-family:sans-serif;font-size:12px;margin:2em;color:#111}\
h1{font-size:20px}h2{font-size:16px;margin-top:0}table{border-collapse:collapse;width:100%;margin:.5em 0}\
th,td{border:1px solid #999;padding:3px 5px;text-align:left;vertical-align:top}\
th{background:#eee}.failing{color:#b00020;font-weight:bold}.passing{color:#1b5e20}\
.not_monitored{color:#666}pre{white-space:pre-wrap;word-break:break-all;margin:0;font-size:11px}\
section.control{page-break-before:always;break-before:page}";

async fn html(state: &State, doc: &EvidenceExport) -> ApiResult<String> {
    let by_id: BTreeMap<i64, &Finding> = doc.findings.iter().map(|f| (f.id, f)).collect();
    let mut h = String::new();
    let title = format!(
        "Evidence: {} ({} to {})",
        doc.framework_title,
        time(doc.from),
        time(doc.to)
    );
    // Writing to a String cannot fail.
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>",
        escape(&title)
    );
    let _ = write!(
        h,
        "<h1>{}</h1><p>Generated {} by Vigilo. A finding belongs to the period when its activity overlaps it (last seen at or after the start, first seen before the end).</p>",
        escape(&title),
        escape(&time(doc.generated_at))
    );
    h.push_str("<table><thead><tr><th>Control</th><th>Title</th><th>Status</th><th>Open findings</th><th>Findings in period</th><th>Last evidence</th></tr></thead><tbody>");
    for c in &doc.controls {
        let v = &c.control;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&v.id),
            escape(&v.title),
            v.status.as_str(),
            v.status.as_str().replace('_', " "),
            v.open,
            c.findings.len(),
            v.last_evidence.map(time).unwrap_or_default()
        );
    }
    h.push_str("</tbody></table>");
    for c in doc
        .controls
        .iter()
        .filter(|c| c.control.status == ControlStatus::Failing)
    {
        let v = &c.control;
        let _ = write!(
            h,
            "<section class=\"control\"><h2>{} {}: <span class=\"failing\">failing</span></h2>",
            escape(&v.id),
            escape(&v.title)
        );
        h.push_str("<p>Mapped rules and checks:</p><ul>");
        for m in &v.mapped {
            let _ = write!(
                h,
                "<li><code>{}</code>: {}</li>",
                escape(&m.rule),
                escape(&m.reason)
            );
        }
        h.push_str("</ul>");
        if c.findings.is_empty() {
            h.push_str("<p>No finding of these rules in the period.</p>");
        }
        for id in c.findings.iter().take(DETAIL_FINDINGS as usize) {
            let Some(f) = by_id.get(id) else { continue };
            let _ = write!(
                h,
                "<h3>Finding {} · {} · {} · {}</h3><table><tr><th>Rule</th><td>{} (<code>{}</code>)</td></tr><tr><th>First / last seen</th><td>{} / {}</td></tr><tr><th>Events</th><td>{}</td></tr><tr><th>User / service</th><td>{} / {}</td></tr><tr><th>Assignee</th><td>{}</td></tr><tr><th>Explanation</th><td>{}</td></tr></table>",
                f.id,
                escape(f.severity.as_str()),
                escape(f.status.as_str()),
                f.risk_score,
                escape(&f.rule_title),
                escape(&f.rule_id),
                time(f.first_seen),
                time(f.last_seen),
                f.event_count,
                escape(f.user.as_deref().unwrap_or("-")),
                escape(f.service.as_deref().unwrap_or("-")),
                escape(f.assignee.as_deref().unwrap_or("-")),
                escape(&f.explanation)
            );
            let history = state
                .storage
                .finding_history(f.id)
                .await?
                .unwrap_or_default();
            h.push_str("<table><thead><tr><th>When</th><th>Who</th><th>What</th><th>From</th><th>To</th></tr></thead><tbody>");
            for e in &history {
                let action = serde_json::to_value(e.action)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    time(e.at),
                    escape(&e.actor),
                    escape(&action),
                    escape(e.from.as_deref().unwrap_or("")),
                    escape(e.to.as_deref().unwrap_or(""))
                );
            }
            h.push_str("</tbody></table>");
            let ids: Vec<i64> = f.evidence.iter().take(HTML_EVENTS).copied().collect();
            let events = state.storage.get_events(&ids).await?;
            if !events.is_empty() {
                let _ = write!(
                    h,
                    "<p>Evidence events ({} of {}):</p><table><tbody>",
                    events.len(),
                    f.evidence.len()
                );
                for ev in &events {
                    let text = serde_json::to_string(&ev.payload).unwrap_or_default();
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                        ev.id,
                        time(ev.timestamp),
                        escape(&text)
                    );
                }
                h.push_str("</tbody></table>");
            }
        }
        h.push_str("</section>");
    }
    h.push_str("</body></html>");
    Ok(h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_covers_markup() {
        assert_eq!(
            super::escape("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
