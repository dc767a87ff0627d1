//! Events: group-committed inserts, lookups and listings.

use std::collections::{BTreeMap, HashMap};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use vigilo_core::{Event, Logsource, NewEvent};
use vigilo_storage::{EventQuery, Page, Result, StorageError};

use crate::bulk::{self, EventRow};
use crate::codec::{
    MICROS_PER_MINUTE, col, count_col, like_pattern, micros, minute_of, paging, parse_json,
    time_col,
};
use crate::{SqliteOptions, SqliteStorage, db_err};

/// The logsource comes back as `product|category|service` (values cannot
/// hold `|`), one primary-key lookup per row.
const EVENT_COLUMNS: &str = "id, ts, received_at, kind, service, user, payload, \
     (SELECT l.product || '|' || l.category || '|' || l.service FROM logsources l \
     WHERE l.id = events.logsource) AS logsource";

/// The `logsources` row of each distinct logsource among `events`, added
/// when new (in the write transaction).
fn logsource_ids(db: &rusqlite::Connection, events: &[NewEvent]) -> Result<Vec<i64>> {
    let mut known: HashMap<&Logsource, i64> = HashMap::new();
    let mut ids = Vec::with_capacity(events.len());
    for e in events {
        if let Some(&id) = known.get(&e.logsource) {
            ids.push(id);
            continue;
        }
        let dims = [
            e.logsource.product.as_deref().unwrap_or(""),
            e.logsource.category.as_deref().unwrap_or(""),
            e.logsource.service.as_deref().unwrap_or(""),
        ];
        let found: Option<i64> = db
            .prepare_cached(
                "SELECT id FROM logsources WHERE product = ?1 AND category = ?2 AND service = ?3",
            )
            .and_then(|mut s| {
                use rusqlite::OptionalExtension;
                s.query_row(dims, |r| r.get(0)).optional()
            })
            .map_err(db_err("read logsources"))?;
        let id = match found {
            Some(id) => id,
            None => db
                .prepare_cached(
                    "INSERT INTO logsources (product, category, service) VALUES (?1, ?2, ?3) \
                     RETURNING id",
                )
                .and_then(|mut s| s.query_row(dims, |r| r.get(0)))
                .map_err(db_err("add a logsource"))?,
        };
        known.insert(&e.logsource, id);
        ids.push(id);
    }
    Ok(ids)
}

fn decode_logsource(packed: Option<&str>) -> Logsource {
    let mut parts = packed.unwrap_or("").splitn(3, '|');
    let mut next = || parts.next().filter(|s| !s.is_empty()).map(str::to_string);
    Logsource {
        product: next(),
        category: next(),
        service: next(),
    }
}

/// The by-service index entries (`event_service`) of events stored since
/// the last batch was written, and when to write the next batch.
#[derive(Debug)]
pub(crate) struct ServiceIndex {
    every_events: usize,
    every: Duration,
    pending: tokio::sync::Mutex<Pending>,
}

#[derive(Debug, Default)]
struct Pending {
    /// Service -> (ts, id) of its events since the last batch.
    entries: BTreeMap<String, Vec<(i64, i64)>>,
    /// Events (with or without a service) stored since the last batch.
    events: usize,
    /// When the first of them was stored.
    since: Option<Instant>,
}

impl ServiceIndex {
    pub(crate) fn new(opts: &SqliteOptions) -> Self {
        ServiceIndex {
            every_events: opts.service_index_events.max(1),
            every: opts.service_index_age,
            pending: tokio::sync::Mutex::new(Pending::default()),
        }
    }
}

