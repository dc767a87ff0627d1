//! A tiny ingest server for the sender and load tests, and those tests.

use std::collections::HashSet;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

use crate::{GenConfig, GenError, LoadConfig, load, send};

#[derive(Default)]
struct Sink {
    /// Answer the next request with 503 + Retry-After.
    busy_once: AtomicBool,
    /// Answer every request with 400.
    reject: AtomicBool,
    /// Parse and check every line (off for raw throughput).
    parse: bool,
    events: AtomicU64,
    requests: AtomicU64,
    throttled: AtomicU64,
    txn_ids: Mutex<HashSet<String>>,
    duplicates: AtomicU64,
}

async fn ingest(State(sink): State<Arc<Sink>>, headers: HeaderMap, body: Bytes) -> Response {
    if sink.reject.load(Ordering::Relaxed) {
        return (StatusCode::BAD_REQUEST, r#"{"error":"invalid_field"}"#).into_response();
    }
    if sink.busy_once.swap(false, Ordering::SeqCst) {
        sink.throttled.fetch_add(1, Ordering::Relaxed);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            "busy",
        )
            .into_response();
    }
    let gz = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let raw: Vec<u8> = if gz {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return (StatusCode::BAD_REQUEST, "bad gzip").into_response();
        }
        out
    } else {
        body.to_vec()
    };
    let n = if sink.parse {
        assert_eq!(
            headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"application/x-ndjson"[..])
        );
        let mut n = 0u64;
        let mut ids = sink.txn_ids.lock().expect("lock");
        for line in raw.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let Ok(v) = serde_json::from_slice::<Value>(line) else {
                return (StatusCode::BAD_REQUEST, "bad json").into_response();
            };
            if let Some(id) = v.get("transaction_id").and_then(Value::as_str)
                && !ids.insert(id.to_string())
            {
                sink.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            n += 1;
        }
        n
    } else {
        raw.iter().filter(|&&b| b == b'\n').count() as u64
    };
    sink.events.fetch_add(n, Ordering::Relaxed);
    sink.requests.fetch_add(1, Ordering::Relaxed);
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"accepted":{n}}}"#),
    )
        .into_response()
}

async fn start(sink: Arc<Sink>) -> SocketAddr {
    let app = Router::new()
        .route("/api/v1/events", post(ingest))
        .with_state(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn parsing_sink() -> Arc<Sink> {
    Arc::new(Sink {
        parse: true,
        ..Sink::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_delivers_every_event_exactly_once() {
    for gzip in [false, true] {
        let sink = parsing_sink();
        sink.busy_once.store(true, Ordering::SeqCst);
        let addr = start(Arc::clone(&sink)).await;
        let cfg = GenConfig {
            rate: 2_000.0,
            incident_rate: 60.0,
            seed: Some(9),
            gzip,
            batch_interval: Duration::from_millis(100),
            ..GenConfig::default()
        };
        let report = send(
            &format!("http://{addr}"),
            cfg,
            Duration::from_secs(2),
            std::future::pending::<()>(),
        )
        .await
        .expect("send");
        assert_eq!(report.generated, 4_000, "gzip {gzip}: {report}");
        assert_eq!(report.accepted, report.generated);
        assert_eq!(sink.events.load(Ordering::SeqCst), report.generated);
        assert_eq!(sink.throttled.load(Ordering::SeqCst), 1);
        assert_eq!(report.throttled, 1);
        assert_eq!(sink.duplicates.load(Ordering::SeqCst), 0);
        assert_eq!(sink.requests.load(Ordering::SeqCst), report.requests);
        assert!(!report.to_string().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_stops_at_shutdown_and_on_rejection() {
    let sink = parsing_sink();
    let addr = start(Arc::clone(&sink)).await;
    let cfg = GenConfig {
        rate: 500.0,
        seed: Some(1),
        ..GenConfig::default()
    };
    let report = send(
        &format!("http://{addr}/"),
        cfg.clone(),
        Duration::ZERO,
        tokio::time::sleep(Duration::from_millis(700)),
    )
    .await
    .expect("send");
    assert!(
        report.generated > 100 && report.generated <= 400,
        "{report}"
    );
    assert_eq!(sink.events.load(Ordering::SeqCst), report.generated);

    sink.reject.store(true, Ordering::SeqCst);
    let err = send(
        &format!("http://{addr}"),
        cfg,
        Duration::from_secs(5),
        std::future::pending::<()>(),
    )
    .await
    .expect_err("4xx stops the sender");
    assert!(
        matches!(err, GenError::Rejected { status: 400, .. }),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_reports_what_the_server_accepted() {
    let sink = parsing_sink();
    sink.busy_once.store(true, Ordering::SeqCst);
    let addr = start(Arc::clone(&sink)).await;
    let report = load(LoadConfig {
        target: format!("http://{addr}"),
        batch_size: 200,
        concurrency: 2,
        duration: Duration::from_millis(1_500),
        gzip: true,
        pool_bodies: 8,
        seed: Some(2),
        receive_time: true,
        api_key: None,
        pool_rate: 2_000.0,
    })
    .await
    .expect("load");
    assert_eq!(
        report.events,
        sink.events.load(Ordering::SeqCst),
        "{report}"
    );
    assert_eq!(report.requests, sink.requests.load(Ordering::SeqCst));
    assert_eq!(report.events, report.requests * 200);
    assert_eq!(report.throttled, 1);
    assert_eq!(report.errors, 0);
    assert!(report.requests > 0 && report.p50 <= report.p99 && report.p99 <= report.max);
    assert!(report.to_string().contains("events/s"));
    // Every acknowledged event lands in the second it was answered in.
    assert_eq!(report.per_second.iter().sum::<u64>(), report.events);
    assert!(report.per_second.len() <= 2, "{:?}", report.per_second);
    // Shorter than one window: no window line.
    assert_eq!(report.window_extremes(), None);
    assert!(!report.to_string().contains("windows"));
}

/// The driver's own ceiling against a server that only counts lines.
/// `cargo test -p vigilo-gen --release -- --ignored --nocapture load_ceiling`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn load_ceiling() {
    let sink = Arc::new(Sink::default());
    let addr = start(Arc::clone(&sink)).await;
    for (gzip, concurrency) in [(false, 2), (false, 4), (true, 4)] {
        let report = load(LoadConfig {
            target: format!("http://{addr}"),
            batch_size: 1000,
            concurrency,
            duration: Duration::from_secs(5),
            gzip,
            pool_bodies: 64,
            seed: Some(1),
            receive_time: true,
            api_key: None,
            pool_rate: 100_000.0,
        })
        .await
        .expect("load");
        println!("{report}\n");
    }
}
