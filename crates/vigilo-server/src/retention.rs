//! The retention sweep: every `retention.interval`, storage purges what
//! expired step after step (each a bounded batch in a short transaction),
//! yielding between steps so ingest and the API never wait for it. The
//! sweep also runs the backend's upkeep when nothing expires (PostgreSQL
//! creates the coming days' partitions), so it always runs.

use std::sync::Weak;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use vigilo_storage::{PurgeReport, Retention, Storage};

use crate::config::RetentionConfig;

/// Most steps one sweep takes; the rest waits for the next sweep.
const MAX_STEPS: u32 = 10_000;

/// The cutoffs of `config` at `now`.
pub fn cutoffs(config: &RetentionConfig, now: DateTime<Utc>) -> Retention {
    let before = |d: Option<crate::config::DurationText>| {
        d.and_then(|d| chrono::Duration::from_std(d.0).ok())
            .and_then(|d| now.checked_sub_signed(d))
    };
    Retention {
        events_before: before(config.events),
        findings_before: before(config.findings),
        rollups_before: before(config.rollups),
        batch: config.batch.max(1),
    }
}

/// One sweep: steps until storage says done (or [`MAX_STEPS`]).
pub async fn sweep(
    storage: &dyn Storage,
    config: &RetentionConfig,
) -> vigilo_storage::Result<PurgeReport> {
    let r = cutoffs(config, Utc::now());
    let started = Instant::now();
    let mut total = PurgeReport::default();
    for _ in 0..MAX_STEPS {
        let step = storage.purge_expired(&r).await?;
        metrics::counter!("vigilo_retention_purged_total", "kind" => "events")
            .increment(step.events);
        metrics::counter!("vigilo_retention_purged_total", "kind" => "findings")
            .increment(step.findings);
        metrics::counter!("vigilo_retention_purged_total", "kind" => "rollups")
            .increment(step.rollups);
        total.add(step);
        if step.done {
            break;
        }
        tokio::task::yield_now().await;
    }
    let secs = started.elapsed().as_secs_f64();
    metrics::histogram!("vigilo_retention_sweep_seconds").record(secs);
    if total.events + total.findings + total.rollups > 0 {
        tracing::info!(
            events = total.events,
            findings = total.findings,
            rollups = total.rollups,
            done = total.done,
            elapsed_ms = (secs * 1000.0) as u64,
            "retention sweep removed expired data"
        );
    } else {
        tracing::debug!(
            elapsed_ms = (secs * 1000.0) as u64,
            "retention sweep found nothing expired"
        );
    }
    Ok(total)
}

/// Sweep every `config.interval`, from one interval after start, while
/// the storage is alive.
pub fn spawn(storage: Weak<dyn Storage>, config: RetentionConfig) {
    let every = config.interval.0.max(Duration::from_millis(10));
    tokio::spawn(async move {
        // The first sweep one interval after start: migrating already
        // created what the first inserts need.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(storage) = storage.upgrade() else {
                break;
            };
            if let Err(e) = sweep(storage.as_ref(), &config).await {
                tracing::warn!(error = %e, "retention sweep failed");
            }
        }
    });
}