/// Write `entries` (unsorted) to `event_service` and move its `up_to`.
fn write_service_entries(
    db: &rusqlite::Connection,
    entries: &mut [(&str, i64, i64)],
    up_to: i64,
) -> Result<()> {
    // In key order, so each service's pages are visited once.
    entries.sort_unstable();
    let mut insert = db
        .prepare_cached("INSERT OR IGNORE INTO event_service (service, ts, id) VALUES (?1, ?2, ?3)")
        .map_err(db_err("prepare service index insert"))?;
    for (service, ts, id) in entries.iter() {
        insert
            .execute(rusqlite::params![service, ts, id])
            .map_err(db_err("write service index"))?;
    }
    db.prepare_cached("UPDATE event_index_state SET up_to = MAX(up_to, ?1) WHERE name = 'service'")
        .and_then(|mut s| s.execute([up_to]))
        .map_err(db_err("advance service index"))?;
    Ok(())
}

/// The start (epoch seconds) of the hour holding `minute`.
pub(crate) fn hour_of_minute(minute: i64) -> i64 {
    minute - minute.rem_euclid(3600)
}

/// Add each (time, kind) count to its row of a kind tier.
fn upsert_counts(
    db: &rusqlite::Connection,
    sql: &str,
    rows: &BTreeMap<(i64, &str), i64>,
    what: &'static str,
) -> Result<()> {
    let mut upsert = db
        .prepare_cached(sql)
        .map_err(db_err("prepare event rollup tier upsert"))?;
    for ((t, kind), n) in rows {
        upsert
            .execute(rusqlite::params![t, kind, n])
            .map_err(db_err(what))?;
    }
    Ok(())
}

/// Fold a batch's per-minute rollup rows into the coarser tiers
/// (`event_rollup_kind`, `event_rollup_kind_hour`, `event_rollup_hour`),
/// one upsert per distinct key, in key order, in the batch's transaction.
fn write_rollup_tiers(
    db: &rusqlite::Connection,
    rollup: &HashMap<(i64, &str, Option<&str>), i64>,
) -> Result<()> {
    let mut by_minute: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    let mut by_hour: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    let mut by_service_hour: BTreeMap<(i64, &str, Option<&str>), i64> = BTreeMap::new();
    for (&(minute, kind, service), &n) in rollup {
        let hour = hour_of_minute(minute);
        *by_minute.entry((minute, kind)).or_default() += n;
        *by_hour.entry((hour, kind)).or_default() += n;
        *by_service_hour.entry((hour, kind, service)).or_default() += n;
    }
    upsert_counts(
        db,
        "INSERT INTO event_rollup_kind (minute, kind, count) VALUES (?1, ?2, ?3) \
         ON CONFLICT (minute, kind) DO UPDATE SET count = count + excluded.count",
        &by_minute,
        "update event rollups by minute and kind",
    )?;
    upsert_counts(
        db,
        "INSERT INTO event_rollup_kind_hour (hour, kind, count) VALUES (?1, ?2, ?3) \
         ON CONFLICT (hour, kind) DO UPDATE SET count = count + excluded.count",
        &by_hour,
        "update event rollups by hour and kind",
    )?;
    // Sealed hours take the batch's rows; the hours the seal moves past
    // now are summed from the minute rows (this batch's written above).
    let sealed: i64 = db
        .prepare_cached("SELECT up_to FROM event_index_state WHERE name = 'event_hours'")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(db_err("read the sealed event hours"))?;
    let now_minute = chrono::Utc::now().timestamp().div_euclid(60) * 60;
    let seal = hour_of_minute(now_minute) - 3600;
    let mut upsert = db
        .prepare_cached(
            "INSERT INTO event_rollup_hour (hour, kind, has_service, service, count) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (hour, kind, has_service, service) \
             DO UPDATE SET count = count + excluded.count",
        )
        .map_err(db_err("prepare event rollup tier upsert"))?;
    for ((hour, kind, service), n) in by_service_hour.range(..(sealed, "", None)) {
        upsert
            .execute(rusqlite::params![
                hour,
                kind,
                service.is_some(),
                service.unwrap_or(""),
                n
            ])
            .map_err(db_err("update event rollups by hour and service"))?;
    }
    if seal > sealed {
        db.prepare_cached(
            "INSERT INTO event_rollup_hour (hour, kind, has_service, service, count) \
             SELECT minute - (((minute % 3600) + 3600) % 3600) AS h, kind, has_service, \
             service, SUM(count) FROM event_rollup WHERE minute >= ?1 AND minute < ?2 \
             GROUP BY h, kind, has_service, service \
             ON CONFLICT (hour, kind, has_service, service) \
             DO UPDATE SET count = count + excluded.count",
        )
        .and_then(|mut s| s.execute([sealed, seal]))
        .map_err(db_err("seal event hours"))?;
        db.prepare_cached("UPDATE event_index_state SET up_to = ?1 WHERE name = 'event_hours'")
            .and_then(|mut s| s.execute([seal]))
            .map_err(db_err("seal event hours"))?;
    }
    Ok(())
}

