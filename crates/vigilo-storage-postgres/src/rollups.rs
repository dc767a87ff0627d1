//! Dashboard queries, answered from the rollups only: event and finding
//! series, breakdowns, totals and rule match counts.
//!
//! Events are rolled up per minute and per hour. A range is read from the
//! hour rows for its whole hours (when its buckets are whole hours) and
//! from the minute rows for the partial hours at either end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, QueryBuilder};
use vigilo_core::Severity;
use vigilo_storage::{
    EventBreakdown, FindingBreakdown, Result, SeriesPoint, SeriesQuery, StorageError, Totals,
};

use crate::codec::{col, count_col, parse_enum};
use crate::db_err;

pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 3600;

pub(crate) fn at_secs(secs: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| StorageError::Corrupt(format!("time {secs} is out of range")))
}

/// The first minute a bound `from` counts (the minute holding it).
pub(crate) fn floor_to(t: DateTime<Utc>, step: i64) -> i64 {
    t.timestamp().div_euclid(step) * step
}

/// The first minute past a bound `to` (minutes starting before `to` count).
pub(crate) fn ceil_minute(t: DateTime<Utc>) -> i64 {
    let micros = t.timestamp_micros();
    let per = MINUTE * 1_000_000;
    micros.div_euclid(per) * MINUTE
        + if micros.rem_euclid(per) == 0 {
            0
        } else {
            MINUTE
        }
}

fn ceil_to(secs: i64, step: i64) -> i64 {
    let r = secs.rem_euclid(step);
    if r == 0 { secs } else { secs - r + step }
}

/// One table and time range a rollup query reads.
pub(crate) struct Part {
    pub(crate) table: &'static str,
    pub(crate) time: &'static str,
    pub(crate) lo: Option<i64>,
    pub(crate) hi: Option<i64>,
}

/// A rollup kept per minute and per hour: (minute table, hour table).
pub(crate) type Tiers = (&'static str, &'static str);

const EVENT_TIERS: Tiers = ("event_rollup_minute", "event_rollup_hour");

/// The parts covering minutes [m0, m1) (epoch seconds, open when `None`):
/// the hour rows of its whole hours when `hours`, the minute rows of the rest.
pub(crate) fn plan(m0: Option<i64>, m1: Option<i64>, hours: bool, tiers: Tiers) -> Vec<Part> {
    let minute = |lo, hi| Part {
        table: tiers.0,
        time: "minute",
        lo,
        hi,
    };
    let minutes_only = || vec![minute(m0, m1)];
    if !hours {
        return minutes_only();
    }
    let h0 = m0.map(|m| ceil_to(m, HOUR));
    let h1 = m1.map(|m| m - m.rem_euclid(HOUR));
    if let (Some(a), Some(b)) = (h0, h1)
        && a >= b
    {
        return minutes_only();
    }
    let mut out = Vec::new();
    if let (Some(m0), Some(h0)) = (m0, h0)
        && m0 < h0
    {
        out.push(minute(Some(m0), Some(h0)));
    }
    out.push(Part {
        table: tiers.1,
        time: "hour",
        lo: h0,
        hi: h1,
    });
    if let (Some(h1), Some(m1)) = (h1, m1)
        && h1 < m1
    {
        out.push(minute(Some(h1), Some(m1)));
    }
    out
}

/// `(SELECT t, <cols>, count ... UNION ALL ...)` over the parts.
fn push_parts(qb: &mut QueryBuilder<'_, Postgres>, cols: &str, parts: &[Part]) -> Result<()> {
    qb.push("(");
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "SELECT {time} AS t, {cols}, count FROM {table} WHERE TRUE",
            time = p.time,
            table = p.table
        ));
        if let Some(lo) = p.lo {
            qb.push(format!(" AND {} >= ", p.time))
                .push_bind(at_secs(lo)?);
        }
        if let Some(hi) = p.hi {
            qb.push(format!(" AND {} < ", p.time))
                .push_bind(at_secs(hi)?);
        }
    }
    qb.push(") AS parts");
    Ok(())
}

