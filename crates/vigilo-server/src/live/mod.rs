//! The live channel: Socket.IO at `/socket.io`, namespace `/`.
//!
//! One task reads the pipeline's live feed and fans each update out to the
//! clients of its room: `finding` (or one `findings_summary` when a commit
//! carries more than `live.max_commit_bytes`), `pipeline_update` exactly as
//! posted, a sample of raw `event`s (at most `live.event_sample_per_sec`,
//! only while someone is in the `events` room), and `stats` every second.
//!
//! Memory stays bounded whatever the clients do: a message is serialized
//! once, every client has a queue of `live.client_buffer` messages, and a
//! client whose queue is full is disconnected (it reconnects and refetches)
//! instead of buffering without end.

pub mod relay;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use socketioxide::extract::{AckSender, Data, Extension, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::broadcast::error::RecvError;
use vigilo_core::{Event, Finding};
use vigilo_storage::Storage;

use crate::auth::{Auth, Permission, Principal};
use crate::config::LiveConfig;
use crate::pipeline::{LiveUpdate, Pipeline};

/// Rooms a client may be in.
pub const ROOMS: [&str; 4] = ["pipelines", "findings", "stats", "events"];

/// Rooms a client joins on connect: a pipeline dashboard hub's client only
/// listens for `pipeline_update` and works unchanged.
pub const DEFAULT_ROOMS: [&str; 3] = ["pipelines", "findings", "stats"];

/// The live channel's handle: its tower layer and the Socket.IO server.
#[derive(Clone)]
pub struct Live {
    io: SocketIo,
    layer: SocketIoLayer,
    dropped: Arc<AtomicU64>,
    /// True once closed; the live task holds it for reading while it sends.
    gate: Arc<tokio::sync::RwLock<bool>>,
}

impl Live {
    /// Start the channel and the task that feeds it from `pipeline`.
    pub fn start(
        pipeline: &Arc<Pipeline>,
        storage: Arc<dyn Storage>,
        cfg: LiveConfig,
        auth: Arc<Auth>,
    ) -> Live {
        let (layer, io) = SocketIo::builder()
            .max_buffer_size(cfg.client_buffer.max(8))
            .ping_interval(Duration::from_secs(cfg.ping_interval_secs.max(1)))
            .ping_timeout(Duration::from_secs(cfg.ping_timeout_secs.max(1)))
            .build_layer();
        let check = move |s: SocketRef, TryData(data): TryData<Value>| {
            let auth = auth.clone();
            async move { authenticate(&auth, &s, data.ok()).await }
        };
        io.ns("/", on_connect.with(check));
        let feed = pipeline.subscribe();
        let dropped = Arc::new(AtomicU64::new(0));
        let gate = Arc::new(tokio::sync::RwLock::new(false));
        tokio::spawn(run(
            io.clone(),
            gate.clone(),
            Arc::downgrade(pipeline),
            storage,
            cfg,
            feed,
            dropped.clone(),
        ));
        Live {
            io,
            layer,
            dropped,
            gate,
        }
    }

    pub fn layer(&self) -> SocketIoLayer {
        self.layer.clone()
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        self.io.sockets().len()
    }

