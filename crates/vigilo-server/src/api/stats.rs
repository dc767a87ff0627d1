//! Aggregates for dashboards, all served from the per-minute rollups.

use std::collections::BTreeMap;

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_core::Severity;
use vigilo_storage::SeriesQuery;

use super::params::{self, Span, Window};
use super::{ApiQuery, State, paging};
use crate::error::{ApiError, ApiResult, ErrorResponse};

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Bucket::Minute => "minute",
            Bucket::Hour => "hour",
            Bucket::Day => "day",
        }
    }

    pub(crate) fn secs(self) -> i64 {
        match self {
            Bucket::Minute => 60,
            Bucket::Hour => 3600,
            Bucket::Day => 86_400,
        }
    }
}

/// Most buckets one series request may span.
pub(crate) const MAX_BUCKETS: i64 = 10_000;

pub(crate) fn series_query(w: &Window, bucket: Bucket) -> Result<SeriesQuery, ApiError> {
    let secs = bucket.secs();
    let n = (w.to - w.from).num_seconds() / secs;
    if n > MAX_BUCKETS {
        return Err(ApiError::query(format!(
            "query parameter `bucket`: the range from {} to {}{} spans {n} {} buckets, more than {MAX_BUCKETS}; use a wider bucket or a shorter range",
            w.from.to_rfc3339(),
            w.to.to_rfc3339(),
            w.default_note,
            bucket.name(),
        )));
    }
    Ok(SeriesQuery {
        from: w.from,
        to: w.to,
        bucket_secs: secs,
    })
}

/// Every bucket start of `q`'s range, oldest first: the bucket holding
/// `from`, then each one up to the last that starts before `to`.
pub(crate) fn bucket_starts(q: &SeriesQuery) -> Vec<DateTime<Utc>> {
    let step = q.bucket_secs;
    let mut t = q.from.timestamp().div_euclid(step) * step;
    let mut out = Vec::new();
    while let Some(dt) = DateTime::from_timestamp(t, 0) {
        if dt >= q.to {
            break;
        }
        out.push(dt);
        t += step;
    }
    out
}

fn severity_map(counts: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out: BTreeMap<String, u64> = Severity::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    for (k, v) in counts {
        out.insert(k.clone(), *v);
    }
    out
}

/// The query of a series: a window and a bucket width.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    #[param(schema_with = params::time_schema)]
    pub from: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub to: Option<String>,
    /// Bucket width (default: `day` for the summary, `hour` for the
    /// timeline).
    pub bucket: Option<Bucket>,
}