fn check_bucket(q: &SeriesQuery) -> Result<i64> {
    if q.bucket_secs < 60 || q.bucket_secs % 60 != 0 {
        return Err(StorageError::Database(format!(
            "bucket_secs must be a positive multiple of 60, got {}",
            q.bucket_secs
        )));
    }
    Ok(q.bucket_secs)
}

fn bucket_expr(qb: &mut QueryBuilder<'_, Postgres>, bucket: i64) {
    qb.push("SELECT (floor(extract(epoch FROM t) / ")
        .push_bind(bucket)
        .push(") * ")
        .push_bind(bucket)
        .push(")::bigint AS bucket");
}

async fn read_series(
    pool: &PgPool,
    mut qb: QueryBuilder<'_, Postgres>,
) -> Result<Vec<SeriesPoint>> {
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("read series"))?;
    rows.iter()
        .map(|r| {
            Ok(SeriesPoint {
                bucket: at_secs(col(r, "bucket")?)?,
                key: col(r, "k")?,
                count: count_col(r, "n")?,
            })
        })
        .collect()
}

pub(crate) async fn event_series(pool: &PgPool, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
    let bucket = check_bucket(q)?;
    let parts = plan(
        Some(floor_to(q.from, MINUTE)),
        Some(ceil_minute(q.to)),
        bucket % HOUR == 0,
        EVENT_TIERS,
    );
    let mut qb = QueryBuilder::<Postgres>::new("");
    bucket_expr(&mut qb, bucket);
    qb.push(", kind AS k, SUM(count)::bigint AS n FROM ");
    push_parts(&mut qb, "kind", &parts)?;
    qb.push(" GROUP BY 1, 2 HAVING SUM(count) > 0 ORDER BY 1, kind COLLATE \"C\"");
    read_series(pool, qb).await
}

pub(crate) async fn finding_series(pool: &PgPool, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
    let bucket = check_bucket(q)?;
    let mut qb = QueryBuilder::<Postgres>::new("");
    bucket_expr(&mut qb, bucket);
    qb.push(", severity AS k, SUM(count)::bigint AS n FROM (SELECT minute AS t, severity, count FROM finding_rollup WHERE minute >= ")
        .push_bind(at_secs(floor_to(q.from, MINUTE))?)
        .push(" AND minute < ")
        .push_bind(at_secs(ceil_minute(q.to))?)
        .push(") AS r GROUP BY 1, 2 HAVING SUM(count) > 0 ORDER BY 1, severity COLLATE \"C\"");
    read_series(pool, qb).await
}

pub(crate) async fn event_breakdown(
    pool: &PgPool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<EventBreakdown>> {
    let parts = plan(
        from.map(|t| floor_to(t, MINUTE)),
        to.map(ceil_minute),
        true,
        EVENT_TIERS,
    );
    let mut qb =
        QueryBuilder::<Postgres>::new("SELECT kind, service, SUM(count)::bigint AS n FROM ");
    push_parts(&mut qb, "kind, service", &parts)?;
    qb.push(
        " GROUP BY kind, service HAVING SUM(count) > 0 \
         ORDER BY n DESC, kind COLLATE \"C\", service COLLATE \"C\" NULLS FIRST",
    );
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("read event breakdown"))?;
    rows.iter()
        .map(|r| {
            Ok(EventBreakdown {
                kind: col(r, "kind")?,
                service: col(r, "service")?,
                count: count_col(r, "n")?,
            })
        })
        .collect()
}

pub(crate) async fn finding_breakdown(
    pool: &PgPool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<FindingBreakdown>> {
    let mut qb = QueryBuilder::<Postgres>::new(
        "SELECT severity, rule_id, service, SUM(count)::bigint AS n, MAX(last_seen) AS last_seen \
         FROM finding_rollup WHERE TRUE",
    );
    if let Some(from) = from {
        qb.push(" AND minute >= ")
            .push_bind(at_secs(floor_to(from, MINUTE))?);
    }
    if let Some(to) = to {
        qb.push(" AND minute < ")
            .push_bind(at_secs(ceil_minute(to))?);
    }
    qb.push(
        " GROUP BY severity, rule_id, service HAVING SUM(count) > 0 \
         ORDER BY n DESC, severity, rule_id COLLATE \"C\", service COLLATE \"C\" NULLS FIRST",
    );
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("read finding breakdown"))?;
    rows.iter()
        .map(|r| {
            let severity: String = col(r, "severity")?;
            Ok(FindingBreakdown {
                severity: parse_enum::<Severity>(&severity, "severity")?,
                rule_id: col(r, "rule_id")?,
                service: col(r, "service")?,
                count: count_col(r, "n")?,
                last_seen: col(r, "last_seen")?,
            })
        })
        .collect()
}

