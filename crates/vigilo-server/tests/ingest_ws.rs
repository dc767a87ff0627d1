//! WebSocket ingest against a real server: `/api/v1/ingest/ws` and
//! analytics dashboards' `/ws/ingest`. Every message is answered once its events are
//! stored; bad messages are answered and the connection goes on; the size
//! limit closes with 1009, the rate limit answers `rate_limited`, silent
//! and idle clients are closed. Clients connect with `?api_key=`; a bad or
//! missing key is refused at the handshake.

mod common;

use std::time::{Duration, Instant};

use common::{DEADLINE, TestServer, make_key, start, start_with};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};
use vigilo_auth::Scope;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const API: &str = "/api/v1/ingest/ws";
const DASHBOARD_PATH: &str = "/ws/ingest";

/// The WebSocket URL of `path`, with `?api_key=` as analytics dashboards' clients
/// send it.
fn ws_url(s: &TestServer, path: &str, key: &str) -> String {
    format!(
        "{}{path}?api_key={key}",
        s.base.replacen("http://", "ws://", 1)
    )
}

/// Connect with the test server's admin key.
async fn connect(s: &TestServer, path: &str) -> Ws {
    connect_with(s, path, &s.api_key).await
}

async fn connect_with(s: &TestServer, path: &str, key: &str) -> Ws {
    let (ws, resp) = connect_async(ws_url(s, path, key))
        .await
        .unwrap_or_else(|e| panic!("connect {path}: {e}"));
    assert_eq!(resp.status().as_u16(), 101);
    ws
}

/// A handshake the server refuses: its status and error code.
async fn refused(req: impl IntoClientRequest + Unpin) -> (u16, String) {
    match connect_async(req).await {
        Err(WsError::Http(resp)) => {
            let body: Value = resp
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().unwrap_or("<none>");
            (resp.status().as_u16(), code.to_string())
        }
        Err(e) => panic!("want an HTTP refusal, got {e}"),
        Ok(_) => panic!("want an HTTP refusal, got a connection"),
    }
}

async fn send(ws: &mut Ws, text: impl Into<String>) {
    ws.send(Message::text(text.into())).await.expect("send");
}

/// The next text message as JSON (pings and pongs skipped).
async fn reply(ws: &mut Ws) -> Value {
    let next = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str::<Value>(t.as_str()).expect("reply is JSON");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("want a reply, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, next)
        .await
        .expect("reply in time")
}

async fn ask(ws: &mut Ws, text: impl Into<String>) -> Value {
    send(ws, text).await;
    reply(ws).await
}

/// Read until the server's close frame: its code and reason.
async fn close_frame(ws: &mut Ws) -> (u16, String) {
    let next = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(f)))) => {
                    return (u16::from(f.code), f.reason.as_str().to_string());
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("want a close frame, got {other:?}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, next)
        .await
        .expect("closed in time")
}

#[track_caller]
fn expect_ok(r: &Value, accepted: u64) {
    assert_eq!(r, &json!({"ok": true, "accepted": accepted}), "{r}");
}

#[track_caller]
fn expect_refused<'a>(r: &'a Value, code: &str) -> &'a Value {
    assert_eq!(
        (&r["ok"], r["code"].as_str()),
        (&json!(false), Some(code)),
        "{r}"
    );
    assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{r}");
    r
}

async fn total(s: &TestServer, query: &str) -> u64 {
    let r = s.get(&format!("/api/v1/events?page_size=1&{query}")).await;
    r.expect_status(200)["total"].as_u64().expect("total")
}

#[tokio::test]
async fn events_stream_in_and_each_ack_means_stored() {
    let s = start().await;
    let mut ws = connect(&s, API).await;
    // Pipelined: twenty messages out, then twenty answers, in order.
    for i in 0..20 {
        send(
            &mut ws,
            json!({"kind": "log", "service": "api", "level": "INFO", "message": format!("stream-{i}")})
                .to_string(),
        )
        .await;
    }
    for _ in 0..20 {
        expect_ok(&reply(&mut ws).await, 1);
    }
    // An array is one message, one answer.
    let batch = json!([
        {"kind": "audit", "event_type": "login_success", "user": "ana", "tag": "batch-a"},
        {"kind": "audit", "event_type": "file_viewed", "user": "ana", "tag": "batch-a"},
        {"service": "db", "cpu": 91.5, "tag": "batch-a"},
    ]);
    expect_ok(&ask(&mut ws, batch.to_string()).await, 3);
    // Acknowledged means committed: each is listed right after its answer.
    for i in 0..5 {
        let marker = format!("ack-then-read-{i}");
        expect_ok(&ask(&mut ws, json!({"note": marker}).to_string()).await, 1);
        assert_eq!(total(&s, &format!("q={marker}")).await, 1, "{marker}");
    }
    assert_eq!(total(&s, "q=stream-").await, 20);
    assert_eq!(total(&s, "q=batch-a").await, 3);
    assert_eq!(total(&s, "q=batch-a&kind=metric").await, 1, "kind inferred");
    assert_eq!(s.event_total().await, 28);
    ws.close(None).await.expect("close");
}

