//! Retention through a running server: events older than `retention.events`
//! go in the background while ingest goes on, and the API's counts stay
//! right afterwards.
mod common;

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use common::*;
use serde_json::{Value, json};
use vigilo_server::config::{DurationText, RetentionConfig};

/// The whole test, the purge of 300 expired events among it (a sweep
/// every 200 ms, batches of 50), ran in 2.2 s on SQLite and 4.0 s on
/// PostgreSQL (debug build): ten times the longer.
const PURGE_DEADLINE: Duration = Duration::from_secs(40);

fn rfc3339(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_events_go_in_the_background_while_ingest_goes_on() {
    let s = start_with(|c, _| {
        c.retention = RetentionConfig {
            events: Some(DurationText::secs(86_400)),
            interval: DurationText(Duration::from_millis(200)),
            batch: 50,
            ..RetentionConfig::default()
        };
    })
    .await;
    let now = Utc::now();
    let old: Vec<Value> = (0..300)
        .map(|i| {
            json!({
                "timestamp": rfc3339(now - chrono::Duration::days(3) + chrono::Duration::seconds(i)),
                "service": "checkout", "level": "INFO", "message": "old"
            })
        })
        .collect();
    let fresh = |n: i64, tag: &str| -> Vec<Value> {
        (0..n)
            .map(|i| {
                json!({
                    "timestamp": rfc3339(now - chrono::Duration::minutes(30) + chrono::Duration::seconds(i)),
                    "service": "checkout", "level": "INFO", "message": tag
                })
            })
            .collect()
    };
    assert_eq!(s.ingest(&Value::Array(fresh(100, "fresh"))).await, 100);
    assert_eq!(s.ingest(&Value::Array(old)).await, 300);

    // Ingest goes on while the sweeps run; every request is accepted.
    let started = Instant::now();
    let mut sent = 100u64;
    let mut kept;
    loop {
        assert_eq!(s.ingest(&Value::Array(fresh(10, "during"))).await, 10);
        sent += 10;
        kept = s.event_total().await;
        if kept == sent {
            break;
        }
        assert!(
            started.elapsed() < PURGE_DEADLINE,
            "expired events still listed after {:?}: {kept} of {sent} fresh",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.wait_for_detection().await;
    assert!(sent > 100, "ingest went on during the purge");

    // The listing holds exactly the fresh events.
    let page = s.get("/api/v1/events?page_size=500").await;
    let items = page.expect_status(200)["items"].as_array().unwrap().clone();
    assert_eq!(items.len() as u64, sent);
    assert!(
        items
            .iter()
            .all(|e| e["payload"]["message"] != json!("old") && e["message"] != json!("old"))
    );
    let since = s
        .get(&format!(
            "/api/v1/events?page_size=1&service=checkout&from={}",
            rfc3339(now - chrono::Duration::days(5))
        ))
        .await;
    assert_eq!(since.expect_status(200)["total"], json!(sent));

    // The dashboard still counts every event received, from the rollups.
    let from = (now - chrono::Duration::days(4)).date_naive();
    let to = (now + chrono::Duration::days(1)).date_naive();
    let r = s
        .get(&format!(
            "/api/v1/stats/summary?from={from}T00:00:00Z&to={to}T00:00:00Z&bucket=day"
        ))
        .await;
    let body = r.expect_status(200);
    assert_eq!(body["total_events"], json!(sent + 300), "{body}");
    let over_time: u64 = body["events_over_time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(over_time, sent + 300);
    // And the sweeps report what they removed.
    let metrics = s.get("/metrics").await;
    let purged: f64 = metrics
        .text
        .lines()
        .find(|l| l.starts_with("vigilo_retention_purged_total{kind=\"events\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("purge counter exported");
    assert!(purged >= 300.0, "{purged}");
}

#[tokio::test]
async fn rollups_shorter_than_events_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.retention.events = Some(DurationText::secs(30 * 86_400));
    config.retention.rollups = Some(DurationText::secs(7 * 86_400));
    let err =
        match vigilo_server::server::Server::start(config, open_storage(dir.path()).await).await {
            Ok(_) => panic!("a server started with rollups shorter than events"),
            Err(e) => e.to_string(),
        };
    assert!(
        err.contains("retention.rollups") && err.contains("retention.events"),
        "{err}"
    );
}
