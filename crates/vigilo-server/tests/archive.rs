//! The raw event archive: every stored event lands in exactly one archived
//! file, a restart resumes from the stored position, files rotate by size,
//! no partial object is ever listed, and replay into a fresh server
//! reproduces the findings and stores nothing twice. Against the local
//! file store and a real S3-compatible server (s3s-fs, installed by
//! scripts/archive/s3.sh).
mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vigilo_server::config::Secret;
use vigilo_server::connectors::archive::{Archive, ArchiveConfig};
use vigilo_server::server::SharedState;

const T: &str = "2025-06-02T10:00:00Z";
const DEADLINE: Duration = Duration::from_secs(60);

/// A server on a data directory the test keeps, so it can be restarted.
struct Node {
    base: String,
    client: reqwest::Client,
    state: SharedState,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl Node {
    async fn boot(dir: &Path, archive: ArchiveConfig) -> Node {
        let mut config = test_config(dir);
        config.archive = Some(archive);
        let server = bind(dir, config).await;
        let addr = server.local_addr();
        let state = server.state();
        let key = make_key(&state, "tests", &[vigilo_auth::Scope::Admin]).await;
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Node {
            base: format!("http://{addr}"),
            client: client_with_key(&key),
            state,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    async fn ingest(&self, events: &[Value]) {
        for chunk in events.chunks(100) {
            let (status, body) = self.post("/api/v1/events", &json!(chunk)).await;
            assert_eq!(status, 202, "{body}");
        }
    }

    /// The archive's latest status report (null before the first).
    async fn archive_report(&self) -> Value {
        let r = self
            .client
            .get(format!("{}/api/v1/pipelines/archive", self.base))
            .send()
            .await
            .unwrap();
        if r.status() == 404 {
            return Value::Null;
        }
        let v: Value = r.json().await.unwrap();
        v["last_payload"].clone()
    }

    async fn event_total(&self) -> u64 {
        self.get("/api/v1/events?page_size=1").await["total"]
            .as_u64()
            .unwrap()
    }

    async fn wait_for_detection(&self) {
        let started = Instant::now();
        loop {
            // 503 while it catches up after a restart: not an error here.
            let r: Value = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if r["queue_depth"] == json!(0) && r["catching_up"] == json!(false) {
                return;
            }
            assert!(started.elapsed() < DEADLINE, "detection lags: {r}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// (rule_id, group, event_count) of every finding, sorted; the rules
    /// over Vigilo's own audit trail (fed by its sign-ins, not the
    /// replayed stream) left out.
    async fn findings(&self) -> Vec<(String, String, i64)> {
        let page = self.get("/api/v1/findings?page_size=500").await;
        let mut v: Vec<(String, String, i64)> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| {
                !f["rule_id"]
                    .as_str()
                    .unwrap()
                    .starts_with("identity.vigilo_")
            })
            .map(|f| {
                (
                    f["rule_id"].as_str().unwrap().to_string(),
                    f["group"].to_string(),
                    f["event_count"].as_i64().unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    }

    async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
    }
}

fn file_archive(dir: &Path) -> ArchiveConfig {
    ArchiveConfig {
        url: Some(Secret::new(dir.to_string_lossy())),
        max_file_age: "200ms".into(),
        ..ArchiveConfig::default()
    }
}

/// Plain events that trip no rule, numbered from `from`.
fn plain(from: usize, n: usize) -> Vec<Value> {
    (from..from + n)
        .map(|i| {
            json!({
                "timestamp": ts(T, i as i64), "service": "checkout", "level": "INFO",
                "message": format!("ok {i}"), "n": i,
            })
        })
        .collect()
}

/// A stream the bundled rules find things in: an ERROR spike, a hot slow
/// metric, failed logins then a success, an admin token without expiry.
fn incidents() -> Vec<Value> {
    let mut v = Vec::new();
    for i in 0..20 {
        v.push(json!({
            "timestamp": ts(T, i * 5), "service": "checkout", "level": "ERROR",
            "message": format!("boom {i}"),
        }));
    }
    v.push(json!({"timestamp": ts(T, 200), "service": "payments", "cpu": 95, "latency_ms": 1500}));
    for i in 0..3 {
        v.push(json!({"timestamp": ts(T, 300 + i * 60), "event_type": "login_failed", "user": "mallory", "ip": "10.0.0.9"}));
    }
    v.push(json!({"timestamp": ts(T, 480), "event_type": "login_success", "user": "mallory", "ip": "10.0.0.9"}));
    v.push(json!({
        "timestamp": ts(T, 600), "event_type": "api_token_created", "user": "trent",
        "scopes": ["read", "admin:*"], "has_expiry": false,
    }));
    v.extend(plain(1000, 60));
    v
}

/// Every archived file: (key, first id in the key, the ids inside).
async fn read_all(archive: &Archive) -> Vec<(String, i64, Vec<i64>)> {
    let mut out = Vec::new();
    for f in archive.list(None, None).await.unwrap() {
        let events = archive.read(&f.key).await.unwrap();
        out.push((
            f.key.clone(),
            f.first_id,
            events.iter().map(|e| e.id).collect(),
        ));
    }
    out
}

/// Every id once, 1..=n, in files whose key names their first id, each
/// file going on where the one before ended.
fn assert_exactly_once(files: &[(String, i64, Vec<i64>)], n: i64) {
    let mut all: Vec<i64> = Vec::new();
    let mut next = 1;
    for (key, first, ids) in files {
        assert!(!ids.is_empty(), "{key} is empty");
        assert_eq!(ids[0], *first, "{key} does not start at its first id");
        assert_eq!(*first, next, "{key} does not follow the file before");
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{key}: gaps");
        next = ids[ids.len() - 1] + 1;
        all.extend(ids.iter().copied());
    }
    let want: Vec<i64> = (1..=n).collect();
    assert_eq!(all, want, "the archive must hold ids 1..={n} once each");
}

async fn archive_position(state: &SharedState) -> i64 {
    state.storage.consumer_position("archive").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_archive_holds_every_event_once_rotates_and_resumes() {
    let data = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let mut cfg = file_archive(&store.path().join("raw"));
    // About 20 events per file.
    cfg.max_file_bytes = 4_000;
    cfg.max_file_age = "1h".into();
    let archive = Archive::open(&cfg).unwrap();

    // While the server writes, a reader lists and reads the archive over
    // and over: every object it sees decompresses whole.
    let writing = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (archive, writing, seen) = (archive.clone(), writing.clone(), seen.clone());
        tokio::spawn(async move {
            while writing.load(Ordering::Relaxed) {
                for f in archive.list(None, None).await.unwrap() {
                    match archive.read(&f.key).await {
                        Ok(events) => {
                            assert_eq!(events[0].id, f.first_id, "{}", f.key);
                            seen.fetch_add(1, Ordering::Relaxed);
                        }
                        // Overwritten or gone between the list and the get
                        // is not a partial object; anything else is.
                        Err(e) => assert!(e.to_string().contains("not found"), "{}: {e}", f.key),
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let node = Node::boot(data.path(), cfg.clone()).await;
    node.ingest(&plain(0, 400)).await;
    assert_eq!(node.event_total().await, 400);
    node.stop().await;
    writing.store(false, Ordering::Relaxed);
    watcher.await.unwrap();
    assert!(seen.load(Ordering::Relaxed) > 0, "the watcher read no file");

    let files = read_all(&archive).await;
    assert_exactly_once(&files, 400);
    assert!(files.len() >= 10, "size rotation: {} files", files.len());
    // Every file but the last reached the size limit.
    for f in &archive.list(None, None).await.unwrap()[..files.len() - 1] {
        let raw = archive.read(&f.key).await.unwrap();
        let bytes: usize = raw
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap().len() + 1)
            .sum();
        assert!((4_000..4_000 + 300).contains(&bytes), "{}: {bytes}", f.key);
    }
    // The object keys: PREFIX/YYYY/MM/DD/HH/<first-id>.ndjson.zst, the
    // hour the first event was received in.
    let first = &archive.list(None, None).await.unwrap()[0];
    let received = archive.read(&first.key).await.unwrap()[0].received_at;
    let want = format!("raw/{}/1.ndjson.zst", received.format("%Y/%m/%d/%H"));
    assert!(first.key.ends_with(&want), "{} is not …{want}", first.key);

    // A restart resumes from the stored position: nothing twice.
    let node = Node::boot(data.path(), cfg.clone()).await;
    assert_eq!(archive_position(&node.state).await, 400);
    node.ingest(&plain(400, 150)).await;
    node.stop().await;
    let files = read_all(&archive).await;
    assert_exactly_once(&files, 550);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_close_by_age_and_the_hub_shows_the_archive() {
    let data = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let cfg = file_archive(store.path());
    let archive = Archive::open(&cfg).unwrap();
    let node = Node::boot(data.path(), cfg).await;
    node.ingest(&plain(0, 30)).await;
    // Without a stop, the age limit closes the file.
    let started = Instant::now();
    loop {
        let files = read_all(&archive).await;
        if files.iter().map(|f| f.2.len()).sum::<usize>() == 30 {
            assert_exactly_once(&files, 30);
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "not archived by age: {files:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let started = Instant::now();
    loop {
        let p = node.archive_report().await;
        let last = &p;
        if last["events_archived"] == json!(30) {
            assert_eq!(last["lag"], json!(0), "{p}");
            assert_eq!(last["status"], json!("running"), "{p}");
            break;
        }
        assert!(started.elapsed() < DEADLINE, "no archive report: {p}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let metrics = node
        .client
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The recorder is global: other tests of this binary count too.
    let archived: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("vigilo_archive_events_total "))
        .unwrap_or_else(|| panic!("no vigilo_archive_events_total: {metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert!(archived >= 30.0, "{archived}");
    node.stop().await;
}

/// Archive `incidents()` with one server, replay into a fresh one twice.
async fn replay_round_trip(cfg: ArchiveConfig) {
    let a_dir = tempfile::tempdir().unwrap();
    let a = Node::boot(a_dir.path(), cfg.clone()).await;
    let stream = incidents();
    let n = stream.len() as i64;
    a.ingest(&stream).await;
    a.wait_for_detection().await;
    let want = a.findings().await;
    assert!(want.len() >= 4, "the stream should give findings: {want:?}");
    a.stop().await;
    let archive = Archive::open(&cfg).unwrap();
    assert_exactly_once(&read_all(&archive).await, n);

    // A fresh server that only reads the archive.
    let b_dir = tempfile::tempdir().unwrap();
    let b = Node::boot(
        b_dir.path(),
        ArchiveConfig {
            write: false,
            ..cfg.clone()
        },
    )
    .await;
    let now = chrono::Utc::now();
    let range = json!({
        "from": (now - chrono::Duration::hours(2)).to_rfc3339(),
        "to": (now + chrono::Duration::hours(1)).to_rfc3339(),
    });
    let (status, report) = b.post("/api/v1/archive/replay", &range).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["events_read"], json!(n), "{report}");
    assert_eq!(report["events_submitted"], json!(n), "{report}");
    assert_eq!(report["events_skipped"], json!(0), "{report}");
    b.wait_for_detection().await;
    assert_eq!(
        b.findings().await,
        want,
        "replay must reproduce the findings"
    );
    let stored = b.event_total().await;

    // Twice: nothing stored again, the findings unchanged.
    let (status, report) = b.post("/api/v1/archive/replay", &range).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["events_submitted"], json!(0), "{report}");
    assert_eq!(report["events_skipped"], json!(n), "{report}");
    b.wait_for_detection().await;
    assert_eq!(b.event_total().await, stored);
    assert_eq!(b.findings().await, want);

    // A range before the archive replays nothing.
    let (status, report) = b
        .post(
            "/api/v1/archive/replay",
            &json!({"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!((status, &report["files"]), (200, &json!(0)), "{report}");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_files_reproduces_the_findings_and_stores_once() {
    let store = tempfile::tempdir().unwrap();
    replay_round_trip(file_archive(store.path())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_for_admins_and_checks_its_range() {
    let store = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let node = Node::boot(data.path(), file_archive(store.path())).await;
    let (status, body) = node
        .post(
            "/api/v1/archive/replay",
            &json!({"from": "2025-06-02T10:00:00Z", "to": "2025-06-02T10:00:00Z"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], json!("invalid_request"));
    assert!(
        body["error"]["message"].as_str().unwrap().contains("`to`"),
        "{body}"
    );
    let key = make_key(&node.state, "ingester", &[vigilo_auth::Scope::Ingest]).await;
    let r = client_with_key(&key)
        .post(format!("{}/api/v1/archive/replay", node.base))
        .json(&json!({"from": "2025-06-02T10:00:00Z", "to": "2025-06-02T11:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    node.stop().await;

    // Without [archive]: not found, naming the key.
    let s = start().await;
    let r = s
        .post_json(
            "/api/v1/archive/replay",
            &json!({"from": "2025-06-02T10:00:00Z", "to": "2025-06-02T11:00:00Z"}),
        )
        .await;
    r.expect_error(404, "not_found");
    assert!(r.message().contains("archive.url"), "{}", r.text);
}

/// A local S3-compatible server (s3s-fs) on a free port, with a bucket.
struct S3 {
    child: Child,
    endpoint: String,
    _root: tempfile::TempDir,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3s_fs() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let installed = PathBuf::from(home).join(".cargo/bin/s3s-fs");
    if installed.exists() {
        installed
    } else {
        "s3s-fs".into()
    }
}

async fn start_s3(bucket: &str) -> S3 {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join(bucket)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(s3s_fs())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            "vigilo-test",
            "--secret-key",
            "vigilo-test-secret",
        ])
        .arg(root.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start s3s-fs ({e}); install it with scripts/archive/s3.sh")
        });
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "s3s-fs did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    S3 {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
        _root: root,
    }
}

fn s3_archive(s3: &S3) -> ArchiveConfig {
    ArchiveConfig {
        url: Some(Secret::new("s3://vigilo/events/raw")),
        endpoint: Some(s3.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some(Secret::new("vigilo-test")),
        secret_access_key: Some(Secret::new("vigilo-test-secret")),
        allow_http: true,
        max_file_age: "200ms".into(),
        ..ArchiveConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_archive_round_trip() {
    let s3 = start_s3("vigilo").await;
    let mut cfg = s3_archive(&s3);
    cfg.max_file_bytes = 8_000;
    let data = tempfile::tempdir().unwrap();
    let node = Node::boot(data.path(), cfg.clone()).await;
    node.ingest(&plain(0, 300)).await;
    node.stop().await;
    let archive = Archive::open(&cfg).unwrap();
    let files = read_all(&archive).await;
    assert_exactly_once(&files, 300);
    assert!(files.len() >= 5, "{} files", files.len());
    assert!(files[0].0.starts_with("events/raw/"), "{}", files[0].0);
    let node = Node::boot(data.path(), cfg.clone()).await;
    node.ingest(&plain(300, 50)).await;
    node.stop().await;
    assert_exactly_once(&read_all(&archive).await, 350);

    // Wrong credentials: the writer reports the error and keeps the
    // position (nothing is lost; it retries).
    let data = tempfile::tempdir().unwrap();
    let bad = ArchiveConfig {
        secret_access_key: Some(Secret::new("wrong")),
        url: Some(Secret::new("s3://vigilo/other")),
        ..cfg.clone()
    };
    let node = Node::boot(data.path(), bad).await;
    node.ingest(&plain(0, 5)).await;
    let started = Instant::now();
    loop {
        let p = node.archive_report().await;
        if p["status"] == json!("error") {
            let msg = p["last_error"].as_str().unwrap_or("").to_string();
            assert!(msg.contains("upload"), "{p}");
            assert!(!msg.contains("vigilo-test-secret"), "{p}");
            break;
        }
        assert!(started.elapsed() < DEADLINE, "no error report: {p}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(archive_position(&node.state).await, 0);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_replay_reproduces_the_findings_and_stores_once() {
    let s3 = start_s3("vigilo").await;
    replay_round_trip(s3_archive(&s3)).await;
}

/// Figures for the docs: how fast the writer drains a backlog, and how
/// well the files compress. `cargo test -p vigilo-server --test archive
/// -- --ignored --nocapture measure`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn measure_archive_throughput() {
    let data = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    let cfg = file_archive(store.path());
    let n = 50_000usize;
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let service = ["checkout", "payments", "auth"][i % 3];
            let level = ["INFO", "WARN", "ERROR"][i % 7 % 3];
            json!({
                "timestamp": ts(T, i as i64), "service": service, "level": level,
                "user": format!("user{}", i % 50),
                "message": format!("request {i} served in {} ms", i % 300),
                "latency_ms": i % 300, "path": format!("/api/v1/items/{}", i % 1000),
            })
        })
        .collect();
    // Stored first with the archive off, so the writer drains a backlog.
    let mut plain_cfg = cfg.clone();
    plain_cfg.write = false;
    let node = Node::boot(data.path(), plain_cfg).await;
    node.ingest(&events).await;
    node.wait_for_detection().await;
    node.stop().await;
    let started = Instant::now();
    let node = Node::boot(data.path(), cfg.clone()).await;
    let archive = Archive::open(&cfg).unwrap();
    loop {
        if archive_position(&node.state).await == n as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    node.stop().await;
    let files = archive.list(None, None).await.unwrap();
    let compressed: u64 = files.iter().map(|f| f.size).sum();
    let mut raw = 0usize;
    for f in &files {
        raw += archive
            .read(&f.key)
            .await
            .unwrap()
            .iter()
            .map(|e| serde_json::to_vec(e).unwrap().len() + 1)
            .sum::<usize>();
    }
    println!(
        "archived {n} events in {:.2}s ({:.0} events/s), {} files, {raw} bytes of NDJSON -> {compressed} bytes ({:.1}x)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        files.len(),
        raw as f64 / compressed as f64
    );
}
