//! The RabbitMQ sink: finding changes from the outbox and IAM audit
//! summaries, published as persistent JSON with publisher confirms. The
//! stored position moves only once the broker confirmed every message up
//! to it, so a crash loses nothing and repeats at most the unconfirmed
//! tail, which consumers recognise by `message_id`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, PublisherConfirm};
use serde_json::{Map, json};
use vigilo_storage::{Cursor, FindingChange};

use super::{APP_ID, AmqpSinkConfig, Backoff, connect, describe, ensure_queue};
use crate::connectors::Context;

/// Name on the status board.
const NAME: &str = "amqp-sink";
/// Outbox reader names (`consumer_position`).
pub const FINDINGS_CONSUMER: &str = "sink.amqp";
pub const IAM_CONSUMER: &str = "sink.amqp.iam";
/// Longest wait for new work when nothing wakes the sink.
const POLL: Duration = Duration::from_millis(200);
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Longest wait at shutdown for the pipeline's last commit.
const FLUSH_WAIT: Duration = Duration::from_secs(10);
/// Audits read per page while looking for new ones.
const IAM_PAGE: u32 = 200;

#[derive(Default)]
struct Stats {
    findings: AtomicU64,
    iam: AtomicU64,
    position: AtomicI64,
    connected: AtomicBool,
    reconnects: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Stats {
    fn set_connected(&self, on: bool) {
        self.connected.store(on, Ordering::Relaxed);
        metrics::gauge!("vigilo_amqp_connected", "role" => "sink").set(if on { 1.0 } else { 0.0 });
    }
}

enum End {
    Stopped,
    Failed(String),
}

impl From<lapin::Error> for End {
    fn from(e: lapin::Error) -> Self {
        End::Failed(describe(&e))
    }
}

impl From<vigilo_storage::StorageError> for End {
    fn from(e: vigilo_storage::StorageError) -> Self {
        End::Failed(format!("storage: {e}"))
    }
}

pub(super) async fn run(cfg: AmqpSinkConfig, mut ctx: Context) {
    if !ctx.until_leading().await {
        return;
    }
    let cfg = Arc::new(cfg);
    let stats = Arc::new(Stats::default());
    stats.set_connected(false);
    let reporter = tokio::spawn(report_loop(ctx.clone(), stats.clone()));
    let mut backoff = Backoff::new();
    loop {
        match session(&cfg, &ctx, &stats, &mut backoff).await {
            End::Stopped => break,
            End::Failed(e) => {
                stats.set_connected(false);
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                let wait = backoff.next();
                tracing::warn!(connector = NAME, error = %e, retry_in_ms = wait.as_millis() as u64, "amqp sink disconnected");
                if let Ok(mut g) = stats.last_error.lock() {
                    *g = Some(e);
                }
                report(&ctx, &stats).await;
                if ctx.is_stopping() {
                    // Whatever is left goes out after the next start.
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = ctx.stopped() => break,
                }
            }
        }
    }
    stats.set_connected(false);
    reporter.abort();
    report(&ctx, &stats).await;
    tracing::info!(connector = NAME, "amqp sink stopped");
}

async fn session(cfg: &AmqpSinkConfig, ctx: &Context, stats: &Stats, backoff: &mut Backoff) -> End {
    let conn = match connect(cfg.url.expose(), &cfg.connection_name).await {
        Ok(c) => c,
        Err(e) => return End::Failed(format!("connect: {}", describe(&e))),
    };
    let end = serve(cfg, ctx, stats, backoff, &conn).await;
    if conn.status().connected() {
        let _ = conn.close(200, "OK".into()).await;
    }
    end
}

async fn serve(
    cfg: &AmqpSinkConfig,
    ctx: &Context,
    stats: &Stats,
    backoff: &mut Backoff,
    conn: &lapin::Connection,
) -> End {
    if cfg.exchange.is_empty() {
        // The default exchange routes by queue name: make sure the queues
        // are there, or the broker would drop (and still confirm) the
        // messages.
        for q in [&cfg.findings_routing_key, &cfg.iam_routing_key] {
            if let Err(e) = ensure_queue(conn, q, FieldTable::default()).await {
                return End::Failed(format!("declare {q}: {}", describe(&e)));
            }
        }
    }
    let channel = match conn.create_channel().await {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    if let Err(e) = channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
    {
        return e.into();
    }
    backoff.reset();
    stats.set_connected(true);
    tracing::info!(connector = NAME, exchange = %cfg.exchange, "amqp sink connected");
    report(ctx, stats).await;
    let mut live = ctx.pipeline.subscribe();
    let mut stop = ctx.stop.clone();
    loop {
        let stopping = ctx.is_stopping();
        if stopping {
            // The stop reaches the sinks with the sources, before the
            // pipeline's last commit: let it land so its findings go out
            // now rather than after the next start.
            let deadline = std::time::Instant::now() + FLUSH_WAIT;
            while ctx.pipeline.queue_depth() > 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        if let Err(end) = drain_findings(cfg, ctx, stats, &channel).await {
            return end;
        }
        if let Err(end) = drain_iam(cfg, ctx, stats, &channel).await {
            return end;
        }
        if stopping {
            // One full pass after the pipeline flushed: done.
            return End::Stopped;
        }
        if !conn.status().connected() {
            return End::Failed("connection closed".into());
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = live.recv() => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    }
}

/// Properties of every published message.
fn properties(message_id: String, kind: &str) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_app_id(APP_ID.into())
        .with_message_id(message_id.as_str().into())
        .with_type(kind.into())
        .with_timestamp(chrono::Utc::now().timestamp().max(0) as u64)
}

/// Wait for the broker to confirm every message; a nack fails the session
/// (the position stays, so they go out again).
async fn confirmed(confirms: Vec<PublisherConfirm>) -> Result<(), End> {
    for c in confirms {
        let c = c.await?;
        if c.is_nack() {
            return Err(End::Failed("the broker refused (nacked) a message".into()));
        }
    }
    Ok(())
}

/// Publish the outbox from the stored position, one confirmed batch at a
/// time.
async fn drain_findings(
    cfg: &AmqpSinkConfig,
    ctx: &Context,
    stats: &Stats,
    channel: &Channel,
) -> Result<(), End> {
    loop {
        let position = ctx.storage.consumer_position(FINDINGS_CONSUMER).await?;
        stats.position.store(position, Ordering::Relaxed);
        let changes = ctx
            .storage
            .finding_changes_after(position, cfg.batch)
            .await?;
        let Some(last) = changes.last().map(|c| c.seq) else {
            return Ok(());
        };
        let mut confirms = Vec::with_capacity(changes.len());
        for change in &changes {
            let Some(body) = finding_message(ctx, change).await? else {
                continue;
            };
            let id = format!("finding-{}-{}", change.finding_id, change.seq);
            let confirm = channel
                .basic_publish(
                    cfg.exchange.as_str().into(),
                    cfg.findings_routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties(id, change.kind.as_str()),
                )
                .await?;
            confirms.push(confirm);
        }
        let n = confirms.len() as u64;
        confirmed(confirms).await?;
        ctx.storage
            .set_consumer_position(FINDINGS_CONSUMER, last)
            .await?;
        stats.position.store(last, Ordering::Relaxed);
        stats.findings.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("vigilo_amqp_published_total", "kind" => "finding").increment(n);
    }
}

/// `{"event", "seq", "status", "at", "finding"}`; None when the finding is
/// gone.
async fn finding_message(ctx: &Context, change: &FindingChange) -> Result<Option<Vec<u8>>, End> {
    let Some(finding) = ctx.storage.get_finding(change.finding_id).await? else {
        tracing::warn!(
            connector = NAME,
            finding = change.finding_id,
            "outbox names a finding that is gone; skipped"
        );
        return Ok(None);
    };
    let body = json!({
        "event": change.kind.as_str(),
        "seq": change.seq,
        "status": change.status,
        "at": change.at,
        "finding": finding,
    });
    serde_json::to_vec(&body)
        .map(Some)
        .map_err(|e| End::Failed(format!("encoding finding {}: {e}", change.finding_id)))
}

/// Publish every audit stored after the position (audit ids grow), oldest
/// first, each confirmed before the position moves past it.
async fn drain_iam(
    cfg: &AmqpSinkConfig,
    ctx: &Context,
    stats: &Stats,
    channel: &Channel,
) -> Result<(), End> {
    let position = ctx.storage.consumer_position(IAM_CONSUMER).await?;
    // Newest first: read until the position.
    let mut fresh = Vec::new();
    let mut after: Option<Cursor> = None;
    'pages: loop {
        let page = ctx.storage.scan_iam_audits(after, IAM_PAGE).await?;
        for a in &page {
            if a.id <= position {
                break 'pages;
            }
            fresh.push(a.id);
        }
        match page.last() {
            Some(last) if page.len() as u32 == IAM_PAGE => {
                after = Some(Cursor {
                    time: last.created_at,
                    id: last.id,
                })
            }
            _ => break,
        }
    }
    fresh.sort_unstable();
    for id in fresh {
        let Some(audit) = ctx.storage.get_iam_audit(id).await? else {
            continue;
        };
        let body = serde_json::to_vec(&super::super::iam_envelope(&audit))
            .map_err(|e| End::Failed(format!("encoding audit {id}: {e}")))?;
        let confirm = channel
            .basic_publish(
                cfg.exchange.as_str().into(),
                cfg.iam_routing_key.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                properties(format!("iam-audit-{id}"), "iam_audit"),
            )
            .await?;
        confirmed(vec![confirm]).await?;
        ctx.storage.set_consumer_position(IAM_CONSUMER, id).await?;
        stats.iam.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("vigilo_amqp_published_total", "kind" => "iam_audit").increment(1);
    }
    Ok(())
}

async fn report_loop(mut ctx: Context, stats: Arc<Stats>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(REPORT_EVERY) => {}
            _ = ctx.stopped() => return,
        }
        report(&ctx, &stats).await;
    }
}

async fn report(ctx: &Context, stats: &Stats) {
    let connected = stats.connected.load(Ordering::Relaxed);
    let mut body = Map::new();
    let status = if ctx.is_stopping() && !connected {
        "done"
    } else if connected {
        "running"
    } else {
        "error"
    };
    body.insert("status".into(), status.into());
    body.insert("connected".into(), connected.into());
    body.insert(
        "findings_published_total".into(),
        stats.findings.load(Ordering::Relaxed).into(),
    );
    body.insert(
        "iam_audits_published_total".into(),
        stats.iam.load(Ordering::Relaxed).into(),
    );
    body.insert(
        "outbox_position".into(),
        stats.position.load(Ordering::Relaxed).into(),
    );
    body.insert(
        "reconnects_total".into(),
        stats.reconnects.load(Ordering::Relaxed).into(),
    );
    let last_error = stats.last_error.lock().ok().and_then(|g| g.clone());
    body.insert("last_error".into(), json!(last_error));
    if let Err(e) = ctx.hub.report_internal(NAME, body).await {
        tracing::warn!(connector = NAME, error = %e, "amqp sink: hub report failed");
    }
}