/// Index every event past `up_to` (those stored since the last batch of a
/// previous run), so a new process starts with no tail of its own.
pub(crate) async fn index_tail(store: &SqliteStorage) -> Result<()> {
    let mut pending = store.service_index.pending.lock().await;
    store
        .write_tx(|db| {
            db.execute(
                "INSERT OR IGNORE INTO event_service (service, ts, id) \
                 SELECT service, ts, id FROM events NOT INDEXED \
                 WHERE id > (SELECT up_to FROM event_index_state WHERE name = 'service') \
                 AND service IS NOT NULL",
                [],
            )
            .map_err(db_err("index the event tail"))?;
            let last: Option<i64> = db
                .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
                .map_err(db_err("read last event id"))?;
            if let Some(last) = last {
                db.execute(
                    "UPDATE event_index_state SET up_to = MAX(up_to, ?1) WHERE name = 'service'",
                    [last],
                )
                .map_err(db_err("advance service index"))?;
            }
            Ok(())
        })
        .await?;
    *pending = Pending::default();
    crate::metrics::roll_up_tail(store).await?;
    Ok(())
}

/// Write the batched metric rollups now, so the tables hold those of
/// every stored event (a copy reads the tables, not the pending rows).
pub(crate) async fn write_metric_batches(store: &SqliteStorage) -> Result<()> {
    let _order = store.service_index.pending.lock().await;
    let none: [NewEvent; 0] = [];
    let empty = crate::metrics::accumulate(&store.metric_fields, &none, |_| 0);
    let (last, flushed) = store
        .write_tx(|db| {
            let last: Option<i64> = db
                .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
                .map_err(db_err("read last event id"))?;
            let last = last.unwrap_or(0);
            Ok((
                last,
                crate::metrics::flush(db, &store.metric_fields, &empty, last)?,
            ))
        })
        .await?;
    store.metric_fields.committed(empty, Some(flushed), last);
    Ok(())
}

