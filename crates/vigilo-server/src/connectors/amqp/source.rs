//! The RabbitMQ source: one channel and consumer per queue, messages taken
//! in batches, events handed to the pipeline and acknowledged (one
//! `multiple` ack per batch) only once they are durable; pipeline status
//! reports recorded by the hub; bad messages recorded as dead letters and
//! nacked without requeue, so the broker moves them to the queue's
//! dead-letter queue.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    ExchangeDeclareOptions, QueueBindOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, Consumer, ExchangeKind};
use serde_json::{Map, Value, json};
use tokio::task::JoinSet;
use vigilo_core::NewEvent;
use vigilo_core::normalize::USER_FIELDS;
use vigilo_storage::NewDeadLetter;

use super::{APP_ID, AmqpSourceConfig, Backoff, connect, describe, ensure_queue};
use crate::connectors::Context;
use crate::hub::HubError;
use crate::ingest::{self, Encoding, Format, Limits, Media};
use crate::pipeline::SubmitError;

/// Name on the status board and in dead letters.
const NAME: &str = "amqp";
/// Seconds between two reports to the hub.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Longest pause before asking a full pipeline again: short, since the
/// broker holds the messages meanwhile and only `prefetch` are in memory.
const MAX_OVERLOAD_WAIT: Duration = Duration::from_millis(50);
/// How long a batch waits for one more message once it has one.
const BATCH_LINGER: Duration = Duration::from_millis(2);

/// Fields that make a message an event rather than a status report: what
/// normalization reads besides the time, and what kind inference looks at.
const EVENT_FIELDS: [&str; 6] = [
    "kind",
    "service",
    "level",
    "cpu",
    "latency_ms",
    "transaction_id",
];

#[derive(Default)]
struct Stats {
    messages: AtomicU64,
    events: AtomicU64,
    reports: AtomicU64,
    dead_letters: AtomicU64,
    skipped: AtomicU64,
    connected: AtomicBool,
    reconnects: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn set_error(&self, e: String) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = Some(e);
        }
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|g| g.clone())
    }

    fn set_connected(&self, on: bool) {
        self.connected.store(on, Ordering::Relaxed);
        metrics::gauge!("vigilo_amqp_connected", "role" => "source").set(if on {
            1.0
        } else {
            0.0
        });
    }
}

/// Why a session ended.
enum End {
    /// The server is shutting down.
    Stopped,
    /// The broker or storage failed; reconnect after a backoff.
    Failed(String),
}

pub(super) async fn run(cfg: AmqpSourceConfig, mut ctx: Context) {
    let cfg = Arc::new(cfg);
    let stats = Arc::new(Stats::default());
    stats.set_connected(false);
    let reporter = tokio::spawn(report_loop(cfg.clone(), ctx.clone(), stats.clone()));
    let mut backoff = Backoff::new();
    loop {
        if ctx.is_stopping() {
            break;
        }
        match session(&cfg, &ctx, &stats, &mut backoff).await {
            End::Stopped => break,
            End::Failed(e) => {
                stats.set_connected(false);
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                let wait = backoff.next();
                tracing::warn!(connector = NAME, error = %e, retry_in_ms = wait.as_millis() as u64, "amqp source disconnected");
                stats.set_error(e);
                report(&cfg, &ctx, &stats, 0.0).await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.stopped() => break,
                }
            }
        }
    }
    stats.set_connected(false);
    reporter.abort();
    let mut last = Map::new();
    last.insert("status".into(), "done".into());
    last.insert("connected".into(), false.into());
    last.insert(
        "messages_total".into(),
        stats.messages.load(Ordering::Relaxed).into(),
    );
    let _ = ctx.hub.report_internal(NAME, last).await;
    tracing::info!(connector = NAME, "amqp source stopped");
}

/// One connection: declare the topology, consume every queue until the
/// server stops or something fails.
async fn session(
    cfg: &Arc<AmqpSourceConfig>,
    ctx: &Context,
    stats: &Arc<Stats>,
    backoff: &mut Backoff,
) -> End {
    let conn = match connect(cfg.url.expose(), &cfg.connection_name).await {
        Ok(c) => c,
        Err(e) => return End::Failed(format!("connect: {}", describe(&e))),
    };
    let consumers = match topology(cfg, &conn).await {
        Ok(c) => c,
        Err(e) => {
            let _ = conn.close(200, "OK".into()).await;
            return End::Failed(format!("declare: {}", describe(&e)));
        }
    };
    backoff.reset();
    stats.set_connected(true);
    tracing::info!(connector = NAME, queues = ?cfg.queues, prefetch = cfg.prefetch, "amqp source connected");
    report(cfg, ctx, stats, 0.0).await;

    let mut tasks = JoinSet::new();
    for (queue, channel, consumer) in consumers {
        tasks.spawn(consume(
            cfg.clone(),
            ctx.clone(),
            stats.clone(),
            queue,
            channel,
            consumer,
        ));
    }
    let mut end = End::Stopped;
    while let Some(done) = tasks.join_next().await {
        let this = match done {
            Ok(e) => e,
            Err(e) => End::Failed(format!("consumer task: {e}")),
        };
        if let End::Failed(_) = this {
            end = this;
            // The others share the broken connection: stop them.
            tasks.abort_all();
        }
    }
    if conn.status().connected() {
        let _ = conn.close(200, "OK".into()).await;
    }
    end
}

