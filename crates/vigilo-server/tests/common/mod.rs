//! Shared helpers: a real server on 127.0.0.1:0 over a temporary database,
//! a small JSON client, and waiting for detection to catch up.
//!
//! The backend is `VIGILO_TEST_STORAGE`: `sqlite` (default; `vigilo.db` in
//! the test's data dir) or `postgres` (a schema of the test database named
//! after the data dir, so a server restarted on the same dir sees the same
//! data; see [`storage`]).
#![allow(dead_code)]

pub mod storage;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vigilo_server::server::SharedState;
use vigilo_server::{Config, Server};

/// How long any poll waits before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The IAM corpus document (relative to the repository root).
pub const IAM_AUTH_DETAILS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/iam/cloudmapper/iam-get-account-authorization-details.json"
);

/// One answer: status, headers and the body parsed as JSON (Null if not JSON).
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    async fn read(r: reqwest::Response) -> Resp {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.expect("read body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    pub fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// Assert an error answer with this status and code; returns self.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {}",
            self.text
        );
        self
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        &self.body
    }
}

pub struct TestServer {
    pub base: String,
    /// Sends `Authorization: Bearer <admin API key>` with every request.
    pub client: reqwest::Client,
    /// A client without credentials.
    pub anon: reqwest::Client,
    /// The admin API key `client` carries (scope `admin`).
    pub api_key: String,
    pub state: SharedState,
    pub dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    /// On postgres, drops the data dir's schema when the server goes.
    _schema: Option<storage::SchemaGuard>,
}

/// Default config for tests: ephemeral port, data in `dir`, bundled rules.
pub fn test_config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    }
}

/// Open the test backend's database for `dir` (see [`storage::open`]).
pub async fn open_storage(dir: &Path) -> Arc<dyn vigilo_storage::Storage> {
    storage::open(dir).await
}

/// Open the database for `dir` and bind a server (not yet running).
pub async fn bind(dir: &Path, config: Config) -> Server {
    Server::start(config, open_storage(dir).await)
        .await
        .expect("server starts")
}

/// Start a server with the default test config.
pub async fn start() -> TestServer {
    start_with(|_, _| {}).await
}

/// Start a server after `tweak` adjusts the config (given the temp dir).
pub async fn start_with(tweak: impl FnOnce(&mut Config, &Path)) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(dir.path());
    tweak(&mut config, dir.path());
    let server = bind(dir.path(), config).await;
    let addr = server.local_addr();
    let state = server.state();
    let api_key = make_key(&state, "tests", &[vigilo_auth::Scope::Admin]).await;
    let schema = storage::guard(dir.path());
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    TestServer {
        base: format!("http://{addr}"),
        client: client_with_key(&api_key),
        anon: client(),
        api_key,
        state,
        dir,
        shutdown: Some(tx),
        handle: Some(handle),
        _schema: schema,
    }
}

/// The password of users made by [`TestServer::login_as`].
pub const TEST_PASSWORD: &str = "correct violet staple";

/// Its argon2id hash, computed once per test binary.
pub fn test_password_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| vigilo_auth::password::hash(TEST_PASSWORD).expect("hash"))
}

/// A new API key with these scopes, made through storage as the CLI does.
pub async fn make_key(state: &SharedState, name: &str, scopes: &[vigilo_auth::Scope]) -> String {
    vigilo_server::auth::admin::make_key(state.storage.as_ref(), name, scopes, None, "tests")
        .await
        .expect("make api key")
        .1
}