pub(crate) async fn insert_events(
    store: &SqliteStorage,
    mut events: Vec<NewEvent>,
) -> Result<Vec<Event>> {
    let positions = crate::connectors::skip_delivered(store, &mut events).await?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // An event naming no logsource dimension is stored with the default,
    // `product: vigilo`, so every stored event has a logsource.
    for e in &mut events {
        if e.logsource.is_empty() {
            e.logsource = Logsource::vigilo();
        }
    }
    // Everything that does not need the database happens before taking the
    // write connection: payload serialization and rollup aggregation.
    let mut payloads = Vec::with_capacity(events.len());
    let mut times = Vec::with_capacity(events.len());
    let mut rollup: HashMap<(i64, &str, Option<&str>), i64> = HashMap::new();
    for e in &events {
        payloads.push(
            serde_json::to_string(&e.payload).map_err(|err| {
                StorageError::Database(format!("cannot serialize payload: {err}"))
            })?,
        );
        let ts = micros(e.timestamp);
        times.push((ts, micros(e.received_at)));
        *rollup
            .entry((minute_of(ts), e.kind.as_str(), e.service.as_deref()))
            .or_default() += 1;
    }
    let metric_batch = crate::metrics::accumulate(&store.metric_fields, &events, |i| times[i].0);
    // Held across the write: batches of index entries follow commit order.
    let mut pending = store.service_index.pending.lock().await;
    let index = &store.service_index;
    let flush = pending.events + events.len() >= index.every_events
        || pending.since.is_some_and(|t| t.elapsed() >= index.every);
    let (first_id, metrics_flushed) = store
        .write_tx(|db| {
            let logsources = logsource_ids(db, &events)?;
            // A bare MAX over the rowid is answered from the end of the b-tree
            // (wrapping it, in COALESCE for instance, would scan the whole table).
            let last: Option<i64> = db
                .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
                .map_err(db_err("read last event id"))?;
            let first_id = last.unwrap_or(0) + 1;
            let rows = events.iter().enumerate().map(|(i, e)| EventRow {
                id: first_id + i as i64,
                ts: times[i].0,
                received_at: times[i].1,
                kind: e.kind.as_str(),
                service: e.service.as_deref(),
                user: e.user.as_deref(),
                payload: payloads[i].as_str(),
                logsource: logsources[i],
            });
            // SAFETY: `write_tx` gives this thread the handle alone, inside the
            // open transaction, for the whole call.
            let handle = unsafe { db.handle() };
            let handle = NonNull::new(handle)
                .ok_or_else(|| StorageError::Database("write connection is closed".into()))?;
            unsafe { bulk::insert_events(handle, rows) }
                .map_err(|e| StorageError::Database(format!("insert events: {e}")))?;

            let mut upsert = db
                .prepare_cached(
                    "INSERT INTO event_rollup (minute, kind, has_service, service, count) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (minute, kind, has_service, service) \
                 DO UPDATE SET count = count + excluded.count",
                )
                .map_err(db_err("prepare event rollup upsert"))?;
            for ((minute, kind, service), n) in &rollup {
                upsert
                    .execute(rusqlite::params![
                        minute,
                        kind,
                        service.is_some(),
                        service.unwrap_or(""),
                        n
                    ])
                    .map_err(db_err("update event rollups"))?;
            }
            write_rollup_tiers(db, &rollup)?;
            crate::connectors::store_positions(db, &positions)?;
            let last_id = first_id + events.len() as i64 - 1;
            let metrics_flushed = if flush {
                Some(crate::metrics::flush(
                    db,
                    &store.metric_fields,
                    &metric_batch,
                    last_id,
                )?)
            } else {
                None
            };
            if flush {
                let mut entries: Vec<(&str, i64, i64)> = pending
                    .entries
                    .iter()
                    .flat_map(|(s, v)| v.iter().map(move |&(ts, id)| (s.as_str(), ts, id)))
                    .collect();
                entries.extend(events.iter().enumerate().filter_map(|(i, e)| {
                    Some((e.service.as_deref()?, times[i].0, first_id + i as i64))
                }));
                write_service_entries(db, &mut entries, first_id + events.len() as i64 - 1)?;
            }
            Ok((first_id, metrics_flushed))
        })
        .await?;
    let last_id = first_id + events.len() as i64 - 1;
    // Under the index's lock, so pending rollups follow commit order.
    store
        .metric_fields
        .committed(metric_batch, metrics_flushed, last_id);
    if flush {
        *pending = Pending::default();
    } else {
        pending.events += events.len();
        pending.since.get_or_insert_with(Instant::now);
        for (i, e) in events.iter().enumerate() {
            if let Some(service) = e.service.as_deref() {
                let entry = (times[i].0, first_id + i as i64);
                match pending.entries.get_mut(service) {
                    Some(v) => v.push(entry),
                    None => {
                        pending.entries.insert(service.to_string(), vec![entry]);
                    }
                }
            }
        }
    }
    drop(pending);

    Ok(events
        .into_iter()
        .enumerate()
        .map(|(i, e)| Event::from_new(first_id + i as i64, e))
        .collect())
}

