//! WebSocket ingest: `GET /api/v1/ingest/ws`, and `GET /ws/ingest` for
//! analytics dashboards' clients (`/ws/ingest?api_key=…`).
//!
//! Each text message is one batch: a JSON event object or an array of them,
//! decoded, validated and stored by the same path as `POST /api/v1/events`
//! (the same limits, decode budget, pipeline and error codes). Every message
//! is answered, in order, once its events are committed:
//! `{"ok": true, "accepted": N}`, or
//! `{"ok": false, "code", "message", "details"?, "retry_after_ms"?}` with
//! nothing stored. A bad message leaves the connection open.
//!
//! The connection is kept honest by the server's pings (a client missing
//! `ingest.ws.max_missed_pongs` of them is closed with 1008), an idle
//! timeout (1000), a per-connection rate limit on messages and events
//! (answered `rate_limited`, the message dropped) and the body limit
//! `ingest.max_body_bytes` per message (closed with 1009). A browser page
//! may connect only from the server's own origin or one in `cors_origins`.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;
use tokio::time::Instant;
use vigilo_core::{ErrorCode, NewEvent};

use super::State;
use crate::config::IngestWsConfig;
use crate::error::{ApiError, ErrorDetail};
use crate::ingest::{self, Encoding, Format, Limits, Media};
use crate::server::AppState;

/// How long a closing connection waits for the client's close frame (or,
/// after an over-size message, lets the client read the server's) before it
/// is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Open WebSocket ingest connections.
const CONNECTIONS_GAUGE: &str = "vigilo_ingest_ws_connections";
/// Messages received, by `result`: `accepted`, `rejected`, `rate_limited`.
const MESSAGES_COUNTER: &str = "vigilo_ingest_ws_messages_total";

/// Stream events over a WebSocket. Each text message is one event object or
/// an array of them and is answered, in order, once stored:
/// `{"ok": true, "accepted": N}`, or `{"ok": false, "code", "message",
/// "details"?, "retry_after_ms"?}` with nothing of that message stored (the
/// codes of `POST /api/v1/events`, and `rate_limited`); the connection stays
/// open after a bad message. An analytics dashboard's sample `{"source_id", "metric_name",
/// "value", "timestamp"?}` is stored as a `metric` event, its fields kept.
/// Binary messages are answered `unsupported_media_type`. A message over
/// `ingest.max_body_bytes` closes the connection with 1009; the server pings
/// every `ingest.ws.ping_interval_secs` and closes a client that misses
/// `ingest.ws.max_missed_pongs` of them (1008), closes a connection idle for
/// `ingest.ws.idle_timeout_secs` (1000), and answers `rate_limited` past
/// `ingest.ws.max_messages_per_sec` or `ingest.ws.max_events_per_sec`. A
/// handshake with an `Origin` (a browser page) is taken only from the
/// server's own origin or one listed in `cors_origins`.
#[utoipa::path(get, path = "/api/v1/ingest/ws", tag = "events",
    params(("api_key" = Option<String>, Query, description = "An API key allowed to send \
        events, for clients that cannot set headers; otherwise the usual credentials"),
        super::events::IngestLogsourceParams, super::events::IngestLogsourceHeader),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; messages as described"),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_logsource, \
            invalid_query: the connection's logsource is malformed (as for `POST /api/v1/events`); \
            invalid_request: not a WebSocket handshake (a GET with `Connection: upgrade`, `Upgrade: websocket`, \
            `Sec-WebSocket-Version: 13` and a `Sec-WebSocket-Key`)"),
        (status = 401, body = crate::error::ErrorResponse, description = "unauthenticated, \
            invalid_token: no credentials, or a bad `api_key`; refused before the upgrade"),
        (status = 403, body = crate::error::ErrorResponse, description = "forbidden: the \
            credentials may not send events, or a browser page's `Origin` is neither the \
            server's own nor listed in `cors_origins`"),
    ))]
pub async fn ingest(
    axum::extract::State(state): State,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade(state, &headers, query.as_deref(), ws, "/api/v1/ingest/ws")
}

