//! Per-minute and per-hour rollups of numeric payload fields, and the
//! metrics explorer's queries over them.
//!
//! A field's value is a top-level JSON number of the event's payload
//! (finite; numeric strings are text, not numbers). A batch is folded in
//! memory into one accumulator per (minute, field, group); in the batch's
//! transaction (under the event writer lock) the rows it touches are read,
//! merged with it (sketches merge in Rust) and written back with one
//! `UNNEST` upsert per tier.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use vigilo_core::NewEvent;
use vigilo_storage::sketch::Sketch;
use vigilo_storage::{
    MetricAgg, MetricGroupBy, MetricGroups, MetricPoint, MetricSeriesQuery, Result, StorageError,
};

use crate::codec::col;
use crate::rollups::{HOUR, MINUTE, Tiers, at_secs, ceil_minute, floor_to, plan};
use crate::{PostgresStorage, db_err};

/// Group values longer than this are not kept as groups of their own (the
/// value still counts in its service's group).
const MAX_GROUP_BYTES: usize = 256;

const METRIC_TIERS: Tiers = ("metric_rollup_minute", "metric_rollup_hour");

const SERVICE: &str = "service";
const NO_SERVICE: &str = "none";
const METRIC_NAME: &str = "metric_name";
const SOURCE_ID: &str = "source_id";

/// The fields rolled up: each named once, empty names dropped.
pub(crate) fn field_list(names: &[String]) -> Vec<String> {
    let mut list: Vec<String> = Vec::new();
    for n in names {
        if !n.is_empty() && !list.contains(n) {
            list.push(n.clone());
        }
    }
    list
}

/// Count, sum, extremes and sketch of some values.
#[derive(Debug, Clone)]
struct Acc {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: Sketch,
}

impl Acc {
    fn new() -> Self {
        Acc {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: Sketch::new(),
        }
    }

    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sketch.add(v);
    }

    fn merge(&mut self, o: &Acc) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
        self.sketch.merge(&o.sketch);
    }
}

/// A group value: a string, or a number's text (its digits as sent).
fn group_text(v: Option<&Value>) -> Option<&str> {
    let s = match v? {
        Value::String(s) => s.as_str(),
        Value::Number(n) => n.as_str(),
        _ => return None,
    };
    (!s.is_empty() && s.len() <= MAX_GROUP_BYTES).then_some(s)
}

/// (time in epoch seconds, field, group kind, group value).
type Key<'a> = (i64, &'a str, &'static str, &'a str);

fn accumulate<'a>(fields: &'a [String], events: &'a [NewEvent]) -> HashMap<Key<'a>, Acc> {
    let mut rows: HashMap<Key<'a>, Acc> = HashMap::new();
    for e in events {
        let minute = floor_to(e.timestamp, MINUTE);
        for name in fields {
            let Some(Value::Number(n)) = e.payload.get(name) else {
                continue;
            };
            let Some(v) = n.as_f64().filter(|v| v.is_finite()) else {
                continue;
            };
            let groups = [
                Some(match e.service.as_deref() {
                    Some(s) => (SERVICE, s),
                    None => (NO_SERVICE, ""),
                }),
                group_text(e.payload.get("metric_name")).map(|s| (METRIC_NAME, s)),
                group_text(e.payload.get("source_id")).map(|s| (SOURCE_ID, s)),
            ];
            for (kind, value) in groups.into_iter().flatten() {
                rows.entry((minute, name.as_str(), kind, value))
                    .or_insert_with(Acc::new)
                    .add(v);
            }
        }
    }
    rows
}

