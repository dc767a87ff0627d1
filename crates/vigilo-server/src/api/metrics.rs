//! The metrics explorer: series of the numeric fields named in
//! `metrics.fields`, served from their per-minute rollups (written with
//! the events), never from raw events.

use std::collections::BTreeMap;

use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vigilo_storage::{MetricAgg, MetricGroupBy, MetricSeriesQuery};

use super::params::{self, Span};
use super::stats::{Bucket, bucket_starts, series_query};
use super::{ApiQuery, State};
use crate::error::{ApiError, ApiResult, ErrorResponse};

/// Most groups of each kind `/api/v1/metrics/fields` lists.
const MAX_GROUPS: u32 = 1000;

/// How a series is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// One series of every value (`key` null).
    None,
    /// By the event's service; events without one form the series with
    /// `key` null.
    Service,
    /// By the event's top-level `metric_name` (events without one are left out).
    MetricName,
    /// By the event's top-level `source_id` (events without one are left out).
    SourceId,
}

impl From<GroupBy> for MetricGroupBy {
    fn from(g: GroupBy) -> Self {
        match g {
            GroupBy::None => MetricGroupBy::None,
            GroupBy::Service => MetricGroupBy::Service,
            GroupBy::MetricName => MetricGroupBy::MetricName,
            GroupBy::SourceId => MetricGroupBy::SourceId,
        }
    }
}

/// What each point says about the values of its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Agg {
    Avg,
    Sum,
    Count,
    Min,
    Max,
    /// Median, within 1% of the true value (a mergeable DDSketch).
    P50,
    /// 95th percentile, within 1%.
    P95,
    /// 99th percentile, within 1%.
    P99,
}

impl From<Agg> for MetricAgg {
    fn from(a: Agg) -> Self {
        match a {
            Agg::Avg => MetricAgg::Avg,
            Agg::Sum => MetricAgg::Sum,
            Agg::Count => MetricAgg::Count,
            Agg::Min => MetricAgg::Min,
            Agg::Max => MetricAgg::Max,
            Agg::P50 => MetricAgg::P50,
            Agg::P95 => MetricAgg::P95,
            Agg::P99 => MetricAgg::P99,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricSeriesParams {
    /// A numeric field named in `metrics.fields` (listed by
    /// `/api/v1/metrics/fields`; by default `cpu`, `latency_ms`, `amount`,
    /// `value`).
    #[param(min_length = 1)]
    pub field: String,
    /// How to split the series (default `none`).
    #[param(inline)]
    pub group_by: Option<GroupBy>,
    /// The aggregate of each bucket (default `avg`).
    #[param(inline)]
    pub agg: Option<Agg>,
    #[param(schema_with = params::time_schema)]
    pub from: Option<String>,
    #[param(schema_with = params::time_schema)]
    pub to: Option<String>,
    /// Bucket width (default `hour`).
    pub bucket: Option<Bucket>,
    /// Most series returned (1-50, default 10): the groups with the most
    /// values in the range, the others left out (`groups_total` counts
    /// them all). Ignored with `group_by=none`.
    #[param(schema_with = limit_schema)]
    pub limit: Option<u32>,
}

/// `limit`: 1 to [`MAX_SERIES_LIMIT`], default [`DEFAULT_SERIES_LIMIT`].
fn limit_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    // A literal that does not deserialize is a programming error caught
    // by the OpenAPI tests.
    serde_json::from_value(serde_json::json!({
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_SERIES_LIMIT,
        "default": DEFAULT_SERIES_LIMIT,
    }))
    .unwrap_or_else(|_| {
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(
            utoipa::openapi::schema::ObjectBuilder::new().build(),
        ))
    })
}

/// Series returned when `limit` is not given.
const DEFAULT_SERIES_LIMIT: u32 = 10;
/// Largest `limit`.
const MAX_SERIES_LIMIT: u32 = 50;

#[derive(Serialize, ToSchema)]
pub struct MetricValue {
    /// Bucket start, RFC 3339.
    pub time: DateTime<Utc>,
    /// The aggregate of the bucket's values; null when it holds none.
    pub value: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct MetricSeriesLine {
    /// The group (service, metric name or source id); null for the
    /// whole series (`group_by=none`) and for events without a service.
    pub key: Option<String>,
    /// Every bucket of the range, oldest first.
    pub points: Vec<MetricValue>,
}

#[derive(Serialize, ToSchema)]
pub struct MetricSeries {
    pub field: String,
    pub agg: Agg,
    pub group_by: GroupBy,
    pub bucket_seconds: i64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// One series per group with values in the range (null key first,
    /// then by key), at most `limit` of them: the groups with the most
    /// values; with `group_by=none` exactly one.
    pub series: Vec<MetricSeriesLine>,
    /// Groups with values in the range, those left out by `limit`
    /// included (1 with `group_by=none`).
    pub groups_total: u64,
}

/// A numeric field over time, aggregated per bucket and group.
#[utoipa::path(get, path = "/api/v1/metrics/series", tag = "metrics", params(MetricSeriesParams),
    responses((status = 200, body = MetricSeries),
        (status = 400, body = ErrorResponse, description = "invalid_query: a parameter is malformed, missing (`field`) or unknown, `field` is not one of `metrics.fields`, the window is empty, or it spans more than 10,000 buckets"),
        (status = 500, body = ErrorResponse, description = "storage_error: a server-side fault, never caused by the request")))]
