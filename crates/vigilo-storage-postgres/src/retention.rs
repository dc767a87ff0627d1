//! Retention and the events' partitions.
//!
//! `events` is partitioned by event time, a partition a day (UTC), named
//! `vigilo_events_YYYYMMDD`; a DEFAULT partition takes the days without
//! one. Migrating creates today's partition and those of the next
//! [`DAYS_AHEAD`] days; each retention step creates the missing ones from
//! [`DAYS_BACK`] days back to [`DAYS_AHEAD`] ahead (never one wholly
//! before the events' horizon: those days have expired), moving in the
//! DEFAULT partition's rows of its day, so live traffic always lands in a
//! day partition.
//!
//! Expired events go two ways: a day partition whose whole range is before
//! the cutoff and whose ids detection has all evaluated is dropped whole
//! (one per step); what is left before the cutoff (the day the cutoff
//! falls in, the DEFAULT partition) is deleted in batches, oldest first.
//! Dropping a partition, like creating one, takes a short exclusive lock
//! on `events`; it waits at most [`LOCK_TIMEOUT`] for it, and tries again
//! at the next step if that ran out.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;
use vigilo_storage::{PurgeReport, Result, Retention, StorageError};

use crate::rollups::{HOUR, MINUTE, at_secs};
use crate::{LOCK_EVENTS, PostgresStorage, db_err, writer_lock};

/// Days of partitions created ahead of today.
pub(crate) const DAYS_AHEAD: i64 = 3;

/// Days of partitions created back from today (for late and replayed events).
pub(crate) const DAYS_BACK: i64 = 7;

/// Longest wait for the lock creating or dropping a partition takes.
const LOCK_TIMEOUT: &str = "2s";

const PREFIX: &str = "vigilo_events_";

fn partition_name(day: NaiveDate) -> String {
    format!("{PREFIX}{}", day.format("%Y%m%d"))
}

fn day_of(name: &str) -> Option<NaiveDate> {
    let digits = name.strip_prefix(PREFIX)?;
    NaiveDate::parse_from_str(digits, "%Y%m%d").ok()
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

/// The events' horizon: events before it may have expired, none at or
/// after it has.
pub(crate) async fn horizon(conn: &mut sqlx::PgConnection) -> Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT events_horizon FROM retention_state WHERE id = 1")
        .fetch_optional(conn)
        .await
        .map(Option::flatten)
        .map_err(db_err("read the events horizon"))
}

/// The day partitions of `events`, by day.
async fn partitions(pool: &PgPool) -> Result<Vec<(NaiveDate, String)>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'events'::regclass",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err("list the event partitions"))?;
    let mut out: Vec<(NaiveDate, String)> = names
        .into_iter()
        .filter_map(|n| day_of(&n).map(|d| (d, n)))
        .collect();
    out.sort();
    Ok(out)
}

/// Create the missing day partitions from `back` days before `now` to
/// [`DAYS_AHEAD`] after it.
pub(crate) async fn ensure_partitions(
    store: &PostgresStorage,
    now: DateTime<Utc>,
    back: i64,
) -> Result<()> {
    let have = partitions(&store.pool).await?;
    let mut conn = store.pool.acquire().await.map_err(db_err("acquire"))?;
    let horizon = horizon(&mut conn).await?;
    drop(conn);
    let today = now.date_naive();
    for offset in -back..=DAYS_AHEAD {
        let day = today + Duration::days(offset);
        if have.iter().any(|(d, _)| *d == day) {
            continue;
        }
        let end = day_start(day + Duration::days(1));
        if horizon.is_some_and(|h| end <= h) {
            continue;
        }
        if let Err(e) = create_partition(store, day).await {
            // The next step tries again; events go to DEFAULT meanwhile.
            tracing::warn!(day = %day, error = %e, "event partition not created");
        }
    }
    Ok(())
}

/// Create one day's partition, moving in the DEFAULT partition's rows of
/// that day, with inserts held off by the events writer lock.
async fn create_partition(store: &PostgresStorage, day: NaiveDate) -> Result<()> {
    let name = partition_name(day);
    let lo = day_start(day);
    let hi = day_start(day + Duration::days(1));
    let mut tx = store.begin().await?;
    sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await
        .map_err(db_err("set lock timeout"))?;
    writer_lock(&mut tx, LOCK_EVENTS).await?;
    sqlx::query(&format!(
        "CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS)"
    ))
    .execute(&mut *tx)
    .await
    .map_err(db_err("create an event partition"))?;
    sqlx::query(&format!(
        "WITH moved AS (DELETE FROM vigilo_events_default WHERE ts >= $1 AND ts < $2 \
         RETURNING *) INSERT INTO {name} SELECT * FROM moved"
    ))
    .bind(lo)
    .bind(hi)
    .execute(&mut *tx)
    .await
    .map_err(db_err("move events into their partition"))?;
    sqlx::query(&format!(
        "ALTER TABLE events ATTACH PARTITION {name} FOR VALUES FROM ('{}') TO ('{}')",
        lo.to_rfc3339(),
        hi.to_rfc3339()
    ))
    .execute(&mut *tx)
    .await
    .map_err(db_err("attach an event partition"))?;
    tx.commit().await.map_err(db_err("commit"))?;
    tracing::debug!(partition = %name, "event partition created");
    Ok(())
}

