//! A measurement, run by hand: `insert_events` throughput on PostgreSQL,
//! batches of 1,000 events of the last few days into a fresh schema.
//!
//! `cargo test --release -p vigilo-storage-postgres --test insert_speed -- --ignored --nocapture`

mod common;

use std::time::Instant;

use chrono::Utc;
use serde_json::{Map, Value, json};
use vigilo_core::NewEvent;
use vigilo_storage::Storage;

const BATCH: usize = 1_000;
const BATCHES: usize = 200;

fn event(i: usize) -> NewEvent {
    let ts = Utc::now() - chrono::Duration::seconds((i % (3 * 86_400)) as i64);
    let payload: Map<String, Value> = match json!({
        "message": "request served", "status": 200, "latency_ms": (i % 900) as f64,
        "path": format!("/api/items/{}", i % 5000),
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    NewEvent {
        logsource: vigilo_core::Logsource::vigilo(),
        timestamp: ts,
        received_at: Utc::now(),
        kind: if i.is_multiple_of(4) { "metric" } else { "log" }.to_string(),
        service: Some(format!("svc-{}", i % 12)),
        user: Some(format!("user-{}", i % 300)),
        payload,
        origin: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run by hand"]
async fn insert_throughput() {
    common::sweep_stale().await;
    let schema = common::schema_name();
    let store = common::connect(&schema).await;
    store.migrate().await.expect("migrate");
    let batches: Vec<Vec<NewEvent>> = (0..BATCHES)
        .map(|b| (0..BATCH).map(|i| event(b * BATCH + i)).collect())
        .collect();
    let started = Instant::now();
    let mut stored = 0;
    for batch in batches {
        stored += store.insert_events(batch).await.expect("insert").len();
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{stored} events in {secs:.2} s: {:.0} events/s (batches of {BATCH})",
        stored as f64 / secs
    );
    assert_eq!(stored, BATCH * BATCHES);
    store.close().await;
    common::drop_schema_blocking(&schema);
}
