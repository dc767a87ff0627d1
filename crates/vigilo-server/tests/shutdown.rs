//! Graceful shutdown: everything acknowledged is stored and evaluated;
//! nothing is accepted afterwards.
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_are_stored_and_evaluated_across_shutdown() {
    let mut s = start().await;
    let state = s.state.clone();

    // Each request: 20 plain events and one admin token for its own user,
    // so each stored request yields exactly one finding.
    let mut set = tokio::task::JoinSet::new();
    for req in 0..60u64 {
        let client = client_with_key(&s.api_key);
        let url = s.url("/api/v1/events");
        set.spawn(async move {
            tokio::time::sleep(Duration::from_millis(req * 2)).await;
            let mut batch: Vec<Value> = (0..20)
                .map(|i| json!({"req": req, "i": i, "timestamp": "2025-08-01T00:00:00Z"}))
                .collect();
            batch.push(json!({
                "req": req, "timestamp": "2025-08-01T00:00:00Z",
                "event_type": "api_token_created", "user": format!("user{req}"),
                "scopes": ["admin:*"], "has_expiry": true,
            }));
            let status = match client.post(url).json(&batch).send().await {
                Ok(r) => Some(r.status().as_u16()),
                Err(_) => None,
            };
            (req, status)
        });
    }
    // Shut down while requests are still being sent.
    tokio::time::sleep(Duration::from_millis(40)).await;
    s.stop().await;

    let mut acked = BTreeSet::new();
    let mut failed = 0;
    while let Some(r) = set.join_next().await {
        let (req, status) = r.unwrap();
        match status {
            Some(202) => {
                acked.insert(req);
            }
            Some(503) | None => failed += 1,
            Some(other) => panic!("request {req}: unexpected status {other}"),
        }
    }
    assert_eq!(acked.len() + failed, 60);
    assert!(!acked.is_empty(), "shutdown came before any request");
    assert!(failed > 0, "shutdown came after every request");

    // Storage after `run` returned: every acknowledged request is stored
    // whole, and nothing else but whole requests.
    let storage = state.storage.clone();
    let events = storage.events_after(0, 100_000).await.unwrap();
    let mut per_req = std::collections::BTreeMap::<u64, usize>::new();
    for e in &events {
        *per_req
            .entry(e.payload["req"].as_u64().unwrap())
            .or_default() += 1;
    }
    assert!(per_req.values().all(|n| *n == 21), "{per_req:?}");
    let stored: BTreeSet<u64> = per_req.keys().copied().collect();
    assert!(
        acked.is_subset(&stored),
        "acked {acked:?} stored {stored:?}"
    );

    // And evaluated: the watermark is the last id, one finding per request.
    let max_id = events.iter().map(|e| e.id).max().unwrap();
    assert_eq!(storage.detection_watermark().await.unwrap(), max_id);
    let findings = storage
        .list_findings(&vigilo_storage::FindingQuery {
            page: 1,
            page_size: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(findings.total, stored.len() as u64);
    let users: BTreeSet<String> = findings
        .items
        .iter()
        .filter_map(|f| f.user.clone())
        .collect();
    let want: BTreeSet<String> = stored.iter().map(|r| format!("user{r}")).collect();
    assert_eq!(users, want);

    // After shutdown: the socket is closed, and the handlers refuse work.
    let r = client().get(s.url("/healthz")).send().await;
    assert!(r.is_err(), "the listener is closed");
    let app = vigilo_server::server::router(state.clone());
    let resp = app
        .oneshot(
            Request::post("/api/v1/events")
                .header("authorization", format!("Bearer {}", s.api_key))
                .header("content-type", "application/json")
                .body(Body::from("{\"late\": true}"))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert!(resp.headers().contains_key("retry-after"));
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "shutting_down");
    assert_eq!(
        storage.events_after(0, 100_000).await.unwrap().len(),
        events.len()
    );
}

#[tokio::test]
async fn restart_keeps_data_and_does_not_reevaluate() {
    let mut s = start().await;
    s.ingest(&json!({"timestamp": "2025-08-01T00:00:00Z", "event_type": "storage_bucket_created", "user": "b", "public": true}))
        .await;
    s.stop().await;
    let findings_before = s.state.storage.totals().await.unwrap().findings;
    assert_eq!(findings_before, 1);

    // A new server on the same database.
    let dir = s.data_dir();
    let server = bind(&dir, test_config(&dir)).await;
    let state = server.state();
    let app = vigilo_server::server::router(state.clone());
    let resp = app
        .oneshot(
            Request::get("/api/v1/findings")
                .header("authorization", format!("Bearer {}", s.api_key))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["total"], 1);
    assert_eq!(body["items"][0]["rule_id"], "identity.public_bucket");
    assert_eq!(body["items"][0]["event_count"], 1);
    state.pipeline.shutdown().await;
    assert_eq!(state.storage.totals().await.unwrap().findings, 1);
    // Not evaluated a second time: the rule matched once.
    let counts = state.storage.rule_match_counts().await.unwrap();
    assert_eq!(counts.get("identity.public_bucket"), Some(&1), "{counts:?}");
}

/// A public bucket created by `user` at `secs` past midnight.
fn bucket(user: &str, secs: u32) -> Value {
    json!({
        "timestamp": format!("2025-08-01T00:{:02}:{:02}Z", secs / 60, secs % 60),
        "event_type": "storage_bucket_created", "user": user, "public": true,
    })
}

#[tokio::test]
async fn results_wait_for_the_commit_interval_and_are_flushed_at_stop() {
    let mut s = start_with(|c, _| c.detection.commit_interval_ms = 3_600_000).await;
    // After a quiet spell (here: the start), results commit at once.
    s.ingest(&bucket("first", 0)).await;
    s.wait_for_detection().await;
    assert_eq!(s.finding_total().await, 1);

    // Within the interval they wait, and so do their events' queue slots:
    // /readyz does not report detection as caught up before the commit.
    s.ingest(&bucket("second", 1)).await;
    s.ingest(&bucket("first", 2)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = s.get("/readyz").await;
    assert_eq!(ready.expect_status(200)["queue_depth"], 2, "{}", ready.text);
    assert_eq!(s.finding_total().await, 1);
    let storage = s.state.storage.clone();
    let first_id = storage.events_after(0, 1).await.unwrap()[0].id;
    assert_eq!(storage.detection_watermark().await.unwrap(), first_id);

    // Stopping commits them: both incidents, the first one updated once.
    s.stop().await;
    let page = storage
        .list_findings(&vigilo_storage::FindingQuery {
            page: 1,
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut got: Vec<(String, i64, usize)> = page
        .items
        .iter()
        .map(|f| (f.user.clone().unwrap(), f.event_count, f.evidence.len()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![("first".to_string(), 2, 2), ("second".to_string(), 1, 1)]
    );
    assert_eq!(
        storage.detection_watermark().await.unwrap(),
        first_id + 2,
        "the watermark moved with the results"
    );
    let counts = storage.rule_match_counts().await.unwrap();
    assert_eq!(counts.get("identity.public_bucket"), Some(&3), "{counts:?}");
}