#[derive(Serialize, ToSchema)]
pub struct TimeCount {
    /// Bucket start, RFC 3339.
    pub time: DateTime<Utc>,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Summary {
    pub total_events: u64,
    pub total_findings: u64,
    /// Every severity, zero included.
    pub findings_by_severity: BTreeMap<String, u64>,
    /// Every bucket of the range, oldest first, empty ones as 0.
    pub events_over_time: Vec<TimeCount>,
}

/// Totals and events over time (the compliance monitor's summary cards).
#[utoipa::path(get, path = "/api/v1/stats/summary", tag = "stats", params(SeriesParams),
    responses((status = 200, body = Summary),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed or unknown, the window is empty, or it spans more than 10,000 buckets")))]
pub async fn summary(
    state: State,
    ApiQuery(p): ApiQuery<SeriesParams>,
) -> ApiResult<Json<Summary>> {
    let w = params::window(p.from.as_deref(), p.to.as_deref(), Span::Days30)?;
    let q = series_query(&w, p.bucket.unwrap_or(Bucket::Day))?;
    let totals = state.storage.totals().await?;
    let mut buckets: BTreeMap<DateTime<Utc>, u64> =
        bucket_starts(&q).into_iter().map(|t| (t, 0)).collect();
    for pt in state.storage.event_series(&q).await? {
        *buckets.entry(pt.bucket).or_default() += pt.count;
    }
    Ok(Json(Summary {
        total_events: totals.events,
        total_findings: totals.findings,
        findings_by_severity: severity_map(&totals.findings_by_severity),
        events_over_time: buckets
            .into_iter()
            .map(|(time, count)| TimeCount { time, count })
            .collect(),
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    #[param(schema_with = params::time_schema)]
    pub from: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleCount {
    pub rule_id: String,
    pub count: u64,
}

#[derive(Serialize, ToSchema)]
pub struct Overview {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// All time.
    pub total_events: u64,
    /// All time.
    pub total_findings: u64,
    /// All time, by status.
    pub findings_by_status: BTreeMap<String, u64>,
    /// In the window.
    pub events_in_window: u64,
    /// New findings in the window.
    pub findings_in_window: u64,
    pub events_by_kind: BTreeMap<String, u64>,
    pub findings_by_severity: BTreeMap<String, u64>,
    /// Rules with the most new findings in the window, most first (up to 10).
    pub top_rules: Vec<RuleCount>,
    pub services: usize,
}

/// Overview of a window (the anomaly monitor's dashboard header).
#[utoipa::path(get, path = "/api/v1/dashboard/overview", tag = "dashboard", params(WindowParams),
    responses((status = 200, body = Overview),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed or unknown, or the window is empty")))]
pub async fn overview(
    state: State,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<Overview>> {
    let w = params::window(p.from.as_deref(), p.to.as_deref(), Span::Hours24)?;
    let (from, to) = (w.from, w.to);
    let totals = state.storage.totals().await?;
    let events = state.storage.event_breakdown(Some(from), Some(to)).await?;
    let findings = state
        .storage
        .finding_breakdown(Some(from), Some(to))
        .await?;
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    let mut services = std::collections::BTreeSet::new();
    for e in &events {
        *by_kind.entry(e.kind.clone()).or_default() += e.count;
        if let Some(s) = &e.service {
            services.insert(s.clone());
        }
    }
    let mut by_sev: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    for f in &findings {
        *by_sev.entry(f.severity.as_str().to_string()).or_default() += f.count;
        *by_rule.entry(f.rule_id.clone()).or_default() += f.count;
    }
    let mut top_rules: Vec<RuleCount> = by_rule
        .into_iter()
        .map(|(rule_id, count)| RuleCount { rule_id, count })
        .collect();
    top_rules.sort_by(|a, b| b.count.cmp(&a.count).then(a.rule_id.cmp(&b.rule_id)));
    top_rules.truncate(10);
    Ok(Json(Overview {
        from,
        to,
        total_events: totals.events,
        total_findings: totals.findings,
        findings_by_status: totals.findings_by_status,
        events_in_window: by_kind.values().sum(),
        findings_in_window: by_sev.values().sum(),
        events_by_kind: by_kind,
        findings_by_severity: severity_map(&by_sev),
        top_rules,
        services: services.len(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct TimelinePoint {
    pub time: DateTime<Utc>,
    pub events: u64,
    pub findings: u64,
    /// New findings in this bucket by severity (every severity present).
    pub findings_by_severity: BTreeMap<String, u64>,
    pub events_by_kind: BTreeMap<String, u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Timeline {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket_seconds: i64,
    /// Every bucket of the range, oldest first, empty ones with zeros.
    pub points: Vec<TimelinePoint>,
}

/// Events and new findings per bucket.
#[utoipa::path(get, path = "/api/v1/dashboard/timeline", tag = "dashboard", params(SeriesParams),
    responses((status = 200, body = Timeline),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed or unknown, the window is empty, or it spans more than 10,000 buckets")))]
pub async fn timeline(
    state: State,
    ApiQuery(p): ApiQuery<SeriesParams>,
) -> ApiResult<Json<Timeline>> {
    let w = params::window(p.from.as_deref(), p.to.as_deref(), Span::Hours24)?;
    let q = series_query(&w, p.bucket.unwrap_or(Bucket::Hour))?;
    let blank = |time| TimelinePoint {
        time,
        events: 0,
        findings: 0,
        findings_by_severity: severity_map(&BTreeMap::new()),
        events_by_kind: BTreeMap::new(),
    };
    let mut points: BTreeMap<DateTime<Utc>, TimelinePoint> = bucket_starts(&q)
        .into_iter()
        .map(|t| (t, blank(t)))
        .collect();
    for pt in state.storage.event_series(&q).await? {
        let p = points.entry(pt.bucket).or_insert_with(|| blank(pt.bucket));
        p.events += pt.count;
        *p.events_by_kind.entry(pt.key).or_default() += pt.count;
    }
    for pt in state.storage.finding_series(&q).await? {
        let p = points.entry(pt.bucket).or_insert_with(|| blank(pt.bucket));
        p.findings += pt.count;
        *p.findings_by_severity.entry(pt.key).or_default() += pt.count;
    }
    Ok(Json(Timeline {
        from: w.from,
        to: w.to,
        bucket_seconds: q.bucket_secs,
        points: points.into_values().collect(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ServiceSummary {
    pub service: String,
    pub events: u64,
    pub findings: u64,
    pub findings_by_severity: BTreeMap<String, u64>,
    pub last_finding_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ServicesParams {
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
pub struct ServicePage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<ServiceSummary>,
    /// Services with events or findings in the window.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// Per-service events and findings in a window, most findings first.
#[utoipa::path(get, path = "/api/v1/dashboard/services", tag = "dashboard", params(ServicesParams),
    responses((status = 200, body = ServicePage),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed or unknown, or the window is empty")))]
pub async fn services(
    state: State,
    ApiQuery(p): ApiQuery<ServicesParams>,
) -> ApiResult<Json<ServicePage>> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let w = params::window(p.from.as_deref(), p.to.as_deref(), Span::Hours24)?;
    let (from, to) = (w.from, w.to);
    let mut out: BTreeMap<String, ServiceSummary> = BTreeMap::new();
    let blank = |service: &str| ServiceSummary {
        service: service.to_string(),
        events: 0,
        findings: 0,
        findings_by_severity: severity_map(&BTreeMap::new()),
        last_finding_at: None,
    };
    for e in state.storage.event_breakdown(Some(from), Some(to)).await? {
        let Some(s) = e.service else { continue };
        out.entry(s.clone()).or_insert_with(|| blank(&s)).events += e.count;
    }
    for f in state
        .storage
        .finding_breakdown(Some(from), Some(to))
        .await?
    {
        let Some(s) = f.service else { continue };
        let entry = out.entry(s.clone()).or_insert_with(|| blank(&s));
        entry.findings += f.count;
        *entry
            .findings_by_severity
            .entry(f.severity.as_str().to_string())
            .or_default() += f.count;
        entry.last_finding_at = entry.last_finding_at.max(f.last_seen);
    }
    let mut list: Vec<ServiceSummary> = out.into_values().collect();
    list.sort_by(|a, b| {
        b.findings
            .cmp(&a.findings)
            .then(b.events.cmp(&a.events))
            .then(a.service.cmp(&b.service))
    });
    let total = list.len() as u64;
    let start = (u64::from(page) - 1).saturating_mul(u64::from(page_size));
    let items = list
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(page_size as usize)
        .collect();
    Ok(Json(ServicePage {
        from,
        to,
        items,
        total,
        page,
        page_size,
    }))
}