pub(crate) fn decode_event(row: &SqliteRow) -> Result<Event> {
    let payload: &str = col(row, "payload")?;
    let logsource: Option<&str> = col(row, "logsource")?;
    Ok(Event {
        logsource: decode_logsource(logsource),
        id: col(row, "id")?,
        timestamp: time_col(row, "ts")?,
        received_at: time_col(row, "received_at")?,
        kind: col(row, "kind")?,
        service: col(row, "service")?,
        user: col(row, "user")?,
        payload: parse_json::<Map<String, Value>>(payload, "payload")?,
    })
}

pub(crate) async fn get_event(pool: &SqlitePool, id: i64) -> Result<Option<Event>> {
    let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_err("get event"))?;
    row.as_ref().map(decode_event).transpose()
}

pub(crate) async fn get_events(pool: &SqlitePool, ids: &[i64]) -> Result<Vec<Event>> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(db_err("acquire a read connection"))?;
    read_events(&mut conn, ids).await
}

/// The events among `ids` that exist, in id order, each once.
async fn read_events(conn: &mut SqliteConnection, ids: &[i64]) -> Result<Vec<Event>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(10_000) {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE id IN ("
        ));
        let mut list = qb.separated(",");
        for id in chunk {
            list.push_bind(*id);
        }
        qb.push(")");
        let rows = qb
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("get events"))?;
        for row in &rows {
            out.push(decode_event(row)?);
        }
    }
    out.sort_by_key(|e| e.id);
    out.dedup_by_key(|e| e.id);
    Ok(out)
}

/// The `AND ...` terms of `q`'s filters on `events`, its columns qualified
/// with `prefix` (`""` or `"e."`); `ts` names the column the time bounds
/// apply to, and `service` says whether to filter on the service here.
fn push_event_filters(
    qb: &mut QueryBuilder<'_, Sqlite>,
    q: &EventQuery,
    prefix: &str,
    ts: &str,
    service: bool,
) {
    if let Some(kind) = &q.kind {
        qb.push(format!(" AND {prefix}kind = "))
            .push_bind(kind.clone());
    }
    if let Some(s) = q.service.as_ref().filter(|_| service) {
        qb.push(format!(" AND {prefix}service = "))
            .push_bind(s.clone());
    }
    if let Some(user) = &q.user {
        qb.push(format!(" AND {prefix}user = "))
            .push_bind(user.clone());
    }
    if let Some(from) = q.from {
        qb.push(format!(" AND {ts} >= ")).push_bind(micros(from));
    }
    if let Some(to) = q.to {
        qb.push(format!(" AND {ts} < ")).push_bind(micros(to));
    }
    if !q.logsource.is_empty() {
        qb.push(format!(
            " AND {prefix}logsource IN (SELECT id FROM logsources WHERE 1 = 1"
        ));
        for dim in vigilo_core::logsource::DIMENSIONS {
            if let Some(v) = q.logsource.get(dim) {
                qb.push(format!(" AND {dim} = ")).push_bind(v.to_string());
            }
        }
        qb.push(")");
    }
    if let Some(text) = &q.q {
        qb.push(format!(" AND {prefix}payload LIKE "))
            .push_bind(like_pattern(&vigilo_storage::json_search_text(text)))
            .push(" ESCAPE '\\'");
    }
}

