//! Events: group-committed inserts, lookups and listings.

use std::collections::HashMap;
use std::ptr::NonNull;

use serde_json::{Map, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use vigilo_core::{Event, NewEvent};
use vigilo_storage::{EventQuery, Page, Result, StorageError};

use crate::bulk::{self, EventRow};
use crate::codec::{
    MICROS_PER_MINUTE, col, count_col, like_pattern, micros, minute_of, paging, parse_json,
    time_col,
};
use crate::{SqliteStorage, db_err};

const EVENT_COLUMNS: &str = "id, ts, received_at, kind, service, user, payload";

pub(crate) async fn insert_events(
    store: &SqliteStorage,
    events: Vec<NewEvent>,
) -> Result<Vec<Event>> {
    if events.is_empty() {
        return Ok(Vec::new());
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
    let first_id = store
        .write_tx(|db| {
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
            Ok(first_id)
        })
        .await?;

    Ok(events
        .into_iter()
        .enumerate()
        .map(|(i, e)| Event::from_new(first_id + i as i64, e))
        .collect())
}

pub(crate) fn decode_event(row: &SqliteRow) -> Result<Event> {
    let payload: &str = col(row, "payload")?;
    Ok(Event {
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
            .fetch_all(pool)
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

fn push_event_filters(qb: &mut QueryBuilder<'_, Sqlite>, q: &EventQuery) {
    qb.push(" WHERE 1 = 1");
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(service) = &q.service {
        qb.push(" AND service = ").push_bind(service.clone());
    }
    if let Some(user) = &q.user {
        qb.push(" AND user = ").push_bind(user.clone());
    }
    if let Some(from) = q.from {
        qb.push(" AND ts >= ").push_bind(micros(from));
    }
    if let Some(to) = q.to {
        qb.push(" AND ts < ").push_bind(micros(to));
    }
    if let Some(text) = &q.q {
        qb.push(" AND payload LIKE ")
            .push_bind(like_pattern(text))
            .push(" ESCAPE '\\'");
    }
}

/// Count matching events from the rollups when the filters allow it: no
/// user or text filter, and time bounds on whole minutes.
async fn count_from_rollups(conn: &mut SqliteConnection, q: &EventQuery) -> Result<Option<u64>> {
    let aligned = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.is_none_or(|t| micros(t).rem_euclid(MICROS_PER_MINUTE) == 0)
    };
    if q.user.is_some() || q.q.is_some() || !aligned(q.from) || !aligned(q.to) {
        return Ok(None);
    }
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT COALESCE(SUM(count), 0) AS n FROM event_rollup WHERE 1 = 1",
    );
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(service) = &q.service {
        qb.push(" AND has_service = 1 AND service = ")
            .push_bind(service.clone());
    }
    if let Some(from) = q.from {
        qb.push(" AND minute >= ")
            .push_bind(micros(from) / 1_000_000);
    }
    if let Some(to) = q.to {
        qb.push(" AND minute < ").push_bind(micros(to) / 1_000_000);
    }
    let row = qb
        .build()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("count events from rollups"))?;
    count_col(&row, "n").map(Some)
}

pub(crate) async fn list_events(pool: &SqlitePool, q: &EventQuery) -> Result<Page<Event>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    // One read transaction: the total and the page come from one snapshot.
    let mut tx = pool.begin().await.map_err(db_err("begin read"))?;
    let total = match count_from_rollups(&mut tx, q).await? {
        Some(n) => n,
        None => {
            let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) AS n FROM events");
            push_event_filters(&mut qb, q);
            let row = qb
                .build()
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("count events"))?;
            count_col(&row, "n")?
        }
    };
    let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {EVENT_COLUMNS} FROM events"));
    push_event_filters(&mut qb, q);
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
