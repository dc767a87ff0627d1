//! Events: batched inserts (one `UNNEST` statement that also upserts the
//! rollups), lookups, listings and keyset scans.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use vigilo_core::{Event, Logsource, NewEvent};
use vigilo_storage::{Cursor, EventQuery, MAX_SCAN_PAGE, Page, Result, StorageError};

use crate::codec::{col, count_col, like_pattern, paging, parse_json};
use crate::{LOCK_EVENTS, PostgresStorage, db_err, writer_lock};

const EVENT_COLUMNS: &str = "id, ts, received_at, kind, service, user_name, \
     payload::text AS payload, ls_product, ls_category, ls_service";

/// The batch insert: every row in input order (so identity values follow
/// it), then the batch's counts added to the minute and hour rollups.
const INSERT_SQL: &str = "WITH ins AS ( \
       INSERT INTO events (ts, received_at, kind, service, user_name, payload, \
                           ls_product, ls_category, ls_service) \
       SELECT t.ts, t.received_at, t.kind, t.service, t.user_name, t.payload::json, \
              t.ls_product, t.ls_category, t.ls_service \
       FROM UNNEST($1::timestamptz[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], \
                   $6::text[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY \
            AS t (ts, received_at, kind, service, user_name, payload, \
                  ls_product, ls_category, ls_service, ord) \
       ORDER BY t.ord \
       RETURNING id, ts, kind, service \
     ), by_minute AS ( \
       INSERT INTO event_rollup_minute (minute, kind, service, count) \
       SELECT date_trunc('minute', ts), kind, service, COUNT(*) FROM ins GROUP BY 1, 2, 3 \
       ON CONFLICT (minute, kind, service) \
       DO UPDATE SET count = event_rollup_minute.count + EXCLUDED.count \
     ), by_hour AS ( \
       INSERT INTO event_rollup_hour (hour, kind, service, count) \
       SELECT date_trunc('hour', ts), kind, service, COUNT(*) FROM ins GROUP BY 1, 2, 3 \
       ON CONFLICT (hour, kind, service) \
       DO UPDATE SET count = event_rollup_hour.count + EXCLUDED.count \
     ) \
     SELECT id FROM ins ORDER BY id";

pub(crate) async fn insert_events(
    store: &PostgresStorage,
    mut events: Vec<NewEvent>,
) -> Result<Vec<Event>> {
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
    let mut tx = store.begin().await?;
    writer_lock(&mut tx, LOCK_EVENTS).await?;
    let positions = crate::connectors::skip_delivered(&mut tx, &mut events).await?;
    if events.is_empty() {
        tx.commit().await.map_err(db_err("commit"))?;
        return Ok(Vec::new());
    }
    let n = events.len();
    let mut ts = Vec::with_capacity(n);
    let mut received = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut services = Vec::with_capacity(n);
    let mut users = Vec::with_capacity(n);
    let mut payloads = Vec::with_capacity(n);
    let mut products = Vec::with_capacity(n);
    let mut categories = Vec::with_capacity(n);
    let mut ls_services = Vec::with_capacity(n);
    for e in &events {
        ts.push(e.timestamp);
        received.push(e.received_at);
        kinds.push(e.kind.as_str());
        services.push(e.service.as_deref());
        users.push(e.user.as_deref());
        payloads.push(
            serde_json::to_string(&e.payload).map_err(|err| {
                StorageError::Database(format!("cannot serialize payload: {err}"))
            })?,
        );
        products.push(e.logsource.product.as_deref());
        categories.push(e.logsource.category.as_deref());
        ls_services.push(e.logsource.service.as_deref());
    }
    let ids: Vec<i64> = sqlx::query_scalar(INSERT_SQL)
        .bind(&ts)
        .bind(&received)
        .bind(&kinds)
        .bind(&services)
        .bind(&users)
        .bind(&payloads)
        .bind(&products)
        .bind(&categories)
        .bind(&ls_services)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("insert events"))?;
    if ids.len() != n {
        return Err(StorageError::Database(format!(
            "insert events: {n} events sent, {} stored",
            ids.len()
        )));
    }
    crate::connectors::store_positions(&mut tx, &positions).await?;
    crate::metrics::record(store, &mut tx, &events).await?;
    tx.commit().await.map_err(db_err("commit events"))?;
    Ok(events
        .into_iter()
        .zip(ids)
        .map(|(e, id)| Event::from_new(id, e))
        .collect())
}