/// Events of one service, newest first: the batched index
/// (`event_service`) up to `up_to`, merged with a scan of the rows past
/// it. Returns the total (unless `want_total` is false) and the ids of
/// rows `offset..offset + limit`.
async fn service_page(
    conn: &mut SqliteConnection,
    q: &EventQuery,
    service: &str,
    want_total: bool,
    offset: i64,
    limit: i64,
) -> Result<(u64, Vec<i64>)> {
    let up_to: i64 =
        sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = 'service'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("read service index state"))?
            .unwrap_or(0);
    // Only kind, user and text need the event row; time and service are
    // in the index entry.
    let joined = q.kind.is_some() || q.user.is_some() || q.q.is_some() || !q.logsource.is_empty();
    let from_index = |select: &str| {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {select} FROM event_service x"));
        if joined {
            qb.push(" CROSS JOIN events e ON e.id = x.id");
        }
        qb.push(" WHERE x.service = ")
            .push_bind(service.to_string());
        push_event_filters(&mut qb, q, "e.", "x.ts", false);
        qb
    };
    // The tail: rows past the index, found by rowid (no index may be used,
    // or the planner could walk all of `events_ts`).
    let from_tail = |select: &str| {
        let mut qb = QueryBuilder::<Sqlite>::new(format!(
            "SELECT {select} FROM events NOT INDEXED WHERE id > "
        ));
        qb.push_bind(up_to);
        push_event_filters(&mut qb, q, "", "ts", true);
        qb
    };
    let mut total = 0;
    if want_total {
        for mut qb in [from_index("COUNT(*) AS n"), from_tail("COUNT(*) AS n")] {
            let row = qb
                .build()
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err("count events of a service"))?;
            total += count_col(&row, "n")?;
        }
    }
    let want = offset.saturating_add(limit);
    let mut keys: Vec<(i64, i64)> = Vec::new();
    for (mut qb, order) in [
        (
            from_index("x.ts, x.id"),
            " ORDER BY x.ts DESC, x.id DESC LIMIT ",
        ),
        (from_tail("ts, id"), " ORDER BY ts DESC, id DESC LIMIT "),
    ] {
        qb.push(order).push_bind(want);
        let rows: Vec<(i64, i64)> = qb
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("list events of a service"))?;
        keys.extend(rows);
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    let ids = keys
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(0))
        .map(|(_, id)| id)
        .collect();
    Ok((total, ids))
}

/// Count matching events from the rollups when the filters allow it: no
/// user or text filter, and time bounds on whole minutes.
async fn count_from_rollups(conn: &mut SqliteConnection, q: &EventQuery) -> Result<Option<u64>> {
    let aligned = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.is_none_or(|t| micros(t).rem_euclid(MICROS_PER_MINUTE) == 0)
    };
    if q.user.is_some()
        || q.q.is_some()
        || !q.logsource.is_empty()
        || !aligned(q.from)
        || !aligned(q.to)
    {
        return Ok(None);
    }
    // Events before the horizon may have expired: those are counted from
    // their rows (after a sweep, only the few detection had not reached),
    // the rest from the rollups.
    let Some(horizon) = crate::retention::horizon(conn).await? else {
        return rollup_count(conn, q).await.map(Some);
    };
    if q.from.is_some_and(|f| micros(f) >= horizon) {
        return rollup_count(conn, q).await.map(Some);
    }
    let at = crate::codec::time_from_micros(horizon, "events horizon")?;
    let before = EventQuery {
        to: Some(q.to.map_or(at, |t| t.min(at))),
        ..q.clone()
    };
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) AS n FROM events WHERE 1 = 1");
    push_event_filters(&mut qb, &before, "", "ts", true);
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("count events before the horizon"))?;
    let mut n = count_col(&row, "n")?;
    if q.to.is_none_or(|t| t > at) {
        let after = EventQuery {
            from: Some(at),
            ..q.clone()
        };
        n += rollup_count(conn, &after).await?;
    }
    Ok(Some(n))
}

/// [`count_from_rollups`] of a query it accepts, whose range the rollups
/// hold whole.
async fn rollup_count(conn: &mut SqliteConnection, q: &EventQuery) -> Result<u64> {
    // Whole hours from an hour tier, the rest from a minute tier; without
    // a service filter, the tiers without the service.
    let plan = crate::rollups::plan(q.from.map(micros), q.to.map(micros), true);
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COALESCE(SUM(count), 0) AS n FROM ");
    if q.service.is_some() {
        crate::rollups::push_tiers(
            &mut qb,
            "kind, has_service, service",
            &plan,
            crate::rollups::EVENTS_MINUTE,
            crate::rollups::EVENTS_HOUR,
        );
    } else {
        crate::rollups::push_tiers(
            &mut qb,
            "kind",
            &plan,
            crate::rollups::EVENTS_BY_KIND_MINUTE,
            crate::rollups::EVENTS_BY_KIND_HOUR,
        );
    }
    qb.push(" WHERE 1 = 1");
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(service) = &q.service {
        qb.push(" AND has_service = 1 AND service = ")
            .push_bind(service.clone());
    }
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("count events from rollups"))?;
    count_col(&row, "n")
}