pub(crate) async fn purge(store: &PostgresStorage, r: &Retention) -> Result<PurgeReport> {
    let batch = i64::from(r.batch.max(1));
    let mut report = PurgeReport::default();
    let mut more = false;
    ensure_partitions(store, Utc::now(), DAYS_BACK).await?;
    if let Some(cut) = r.events_before {
        let (n, left) = purge_events(store, cut, batch).await?;
        report.events = n;
        more |= left;
    }
    if let Some(cut) = r.findings_before {
        let (n, left) = purge_findings(store, cut, batch).await?;
        report.findings = n;
        more |= left;
    }
    if let Some(cut) = r.rollups_before {
        let (n, left) = purge_rollups(store, cut, batch).await?;
        report.rollups = n;
        more |= left;
    }
    report.done = !more;
    Ok(report)
}

fn ceil_minute(t: DateTime<Utc>) -> Result<DateTime<Utc>> {
    at_secs(crate::rollups::ceil_minute(t))
}

async fn purge_events(
    store: &PostgresStorage,
    cut: DateTime<Utc>,
    batch: i64,
) -> Result<(u64, bool)> {
    sqlx::query(
        "UPDATE retention_state SET events_horizon = \
         GREATEST(COALESCE(events_horizon, '-infinity'::timestamptz), $1) WHERE id = 1",
    )
    .bind(ceil_minute(cut)?)
    .execute(&store.pool)
    .await
    .map_err(db_err("store the events horizon"))?;
    let watermark = crate::findings::watermark(&store.pool).await?;
    // A whole day first: one partition a step.
    for (day, name) in partitions(&store.pool).await? {
        if day_start(day + Duration::days(1)) > cut {
            break;
        }
        let unevaluated: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM {name} WHERE id > $1)"
        ))
        .bind(watermark)
        .fetch_one(&store.pool)
        .await
        .map_err(db_err("check an event partition"))?;
        if unevaluated {
            continue;
        }
        let mut tx = store.begin().await?;
        sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            .execute(&mut *tx)
            .await
            .map_err(db_err("set lock timeout"))?;
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {name}"))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("count an expired partition"))?;
        let dropped = sqlx::query(&format!("DROP TABLE {name}"))
            .execute(&mut *tx)
            .await;
        match dropped {
            Ok(_) => {
                tx.commit().await.map_err(db_err("commit"))?;
                tracing::debug!(partition = %name, events = n, "expired event partition dropped");
                return Ok((crate::codec::to_count(n, "events")?, true));
            }
            Err(e) => {
                // Most likely the lock timeout: the next step tries again.
                tracing::debug!(partition = %name, error = %e, "expired event partition not dropped yet");
                drop(tx);
                break;
            }
        }
    }
    // The rest (a partly expired day, the DEFAULT partition) in batches.
    let ids: Vec<(i64, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, ts FROM events WHERE ts < $1 AND id <= $2 ORDER BY ts, id LIMIT $3",
    )
    .bind(cut)
    .bind(watermark)
    .bind(batch + 1)
    .fetch_all(&store.pool)
    .await
    .map_err(db_err("read expired events"))?;
    let more = ids.len() as i64 > batch;
    let (id, ts): (Vec<i64>, Vec<DateTime<Utc>>) = ids.into_iter().take(batch as usize).unzip();
    let n = sqlx::query(
        "DELETE FROM events e USING UNNEST($1::bigint[], $2::timestamptz[]) AS d (id, ts) \
         WHERE e.id = d.id AND e.ts = d.ts",
    )
    .bind(&id)
    .bind(&ts)
    .execute(&store.pool)
    .await
    .map_err(db_err("delete expired events"))?
    .rows_affected();
    Ok((n, more))
}