/// Declare the queues (with their dead-letter queues) and bindings, and
/// start one consumer per queue on a channel of its own.
async fn topology(
    cfg: &AmqpSourceConfig,
    conn: &Connection,
) -> lapin::Result<Vec<(String, Channel, Consumer)>> {
    let setup = conn.create_channel().await?;
    if !cfg.dead_letter_exchange.is_empty() {
        setup
            .exchange_declare(
                cfg.dead_letter_exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
    }
    if let Some(ex) = &cfg.exchange {
        setup
            .exchange_declare(
                ex.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
    }
    let mut out = Vec::new();
    for queue in &cfg.queues {
        let dead = format!("{queue}{}", cfg.dead_letter_suffix);
        ensure_queue(conn, &dead, FieldTable::default()).await?;
        if !cfg.dead_letter_exchange.is_empty() {
            setup
                .queue_bind(
                    dead.as_str().into(),
                    cfg.dead_letter_exchange.as_str().into(),
                    dead.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }
        let mut args = FieldTable::default();
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(cfg.dead_letter_exchange.as_str().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(dead.as_str().into()),
        );
        ensure_queue(conn, queue, args).await?;
        if let Some(ex) = &cfg.exchange {
            let own = vec![queue.clone()];
            for key in cfg.bindings.get(queue).unwrap_or(&own) {
                setup
                    .queue_bind(
                        queue.as_str().into(),
                        ex.as_str().into(),
                        key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        let channel = conn.create_channel().await?;
        channel
            .basic_qos(cfg.prefetch, BasicQosOptions::default())
            .await?;
        let tag = format!("{}-{queue}", cfg.connection_name);
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                tag.as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        out.push((queue.clone(), channel, consumer));
    }
    let _ = setup.close(200, "OK".into()).await;
    Ok(out)
}

/// What one message is.
#[derive(Debug)]
pub(super) enum Message {
    /// A pipeline status report for the hub: the pipeline's name and the
    /// envelope.
    Report(String, Map<String, Value>),
    /// Events for the pipeline.
    Events(Vec<NewEvent>),
    /// Neither: why.
    Bad(String),
}

/// Per-queue rules for telling messages apart.
pub(super) struct QueueRules<'a> {
    pub queue: &'a str,
    /// Every message is events.
    pub always_events: bool,
    /// `kind` of events that carry none.
    pub default_kind: Option<&'a str>,
    /// The queue's logsource and the derivation rules.
    pub logsource: crate::ingest::LogsourceContext,
}

/// Tell a message body apart: a JSON object with a `status` field and none
/// of [`EVENT_FIELDS`] (nor a user field) is a status report for the
/// pipeline it names in `pipeline`, or for the queue; anything else is
/// decoded as HTTP ingest decodes a JSON body (one event object or an
/// array of them).
pub(super) fn classify(
    rules: &QueueRules<'_>,
    body: &[u8],
    limits: &Limits,
    received_at: DateTime<Utc>,
) -> Message {
    if !rules.always_events
        && contains(body, b"\"status\"")
        && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body)
        && map.contains_key("status")
        && !has_event_fields(&map)
    {
        let name = match map.get("pipeline") {
            Some(Value::String(p)) => p.clone(),
            _ => rules.queue.to_string(),
        };
        return Message::Report(name, map);
    }
    let media = Media {
        format: Format::Json,
        encoding: Encoding::Identity,
    };
    match ingest::decode(
        media,
        body,
        limits,
        received_at,
        &rules.logsource,
        &mut |_| Ok(()),
    ) {
        Ok(mut events) => {
            if let Some(kind) = rules.default_kind {
                for ev in &mut events {
                    if !ev.payload.contains_key("kind") {
                        ev.kind = kind.to_string();
                        ev.payload.insert("kind".into(), kind.into());
                    }
                }
            }
            Message::Events(events)
        }
        Err(e) => {
            let mut reason = format!("{}: {}", e.code.code(), e.message);
            if let Some(d) = e.details.first() {
                reason.push_str(&format!(" (event {}: {})", d.index, d.message));
            }
            Message::Bad(reason)
        }
    }
}

fn has_event_fields(map: &Map<String, Value>) -> bool {
    EVENT_FIELDS
        .iter()
        .chain(USER_FIELDS.iter())
        .any(|f| map.contains_key(*f))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Limits of one message: those of one HTTP ingest request.
fn limits(ctx: &Context) -> Limits {
    let cfg = &ctx.config.ingest;
    let (max_events, max_events_key) = cfg.events_per_request();
    Limits {
        max_body_bytes: cfg.max_body_bytes,
        max_event_bytes: cfg.max_event_bytes,
        max_events,
        max_events_key,
        retry_after_secs: cfg.retry_after_secs,
    }
}

/// Consume one queue until the server stops or the channel fails.
async fn consume(
    cfg: Arc<AmqpSourceConfig>,
    ctx: Context,
    stats: Arc<Stats>,
    queue: String,
    channel: Channel,
    mut consumer: Consumer,
) -> End {
    let limits = limits(&ctx);
    let rules = QueueRules {
        queue: &queue,
        always_events: cfg.event_queues.contains(&queue),
        default_kind: cfg.kinds.get(&queue).map(String::as_str),
        logsource: crate::ingest::LogsourceContext::new(
            cfg.logsources.get(&queue).cloned().unwrap_or_default(),
            ctx.config.logsources.rules.clone(),
        ),
    };
    // Half the prefetch per batch: the other half streams in while a
    // batch is being committed.
    let max_batch = (cfg.prefetch as usize / 2).max(1);
    let mut stop = ctx.stop.clone();
    loop {
        let first = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return End::Stopped,
            d = consumer.next() => d,
        };
        let mut batch = match first {
            Some(Ok(d)) => vec![d],
            Some(Err(e)) => return End::Failed(format!("consume {queue}: {}", describe(&e))),
            None => return End::Failed(format!("consumer of {queue} was cancelled")),
        };
        let mut failed = None;
        while batch.len() < max_batch {
            match tokio::time::timeout(BATCH_LINGER, consumer.next()).await {
                Ok(Some(Ok(d))) => batch.push(d),
                Ok(Some(Err(e))) => {
                    failed = Some(format!("consume {queue}: {}", describe(&e)));
                    break;
                }
                Ok(None) => {
                    failed = Some(format!("consumer of {queue} was cancelled"));
                    break;
                }
                Err(_) => break,
            }
        }
        if let Some(e) = failed {
            // The channel is gone: nothing can be acked; all of it comes
            // back on the next connection.
            return End::Failed(e);
        }
        match handle_batch(&ctx, &stats, &rules, &limits, &channel, batch).await {
            Ok(()) => {}
            Err(end) => return end,
        }
    }
}

/// Handle one batch: reports to the hub, bad messages to the dead-letter
/// table and queue, events to the pipeline; then one ack for the rest.
async fn handle_batch(
    ctx: &Context,
    stats: &Stats,
    rules: &QueueRules<'_>,
    limits: &Limits,
    channel: &Channel,
    batch: Vec<Delivery>,
) -> Result<(), End> {
    let queue = rules.queue;
    let now = Utc::now();
    let mut events: Vec<NewEvent> = Vec::new();
    let mut event_messages = 0u64;
    let mut last_ok: Option<u64> = None;
    stats
        .messages
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    for d in &batch {
        let tag = d.delivery_tag;
        if d.properties.app_id().as_ref().map(|s| s.as_str()) == Some(APP_ID) {
            // Our own sink's message on a queue we also consume.
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            count(queue, "skipped");
            last_ok = Some(tag);
            continue;
        }
        match classify(rules, &d.data, limits, now) {
            Message::Report(name, body) => match ctx.hub.report(&name, body).await {
                Ok(_) => {
                    stats.reports.fetch_add(1, Ordering::Relaxed);
                    count(queue, "report");
                    last_ok = Some(tag);
                }
                Err(HubError::Storage(e)) => {
                    return Err(End::Failed(format!("storing a pipeline report: {e}")));
                }
                Err(e) => dead_letter(ctx, stats, channel, queue, d, e.to_string()).await?,
            },
            Message::Events(evs) => {
                event_messages += 1;
                events.extend(evs);
                last_ok = Some(tag);
            }
            Message::Bad(reason) => dead_letter(ctx, stats, channel, queue, d, reason).await?,
        }
    }
    if !events.is_empty() {
        let n = events.len() as u64;
        submit(ctx, events).await?;
        stats.events.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("vigilo_amqp_messages_total", "queue" => queue.to_string(), "outcome" => "events")
            .increment(event_messages);
        metrics::counter!("vigilo_amqp_events_total", "queue" => queue.to_string()).increment(n);
    }
    if let Some(tag) = last_ok {
        channel
            .basic_ack(tag, BasicAckOptions { multiple: true })
            .await
            .map_err(|e| End::Failed(format!("ack on {queue}: {}", describe(&e))))?;
    }
    Ok(())
}

fn count(queue: &str, outcome: &'static str) {
    metrics::counter!("vigilo_amqp_messages_total", "queue" => queue.to_string(), "outcome" => outcome)
        .increment(1);
}

/// Hand events to the pipeline, in chunks the queue can hold, waiting
/// while it is full. Only a shutdown or storage trouble gives up (without
/// an ack: the broker delivers the messages again).
async fn submit(ctx: &Context, events: Vec<NewEvent>) -> Result<(), End> {
    let chunk = (ctx.pipeline.capacity() / 2).max(1);
    let mut rest = events;
    while !rest.is_empty() {
        let tail = if rest.len() > chunk {
            rest.split_off(chunk)
        } else {
            Vec::new()
        };
        let mut wait = Duration::from_millis(1);
        let mut storage_failures = 0;
        loop {
            match ctx.pipeline.submit(rest.clone()).await {
                Ok(_) => break,
                Err(SubmitError::Overloaded) => {
                    metrics::counter!("vigilo_amqp_backpressure_total").increment(1);
                }
                Err(SubmitError::ShuttingDown) => return Err(End::Stopped),
                Err(SubmitError::TooBig(n, cap)) => {
                    // Cannot happen with chunks of half the capacity; give
                    // the batch back to the broker rather than drop it.
                    return Err(End::Failed(format!(
                        "batch of {n} events over the queue capacity {cap}"
                    )));
                }
                Err(SubmitError::Storage(e)) => {
                    storage_failures += 1;
                    if storage_failures >= 5 {
                        return Err(End::Failed(format!("storing events: {e}")));
                    }
                    tracing::warn!(connector = NAME, error = %e, "storing events failed; retrying");
                    wait = Duration::from_millis(200) * storage_failures;
                }
            }
            if ctx.is_stopping() && storage_failures > 0 {
                return Err(End::Stopped);
            }
            tokio::time::sleep(wait).await;
            if storage_failures == 0 {
                wait = (wait * 2).min(MAX_OVERLOAD_WAIT);
            }
        }
        rest = tail;
    }
    Ok(())
}

/// Record a bad message in the dead-letter table, then nack it without
/// requeue: the broker moves it to the queue's dead-letter queue.
async fn dead_letter(
    ctx: &Context,
    stats: &Stats,
    channel: &Channel,
    queue: &str,
    d: &Delivery,
    reason: String,
) -> Result<(), End> {
    tracing::warn!(connector = NAME, queue, reason = %reason, "amqp message dead-lettered");
    let letter = NewDeadLetter {
        source: NAME.into(),
        location: queue.to_string(),
        reason,
        raw: d.data.clone(),
        meta: meta(d),
        received_at: Utc::now(),
    };
    ctx.storage
        .insert_dead_letter(letter)
        .await
        .map_err(|e| End::Failed(format!("storing a dead letter: {e}")))?;
    channel
        .basic_nack(
            d.delivery_tag,
            BasicNackOptions {
                multiple: false,
                requeue: false,
            },
        )
        .await
        .map_err(|e| End::Failed(format!("nack on {queue}: {}", describe(&e))))?;
    stats.dead_letters.fetch_add(1, Ordering::Relaxed);
    count(queue, "dead_letter");
    Ok(())
}

/// What the dead-letter table keeps besides the bytes.
fn meta(d: &Delivery) -> Value {
    let p = &d.properties;
    let s = |v: &Option<lapin::types::ShortString>| v.as_ref().map(|s| s.to_string());
    let headers: Map<String, Value> = p
        .headers()
        .as_ref()
        .map(|t| {
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), amqp_json(v)))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "exchange": d.exchange.to_string(),
        "routing_key": d.routing_key.to_string(),
        "redelivered": d.redelivered,
        "message_id": s(p.message_id()),
        "content_type": s(p.content_type()),
        "app_id": s(p.app_id()),
        "headers": headers,
    })
}

/// An AMQP field value as JSON.
fn amqp_json(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::Timestamp(n) => json!(n),
        AMQPValue::ShortString(s) => Value::String(s.to_string()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), amqp_json(v)))
                .collect(),
        ),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_json).collect()),
        AMQPValue::Void => Value::Null,
        other => Value::String(format!("{other:?}")),
    }
}

