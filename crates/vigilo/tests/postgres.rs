//! The binary on PostgreSQL: `vigilo migrate` and `vigilo serve` with
//! `storage.backend = "postgres"`, a finding that survives a restart, and
//! a password in the URL that never shows in the output.
//!
//! The database is `postgres://postgres@127.0.0.1:5432/test` (trust auth)
//! unless `VIGILO_TEST_POSTGRES_URL` names another; each test uses a fresh
//! schema, chosen with `options=-csearch_path=<schema>` in the URL the
//! binary gets, and drops it at the end.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::backend::{Schema, postgres_url as base_url, with_password};
use common::{ServerProcess, bin, client_with_key, get_json, wait_for_detection};
use sqlx::Connection;

/// The password every URL given to the binary carries (trust auth ignores it).
const PASSWORD: &str = "pg-Hunter2-secret";

/// The URL the binary gets: the test schema's, with [`PASSWORD`].
fn pw_url(schema: &Schema) -> String {
    schema.url_with_password(PASSWORD)
}

/// `url` with [`PASSWORD`] as the password of its user.
fn url_with_password(url: &str) -> String {
    with_password(url, PASSWORD)
}

fn env(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("VIGILO_STORAGE__BACKEND", "postgres".to_string()),
        ("VIGILO_STORAGE__URL", url.to_string()),
        // Everything the binary logs, so a leak anywhere shows.
        ("RUST_LOG", "debug".to_string()),
    ]
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    Command::new(bin())
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env_remove("COLUMNS")
        .output()
        .expect("run vigilo")
}

#[track_caller]
fn assert_no_password(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the password shows in {what}:\n{text}"
    );
}

#[tokio::test]
async fn migrate_applies_the_schema_and_never_prints_the_password() {
    let schema = Schema::create("migrate").await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let env = env(&pw_url(&schema));
    for round in 0..2 {
        let out = run(&["migrate", "--data-dir", data_dir], &env);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "round {round}: {stderr}");
        assert!(
            stdout.contains("postgres database postgres://postgres:***@"),
            "{stdout}"
        );
        assert_no_password("migrate's stdout", &stdout);
        assert_no_password("migrate's log", &stderr);
    }
    // The tables are in the schema, and nothing went to the data dir.
    let mut conn = sqlx::PgConnection::connect(&base_url()).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1",
    )
    .bind(&schema.name)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    assert!(tables > 10, "{tables} tables in {}", schema.name);
    assert!(!dir.path().join("vigilo.db").exists());

    // Unreachable: the error names the masked URL, not the password.
    let bad = url_with_password("postgres://postgres@127.0.0.1:1/test");
    let out = run(&["migrate", "--data-dir", data_dir], &self::env(&bad));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("postgres://postgres:***@127.0.0.1:1"),
        "{stderr}"
    );
    assert_no_password("the connect error", &stderr);
    assert_no_password("migrate's stdout", &String::from_utf8_lossy(&out.stdout));
}

#[test]
fn postgres_without_a_url_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["migrate", "--data-dir", dir.path().to_str().unwrap()])
        .env("VIGILO_STORAGE__BACKEND", "postgres")
        .env_remove("VIGILO_STORAGE__URL")
        .output()
        .expect("run vigilo");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("storage.url"), "{stderr}");
    assert!(stderr.contains("VIGILO_STORAGE__URL"), "{stderr}");
}

#[test]
fn an_unknown_backend_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["migrate", "--data-dir", dir.path().to_str().unwrap()])
        .env("VIGILO_STORAGE__BACKEND", "mysql")
        .output()
        .expect("run vigilo");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`sqlite` or `postgres`"), "{stderr}");
}

/// A log file for a server's stderr.
fn log_file(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, Stdio) {
    let path = dir.join(name);
    let file = std::fs::File::create(&path).expect("log file");
    (path, Stdio::from(file))
}