pub(crate) async fn list_events(pool: &SqlitePool, q: &EventQuery) -> Result<Page<Event>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    // One read transaction: the total and the page come from one snapshot.
    let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
    let rollup_total = count_from_rollups(&mut tx, q).await?;
    if let Some(service) = &q.service {
        let (counted, ids) = service_page(
            &mut tx,
            q,
            service,
            rollup_total.is_none(),
            offset,
            i64::from(page_size),
        )
        .await?;
        let mut by_id: HashMap<i64, Event> = read_events(&mut tx, &ids)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        return Ok(Page {
            items: ids.iter().filter_map(|id| by_id.remove(id)).collect(),
            total: rollup_total.unwrap_or(counted),
            page,
            page_size,
        });
    }
    let total = match rollup_total {
        Some(n) => n,
        None => {
            let mut qb =
                QueryBuilder::<Sqlite>::new("SELECT COUNT(*) AS n FROM events WHERE 1 = 1");
            push_event_filters(&mut qb, q, "", "ts", true);
            let row = qb
                .build()
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("count events"))?;
            count_col(&row, "n")?
        }
    };
    let mut qb =
        QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1"));
    push_event_filters(&mut qb, q, "", "ts", true);
    qb.push(" ORDER BY ts DESC, id DESC LIMIT ")
        .push_bind(i64::from(page_size))
        .push(" OFFSET ")
        .push_bind(offset);
    let rows = qb
        .build()
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("list events"))?;
    let items = rows.iter().map(decode_event).collect::<Result<_>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn events_after(
    pool: &SqlitePool,
    after_id: i64,
    limit: u32,
) -> Result<Vec<Event>> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id > ? ORDER BY id LIMIT ?"
    ))
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err("read events after id"))?;
    rows.iter().map(decode_event).collect()
}

/// The (ts, id) keys of up to `limit` events of one service after
/// `after`, newest first: the batched index and the unindexed tail, each
/// sought from the cursor, merged.
async fn scan_service_keys(
    conn: &mut SqliteConnection,
    q: &EventQuery,
    service: &str,
    after: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<(i64, i64)>> {
    let up_to: i64 =
        sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = 'service'")
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err("read service index state"))?
            .unwrap_or(0);
    let joined = q.kind.is_some() || q.user.is_some() || q.q.is_some() || !q.logsource.is_empty();
    let mut index = QueryBuilder::<Sqlite>::new("SELECT x.ts, x.id FROM event_service x");
    if joined {
        index.push(" CROSS JOIN events e ON e.id = x.id");
    }
    index
        .push(" WHERE x.service = ")
        .push_bind(service.to_string());
    push_event_filters(&mut index, q, "e.", "x.ts", false);
    let mut tail = QueryBuilder::<Sqlite>::new("SELECT ts, id FROM events NOT INDEXED WHERE id > ");
    tail.push_bind(up_to);
    push_event_filters(&mut tail, q, "", "ts", true);
    if let Some((ts, id)) = after {
        // The primary key (service, ts, id) seeks straight to a row value.
        index
            .push(" AND (x.ts, x.id) < (")
            .push_bind(ts)
            .push(", ")
            .push_bind(id)
            .push(")");
        tail.push(" AND (ts, id) < (")
            .push_bind(ts)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    index
        .push(" ORDER BY x.ts DESC, x.id DESC LIMIT ")
        .push_bind(limit);
    tail.push(" ORDER BY ts DESC, id DESC LIMIT ")
        .push_bind(limit);
    let mut keys: Vec<(i64, i64)> = Vec::new();
    for mut qb in [index, tail] {
        let rows: Vec<(i64, i64)> = qb
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("scan events of a service"))?;
        keys.extend(rows);
    }
    keys.sort_unstable_by(|a, b| b.cmp(a));
    keys.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(keys)
}

