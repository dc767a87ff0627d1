//! Connector state: stream positions, dead letters, the finding outbox
//! and its readers' positions.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use vigilo_core::{FindingStatus, NewEvent};
use vigilo_storage::{
    DeadLetter, FindingChange, FindingChangeKind, NewDeadLetter, Page, Result, StorageError,
};

use crate::codec::{col, count_col, micros, paging, parse_enum, time_col, time_from_micros};
use crate::{SqliteStorage, db_err};

/// Append one outbox entry inside the caller's transaction.
pub(crate) fn log_change(
    db: &rusqlite::Connection,
    finding_id: i64,
    kind: FindingChangeKind,
    status: FindingStatus,
    at: DateTime<Utc>,
) -> Result<()> {
    db.prepare_cached(
        "INSERT INTO finding_changes (finding_id, kind, status, at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut st| {
        st.execute(rusqlite::params![
            finding_id,
            kind.as_str(),
            status.as_str(),
            micros(at)
        ])
    })
    .map_err(db_err("write finding change"))?;
    Ok(())
}

/// Drop the events whose stream already holds their offset (a
/// redelivery), and the later copies of an offset seen twice in this
/// batch. Returns the highest offset of each stream left, to store with
/// the events. The positions are read from the write connection: the
/// single writer that stores events is the only one that moves them.
pub(crate) async fn skip_delivered(
    store: &SqliteStorage,
    events: &mut Vec<NewEvent>,
) -> Result<HashMap<String, i64>> {
    let mut streams: Vec<String> = events
        .iter()
        .filter_map(|e| e.origin.as_ref().map(|o| o.stream.clone()))
        .collect();
    if streams.is_empty() {
        return Ok(HashMap::new());
    }
    streams.sort();
    streams.dedup();
    let mut high: HashMap<String, i64> = store
        .write_tx(|db| {
            let mut st = db
                .prepare_cached("SELECT position FROM stream_positions WHERE stream = ?1")
                .map_err(db_err("prepare stream position read"))?;
            let mut out = HashMap::with_capacity(streams.len());
            for s in &streams {
                let pos: Option<i64> = st
                    .query_row([s], |r| r.get(0))
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })
                    .map_err(db_err("read stream position"))?;
                out.insert(s.clone(), pos.unwrap_or(i64::MIN));
            }
            Ok(out)
        })
        .await?;
    let before: HashMap<String, i64> = high.clone();
    events.retain(|e| match &e.origin {
        None => true,
        Some(o) => match high.get_mut(&o.stream) {
            Some(h) if o.offset > *h => {
                *h = o.offset;
                true
            }
            _ => false,
        },
    });
    high.retain(|s, h| before.get(s) != Some(h));
    Ok(high)
}

/// Move the streams' positions inside the transaction storing their events.
pub(crate) fn store_positions(
    db: &rusqlite::Connection,
    positions: &HashMap<String, i64>,
) -> Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let mut st = db
        .prepare_cached(
            "INSERT INTO stream_positions (stream, position) VALUES (?1, ?2) \
             ON CONFLICT (stream) DO UPDATE SET position = MAX(position, excluded.position)",
        )
        .map_err(db_err("prepare stream position write"))?;
    for (s, p) in positions {
        st.execute(rusqlite::params![s, p])
            .map_err(db_err("write stream position"))?;
    }
    Ok(())
}

pub(crate) async fn stream_positions(
    pool: &SqlitePool,
    prefix: &str,
) -> Result<BTreeMap<String, i64>> {
    // A range on the primary key: [prefix, prefix + U+10FFFF).
    let upper = format!("{prefix}\u{10FFFF}");
    let rows = sqlx::query(
        "SELECT stream, position FROM stream_positions WHERE stream >= ?1 AND stream < ?2",
    )
    .bind(prefix)
    .bind(upper)
    .fetch_all(pool)
    .await
    .map_err(db_err("read stream positions"))?;
    rows.iter()
        .map(|r| Ok((col::<String>(r, "stream")?, col::<i64>(r, "position")?)))
        .collect()
}

