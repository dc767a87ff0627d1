//! `vigilo storage copy` through the binary: a SQLite data directory with
//! generated traffic, findings, a triaged finding with a note, an IAM
//! audit and a disabled rule is copied to a fresh PostgreSQL schema (the
//! first run stopped early, the second resuming it), and a server on
//! PostgreSQL answers the API exactly as the server on SQLite did.
//!
//! The database is `postgres://postgres@127.0.0.1:5432/test` (trust auth)
//! unless `VIGILO_TEST_POSTGRES_URL` names another; the test uses a schema
//! of its own, dropped at the end.

mod common;

use std::process::Command;
use std::time::Duration;

use common::backend::Schema;
use common::{ServerProcess, api_key, bin, client_with_key, get_json, wait_for_detection};
use serde_json::{Value, json};

/// The password the URLs carry (trust auth ignores it); it must never show.
const PASSWORD: &str = "copy-S3cret-pw";

fn copy_cmd(from: &str, to: &str, extra: &[&str]) -> std::process::Output {
    Command::new(bin())
        .args(["storage", "copy", "--from", from, "--to", to])
        .args(extra)
        .env("RUST_LOG", "debug")
        .env_remove("COLUMNS")
        .output()
        .expect("run vigilo storage copy")
}

#[track_caller]
fn assert_no_password(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the password shows in {what}:\n{text}"
    );
}

const FROM: &str = "2025-01-01T00:00:00Z";
const TO: &str = "2025-01-02T00:00:00Z";

