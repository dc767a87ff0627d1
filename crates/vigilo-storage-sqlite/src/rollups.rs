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
use vigilo_core::{FindingStatus, Severity};
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

/// Bucket starts (epoch seconds) `lo <= t < hi` of one tier; an open bound
/// is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub lo: Option<i64>,
    pub hi: Option<i64>,
}

/// Which rows of which tier answer a range: the whole hours inside it from
/// an hour tier, the minutes outside them from a minute tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub minutes: Vec<Span>,
    pub hours: Option<Span>,
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
    let all_minutes = Plan {
        minutes: vec![Span { lo: m0, hi: m1 }],
        hours: None,
    };
    if !hours {
        return all_minutes;
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
        return all_minutes;
    }
    let mut minutes = Vec::new();
    if let (Some(m0), Some(h0)) = (m0, h0)
        && m0 < h0
    {
        minutes.push(Span {
            lo: Some(m0),
            hi: Some(h0),
        });
    }
    if let (Some(h1), Some(m1)) = (h1, m1)
        && h1 < m1
    {
        minutes.push(Span {
            lo: Some(h1),
            hi: Some(m1),
        });
    }
    Plan {
        minutes,
        hours: Some(Span { lo: h0, hi: h1 }),
    }
}

/// One tier's table: its name and the column of its bucket start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tier {
    pub table: &'static str,
    pub time: &'static str,
}

pub(crate) const EVENTS_BY_KIND_MINUTE: Tier = Tier {
    table: "event_rollup_kind",
    time: "minute",
};
pub(crate) const EVENTS_BY_KIND_HOUR: Tier = Tier {
    table: "event_rollup_kind_hour",
    time: "hour",
};
pub(crate) const EVENTS_MINUTE: Tier = Tier {
    table: "event_rollup",
    time: "minute",
};
pub(crate) const EVENTS_HOUR: Tier = Tier {
    table: "event_rollup_hour",
    time: "hour",
};

/// Push `(SELECT t, cols, count ... UNION ALL ...)`: the rows of `plan`,
/// the bucket start named `t`.
pub(crate) fn push_tiers(
    qb: &mut QueryBuilder<'_, Sqlite>,
    cols: &str,
    plan: &Plan,
    minute: Tier,
    hour: Tier,
) {
    let parts = plan
        .minutes
        .iter()
        .map(|s| (minute, *s))
        .chain(plan.hours.map(|s| (hour, s)));
    qb.push("(");
    for (i, (tier, span)) in parts.enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push(format!(
            "SELECT {time} AS t, {cols}, count FROM {table} WHERE 1 = 1",
            time = tier.time,
            table = tier.table
        ));
        if let Some(lo) = span.lo {
            qb.push(format!(" AND {} >= ", tier.time)).push_bind(lo);
        }
        if let Some(hi) = span.hi {
            qb.push(format!(" AND {} < ", tier.time)).push_bind(hi);
        }
    }
    qb.push(")");
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
    let mut totals = Totals {
        events: u64::try_from(events)
            .map_err(|_| StorageError::Corrupt(format!("negative event total {events}")))?,
        ..Totals::default()
    };
    for s in Severity::ALL {
        totals
            .findings_by_severity
            .insert(s.as_str().to_string(), 0);
    }
    for s in [
        FindingStatus::Open,
        FindingStatus::Acknowledged,
        FindingStatus::Resolved,
        FindingStatus::Suppressed,
    ] {
        totals.findings_by_status.insert(s.as_str().to_string(), 0);
    }
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
