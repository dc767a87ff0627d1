//! Per-minute rollups of numeric fields (`metric_rollup`), and the
//! metrics explorer's queries over them.
//!
//! A field's value is a top-level JSON number of the event's payload
//! (finite; numeric strings are text, not numbers: `"42"` is not rolled
//! up, so a code or an id that happens to be digits never pollutes a
//! series). A batch of events is folded in memory into one accumulator
//! per (minute, field, group) before its write transaction starts.
//!
//! Live traffic touches the same few hundred rows (a field of every
//! service) in every group commit, so writing them per batch cost more
//! than the events themselves (a quarter of ingest throughput, measured).
//! They are written the way the by-service index of events is: batches
//! merge into pending rows held in memory once their transaction has
//! committed, and the pending rows are written in the transaction of the
//! batch that reaches the index's size or age (every 100,000 events or 2
//! seconds by default), together with the id of the last event they
//! include (`event_index_state`, name `metrics`). The database therefore
//! always holds the rollups of exactly the events up to that id; queries
//! add the pending rows of the same point (they check the id, and read
//! again when a write slipped between), and a restart rolls up the events
//! past it before serving.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use serde_json::{Map, Value};
use sqlx::SqlitePool;
use vigilo_core::NewEvent;
use vigilo_storage::sketch::Sketch;
use vigilo_storage::{
    MetricAgg, MetricGroupBy, MetricGroups, MetricPoint, MetricSeriesQuery, Result, StorageError,
};

use crate::codec::{micros, minute_of, parse_json, time_from_secs};
use crate::{SqliteStorage, db_err};

type Hasher = foldhash::quality::RandomState;

/// Group values longer than this are not kept as groups of their own (the
/// value still counts in its service's group).
const MAX_GROUP_BYTES: usize = 256;

/// Distinct groups remembered as already stored; past it the set starts
/// over (the rows are written with `INSERT OR IGNORE` anyway).
const MAX_KNOWN_GROUPS: usize = 100_000;

/// Events rolled up per read when catching up after a restart.
const TAIL_CHUNK: i64 = 10_000;

/// Which fields are rolled up, the rows not yet written, and the groups
/// already in `metric_groups`.
#[derive(Debug)]
pub(crate) struct MetricFields {
    names: Vec<String>,
    pending: Mutex<Pending>,
    known: Mutex<HashSet<(Kind, String), Hasher>>,
}

/// Rollups of committed events not yet written to `metric_rollup`.
#[derive(Debug, Default)]
struct Pending {
    /// The `metrics` up_to of the database: the rows there hold exactly
    /// the events up to this id; `rows` the ones after it.
    written_up_to: i64,
    rows: HashMap<OwnedKey, Acc, Hasher>,
    /// Groups among `rows` not yet in `metric_groups`.
    groups: HashSet<(Kind, String), Hasher>,
}

type OwnedKey = (i64, u8, Kind, String);

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
            pending: Mutex::new(Pending::default()),
            known: Mutex::new(HashSet::default()),
        }
    }

    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn known(&self) -> MutexGuard<'_, HashSet<(Kind, String), Hasher>> {
        self.known
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// After a batch's transaction committed: with `flushed` (the batch
    /// wrote every pending row and the batch's own, up to `up_to`), start
    /// over from there; otherwise keep the batch's rows pending.
    pub(crate) fn committed(&self, batch: Batch<'_>, flushed: Option<Flushed>, up_to: i64) {
        let mut pending = self.pending();
        if let Some(f) = flushed {
            pending.rows.clear();
            pending.groups.clear();
            pending.written_up_to = up_to;
            drop(pending);
            let mut known = self.known();
            if known.len() + f.groups.len() > MAX_KNOWN_GROUPS {
                known.clear();
            }
            known.extend(f.groups);
            return;
        }
        let known = self.known();
        for ((minute, fi, kind, value), acc) in batch.rows {
            if kind != Kind::NoService && !known.contains(&(kind, value.to_string())) {
                pending.groups.insert((kind, value.to_string()));
            }
            pending
                .rows
                .entry((minute, fi, kind, value.to_string()))
                .or_insert_with(Acc::new)
                .merge(&acc);
        }
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
    /// The sketch in its stored form, not decoded yet (`sketch` is then
    /// empty): a series point read from one row answers its quantile from
    /// these bytes, and only points merged from several rows decode.
    stored: Option<Vec<u8>>,
}