fn serve(data_dir: &std::path::Path, env: &[(&'static str, String)], log: Stdio) -> ServerProcess {
    let args: Vec<std::ffi::OsString> = vec![
        "serve".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data_dir.into(),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ServerProcess::spawn_with_stderr(&args, &env, log)
}

#[tokio::test]
async fn serve_on_postgres_keeps_findings_across_a_restart() {
    let schema = Schema::create("serve").await;
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let env = env(&pw_url(&schema));

    let out = run(
        &[
            "apikey",
            "create",
            "--name",
            "tests",
            "--scopes",
            "admin",
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_no_password("apikey's stdout", &stdout);
    let key = stdout.lines().last().expect("a secret").trim().to_string();
    let client = client_with_key(&key);

    let (log1, stderr) = log_file(logs.path(), "first.log");
    let server = serve(dir.path(), &env, stderr);
    // A slow request: the bundled anomaly.high_latency rule fires.
    let body = concat!(
        "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"kind\":\"metric\",\"service\":\"api\",\"cpu\":10,\"latency_ms\":1500}\n",
        "{\"timestamp\":\"2025-01-01T00:00:01Z\",\"kind\":\"metric\",\"service\":\"api\",\"cpu\":12,\"latency_ms\":20}\n",
    );
    let r = client
        .post(format!("{}/api/v1/events", server.url))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .expect("post events");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    wait_for_detection(&client, &server.url).await;
    let before = get_json(&client, &format!("{}/api/v1/findings", server.url)).await;
    let items = before["items"].as_array().expect("items");
    assert!(
        items.iter().any(|f| f["rule_id"] == "anomaly.high_latency"),
        "{before:#}"
    );
    let events = get_json(&client, &format!("{}/api/v1/events", server.url)).await;
    assert_eq!(
        events["items"].as_array().map(Vec::len),
        Some(2),
        "{events:#}"
    );

    server.signal(libc::SIGTERM);
    assert!(server.wait(Duration::from_secs(30)).success());

    // A new process on the same database sees the same data.
    let (log2, stderr) = log_file(logs.path(), "second.log");
    let again = serve(dir.path(), &env, stderr);
    wait_for_detection(&client, &again.url).await;
    let after = get_json(&client, &format!("{}/api/v1/findings", again.url)).await;
    assert_eq!(after["items"], before["items"]);
    let events_after = get_json(&client, &format!("{}/api/v1/events", again.url)).await;
    assert_eq!(events_after["items"], events["items"]);
    again.signal(libc::SIGTERM);
    assert!(again.wait(Duration::from_secs(30)).success());

    for log in [log1, log2] {
        let text = std::fs::read_to_string(&log).expect("read log");
        assert!(text.contains("opening postgres storage"), "{text}");
        assert_no_password("the server's log", &text);
    }
}

/// One generated metric sample: every one fires the bundled
/// `anomaly.high_latency` rule, grouped by service; `seq` names it.
fn sample(seq: usize) -> serde_json::Value {
    let base = chrono::DateTime::parse_from_rfc3339("2025-03-01T00:00:00Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    let ts = base + chrono::Duration::seconds(20 * seq as i64);
    serde_json::json!({
        "timestamp": ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "kind": "metric",
        "service": format!("svc-{}", seq % 12),
        "cpu": 10,
        "latency_ms": 1500 + seq,
        "seq": seq,
    })
}

async fn post_samples(client: &reqwest::Client, base: &str, seqs: &[usize]) -> bool {
    let body: String = seqs.iter().map(|s| format!("{}\n", sample(*s))).collect();
    match client
        .post(format!("{base}/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
    {
        Ok(r) => r.status() == 202,
        Err(_) => false,
    }
}

async fn readyz(client: &reqwest::Client, base: &str) -> serde_json::Value {
    client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("GET /readyz")
        .json()
        .await
        .expect("json")
}

/// Every stored event, in id order, as (id, seq).
async fn stored_seqs(client: &reqwest::Client, base: &str) -> Vec<(i64, usize)> {
    let text = client
        .get(format!("{base}/api/v1/events?format=ndjson"))
        .send()
        .await
        .expect("export")
        .text()
        .await
        .expect("body");
    let mut out: Vec<(i64, usize)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("an event");
            let seq = v["payload"]["seq"].as_u64().or(v["seq"].as_u64());
            (v["id"].as_i64().expect("id"), seq.expect("seq") as usize)
        })
        .collect();
    out.sort();
    out
}

/// The findings, each as what detection decided: rule, group, how many
/// events, first and last seen.
async fn finding_summary(client: &reqwest::Client, base: &str) -> Vec<String> {
    let v = get_json(client, &format!("{base}/api/v1/findings?page_size=500")).await;
    let mut out: Vec<String> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {} {}",
                f["rule_id"], f["group"], f["event_count"], f["first_seen"], f["last_seen"]
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn two_processes_share_the_database_and_the_survivor_takes_over_detection() {
    let schema = Schema::create("failover").await;
    let dirs = [
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    ];
    let logs = tempfile::tempdir().unwrap();
    let mut env = env(&pw_url(&schema));
    env.retain(|(k, _)| *k != "RUST_LOG");
    env.push(("RUST_LOG", "info".to_string()));
    let key = common::api_key_with_env(
        dirs[0].path(),
        "admin",
        &common::backend::Backend::env_refs(&env),
    );
    let client = client_with_key(&key);

    let (_, stderr) = log_file(logs.path(), "first.log");
    let first = serve(dirs[0].path(), &env, stderr);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while readyz(&client, &first.url).await["leading"] != true {
        assert!(
            std::time::Instant::now() < deadline,
            "the first process never led"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (second_log, stderr) = log_file(logs.path(), "second.log");
    let second = serve(dirs[1].path(), &env, stderr);
    // Both ingest and serve; only the first leads.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let r = loop {
        let r = readyz(&client, &second.url).await;
        if r["status"] == "ready" {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second process never got ready: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(r["leading"], false, "{r}");

    // Two clients post at once, one to each process, in batches of ten.
    const TOTAL: usize = 1200;
    let batches: Vec<Vec<usize>> = (0..TOTAL)
        .collect::<Vec<_>>()
        .chunks(10)
        .map(|c| c.to_vec())
        .collect();
    let (to_first, to_second): (Vec<_>, Vec<_>) = batches
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let killed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let posted_first = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a = {
        let (client, killed, posted) = (client.clone(), killed.clone(), posted_first.clone());
        let (url1, url2) = (first.url.clone(), second.url.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for (_, batch) in to_first {
                // Once the first process is gone its client moves over, as
                // behind a load balancer; a batch whose request failed was
                // never acknowledged and is not sent again.
                let target = if killed.load(std::sync::atomic::Ordering::Acquire) {
                    &url2
                } else {
                    &url1
                };
                if post_samples(&client, target, &batch).await {
                    acked.extend(batch);
                }
                posted.fetch_add(1, std::sync::atomic::Ordering::Release);
            }
            acked
        })
    };
    let b = {
        let (client, url2) = (client.clone(), second.url.clone());
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for (_, batch) in to_second {
                assert!(
                    post_samples(&client, &url2, &batch).await,
                    "the survivor refused a batch"
                );
                acked.extend(batch);
            }
            acked
        })
    };
    // Mid-stream, the detection holder is killed.
    while posted_first.load(std::sync::atomic::Ordering::Acquire) < 25 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.signal(libc::SIGKILL);
    let killed_at = std::time::Instant::now();
    killed.store(true, std::sync::atomic::Ordering::Release);
    let _ = first.wait(Duration::from_secs(10));
    let mut acked = a.await.expect("first client");
    acked.extend(b.await.expect("second client"));

    // The survivor takes the lead within seconds.
    while readyz(&client, &second.url).await["leading"] != true {
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "the survivor did not take over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took_over = killed_at.elapsed();

    // Every acknowledged event is stored once.
    let stored = stored_seqs(&client, &second.url).await;
    let mut count = std::collections::HashMap::new();
    for (_, seq) in &stored {
        *count.entry(*seq).or_insert(0) += 1;
    }
    assert!(count.values().all(|c| *c == 1), "an event stored twice");
    for seq in &acked {
        assert_eq!(
            count.get(seq),
            Some(&1),
            "acknowledged event {seq} not stored once"
        );
    }
    let last_id = stored.last().expect("events").0;
    // And evaluated: the watermark reaches the last of them.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let r = readyz(&client, &second.url).await;
        if r["watermark"] == last_id && r["queue_depth"] == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "detection stopped short: {r}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shared_findings = finding_summary(&client, &second.url).await;
    second.signal(libc::SIGTERM);
    assert!(second.wait(Duration::from_secs(30)).success());
    let log = std::fs::read_to_string(&second_log).expect("read log");
    assert!(log.contains("took the detection lead"), "{log}");

    // One process on its own, the same events in the same order.
    let alone = client_with_key(&common::api_key(dirs[2].path(), "admin"));
    let single = common::ServerProcess::start(dirs[2].path(), &[]);
    let order: Vec<usize> = stored.iter().map(|(_, s)| *s).collect();
    for chunk in order.chunks(50) {
        assert!(post_samples(&alone, &single.url, chunk).await);
    }
    wait_for_detection(&alone, &single.url).await;
    let single_findings = finding_summary(&alone, &single.url).await;
    assert!(!single_findings.is_empty());
    let only_shared: Vec<_> = shared_findings
        .iter()
        .filter(|f| !single_findings.contains(f))
        .take(5)
        .collect();
    let only_single: Vec<_> = single_findings
        .iter()
        .filter(|f| !shared_findings.contains(f))
        .take(5)
        .collect();
    assert!(
        shared_findings == single_findings,
        "findings after the takeover differ from one process's: {} against {}; \
         only with two processes: {only_shared:#?}; only with one: {only_single:#?}",
        shared_findings.len(),
        single_findings.len()
    );
    eprintln!(
        "failover: {} events stored ({} acknowledged), lead taken {:?} after the kill",
        stored.len(),
        acked.len(),
        took_over
    );
}
