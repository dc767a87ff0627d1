//! Ingest bounds its work before spending it: a body holding more events than
//! a request may carry is refused at once, with little memory, and large
//! bodies are decoded off the async workers so `/healthz` keeps answering.
//! Numbers are kept exactly as sent; `Content-Type` is parsed strictly.
//!
//! The server runs in this test process, so its memory is this process's
//! RSS; the tests here take one lock so none measures another's work.
mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tokio::sync::Mutex;

static SERIAL: Mutex<()> = Mutex::const_new(());

/// Events in the body: `[{},{},…]` just under 16 MiB.
const BOMB_EVENTS: usize = 5_592_000;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// `[{},{},…]` of `n` empty events, gzip-compressed.
fn bomb(n: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(n * 3 + 1);
    body.push(b'[');
    for i in 0..n {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{}");
    }
    body.push(b']');
    assert!(body.len() <= 16 << 20, "within the default body limit");
    gzip(&body)
}

/// Resident set size of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kb * 1024
}

async fn post_bomb(client: &reqwest::Client, url: &str, body: Vec<u8>) -> (u16, Value) {
    let r = client
        .post(url)
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn millions_of_empty_events_in_16_kb_of_gzip_are_refused_at_once() {
    let _serial = SERIAL.lock().await;
    let gz = bomb(BOMB_EVENTS);
    assert!(gz.len() < 20_000, "a {} byte body", gz.len());
    let s = start().await;
    let url = s.url("/api/v1/events");
    s.get("/healthz").await.expect_status(200); // a warm connection
    let before = rss();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let (status, body) = post_bomb(&s.client, &url, gz.clone()).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(status, 413, "{body}");
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("10000") && msg.contains("ingest.max_events_per_request"),
            "{msg}"
        );
    }
    let grown = rss().saturating_sub(before);
    eprintln!(
        "bomb of {} bytes: slowest refusal {slowest:?}, rss growth {} KiB",
        gz.len(),
        grown / 1024
    );
    assert!(slowest < Duration::from_millis(100), "took {slowest:?}");
    assert!(grown < 50 << 20, "rss grew by {grown} bytes");
    assert_eq!(s.event_total().await, 0);
}