impl Acc {
    fn new() -> Self {
        Acc {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            sketch: Sketch::new(),
            stored: None,
        }
    }

    /// Decode the stored sketch, if it is still in its stored form.
    fn decode(&mut self) -> Result<()> {
        if let Some(bytes) = self.stored.take() {
            self.sketch = Sketch::from_bytes(&bytes)
                .map_err(|e| StorageError::Corrupt(format!("metric_rollup: {e}")))?;
        }
        Ok(())
    }

    /// Merge another point's values into this one, decoding both sketches.
    fn merge_read(&mut self, mut o: Acc) -> Result<()> {
        self.decode()?;
        o.decode()?;
        self.merge(&o);
        Ok(())
    }

    fn quantile(&self, q: f64) -> Result<Option<f64>> {
        match &self.stored {
            Some(bytes) => vigilo_storage::sketch::quantile_of_bytes(bytes, q)
                .map_err(|e| StorageError::Corrupt(format!("metric_rollup: {e}"))),
            None => Ok(self.sketch.quantile(q)),
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

/// What a flush wrote, for [`MetricFields::committed`].
pub(crate) struct Flushed {
    groups: Vec<(Kind, String)>,
}

/// A metric rollup tier: its table and the column of its bucket start.
#[derive(Debug, Clone, Copy)]
struct Table {
    read: &'static str,
    write: &'static str,
}

const MINUTES: Table = Table {
    read: "SELECT count, sum, min, max, sketch FROM metric_rollup \
           WHERE field = ?1 AND group_kind = ?2 AND minute = ?3 AND group_value = ?4",
    write: "INSERT INTO metric_rollup \
            (field, group_kind, minute, group_value, count, sum, min, max, sketch) \
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
            ON CONFLICT (field, group_kind, minute, group_value) DO UPDATE SET \
            count = excluded.count, sum = excluded.sum, min = excluded.min, \
            max = excluded.max, sketch = excluded.sketch",
};

const HOURS: Table = Table {
    read: "SELECT count, sum, min, max, sketch FROM metric_rollup_hour \
           WHERE field = ?1 AND group_kind = ?2 AND hour = ?3 AND group_value = ?4",
    write: "INSERT INTO metric_rollup_hour \
            (field, group_kind, hour, group_value, count, sum, min, max, sketch) \
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
            ON CONFLICT (field, group_kind, hour, group_value) DO UPDATE SET \
            count = excluded.count, sum = excluded.sum, min = excluded.min, \
            max = excluded.max, sketch = excluded.sketch",
};

/// Merge `acc` into its stored row of `table` (read, merge, write).
fn merge_row(
    db: &rusqlite::Connection,
    table: Table,
    field: &str,
    (time, kind, value): (i64, &str, &str),
    acc: &Acc,
) -> Result<()> {
    let mut read = db
        .prepare_cached(table.read)
        .map_err(db_err("prepare metric rollup read"))?;
    let mut merged = {
        let mut rows = read
            .query(rusqlite::params![field, kind, time, value])
            .map_err(db_err("read metric rollup"))?;
        match rows.next().map_err(db_err("read metric rollup"))? {
            Some(r) => {
                let blob: Vec<u8> = r.get(4).map_err(db_err("read metric rollup"))?;
                Acc {
                    count: r.get(0).map_err(db_err("read metric rollup"))?,
                    sum: r.get(1).map_err(db_err("read metric rollup"))?,
                    min: r.get(2).map_err(db_err("read metric rollup"))?,
                    max: r.get(3).map_err(db_err("read metric rollup"))?,
                    sketch: Sketch::from_bytes(&blob)
                        .map_err(|e| StorageError::Corrupt(format!("metric_rollup: {e}")))?,
                    stored: None,
                }
            }
            None => Acc::new(),
        }
    };
    merged.merge(acc);
    db.prepare_cached(table.write)
        .and_then(|mut put| {
            put.execute(rusqlite::params![
                field,
                kind,
                time,
                value,
                merged.count,
                merged.sum,
                merged.min,
                merged.max,
                merged.sketch.to_bytes()
            ])
        })
        .map_err(db_err("write metric rollup"))?;
    Ok(())
}

fn field_name(fields: &MetricFields, fi: u8) -> Result<&str> {
    fields
        .names
        .get(usize::from(fi))
        .map(String::as_str)
        .ok_or_else(|| StorageError::Database(format!("metric field {fi} is unknown")))
}

/// Merge a minute row into its stored row and into the hour it belongs
/// to, held in `hours` until every minute row of the flush is folded in.
fn merge_minute<'k>(
    db: &rusqlite::Connection,
    fields: &MetricFields,
    hours: &mut HashMap<Key<'k>, Acc, Hasher>,
    (minute, fi, kind, value): Key<'k>,
    acc: &Acc,
) -> Result<()> {
    merge_row(
        db,
        MINUTES,
        field_name(fields, fi)?,
        (minute, kind.as_str(), value),
        acc,
    )?;
    hours
        .entry((crate::events::hour_of_minute(minute), fi, kind, value))
        .or_insert_with(Acc::new)
        .merge(acc);
    Ok(())
}

/// Build `metric_rollup_hour` from the minute rows when the migration left
/// its marker (a database whose metric rollups predate the hour tier), in
/// one transaction that removes the marker. Run by `migrate` before the
/// events past the rollups are rolled up (which writes both tiers).
pub(crate) async fn backfill_hours(store: &SqliteStorage) -> Result<()> {
    store
        .write_tx(|db| {
            let marked: Option<i64> = db
                .query_row(
                    "SELECT up_to FROM event_index_state WHERE name = 'metric_hours_backfill'",
                    [],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })
                .map_err(db_err("read metric hour backfill state"))?;
            if marked.is_none() {
                return Ok(());
            }
            let mut read = db
                .prepare(
                    "SELECT field, group_kind, minute, group_value, count, sum, min, max, sketch \
                     FROM metric_rollup ORDER BY field, group_kind, minute, group_value",
                )
                .map_err(db_err("prepare metric hour backfill"))?;
            let mut rows = read.query([]).map_err(db_err("read metric rollups"))?;
            // Rows of one (field, group kind, hour) are contiguous in key
            // order: hold one hour's groups at a time.
            let mut at: Option<(String, String, i64)> = None;
            let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
            let write_hour =
                |at: &(String, String, i64), groups: &mut BTreeMap<String, Acc>| -> Result<()> {
                    for (value, acc) in std::mem::take(groups) {
                        merge_row(db, HOURS, &at.0, (at.2, &at.1, &value), &acc)?;
                    }
                    Ok(())
                };
            let mut n = 0u64;
            while let Some(r) = rows.next().map_err(db_err("read metric rollups"))? {
                let get = db_err("read metric rollups");
                let field: String = r.get(0).map_err(get)?;
                let kind: String = r.get(1).map_err(db_err("read metric rollups"))?;
                let minute: i64 = r.get(2).map_err(db_err("read metric rollups"))?;
                let value: String = r.get(3).map_err(db_err("read metric rollups"))?;
                let blob: Vec<u8> = r.get(8).map_err(db_err("read metric rollups"))?;
                let acc = Acc {
                    count: r.get(4).map_err(db_err("read metric rollups"))?,
                    sum: r.get(5).map_err(db_err("read metric rollups"))?,
                    min: r.get(6).map_err(db_err("read metric rollups"))?,
                    max: r.get(7).map_err(db_err("read metric rollups"))?,
                    sketch: Sketch::from_bytes(&blob)
                        .map_err(|e| StorageError::Corrupt(format!("metric_rollup: {e}")))?,
                    stored: None,
                };
                let hour = crate::events::hour_of_minute(minute);
                let same = at
                    .as_ref()
                    .is_some_and(|(f, k, h)| *f == field && *k == kind && *h == hour);
                if !same {
                    if let Some(prev) = &at {
                        write_hour(prev, &mut groups)?;
                    }
                    at = Some((field, kind, hour));
                }
                groups.entry(value).or_insert_with(Acc::new).merge(&acc);
                n += 1;
            }
            if let Some(prev) = &at {
                write_hour(prev, &mut groups)?;
            }
            db.execute(
                "DELETE FROM event_index_state WHERE name = 'metric_hours_backfill'",
                [],
            )
            .map_err(db_err("finish metric hour backfill"))?;
            tracing::info!(minute_rows = n, "metric rollups by hour built");
            Ok(())
        })
        .await
}

/// Write every pending row merged with `batch`'s, the groups not yet
/// stored, and `up_to` (the batch's last event id), inside the caller's
/// transaction. The pending rows stay in memory until
/// [`MetricFields::committed`]: a rolled-back flush loses nothing.
pub(crate) fn flush(
    db: &rusqlite::Connection,
    fields: &MetricFields,
    batch: &Batch<'_>,
    up_to: i64,
) -> Result<Flushed> {
    let pending = fields.pending();
    let mut done: HashSet<Key<'_>, Hasher> = HashSet::default();
    // One merge per distinct hour key of the flush, after its minutes.
    let mut hours: HashMap<Key<'_>, Acc, Hasher> = HashMap::default();
    for ((minute, fi, kind, value), acc) in &pending.rows {
        let key = (*minute, *fi, *kind, value.as_str());
        match batch.rows.get(&key) {
            Some(more) => {
                let mut both = acc.clone();
                both.merge(more);
                merge_minute(db, fields, &mut hours, key, &both)?;
                done.insert(key);
            }
            None => merge_minute(db, fields, &mut hours, key, acc)?,
        }
    }
    for (key, acc) in &batch.rows {
        if !done.contains(key) {
            merge_minute(db, fields, &mut hours, *key, acc)?;
        }
    }
    let mut hour_rows: Vec<(Key<'_>, Acc)> = hours.into_iter().collect();
    hour_rows.sort_unstable_by(|(a, _), (b, _)| {
        (a.1, a.2.as_str(), a.0, a.3).cmp(&(b.1, b.2.as_str(), b.0, b.3))
    });
    for ((hour, fi, kind, value), acc) in &hour_rows {
        merge_row(
            db,
            HOURS,
            field_name(fields, *fi)?,
            (*hour, kind.as_str(), value),
            acc,
        )?;
    }
    let mut groups: Vec<(Kind, String)> = pending.groups.iter().cloned().collect();
    drop(pending);
    {
        let known = fields.known();
        let mut seen: HashSet<(Kind, &str), Hasher> = HashSet::default();
        for &(_, _, kind, value) in batch.rows.keys() {
            if kind != Kind::NoService
                && seen.insert((kind, value))
                && !known.contains(&(kind, value.to_string()))
            {
                groups.push((kind, value.to_string()));
            }
        }
    }
    groups.sort_unstable_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    groups.dedup();
    let mut insert = db
        .prepare_cached(
            "INSERT OR IGNORE INTO metric_groups (group_kind, group_value) VALUES (?1, ?2)",
        )
        .map_err(db_err("prepare metric group insert"))?;
    for (kind, value) in &groups {
        insert
            .execute(rusqlite::params![kind.as_str(), value])
            .map_err(db_err("write metric group"))?;
    }
    set_up_to(db, up_to)?;
    Ok(Flushed { groups })
}

fn set_up_to(db: &rusqlite::Connection, up_to: i64) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO event_index_state (name, up_to) VALUES ('metrics', ?1) \
         ON CONFLICT (name) DO UPDATE SET up_to = MAX(up_to, excluded.up_to)",
    )
    .and_then(|mut s| s.execute([up_to]))
    .map_err(db_err("advance metric rollups"))?;
    Ok(())
}

