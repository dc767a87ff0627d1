//! The Kafka sink: the finding outbox (and IAM audit summaries) published
//! with `acks=all` by an idempotent producer.
//!
//! Each finding change becomes one message keyed by the finding id,
//! `{"event": "created"|"updated"|"status", "seq": <outbox seq>, "finding":
//! {...}}`, the finding as the API shows it at publish time. The sink's
//! stored position moves only after the broker acknowledged every message
//! up to it; a crash between the acknowledgement and the move republishes
//! that last batch (same key and `seq`, so consumers can drop the repeat).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use super::config::KafkaSinkConfig;
use crate::connectors::{ConnectorError, Context};

/// The sink's position in the finding outbox.
pub const FINDINGS_CONSUMER: &str = "sink.kafka";
/// The highest IAM audit id published.
pub const IAM_CONSUMER: &str = "sink.kafka.iam";

/// Outbox entries read per step.
const PAGE: u32 = 500;
/// How often the outbox is polled when idle.
const POLL: Duration = Duration::from_millis(200);
/// How often the sink reports to the hub.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// How long one message may wait for its acknowledgement.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Stats {
    published: AtomicU64,
    iam_published: AtomicU64,
    errors: AtomicU64,
    position: AtomicU64,
    last_error: std::sync::Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, message: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vigilo_kafka_sink_errors_total", "connector" => "kafka-sink")
            .increment(1);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(message);
        }
    }
}

pub fn start_sink(config: KafkaSinkConfig, ctx: Context) -> Result<JoinHandle<()>, ConnectorError> {
    config.validate()?;
    let producer: FutureProducer = config.producer_config().create().map_err(|e| {
        ConnectorError::new("kafka-sink", format!("cannot create the producer: {e}"))
    })?;
    tracing::info!(brokers = %config.brokers, topic = %config.findings_topic, "kafka sink started");
    let stats = Arc::new(Stats::default());
    let reporter = tokio::spawn(report(stats.clone(), ctx.clone()));
    Ok(tokio::spawn(async move {
        run(&config, &producer, &stats, ctx.clone()).await;
        reporter.abort();
        let _ = reporter.await;
        let mut body = snapshot(&stats);
        body.insert("status".into(), json!("done"));
        let _ = ctx.hub.report_internal("kafka-sink", body).await;
    }))
}

