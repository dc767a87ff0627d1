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

use common::{ServerProcess, bin, client_with_key, get_json, wait_for_detection};
use sqlx::Connection;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The password every URL given to the binary carries (trust auth ignores it).
const PASSWORD: &str = "pg-Hunter2-secret";

fn base_url() -> String {
    std::env::var("VIGILO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A schema of its own, created now and dropped when it goes.
struct Schema {
    name: String,
}

impl Schema {
    async fn create(test: &str) -> Schema {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // `vigilo_t_<secs>_…`: the storage crate's tests sweep these when
        // a killed run leaves one behind.
        let name = format!("vigilo_t_{secs}_cli_{test}_{:x}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&base_url())
            .await
            .expect("connect to the test database (scripts/postgres/ensure.sh starts one)");
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create schema");
        let _ = conn.close().await;
        Schema { name }
    }

    /// The URL the binary gets: the test database with [`PASSWORD`] and
    /// this schema as its `search_path`.
    fn url(&self) -> String {
        url_with_password(&format!(
            "{}{}options=-csearch_path%3D{}",
            base_url(),
            if base_url().contains('?') { "&" } else { "?" },
            self.name
        ))
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = base_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// `url` with [`PASSWORD`] as the password of its user.
fn url_with_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, host) = rest.split_once('@').expect("a URL with a user");
    let user = user.split(':').next().unwrap_or(user);
    format!("{scheme}://{user}:{PASSWORD}@{host}")
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
    let env = env(&schema.url());
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
    let env = env(&schema.url());

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