async fn purge_findings(
    store: &PostgresStorage,
    cut: DateTime<Utc>,
    batch: i64,
) -> Result<(u64, bool)> {
    let mut tx = store.begin().await?;
    // Outbox entries every reader has passed (all of them when none reads).
    let delivered: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MIN(position), 9223372036854775807) FROM consumer_positions",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("read consumer positions"))?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT f.id FROM findings f WHERE f.last_seen < $1 AND f.updated_at < $1 \
         AND f.id NOT IN (SELECT finding_id FROM finding_changes WHERE seq > $2) \
         ORDER BY f.last_seen, f.id LIMIT $3",
    )
    .bind(cut)
    .bind(delivered)
    .bind(batch + 1)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err("read expired findings"))?;
    let more = ids.len() as i64 > batch;
    let ids: Vec<i64> = ids.into_iter().take(batch as usize).collect();
    for sql in [
        "DELETE FROM finding_history WHERE finding_id = ANY($1)",
        "DELETE FROM enrichments WHERE finding_id = ANY($1)",
    ] {
        sqlx::query(sql)
            .bind(&ids)
            .execute(&mut *tx)
            .await
            .map_err(db_err("delete what an expired finding holds"))?;
    }
    let n = sqlx::query("DELETE FROM findings WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db_err("delete expired findings"))?
        .rows_affected();
    // Their outbox entries: written when the finding changed (at its
    // `updated_at`), so before the cutoff; only those every reader passed.
    let outbox = sqlx::query(
        "DELETE FROM finding_changes WHERE seq IN (SELECT c.seq FROM finding_changes c \
         WHERE c.seq <= $1 AND c.at < $2 \
         AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.id = c.finding_id) \
         ORDER BY c.seq LIMIT $3)",
    )
    .bind(delivered)
    .bind(cut)
    .bind(batch)
    .execute(&mut *tx)
    .await
    .map_err(db_err("delete expired outbox entries"))?
    .rows_affected();
    tx.commit().await.map_err(db_err("commit"))?;
    Ok((n, more || outbox as i64 == batch))
}

/// Every `group_kind` of the metric rollups.
const GROUP_KINDS: [&str; 4] = ["none", "service", "metric_name", "source_id"];

/// A rollup table, its bucket column and width, and whether it is keyed
/// by (field, group_kind) first.
const ROLLUPS: [(&str, &str, i64, bool); 5] = [
    ("event_rollup_minute", "minute", MINUTE, false),
    ("event_rollup_hour", "hour", HOUR, false),
    ("finding_rollup", "minute", MINUTE, false),
    ("metric_rollup_minute", "minute", MINUTE, true),
    ("metric_rollup_hour", "hour", HOUR, true),
];

async fn purge_rollups(
    store: &PostgresStorage,
    cut: DateTime<Utc>,
    batch: i64,
) -> Result<(u64, bool)> {
    let mut conn = store.pool.acquire().await.map_err(db_err("acquire"))?;
    // Never past the events' horizon: the rollups outlive the events.
    let Some(horizon) = horizon(&mut conn).await? else {
        return Ok((0, false));
    };
    drop(conn);
    let cut_secs = cut.min(horizon).timestamp();
    let mut budget = batch;
    let mut n = 0u64;
    for (table, time, width, by_field) in ROLLUPS {
        // Buckets that end at or before the cutoff start before this.
        let before = at_secs(cut_secs.div_euclid(width) * width - width + 1)?;
        let mut pairs: Vec<Option<String>> = vec![None];
        if by_field {
            pairs.clear();
            let mut field = String::new();
            loop {
                let next: Option<String> =
                    sqlx::query_scalar(&format!("SELECT MIN(field) FROM {table} WHERE field > $1"))
                        .bind(&field)
                        .fetch_one(&store.pool)
                        .await
                        .map_err(db_err("read rollup fields"))?;
                let Some(next) = next else { break };
                pairs.push(Some(next.clone()));
                field = next;
            }
        }
        for field in pairs {
            if budget == 0 {
                return Ok((n, true));
            }
            let sql = match field {
                None => format!(
                    "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} \
                     WHERE {time} < $1 ORDER BY {time} LIMIT $2))"
                ),
                Some(_) => format!(
                    "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} \
                     WHERE field = $3 AND group_kind = ANY($4) AND {time} < $1 LIMIT $2))"
                ),
            };
            let mut query = sqlx::query(&sql).bind(before).bind(budget);
            if let Some(f) = field {
                query = query.bind(f).bind(
                    GROUP_KINDS
                        .iter()
                        .map(|k| k.to_string())
                        .collect::<Vec<String>>(),
                );
            }
            let gone = query
                .execute(&store.pool)
                .await
                .map_err(db_err("delete expired rollups"))?
                .rows_affected();
            budget -= i64::try_from(gone).map_err(|_| {
                StorageError::Database(format!("{gone} rollup rows deleted in one batch"))
            })?;
            n += gone;
        }
    }
    Ok((n, budget == 0))
}