/// A client that sends `Authorization: Bearer <key>`.
pub fn client_with_key(key: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().expect("header"),
    );
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_gzip()
        .default_headers(headers)
        .build()
        .expect("client")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .no_gzip()
        .build()
        .expect("client")
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Create user `name` with `role` (password [`TEST_PASSWORD`]) unless it
    /// exists, sign in through `POST /api/v1/auth/login`, and return its
    /// session token.
    pub async fn login_as(&self, name: &str, role: vigilo_auth::Role) -> String {
        if self
            .state
            .storage
            .get_user_by_name(name)
            .await
            .expect("read user")
            .is_none()
        {
            self.state
                .storage
                .create_user(vigilo_storage::NewUser {
                    username: name.to_string(),
                    role: role.as_str().to_string(),
                    email: None,
                    source: "password".into(),
                    oidc_subject: None,
                    password_hash: Some(test_password_hash().to_string()),
                    created_at: chrono::Utc::now(),
                })
                .await
                .expect("create user");
        }
        let r = self
            .send(
                self.anon
                    .post(self.url("/api/v1/auth/login"))
                    .json(&json!({"username": name, "password": TEST_PASSWORD})),
            )
            .await;
        r.expect_status(200)["token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// A client signed in as user `name` (created with `role` if missing).
    pub async fn user_client(&self, name: &str, role: vigilo_auth::Role) -> reqwest::Client {
        let token = self.login_as(name, role).await;
        client_with_key(&token)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        Resp::read(req.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.client.get(self.url(path))).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Resp {
        self.send(self.client.patch(self.url(path)).json(body))
            .await
    }

    /// POST raw bytes with optional content type and encoding.
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
        encoding: Option<&str>,
    ) -> Resp {
        let mut req = self.client.post(self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(enc) = encoding {
            req = req.header("content-encoding", enc);
        }
        self.send(req).await
    }

    /// POST events (object or array) and require 202 with the count.
    pub async fn ingest(&self, events: &Value) -> u64 {
        let r = self.post_json("/api/v1/events", events).await;
        assert_eq!(r.status, 202, "ingest failed: {}", r.text);
        r.body["accepted"].as_u64().expect("accepted count")
    }

    /// Total stored events (all time).
    pub async fn event_total(&self) -> u64 {
        let r = self.get("/api/v1/events?page_size=1").await;
        r.expect_status(200)["total"].as_u64().expect("total")
    }

    /// Total stored findings (all time).
    pub async fn finding_total(&self) -> u64 {
        let r = self.get("/api/v1/findings?page_size=1").await;
        r.expect_status(200)["total"].as_u64().expect("total")
    }

    /// Every finding matching `query` (up to 500).
    pub async fn findings(&self, query: &str) -> Vec<Value> {
        let sep = if query.is_empty() { "" } else { "&" };
        let r = self
            .get(&format!("/api/v1/findings?page_size=500{sep}{query}"))
            .await;
        r.expect_status(200)["items"]
            .as_array()
            .expect("items")
            .clone()
    }

    /// Wait until every accepted event has been through detection.
    pub async fn wait_for_detection(&self) {
        let started = Instant::now();
        loop {
            let r = self.get("/readyz").await;
            if r.body["queue_depth"] == json!(0) && r.body["catching_up"] == json!(false) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "detection did not catch up: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Trigger the shutdown future and wait for `run` to return.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.expect("server task").expect("server run");
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Wait until this server leads detection (`/readyz` says so).
    pub async fn wait_until_leading(&self) {
        let started = Instant::now();
        while self.get("/readyz").await.body["leading"] != json!(true) {
            assert!(
                started.elapsed() < DEADLINE,
                "the server never led detection"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A second server with `config` on this one's data dir (on
    /// PostgreSQL, the same schema), started once this one leads, so it
    /// follows.
    pub async fn start_follower(&self, config: Config) -> Follower {
        self.wait_until_leading().await;
        let server = bind(self.dir.path(), config).await;
        let base = format!("http://{}", server.local_addr());
        let state = server.state();
        assert!(
            !*state.pipeline.leading().borrow(),
            "the second server must not lead"
        );
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Follower {
            base,
            state,
            shutdown: tx,
            handle,
        }
    }
}

/// A server sharing another's database, from [`TestServer::start_follower`].
pub struct Follower {
    pub base: String,
    pub state: SharedState,
    shutdown: oneshot::Sender<()>,
    handle: JoinHandle<std::io::Result<()>>,
}

impl Follower {
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        self.handle.await.expect("server task").expect("server run");
    }
}

/// RFC 3339 for `secs` after `base` (an RFC 3339 UTC instant).
pub fn ts(base: &str, secs: i64) -> String {
    let t = chrono::DateTime::parse_from_rfc3339(base).expect("base time")
        + chrono::Duration::seconds(secs);
    t.with_timezone(&chrono::Utc)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Sorted (rule_id, group as JSON) pairs, for exact comparisons.
pub fn rule_groups(findings: &[Value]) -> Vec<(String, Value)> {
    let mut v: Vec<(String, Value)> = findings
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default().to_string(),
                f["group"].clone(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, a.1.to_string()).cmp(&(&b.0, b.1.to_string())));
    v
}

/// The finding with `rule_id` (exactly one must exist in `findings`).
#[track_caller]
pub fn only<'a>(findings: &'a [Value], rule_id: &str) -> &'a Value {
    let matching: Vec<&Value> = findings
        .iter()
        .filter(|f| f["rule_id"] == rule_id)
        .collect();
    assert_eq!(matching.len(), 1, "want one {rule_id}: {findings:#?}");
    matching[0]
}

/// Parse an RFC 3339 string from JSON for instant comparisons.
#[track_caller]
pub fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().expect("time string"))
        .expect("rfc 3339")
        .with_timezone(&chrono::Utc)
}
