//! Per-minute rollups of numeric fields (`metric_rollup`), written with
//! the events, and the metrics explorer's queries over them.
//!
//! A field's value is a top-level JSON number of the event's payload
//! (finite; numeric strings are text, not numbers: `"42"` is not rolled
//! up, so a code or an id that happens to be digits never pollutes a
//! series). A batch of events is folded in memory into one accumulator
//! per (minute, field, group) before the write transaction starts; inside
//! it each accumulator is merged into its row with one point read and one
//! write.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use vigilo_core::NewEvent;
use vigilo_storage::sketch::Sketch;
use vigilo_storage::{
    MetricAgg, MetricGroupBy, MetricGroups, MetricPoint, MetricSeriesQuery, Result, StorageError,
};

use crate::codec::{col, count_col, micros, minute_of, time_from_secs};
use crate::db_err;

type Hasher = foldhash::quality::RandomState;

/// Group values longer than this are not kept as groups of their own (the
/// value still counts in its service's group).
const MAX_GROUP_BYTES: usize = 256;

/// Distinct groups remembered as already stored; past it the set starts
/// over (the rows are written with `INSERT OR IGNORE` anyway).
const MAX_KNOWN_GROUPS: usize = 100_000;

/// Which fields are rolled up, and the groups already in `metric_groups`.
#[derive(Debug)]
pub(crate) struct MetricFields {
    names: Vec<String>,
    known: Mutex<std::collections::HashSet<(Kind, String), Hasher>>,
}

impl MetricFields {
    pub(crate) fn new(names: &[String]) -> Self {
        let mut list: Vec<String> = Vec::new();
        for n in names {
            if !n.is_empty() && !list.contains(n) && list.len() < usize::from(u8::MAX) {
                list.push(n.clone());
            }
        }
        MetricFields {
            names: list,
            known: Mutex::new(Default::default()),
        }
    }

    /// Record groups a committed batch stored.
    pub(crate) fn remember(&self, groups: Vec<(Kind, String)>) {
        if groups.is_empty() {
            return;
        }
        let mut known = self
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if known.len() + groups.len() > MAX_KNOWN_GROUPS {
            known.clear();
        }
        known.extend(groups);
    }
}

/// A rollup group's kind, as stored in `group_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Service,
    NoService,
    MetricName,
    SourceId,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::NoService => "none",
            Kind::MetricName => "metric_name",
            Kind::SourceId => "source_id",
        }
    }
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

/// (minute, field index, group kind, group value).
type Key<'a> = (i64, u8, Kind, &'a str);

/// A batch's rollups, folded in memory.
pub(crate) struct Batch<'a> {
    rows: HashMap<Key<'a>, Acc, Hasher>,
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