pub(crate) fn decode_event(row: &PgRow) -> Result<Event> {
    let payload: String = col(row, "payload")?;
    Ok(Event {
        id: col(row, "id")?,
        timestamp: col(row, "ts")?,
        received_at: col(row, "received_at")?,
        kind: col(row, "kind")?,
        service: col(row, "service")?,
        user: col(row, "user_name")?,
        payload: parse_json(&payload, "payload")?,
        logsource: Logsource {
            product: col(row, "ls_product")?,
            category: col(row, "ls_category")?,
            service: col(row, "ls_service")?,
        },
    })
}

pub(crate) async fn get_event(pool: &PgPool, id: i64) -> Result<Option<Event>> {
    let row = sqlx::query(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_err("read event"))?;
    row.as_ref().map(decode_event).transpose()
}

pub(crate) async fn get_events(pool: &PgPool, ids: &[i64]) -> Result<Vec<Event>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id = ANY($1) ORDER BY id"
    ))
    .bind(ids)
    .fetch_all(pool)
    .await
    .map_err(db_err("read events"))?;
    rows.iter().map(decode_event).collect()
}

/// The `AND ...` terms of `q`'s filters.
fn push_event_filters(qb: &mut QueryBuilder<'_, Postgres>, q: &EventQuery) {
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(s) = &q.service {
        qb.push(" AND service = ").push_bind(s.clone());
    }
    if let Some(user) = &q.user {
        qb.push(" AND user_name = ").push_bind(user.clone());
    }
    if let Some(from) = q.from {
        qb.push(" AND ts >= ").push_bind(from);
    }
    if let Some(to) = q.to {
        qb.push(" AND ts < ").push_bind(to);
    }
    for (dim, column) in [
        ("product", "ls_product"),
        ("category", "ls_category"),
        ("service", "ls_service"),
    ] {
        if let Some(v) = q.logsource.get(dim) {
            qb.push(format!(" AND {column} = "))
                .push_bind(v.to_string());
        }
    }
    if let Some(text) = &q.q {
        qb.push(" AND payload::text ILIKE ")
            .push_bind(like_pattern(&vigilo_storage::json_search_text(text)))
            .push(" ESCAPE '\\'");
    }
}

/// The number of events `q` selects, counted from their rows.
pub(crate) async fn count_rows(conn: &mut sqlx::PgConnection, q: &EventQuery) -> Result<u64> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT COUNT(*) AS n FROM events WHERE TRUE");
    push_event_filters(&mut qb, q);
    let row = qb
        .build()
        .fetch_one(conn)
        .await
        .map_err(db_err("count events"))?;
    count_col(&row, "n")
}

pub(crate) async fn list_events(pool: &PgPool, q: &EventQuery) -> Result<Page<Event>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    // One snapshot for the total and the page.
    let mut tx = crate::codec::snapshot(pool).await?;
    // The rollups answer most counts without reading the events.
    let total = match crate::rollups::count_events(&mut tx, q).await? {
        Some(n) => n,
        None => count_rows(&mut tx, q).await?,
    };
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE TRUE"));
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
    tx.commit().await.map_err(db_err("end read"))?;
    let items = rows.iter().map(decode_event).collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn scan_events(
    pool: &PgPool,
    q: &EventQuery,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Vec<Event>> {
    let limit = limit.clamp(1, MAX_SCAN_PAGE);
    let mut qb =
        QueryBuilder::<Postgres>::new(format!("SELECT {EVENT_COLUMNS} FROM events WHERE TRUE"));
    push_event_filters(&mut qb, q);
    if let Some(c) = after {
        qb.push(" AND (ts, id) < (")
            .push_bind(c.time)
            .push(", ")
            .push_bind(c.id)
            .push(")");
    }
    qb.push(" ORDER BY ts DESC, id DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("scan events"))?;
    rows.iter().map(decode_event).collect()
}

pub(crate) async fn events_after(pool: &PgPool, after_id: i64, limit: u32) -> Result<Vec<Event>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after_id)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(db_err("read events after"))?;
    rows.iter().map(decode_event).collect()
}
