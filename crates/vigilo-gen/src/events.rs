//! Event shapes and the text that fills them.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde_json::{Map, Value, json};

pub(crate) fn ts(t: DateTime<Utc>) -> Value {
    Value::String(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub(crate) fn log(
    t: DateTime<Utc>,
    service: &str,
    level: &str,
    message: String,
    user: &str,
) -> Value {
    json!({
        "timestamp": ts(t),
        "kind": "log",
        "service": service,
        "level": level,
        "message": message,
        "user_id": user,
    })
}

pub(crate) fn metric(t: DateTime<Utc>, service: &str, cpu: f64, latency_ms: u64) -> Value {
    json!({
        "timestamp": ts(t),
        "kind": "metric",
        "service": service,
        "cpu": (cpu * 10.0).round() / 10.0,
        "latency_ms": latency_ms,
    })
}

/// What a source of the analytics dashboard reports over its ingest
/// WebSocket: `{source_id, metric_name, value}`.
pub(crate) const SOURCE_METRICS: [(&str, f64, f64); 5] = [
    ("temperature", 18.0, 31.0),
    ("humidity", 25.0, 70.0),
    ("requests_per_sec", 5.0, 900.0),
    ("queue_depth", 0.0, 250.0),
    ("disk_used_pct", 20.0, 85.0),
];

/// A sample from an external source (a sensor, an exporter): one named
/// value, no service.
pub(crate) fn source_metric<R: Rng>(rng: &mut R, t: DateTime<Utc>, sources: u64) -> Value {
    let (name, lo, hi) = SOURCE_METRICS[rng.gen_range(0..SOURCE_METRICS.len())];
    let value: f64 = rng.gen_range(lo..hi);
    json!({
        "timestamp": ts(t),
        "kind": "metric",
        "source_id": format!("source-{:03}", rng.gen_range(0..sources.max(1))),
        "metric_name": name,
        "value": (value * 100.0).round() / 100.0,
    })
}

pub(crate) fn transaction<R: Rng>(
    rng: &mut R,
    t: DateTime<Utc>,
    user: &str,
    amount: f64,
    status: &str,
) -> Value {
    let currency = match rng.gen_range(0..20) {
        0..=11 => "USD",
        12..=16 => "EUR",
        _ => "GBP",
    };
    json!({
        "timestamp": ts(t),
        "kind": "transaction",
        "transaction_id": format!("txn_{:016x}", rng.r#gen::<u64>()),
        "user_id": user,
        "amount": (amount * 100.0).round() / 100.0,
        "currency": currency,
        "status": status,
    })
}

/// An audit event; `fields` land at the top level next to the common ones.
pub(crate) fn audit(t: DateTime<Utc>, event_type: &str, user: &str, fields: Value) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), ts(t));
    m.insert("kind".into(), Value::String("audit".into()));
    m.insert("event_type".into(), Value::String(event_type.into()));
    m.insert("user".into(), Value::String(user.into()));
    if let Value::Object(extra) = fields {
        m.extend(extra);
    }
    Value::Object(m)
}

/// A normal amount: mostly small, a long tail up to 2,000, rarely up to
/// 4,500 (never near the large-amount threshold).
pub(crate) fn normal_amount<R: Rng>(rng: &mut R) -> f64 {
    if rng.gen_bool(0.01) {
        rng.gen_range(2_000.0..4_500.0)
    } else {
        // log-uniform between 1 and 2,000
        (rng.gen_range(0.0f64..7.6)).exp().clamp(1.0, 2_000.0)
    }
}

pub(crate) fn txn_status<R: Rng>(rng: &mut R) -> &'static str {
    match rng.gen_range(0..100) {
        0..=89 => "success",
        90..=95 => "failed",
        _ => "pending",
    }
}

/// Normal latency: log-normal-ish around 120 ms, within 20..=600.
pub(crate) fn normal_latency<R: Rng>(rng: &mut R) -> u64 {
    let a: f64 = rng.gen_range(0.0..1.0);
    let b: f64 = rng.gen_range(0.0..1.0);
    let v = 20.0 + 580.0 * (a * b).powf(1.3);
    v.round().clamp(20.0, 600.0) as u64
}

/// Normal CPU: 5..=70 %, centred around 30.
pub(crate) fn normal_cpu<R: Rng>(rng: &mut R) -> f64 {
    let a: f64 = rng.gen_range(5.0..70.0);
    let b: f64 = rng.gen_range(5.0..70.0);
    ((a + b) / 2.0).clamp(5.0, 70.0)
}

const PATHS: [&str; 8] = [
    "/api/v1/orders",
    "/api/v1/cart",
    "/api/v1/search",
    "/api/v1/users/me",
    "/api/v1/payments",
    "/api/v1/catalog/items",
    "/api/v1/shipments",
    "/healthz",
];
const TABLES: [&str; 6] = [
    "orders",
    "users",
    "payments",
    "inventory",
    "sessions",
    "audit_log",
];
const DEPS: [&str; 6] = [
    "postgres",
    "redis",
    "kafka",
    "stripe-api",
    "s3",
    "elasticsearch",
];