async fn run(config: &KafkaSinkConfig, producer: &FutureProducer, stats: &Stats, ctx: Context) {
    let mut stop = ctx.clone();
    if !stop.until_leading().await {
        return;
    }
    let mut backoff = POLL;
    loop {
        let outcome = async {
            let more = publish_findings(config, producer, stats, &ctx).await?;
            if let Some(topic) = &config.iam_topic {
                publish_audits(topic, producer, stats, &ctx).await?;
            }
            Ok::<bool, String>(more)
        }
        .await;
        let pause = match outcome {
            Ok(true) => {
                backoff = POLL;
                continue;
            }
            Ok(false) => {
                backoff = POLL;
                POLL
            }
            Err(e) => {
                tracing::warn!(error = %e, "kafka sink publish failed; retrying");
                stats.error(e);
                backoff = (backoff * 2).min(Duration::from_secs(10));
                backoff
            }
        };
        if ctx.is_stopping() {
            // One last pass ran after the pipeline flushed.
            break;
        }
        tokio::select! {
            _ = stop.stopped() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Publish the next page of outbox entries; true when a full page went
/// (there may be more).
async fn publish_findings(
    config: &KafkaSinkConfig,
    producer: &FutureProducer,
    stats: &Stats,
    ctx: &Context,
) -> Result<bool, String> {
    let storage = &ctx.storage;
    let position = storage
        .consumer_position(FINDINGS_CONSUMER)
        .await
        .map_err(|e| format!("reading the sink position: {e}"))?;
    stats
        .position
        .store(position.max(0) as u64, Ordering::Relaxed);
    let changes = storage
        .finding_changes_after(position, PAGE)
        .await
        .map_err(|e| format!("reading the finding outbox: {e}"))?;
    if changes.is_empty() {
        return Ok(false);
    }
    let mut messages = Vec::with_capacity(changes.len());
    for change in &changes {
        let finding = storage
            .get_finding(change.finding_id)
            .await
            .map_err(|e| format!("reading finding {}: {e}", change.finding_id))?;
        let finding = match finding {
            Some(f) => serde_json::to_value(&f).map_err(|e| e.to_string())?,
            // Gone (deleted by retention): say what is known.
            None => json!({"id": change.finding_id, "status": change.status}),
        };
        let body = json!({
            "event": change.kind.as_str(),
            "seq": change.seq,
            "at": change.at,
            "finding": finding,
        });
        messages.push((change.seq, change.finding_id.to_string(), body.to_string()));
    }
    // Every message in flight at once; the position moves to the last one
    // of the acknowledged prefix.
    let sends = messages.iter().map(|(_, key, payload)| {
        producer.send(
            FutureRecord::to(&config.findings_topic)
                .key(key.as_str())
                .payload(payload.as_str()),
            SEND_TIMEOUT,
        )
    });
    let results = futures_util::future::join_all(sends).await;
    let mut acked = position;
    let mut failure = None;
    for ((seq, _, _), r) in messages.iter().zip(results) {
        match r {
            Ok(_) if failure.is_none() => {
                acked = *seq;
                stats.published.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("vigilo_kafka_published_total", "connector" => "kafka-sink", "topic" => config.findings_topic.clone()).increment(1);
            }
            Ok(_) => {}
            Err((e, _)) => {
                failure.get_or_insert_with(|| format!("publishing outbox entry {seq}: {e}"));
            }
        }
    }
    if acked > position {
        storage
            .set_consumer_position(FINDINGS_CONSUMER, acked)
            .await
            .map_err(|e| format!("moving the sink position: {e}"))?;
        stats.position.store(acked as u64, Ordering::Relaxed);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(changes.len() as u32 == PAGE),
    }
}

/// Publish IAM audit summaries stored after the highest id published.
async fn publish_audits(
    topic: &str,
    producer: &FutureProducer,
    stats: &Stats,
    ctx: &Context,
) -> Result<(), String> {
    let storage = &ctx.storage;
    let position = storage
        .consumer_position(IAM_CONSUMER)
        .await
        .map_err(|e| format!("reading the IAM sink position: {e}"))?;
    // The scan runs newest first: read until a page holds nothing new.
    let mut fresh = Vec::new();
    let mut after = None;
    loop {
        let page = storage
            .scan_iam_audits(after, 200)
            .await
            .map_err(|e| format!("reading IAM audits: {e}"))?;
        let Some(last) = page.last() else { break };
        after = Some(vigilo_storage::Cursor {
            time: last.created_at,
            id: last.id,
        });
        let before = fresh.len();
        fresh.extend(page.into_iter().filter(|a| a.id > position));
        if fresh.len() == before {
            break;
        }
    }
    if fresh.is_empty() {
        return Ok(());
    }
    fresh.sort_by_key(|a| a.id);
    for listed in fresh {
        let Some(audit) = storage
            .get_iam_audit(listed.id)
            .await
            .map_err(|e| format!("reading IAM audit {}: {e}", listed.id))?
        else {
            continue;
        };
        let body = super::super::iam_envelope(&audit).to_string();
        let key = audit.id.to_string();
        producer
            .send(
                FutureRecord::to(topic)
                    .key(key.as_str())
                    .payload(body.as_str()),
                SEND_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| format!("publishing IAM audit {}: {e}", audit.id))?;
        storage
            .set_consumer_position(IAM_CONSUMER, audit.id)
            .await
            .map_err(|e| format!("moving the IAM sink position: {e}"))?;
        stats.iam_published.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vigilo_kafka_published_total", "connector" => "kafka-sink", "topic" => topic.to_string()).increment(1);
    }
    Ok(())
}

fn snapshot(stats: &Stats) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("status".into(), json!("running"));
    body.insert(
        "published".into(),
        json!(stats.published.load(Ordering::Relaxed)),
    );
    body.insert(
        "iam_published".into(),
        json!(stats.iam_published.load(Ordering::Relaxed)),
    );
    body.insert(
        "outbox_position".into(),
        json!(stats.position.load(Ordering::Relaxed)),
    );
    body.insert("errors".into(), json!(stats.errors.load(Ordering::Relaxed)));
    if let Ok(e) = stats.last_error.lock()
        && let Some(e) = e.as_ref()
    {
        body.insert("last_error".into(), json!(e));
    }
    body
}

async fn report(stats: Arc<Stats>, ctx: Context) {
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = ctx
            .hub
            .report_internal("kafka-sink", snapshot(&stats))
            .await
        {
            tracing::debug!(error = %e, "kafka sink status report failed");
        }
    }
}