/// The WebSocket ingest path of analytics dashboards' clients: the same protocol as
/// `/api/v1/ingest/ws`; its clients connect with `?api_key=…`.
#[utoipa::path(get, path = "/ws/ingest", tag = "events",
    params(("api_key" = Option<String>, Query, description = "An API key allowed to send \
        events, as analytics dashboards' clients pass it; otherwise the usual credentials"),
        super::events::IngestLogsourceParams, super::events::IngestLogsourceHeader),
    responses(
        (status = 101, description = "Switched to the WebSocket protocol; messages as for \
            `/api/v1/ingest/ws`"),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_logsource, \
            invalid_query: the connection's logsource is malformed; invalid_request: not a \
            WebSocket handshake"),
        (status = 401, body = crate::error::ErrorResponse, description = "unauthenticated, \
            invalid_token: no credentials, or a bad `api_key`; refused before the upgrade"),
        (status = 403, body = crate::error::ErrorResponse, description = "forbidden: the \
            credentials may not send events, or a browser page's `Origin` is neither the \
            server's own nor listed in `cors_origins`"),
    ))]
pub async fn dashboard_ingest(
    axum::extract::State(state): State,
    headers: HeaderMap,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    upgrade(state, &headers, query.as_deref(), ws, "/ws/ingest")
}

/// Whether a browser page's `Origin` may open an ingest connection: the
/// server's own origin (its authority is the `Host` the request names) or
/// one listed in `cors_origins`. Clients other than browsers send no
/// `Origin` and are not asked. This keeps a page on another site from
/// writing events with a signed-in user's cookie.
fn origin_allowed(headers: &HeaderMap, cors_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/');
    if cors_origins
        .iter()
        .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h.trim()))
}

fn upgrade(
    state: crate::server::SharedState,
    headers: &HeaderMap,
    query: Option<&str>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    route: &'static str,
) -> Response {
    if !origin_allowed(headers, &state.config.cors_origins) {
        return ApiError::new(
            ErrorCode::Forbidden,
            "this page's origin may not open an ingest connection: only the server's own \
             origin and those in cors_origins may",
        )
        .into_response();
    }
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "not a WebSocket handshake ({}); connect with a WebSocket client",
                    rejection.body_text().trim_end_matches('.')
                ),
            )
            .into_response();
        }
    };
    // The connection's logsource, for every message's events.
    let source = match ingest::request_logsource(query, headers, &["api_key"]) {
        Ok(source) => source,
        Err(e) => return e.into_response(),
    };
    let limit = state.config.ingest.max_body_bytes.max(1);
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_failed_upgrade(move |e| {
            tracing::debug!(route, error = %e, "ingest websocket upgrade failed");
        })
        .on_upgrade(move |socket| serve(socket, state, route, source))
}

/// A token bucket refilled at `rate` a second, holding at most `rate`.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// `None` when `rate` is 0 (no limit).
    fn new(rate: u32, now: Instant) -> Option<Self> {
        (rate > 0).then(|| Bucket {
            rate: f64::from(rate),
            tokens: f64::from(rate),
            at: now,
        })
    }

    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + secs * self.rate).min(self.rate);
        self.at = now;
    }

    /// Milliseconds until the bucket holds at least `need` (0 if it does).
    fn wait_ms(&self, need: f64) -> u64 {
        let short = need - self.tokens;
        if short <= 0.0 {
            0
        } else {
            (short / self.rate * 1000.0).ceil() as u64
        }
    }
}

/// One connection's allowance of messages and events.
#[derive(Debug)]
struct RateLimit {
    messages: Option<Bucket>,
    events: Option<Bucket>,
}

impl RateLimit {
    fn new(cfg: &IngestWsConfig) -> Self {
        let now = Instant::now();
        RateLimit {
            messages: Bucket::new(cfg.max_messages_per_sec, now),
            events: Bucket::new(cfg.max_events_per_sec, now),
        }
    }

    /// Take one message, if the message allowance has one and the event
    /// allowance is not overdrawn; else how long to wait (ms) and why.
    fn admit(&mut self, now: Instant) -> Result<(), (u64, &'static str)> {
        let mut wait = None;
        if let Some(m) = &mut self.messages {
            m.refill(now);
            if m.tokens < 1.0 {
                wait = Some((m.wait_ms(1.0), "ingest.ws.max_messages_per_sec"));
            }
        }
        if let Some(e) = &mut self.events {
            e.refill(now);
            if wait.is_none() && e.tokens <= 0.0 {
                // Strictly positive, so the next message is taken.
                wait = Some((
                    e.wait_ms(f64::MIN_POSITIVE).max(1),
                    "ingest.ws.max_events_per_sec",
                ));
            }
        }
        if let Some(w) = wait {
            return Err(w);
        }
        if let Some(m) = &mut self.messages {
            m.tokens -= 1.0;
        }
        Ok(())
    }

