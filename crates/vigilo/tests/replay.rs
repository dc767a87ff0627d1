//! A generated hour of history, posted in one go to the real server, gives
//! exactly the findings the rules give offline (`vigilo rules test`), and
//! every bundled rule fires.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{ServerProcess, admin_client, bin, get_json, repo_root, wait_for_detection};
use serde_json::Value;

type Key = (String, String, i64, String, String);

fn key(f: &Value) -> Key {
    (
        f["rule_id"].as_str().unwrap().to_string(),
        f["group"].to_string(),
        f["event_count"].as_i64().unwrap(),
        f["first_seen"].as_str().unwrap().to_string(),
        f["last_seen"].as_str().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posted_history_gives_exactly_the_offline_findings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.ndjson");
    let out = Command::new(bin())
        .args([
            "generate",
            "--rate",
            "20",
            "--duration",
            "1h",
            "--incident-rate",
            "1",
            "--seed",
            "7",
        ])
        .args(["--start", "2025-06-01T00:00:00Z", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Offline: what the rules say about this stream.
    let out = Command::new(bin())
        .args(["rules", "test"])
        .arg(repo_root().join("rules"))
        .arg("--events")
        .arg(&file)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offline: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let offline: BTreeSet<Key> = offline.iter().map(key).collect();

    // Live: the same stream through HTTP, in one request.
    let data = std::fs::read(&file).unwrap();
    // One request holds the whole hour, past the default body and event
    // count limits.
    let client = admin_client(&dir.path().join("data"));
    let server = ServerProcess::start_with_env(
        &dir.path().join("data"),
        &[],
        &[
            ("VIGILO_INGEST__MAX_BODY_BYTES", "134217728"),
            ("VIGILO_INGEST__MAX_EVENTS_PER_REQUEST", "1000000"),
        ],
    );
    let resp = client
        .post(format!("{}/api/v1/events", server.url))
        .header("content-type", "application/x-ndjson")
        .body(data)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        202,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    wait_for_detection(&client, &server.url).await;
    let page = get_json(
        &client,
        &format!("{}/api/v1/findings?page_size=500", server.url),
    )
    .await;
    assert!(page["total"].as_u64().unwrap() <= 500);
    let live: BTreeSet<Key> = page["items"].as_array().unwrap().iter().map(key).collect();
    assert_eq!(
        live, offline,
        "live findings differ from the offline evaluation"
    );

    let fired: BTreeSet<String> = live.iter().map(|k| k.0.clone()).collect();
    let rules = get_json(&client, &format!("{}/api/v1/rules", server.url)).await;
    // Every rule that produces findings (helper rules only feed others),
    // but those over Vigilo's own audit trail (`identity.vigilo_*`), which
    // real sign-ins feed, not generated traffic.
    let emitting = rules["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["emits_findings"] == true)
        .filter(|r| {
            !r["rule_id"]
                .as_str()
                .unwrap_or("")
                .starts_with("identity.vigilo_")
        });
    for r in emitting {
        let id = r["rule_id"].as_str().unwrap();
        assert!(
            fired.contains(id),
            "bundled rule {id} never fired on the generated incidents"
        );
        assert!(
            r["matches"].as_u64().unwrap() > 0,
            "{id} has no match count"
        );
    }
}
