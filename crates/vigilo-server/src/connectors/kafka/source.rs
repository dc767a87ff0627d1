//! The Kafka source: a consumer group over the configured topics.
//!
//! Messages are read in bounded batches (`max_batch_events` events or
//! `max_batch_wait_ms`), decoded with the HTTP ingest decoder (one JSON
//! object or an array of them), handed to [`Pipeline::submit`] and, once
//! it answered (the events are durable), the partitions' offsets are
//! committed. A message that cannot be ingested is written to the
//! dead-letter table (and topic) before its offset is committed, so it
//! never blocks its partition. When the ingest queue is full the assigned
//! partitions are paused and the batch retried with backoff: nothing is
//! dropped and at most one batch is held.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use rdkafka::ClientContext;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use vigilo_core::{NewEvent, Origin};
use vigilo_storage::NewDeadLetter;

use super::config::KafkaSourceConfig;
use crate::connectors::{ConnectorError, Context};
use crate::ingest::{self, Encoding, Format, Limits, Media};
use crate::pipeline::SubmitError;

/// Most events one Kafka message may hold: an event's origin offset is
/// `kafka offset * MAX_EVENTS_PER_MESSAGE + index in the message`, so
/// every event of a message is stored once and a redelivered message is
/// skipped whole. A message holding more goes to the dead letters.
pub const MAX_EVENTS_PER_MESSAGE: usize = 65_536;

/// How often the source reports to the hub.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// The origin offset of the `index`-th event of the message at `offset`.
pub fn stream_offset(offset: i64, index: usize) -> i64 {
    offset
        .saturating_mul(MAX_EVENTS_PER_MESSAGE as i64)
        .saturating_add(index as i64)
}

/// Counts shared with the reporter.
#[derive(Default)]
struct Stats {
    messages: AtomicU64,
    events: AtomicU64,
    dead_letters: AtomicU64,
    errors: AtomicU64,
    overloaded: AtomicU64,
    commits: AtomicU64,
    /// Last offset handled (stored or dead-lettered) per partition.
    handled: Mutex<BTreeMap<(String, i32), i64>>,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vigilo_kafka_errors_total", "connector" => "kafka").increment(1);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }
}

/// The consumer's callbacks: commit outcomes are counted and logged.
struct SourceContext {
    stats: Arc<Stats>,
    /// `resume_rewind`: messages re-read before the committed offset.
    rewind: i64,
}

impl ClientContext for SourceContext {}

impl ConsumerContext for SourceContext {
    /// With `resume_rewind`, start each newly assigned partition that many
    /// messages before its committed offset (the stored origins skip what
    /// was already stored), for brokers that cannot resume inside a batch
    /// of records produced together.
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        let rdkafka::consumer::Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        if self.rewind <= 0 {
            return;
        }
        let committed = match consumer.committed_offsets((*tpl).clone(), Duration::from_secs(10)) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read committed offsets to rewind");
                self.stats.error(format!("committed offsets: {e}"));
                return;
            }
        };
        for mut el in tpl.elements() {
            if let Some(Offset::Offset(o)) = committed
                .find_partition(el.topic(), el.partition())
                .map(|c| c.offset())
                && o > 0
            {
                let from = (o - self.rewind).max(0);
                tracing::debug!(
                    topic = el.topic(),
                    partition = el.partition(),
                    committed = o,
                    from,
                    "kafka partition rewound"
                );
                if let Err(e) = el.set_offset(Offset::Offset(from)) {
                    self.stats.error(format!("rewind: {e}"));
                }
            }
        }
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, _: &TopicPartitionList) {
        match result {
            Ok(()) => {
                self.stats.commits.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // Harmless for delivery: the stored origins skip a redelivery.
                tracing::warn!(error = %e, "kafka offset commit failed");
                self.stats.error(format!("commit: {e}"));
            }
        }
    }
}

type KafkaConsumer = StreamConsumer<SourceContext>;