/// Up to `limit` events `q` selects after `after`, newest first.
pub(crate) async fn scan_events(
    pool: &SqlitePool,
    q: &EventQuery,
    after: Option<vigilo_storage::Cursor>,
    limit: u32,
) -> Result<Vec<Event>> {
    let limit = i64::from(limit.clamp(1, vigilo_storage::MAX_SCAN_PAGE));
    let after = after.map(|c| (micros(c.time), c.id));
    let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
    if let Some(service) = &q.service {
        let keys = scan_service_keys(&mut tx, q, service, after, limit).await?;
        let ids: Vec<i64> = keys.iter().map(|&(_, id)| id).collect();
        let mut by_id: HashMap<i64, Event> = read_events(&mut tx, &ids)
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        return Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect());
    }
    let mut out = Vec::new();
    // Two seeks on `events_ts`: the rest of the cursor's own timestamp by
    // id, then the older timestamps. (A row-value bound on (ts, id) would
    // seek on ts alone and rescan every tie of the cursor's timestamp.)
    let mut steps: Vec<QueryBuilder<Sqlite>> = Vec::with_capacity(2);
    let select = format!("SELECT {EVENT_COLUMNS} FROM events WHERE 1 = 1");
    match after {
        Some((ts, id)) => {
            let mut same = QueryBuilder::<Sqlite>::new(&select);
            push_event_filters(&mut same, q, "", "ts", true);
            same.push(" AND ts = ")
                .push_bind(ts)
                .push(" AND id < ")
                .push_bind(id)
                .push(" ORDER BY id DESC LIMIT ");
            steps.push(same);
            let mut older = QueryBuilder::<Sqlite>::new(&select);
            push_event_filters(&mut older, q, "", "ts", true);
            older
                .push(" AND ts < ")
                .push_bind(ts)
                .push(" ORDER BY ts DESC, id DESC LIMIT ");
            steps.push(older);
        }
        None => {
            let mut all = QueryBuilder::<Sqlite>::new(&select);
            push_event_filters(&mut all, q, "", "ts", true);
            all.push(" ORDER BY ts DESC, id DESC LIMIT ");
            steps.push(all);
        }
    }
    for mut qb in steps {
        let want = limit - out.len() as i64;
        if want <= 0 {
            break;
        }
        qb.push_bind(want);
        let rows = qb
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("scan events"))?;
        for row in &rows {
            out.push(decode_event(row)?);
        }
    }
    Ok(out)
}

/// Write the pending by-service index entries and metric rollup rows now,
/// as the next insert reaching the batch size would, so every stored event
/// is in the written index and rollups. Retention runs it before deleting:
/// an event it deletes must not come back as a pending index entry.
pub(crate) async fn flush_pending(store: &SqliteStorage) -> Result<()> {
    let mut pending = store.service_index.pending.lock().await;
    if pending.events == 0 {
        return Ok(());
    }
    let empty = crate::metrics::accumulate(&store.metric_fields, &[], |_| 0);
    let (last_id, flushed) = store
        .write_tx(|db| {
            let last: Option<i64> = db
                .query_row("SELECT MAX(id) FROM events", [], |r| r.get(0))
                .map_err(db_err("read last event id"))?;
            let last_id = last.unwrap_or(0);
            let flushed = crate::metrics::flush(db, &store.metric_fields, &empty, last_id)?;
            let mut entries: Vec<(&str, i64, i64)> = pending
                .entries
                .iter()
                .flat_map(|(s, v)| v.iter().map(move |&(ts, id)| (s.as_str(), ts, id)))
                .collect();
            write_service_entries(db, &mut entries, last_id)?;
            Ok((last_id, flushed))
        })
        .await?;
    store.metric_fields.committed(empty, Some(flushed), last_id);
    *pending = Pending::default();
    Ok(())
}