/// Report to the hub every few seconds.
async fn report_loop(cfg: Arc<AmqpSourceConfig>, mut ctx: Context, stats: Arc<Stats>) {
    let mut last = (Instant::now(), stats.messages.load(Ordering::Relaxed));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REPORT_EVERY) => {}
            _ = ctx.stopped() => return,
        }
        let now = Instant::now();
        let total = stats.messages.load(Ordering::Relaxed);
        let secs = now.duration_since(last.0).as_secs_f64().max(0.001);
        let rate = (total - last.1) as f64 / secs;
        last = (now, total);
        report(&cfg, &ctx, &stats, rate).await;
    }
}

async fn report(cfg: &AmqpSourceConfig, ctx: &Context, stats: &Stats, rate: f64) {
    let connected = stats.connected.load(Ordering::Relaxed);
    let mut body = Map::new();
    body.insert(
        "status".into(),
        if connected { "running" } else { "error" }.into(),
    );
    body.insert("connected".into(), connected.into());
    body.insert("queues".into(), json!(cfg.queues));
    body.insert("messages_per_s".into(), json!((rate * 10.0).round() / 10.0));
    let load = |a: &AtomicU64| Value::from(a.load(Ordering::Relaxed));
    body.insert("messages_total".into(), load(&stats.messages));
    body.insert("events_total".into(), load(&stats.events));
    body.insert("pipeline_reports_total".into(), load(&stats.reports));
    body.insert("dead_letters_total".into(), load(&stats.dead_letters));
    body.insert("skipped_total".into(), load(&stats.skipped));
    body.insert("reconnects_total".into(), load(&stats.reconnects));
    body.insert("last_error".into(), json!(stats.last_error()));
    if let Err(e) = ctx.hub.report_internal(NAME, body).await {
        tracing::warn!(connector = NAME, error = %e, "amqp source: hub report failed");
    }
}