/// Fold the numeric fields of `events` into per-(minute, field, group)
/// accumulators; `ts` holds each event's time in microseconds.
pub(crate) fn accumulate<'a>(
    fields: &MetricFields,
    events: &'a [NewEvent],
    ts: impl Fn(usize) -> i64,
) -> Batch<'a> {
    let mut rows: HashMap<Key<'a>, Acc, Hasher> = HashMap::default();
    if fields.names.is_empty() {
        return Batch { rows };
    }
    for (i, e) in events.iter().enumerate() {
        let mut groups: Option<[Option<(Kind, &'a str)>; 3]> = None;
        for (fi, name) in fields.names.iter().enumerate() {
            let Some(Value::Number(n)) = e.payload.get(name) else {
                continue;
            };
            let Some(v) = n.as_f64().filter(|v| v.is_finite()) else {
                continue;
            };
            let groups = groups.get_or_insert_with(|| {
                [
                    Some(match e.service.as_deref() {
                        Some(s) => (Kind::Service, s),
                        None => (Kind::NoService, ""),
                    }),
                    group_text(e.payload.get("metric_name")).map(|s| (Kind::MetricName, s)),
                    group_text(e.payload.get("source_id")).map(|s| (Kind::SourceId, s)),
                ]
            });
            let minute = minute_of(ts(i));
            for (kind, value) in groups.iter().flatten() {
                rows.entry((minute, fi as u8, *kind, value))
                    .or_insert_with(Acc::new)
                    .add(v);
            }
        }
    }
    Batch { rows }
}

/// Merge `batch` into the rollup rows, inside the caller's transaction.
/// Returns the groups this wrote to `metric_groups` for the first time in
/// this process, to [`MetricFields::remember`] once the commit succeeded.
pub(crate) fn write(
    db: &rusqlite::Connection,
    fields: &MetricFields,
    batch: &Batch<'_>,
) -> Result<Vec<(Kind, String)>> {
    if batch.rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut read = db
        .prepare_cached(
            "SELECT count, sum, min, max, sketch FROM metric_rollup \
             WHERE field = ?1 AND group_kind = ?2 AND minute = ?3 AND group_value = ?4",
        )
        .map_err(db_err("prepare metric rollup read"))?;
    let mut put = db
        .prepare_cached(
            "INSERT OR REPLACE INTO metric_rollup \
             (field, group_kind, minute, group_value, count, sum, min, max, sketch) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(db_err("prepare metric rollup write"))?;
    for (&(minute, fi, kind, value), acc) in &batch.rows {
        let field = fields
            .names
            .get(usize::from(fi))
            .ok_or_else(|| StorageError::Database(format!("metric field {fi} is unknown")))?;
        let kind_text = kind.as_str();
        let old = {
            let mut rows = read
                .query(rusqlite::params![field, kind_text, minute, value])
                .map_err(db_err("read metric rollup"))?;
            match rows.next().map_err(db_err("read metric rollup"))? {
                Some(r) => {
                    let blob: Vec<u8> = r.get(4).map_err(db_err("read metric rollup"))?;
                    Some(Acc {
                        count: r.get(0).map_err(db_err("read metric rollup"))?,
                        sum: r.get(1).map_err(db_err("read metric rollup"))?,
                        min: r.get(2).map_err(db_err("read metric rollup"))?,
                        max: r.get(3).map_err(db_err("read metric rollup"))?,
                        sketch: Sketch::from_bytes(&blob)
                            .map_err(|e| StorageError::Corrupt(format!("metric_rollup: {e}")))?,
                    })
                }
                None => None,
            }
        };
        let merged = match old {
            Some(mut o) => {
                o.merge(acc);
                o
            }
            None => acc.clone(),
        };
        put.execute(rusqlite::params![
            field,
            kind_text,
            minute,
            value,
            merged.count,
            merged.sum,
            merged.min,
            merged.max,
            merged.sketch.to_bytes()
        ])
        .map_err(db_err("write metric rollup"))?;
    }
    // Groups for the pickers: only those this process has not stored yet.
    let mut fresh: Vec<(Kind, String)> = Vec::new();
    {
        let known = fields
            .known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut seen = std::collections::HashSet::<(Kind, &str), Hasher>::default();
        for &(_, _, kind, value) in batch.rows.keys() {
            if kind == Kind::NoService || !seen.insert((kind, value)) {
                continue;
            }
            if !known.contains(&(kind, value.to_string())) {
                fresh.push((kind, value.to_string()));
            }
        }
    }
    if !fresh.is_empty() {
        let mut insert = db
            .prepare_cached(
                "INSERT OR IGNORE INTO metric_groups (group_kind, group_value) VALUES (?1, ?2)",
            )
            .map_err(db_err("prepare metric group insert"))?;
        for (kind, value) in &fresh {
            insert
                .execute(rusqlite::params![kind.as_str(), value])
                .map_err(db_err("write metric group"))?;
        }
    }
    Ok(fresh)
}

/// The stored group kinds a `group_by` reads.
fn kinds(g: MetricGroupBy) -> &'static [&'static str] {
    match g {
        MetricGroupBy::None | MetricGroupBy::Service => &["service", "none"],
        MetricGroupBy::MetricName => &["metric_name"],
        MetricGroupBy::SourceId => &["source_id"],
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

pub(crate) async fn metric_series(
    pool: &SqlitePool,
    q: &MetricSeriesQuery,
) -> Result<Vec<MetricPoint>> {
    let bucket = q.range.bucket_secs;
    if bucket < 60 || bucket % 60 != 0 {
        return Err(StorageError::Database(format!(
            "bucket_secs must be a positive multiple of 60, got {bucket}"
        )));
    }
    let quantile = quantile_of(q.agg);
    let merged = q.group_by == MetricGroupBy::None;
    // Euclidean floor so minutes before the epoch land in the right bucket.
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT minute - (((minute % ");
    qb.push_bind(bucket)
        .push(") + ")
        .push_bind(bucket)
        .push(") % ")
        .push_bind(bucket)
        .push(") AS bucket, ");
    if merged {
        qb.push("0 AS has_key, '' AS k, ");
    } else {
        qb.push("group_kind <> 'none' AS has_key, group_value AS k, ");
    }
    if quantile.is_some() {
        qb.push("count AS n, sum AS s, min AS lo, max AS hi, sketch");
    } else {
        qb.push("SUM(count) AS n, SUM(sum) AS s, MIN(min) AS lo, MAX(max) AS hi");
    }
    qb.push(" FROM metric_rollup WHERE field = ")
        .push_bind(q.field.clone())
        .push(" AND group_kind IN (");
    let mut list = qb.separated(", ");
    for k in kinds(q.group_by) {
        list.push_bind(*k);
    }
    qb.push(") AND minute >= ")
        .push_bind(minute_of(micros(q.range.from)))
        .push(" AND minute * 1000000 < ")
        .push_bind(micros(q.range.to));
    if quantile.is_none() {
        qb.push(" GROUP BY bucket, has_key, k");
    }
    qb.push(" ORDER BY bucket, has_key, k");
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("read metric series"))?;
    let mut out: Vec<MetricPoint> = Vec::new();
    let mut current: Option<(i64, Option<String>, Acc)> = None;
    let finish = |out: &mut Vec<MetricPoint>, (b, key, acc): (i64, Option<String>, Acc)| {
        if acc.count <= 0 {
            return Ok(());
        }
        let value = match q.agg {
            MetricAgg::Avg => acc.sum / acc.count as f64,
            MetricAgg::Sum => acc.sum,
            MetricAgg::Count => acc.count as f64,
            MetricAgg::Min => acc.min,
            MetricAgg::Max => acc.max,
            MetricAgg::P50 | MetricAgg::P95 | MetricAgg::P99 => {
                let q = quantile_of(q.agg).unwrap_or(0.5);
                match acc.sketch.quantile(q) {
                    // The extremes are exact: no estimate lies outside them.
                    Some(v) => v.clamp(acc.min, acc.max),
                    None => return Ok(()),
                }
            }
        };
        out.push(MetricPoint {
            bucket: time_from_secs(b, "bucket")?,
            key,
            value,
            count: acc.count as u64,
        });
        Ok::<(), StorageError>(())
    };
    for r in &rows {
        let b: i64 = col(r, "bucket")?;
        let has_key: bool = col(r, "has_key")?;
        let key = if has_key {
            Some(col::<String>(r, "k")?)
        } else {
            None
        };
        let mut acc = Acc {
            count: i64::try_from(count_col(r, "n")?)
                .map_err(|_| StorageError::Corrupt("metric_rollup: count too large".into()))?,
            sum: col(r, "s")?,
            min: col(r, "lo")?,
            max: col(r, "hi")?,
            sketch: Sketch::new(),
        };
        if quantile.is_some() {
            let blob: &[u8] = col(r, "sketch")?;
            acc.sketch = Sketch::from_bytes(blob)
                .map_err(|e| StorageError::Corrupt(format!("metric_rollup: {e}")))?;
        }
        match &mut current {
            Some((cb, ck, cacc)) if *cb == b && *ck == key => cacc.merge(&acc),
            _ => {
                if let Some(done) = current.take() {
                    finish(&mut out, done)?;
                }
                current = Some((b, key, acc));
            }
        }
    }
    if let Some(done) = current.take() {
        finish(&mut out, done)?;
    }
    Ok(out)
}

pub(crate) async fn metric_groups(pool: &SqlitePool, limit: u32) -> Result<MetricGroups> {
    let mut out = MetricGroups::default();
    for (kind, list) in [
        ("service", &mut out.service),
        ("metric_name", &mut out.metric_name),
        ("source_id", &mut out.source_id),
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT group_value FROM metric_groups WHERE group_kind = ? \
             ORDER BY group_value LIMIT ?",
        )
        .bind(kind)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err("read metric groups"))?;
        list.extend(rows.into_iter().map(|(v,)| v));
    }
    Ok(out)
}
