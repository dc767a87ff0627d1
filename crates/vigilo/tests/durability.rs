//! The real binary under load: SIGTERM flushes everything acknowledged and
//! exits 0; SIGKILL loses nothing acknowledged, and a restart evaluates what
//! detection had not reached. Each on SQLite and on PostgreSQL.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::backend::Backend;
use common::{ServerProcess, api_key_with_env, client_with_key, get_json, wait_for_detection};
use serde_json::json;
use tokio::sync::Mutex;
use vigilo_storage::Storage;

const BATCH: usize = 200;

/// Post batches from `workers` tasks until `stop`; returns the acknowledged
/// (worker, request) pairs.
async fn load(
    url: String,
    key: String,
    workers: usize,
    stop: Arc<AtomicBool>,
) -> HashSet<(usize, usize)> {
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for w in 0..workers {
        let url = url.clone();
        let stop = stop.clone();
        let acked = acked.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let client = client_with_key(&key);
            let mut req = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let body: String = (0..BATCH)
                    .map(|i| {
                        json!({"kind": "log", "level": "INFO", "service": format!("svc{w}"),
                               "message": "ok", "w": w, "req": req, "i": i})
                        .to_string()
                            + "\n"
                    })
                    .collect();
                let resp = client
                    .post(format!("{url}/api/v1/events"))
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == 202 => {
                        acked.lock().await.insert((w, req));
                    }
                    Ok(r) if r.status() == 503 => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The server went away: stop this worker.
                    Err(_) => break,
                }
                req += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    Arc::try_unwrap(acked).expect("no other owner").into_inner()
}

/// (worker, request) → events stored for it.
async fn stored_requests(
    store: &dyn Storage,
) -> (std::collections::HashMap<(usize, usize), usize>, i64) {
    let mut by_req = std::collections::HashMap::new();
    let mut after = 0;
    let mut max_id = 0;
    loop {
        let events = store
            .events_after(after, 10_000)
            .await
            .expect("events_after");
        let Some(last) = events.last() else { break };
        after = last.id;
        for e in &events {
            max_id = max_id.max(e.id);
            let w = e.payload["w"].as_u64().expect("w") as usize;
            let r = e.payload["req"].as_u64().expect("req") as usize;
            *by_req.entry((w, r)).or_insert(0) += 1;
        }
    }
    (by_req, max_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_flushes_everything_acknowledged_and_exits_zero_on_sqlite() {
    sigterm_mid_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_load_flushes_everything_acknowledged_and_exits_zero_on_postgres() {
    sigterm_mid_load(Backend::postgres("sigterm").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_nothing_acknowledged_and_restart_catches_up_on_sqlite() {
    sigkill_mid_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_load_loses_nothing_acknowledged_and_restart_catches_up_on_postgres() {
    sigkill_mid_load(Backend::postgres("sigkill").await).await;
}

async fn sigterm_mid_load(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let env = backend.env();
    let env = Backend::env_refs(&env);
    let key = api_key_with_env(dir.path(), "ingest,read", &env);
    let server = ServerProcess::start_with_env(dir.path(), &[], &env);
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(server.url.clone(), key.clone(), 4, stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal(libc::SIGTERM);
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(60)))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked = loader.await.unwrap();
    assert_eq!(status.code(), Some(0), "graceful exit");
    assert!(
        acked.len() > 10,
        "the load ran ({} requests acknowledged)",
        acked.len()
    );

    let store = backend.open(dir.path()).await;
    let (stored, max_id) = stored_requests(store.as_ref()).await;
    for req in &acked {
        assert_eq!(
            stored.get(req),
            Some(&BATCH),
            "acknowledged request {req:?} fully stored"
        );
    }
    // Nothing partial: every stored request is whole.
    assert!(stored.values().all(|n| *n == BATCH));
    // Everything stored was evaluated before exit.
    assert_eq!(store.detection_watermark().await.unwrap(), max_id);
}

async fn sigkill_mid_load(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let env = backend.env();
    let env = Backend::env_refs(&env);
    let key = api_key_with_env(dir.path(), "ingest,read", &env);
    let server = ServerProcess::start_with_env(dir.path(), &[], &env);
    let stop = Arc::new(AtomicBool::new(false));
    let loader = tokio::spawn(load(server.url.clone(), key.clone(), 4, stop.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.signal(libc::SIGKILL);
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(30)))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked = loader.await.unwrap();
    assert!(!status.success());
    assert!(
        acked.len() > 10,
        "the load ran ({} requests acknowledged)",
        acked.len()
    );
    {
        let store = backend.open(dir.path()).await;
        let (stored, _) = stored_requests(store.as_ref()).await;
        for req in &acked {
            assert_eq!(
                stored.get(req),
                Some(&BATCH),
                "acknowledged request {req:?} survived kill -9"
            );
        }
        assert!(
            stored.values().all(|n| *n == BATCH),
            "no partial request stored"
        );
    }
    // Restart: detection resumes from its watermark and reaches the end.
    let server = ServerProcess::start_with_env(dir.path(), &[], &env);
    let client = client_with_key(&key);
    wait_for_detection(&client, &server.url).await;
    let store = backend.open(dir.path()).await;
    let (_, max_id) = stored_requests(store.as_ref()).await;
    assert_eq!(store.detection_watermark().await.unwrap(), max_id);
    let health = get_json(&client, &format!("{}/healthz", server.url)).await;
    assert_eq!(health["status"], "ok");
}