    /// Draw `n` events (the allowance may go below zero).
    fn draw(&mut self, n: usize) {
        if let Some(e) = &mut self.events {
            e.tokens -= n as f64;
        }
    }
}

/// The answer to one message.
#[derive(Debug, Serialize)]
struct Reply {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    details: Vec<ErrorDetail>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after_ms: Option<u64>,
}

impl Reply {
    fn accepted(n: usize) -> Self {
        Reply {
            ok: true,
            accepted: Some(n),
            code: None,
            message: None,
            details: Vec::new(),
            retry_after_ms: None,
        }
    }

    fn refused(code: &'static str, message: String) -> Self {
        Reply {
            ok: false,
            accepted: None,
            code: Some(code),
            message: Some(message),
            details: Vec::new(),
            retry_after_ms: None,
        }
    }

    fn from_error(e: ApiError) -> Self {
        Reply {
            details: e.details,
            retry_after_ms: e.retry_after.map(|s| s.saturating_mul(1000)),
            ..Reply::refused(e.code.code(), e.message)
        }
    }

    fn text(&self) -> Message {
        // A struct of strings and numbers always serializes.
        let text = serde_json::to_string(self)
            .unwrap_or_else(|_| r#"{"ok":false,"code":"internal"}"#.to_string());
        Message::Text(text.into())
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The client closed (or the stream ended).
    Client,
    /// The connection failed (reset, protocol error, send failure).
    Broken(String),
    /// A message over `ingest.max_body_bytes`.
    TooBig,
    /// The client left too many pings unanswered.
    NoPong,
    /// No message for `ingest.ws.idle_timeout_secs`.
    Idle,
}

/// Whether a receive error is tungstenite's message or frame size limit.
/// axum keeps the error type private; its text is tungstenite's
/// `Space limit exceeded: Message too long: N > M` (the integration test
/// checks the close code this leads to).
fn is_too_long(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Message too long") || text.contains("Space limit exceeded")
}

async fn tick(ticker: &mut Option<tokio::time::Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn serve(
    mut socket: WebSocket,
    state: crate::server::SharedState,
    route: &'static str,
    source: vigilo_core::Logsource,
) {
    let cfg = state.config.ingest.ws.clone();
    let logsource = ingest::LogsourceContext::new(source, state.config.logsources.rules.clone());
    let mut ticker = (cfg.ping_interval_secs > 0).then(|| {
        let every = Duration::from_secs(cfg.ping_interval_secs);
        let mut t = tokio::time::interval_at(Instant::now() + every, every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let idle = (cfg.idle_timeout_secs > 0).then(|| Duration::from_secs(cfg.idle_timeout_secs));
    let max_missed = cfg.max_missed_pongs.max(1);
    let mut limit = RateLimit::new(&cfg);
    let mut last_message = Instant::now();
    let mut unanswered = 0u32;
    let (mut messages, mut accepted) = (0u64, 0u64);
    metrics::gauge!(CONNECTIONS_GAUGE).increment(1.0);
    tracing::debug!(route, "ingest websocket opened");

    let end = loop {
        tokio::select! {
            biased;
            received = socket.recv() => {
                let msg = match received {
                    None => break End::Client,
                    Some(Err(e)) if is_too_long(&e) => break End::TooBig,
                    Some(Err(e)) => break End::Broken(e.to_string()),
                    Some(Ok(msg)) => msg,
                };
                unanswered = 0;
                let body = match msg {
                    Message::Close(_) => break End::Client,
                    Message::Ping(_) | Message::Pong(_) => continue,
                    Message::Text(_) => Some(msg.into_data()),
                    Message::Binary(_) => None,
                };
                last_message = Instant::now();
                messages += 1;
                let reply = handle(&state, &mut limit, &logsource, body).await;
                let result = match (reply.ok, reply.code) {
                    (true, _) => "accepted",
                    (false, Some(c)) if c == ErrorCode::RateLimited.code() => "rate_limited",
                    (false, _) => "rejected",
                };
                metrics::counter!(MESSAGES_COUNTER, "result" => result).increment(1);
                accepted += reply.accepted.unwrap_or(0) as u64;
                if let Err(e) = socket.send(reply.text()).await {
                    break End::Broken(e.to_string());
                }
            }
            _ = tick(&mut ticker) => {
                if unanswered >= max_missed {
                    break End::NoPong;
                }
                if let Err(e) = socket.send(Message::Ping(Bytes::new())).await {
                    break End::Broken(e.to_string());
                }
                unanswered += 1;
            }
            _ = sleep_until(idle.map(|d| last_message + d)) => break End::Idle,
        }
    };

    match &end {
        End::Client => {}
        End::Broken(error) => {
            tracing::debug!(route, error = %error, "ingest websocket failed");
        }
        End::TooBig => {
            let limit = state.config.ingest.max_body_bytes;
            tracing::debug!(route, limit, "ingest websocket message over the size limit");
            let reason = format!("message over {limit} bytes (ingest.max_body_bytes)");
            close(&mut socket, close_code::SIZE, reason).await;
            // The read side is gone: give the client a moment to read the
            // close frame before the socket is dropped under its writes.
            tokio::time::sleep(CLOSE_GRACE).await;
        }
        End::NoPong => {
            tracing::debug!(
                route,
                missed = unanswered,
                "ingest websocket missed its pongs"
            );
            let reason = format!("{unanswered} pings unanswered");
            close(&mut socket, close_code::POLICY, reason).await;
        }
        End::Idle => {
            let secs = cfg.idle_timeout_secs;
            tracing::debug!(route, idle_secs = secs, "ingest websocket idle");
            close(
                &mut socket,
                close_code::NORMAL,
                format!("idle for {secs} s"),
            )
            .await;
        }
    }
    metrics::gauge!(CONNECTIONS_GAUGE).decrement(1.0);
    tracing::debug!(route, messages, accepted, "ingest websocket closed");
}

/// Send a close frame and wait briefly for the client's.
async fn close(socket: &mut WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Answer one data message: `None` for a binary one.
async fn handle(
    state: &AppState,
    limit: &mut RateLimit,
    logsource: &ingest::LogsourceContext,
    body: Option<Bytes>,
) -> Reply {
    if let Err((wait_ms, key)) = limit.admit(Instant::now()) {
        return Reply {
            retry_after_ms: Some(wait_ms),
            ..Reply::refused(
                ErrorCode::RateLimited.code(),
                format!("this connection sends faster than {key} allows; message dropped"),
            )
        };
    }
    let Some(body) = body else {
        return Reply::refused(
            ErrorCode::UnsupportedMediaType.code(),
            "binary messages are not accepted; send each batch as a JSON text message".into(),
        );
    };
    let cfg = &state.config.ingest;
    let (max_events, max_events_key) = cfg.events_per_request();
    let limits = Limits {
        max_body_bytes: cfg.max_body_bytes,
        max_event_bytes: cfg.max_event_bytes,
        max_events,
        max_events_key,
        retry_after_secs: cfg.retry_after_secs,
    };
    let media = Media {
        format: Format::Json,
        encoding: Encoding::Identity,
    };
    let decoded = async {
        let budget = state.pipeline.decode_budget(cfg.decode_budget());
        let reservation = ingest::reserve(&budget, body.len(), &limits).await?;
        ingest::decode_request(
            media,
            body,
            limits,
            Utc::now(),
            logsource.clone(),
            reservation,
        )
        .await
    };
    let mut events = match decoded.await {
        Ok(events) => events,
        Err(e) => {
            let n = e.details.len().max(1) as u64;
            metrics::counter!("vigilo_events_rejected_total", "reason" => e.code.code())
                .increment(n);
            return Reply::from_error(e);
        }
    };
    for ev in &mut events {
        sample_as_metric(ev);
    }
    let n = events.len();
    limit.draw(n);
    match state.pipeline.submit(events).await {
        Ok(stored) => Reply::accepted(stored),
        Err(e) => Reply::from_error(crate::ingest::refused(
            e,
            n,
            "message",
            cfg.retry_after_secs,
        )),
    }
}

/// An analytics dashboard's sample, `{"source_id", "metric_name", "value"}` with no kind
/// of its own and nothing that implies another, is a metric event.
fn sample_as_metric(ev: &mut NewEvent) {
    let p = &ev.payload;
    if ev.kind == "event"
        && p.get("kind").is_none_or(serde_json::Value::is_null)
        && ["source_id", "metric_name", "value"]
            .iter()
            .all(|k| p.contains_key(*k))
    {
        ev.kind = "metric".to_string();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_limit() {
        let t0 = Instant::now();
        let cfg = IngestWsConfig {
            max_messages_per_sec: 2,
            max_events_per_sec: 10,
            ..IngestWsConfig::default()
        };
        let mut l = RateLimit::new(&IngestWsConfig {
            max_messages_per_sec: 0,
            ..cfg.clone()
        });
        assert!(l.admit(t0).is_ok());
        l.draw(10);
        // The events are spent: refused.
        let (wait, key) = l.admit(t0).unwrap_err();
        assert_eq!(key, "ingest.ws.max_events_per_sec");
        assert_eq!(wait, 1);
        // 100 ms later one event is back: taken, and overdrawn by a big one.
        let t1 = t0 + Duration::from_millis(100);
        assert!(l.admit(t1).is_ok());
        l.draw(50);
        let (wait, key) = l.admit(t1).unwrap_err();
        assert_eq!(key, "ingest.ws.max_events_per_sec");
        assert!((4900..=4901).contains(&wait), "{wait}");
        // Messages are checked first: a message token is needed too.
        let mut l = RateLimit::new(&cfg);
        assert!(l.admit(t0).is_ok());
        l.draw(10);
        assert!(l.admit(t0).is_err());
        assert_eq!(l.messages.as_ref().map(|m| m.tokens), Some(1.0));
        // Messages: two a second.
        let mut l = RateLimit::new(&IngestWsConfig {
            max_events_per_sec: 0,
            ..cfg
        });
        assert!(l.admit(t0).is_ok() && l.admit(t0).is_ok());
        let (wait, key) = l.admit(t0).unwrap_err();
        assert_eq!((wait, key), (500, "ingest.ws.max_messages_per_sec"));
        assert!(l.admit(t0 + Duration::from_millis(500)).is_ok());
        // No limits at all.
        let mut l = RateLimit::new(&IngestWsConfig {
            max_messages_per_sec: 0,
            max_events_per_sec: 0,
            ..cfg
        });
        for _ in 0..10_000 {
            assert!(l.admit(t0).is_ok());
            l.draw(1000);
        }
    }

    #[test]
    fn browser_pages_connect_from_allowed_origins_only() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            m
        };
        let none: &[String] = &[];
        assert!(origin_allowed(&h(&[("host", "vigilo:8080")]), none));
        let own = h(&[("host", "vigilo:8080"), ("origin", "http://vigilo:8080")]);
        assert!(origin_allowed(&own, none));
        let tls = h(&[
            ("host", "Vigilo.example"),
            ("origin", "https://vigilo.example"),
        ]);
        assert!(origin_allowed(&tls, none));
        let other = h(&[("host", "vigilo:8080"), ("origin", "https://evil.example")]);
        assert!(!origin_allowed(&other, none));
        assert!(origin_allowed(&other, &["https://evil.example/".into()]));
        assert!(origin_allowed(&other, &["*".into()]));
        let opaque = h(&[("host", "vigilo:8080"), ("origin", "null")]);
        assert!(!origin_allowed(&opaque, none));
        let port = h(&[("host", "vigilo:8080"), ("origin", "http://vigilo:9090")]);
        assert!(!origin_allowed(&port, none));
    }

    #[test]
    fn dashboard_samples_are_metrics() {
        let now = Utc::now();
        let norm = |v: serde_json::Value| vigilo_core::normalize::normalize(v, now).unwrap();
        let mut ev =
            norm(serde_json::json!({"source_id": "s1", "metric_name": "load", "value": 2}));
        assert_eq!(ev.kind, "event");
        sample_as_metric(&mut ev);
        assert_eq!(ev.kind, "metric");
        assert_eq!(ev.payload.len(), 3);
        for other in [
            serde_json::json!({"kind": "audit", "source_id": "s", "metric_name": "m", "value": 1}),
            serde_json::json!({"source_id": "s", "metric_name": "m", "value": 1, "level": "INFO"}),
            serde_json::json!({"source_id": "s", "metric_name": "m"}),
        ] {
            let mut ev = norm(other);
            let kind = ev.kind.clone();
            sample_as_metric(&mut ev);
            assert_eq!(ev.kind, kind);
        }
    }
}
