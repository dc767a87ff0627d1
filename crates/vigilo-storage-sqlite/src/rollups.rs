//! Dashboard queries, answered from the rollups only.
//!
//! A rollup minute counts for a range when it overlaps it: with `from` and
//! `to` on whole minutes that is exactly `from <= minute < to`; a bound inside
//! a minute includes that whole minute.
//!
//! Event rollups come in tiers (migration 0010): per minute and per hour,
//! with and without the service. A query reads the whole hours of its range
//! from an hour tier and the minutes before the first and after the last
//! whole hour from a minute tier ([`plan`]), which gives exactly the sums
//! of the minute rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use vigilo_core::Severity;
use vigilo_storage::{
    EventBreakdown, FindingBreakdown, Result, SeriesPoint, SeriesQuery, StorageError, Totals,
};

use crate::codec::{
    MICROS_PER_MINUTE, col, count_col, micros, minute_of, parse_enum, time_col, time_from_secs,
};
use crate::db_err;

/// `AND minute ...` bounds for an optional [from, to) range.
fn push_minute_bounds(
    qb: &mut QueryBuilder<'_, Sqlite>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) {
    if let Some(from) = from {
        qb.push(" AND minute >= ")
            .push_bind(minute_of(micros(from)));
    }
    if let Some(to) = to {
        // The minute starts before `to`.
        qb.push(" AND minute * 1000000 < ").push_bind(micros(to));
    }
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

async fn series(
    pool: &SqlitePool,
    q: &SeriesQuery,
    table: &str,
    key: &str,
) -> Result<Vec<SeriesPoint>> {
    let bucket = check_bucket(q)?;
    // Euclidean floor so minutes before the epoch land in the right bucket.
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT minute - (((minute % ");
    qb.push_bind(bucket)
        .push(") + ")
        .push_bind(bucket)
        .push(") % ")
        .push_bind(bucket)
        .push(format!(
            ") AS bucket, {key} AS k, SUM(count) AS n FROM {table} WHERE 1 = 1"
        ));
    push_minute_bounds(&mut qb, Some(q.from), Some(q.to));
    qb.push(" GROUP BY bucket, k HAVING SUM(count) > 0 ORDER BY bucket, k");
    read_series(pool, qb).await
}

async fn read_series(
    pool: &SqlitePool,
    mut qb: QueryBuilder<'_, Sqlite>,
) -> Result<Vec<SeriesPoint>> {
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("read series"))?;
    rows.iter()
        .map(|r| {
            Ok(SeriesPoint {
                bucket: time_from_secs(col(r, "bucket")?, "bucket")?,
                key: col(r, "k")?,
                count: count_col(r, "n")?,
            })
        })
        .collect()
}

const SECS_PER_HOUR: i64 = 3600;

/// Which rows of which tier answer a range: the whole hours inside it
/// from an hour tier, the minutes outside them from a minute tier. Bounds
/// are bucket starts (epoch seconds), `None` unbounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Minutes `m0 <= minute < m1` count for the range.
    pub m0: Option<i64>,
    pub m1: Option<i64>,
    /// The whole hours `h0 <= hour < h1` within them, when an hour tier
    /// is read.
    pub hours: Option<(Option<i64>, Option<i64>)>,
}

/// The plan of the range [from, to) (microseconds) under the rollups'
/// rule: a minute counts when it overlaps the range. With `hours` false,
/// everything comes from the minute tier.
pub(crate) fn plan(from: Option<i64>, to: Option<i64>, hours: bool) -> Plan {
    let m0 = from.map(minute_of);
    // The first minute starting at or after `to` (minutes before it start
    // before `to`).
    let m1 = to.map(|t| {
        t.saturating_add(MICROS_PER_MINUTE - 1)
            .div_euclid(MICROS_PER_MINUTE)
            .saturating_mul(60)
    });
    let minutes_only = Plan {
        m0,
        m1,
        hours: None,
    };
    if !hours {
        return minutes_only;
    }
    let h0 = m0.map(|m| {
        let r = m.rem_euclid(SECS_PER_HOUR);
        if r == 0 {
            m
        } else {
            m.saturating_add(SECS_PER_HOUR - r)
        }
    });
    let h1 = m1.map(|m| m - m.rem_euclid(SECS_PER_HOUR));
    if let (Some(a), Some(b)) = (h0, h1)
        && a >= b
    {
        return minutes_only;
    }
    Plan {
        m0,
        m1,
        hours: Some((h0, h1)),
    }
}

/// One tier's table: its name, the column of its bucket start, and for an
/// hour tier written only up to a seal, the `event_index_state` name of
/// the seal (hours from it on are read from the minute tier).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tier {
    pub table: &'static str,
    pub time: &'static str,
    pub sealed: Option<&'static str>,
}

pub(crate) const EVENTS_BY_KIND_MINUTE: Tier = Tier {
    table: "event_rollup_kind",
    time: "minute",
    sealed: None,
};
pub(crate) const EVENTS_BY_KIND_HOUR: Tier = Tier {
    table: "event_rollup_kind_hour",
    time: "hour",
    sealed: None,
};
pub(crate) const EVENTS_MINUTE: Tier = Tier {
    table: "event_rollup",
    time: "minute",
    sealed: None,
};
pub(crate) const EVENTS_HOUR: Tier = Tier {
    table: "event_rollup_hour",
    time: "hour",
    sealed: Some("event_hours"),
};

/// One part of a plan: a tier's rows with `lo <= t < hi`.
pub(crate) struct Part {
    pub tier: Tier,
    /// SQL of the bounds, with their values in order.
    pub bounds: String,
    pub binds: Vec<i64>,
}

/// The parts of `plan`. The seal is read in the same statement as the
/// rows, so both come from one snapshot.
pub(crate) fn parts(plan: &Plan, minute: Tier, hour: Tier) -> Vec<Part> {
    let range = |tier: Tier, lo: Option<i64>, hi: Option<i64>| {
        let mut bounds = String::new();
        let mut binds = Vec::new();
        if let Some(lo) = lo {
            bounds.push_str(&format!(" AND {} >= ?", tier.time));
            binds.push(lo);
        }
        if let Some(hi) = hi {
            bounds.push_str(&format!(" AND {} < ?", tier.time));
            binds.push(hi);
        }
        Part {
            tier,
            bounds,
            binds,
        }
    };
    let Some((h0, h1)) = plan.hours else {
        return vec![range(minute, plan.m0, plan.m1)];
    };
    let mut out = Vec::new();
    if let (Some(m0), Some(h0)) = (plan.m0, h0)
        && m0 < h0
    {
        out.push(range(minute, Some(m0), Some(h0)));
    }
    match hour.sealed {
        None => {
            out.push(range(hour, h0, h1));
            if let (Some(h1), Some(m1)) = (h1, plan.m1)
                && h1 < m1
            {
                out.push(range(minute, Some(h1), Some(m1)));
            }
        }
        Some(name) => {
            // Hours [h0, min(h1, seal)) from the hour tier, the minutes
            // from max(h0, min(h1, seal)) on from the minute tier.
            let seal = format!("(SELECT up_to FROM event_index_state WHERE name = '{name}')");
            let mut p = range(hour, h0, h1);
            p.bounds.push_str(&format!(" AND {} < {seal}", hour.time));
            out.push(p);
            let mut p = range(minute, None, plan.m1);
            p.bounds
                .push_str(&format!(" AND {} >= MAX(?, MIN(?, {seal}))", minute.time));
            p.binds.push(h0.unwrap_or(i64::MIN));
            p.binds.push(h1.unwrap_or(i64::MAX));
            out.push(p);
        }
    }
    out
}

/// Push `(SELECT t, cols, count ... UNION ALL ...)`: the rows of `plan`,
/// the bucket start named `t`.
pub(crate) fn push_tiers(
    qb: &mut QueryBuilder<'_, Sqlite>,
    cols: &str,
    plan: &Plan,
    minute: Tier,
    hour: Tier,
) {
    qb.push("(");
    for (i, part) in parts(plan, minute, hour).into_iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "SELECT {time} AS t, {cols}, count FROM {table} WHERE 1 = 1",
            time = part.tier.time,
            table = part.tier.table
        ));
        push_bounds(qb, &part);
    }
    qb.push(")");
}