/// A message that could not be ingested.
struct DeadLetter {
    topic: String,
    partition: i32,
    offset: i64,
    reason: String,
    raw: Vec<u8>,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

pub fn start_source(
    config: KafkaSourceConfig,
    ctx: Context,
) -> Result<JoinHandle<()>, ConnectorError> {
    config.validate()?;
    let stats = Arc::new(Stats::default());
    let consumer: KafkaConsumer = config
        .consumer_config()
        .create_with_context(SourceContext {
            stats: stats.clone(),
            rewind: config.resume_rewind,
        })
        .map_err(|e| ConnectorError::new("kafka", format!("cannot create the consumer: {e}")))?;
    let topics: Vec<&str> = config.topics.keys().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| ConnectorError::new("kafka", format!("cannot subscribe: {e}")))?;
    let dead_letter_producer = match &config.dead_letter_topic {
        Some(_) => {
            let mut pc = rdkafka::ClientConfig::new();
            pc.set("bootstrap.servers", &config.brokers)
                .set("client.id", "vigilo-dead-letters")
                .set("acks", "all");
            for (k, v) in &config.options {
                if !k.starts_with("group.")
                    && !k.starts_with("session.")
                    && !k.starts_with("auto.")
                    && !k.starts_with("enable.auto")
                {
                    pc.set(k, v);
                }
            }
            if let Some(p) = &config.sasl_password {
                pc.set("sasl.password", p.expose());
            }
            let p: FutureProducer = pc.create().map_err(|e| {
                ConnectorError::new(
                    "kafka",
                    format!("cannot create the dead-letter producer: {e}"),
                )
            })?;
            Some(p)
        }
        None => None,
    };
    let consumer = Arc::new(consumer);
    tracing::info!(brokers = %config.brokers, group = %config.group_id, topics = ?topics, "kafka source started");
    let reporter = tokio::spawn(report(consumer.clone(), stats.clone(), ctx.clone()));
    Ok(tokio::spawn(async move {
        let mut source = Source {
            config,
            ctx,
            consumer,
            dead_letter_producer,
            stats,
        };
        source.run().await;
        reporter.abort();
        let _ = reporter.await;
        source.final_report().await;
    }))
}

struct Source {
    config: KafkaSourceConfig,
    ctx: Context,
    consumer: Arc<KafkaConsumer>,
    dead_letter_producer: Option<FutureProducer>,
    stats: Arc<Stats>,
}

/// One batch being built: events, and the last offset read per partition.
#[derive(Default)]
struct Batch {
    events: Vec<NewEvent>,
    offsets: HashMap<(String, i32), i64>,
}

impl Source {
    fn limits(&self) -> Limits {
        let cfg = &self.ctx.config.ingest;
        let (max_events, key) = cfg.events_per_request();
        let (max_events, key) = if max_events > MAX_EVENTS_PER_MESSAGE {
            (MAX_EVENTS_PER_MESSAGE, "the Kafka source's per-message cap")
        } else {
            (max_events, key)
        };
        Limits {
            max_body_bytes: cfg.max_body_bytes,
            max_event_bytes: cfg.max_event_bytes,
            max_events,
            max_events_key: key,
            retry_after_secs: cfg.retry_after_secs,
        }
    }

    fn batch_cap(&self) -> usize {
        self.config
            .max_batch_events
            .min(self.ctx.pipeline.capacity())
            .max(1)
    }

