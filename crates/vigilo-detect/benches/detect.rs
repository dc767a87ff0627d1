//! Detection throughput through both bundled packs on mixed traffic:
//! logs, metrics, transactions and audit events, one hour of event time.
//!
//! Run: `cargo bench -p vigilo-detect --bench detect`

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use vigilo_core::Event;
use vigilo_detect::{Detector, RuleSet, bundled};

const EVENTS: usize = 100_000;
const START: i64 = 1_704_067_200;

/// Small deterministic generator so every run sees the same stream.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn event(id: i64, secs: i64, payload: Value) -> Event {
    let Value::Object(payload) = payload else {
        unreachable!()
    };
    let text =
        |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let ts = Utc
        .timestamp_opt(START + secs, 0)
        .single()
        .unwrap_or_default();
    Event {
        logsource: Default::default(),
        id,
        timestamp: ts,
        received_at: ts,
        kind: text(&payload, "kind").unwrap_or_else(|| "event".into()),
        service: text(&payload, "service"),
        user: text(&payload, "user").or_else(|| text(&payload, "user_id")),
        payload,
    }
}

fn traffic() -> Vec<Event> {
    let mut rng = Lcg(42);
    let services = [
        "api", "web", "billing", "search", "auth", "db", "queue", "cdn",
    ];
    let levels = [
        "INFO", "INFO", "INFO", "INFO", "INFO", "INFO", "DEBUG", "WARNING", "WARNING", "ERROR",
    ];
    let messages = [
        "request served",
        "cache miss",
        "upstream timeout",
        "payment failed",
        "retrying",
    ];
    let audit_types = [
        "login_success",
        "login_success",
        "login_success",
        "file_viewed",
        "file_viewed",
        "login_failed",
        "mfa_failed",
        "pull_request_merged",
        "deployment_failed",
        "api_token_created",
        "permission_changed",
        "storage_bucket_created",
    ];
    (0..EVENTS)
        .map(|i| {
            let id = i as i64 + 1;
            let secs = (i as i64 * 3600) / EVENTS as i64;
            let service = services[rng.below(services.len() as u64) as usize];
            let user = format!("user{}", rng.below(5_000));
            let t = Utc.timestamp_opt(START + secs, 0).single().unwrap_or_default().to_rfc3339();
            match rng.below(20) {
                0..=7 => event(id, secs, json!({
                    "timestamp": t, "kind": "log", "service": service,
                    "level": levels[rng.below(levels.len() as u64) as usize],
                    "message": messages[rng.below(messages.len() as u64) as usize],
                    "user_id": user,
                })),
                8..=12 => event(id, secs, json!({
                    "timestamp": t, "kind": "metric", "service": service,
                    "cpu": 20.0 + rng.below(70) as f64, "latency_ms": 50 + rng.below(1100),
                })),
                13..=16 => event(id, secs, json!({
                    "timestamp": t, "kind": "transaction", "transaction_id": format!("tx{id}"),
                    "user_id": user, "amount": rng.below(12_000) as f64 + 0.5,
                    "currency": "EUR", "status": "completed",
                })),
                _ => {
                    let et = audit_types[rng.below(audit_types.len() as u64) as usize];
                    event(id, secs, json!({
                        "timestamp": t, "kind": "audit", "event_type": et, "user": user,
                        "ip": "10.1.2.3", "old_role": "viewer", "new_role": "admin",
                        "scopes": ["repo:read"], "has_expiry": true, "lines_changed": rng.below(600),
                        "environment": "prod", "bucket_name": "b", "public": false,
                    }))
                }
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let rules = match RuleSet::compile(&bundled()) {
        Ok(r) => r,
        Err(e) => panic!("bundled rules: {e:?}"),
    };
    let events = traffic();
    let mut group = c.benchmark_group("detect");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("bundled_packs_mixed_100k", |b| {
        b.iter_batched(
            || Detector::new(rules.clone()),
            |mut d| {
                let mut n = 0usize;
                for e in &events {
                    n += d.process(e).len();
                }
                black_box(n)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // How much the stream produces, printed once for context.
    let mut d = Detector::new(rules);
    let upserts: usize = events.iter().map(|e| d.process(e).len()).sum();
    let fired: u64 = d.match_counts().values().sum();
    println!(
        "stream: {} events, {upserts} upserts, {fired} rule matches",
        events.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