pub(crate) async fn insert_dead_letter(
    store: &SqliteStorage,
    l: NewDeadLetter,
) -> Result<DeadLetter> {
    let meta = serde_json::to_string(&l.meta)
        .map_err(|e| StorageError::Database(format!("encode dead letter meta: {e}")))?;
    let id = store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO dead_letters (source, location, reason, raw, meta, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    l.source,
                    l.location,
                    l.reason,
                    l.raw,
                    meta,
                    micros(l.received_at)
                ],
            )
            .map_err(db_err("insert dead letter"))?;
            Ok(db.last_insert_rowid())
        })
        .await?;
    Ok(DeadLetter {
        id,
        source: l.source,
        location: l.location,
        reason: l.reason,
        raw: l.raw,
        meta: l.meta,
        received_at: time_from_micros(micros(l.received_at), "received_at")?,
    })
}

pub(crate) async fn list_dead_letters(
    pool: &SqlitePool,
    source: Option<&str>,
    page: u32,
    page_size: u32,
) -> Result<Page<DeadLetter>> {
    let (page, page_size, offset) = paging(page, page_size);
    let total =
        sqlx::query("SELECT COUNT(*) AS n FROM dead_letters WHERE ?1 IS NULL OR source = ?1")
            .bind(source)
            .fetch_one(pool)
            .await
            .map_err(db_err("count dead letters"))?;
    let total = count_col(&total, "n")?;
    let rows = sqlx::query(
        "SELECT id, source, location, reason, raw, meta, received_at FROM dead_letters \
         WHERE ?1 IS NULL OR source = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )
    .bind(source)
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(db_err("list dead letters"))?;
    let items = rows
        .iter()
        .map(|r| {
            let meta: String = col(r, "meta")?;
            Ok(DeadLetter {
                id: col(r, "id")?,
                source: col(r, "source")?,
                location: col(r, "location")?,
                reason: col(r, "reason")?,
                raw: col(r, "raw")?,
                meta: serde_json::from_str(&meta)
                    .map_err(|e| StorageError::Corrupt(format!("dead letter meta: {e}")))?,
                received_at: time_col(r, "received_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn dead_letter_counts(pool: &SqlitePool) -> Result<BTreeMap<String, u64>> {
    let rows = sqlx::query("SELECT source, COUNT(*) AS n FROM dead_letters GROUP BY source")
        .fetch_all(pool)
        .await
        .map_err(db_err("count dead letters"))?;
    rows.iter()
        .map(|r| Ok((col::<String>(r, "source")?, count_col(r, "n")?)))
        .collect()
}

pub(crate) async fn changes_after(
    pool: &SqlitePool,
    after: i64,
    limit: u32,
) -> Result<Vec<FindingChange>> {
    let rows = sqlx::query(
        "SELECT seq, finding_id, kind, status, at FROM finding_changes \
         WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )
    .bind(after)
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(pool)
    .await
    .map_err(db_err("read finding changes"))?;
    rows.iter()
        .map(|r| {
            let kind: String = col(r, "kind")?;
            let status: String = col(r, "status")?;
            Ok(FindingChange {
                seq: col(r, "seq")?,
                finding_id: col(r, "finding_id")?,
                kind: FindingChangeKind::parse(&kind).ok_or_else(|| {
                    StorageError::Corrupt(format!("finding change kind {kind:?}"))
                })?,
                status: parse_enum::<FindingStatus>(&status, "status")?,
                at: time_col(r, "at")?,
            })
        })
        .collect()
}

pub(crate) async fn consumer_position(pool: &SqlitePool, consumer: &str) -> Result<i64> {
    let row = sqlx::query("SELECT position FROM consumer_positions WHERE consumer = ?1")
        .bind(consumer)
        .fetch_optional(pool)
        .await
        .map_err(db_err("read consumer position"))?;
    match row {
        Some(r) => col(&r, "position"),
        None => Ok(0),
    }
}

pub(crate) async fn set_consumer_position(
    store: &SqliteStorage,
    consumer: &str,
    position: i64,
) -> Result<()> {
    store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO consumer_positions (consumer, position) VALUES (?1, ?2) \
                 ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                rusqlite::params![consumer, position],
            )
            .map_err(db_err("write consumer position"))?;
            Ok(())
        })
        .await
}
