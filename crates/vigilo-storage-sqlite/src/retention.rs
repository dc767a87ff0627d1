//! Retention: bounded batches of deletes, each its own short write
//! transaction, then an incremental vacuum that gives freed pages back to
//! the file system.
//!
//! Events go oldest first through `events_ts`, with their by-service index
//! entries, and only up to the detection watermark. Before the first
//! delete at a cutoff, the cutoff (rounded up to its minute) is stored as
//! the events' horizon (`event_index_state`, name `events_expired_before`):
//! listing totals count the events before it from their rows and the rest
//! from the rollups, and rollups are never purged past it.

use vigilo_storage::{PurgeReport, Result, Retention};

use crate::codec::{MICROS_PER_MINUTE, micros};
use crate::{SqliteStorage, db_err};

/// Pages one step returns to the file system at most (4 KiB each).
const VACUUM_PAGES: i64 = 4096;

const HORIZON: &str = "events_expired_before";

/// The events' horizon (epoch microseconds, whole minutes): events before
/// it may have expired; none at or after it has.
pub(crate) async fn horizon(conn: &mut sqlx::SqliteConnection) -> Result<Option<i64>> {
    sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = ?1")
        .bind(HORIZON)
        .fetch_optional(conn)
        .await
        .map_err(db_err("read the events horizon"))
}

pub(crate) async fn purge(store: &SqliteStorage, r: &Retention) -> Result<PurgeReport> {
    let batch = i64::from(r.batch.max(1));
    let mut report = PurgeReport::default();
    let mut more = false;
    if let Some(before) = r.events_before {
        crate::events::flush_pending(store).await?;
        let cut = micros(before);
        let (n, left) = store.write_tx(|db| purge_events(db, cut, batch)).await?;
        report.events = n;
        more |= left;
    }
    if let Some(before) = r.findings_before {
        let cut = micros(before);
        let (n, left) = store.write_tx(|db| purge_findings(db, cut, batch)).await?;
        report.findings = n;
        more |= left;
    }
    if let Some(before) = r.rollups_before {
        let cut = micros(before);
        let (n, left) = store.write_tx(|db| purge_rollups(db, cut, batch)).await?;
        report.rollups = n;
        more |= left;
    }
    let free = vacuum(store).await?;
    report.done = !more && free == 0;
    Ok(report)
}