/// Roll up the events stored past the `metrics` up_to (those of a
/// previous run whose pending rows were never written), so a new process
/// starts with nothing pending. Run by `migrate`, with the service index's
/// lock held so no insert runs meanwhile.
pub(crate) async fn roll_up_tail(store: &SqliteStorage) -> Result<()> {
    let fields = &store.metric_fields;
    let stored: Option<i64> =
        sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = 'metrics'")
            .fetch_optional(&store.write)
            .await
            .map_err(db_err("read metric rollup state"))?;
    let mut up_to = match stored {
        Some(n) => n,
        None => {
            // First start with batched rollups: everything stored so far
            // was rolled up as it came (or predates the rollups).
            let last = store
                .write_tx(|db| {
                    let last: Option<i64> = db
                        .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
                        .map_err(db_err("read last event id"))?;
                    set_up_to(db, last.unwrap_or(0))?;
                    Ok(last.unwrap_or(0))
                })
                .await?;
            tracing::debug!(up_to = last, "metric rollups start");
            last
        }
    };
    loop {
        let rows: Vec<(i64, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT id, ts, service, payload FROM events WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(up_to)
        .bind(TAIL_CHUNK)
        .fetch_all(&store.write)
        .await
        .map_err(db_err("read the events past the metric rollups"))?;
        let Some(&(last, ..)) = rows.last() else {
            break;
        };
        let mut events = Vec::with_capacity(rows.len());
        let mut times = Vec::with_capacity(rows.len());
        for (_, ts, service, payload) in rows {
            let payload: Map<String, Value> = parse_json(&payload, "payload")?;
            times.push(ts);
            events.push(NewEvent {
                logsource: Default::default(),
                timestamp: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                received_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
                kind: String::new(),
                service,
                user: None,
                payload,
                origin: None,
            });
        }
        let batch = accumulate(fields, &events, |i| times[i]);
        let flushed = store.write_tx(|db| flush(db, fields, &batch, last)).await?;
        fields.committed(batch, Some(flushed), last);
        tracing::debug!(up_to = last, "metric rollups caught up");
        up_to = last;
    }
    fields.pending().written_up_to = up_to;
    Ok(())
}

/// The pending rows of one field a query adds, and the `metrics` up_to
/// of the database they follow.
fn pending_rows(
    fields: &MetricFields,
    field: &str,
    kinds: &[Kind],
    from_minute: i64,
    to_micros: i64,
) -> (i64, Vec<(i64, Kind, String, Acc)>) {
    let pending = fields.pending();
    let Some(fi) = fields.names.iter().position(|n| n == field) else {
        return (pending.written_up_to, Vec::new());
    };
    let rows = pending
        .rows
        .iter()
        .filter(|((minute, f, kind, _), _)| {
            usize::from(*f) == fi
                && kinds.contains(kind)
                && *minute >= from_minute
                && minute.saturating_mul(1_000_000) < to_micros
        })
        .map(|((minute, _, kind, value), acc)| (*minute, *kind, value.clone(), acc.clone()))
        .collect();
    (pending.written_up_to, rows)
}

/// The stored group kinds a `group_by` reads.
fn kinds(g: MetricGroupBy) -> &'static [Kind] {
    match g {
        MetricGroupBy::None | MetricGroupBy::Service => &[Kind::Service, Kind::NoService],
        MetricGroupBy::MetricName => &[Kind::MetricName],
        MetricGroupBy::SourceId => &[Kind::SourceId],
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

const METRIC_MINUTES: crate::rollups::Tier = crate::rollups::Tier {
    table: "metric_rollup",
    time: "minute",
    sealed: None,
};
const METRIC_HOURS: crate::rollups::Tier = crate::rollups::Tier {
    table: "metric_rollup_hour",
    time: "hour",
    sealed: None,
};

/// Series accumulators by (bucket, group).
type Groups = BTreeMap<(i64, Option<String>), Acc>;

/// What a series read gives: the groups kept (with a limit), how many
/// there are, and the accumulators.
type Read = (Option<BTreeSet<Option<String>>>, Option<u64>, Groups);

/// `(SELECT t, group_kind, group_value, count, sum, min, max[, sketch] ...
/// UNION ALL ...)`: the rows of `plan` for one field and its group kinds
/// (and, with `only`, those group values), with the values to bind.
fn tiers_sql(
    plan: &crate::rollups::Plan,
    field: &str,
    kinds: &[Kind],
    only: Option<&[String]>,
    sketch: bool,
) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut sql = String::from("(");
    let mut binds = Vec::new();
    for (i, part) in crate::rollups::parts(plan, METRIC_MINUTES, METRIC_HOURS)
        .iter()
        .enumerate()
    {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        let (table, time) = (part.tier.table, part.tier.time);
        sql.push_str(&format!(
            "SELECT {time} AS t, group_kind, group_value, count, sum, min, max{} \
             FROM {table} WHERE field = ? AND group_kind IN ({})",
            if sketch { ", sketch" } else { "" },
            vec!["?"; kinds.len()].join(", ")
        ));
        binds.push(V::Text(field.to_string()));
        binds.extend(kinds.iter().map(|k| V::Text(k.as_str().to_string())));
        sql.push_str(&part.bounds);
        binds.extend(part.binds.iter().map(|&b| V::Integer(b)));
        if let Some(values) = only {
            sql.push_str(&format!(
                " AND group_value IN ({})",
                vec!["?"; values.len()].join(", ")
            ));
            binds.extend(values.iter().map(|v| V::Text(v.clone())));
        }
    }
    sql.push(')');
    (sql, binds)
}

pub(crate) async fn metric_series(
    pool: &SqlitePool,
    fields: &MetricFields,
    q: &MetricSeriesQuery,
) -> Result<Vec<MetricPoint>> {
    Ok(series_top(pool, fields, q, None).await?.0)
}

pub(crate) async fn metric_series_top(
    pool: &SqlitePool,
    fields: &MetricFields,
    q: &MetricSeriesQuery,
    limit: u32,
) -> Result<(Vec<MetricPoint>, u64)> {
    series_top(pool, fields, q, Some(limit)).await
}

/// The series of `q`; with `limit`, of only the `limit` groups with the
/// most values (ranked from counts alone, before any sketch is read), and
/// how many groups have values.
async fn series_top(
    pool: &SqlitePool,
    fields: &MetricFields,
    q: &MetricSeriesQuery,
    limit: Option<u32>,
) -> Result<(Vec<MetricPoint>, u64)> {
    let bucket = q.range.bucket_secs;
    if bucket < 60 || bucket % 60 != 0 {
        return Err(StorageError::Database(format!(
            "bucket_secs must be a positive multiple of 60, got {bucket}"
        )));
    }
    let quantile = quantile_of(q.agg);
    let merged = q.group_by == MetricGroupBy::None;
    let from_minute = minute_of(micros(q.range.from));
    let to_micros = micros(q.range.to);
    let kinds = kinds(q.group_by);
    let bucket_of = |minute: i64| minute - minute.rem_euclid(bucket);
    // Whole hours from the hour tier when every hour lies in one bucket.
    let plan = crate::rollups::plan(
        Some(micros(q.range.from)),
        Some(to_micros),
        bucket % 3600 == 0,
    );
    let rank_plan = crate::rollups::plan(Some(micros(q.range.from)), Some(to_micros), true);
    let key_of =
        |kind: &str, value: String| (!merged && kind != Kind::NoService.as_str()).then_some(value);
    let mut attempts = 0;
    let (groups, groups_total) = loop {
        attempts += 1;
        // The pending rows and the point they follow, then one read
        // transaction of the rows at that point.
        let (pending_up_to, more) = pending_rows(fields, &q.field, kinds, from_minute, to_micros);
        let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
        let up_to: i64 =
            sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = 'metrics'")
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err("read metric rollup state"))?
                .unwrap_or(0);
        if up_to != pending_up_to {
            // Rows were written between the two reads: read again.
            if attempts < 5 {
                continue;
            }
            tracing::warn!("metric series read without the rollups still in memory");
        }
        let more = if up_to == pending_up_to {
            more
        } else {
            Vec::new()
        };
        // Both reads below go through rusqlite on this transaction's
        // handle: sqlx hands each row over from its worker thread, which
        // cost more than the query for the ~15,000 rows of a day by minute.
        let mut handle = tx
            .lock_handle()
            .await
            .map_err(db_err("lock a read connection"))?;
        let raw = handle.as_raw_handle();
        let read = || -> Result<Read> {
            // SAFETY: the locked handle is ours alone until `handle` drops,
            // after this call; the rusqlite view does not own or close it.
            let db = unsafe { rusqlite::Connection::from_handle(raw.as_ptr()) }
                .map_err(db_err("open a read connection"))?;
            // Rank the groups by their values in the range.
            let (keep, total) = match limit.filter(|_| !merged) {
                None => (None, None),
                Some(limit) => {
                    // Counts over the range do not depend on the bucket:
                    // whole hours come from the hour tier.
                    let (from_sql, binds) = tiers_sql(&rank_plan, &q.field, kinds, None, false);
                    let sql = format!(
                        "SELECT group_kind, group_value, SUM(count) FROM {from_sql} \
                         GROUP BY group_kind, group_value"
                    );
                    let mut stmt = db.prepare(&sql).map_err(db_err("rank metric groups"))?;
                    let mut rows = stmt
                        .query(rusqlite::params_from_iter(binds))
                        .map_err(db_err("rank metric groups"))?;
                    let mut counts: Vec<(Option<String>, u64)> = Vec::new();
                    while let Some(r) = rows.next().map_err(db_err("rank metric groups"))? {
                        let kind: String = r.get(0).map_err(db_err("rank metric groups"))?;
                        let value: String = r.get(1).map_err(db_err("rank metric groups"))?;
                        let n: i64 = r.get(2).map_err(db_err("rank metric groups"))?;
                        counts.push((key_of(&kind, value), n.max(0) as u64));
                    }
                    counts.extend(more.iter().map(|(_, kind, value, acc)| {
                        (
                            key_of(kind.as_str(), value.clone()),
                            acc.count.max(0) as u64,
                        )
                    }));
                    let (keep, total) = vigilo_storage::top_groups(counts, limit);
                    (Some(keep), Some(total))
                }
            };
            let only: Option<Vec<String>> = keep
                .as_ref()
                .map(|keep| keep.iter().map(|k| k.clone().unwrap_or_default()).collect());
            let (from_sql, mut binds) =
                tiers_sql(&plan, &q.field, kinds, only.as_deref(), quantile.is_some());
            let head = "SELECT t - (((t % ?) + ?) % ?) AS bucket, group_kind, group_value, ";
            let mut all = vec![rusqlite::types::Value::Integer(bucket); 3];
            all.append(&mut binds);
            let sql = if quantile.is_some() {
                format!("{head}count, sum, min, max, sketch FROM {from_sql}")
            } else {
                format!(
                    "{head}SUM(count), SUM(sum), MIN(min), MAX(max) FROM {from_sql} \
                     GROUP BY bucket, group_kind, group_value"
                )
            };
            let mut stmt = db.prepare(&sql).map_err(db_err("read metric series"))?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(all))
                .map_err(db_err("read metric series"))?;
            let wanted = |key: &Option<String>| keep.as_ref().is_none_or(|keep| keep.contains(key));
            let mut groups: Groups = BTreeMap::new();
            let get = |e| StorageError::Database(format!("read metric series: {e}"));
            while let Some(r) = rows.next().map_err(get)? {
                let b: i64 = r.get(0).map_err(get)?;
                let kind: String = r.get(1).map_err(get)?;
                let key = key_of(&kind, r.get(2).map_err(get)?);
                if !wanted(&key) {
                    continue;
                }
                let mut acc = Acc {
                    count: r.get(3).map_err(get)?,
                    sum: r.get(4).map_err(get)?,
                    min: r.get(5).map_err(get)?,
                    max: r.get(6).map_err(get)?,
                    sketch: Sketch::new(),
                    stored: None,
                };
                if quantile.is_some() {
                    let blob = r.get_ref(7).map_err(get)?.as_blob().map_err(|e| {
                        StorageError::Corrupt(format!("metric_rollup: sketch: {e}"))
                    })?;
                    acc.stored = Some(blob.to_vec());
                }
                // A row of a bucket of its own is taken as it is.
                match groups.entry((b, key)) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(acc);
                    }
                    std::collections::btree_map::Entry::Occupied(mut o) => {
                        o.get_mut().merge_read(acc)?
                    }
                }
            }
            Ok((keep, total, groups))
        };
        let flavor = tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor());
        let read = match flavor {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
            _ => read(),
        };
        drop(handle);
        drop(tx);
        let (keep, total, mut groups) = read?;
        let wanted = |key: &Option<String>| keep.as_ref().is_none_or(|keep| keep.contains(key));
        for (minute, kind, value, acc) in more {
            let key = key_of(kind.as_str(), value);
            if wanted(&key) {
                let point = groups
                    .entry((bucket_of(minute), key))
                    .or_insert_with(Acc::new);
                point.decode()?;
                point.merge(&acc);
            }
        }
        break (groups, total);
    };
    let mut out = Vec::with_capacity(groups.len());
    for ((b, key), acc) in groups {
        if acc.count <= 0 {
            continue;
        }
        let value = match q.agg {
            MetricAgg::Avg => acc.sum / acc.count as f64,
            MetricAgg::Sum => acc.sum,
            MetricAgg::Count => acc.count as f64,
            MetricAgg::Min => acc.min,
            MetricAgg::Max => acc.max,
            MetricAgg::P50 | MetricAgg::P95 | MetricAgg::P99 => {
                match acc.quantile(quantile.unwrap_or(0.5))? {
                    // The extremes are exact: no estimate lies outside them.
                    Some(v) => v.clamp(acc.min, acc.max),
                    None => continue,
                }
            }
        };
        out.push(MetricPoint {
            bucket: time_from_secs(b, "bucket")?,
            key,
            value,
            count: acc.count as u64,
        });
    }
    let total = match groups_total {
        Some(n) => n,
        None => out
            .iter()
            .map(|p| &p.key)
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64,
    };
    Ok((out, total))
}

pub(crate) async fn metric_groups(
    pool: &SqlitePool,
    fields: &MetricFields,
    limit: u32,
) -> Result<MetricGroups> {
    let pending: Vec<(Kind, String)> = fields.pending().groups.iter().cloned().collect();
    let mut out = MetricGroups::default();
    for (kind, list) in [
        (Kind::Service, &mut out.service),
        (Kind::MetricName, &mut out.metric_name),
        (Kind::SourceId, &mut out.source_id),
    ] {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT group_value FROM metric_groups WHERE group_kind = ? \
             ORDER BY group_value LIMIT ?",
        )
        .bind(kind.as_str())
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db_err("read metric groups"))?;
        list.extend(rows.into_iter().map(|(v,)| v));
        list.extend(
            pending
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, v)| v.clone()),
        );
        list.sort_unstable();
        list.dedup();
        list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    Ok(out)
}
