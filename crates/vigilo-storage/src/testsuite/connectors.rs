//! Behaviours of connector state: stream positions (exactly-once effect of
//! redelivered events), dead letters, and the finding outbox.

use chrono::{Duration, Utc};
use serde_json::json;
use vigilo_core::{FindingStatus, Origin, Severity};

use super::{Fixture, finding, ready, simple, write};
use crate::{FindingChangeKind, FindingPatch, NewDeadLetter, Storage};

fn from(stream: &str, offset: i64, n: usize) -> vigilo_core::NewEvent {
    let mut e = simple(Utc::now(), n);
    e.origin = Some(Origin {
        stream: stream.to_string(),
        offset,
    });
    e
}

pub async fn redelivered_offsets_are_stored_once<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let first = s
        .insert_events(vec![from("kafka:logs:0", 0, 0), from("kafka:logs:0", 1, 1)])
        .await
        .expect("insert");
    assert_eq!(first.len(), 2);
    // A redelivery of offsets 0 and 1 with a new one, another partition,
    // an offset twice in one batch, and an event from no stream.
    let second = s
        .insert_events(vec![
            from("kafka:logs:0", 0, 0),
            from("kafka:logs:0", 1, 1),
            from("kafka:logs:0", 2, 2),
            from("kafka:logs:1", 1, 3),
            from("kafka:logs:1", 1, 3),
            simple(Utc::now(), 4),
        ])
        .await
        .expect("insert");
    let kept: Vec<i64> = second
        .iter()
        .map(|e| e.payload["n"].as_i64().expect("n"))
        .collect();
    assert_eq!(kept, vec![2, 3, 4]);
    let total = s.totals().await.expect("totals").events;
    assert_eq!(total, 5);
    let positions = s.stream_positions("kafka:logs:").await.expect("positions");
    assert_eq!(
        positions.into_iter().collect::<Vec<_>>(),
        vec![
            ("kafka:logs:0".to_string(), 2),
            ("kafka:logs:1".to_string(), 1)
        ]
    );
    assert!(s.stream_positions("amqp:").await.expect("none").is_empty());
    // A batch that is all redeliveries stores nothing.
    let none = s
        .insert_events(vec![from("kafka:logs:0", 2, 2)])
        .await
        .expect("insert");
    assert!(none.is_empty());
}

pub async fn a_failed_batch_does_not_move_stream_positions<X: Fixture>(x: &X) {
    let s = ready(x).await;
    x.poison_event_kind("poison").await;
    let mut bad = from("kafka:logs:0", 7, 0);
    bad.kind = "poison".to_string();
    assert!(s.insert_events(vec![bad]).await.is_err());
    assert!(s.stream_positions("kafka:").await.expect("read").is_empty());
    let again = s
        .insert_events(vec![from("kafka:logs:0", 7, 0)])
        .await
        .expect("insert");
    assert_eq!(again.len(), 1);
}

pub async fn dead_letters_keep_raw_bytes_and_count_by_source<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let at = Utc::now();
    for (source, raw) in [
        ("kafka", b"{not json".to_vec()),
        ("kafka", vec![0xff, 0x00]),
        ("amqp", b"[]".to_vec()),
    ] {
        s.insert_dead_letter(NewDeadLetter {
            source: source.to_string(),
            location: "logs/0@3".to_string(),
            reason: "invalid JSON".to_string(),
            raw,
            meta: json!({"key": "k1"}),
            received_at: at,
        })
        .await
        .expect("insert");
    }
    let page = s
        .list_dead_letters(Some("kafka"), 1, 10)
        .await
        .expect("list");
    assert_eq!(page.total, 2);
    assert_eq!(page.items[0].raw, vec![0xff, 0x00], "newest first");
    assert_eq!(page.items[1].raw, b"{not json".to_vec());
    assert_eq!(page.items[0].meta, json!({"key": "k1"}));
    assert_eq!(
        s.list_dead_letters(None, 1, 10).await.expect("all").total,
        3
    );
    let counts = s.dead_letter_counts().await.expect("counts");
    assert_eq!(counts.get("kafka"), Some(&2));
    assert_eq!(counts.get("amqp"), Some(&1));
}

pub async fn the_outbox_logs_detection_and_status_changes_in_order<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(
        s.finding_changes_end().await.expect("end"),
        0,
        "an empty outbox"
    );
    let t = Utc::now() - Duration::hours(1);
    let f = finding("auth.brute_force", Severity::High, t, t);
    let stored = s
        .commit_detection(&[write("k1", f.clone(), vec![])], 1)
        .await
        .expect("commit");
    let id = stored[0].id;
    // The same incident twice in one commit is one change.
    let mut later = f.clone();
    later.last_seen = t + Duration::minutes(1);
    later.event_count = 3;
    s.commit_detection(
        &[
            write("k1", later.clone(), vec![]),
            write("k1", later, vec![]),
        ],
        2,
    )
    .await
    .expect("commit");
    s.update_finding(
        id,
        FindingPatch {
            status: Some(FindingStatus::Resolved),
            actor: "ana".to_string(),
            ..FindingPatch::default()
        },
        Utc::now(),
    )
    .await
    .expect("resolve");
    // A patch that changes no status adds nothing.
    s.update_finding(
        id,
        FindingPatch {
            note: Some("checked".to_string()),
            ..FindingPatch::default()
        },
        Utc::now(),
    )
    .await
    .expect("note");
    let changes = s.finding_changes_after(0, 100).await.expect("changes");
    let seen: Vec<(i64, FindingChangeKind, FindingStatus)> = changes
        .iter()
        .map(|c| (c.finding_id, c.kind, c.status))
        .collect();
    assert_eq!(
        seen,
        vec![
            (id, FindingChangeKind::Created, FindingStatus::Open),
            (id, FindingChangeKind::Updated, FindingStatus::Open),
            (id, FindingChangeKind::Status, FindingStatus::Resolved),
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    let rest = s
        .finding_changes_after(changes[0].seq, 1)
        .await
        .expect("page");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].seq, changes[1].seq);
    // The end is the newest entry: a reader starting there sees nothing yet.
    let end = s.finding_changes_end().await.expect("end");
    assert_eq!(end, changes[2].seq);
    assert!(
        s.finding_changes_after(end, 10)
            .await
            .expect("after end")
            .is_empty()
    );
}

pub async fn consumer_positions_start_at_zero_and_persist<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(s.consumer_position("alerts").await.expect("read"), 0);
    s.set_consumer_position("alerts", 41).await.expect("set");
    s.set_consumer_position("alerts", 42).await.expect("set");
    s.set_consumer_position("sink.amqp", 7).await.expect("set");
    assert_eq!(s.consumer_position("alerts").await.expect("read"), 42);
    assert_eq!(s.consumer_position("sink.amqp").await.expect("read"), 7);
}