fn purge_events(db: &rusqlite::Connection, cut: i64, batch: i64) -> Result<(u64, bool)> {
    let horizon = cut
        .div_euclid(MICROS_PER_MINUTE)
        .saturating_add(i64::from(cut.rem_euclid(MICROS_PER_MINUTE) != 0))
        .saturating_mul(MICROS_PER_MINUTE);
    db.prepare_cached(
        "INSERT INTO event_index_state (name, up_to) VALUES (?1, ?2) \
         ON CONFLICT (name) DO UPDATE SET up_to = MAX(up_to, excluded.up_to)",
    )
    .and_then(|mut s| s.execute(rusqlite::params![HORIZON, horizon]))
    .map_err(db_err("store the events horizon"))?;
    // Only events detection has evaluated and the by-service index and
    // metric rollups hold (flushed just before).
    let bound: i64 = db
        .query_row(
            "SELECT MIN(d.watermark, \
               COALESCE((SELECT up_to FROM event_index_state WHERE name = 'service'), 0), \
               COALESCE((SELECT up_to FROM event_index_state WHERE name = 'metrics'), 0)) \
             FROM detection_state d WHERE d.id = 1",
            [],
            |r| r.get(0),
        )
        .map_err(db_err("read the detection watermark"))?;
    let mut pick = db
        .prepare_cached(
            "SELECT id, ts, service FROM events INDEXED BY events_ts \
             WHERE ts < ?1 AND id <= ?2 ORDER BY ts LIMIT ?3",
        )
        .map_err(db_err("prepare the expired events read"))?;
    let rows: Vec<(i64, i64, Option<String>)> = pick
        .query_map(rusqlite::params![cut, bound, batch + 1], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(db_err("read expired events"))?;
    let more = rows.len() as i64 > batch;
    let mut del_event = db
        .prepare_cached("DELETE FROM events WHERE id = ?1")
        .map_err(db_err("prepare the event delete"))?;
    let mut del_index = db
        .prepare_cached("DELETE FROM event_service WHERE service = ?1 AND ts = ?2 AND id = ?3")
        .map_err(db_err("prepare the service index delete"))?;
    let mut n = 0;
    for (id, ts, service) in rows.iter().take(batch as usize) {
        n += del_event
            .execute([id])
            .map_err(db_err("delete an expired event"))? as u64;
        if let Some(service) = service {
            del_index
                .execute(rusqlite::params![service, ts, id])
                .map_err(db_err("delete an expired event's index entry"))?;
        }
    }
    Ok((n, more))
}

fn purge_findings(db: &rusqlite::Connection, cut: i64, batch: i64) -> Result<(u64, bool)> {
    // Outbox entries every reader has passed (all of them when none reads).
    let delivered: i64 = db
        .query_row(
            "SELECT COALESCE(MIN(position), 9223372036854775807) FROM consumer_positions",
            [],
            |r| r.get(0),
        )
        .map_err(db_err("read consumer positions"))?;
    let mut pick = db
        .prepare_cached(
            "SELECT id FROM findings INDEXED BY findings_last_seen \
             WHERE last_seen < ?1 AND updated_at < ?1 \
             AND id NOT IN (SELECT finding_id FROM finding_changes WHERE seq > ?2) \
             ORDER BY last_seen LIMIT ?3",
        )
        .map_err(db_err("prepare the expired findings read"))?;
    let ids: Vec<i64> = pick
        .query_map(rusqlite::params![cut, delivered, batch + 1], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(db_err("read expired findings"))?;
    let more = ids.len() as i64 > batch;
    let mut n = 0;
    for id in ids.iter().take(batch as usize) {
        for sql in [
            "DELETE FROM finding_details WHERE finding_id = ?1",
            "DELETE FROM finding_history WHERE finding_id = ?1",
            "DELETE FROM enrichments WHERE finding_id = ?1",
            "DELETE FROM alert_notification_findings WHERE finding_id = ?1",
        ] {
            db.prepare_cached(sql)
                .and_then(|mut s| s.execute([id]))
                .map_err(db_err("delete what an expired finding holds"))?;
        }
        n += db
            .prepare_cached("DELETE FROM findings WHERE id = ?1")
            .and_then(|mut s| s.execute([id]))
            .map_err(db_err("delete an expired finding"))? as u64;
    }
    // The outbox entries of expired findings: written when the finding
    // changed (at its `updated_at`), so all of them are before the cutoff;
    // oldest first, only those every reader has passed.
    let outbox = db
        .prepare_cached(
            "DELETE FROM finding_changes WHERE seq IN (SELECT seq FROM finding_changes \
             WHERE seq <= ?1 AND at < ?2 \
             AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.id = finding_changes.finding_id) \
             ORDER BY seq LIMIT ?3)",
        )
        .and_then(|mut s| s.execute(rusqlite::params![delivered, cut, batch]))
        .map_err(db_err("delete expired outbox entries"))? as i64;
    Ok((n, more || outbox == batch))
}

/// A rollup table, its bucket column and bucket width, and its key.
struct Table {
    name: &'static str,
    time: &'static str,
    width: i64,
    key: &'static str,
    /// Keyed by (field, group_kind) first: deleted per pair.
    by_field: bool,
}

const ROLLUPS: [Table; 7] = [
    Table {
        name: "event_rollup",
        time: "minute",
        width: 60,
        key: "minute, kind, has_service, service",
        by_field: false,
    },
    Table {
        name: "event_rollup_kind",
        time: "minute",
        width: 60,
        key: "minute, kind",
        by_field: false,
    },
    Table {
        name: "event_rollup_kind_hour",
        time: "hour",
        width: 3600,
        key: "hour, kind",
        by_field: false,
    },
    Table {
        name: "event_rollup_hour",
        time: "hour",
        width: 3600,
        key: "hour, kind, has_service, service",
        by_field: false,
    },
    Table {
        name: "finding_rollup",
        time: "minute",
        width: 60,
        key: "minute, severity, rule_id, has_service, service",
        by_field: false,
    },
    Table {
        name: "metric_rollup",
        time: "minute",
        width: 60,
        key: "field, group_kind, minute, group_value",
        by_field: true,
    },
    Table {
        name: "metric_rollup_hour",
        time: "hour",
        width: 3600,
        key: "field, group_kind, hour, group_value",
        by_field: true,
    },
];

fn purge_rollups(db: &rusqlite::Connection, cut: i64, batch: i64) -> Result<(u64, bool)> {
    // Never past the events' horizon: the rollups outlive the events.
    let horizon: Option<i64> = db
        .query_row(
            "SELECT up_to FROM event_index_state WHERE name = ?1",
            [HORIZON],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .map_err(db_err("read the events horizon"))?;
    let Some(horizon) = horizon else {
        return Ok((0, false));
    };
    let cut_secs = cut.min(horizon).div_euclid(1_000_000);
    let mut budget = batch;
    let mut n = 0u64;
    for t in &ROLLUPS {
        // Buckets that end at or before the cutoff.
        let before = cut_secs.div_euclid(t.width) * t.width - t.width + 1;
        if t.by_field {
            // Fields are never empty: each is read after the one before.
            let mut field = String::new();
            loop {
                let next: Option<String> = db
                    .prepare_cached(&format!(
                        "SELECT field FROM {} WHERE field > ?1 ORDER BY field LIMIT 1",
                        t.name
                    ))
                    .and_then(|mut s| {
                        use rusqlite::OptionalExtension;
                        s.query_row([&field], |r| r.get(0)).optional()
                    })
                    .map_err(db_err("read rollup fields"))?;
                let Some(next) = next else { break };
                for kind in ["none", "service", "metric_name", "source_id"] {
                    if budget == 0 {
                        return Ok((n, true));
                    }
                    let gone = db
                        .prepare_cached(&format!(
                            "DELETE FROM {name} WHERE ({key}) IN (SELECT {key} FROM {name} \
                             WHERE field = ?1 AND group_kind = ?2 AND {time} < ?3 LIMIT ?4)",
                            name = t.name,
                            key = t.key,
                            time = t.time
                        ))
                        .and_then(|mut s| s.execute(rusqlite::params![next, kind, before, budget]))
                        .map_err(db_err("delete expired metric rollups"))?
                        as i64;
                    budget -= gone;
                    n += gone as u64;
                }
                field = next;
            }
        } else {
            if budget == 0 {
                return Ok((n, true));
            }
            let gone = db
                .prepare_cached(&format!(
                    "DELETE FROM {name} WHERE ({key}) IN (SELECT {key} FROM {name} \
                     WHERE {time} < ?1 ORDER BY {time} LIMIT ?2)",
                    name = t.name,
                    key = t.key,
                    time = t.time
                ))
                .and_then(|mut s| s.execute(rusqlite::params![before, budget]))
                .map_err(db_err("delete expired rollups"))? as i64;
            budget -= gone;
            n += gone as u64;
        }
    }
    Ok((n, budget == 0))
}

/// Return up to [`VACUUM_PAGES`] free pages to the file system; the free
/// pages left.
async fn vacuum(store: &SqliteStorage) -> Result<i64> {
    store
        .write_tx(|db| {
            let mode: i64 = db
                .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
                .map_err(db_err("read auto_vacuum"))?;
            let free: i64 = db
                .query_row("PRAGMA freelist_count", [], |r| r.get(0))
                .map_err(db_err("read the free page count"))?;
            // 2: incremental. Other modes have nothing to give back here.
            if mode != 2 || free == 0 {
                return Ok(0);
            }
            db.execute_batch(&format!("PRAGMA incremental_vacuum({VACUUM_PAGES})"))
                .map_err(db_err("incremental vacuum"))?;
            db.query_row("PRAGMA freelist_count", [], |r| r.get(0))
                .map_err(db_err("read the free page count"))
        })
        .await
}