    async fn run(&mut self) {
        let limits = self.limits();
        let wait = Duration::from_millis(self.config.max_batch_wait_ms);
        let cap = self.batch_cap();
        let mut stop = self.ctx.clone();
        loop {
            let mut batch = Batch::default();
            let mut dead = Vec::new();
            // The first message, or the end.
            let first = tokio::select! {
                _ = stop.stopped() => break,
                m = self.consumer.recv() => m,
            };
            let mut next = Some(first);
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                if let Some(m) = next.take() {
                    match m {
                        Ok(msg) => self.take(&msg, &limits, cap, &mut batch, &mut dead),
                        Err(e) => {
                            tracing::warn!(error = %e, "kafka consumer error");
                            self.stats.error(e.to_string());
                        }
                    }
                }
                if batch.events.len() >= cap || dead.len() >= 1_000 || self.ctx.is_stopping() {
                    break;
                }
                match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                    Ok(m) => next = Some(m),
                    Err(_) => break,
                }
            }
            self.finish(batch, dead).await;
        }
    }

    /// Decode one message into the batch (or the dead letters).
    fn take(
        &self,
        msg: &rdkafka::message::BorrowedMessage<'_>,
        limits: &Limits,
        cap: usize,
        batch: &mut Batch,
        dead: &mut Vec<DeadLetter>,
    ) {
        self.stats.messages.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vigilo_kafka_messages_total", "connector" => "kafka", "topic" => msg.topic().to_string()).increment(1);
        let topic = msg.topic();
        let partition = msg.partition();
        let offset = msg.offset();
        let raw = msg.payload().unwrap_or_default();
        let kind = self.config.topics.get(topic).map(String::as_str);
        let logsource = crate::ingest::LogsourceContext::new(
            self.config
                .logsources
                .get(topic)
                .cloned()
                .unwrap_or_default(),
            self.ctx.config.logsources.rules.clone(),
        );
        match decode(msg, raw, kind, &logsource, limits, cap) {
            Ok(events) => batch.events.extend(events),
            Err(reason) => {
                let headers = msg
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                            .collect()
                    })
                    .unwrap_or_default();
                dead.push(DeadLetter {
                    topic: topic.to_string(),
                    partition,
                    offset,
                    reason,
                    raw: raw.to_vec(),
                    key: msg.key().map(<[u8]>::to_vec),
                    headers,
                });
            }
        }
        batch.offsets.insert((topic.to_string(), partition), offset);
    }

    /// Store the dead letters and the events, then commit the offsets.
    async fn finish(&mut self, batch: Batch, dead: Vec<DeadLetter>) {
        for letter in dead {
            self.dead_letter(letter).await;
        }
        let n = batch.events.len();
        if n > 0 && !self.submit(batch.events).await {
            // Shutting down before the events were stored: commit nothing.
            return;
        }
        if batch.offsets.is_empty() {
            return;
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &batch.offsets {
            if let Err(e) = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1))
            {
                self.stats.error(e.to_string());
            }
        }
        let mode = if self.ctx.is_stopping() {
            CommitMode::Sync
        } else {
            CommitMode::Async
        };
        let consumer = self.consumer.clone();
        let committed = tokio::task::spawn_blocking(move || consumer.commit(&tpl, mode)).await;
        match committed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // Harmless for delivery: the stored origins skip a redelivery.
                tracing::warn!(error = %e, "kafka offset commit failed");
                self.stats.error(format!("commit: {e}"));
            }
            Err(e) => self.stats.error(format!("commit task: {e}")),
        }
        self.stats.events.fetch_add(n as u64, Ordering::Relaxed);
        let mut handled = self.stats.handled.lock().await;
        for (k, v) in batch.offsets {
            handled.insert(k, v);
        }
    }

    /// Hand the events over until they are stored; false if the server
    /// shut down first. Pauses the partitions while the queue is full.
    async fn submit(&mut self, events: Vec<NewEvent>) -> bool {
        let mut backoff = Duration::from_millis(10);
        let mut paused: Option<TopicPartitionList> = None;
        let stored = loop {
            match self.ctx.pipeline.submit(events.clone()).await {
                Ok(_) => break true,
                Err(SubmitError::ShuttingDown) => break false,
                Err(SubmitError::Overloaded) => {
                    self.stats.overloaded.fetch_add(1, Ordering::Relaxed);
                    if paused.is_none()
                        && let Ok(assigned) = self.consumer.assignment()
                    {
                        if let Err(e) = self.consumer.pause(&assigned) {
                            tracing::warn!(error = %e, "cannot pause kafka partitions");
                        }
                        tracing::debug!("ingest queue full: kafka partitions paused");
                        paused = Some(assigned);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "storing kafka events failed; retrying");
                    self.stats.error(e.to_string());
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        };
        if let Some(tpl) = paused
            && let Err(e) = self.consumer.resume(&tpl)
        {
            tracing::warn!(error = %e, "cannot resume kafka partitions");
        }
        stored
    }

    async fn dead_letter(&self, letter: DeadLetter) {
        self.stats.dead_letters.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vigilo_kafka_dead_letters_total", "connector" => "kafka", "topic" => letter.topic.clone()).increment(1);
        let location = format!("{}/{}@{}", letter.topic, letter.partition, letter.offset);
        tracing::warn!(location = %location, reason = %letter.reason, "kafka message sent to dead letters");
        let meta = json!({
            "topic": letter.topic,
            "partition": letter.partition,
            "offset": letter.offset,
            "key": letter.key.as_deref().map(bytes_value),
            "headers": headers_value(letter.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref()))),
        });
        let mut backoff = Duration::from_millis(50);
        loop {
            let row = NewDeadLetter {
                source: "kafka".into(),
                location: location.clone(),
                reason: letter.reason.clone(),
                raw: letter.raw.clone(),
                meta: meta.clone(),
                received_at: Utc::now(),
            };
            match self.ctx.storage.insert_dead_letter(row).await {
                Ok(_) => break,
                Err(e) => {
                    self.stats.error(format!("dead letter: {e}"));
                    if self.ctx.is_stopping() {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        if let (Some(p), Some(topic)) = (&self.dead_letter_producer, &self.config.dead_letter_topic)
        {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &letter.headers {
                headers = headers.insert(rdkafka::message::Header {
                    key: k,
                    value: v.as_deref(),
                });
            }
            headers = headers
                .insert(rdkafka::message::Header {
                    key: "vigilo-reason",
                    value: Some(letter.reason.as_bytes()),
                })
                .insert(rdkafka::message::Header {
                    key: "vigilo-location",
                    value: Some(location.as_bytes()),
                });
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .payload(&letter.raw[..])
                .headers(headers);
            if let Some(k) = &letter.key {
                record = record.key(&k[..]);
            }
            if let Err((e, _)) = p.send(record, Duration::from_secs(10)).await {
                tracing::warn!(error = %e, topic = %topic, "cannot publish to the dead-letter topic");
                self.stats.error(format!("dead-letter topic: {e}"));
            }
        }
    }

    async fn final_report(&self) {
        let mut body = snapshot(&self.consumer, &self.stats, None).await;
        body.insert("status".into(), json!("done"));
        let _ = self.ctx.hub.report_internal("kafka", body).await;
    }
}

/// Decode a message into its events (with `_kafka` metadata and origins),
/// or say why it cannot be ingested.
fn decode(
    msg: &rdkafka::message::BorrowedMessage<'_>,
    raw: &[u8],
    kind: Option<&str>,
    logsource: &crate::ingest::LogsourceContext,
    limits: &Limits,
    cap: usize,
) -> Result<Vec<NewEvent>, String> {
    if raw.is_empty() {
        return Err("message has no value".into());
    }
    let media = Media {
        format: Format::Json,
        encoding: Encoding::Identity,
    };
    let mut events = ingest::decode(media, raw, limits, Utc::now(), logsource, &mut |_| Ok(()))
        .map_err(|e| {
            let mut reason = e.message;
            for d in e.details.iter().take(3) {
                reason.push_str(&format!("; event {}: {}", d.index, d.message));
            }
            reason
        })?;
    if events.len() > cap {
        return Err(format!(
            "message holds {} events, more than one batch of the ingest queue ({cap})",
            events.len()
        ));
    }
    let topic = msg.topic();
    let partition = msg.partition();
    let offset = msg.offset();
    let meta = json!({
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": msg.key().map(bytes_value),
        "headers": headers_value(
            msg.headers()
                .into_iter()
                .flat_map(|h| h.iter().map(|h| (h.key, h.value)))
        ),
    });
    let stream = format!("kafka:{topic}:{partition}");
    for (i, ev) in events.iter_mut().enumerate() {
        if let Some(kind) = kind
            && matches!(ev.payload.get("kind"), None | Some(Value::Null))
        {
            ev.kind = kind.to_string();
        }
        ev.payload.insert("_kafka".into(), meta.clone());
        ev.origin = Some(Origin {
            stream: stream.clone(),
            offset: stream_offset(offset, i),
        });
    }
    Ok(events)
}

/// A key or header value: its text when it is UTF-8, else
/// `{"base64": "..."}`.
fn bytes_value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

/// Headers as an object (a repeated name keeps its last value).
fn headers_value<'a>(headers: impl Iterator<Item = (&'a str, Option<&'a [u8]>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in headers {
        m.insert(k.to_string(), v.map(bytes_value).unwrap_or(Value::Null));
    }
    Value::Object(m)
}

/// The status body: counts, assignment and lag (the high watermarks are
/// asked of the broker, at most a second per partition).
async fn snapshot(
    consumer: &Arc<KafkaConsumer>,
    stats: &Stats,
    rate: Option<f64>,
) -> Map<String, Value> {
    let handled = stats.handled.lock().await.clone();
    let c = consumer.clone();
    let partitions = tokio::task::spawn_blocking(move || {
        let Ok(assigned) = c.assignment() else {
            return Vec::new();
        };
        assigned
            .elements()
            .iter()
            .map(|el| {
                let (topic, partition) = (el.topic().to_string(), el.partition());
                let high = c
                    .fetch_watermarks(&topic, partition, Duration::from_secs(1))
                    .ok()
                    .map(|(_, high)| high);
                (topic, partition, high)
            })
            .collect()
    })
    .await
    .unwrap_or_default();
    let mut total_lag: i64 = 0;
    let mut lag_by_topic: BTreeMap<String, i64> = BTreeMap::new();
    let partitions: Vec<Value> = partitions
        .into_iter()
        .map(|(topic, partition, high)| {
            let done = handled.get(&(topic.clone(), partition)).map(|o| o + 1);
            // Nothing handled yet: everything up to the high mark waits.
            let lag = high.map(|h| (h - done.unwrap_or(0)).max(0));
            if let Some(l) = lag {
                total_lag += l;
                *lag_by_topic.entry(topic.clone()).or_default() += l;
            }
            json!({
                "topic": topic,
                "partition": partition,
                "next_offset": done,
                "lag": lag,
            })
        })
        .collect();
    for (topic, lag) in &lag_by_topic {
        metrics::gauge!("vigilo_kafka_consumer_lag", "connector" => "kafka", "topic" => topic.clone())
            .set(*lag as f64);
    }
    let mut body = Map::new();
    body.insert("status".into(), json!("running"));
    body.insert(
        "messages".into(),
        json!(stats.messages.load(Ordering::Relaxed)),
    );
    body.insert("events".into(), json!(stats.events.load(Ordering::Relaxed)));
    if let Some(r) = rate {
        body.insert("events_per_second".into(), json!((r * 10.0).round() / 10.0));
    }
    body.insert(
        "dead_letters".into(),
        json!(stats.dead_letters.load(Ordering::Relaxed)),
    );
    body.insert("errors".into(), json!(stats.errors.load(Ordering::Relaxed)));
    body.insert(
        "commits".into(),
        json!(stats.commits.load(Ordering::Relaxed)),
    );
    body.insert(
        "paused_for_backpressure".into(),
        json!(stats.overloaded.load(Ordering::Relaxed)),
    );
    body.insert("lag".into(), json!(total_lag));
    body.insert("partitions".into(), Value::Array(partitions));
    if let Ok(e) = stats.last_error.lock()
        && let Some(e) = e.as_ref()
    {
        body.insert("last_error".into(), json!(e));
    }
    body
}

/// Report to the hub every few seconds.
async fn report(consumer: Arc<KafkaConsumer>, stats: Arc<Stats>, ctx: Context) {
    let mut last = (Instant::now(), 0u64);
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tick.tick().await;
        let events = stats.events.load(Ordering::Relaxed);
        let secs = last.0.elapsed().as_secs_f64().max(0.001);
        let rate = (events - last.1) as f64 / secs;
        last = (Instant::now(), events);
        let body = snapshot(&consumer, &stats, Some(rate)).await;
        if let Err(e) = ctx.hub.report_internal("kafka", body).await {
            tracing::debug!(error = %e, "kafka status report failed");
        }
    }
}