/// Merge `rows` into one tier's table (`time` names its time column).
async fn merge_into(
    conn: &mut PgConnection,
    table: &str,
    time: &str,
    rows: &HashMap<Key<'_>, Acc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&Key<'_>> = rows.keys().collect();
    // A fixed order, so concurrent writers would lock rows alike.
    keys.sort_unstable();
    let times: Vec<DateTime<Utc>> = keys
        .iter()
        .map(|k| at_secs(k.0))
        .collect::<Result<Vec<_>>>()?;
    let fields: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let kinds: Vec<&str> = keys.iter().map(|k| k.2).collect();
    let values: Vec<&str> = keys.iter().map(|k| k.3).collect();
    let stored = sqlx::query(&format!(
        "SELECT r.{time} AS t, r.field, r.group_kind, r.group_value, r.count, r.sum, r.min, \
         r.max, r.sketch FROM {table} r \
         JOIN UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[]) \
           AS k (t, field, group_kind, group_value) \
         ON r.{time} = k.t AND r.field = k.field AND r.group_kind = k.group_kind \
            AND r.group_value = k.group_value \
         FOR UPDATE OF r"
    ))
    .bind(&times)
    .bind(&fields)
    .bind(&kinds)
    .bind(&values)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err("read metric rollups"))?;
    let mut old: HashMap<(i64, String, String, String), Acc> = HashMap::new();
    for r in &stored {
        let t: DateTime<Utc> = col(r, "t")?;
        let blob: Vec<u8> = col(r, "sketch")?;
        old.insert(
            (
                t.timestamp(),
                col(r, "field")?,
                col(r, "group_kind")?,
                col(r, "group_value")?,
            ),
            Acc {
                count: col(r, "count")?,
                sum: col(r, "sum")?,
                min: col(r, "min")?,
                max: col(r, "max")?,
                sketch: Sketch::from_bytes(&blob)
                    .map_err(|e| StorageError::Corrupt(format!("{table}: {e}")))?,
            },
        );
    }
    let mut counts = Vec::with_capacity(keys.len());
    let mut sums = Vec::with_capacity(keys.len());
    let mut mins = Vec::with_capacity(keys.len());
    let mut maxes = Vec::with_capacity(keys.len());
    let mut sketches = Vec::with_capacity(keys.len());
    for k in &keys {
        let mut acc = old
            .remove(&(k.0, k.1.to_string(), k.2.to_string(), k.3.to_string()))
            .unwrap_or_else(Acc::new);
        if let Some(add) = rows.get(*k) {
            acc.merge(add);
        }
        counts.push(acc.count);
        sums.push(acc.sum);
        mins.push(acc.min);
        maxes.push(acc.max);
        sketches.push(acc.sketch.to_bytes());
    }
    sqlx::query(&format!(
        "INSERT INTO {table} (field, group_kind, {time}, group_value, count, sum, min, max, sketch) \
         SELECT k.field, k.group_kind, k.t, k.group_value, k.count, k.sum, k.min, k.max, k.sketch \
         FROM UNNEST($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::bigint[], \
                     $6::float8[], $7::float8[], $8::float8[], $9::bytea[]) \
           AS k (t, field, group_kind, group_value, count, sum, min, max, sketch) \
         ON CONFLICT (field, group_kind, {time}, group_value) DO UPDATE SET \
           count = EXCLUDED.count, sum = EXCLUDED.sum, min = EXCLUDED.min, \
           max = EXCLUDED.max, sketch = EXCLUDED.sketch"
    ))
    .bind(&times)
    .bind(&fields)
    .bind(&kinds)
    .bind(&values)
    .bind(&counts)
    .bind(&sums)
    .bind(&mins)
    .bind(&maxes)
    .bind(&sketches)
    .execute(&mut *conn)
    .await
    .map_err(db_err("write metric rollups"))?;
    Ok(())
}

/// Add a stored batch's metric values to the rollups, in its transaction.
pub(crate) async fn record(
    store: &PostgresStorage,
    conn: &mut PgConnection,
    events: &[NewEvent],
) -> Result<()> {
    let minutes = accumulate(&store.metric_fields, events);
    if minutes.is_empty() {
        return Ok(());
    }
    let mut hours: HashMap<Key<'_>, Acc> = HashMap::new();
    for ((minute, field, kind, value), acc) in &minutes {
        hours
            .entry((minute - minute.rem_euclid(HOUR), field, kind, value))
            .or_insert_with(Acc::new)
            .merge(acc);
    }
    merge_into(conn, METRIC_TIERS.0, "minute", &minutes).await?;
    merge_into(conn, METRIC_TIERS.1, "hour", &hours).await?;
    let mut groups: Vec<(&str, &str)> = minutes
        .keys()
        .filter(|k| k.2 != NO_SERVICE)
        .map(|k| (k.2, k.3))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let (kinds, values): (Vec<&str>, Vec<&str>) = groups.into_iter().unzip();
    sqlx::query(
        "INSERT INTO metric_groups (group_kind, group_value) \
         SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&kinds)
    .bind(&values)
    .execute(&mut *conn)
    .await
    .map_err(db_err("write metric groups"))?;
    Ok(())
}

fn kinds(g: MetricGroupBy) -> &'static [&'static str] {
    match g {
        MetricGroupBy::None | MetricGroupBy::Service => &[SERVICE, NO_SERVICE],
        MetricGroupBy::MetricName => &[METRIC_NAME],
        MetricGroupBy::SourceId => &[SOURCE_ID],
    }
}