pub async fn series(
    state: State,
    ApiQuery(p): ApiQuery<MetricSeriesParams>,
) -> ApiResult<Json<MetricSeries>> {
    let fields = &state.config.metrics.fields;
    if !fields.contains(&p.field) {
        return Err(ApiError::query(format!(
            "query parameter `field`: `{}` is not a rolled-up numeric field; the fields are {} (metrics.fields)",
            p.field.escape_debug(),
            fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let limit = p.limit.unwrap_or(DEFAULT_SERIES_LIMIT);
    if !(1..=MAX_SERIES_LIMIT).contains(&limit) {
        return Err(ApiError::query(format!(
            "query parameter `limit`: must be between 1 and {MAX_SERIES_LIMIT}, got {limit}"
        )));
    }
    let group_by = p.group_by.unwrap_or(GroupBy::None);
    let agg = p.agg.unwrap_or(Agg::Avg);
    let w = params::window(p.from.as_deref(), p.to.as_deref(), Span::Hours24)?;
    let range = series_query(&w, p.bucket.unwrap_or(Bucket::Hour))?;
    let bucket_seconds = range.bucket_secs;
    let starts = bucket_starts(&range);
    let (points, groups_total) = state
        .storage
        .metric_series_top(
            &MetricSeriesQuery {
                field: p.field.clone(),
                group_by: group_by.into(),
                agg: agg.into(),
                range,
            },
            limit,
        )
        .await?;
    let groups_total = if group_by == GroupBy::None {
        1
    } else {
        groups_total
    };
    // Each series' values by the position of their bucket among `starts`
    // (sorted, so a binary search finds it).
    let mut by_key: BTreeMap<Option<String>, Vec<Option<f64>>> = BTreeMap::new();
    if group_by == GroupBy::None {
        by_key.insert(None, vec![None; starts.len()]);
    }
    for pt in points {
        let Ok(i) = starts.binary_search(&pt.bucket) else {
            continue;
        };
        let values = by_key
            .entry(pt.key)
            .or_insert_with(|| vec![None; starts.len()]);
        values[i] = Some(pt.value).filter(|v| v.is_finite());
    }
    let series = by_key
        .into_iter()
        .map(|(key, values)| MetricSeriesLine {
            key,
            points: starts
                .iter()
                .zip(values)
                .map(|(&time, value)| MetricValue { time, value })
                .collect(),
        })
        .collect();
    Ok(Json(MetricSeries {
        field: p.field,
        agg,
        group_by,
        bucket_seconds,
        from: w.from,
        to: w.to,
        series,
        groups_total,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct MetricGroupLists {
    /// Services whose events carried a rolled-up field.
    pub service: Vec<String>,
    /// Values of `metric_name` seen with a rolled-up field.
    pub metric_name: Vec<String>,
    /// Values of `source_id` seen with a rolled-up field.
    pub source_id: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MetricFields {
    /// The rolled-up fields (`metrics.fields`), in configured order.
    pub fields: Vec<String>,
    /// The groups seen so far, each sorted (at most 1,000 per kind).
    pub groups: MetricGroupLists,
}

/// The numeric fields the explorer can chart, and the groups seen.
#[utoipa::path(get, path = "/api/v1/metrics/fields", tag = "metrics",
    responses((status = 200, body = MetricFields),
        (status = 500, body = ErrorResponse, description = "storage_error: a server-side fault, never caused by the request")))]
pub async fn fields(state: State) -> ApiResult<Json<MetricFields>> {
    let groups = state.storage.metric_groups(MAX_GROUPS).await?;
    Ok(Json(MetricFields {
        fields: state.config.metrics.fields.clone(),
        groups: MetricGroupLists {
            service: groups.service,
            metric_name: groups.metric_name,
            source_id: groups.source_id,
        },
    }))
}