/// Push a part's bounds, binding each `?` in turn.
pub(crate) fn push_bounds(qb: &mut QueryBuilder<'_, Sqlite>, part: &Part) {
    let mut pieces = part.bounds.split('?');
    if let Some(first) = pieces.next() {
        qb.push(first);
    }
    for (piece, value) in pieces.zip(&part.binds) {
        qb.push_bind(*value).push(piece);
    }
}

pub(crate) async fn event_series(pool: &SqlitePool, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
    let bucket = check_bucket(q)?;
    // Every hour lies whole in one bucket when the bucket is whole hours
    // (buckets and hours are both aligned since the epoch).
    let plan = plan(
        Some(micros(q.from)),
        Some(micros(q.to)),
        bucket % SECS_PER_HOUR == 0,
    );
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT t - (((t % ");
    qb.push_bind(bucket)
        .push(") + ")
        .push_bind(bucket)
        .push(") % ")
        .push_bind(bucket)
        .push(") AS bucket, kind AS k, SUM(count) AS n FROM ");
    push_tiers(
        &mut qb,
        "kind",
        &plan,
        EVENTS_BY_KIND_MINUTE,
        EVENTS_BY_KIND_HOUR,
    );
    qb.push(" GROUP BY bucket, k HAVING SUM(count) > 0 ORDER BY bucket, k");
    read_series(pool, qb).await
}

pub(crate) async fn finding_series(pool: &SqlitePool, q: &SeriesQuery) -> Result<Vec<SeriesPoint>> {
    series(pool, q, "finding_rollup", "severity").await
}

fn service_of(row: &sqlx::sqlite::SqliteRow) -> Result<Option<String>> {
    let has: bool = col(row, "has_service")?;
    let s: String = col(row, "service")?;
    Ok(has.then_some(s))
}

pub(crate) async fn event_breakdown(
    pool: &SqlitePool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<EventBreakdown>> {
    let plan = plan(from.map(micros), to.map(micros), true);
    let mut qb =
        QueryBuilder::<Sqlite>::new("SELECT kind, has_service, service, SUM(count) AS n FROM ");
    push_tiers(
        &mut qb,
        "kind, has_service, service",
        &plan,
        EVENTS_MINUTE,
        EVENTS_HOUR,
    );
    qb.push(
        " GROUP BY kind, has_service, service HAVING SUM(count) > 0 \
         ORDER BY n DESC, kind, has_service, service",
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
                service: service_of(r)?,
                count: count_col(r, "n")?,
            })
        })
        .collect()
}

pub(crate) async fn finding_breakdown(
    pool: &SqlitePool,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Vec<FindingBreakdown>> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT severity, rule_id, has_service, service, SUM(count) AS n, \
         MAX(last_seen) AS last_seen FROM finding_rollup WHERE 1 = 1",
    );
    push_minute_bounds(&mut qb, from, to);
    qb.push(
        " GROUP BY severity, rule_id, has_service, service HAVING SUM(count) > 0 \
         ORDER BY n DESC, severity, rule_id, has_service, service",
    );
    let rows = qb
        .build()
        .fetch_all(pool)
        .await
        .map_err(db_err("read finding breakdown"))?;
    rows.iter()
        .map(|r| {
            let severity: &str = col(r, "severity")?;
            let last_seen: Option<i64> = col(r, "last_seen")?;
            Ok(FindingBreakdown {
                severity: parse_enum::<Severity>(severity, "severity")?,
                rule_id: col(r, "rule_id")?,
                service: service_of(r)?,
                count: count_col(r, "n")?,
                last_seen: match last_seen {
                    Some(v) if v != i64::MIN => Some(time_col(r, "last_seen")?),
                    _ => None,
                },
            })
        })
        .collect()
}