#[tokio::test]
async fn bad_messages_are_answered_and_the_connection_goes_on() {
    let s = start_with(|c, _| c.ingest.max_event_bytes = 1024).await;
    let mut ws = connect(&s, API).await;
    expect_refused(&ask(&mut ws, "not json").await, "malformed_body");
    expect_ok(&ask(&mut ws, r#"{"n": 1}"#).await, 1);
    expect_refused(&ask(&mut ws, "").await, "empty_batch");
    expect_refused(&ask(&mut ws, "[]").await, "empty_batch");
    // One bad event refuses the whole message, every problem listed.
    let r = ask(&mut ws, r#"[{"n": 2}, 5, {"ts": "soon"}]"#).await;
    let details = &expect_refused(&r, "invalid_events")["details"];
    assert_eq!(details[0]["index"], 1);
    assert_eq!(details[0]["code"], "event_not_object");
    assert_eq!(details[1]["index"], 2);
    assert_eq!(details[1]["code"], "invalid_timestamp");
    let r = ask(&mut ws, json!({"kind": 7}).to_string()).await;
    assert_eq!(
        expect_refused(&r, "invalid_events")["details"][0]["code"],
        "invalid_field"
    );
    // The per-event limit, as over HTTP.
    let big = json!({"blob": "x".repeat(2000)}).to_string();
    let r = ask(&mut ws, big).await;
    let r = expect_refused(&r, "event_too_large");
    assert!(r["message"].as_str().is_some(), "{r}");
    // Binary frames are refused, not read.
    ws.send(Message::binary(br#"{"n": 3}"#.to_vec()))
        .await
        .expect("send binary");
    let r = reply(&mut ws).await;
    assert!(
        expect_refused(&r, "unsupported_media_type")["message"]
            .as_str()
            .is_some_and(|m| m.contains("text")),
        "{r}"
    );
    expect_ok(&ask(&mut ws, r#"[{"n": 4}, {"n": 5}]"#).await, 2);
    // Only the good messages were stored.
    assert_eq!(s.event_total().await, 3);
}

#[tokio::test]
async fn a_seed_004_sample_is_stored_as_a_metric_event() {
    let s = start().await;
    let mut ws = connect(&s, DASHBOARD_PATH).await;
    let sample = json!({"source_id": "sensor-7", "metric_name": "temperature", "value": 21.5,
        "timestamp": "2024-03-01T12:00:00Z"});
    expect_ok(&ask(&mut ws, sample.to_string()).await, 1);
    // Without a timestamp, and several at once.
    let more = json!([
        {"source_id": "sensor-7", "metric_name": "humidity", "value": 40},
        {"source_id": "sensor-8", "metric_name": "temperature", "value": 19},
    ]);
    expect_ok(&ask(&mut ws, more.to_string()).await, 2);
    let r = s.get("/api/v1/events?kind=metric&q=sensor-7").await;
    let items = r.expect_status(200)["items"]
        .as_array()
        .expect("items")
        .clone();
    assert_eq!(items.len(), 2, "{items:?}");
    let first = items
        .iter()
        .find(|e| e["payload"]["metric_name"] == "temperature")
        .expect("the first sample");
    assert_eq!(first["kind"], "metric");
    assert_eq!(first["timestamp"], "2024-03-01T12:00:00Z");
    assert_eq!(first["payload"]["source_id"], "sensor-7");
    assert_eq!(first["payload"]["value"], 21.5);
    assert_eq!(total(&s, "kind=metric").await, 3);
    // A sample that names its own kind keeps it.
    let own = json!({"kind": "reading", "source_id": "s", "metric_name": "m", "value": 1});
    expect_ok(&ask(&mut ws, own.to_string()).await, 1);
    assert_eq!(total(&s, "kind=reading").await, 1);
}

#[tokio::test]
async fn a_message_over_the_body_limit_closes_with_1009() {
    let s = start_with(|c, _| {
        c.ingest.max_body_bytes = 64 * 1024;
        c.ingest.max_event_bytes = 256 * 1024;
    })
    .await;
    let mut ws = connect(&s, API).await;
    // At the limit is fine.
    let pad = 64 * 1024 - r#"{"p":""}"#.len();
    let at = json!({"p": "x".repeat(pad)}).to_string();
    assert_eq!(at.len(), 64 * 1024);
    expect_ok(&ask(&mut ws, at).await, 1);
    // One byte over is not.
    let over = json!({"p": "x".repeat(pad + 1)}).to_string();
    let _ = ws.send(Message::text(over)).await;
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Size), "{reason}");
    assert!(reason.contains("ingest.max_body_bytes"), "{reason}");
    assert_eq!(s.event_total().await, 1);
}

#[tokio::test]
async fn the_message_rate_limit_answers_rate_limited_and_keeps_the_connection() {
    let s = start_with(|c, _| {
        c.ingest.ws.max_messages_per_sec = 2;
        c.ingest.ws.max_events_per_sec = 0;
    })
    .await;
    let mut ws = connect(&s, API).await;
    let started = Instant::now();
    for i in 0..8 {
        send(&mut ws, json!({"rate": i}).to_string()).await;
    }
    let mut answers = Vec::new();
    for _ in 0..8 {
        answers.push(reply(&mut ws).await);
    }
    let elapsed = started.elapsed().as_secs_f64();
    expect_ok(&answers[0], 1);
    expect_ok(&answers[1], 1);
    let accepted = answers.iter().filter(|a| a["ok"] == true).count();
    // The burst of two, and what refilled meanwhile (two a second).
    assert!(
        accepted as f64 <= 2.0 + (elapsed * 2.0).ceil(),
        "{accepted} in {elapsed} s"
    );
    let limited: Vec<&Value> = answers.iter().filter(|a| a["ok"] == false).collect();
    assert!(!limited.is_empty(), "{answers:?}");
    let mut wait = 0;
    for r in &limited {
        let msg = expect_refused(r, "rate_limited")["message"]
            .as_str()
            .unwrap_or("");
        assert!(msg.contains("ingest.ws.max_messages_per_sec"), "{r}");
        let ms = r["retry_after_ms"].as_u64().expect("retry_after_ms");
        assert!((1..=500).contains(&ms), "{r}");
        wait = wait.max(ms);
    }
    // Refused messages were dropped; after the advertised wait the
    // connection takes messages again.
    assert_eq!(total(&s, "q=rate").await, accepted as u64);
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    expect_ok(&ask(&mut ws, r#"{"rate": "again"}"#).await, 1);
}

#[tokio::test]
async fn the_event_rate_limit_counts_events_not_messages() {
    let s = start_with(|c, _| {
        c.ingest.ws.max_messages_per_sec = 0;
        c.ingest.ws.max_events_per_sec = 10;
    })
    .await;
    let mut ws = connect(&s, DASHBOARD_PATH).await;
    // A message within the allowance is taken whole, overdrawing it...
    let thirty: Vec<Value> = (0..30).map(|i| json!({"burst": i})).collect();
    expect_ok(&ask(&mut ws, Value::Array(thirty).to_string()).await, 30);
    // ... so the next is refused for about the two seconds it owes.
    let r = ask(&mut ws, r#"{"burst": "next"}"#).await;
    let r = expect_refused(&r, "rate_limited");
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("ingest.ws.max_events_per_sec")),
        "{r}"
    );
    let ms = r["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1000..=2000).contains(&ms), "{r}");
    assert_eq!(total(&s, "q=burst").await, 30);
}

#[tokio::test]
async fn a_client_that_misses_pongs_is_closed_and_one_that_answers_is_not() {
    let s = start_with(|c, _| {
        c.ingest.ws.ping_interval_secs = 1;
        c.ingest.ws.max_missed_pongs = 1;
    })
    .await;
    let mut ws = connect(&s, API).await;
    // Reading answers the pings (the client library sends the pongs).
    let mut pings = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(2600);
    while let Ok(next) = tokio::time::timeout_at(until, ws.next()).await {
        match next {
            Some(Ok(Message::Ping(_))) => pings += 1,
            other => panic!("an answering client stays connected: {other:?}"),
        }
    }
    assert!(pings >= 2, "{pings} pings");
    expect_ok(&ask(&mut ws, r#"{"alive": true}"#).await, 1);
    // Not reading, it cannot answer: closed at the next ping time but one.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Policy), "{reason}");
    assert!(reason.contains("unanswered"), "{reason}");
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let s = start_with(|c, _| {
        c.ingest.ws.idle_timeout_secs = 1;
        c.ingest.ws.ping_interval_secs = 0;
    })
    .await;
    let mut ws = connect(&s, API).await;
    // Messages keep it open ...
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        expect_ok(&ask(&mut ws, r#"{"idle": false}"#).await, 1);
    }
    // ... silence does not.
    let started = Instant::now();
    let (code, reason) = close_frame(&mut ws).await;
    assert_eq!(code, u16::from(CloseCode::Normal), "{reason}");
    assert!(reason.contains("idle"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_page_on_another_origin_is_refused_at_the_handshake() {
    let s = start().await;
    let with_origin = |origin: &str| {
        let mut req = ws_url(&s, API, &s.api_key)
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("origin", origin.parse().expect("header value"));
        req
    };
    assert_eq!(
        refused(with_origin("https://evil.example")).await,
        (403, "forbidden".to_string())
    );
    // The server's own origin is fine.
    let own = s.base.clone();
    let (mut ws, _) = connect_async(with_origin(&own)).await.expect("own origin");
    expect_ok(&ask(&mut ws, r#"{"from": "the dashboard"}"#).await, 1);
}

#[tokio::test]
async fn the_handshake_needs_a_key_that_may_send_events() {
    let s = start().await;
    for path in [API, DASHBOARD_PATH] {
        let bare = format!("{}{path}", s.base.replacen("http://", "ws://", 1));
        assert_eq!(refused(bare).await, (401, "unauthenticated".to_string()));
        let bad = ws_url(&s, path, "vgl_not_a_key");
        assert_eq!(refused(bad).await, (401, "invalid_token".to_string()));
    }
    let read = make_key(&s.state, "reader", &[Scope::Read]).await;
    assert_eq!(
        refused(ws_url(&s, DASHBOARD_PATH, &read)).await,
        (403, "forbidden".to_string())
    );
    // An ingest key, in the query or in a header.
    let ingest = make_key(&s.state, "sensors", &[Scope::Ingest]).await;
    let mut ws = connect_with(&s, DASHBOARD_PATH, &ingest).await;
    expect_ok(&ask(&mut ws, r#"{"with": "query key"}"#).await, 1);
    let url = format!("{}{API}", s.base.replacen("http://", "ws://", 1));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {ingest}").parse().expect("header value"),
    );
    let (mut ws, _) = connect_async(req).await.expect("header key");
    expect_ok(&ask(&mut ws, r#"{"with": "header key"}"#).await, 1);
    // Nothing refused was stored.
    assert_eq!(s.event_total().await, 2);
}

#[tokio::test]
async fn a_plain_get_is_refused_and_the_routes_are_documented() {
    let s = start().await;
    for path in [API, DASHBOARD_PATH] {
        s.get(path).await.expect_error(400, "invalid_request");
    }
    let spec = s.get("/api/openapi.json").await;
    let spec = spec.expect_status(200);
    for path in [API, DASHBOARD_PATH] {
        let op = &spec["paths"][path]["get"];
        assert!(op["responses"]["101"].is_object(), "{path}: {op}");
        assert_eq!(op["parameters"][0]["name"], "api_key", "{path}: {op}");
    }
}

#[tokio::test]
async fn an_open_connection_does_not_hold_up_shutdown() {
    let mut s = start().await;
    let mut ws = connect(&s, API).await;
    expect_ok(&ask(&mut ws, r#"{"before": "shutdown"}"#).await, 1);
    tokio::time::timeout(Duration::from_secs(10), s.stop())
        .await
        .expect("the server stops with a connection open");
    // The connection is still answered: later messages are refused.
    let r = ask(&mut ws, r#"{"after": "shutdown"}"#).await;
    assert_eq!(expect_refused(&r, "shutting_down")["retry_after_ms"], 5000);
}