/// Equal JSON, but for the last bits of fractional numbers: a sum over
/// many rollup rows is added up in a different order by each backend's
/// SQL (the rows themselves are verified equal bit for bit by the copy).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x != y => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) if x.fract() != 0.0 || y.fract() != 0.0 => {
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
            }
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The API answers a migration must keep, read from the server at `base`.
async fn answers(
    client: &reqwest::Client,
    base: &str,
    finding_ids: &[i64],
) -> Vec<(String, Value)> {
    let mut paths: Vec<String> = vec![
        "/api/v1/events?page_size=100".into(),
        "/api/v1/events?page=4&page_size=100".into(),
        "/api/v1/events?kind=metric&page_size=50".into(),
        "/api/v1/findings?page_size=200".into(),
        "/api/v1/findings?status=acknowledged".into(),
        "/api/v1/findings/groups?by=rule".into(),
        format!("/api/v1/stats/summary?from={FROM}&to={TO}"),
        format!("/api/v1/dashboard/overview?from={FROM}&to={TO}"),
        format!("/api/v1/dashboard/timeline?from={FROM}&to={TO}&bucket=hour"),
        format!("/api/v1/dashboard/timeline?from={FROM}&to={TO}&bucket=minute"),
        format!("/api/v1/dashboard/services?from={FROM}&to={TO}"),
        format!(
            "/api/v1/metrics/series?field=latency_ms&group_by=service&agg=p95&from={FROM}&to={TO}&bucket=minute"
        ),
        format!(
            "/api/v1/metrics/series?field=amount&group_by=none&agg=sum&from={FROM}&to={TO}&bucket=hour"
        ),
        "/api/v1/metrics/fields".into(),
        "/api/v1/iam/audits".into(),
        "/api/v1/iam/audits/1".into(),
        "/api/v1/rules".into(),
    ];
    for id in finding_ids {
        paths.push(format!("/api/v1/findings/{id}"));
        paths.push(format!("/api/v1/findings/{id}/history"));
        paths.push(format!("/api/v1/findings/{id}/enrichments"));
    }
    let mut out = Vec::new();
    for p in paths {
        let v = get_json(client, &format!("{base}{p}")).await;
        out.push((p, v));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_moves_to_postgres_with_identical_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = api_key(&data, "admin");
    let client = client_with_key(&key);

    // Generated traffic with incidents, on SQLite.
    let ndjson = dir.path().join("events.ndjson");
    let out = Command::new(bin())
        .args(["generate", "--out"])
        .arg(&ndjson)
        .args([
            "--count",
            "1500",
            "--seed",
            "7",
            "--start",
            FROM,
            "--incident-rate",
            "30",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run vigilo generate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&ndjson).unwrap();
    let lines: Vec<&str> = text.lines().collect();

    let server = ServerProcess::start(&data, &[]);
    for chunk in lines.chunks(500) {
        let r = client
            .post(format!("{}/api/v1/events", server.url))
            .header("content-type", "application/x-ndjson")
            .body(chunk.join("\n"))
            .send()
            .await
            .expect("post events");
        assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    }
    wait_for_detection(&client, &server.url).await;
    let findings = get_json(
        &client,
        &format!("{}/api/v1/findings?page_size=200", server.url),
    )
    .await;
    let items = findings["items"].as_array().expect("items");
    assert!(
        items.len() >= 3,
        "too few findings to compare: {findings:#}"
    );
    let ids: Vec<i64> = items
        .iter()
        .take(4)
        .map(|f| f["id"].as_i64().unwrap())
        .collect();

    // Triage one finding, note it, audit an IAM document, disable a rule.
    let r = client
        .patch(format!("{}/api/v1/findings/{}", server.url, ids[0]))
        .json(&json!({"status": "acknowledged", "assignee": "alice", "add_tags": ["triaged"]}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = client
        .post(format!("{}/api/v1/findings/{}/notes", server.url, ids[0]))
        .json(&json!({"text": "looked at it, benign"}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    let r = client
        .post(format!("{}/api/v1/iam/audits", server.url))
        .json(&json!({
            "users": [{"username": "root", "mfa_enabled": false, "privileges": ["admin"], "permissions": "*"}],
            "groups": [{"name": "ops", "privileges": [], "permissions": [], "policy": "full_access"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let rule = items[0]["rule_id"].as_str().unwrap().to_string();
    let r = client
        .patch(format!("{}/api/v1/rules/{rule}", server.url))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "{}",
        r.text().await.unwrap_or_default()
    );
    wait_for_detection(&client, &server.url).await;

    let before = answers(&client, &server.url, &ids).await;
    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(30)).success());

    // Copy, stopped after a few batches, then resumed.
    let schema = Schema::create("e2e").await;
    let from = format!("sqlite://{}", data.display());
    let to = schema.url_with_password(PASSWORD);
    let first = copy_cmd(&from, &to, &["--batch-size", "100", "--max-batches", "5"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("run the same command again"), "{stdout}");
    assert_no_password("the copy's output", &stdout);
    assert_no_password("the copy's log", &stderr);

    let second = copy_cmd(&from, &to, &["--batch-size", "100"]);
    let stdout = String::from_utf8_lossy(&second.stdout);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("events: resuming after id 500"), "{stdout}");
    assert!(stdout.contains("verified"), "{stdout}");
    // Ingest and triage wrote audit events of their own after the generated ones.
    let last_copied: usize = stdout
        .split("the source holds events up to id ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no last event id in:\n{stdout}"));
    assert!(last_copied > lines.len(), "{stdout}");
    assert!(
        stdout.contains("postgres database postgres://postgres:***@"),
        "{stdout}"
    );
    assert_no_password("the copy's output", &stdout);
    assert_no_password("the copy's log", &stderr);
    for entity in [
        "events",
        "findings",
        "finding history",
        "iam audits",
        "rule states",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(entity) && l.contains(" ok "))
            .unwrap_or_else(|| panic!("no ok row for {entity}:\n{stdout}"));
        let counts: Vec<u64> = row
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert!(
            counts.len() >= 2 && counts[0] == counts[1] && counts[0] > 0,
            "{row}"
        );
    }

    // The same data directory's config on PostgreSQL: the same answers.
    let env = [
        ("VIGILO_STORAGE__BACKEND", "postgres"),
        ("VIGILO_STORAGE__URL", to.as_str()),
    ];
    let pg = ServerProcess::start_with_env(&data, &[], &env);
    wait_for_detection(&client, &pg.url).await;
    let after = answers(&client, &pg.url, &ids).await;
    for ((path, a), (_, b)) in before.iter().zip(&after) {
        assert!(same(a, b), "{path} differs after the move:\n{a}\n{b}");
    }

    // Detection resumed at the copied watermark: nothing re-fired, and a
    // new event gets the next id.
    let r = client
        .post(format!("{}/api/v1/events", pg.url))
        .header("content-type", "application/x-ndjson")
        .body("{\"timestamp\":\"2025-01-01T12:00:00Z\",\"kind\":\"log\",\"service\":\"api\",\"message\":\"after the move\"}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    wait_for_detection(&client, &pg.url).await;
    let next = last_copied + 1;
    let event = get_json(&client, &format!("{}/api/v1/events/{next}", pg.url)).await;
    assert_eq!(event["payload"]["message"], "after the move", "{event:#}");
    let refound = get_json(
        &client,
        &format!("{}/api/v1/findings?page_size=200", pg.url),
    )
    .await;
    assert_eq!(
        refound["total"], before[3].1["total"],
        "detection re-fired copied events"
    );
    pg.signal(libc::SIGTERM);
    assert!(pg.wait(Duration::from_secs(30)).success());

    // The destination has moved on: a check names what differs.
    let check = copy_cmd(&from, &to, &["--verify-only"]);
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.contains("verification failed: events"), "{stderr}");
    assert_no_password("the check's log", &stderr);
}

#[tokio::test]
async fn a_destination_holding_other_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    api_key(&a, "admin");
    api_key(&b, "read");
    let schema = Schema::create("refuse").await;
    let to = schema.url_with_password(PASSWORD);
    let out = copy_cmd(&format!("sqlite://{}", a.display()), &to, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = copy_cmd(&format!("sqlite://{}", b.display()), &to, &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not empty and not a copy of this source") && stderr.contains("api keys"),
        "{stderr}"
    );
    assert_no_password("the refusal", &stderr);

    let out = copy_cmd("sqlite:///nonexistent/vigilo", &to, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no sqlite database"));
    let out = copy_cmd("mysql://x", &to, &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite://PATH or postgres://"));
}