pub(crate) async fn totals(pool: &SqlitePool) -> Result<Totals> {
    // One read transaction: every figure comes from the same snapshot.
    let mut conn = pool.begin().await.map_err(db_err("begin read"))?;
    let events: i64 =
        sqlx::query_scalar("SELECT COALESCE(SUM(count), 0) FROM event_rollup_kind_hour")
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err("count events"))?;
    let mut totals = Totals::zeroed(vigilo_storage::codec::to_count(events, "event total")?);
    let rows = sqlx::query("SELECT severity, COUNT(*) AS n FROM findings GROUP BY severity")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("count findings by severity"))?;
    for r in &rows {
        let n = count_col(r, "n")?;
        totals.findings += n;
        totals.findings_by_severity.insert(col(r, "severity")?, n);
    }
    let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM findings GROUP BY status")
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("count findings by status"))?;
    for r in &rows {
        totals
            .findings_by_status
            .insert(col(r, "status")?, count_col(r, "n")?);
    }
    Ok(totals)
}

pub(crate) async fn rule_match_counts(pool: &SqlitePool) -> Result<BTreeMap<String, u64>> {
    let rows = sqlx::query("SELECT rule_id, count FROM rule_matches")
        .fetch_all(pool)
        .await
        .map_err(db_err("read rule match counts"))?;
    rows.iter()
        .map(|r| Ok((col(r, "rule_id")?, count_col(r, "count")?)))
        .collect()
}