/// The JSON type names of unknown values, for tests of [`classify`].
#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 1 << 20,
            max_event_bytes: 1 << 16,
            max_events: 1000,
            max_events_key: "ingest.max_events_per_request",
            retry_after_secs: 1,
        }
    }

    fn rules(always_events: bool) -> QueueRules<'static> {
        QueueRules {
            queue: "rule.ingestion",
            always_events,
            default_kind: Some("metric"),
            logsource: Default::default(),
        }
    }

    #[test]
    fn status_reports_events_and_bad_messages_are_told_apart() {
        let now = Utc::now();
        let l = limits();
        let report =
            br#"{"status": "running", "timestamp": "2026-01-01T00:00:00Z", "message": "ok"}"#;
        match classify(&rules(false), report, &l, now) {
            Message::Report(name, body) => {
                assert_eq!(name, "rule.ingestion");
                assert_eq!(body["status"], "running");
            }
            other => panic!("{other:?}"),
        }
        let named = br#"{"pipeline": "delta.pipeline", "status": "done"}"#;
        assert!(
            matches!(classify(&rules(false), named, &l, now), Message::Report(n, _) if n == "delta.pipeline")
        );
        // A status on an object with event fields is an event.
        let ev = br#"{"status": "error", "service": "api", "cpu": 99}"#;
        match classify(&rules(false), ev, &l, now) {
            Message::Events(evs) => {
                assert_eq!(evs.len(), 1);
                assert_eq!(evs[0].kind, "metric");
            }
            other => panic!("{other:?}"),
        }
        // On an events-only queue a status report is an event too.
        assert!(matches!(
            classify(&rules(true), report, &l, now),
            Message::Events(_)
        ));
        let arr = br#"[{"service": "a"}, {"service": "b", "kind": "log"}]"#;
        match classify(&rules(false), arr, &l, now) {
            Message::Events(evs) => {
                assert_eq!(evs[0].kind, "metric");
                assert_eq!(evs[1].kind, "log");
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(classify(&rules(false), b"not json", &l, now), Message::Bad(r) if r.contains("malformed_body"))
        );
        assert!(matches!(
            classify(&rules(false), b"[1, 2]", &l, now),
            Message::Bad(_)
        ));
    }

    #[test]
    fn headers_become_json() {
        let mut t = FieldTable::default();
        t.insert("x-n".into(), AMQPValue::LongInt(3));
        t.insert("x-s".into(), AMQPValue::LongString("v".into()));
        let v = amqp_json(&AMQPValue::FieldTable(t));
        assert_eq!(v, json!({"x-n": 3, "x-s": "v"}));
    }
}