    /// Clients dropped from the feed since start because they fell
    /// `live.client_buffer` messages behind.
    pub fn dropped_clients(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Disconnect every client (before a graceful shutdown, which would
    /// otherwise wait for their long-lived connections).
    pub async fn close(&self) {
        // Stop the live task first: after `io.close` the namespace is
        // gone and sending to a room would panic (connectors still report
        // to the hub while the server shuts down).
        *self.gate.write().await = true;
        self.io.close().await;
    }
}

/// The rooms a connected client may join, by the permissions of whoever
/// opened it.
#[derive(Debug, Clone)]
struct Allowed(Vec<&'static str>);

/// Why a handshake was refused; the client sees the code as the
/// `connect_error` message.
#[derive(Debug)]
struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn room_permission(room: &str) -> Permission {
    match room {
        "findings" => Permission::FindingsRead,
        "events" => Permission::EventsRead,
        _ => Permission::PipelinesRead,
    }
}

/// The same credentials as the REST API, from the handshake: the session
/// cookie or an `Authorization` / `X-API-Key` header, or `{"token": ...}`
/// in the connect packet (a session token or an API key).
async fn authenticate(auth: &Auth, s: &SocketRef, data: Option<Value>) -> Result<(), Refused> {
    let token = data
        .as_ref()
        .and_then(|d| d.get("token"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let principal: Principal = match token {
        Some(t) if auth.enabled() => {
            let p = if t.starts_with(vigilo_auth::apikey::PREFIX) {
                auth.principal_for_key(&t).await
            } else {
                auth.principal_for_token(&t).await
            };
            p.map_err(|_| Refused("invalid_token"))?
        }
        _ => match auth.authenticate(&s.req_parts().headers, None).await {
            Ok(Some((p, _))) => p,
            Ok(None) if auth.config.public_pipeline_feed => {
                s.extensions.insert(Allowed(vec!["pipelines"]));
                return Ok(());
            }
            Ok(None) => return Err(Refused("unauthenticated")),
            Err(_) => return Err(Refused("invalid_token")),
        },
    };
    let allowed: Vec<&'static str> = ROOMS
        .iter()
        .copied()
        .filter(|r| principal.allows(room_permission(r)))
        .collect();
    if allowed.is_empty() {
        return Err(Refused("forbidden"));
    }
    s.extensions.insert(Allowed(allowed));
    Ok(())
}

async fn on_connect(s: SocketRef, Extension(allowed): Extension<Allowed>) {
    s.join(
        DEFAULT_ROOMS
            .iter()
            .copied()
            .filter(|r| allowed.0.contains(r))
            .collect::<Vec<_>>(),
    );
    metrics::counter!("vigilo_live_connections_total").increment(1);
    s.on("subscribe", on_subscribe);
    s.on("unsubscribe", on_unsubscribe);
}

/// Room names in a `subscribe`/`unsubscribe` message: `{"rooms": [..]}`,
/// a list, or one name. Unknown names are ignored.
fn rooms_of(v: &Value) -> Vec<&'static str> {
    let names: Vec<&str> = match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        Value::Object(o) => match o.get("rooms") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(s)) => vec![s.as_str()],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    ROOMS
        .iter()
        .copied()
        .filter(|r| names.contains(r))
        .collect()
}

fn ack_rooms(s: &SocketRef, ack: AckSender) {
    let mut rooms: Vec<String> = s
        .rooms()
        .into_iter()
        .map(|r| r.to_string())
        .filter(|r| ROOMS.contains(&r.as_str()))
        .collect();
    rooms.sort();
    let _ = ack.send(&json!({ "rooms": rooms }));
}

async fn on_subscribe(
    s: SocketRef,
    Data(v): Data<Value>,
    Extension(allowed): Extension<Allowed>,
    ack: AckSender,
) {
    s.join(
        rooms_of(&v)
            .into_iter()
            .filter(|r| allowed.0.contains(r))
            .collect::<Vec<_>>(),
    );
    ack_rooms(&s, ack);
}

async fn on_unsubscribe(s: SocketRef, Data(v): Data<Value>, ack: AckSender) {
    s.leave(rooms_of(&v));
    ack_rooms(&s, ack);
}

/// Clients whose queue filled up: they get nothing more, and are
/// disconnected as soon as their queue has room for the disconnect packet.
/// (A peer that stopped reading altogether keeps its TCP connection until
/// the kernel gives up on it: the transport cannot be closed while its
/// writer waits on the socket. It holds only its full queue meanwhile.)
struct Lagging {
    sids: HashSet<Sid>,
    dropped: Arc<AtomicU64>,
}

impl Lagging {
    /// Try again to disconnect every lagging client; forget the gone ones.
    fn retry(&mut self, io: &SocketIo) {
        self.sids.retain(|sid| match io.get_socket(*sid) {
            Some(s) => s.disconnect().is_err(),
            None => false,
        });
    }
}

/// Send one serialized message to every client of `room` that keeps up.
fn fan_out(
    io: &SocketIo,
    lagging: &mut Lagging,
    room: &'static str,
    event: &str,
    payload: &RawValue,
) {
    for s in io.to(room).sockets() {
        if lagging.sids.contains(&s.id) {
            continue;
        }
        match s.emit(event, payload) {
            Ok(()) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                tracing::info!(client = %s.id, room, "live client fell behind; dropping it");
                metrics::counter!("vigilo_live_clients_dropped_total").increment(1);
                lagging.dropped.fetch_add(1, Ordering::Relaxed);
                if s.clone().disconnect().is_err() {
                    lagging.sids.insert(s.id);
                }
            }
            Err(_) => {}
        }
    }
}

fn raw<T: Serialize + ?Sized>(v: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(v).ok()
}

#[derive(Serialize)]
struct FindingMessage<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    change: &'static str,
}

fn change_of(f: &Finding) -> &'static str {
    if f.created_at == f.updated_at {
        "created"
    } else {
        "updated"
    }
}

/// One commit's findings: each as `finding` while they fit in `budget`
/// bytes, else one `findings_summary` for all of them.
fn send_findings(io: &SocketIo, lagging: &mut Lagging, findings: &[Finding], budget: usize) {
    if io.to("findings").sockets().is_empty() {
        return;
    }
    let mut messages = Vec::new();
    let mut bytes = 0usize;
    let mut fits = true;
    for f in findings {
        let Some(m) = raw(&FindingMessage {
            finding: f,
            change: change_of(f),
        }) else {
            continue;
        };
        bytes += m.get().len();
        if bytes > budget {
            fits = false;
            break;
        }
        messages.push(m);
    }
    if fits {
        for m in &messages {
            fan_out(io, lagging, "findings", "finding", m);
        }
        return;
    }
    let mut by_severity: BTreeMap<&str, u64> = BTreeMap::new();
    let mut created = 0u64;
    for f in findings {
        *by_severity.entry(f.severity.as_str()).or_default() += 1;
        if change_of(f) == "created" {
            created += 1;
        }
    }
    let summary = json!({
        "created": created,
        "updated": findings.len() as u64 - created,
        "by_severity": by_severity,
    });
    if let Some(m) = raw(&summary) {
        fan_out(io, lagging, "findings", "findings_summary", &m);
    }
}

/// What `stats` counts between two ticks.
#[derive(Default)]
struct Window {
    by_kind: BTreeMap<String, u64>,
    /// Raw events still allowed to the `events` room this second.
    sample_budget: u32,
}

/// What woke the live task.
enum Step {
    Update(Result<LiveUpdate, RecvError>),
    Tick,
}

async fn run(
    io: SocketIo,
    gate: Arc<tokio::sync::RwLock<bool>>,
    pipeline: Weak<Pipeline>,
    storage: Arc<dyn Storage>,
    cfg: LiveConfig,
    mut feed: tokio::sync::broadcast::Receiver<LiveUpdate>,
    dropped: Arc<AtomicU64>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut window = Window {
        sample_budget: cfg.event_sample_per_sec,
        ..Window::default()
    };
    let mut last_tick = Instant::now();
    let mut lagging = Lagging {
        sids: HashSet::new(),
        dropped,
    };
    // Events stored before this start, read once the first client comes.
    let mut base_total: Option<u64> = None;
    loop {
        let step = tokio::select! {
            update = feed.recv() => Step::Update(update),
            _ = tick.tick() => Step::Tick,
        };
        // Held while this step sends: `close` waits for it, then no step
        // runs on the closed channel (its namespace is gone).
        let closed = gate.read().await;
        if *closed {
            break;
        }
        match step {
            Step::Update(update) => match update {
                Ok(LiveUpdate::Findings(fs)) => {
                    send_findings(&io, &mut lagging, &fs, cfg.max_commit_bytes)
                }
                Ok(LiveUpdate::Pipeline(p)) => {
                    if let Some(m) = raw(&*p) {
                        fan_out(&io, &mut lagging, "pipelines", "pipeline_update", &m);
                    }
                }
                Ok(LiveUpdate::EventsStored {
                    by_kind, sample, ..
                }) => {
                    for (k, n) in by_kind.iter() {
                        *window.by_kind.entry(k.clone()).or_default() += n;
                    }
                    send_sample(&io, &mut lagging, &sample, &mut window.sample_budget);
                }
                Ok(LiveUpdate::FindingsChanged { updated }) => {
                    if let Some(m) =
                        raw(&json!({"created": 0, "updated": updated, "by_severity": {}}))
                    {
                        fan_out(&io, &mut lagging, "findings", "findings_summary", &m);
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // Updates were lost here: tell clients to refetch.
                    if let Some(m) = raw(
                        &json!({"created": 0, "updated": 0, "by_severity": {}, "missed_updates": missed}),
                    ) {
                        fan_out(&io, &mut lagging, "findings", "findings_summary", &m);
                    }
                }
                Err(RecvError::Closed) => break,
            },
            Step::Tick => {
                let Some(p) = pipeline.upgrade() else { break };
                lagging.retry(&io);
                let clients = io.sockets().len();
                metrics::gauge!("vigilo_live_clients").set(clients as f64);
                p.sample_events(!io.to("events").sockets().is_empty());
                let elapsed = last_tick.elapsed().as_secs_f64().max(0.001);
                last_tick = Instant::now();
                let by_kind = std::mem::take(&mut window.by_kind);
                window.sample_budget = cfg.event_sample_per_sec;
                if io.to("stats").sockets().is_empty() {
                    continue;
                }
                let stored = p.counters().stored.load(Ordering::Relaxed);
                if base_total.is_none() {
                    match storage.totals().await {
                        Ok(t) => base_total = Some(t.events.saturating_sub(stored)),
                        Err(e) => tracing::warn!(error = %e, "live stats: cannot read totals"),
                    }
                }
                let open = match storage.open_findings_by_severity().await {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::warn!(error = %e, "live stats: cannot count open findings");
                        continue;
                    }
                };
                let stats = stats_message(
                    &p,
                    &by_kind,
                    elapsed,
                    base_total.unwrap_or(0) + stored,
                    open,
                );
                if let Some(m) = raw(&stats) {
                    fan_out(&io, &mut lagging, "stats", "stats", &m);
                }
            }
        }
    }
    tracing::debug!("live channel stopped");
}

fn send_sample(io: &SocketIo, lagging: &mut Lagging, sample: &[Event], budget: &mut u32) {
    if sample.is_empty() || *budget == 0 {
        return;
    }
    for e in sample {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        if let Some(m) = raw(e) {
            fan_out(io, lagging, "events", "event", &m);
        }
    }
}

fn stats_message(
    p: &Pipeline,
    by_kind: &BTreeMap<String, u64>,
    elapsed_secs: f64,
    events_total: u64,
    open: BTreeMap<String, u64>,
) -> Value {
    let per_sec = |n: u64| (n as f64 / elapsed_secs * 10.0).round() / 10.0;
    let rates: BTreeMap<&str, f64> = by_kind
        .iter()
        .map(|(k, n)| (k.as_str(), per_sec(*n)))
        .collect();
    let c = p.counters();
    let stored = c.stored.load(Ordering::Relaxed);
    let evaluated = c.evaluated.load(Ordering::Relaxed);
    json!({
        "time": chrono::Utc::now(),
        "events_per_sec": rates,
        "events_per_sec_total": per_sec(by_kind.values().sum()),
        "events_total": events_total,
        "open_findings": open,
        "queue_depth": p.queue_depth(),
        "queue_capacity": p.capacity(),
        "detection_lag_events": stored.saturating_sub(evaluated),
        "detection_lag_ms": p.detection_lag_ms(),
        "rules_loaded": p.rules().len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_come_from_every_message_shape_and_unknown_ones_are_ignored() {
        assert_eq!(rooms_of(&json!("events")), vec!["events"]);
        assert_eq!(
            rooms_of(&json!(["events", "nope", "stats"])),
            vec!["stats", "events"]
        );
        assert_eq!(rooms_of(&json!({"rooms": ["findings"]})), vec!["findings"]);
        assert_eq!(rooms_of(&json!({"rooms": "pipelines"})), vec!["pipelines"]);
        assert!(rooms_of(&json!(42)).is_empty());
        assert!(rooms_of(&json!({"room": "events"})).is_empty());
    }
}
