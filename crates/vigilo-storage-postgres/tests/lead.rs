//! Several processes on one database: the detection lead (one holder at a
//! time, taken over when the holder goes, a late commit of the old holder
//! refused) and event ids that follow commit order, so a reader that
//! follows the largest id it has seen never passes over an event another
//! writer committed late.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use vigilo_core::NewEvent;
use vigilo_storage::{Storage, StorageError};
use vigilo_storage_postgres::PostgresStorage;

use common::{SchemaGuard, schema_name};

/// One "process": its own pool on the shared schema.
async fn open(schema: &str) -> PostgresStorage {
    common::connect(schema).await
}

fn event(writer: u32, n: u32) -> NewEvent {
    let now = Utc::now();
    NewEvent {
        timestamp: now,
        received_at: now,
        kind: "log".into(),
        service: Some(format!("writer-{writer}")),
        user: None,
        payload: json!({ "writer": writer, "n": n })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        origin: None,
        logsource: Default::default(),
    }
}

#[tokio::test]
async fn one_process_leads_and_the_other_takes_over_when_it_goes() {
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let a = open(&schema).await;
    let b = open(&schema).await;
    assert!(a.shared() && b.shared());

    assert!(a.try_lead_detection().await.unwrap(), "the first try leads");
    assert!(
        !b.try_lead_detection().await.unwrap(),
        "a second process does not"
    );
    assert!(
        a.try_lead_detection().await.unwrap(),
        "the leader still leads"
    );
    assert!(!b.try_lead_detection().await.unwrap());
    a.commit_detection(&[], 10)
        .await
        .expect("the leader commits");

    // The leader's hold breaks (its process died, its connection dropped).
    a.release_lead().await;
    assert!(
        b.try_lead_detection().await.unwrap(),
        "the other takes over"
    );
    b.commit_detection(&[], 20)
        .await
        .expect("the new leader commits");

    // A commit the old leader still had in hand is refused and writes nothing.
    match a.commit_detection(&[], 15).await {
        Err(StorageError::NotLeader) => {}
        other => panic!("a commit after the lead was lost must be refused, got {other:?}"),
    }
    assert_eq!(b.detection_watermark().await.unwrap(), 20);
    // Findings from outside detection (an IAM audit), which move no
    // watermark, it still records.
    a.commit_detection(&[], 0)
        .await
        .expect("a commit that evaluates nothing");
    assert_eq!(b.detection_watermark().await.unwrap(), 20);
    // And the old leader cannot lead while the new one holds it.
    assert!(!a.try_lead_detection().await.unwrap());

    // A process that never led (it only records IAM audit findings)
    // commits, and the watermark never moves back.
    let c = open(&schema).await;
    c.commit_detection(&[], 0)
        .await
        .expect("a follower's commit");
    assert_eq!(c.detection_watermark().await.unwrap(), 20);
    b.close().await;
    a.close().await;
    c.close().await;
}

#[tokio::test]
async fn a_dropped_store_lets_the_next_process_lead() {
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let a = open(&schema).await;
    let b = open(&schema).await;
    assert!(a.try_lead_detection().await.unwrap());
    // The whole store goes, as when its process is killed: its connections
    // close and the server releases the lock.
    drop(a);
    let mut took = false;
    for _ in 0..100 {
        if b.try_lead_detection().await.unwrap() {
            took = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(took, "the lead is free once its holder is gone");
    b.close().await;
}

#[tokio::test]
async fn ids_follow_commit_order_across_writers() {
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let reader = open(&schema).await;
    const WRITERS: u32 = 3;
    const BATCHES: u32 = 60;
    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = open(&schema).await;
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for b in 0..BATCHES {
                // Batches of different sizes, so transactions overlap unevenly.
                let size = 1 + (b * 7 + w * 3) % 40;
                let batch = (0..size).map(|n| event(w, b * 100 + n)).collect();
                let stored = store.insert_events(batch).await.expect("insert");
                ids.extend(stored.iter().map(|e| e.id));
            }
            store.close().await;
            ids
        }));
    }
    // The reader follows the largest id it has seen, as detection does.
    let follow = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut after = 0;
            loop {
                let finished = done.load(Ordering::Acquire);
                let events = reader.events_after(after, 500).await.expect("read");
                if let Some(last) = events.last() {
                    after = last.id;
                }
                seen.extend(events.iter().map(|e| e.id));
                if finished && events.is_empty() {
                    break;
                }
            }
            reader.close().await;
            seen
        })
    };
    let mut written = BTreeSet::new();
    for w in writers {
        written.extend(w.await.expect("writer"));
    }
    done.store(true, Ordering::Release);
    let seen = follow.await.expect("reader");
    let seen_set: BTreeSet<i64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), seen_set.len(), "no event read twice");
    let missed: Vec<_> = written.difference(&seen_set).take(10).collect();
    assert!(
        missed.is_empty(),
        "the reader passed over events that committed after a larger id: {missed:?}"
    );
    assert_eq!(seen_set, written);
}
