//! Group-commit insert throughput into a file database in a temp dir.
//!
//! `cargo bench -p vigilo-storage-sqlite --bench insert`
//!
//! Each iteration is one `insert_events` call (one transaction: multi-row
//! inserts, rollup upserts, commit) with default options (WAL,
//! `synchronous=NORMAL`, background checkpoints). Event time moves forward
//! from batch to batch, as in live traffic.

mod common;

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use vigilo_core::NewEvent;
use vigilo_storage::Storage;

/// A typical event: about 200 bytes of JSON payload.
fn event(i: usize, base: DateTime<Utc>) -> NewEvent {
    let ts = base + chrono::Duration::milliseconds(i as i64);
    let service = ["api", "web", "billing", "auth"][i % 4];
    let user = format!("user-{}", i % 500);
    let payload = json!({
        "timestamp": ts.to_rfc3339(),
        "level": if i.is_multiple_of(10) { "ERROR" } else { "INFO" },
        "service": service,
        "user": user,
        "message": format!("request {i} handled in {} ms", i % 250),
        "latency_ms": i % 250,
        "path": "/api/v1/orders",
        "status": 200,
    });
    let serde_json::Value::Object(payload) = payload else {
        unreachable!("json! object literal")
    };
    NewEvent {
        logsource: Default::default(),
        timestamp: ts,
        received_at: ts,
        kind: "log".to_string(),
        service: Some(service.to_string()),
        user: Some(user),
        payload,
        origin: None,
    }
}

fn bench_insert(c: &mut Criterion) {
    let (rt, _dir, store) = common::runtime_and_store();
    let base = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();

    let mut group = c.benchmark_group("insert_events");
    group.measurement_time(Duration::from_secs(8));
    group.sample_size(20);
    for batch in [1_000usize, 5_000] {
        let events: Vec<NewEvent> = (0..batch).map(|i| event(i, base)).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &events, |b, events| {
            // Live traffic: every batch is a little later than the last, as
            // event time moves on (indexes on time then grow at their end).
            let mut round = 0i64;
            b.to_async(&rt).iter_batched(
                || {
                    round += 1;
                    let shift = chrono::Duration::seconds(round * 10);
                    let mut batch = events.clone();
                    for e in &mut batch {
                        e.timestamp += shift;
                        e.received_at += shift;
                    }
                    batch
                },
                |batch| {
                    let store = &store;
                    async move { store.insert_events(batch).await.expect("insert") }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, bench_insert);
criterion_main!(benches);