fn pick<'a, R: Rng>(rng: &mut R, xs: &[&'a str]) -> &'a str {
    xs[rng.gen_range(0..xs.len())]
}

/// Message of a normal log. None of them mention failure: that word is the
/// signal of the failed-keyword rule.
pub(crate) fn message<R: Rng>(rng: &mut R, level: &str, user: &str) -> String {
    match level {
        "ERROR" => error_message(rng),
        "WARNING" => match rng.gen_range(0..6) {
            0 => format!(
                "slow query on {} took {} ms",
                pick(rng, &TABLES),
                rng.gen_range(800..4000)
            ),
            1 => format!(
                "retrying call to {} (attempt {} of 3)",
                pick(rng, &DEPS),
                rng.gen_range(1..=2)
            ),
            2 => format!("connection pool at {}% capacity", rng.gen_range(75..95)),
            3 => format!(
                "rate limit at {}% for client {:06x}",
                rng.gen_range(80..99),
                rng.gen_range(0..0xffffffu32)
            ),
            4 => "deprecated API version v1 called by client".to_string(),
            _ => format!("cache miss ratio {}% above target", rng.gen_range(30..60)),
        },
        "DEBUG" => match rng.gen_range(0..4) {
            0 => format!("cache lookup key=session:{:08x}", rng.r#gen::<u32>()),
            1 => format!(
                "opened connection to {} in {} ms",
                pick(rng, &DEPS),
                rng.gen_range(1..40)
            ),
            2 => format!("feature flag checkout_v2={}", rng.gen_bool(0.5)),
            _ => format!(
                "serialized response of {} bytes",
                rng.gen_range(200..90_000)
            ),
        },
        _ => match rng.gen_range(0..7) {
            0 => format!("user {user} logged in"),
            1 => format!(
                "GET {} completed with 200 in {} ms",
                pick(rng, &PATHS),
                rng.gen_range(5..400)
            ),
            2 => format!("order ORD-{} created", rng.gen_range(100_000..999_999)),
            3 => format!("payment PAY-{} authorized", rng.gen_range(100_000..999_999)),
            4 => format!("search returned {} results", rng.gen_range(0..500)),
            5 => format!("shipment SHP-{} dispatched", rng.gen_range(10_000..99_999)),
            _ => format!("session refreshed for {user}"),
        },
    }
}

pub(crate) fn error_message<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..6) {
        0 => format!(
            "timeout after {} ms calling {}",
            rng.gen_range(3000..30_000),
            pick(rng, &DEPS)
        ),
        1 => format!("connection refused by {}", pick(rng, &DEPS)),
        2 => format!(
            "unhandled exception in {}: NullPointerException",
            pick(rng, &PATHS)
        ),
        3 => format!(
            "upstream returned HTTP {}",
            pick(rng, &["500", "502", "504"])
        ),
        4 => format!("payment gateway error code E{}", rng.gen_range(1000..9999)),
        _ => format!(
            "out of memory while processing batch {}",
            rng.gen_range(1000..99_999)
        ),
    }
}

/// An error message that carries the failure keyword, in varied case.
pub(crate) fn failed_message<R: Rng>(rng: &mut R) -> String {
    match rng.gen_range(0..4) {
        0 => format!(
            "payment capture failed for order ORD-{}",
            rng.gen_range(100_000..999_999)
        ),
        1 => format!("Failed to write checkpoint to {}", pick(rng, &DEPS)),
        2 => "database migration FAILED: lock timeout".to_string(),
        _ => format!(
            "charge failed: card declined for PAY-{}",
            rng.gen_range(100_000..999_999)
        ),
    }
}

pub(crate) const CITIES: [&str; 10] = [
    "Berlin, DE",
    "London, GB",
    "New York, US",
    "San Francisco, US",
    "Paris, FR",
    "Warsaw, PL",
    "Toronto, CA",
    "Singapore, SG",
    "Sydney, AU",
    "Madrid, ES",
];

pub(crate) const REPOS: [&str; 8] = [
    "platform/api",
    "platform/web",
    "payments/core",
    "infra/terraform",
    "data/pipelines",
    "mobile/app",
    "security/policies",
    "search/indexer",
];

pub(crate) fn office_ip<R: Rng>(rng: &mut R) -> String {
    format!(
        "10.{}.{}.{}",
        rng.gen_range(0..40),
        rng.gen_range(0..255),
        rng.gen_range(1..255)
    )
}

pub(crate) fn foreign_ip<R: Rng>(rng: &mut R) -> String {
    format!(
        "{}.{}.{}.{}",
        pick(rng, &["185", "45", "103", "91", "196"]),
        rng.gen_range(0..255),
        rng.gen_range(0..255),
        rng.gen_range(1..255)
    )
}

pub(crate) fn pick_str<R: Rng>(rng: &mut R, xs: &[&'static str]) -> &'static str {
    xs[rng.gen_range(0..xs.len())]
}