fn quantile_of(agg: MetricAgg) -> Option<f64> {
    match agg {
        MetricAgg::P50 => Some(0.5),
        MetricAgg::P95 => Some(0.95),
        MetricAgg::P99 => Some(0.99),
        _ => None,
    }
}

pub(crate) async fn series(
    store: &PostgresStorage,
    q: &MetricSeriesQuery,
) -> Result<Vec<MetricPoint>> {
    read_series(store, q, None).await
}

/// The groups a series keeps: these values, and the `None` group if asked.
struct Only {
    values: Vec<String>,
    none: bool,
}

/// Push `AND <time bounds>` of one part.
fn push_bounds(
    qb: &mut sqlx::QueryBuilder<'_, sqlx::Postgres>,
    p: &crate::rollups::Part,
) -> Result<()> {
    if let Some(lo) = p.lo {
        qb.push(format!(" AND {} >= ", p.time))
            .push_bind(at_secs(lo)?);
    }
    if let Some(hi) = p.hi {
        qb.push(format!(" AND {} < ", p.time))
            .push_bind(at_secs(hi)?);
    }
    Ok(())
}

/// [`Storage::metric_series_top`](vigilo_storage::Storage::metric_series_top),
/// ranking the groups first (whole hours from the hour tier, whatever the
/// bucket) and reading only the rows of the kept ones.
pub(crate) async fn series_top(
    store: &PostgresStorage,
    q: &MetricSeriesQuery,
    limit: u32,
) -> Result<(Vec<MetricPoint>, u64)> {
    if q.group_by == MetricGroupBy::None {
        // One group at most: nothing to rank.
        let points = read_series(store, q, None).await?;
        let total = u64::from(!points.is_empty());
        let points = if limit == 0 { Vec::new() } else { points };
        return Ok((points, total));
    }
    let parts = plan(
        Some(floor_to(q.range.from, MINUTE)),
        Some(ceil_minute(q.range.to)),
        true,
        METRIC_TIERS,
    );
    let kinds: Vec<&str> = kinds(q.group_by).to_vec();
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new(
        "SELECT group_kind, group_value, SUM(count)::bigint AS n FROM (",
    );
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "SELECT group_kind, group_value, count FROM {} WHERE field = ",
            p.table
        ))
        .push_bind(q.field.clone())
        .push(" AND group_kind = ANY(")
        .push_bind(kinds.clone())
        .push(")");
        push_bounds(&mut qb, p)?;
    }
    qb.push(") AS r GROUP BY group_kind, group_value");
    let rows = qb
        .build()
        .fetch_all(&store.pool)
        .await
        .map_err(db_err("rank metric groups"))?;
    let mut counts = Vec::with_capacity(rows.len());
    for r in &rows {
        let kind: String = col(r, "group_kind")?;
        let value: String = col(r, "group_value")?;
        let n: i64 = col(r, "n")?;
        counts.push(((kind != NO_SERVICE).then_some(value), n.max(0) as u64));
    }
    let (keep, total) = vigilo_storage::top_groups(counts, limit);
    let only = Only {
        none: keep.contains(&None),
        values: keep.into_iter().flatten().collect(),
    };
    let points = read_series(store, q, Some(&only)).await?;
    Ok((points, total))
}

