//! Connector state: stream positions, dead letters, the finding outbox
//! and its readers' positions.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use vigilo_core::{FindingStatus, NewEvent};
use vigilo_storage::{
    DeadLetter, FindingChange, FindingChangeKind, NewDeadLetter, Page, Result, StorageError,
};

use crate::codec::{col, count_col, json_col, paging, parse_enum, to_json};
use crate::db_err;

/// Outbox entries to append inside the caller's transaction, in order.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    ids: Vec<i64>,
    kinds: Vec<&'static str>,
    statuses: Vec<&'static str>,
    ats: Vec<DateTime<Utc>>,
}

impl Changes {
    pub(crate) fn push(
        &mut self,
        finding_id: i64,
        kind: FindingChangeKind,
        status: FindingStatus,
        at: DateTime<Utc>,
    ) {
        self.ids.push(finding_id);
        self.kinds.push(kind.as_str());
        self.statuses.push(status.as_str());
        self.ats.push(at);
    }

    /// Append them, in order (seq follows the order given).
    pub(crate) async fn write(&self, conn: &mut PgConnection) -> Result<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO finding_changes (finding_id, kind, status, at) \
             SELECT t.finding_id, t.kind, t.status, t.at \
             FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) \
             WITH ORDINALITY AS t (finding_id, kind, status, at, ord) ORDER BY t.ord",
        )
        .bind(&self.ids)
        .bind(&self.kinds)
        .bind(&self.statuses)
        .bind(&self.ats)
        .execute(conn)
        .await
        .map_err(db_err("write finding changes"))?;
        Ok(())
    }
}

/// Drop the events whose stream already holds their offset (a
/// redelivery), and the later copies of an offset seen twice in this
/// batch. Returns the highest offset of each stream left, to store with
/// the events. Runs under the event writer lock.
pub(crate) async fn skip_delivered(
    conn: &mut PgConnection,
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
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT stream, position FROM stream_positions WHERE stream = ANY($1)")
            .bind(&streams)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("read stream positions"))?;
    let mut high: HashMap<String, i64> = streams.into_iter().map(|s| (s, i64::MIN)).collect();
    for (s, p) in rows {
        high.insert(s, p);
    }
    let before = high.clone();
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
pub(crate) async fn store_positions(
    conn: &mut PgConnection,
    positions: &HashMap<String, i64>,
) -> Result<()> {
    if positions.is_empty() {
        return Ok(());
    }
    let (streams, offsets): (Vec<&str>, Vec<i64>) =
        positions.iter().map(|(s, p)| (s.as_str(), *p)).unzip();
    sqlx::query(
        "INSERT INTO stream_positions (stream, position) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[]) \
         ON CONFLICT (stream) DO UPDATE \
         SET position = GREATEST(stream_positions.position, EXCLUDED.position)",
    )
    .bind(&streams)
    .bind(&offsets)
    .execute(conn)
    .await
    .map_err(db_err("write stream positions"))?;
    Ok(())
}

pub(crate) async fn stream_positions(pool: &PgPool, prefix: &str) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT stream, position FROM stream_positions WHERE starts_with(stream, $1)",
    )
    .bind(prefix)
    .fetch_all(pool)
    .await
    .map_err(db_err("read stream positions"))?;
    Ok(rows.into_iter().collect())
}

const DEAD_LETTER_COLUMNS: &str =
    "id, source, location, reason, raw, meta::text AS meta, received_at";

fn decode_dead_letter(r: &sqlx::postgres::PgRow) -> Result<DeadLetter> {
    Ok(DeadLetter {
        id: col(r, "id")?,
        source: col(r, "source")?,
        location: col(r, "location")?,
        reason: col(r, "reason")?,
        raw: col(r, "raw")?,
        meta: json_col(r, "meta")?,
        received_at: col(r, "received_at")?,
    })
}

pub(crate) async fn insert_dead_letter(pool: &PgPool, l: NewDeadLetter) -> Result<DeadLetter> {
    let meta = to_json(&l.meta, "dead letter meta")?;
    let row = sqlx::query(&format!(
        "INSERT INTO dead_letters (source, location, reason, raw, meta, received_at) \
         VALUES ($1, $2, $3, $4, $5::jsonb, $6) RETURNING {DEAD_LETTER_COLUMNS}"
    ))
    .bind(&l.source)
    .bind(&l.location)
    .bind(&l.reason)
    .bind(&l.raw)
    .bind(meta)
    .bind(l.received_at)
    .fetch_one(pool)
    .await
    .map_err(db_err("insert dead letter"))?;
    let stored = decode_dead_letter(&row)?;
    // The meta as given (JSONB may reorder an object's keys).
    Ok(DeadLetter {
        meta: l.meta,
        ..stored
    })
}

pub(crate) async fn list_dead_letters(
    pool: &PgPool,
    source: Option<&str>,
    page: u32,
    page_size: u32,
) -> Result<Page<DeadLetter>> {
    let (page, page_size, offset) = paging(page, page_size);
    let total =
        sqlx::query("SELECT COUNT(*) AS n FROM dead_letters WHERE $1::text IS NULL OR source = $1")
            .bind(source)
            .fetch_one(pool)
            .await
            .map_err(db_err("count dead letters"))?;
    let total = count_col(&total, "n")?;
    let rows = sqlx::query(&format!(
        "SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters \
         WHERE $1::text IS NULL OR source = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(source)
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(db_err("list dead letters"))?;
    let items = rows
        .iter()
        .map(decode_dead_letter)
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn dead_letter_counts(pool: &PgPool) -> Result<BTreeMap<String, u64>> {
    let rows = sqlx::query("SELECT source, COUNT(*) AS n FROM dead_letters GROUP BY source")
        .fetch_all(pool)
        .await
        .map_err(db_err("count dead letters"))?;
    rows.iter()
        .map(|r| Ok((col::<String>(r, "source")?, count_col(r, "n")?)))
        .collect()
}

pub(crate) async fn changes_end(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0)::bigint FROM finding_changes")
        .fetch_one(pool)
        .await
        .map_err(db_err("read the end of the finding outbox"))
}

pub(crate) async fn changes_after(
    pool: &PgPool,
    after: i64,
    limit: u32,
) -> Result<Vec<FindingChange>> {
    let rows = sqlx::query(
        "SELECT seq, finding_id, kind, status, at FROM finding_changes \
         WHERE seq > $1 ORDER BY seq LIMIT $2",
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
                at: col(r, "at")?,
            })
        })
        .collect()
}

pub(crate) async fn consumer_position(pool: &PgPool, consumer: &str) -> Result<i64> {
    let pos: Option<i64> =
        sqlx::query_scalar("SELECT position FROM consumer_positions WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(pool)
            .await
            .map_err(db_err("read consumer position"))?;
    Ok(pos.unwrap_or(0))
}

pub(crate) async fn set_consumer_position(
    pool: &PgPool,
    consumer: &str,
    position: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO consumer_positions (consumer, position) VALUES ($1, $2) \
         ON CONFLICT (consumer) DO UPDATE SET position = EXCLUDED.position",
    )
    .bind(consumer)
    .bind(position)
    .execute(pool)
    .await
    .map_err(db_err("write consumer position"))?;
    Ok(())
}