/// Eight clients keep sending `bodies` while `/healthz` is probed; returns
/// the slowest probe and every answer the clients got.
async fn probe_health_under(
    s: &TestServer,
    bodies: Vec<(Vec<u8>, &'static str)>,
) -> (Duration, Vec<(u16, Value)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = tokio::task::JoinSet::new();
    for (body, content_type) in bodies {
        let client = client_with_key(&s.api_key);
        let url = s.url("/api/v1/events");
        let stop = stop.clone();
        clients.spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(&url)
                    .header("content-type", content_type)
                    .header("content-encoding", "gzip")
                    .body(body.clone())
                    .send()
                    .await
                    .expect("send");
                let status = r.status().as_u16();
                answers.push((status, r.json().await.unwrap_or(Value::Null)));
            }
            answers
        });
    }
    // Let every client get its first request in flight.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let health = client();
    let url = s.url("/healthz");
    health.get(&url).send().await.expect("warm"); // a warm connection
    let mut slowest = Duration::ZERO;
    for _ in 0..40 {
        let t = Instant::now();
        let r = health.get(&url).send().await.expect("healthz");
        assert_eq!(r.status(), 200);
        r.bytes().await.expect("healthz body");
        slowest = slowest.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut answers = Vec::new();
    while let Some(a) = clients.join_next().await {
        answers.extend(a.expect("client task"));
    }
    (slowest, answers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_eight_bombs_are_in_flight() {
    let _serial = SERIAL.lock().await;
    let gz = bomb(BOMB_EVENTS);
    let s = start().await;
    let (slowest, answers) = probe_health_under(&s, vec![(gz, "application/json"); 8]).await;
    eprintln!(
        "eight bomb senders: {} refusals, slowest /healthz {slowest:?}",
        answers.len()
    );
    assert!(answers.len() >= 8);
    // Refusals are fast enough that the senders also meet the ingest rate
    // limit; either refusal is right, nothing is accepted.
    for (status, body) in &answers {
        match *status {
            413 => assert_eq!(body["error"]["code"], "payload_too_large", "{body}"),
            429 => assert_eq!(body["error"]["code"], "rate_limited", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(answers.iter().any(|(s, _)| *s == 413));
    assert!(slowest < Duration::from_millis(50), "took {slowest:?}");
}

/// Large legitimate bodies (10,000 events, 4 MB inflated, the last event
/// invalid so nothing is stored) take real parsing: it happens on the
/// blocking pool, not on the workers that answer `/healthz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_eight_large_bodies_are_parsed() {
    let _serial = SERIAL.lock().await;
    let pad = "p".repeat(380);
    let mut nd: String = (0..9_999)
        .map(|i| format!("{{\"tag\":\"large\",\"i\":{i},\"pad\":\"{pad}\"}}\n"))
        .collect();
    nd.push_str("{\"tag\":\"large\",\"ts\":\"soon\"}\n");
    assert!(nd.len() > 4_000_000);
    let gz = gzip(nd.as_bytes());
    let s = start().await;
    let (slowest, answers) = probe_health_under(&s, vec![(gz, "application/x-ndjson"); 8]).await;
    let parsed = answers.iter().filter(|(st, _)| *st == 400).count();
    eprintln!(
        "eight large-body senders: {parsed} parsed, {} refused for budget, slowest /healthz {slowest:?}",
        answers.len() - parsed
    );
    assert!(parsed >= 8, "{parsed} bodies parsed");
    for (status, body) in &answers {
        match status {
            400 => {
                assert_eq!(body["error"]["code"], "invalid_events", "{body}");
                assert_eq!(body["error"]["details"][0]["index"], 9_999, "{body}");
            }
            503 => assert_eq!(body["error"]["code"], "overloaded", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(slowest < Duration::from_millis(50), "took {slowest:?}");
    assert_eq!(s.event_total().await, 0);
}

#[tokio::test]
async fn the_event_cap_is_configurable_and_never_above_the_queue() {
    let _serial = SERIAL.lock().await;
    let s = start_with(|c, _| c.ingest.max_events_per_request = 3).await;
    let four: Vec<Value> = (0..4).map(|i| json!({"i": i})).collect();
    let r = s.post_json("/api/v1/events", &Value::Array(four)).await;
    r.expect_error(413, "payload_too_large");
    assert!(
        r.message().contains("more than 3 events")
            && r.message().contains("ingest.max_events_per_request"),
        "{}",
        r.text
    );
    let nd = "{\"i\":1}\n{\"i\":2}\n\n{\"i\":3}\n{\"i\":4}\n";
    let r = s
        .post_raw("/api/v1/events", nd, Some("application/x-ndjson"), None)
        .await;
    r.expect_error(413, "payload_too_large");
    let three: Vec<Value> = (0..3).map(|i| json!({"i": i})).collect();
    assert_eq!(s.ingest(&Value::Array(three)).await, 3);
    assert_eq!(s.event_total().await, 3);

    // A queue smaller than the cap bounds it, and the message says so.
    let s = start_with(|c, _| {
        c.ingest.max_events_per_request = 100;
        c.ingest.queue_capacity = 4;
    })
    .await;
    let five: Vec<Value> = (0..5).map(|i| json!({"i": i})).collect();
    let r = s.post_json("/api/v1/events", &Value::Array(five)).await;
    r.expect_error(413, "payload_too_large");
    assert!(r.message().contains("ingest.queue_capacity"), "{}", r.text);
}

#[tokio::test]
async fn numbers_are_kept_exactly_as_sent_and_still_compare() {
    let _serial = SERIAL.lock().await;
    let s = start().await;
    // (amount as sent, as stored, whether anomaly.large_amount matches:
    // amount > 10000). Every digit is kept; an exponent is written `e+5`.
    let cases = [
        ("123456789012345678901234567890", None, true),
        ("0.1", None, false),
        ("10000", None, false),
        ("10000.01", None, true),
        ("1.50", None, false),
        ("-0", None, false),
        ("1E5", Some("1e+5"), true),
        ("12345678901234567890.123456789012345678901", None, true),
    ];
    let nd: String = cases
        .iter()
        .enumerate()
        .map(|(i, (raw, _, _))| {
            format!(
                "{{\"kind\":\"transaction\",\"transaction_id\":\"t{i}\",\"user_id\":\"u{i}\",\"amount\":{raw},\"ts\":1740830400}}\n"
            )
        })
        .collect();
    let r = s
        .post_raw("/api/v1/events", nd, Some("application/x-ndjson"), None)
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": cases.len()}));
    let list = s.get("/api/v1/events?page_size=500").await;
    let items = list.expect_status(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), cases.len());
    for e in &items {
        let one = s.get(&format!("/api/v1/events/{}", e["id"])).await;
        one.expect_status(200);
        let i: usize = e["payload"]["transaction_id"].as_str().unwrap()[1..]
            .parse()
            .unwrap();
        let (sent, stored, _) = cases[i];
        let want = format!("\"amount\":{}", stored.unwrap_or(sent));
        assert!(one.text.contains(&want), "want {want} in {}", one.text);
    }
    s.wait_for_detection().await;
    let mut matched: Vec<String> = s
        .findings("rule_id=anomaly.large_amount")
        .await
        .iter()
        .map(|f| {
            f["group"]["user_id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    matched.sort();
    let want: Vec<String> = cases
        .iter()
        .enumerate()
        .filter(|(_, (_, _, hit))| *hit)
        .map(|(i, _)| format!("u{i}"))
        .collect();
    assert_eq!(matched, want);
}

#[tokio::test]
async fn content_type_is_parsed_strictly() {
    let _serial = SERIAL.lock().await;
    let s = start().await;
    for ct in [
        ";",
        "garbage",
        "application/json/x",
        "application/json; charset=latin1",
        "text/plain",
        "application/json; charset",
    ] {
        let r = s
            .post_raw("/api/v1/events", "{\"a\":1}", Some(ct), None)
            .await;
        r.expect_error(415, "unsupported_media_type");
        assert!(r.message().contains("`content-type`"), "{ct}: {}", r.text);
    }
    for ct in [
        None,
        Some("application/json;"),
        Some("APPLICATION/JSON ; Charset=\"UTF-8\""),
    ] {
        let r = s.post_raw("/api/v1/events", "{\"a\":1}", ct, None).await;
        assert_eq!(r.expect_status(202), &json!({"accepted": 1}), "{ct:?}");
    }
    assert_eq!(s.event_total().await, 3);
}

#[tokio::test]
async fn the_openapi_declaration_of_ingest_is_complete() {
    let _serial = SERIAL.lock().await;
    let s = start().await;
    let doc = s.get("/api/openapi.json").await;
    let op = &doc.expect_status(200)["paths"]["/api/v1/events"]["post"];
    let content = &op["requestBody"]["content"];
    // An object or an array of objects, declared as a component.
    let reference = content["application/json"]["schema"]["$ref"]
        .as_str()
        .unwrap_or_default();
    let name = reference.rsplit('/').next().unwrap_or_default();
    let schema = &doc.body["components"]["schemas"][name];
    let kinds: Vec<&Value> = schema["oneOf"]
        .as_array()
        .map(|v| v.iter().map(|s| &s["type"]).collect())
        .unwrap_or_default();
    // One event (`EventInput`, an object with its well-known fields), or an
    // array of at least one.
    let event = "#/components/schemas/EventInput";
    assert_eq!(schema["oneOf"][0]["$ref"], event, "{schema}");
    assert_eq!(kinds[1], &json!("array"), "{schema}");
    assert_eq!(schema["oneOf"][1]["items"]["$ref"], event, "{schema}");
    assert_eq!(schema["oneOf"][1]["minItems"], 1, "{schema}");
    assert_eq!(
        doc.body["components"]["schemas"]["EventInput"]["type"],
        "object"
    );
    assert_eq!(
        content["application/x-ndjson"]["schema"]["type"], "string",
        "{op}"
    );
    let described = op["requestBody"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(described.contains("missing"), "{described}");
    for (status, codes) in [
        (
            "400",
            &["malformed_body", "invalid_events", "empty_batch"][..],
        ),
        ("413", &["payload_too_large", "event_too_large"]),
        ("415", &["unsupported_media_type", "unsupported_encoding"]),
        ("503", &["overloaded", "shutting_down"]),
    ] {
        let d = op["responses"][status]["description"]
            .as_str()
            .unwrap_or_default();
        for code in codes {
            assert!(d.contains(code), "{status} lacks {code}: {d}");
        }
    }
    assert!(op["responses"]["202"].is_object());
    assert!(
        op["responses"]["503"]["headers"]["Retry-After"].is_object(),
        "{op}"
    );
}