fn counts(rows: &[PgRow], key: &str, into: &mut BTreeMap<String, u64>) -> Result<u64> {
    let mut sum = 0;
    for r in rows {
        let n = count_col(r, "n")?;
        sum += n;
        into.insert(col(r, key)?, n);
    }
    Ok(sum)
}

pub(crate) async fn totals(pool: &PgPool) -> Result<Totals> {
    let mut tx = crate::codec::snapshot(pool).await?;
    let events: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(count), 0)::bigint FROM event_rollup_hour")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("count events"))?;
    let mut totals = Totals::zeroed(crate::codec::to_count(events, "events")?);
    let rows = sqlx::query("SELECT severity, COUNT(*) AS n FROM findings GROUP BY severity")
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("count findings by severity"))?;
    totals.findings = counts(&rows, "severity", &mut totals.findings_by_severity)?;
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM findings GROUP BY status")
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err("count findings by status"))?;
    counts(&rows, "status", &mut totals.findings_by_status)?;
    tx.commit().await.map_err(db_err("end read"))?;
    Ok(totals)
}

/// The number of events `q` selects, from the rollups, when its filters
/// allow it: no user, text or logsource filter, and time bounds on whole
/// minutes.
pub(crate) async fn count_events(
    conn: &mut sqlx::PgConnection,
    q: &vigilo_storage::EventQuery,
) -> Result<Option<u64>> {
    let aligned = |t: Option<DateTime<Utc>>| {
        t.is_none_or(|t| t.timestamp_micros().rem_euclid(MINUTE * 1_000_000) == 0)
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
    let Some(horizon) = crate::retention::horizon(&mut *conn).await? else {
        return rollup_count(conn, q).await.map(Some);
    };
    if q.from.is_some_and(|f| f >= horizon) {
        return rollup_count(conn, q).await.map(Some);
    }
    let before = vigilo_storage::EventQuery {
        to: Some(q.to.map_or(horizon, |t| t.min(horizon))),
        ..q.clone()
    };
    let mut n = crate::events::count_rows(&mut *conn, &before).await?;
    if q.to.is_none_or(|t| t > horizon) {
        let after = vigilo_storage::EventQuery {
            from: Some(horizon),
            ..q.clone()
        };
        n += rollup_count(conn, &after).await?;
    }
    Ok(Some(n))
}

/// [`count_events`] of a query it accepts, whose range the rollups hold
/// whole.
async fn rollup_count(
    conn: &mut sqlx::PgConnection,
    q: &vigilo_storage::EventQuery,
) -> Result<u64> {
    let parts = plan(
        q.from.map(|t| floor_to(t, MINUTE)),
        q.to.map(ceil_minute),
        true,
        EVENT_TIERS,
    );
    let mut qb = QueryBuilder::<Postgres>::new("SELECT COALESCE(SUM(count), 0)::bigint AS n FROM ");
    push_parts(&mut qb, "kind, service", &parts)?;
    qb.push(" WHERE TRUE");
    if let Some(kind) = &q.kind {
        qb.push(" AND kind = ").push_bind(kind.clone());
    }
    if let Some(service) = &q.service {
        qb.push(" AND service = ").push_bind(service.clone());
    }
    let row = qb
        .build()
        .fetch_one(conn)
        .await
        .map_err(db_err("count events from rollups"))?;
    count_col(&row, "n")
}

pub(crate) async fn rule_match_counts(pool: &PgPool) -> Result<BTreeMap<String, u64>> {
    let rows = sqlx::query("SELECT rule_id, count AS n FROM rule_matches")
        .fetch_all(pool)
        .await
        .map_err(db_err("read rule match counts"))?;
    let mut out = BTreeMap::new();
    counts(&rows, "rule_id", &mut out)?;
    Ok(out)
}