async fn read_series(
    store: &PostgresStorage,
    q: &MetricSeriesQuery,
    only: Option<&Only>,
) -> Result<Vec<MetricPoint>> {
    let bucket = q.range.bucket_secs;
    if bucket < 60 || bucket % 60 != 0 {
        return Err(StorageError::Database(format!(
            "bucket_secs must be a positive multiple of 60, got {bucket}"
        )));
    }
    let quantile = quantile_of(q.agg);
    let merged = q.group_by == MetricGroupBy::None;
    let kinds: Vec<&str> = kinds(q.group_by).to_vec();
    // Whole hours from the hour tier when every hour lies in one bucket.
    let parts = plan(
        Some(floor_to(q.range.from, MINUTE)),
        Some(ceil_minute(q.range.to)),
        bucket % HOUR == 0,
        METRIC_TIERS,
    );
    let mut qb = sqlx::QueryBuilder::<sqlx::Postgres>::new("");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "SELECT {time} AS t, group_kind, group_value, count, sum, min, max, {sketch} \
             FROM {table} WHERE field = ",
            time = p.time,
            table = p.table,
            sketch = if quantile.is_some() {
                "sketch"
            } else {
                "NULL::bytea AS sketch"
            },
        ))
        .push_bind(q.field.clone())
        .push(" AND group_kind = ANY(")
        .push_bind(kinds.clone())
        .push(")");
        push_bounds(&mut qb, p)?;
        if let Some(only) = only {
            qb.push(" AND (group_value = ANY(")
                .push_bind(only.values.clone())
                .push(format!(
                    ") AND group_kind <> '{NO_SERVICE}' OR group_kind = '{NO_SERVICE}' AND "
                ))
                .push_bind(only.none)
                .push(")");
        }
    }
    let rows = qb
        .build()
        .fetch_all(&store.pool)
        .await
        .map_err(db_err("read metric series"))?;
    // Each point's rows, their sketches still in stored form: a point of
    // one row (a minute of one group, the dashboard's usual chart) reads
    // its quantile straight from the stored bytes.
    let mut points: BTreeMap<(i64, Option<&str>), Gathered<'_>> = BTreeMap::new();
    for r in &rows {
        let t: DateTime<Utc> = col(r, "t")?;
        let kind: &str = col(r, "group_kind")?;
        let value: &str = col(r, "group_value")?;
        let key = (!merged && kind != NO_SERVICE).then_some(value);
        let secs = t.timestamp();
        let p = points
            .entry((secs - secs.rem_euclid(bucket), key))
            .or_insert_with(Gathered::new);
        p.count += col::<i64>(r, "count")?;
        p.sum += col::<f64>(r, "sum")?;
        p.min = p.min.min(col(r, "min")?);
        p.max = p.max.max(col(r, "max")?);
        if let Some(blob) = col::<Option<&[u8]>>(r, "sketch")? {
            p.sketches.push(blob);
        }
    }
    let mut out = Vec::with_capacity(points.len());
    for ((b, key), p) in points {
        if p.count <= 0 {
            continue;
        }
        let value = match q.agg {
            MetricAgg::Avg => p.sum / p.count as f64,
            MetricAgg::Sum => p.sum,
            MetricAgg::Count => p.count as f64,
            MetricAgg::Min => p.min,
            MetricAgg::Max => p.max,
            MetricAgg::P50 | MetricAgg::P95 | MetricAgg::P99 => {
                match p.quantile(quantile.unwrap_or(0.5))? {
                    // The extremes are exact: no estimate lies outside them.
                    Some(v) => v.clamp(p.min, p.max),
                    None => continue,
                }
            }
        };
        out.push(MetricPoint {
            bucket: at_secs(b)?,
            key: key.map(str::to_string),
            value,
            count: p.count as u64,
        });
    }
    Ok(out)
}

/// One point of a series as read: its rows' sums and their stored sketches.
struct Gathered<'r> {
    count: i64,
    sum: f64,
    min: f64,
    max: f64,
    sketches: Vec<&'r [u8]>,
}

impl Gathered<'_> {
    fn new() -> Self {
        Gathered {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketches: Vec::new(),
        }
    }

    fn quantile(&self, q: f64) -> Result<Option<f64>> {
        let corrupt = |e: vigilo_storage::sketch::SketchError| {
            StorageError::Corrupt(format!("metric rollup: {e}"))
        };
        match self.sketches.as_slice() {
            [one] => vigilo_storage::sketch::quantile_of_bytes(one, q).map_err(corrupt),
            many => {
                let mut merged = Sketch::new();
                for blob in many {
                    merged.merge(&Sketch::from_bytes(blob).map_err(corrupt)?);
                }
                Ok(merged.quantile(q))
            }
        }
    }
}

pub(crate) async fn groups(store: &PostgresStorage, limit: u32) -> Result<MetricGroups> {
    let mut out = MetricGroups::default();
    for (kind, list) in [
        (SERVICE, &mut out.service),
        (METRIC_NAME, &mut out.metric_name),
        (SOURCE_ID, &mut out.source_id),
    ] {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT group_value FROM metric_groups WHERE group_kind = $1 \
             ORDER BY group_value COLLATE \"C\" LIMIT $2",
        )
        .bind(kind)
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(db_err("read metric groups"))?;
        *list = rows;
    }
    Ok(out)
}
