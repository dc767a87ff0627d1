//! Connectors: sources that feed the ingest pipeline from message brokers,
//! and sinks that publish what Vigilo finds. One directory each (config,
//! source, sink); their integration tests are `tests/<name>.rs`.
//!
//! Every connector is started by [`start`] with a [`Context`], reports to
//! the pipeline hub under its own name (`kafka`, `amqp`, `archive`, ...)
//! every few seconds with its rate, lag and errors, exports Prometheus
//! metrics, and stops when the server shuts down: sources stop before the
//! pipeline is flushed, so everything they handed over is stored.
//!
//! Delivery: a source hands events to [`Pipeline::submit`], which answers
//! once they are durable; only then does it commit (Kafka offsets) or ack
//! (RabbitMQ). Events from an ordered source carry an
//! [`vigilo_core::Origin`], and storage skips an offset it already holds,
//! so a redelivery after a crash stores nothing twice. Sinks read the
//! finding outbox ([`vigilo_storage::FindingChange`]) from their stored
//! position and move it only after the broker confirmed.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vigilo_storage::Storage;

use crate::config::Config;
use crate::hub::Hub;
use crate::pipeline::Pipeline;

pub mod amqp;
pub mod archive;
pub mod kafka;

/// `[sources]`: where events come from besides HTTP and WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    /// `[sources.kafka]`
    pub kafka: Option<kafka::KafkaSourceConfig>,
    /// `[sources.amqp]`
    pub amqp: Option<amqp::AmqpSourceConfig>,
}

/// `[sinks]`: where findings and IAM audit summaries are published.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinksConfig {
    /// `[sinks.kafka]`
    pub kafka: Option<kafka::KafkaSinkConfig>,
    /// `[sinks.amqp]`
    pub amqp: Option<amqp::AmqpSinkConfig>,
}

/// What a connector works with.
#[derive(Clone)]
pub struct Context {
    pub storage: Arc<dyn Storage>,
    pub pipeline: Arc<Pipeline>,
    pub hub: Arc<Hub>,
    pub config: Arc<Config>,
    /// Turns true when the server shuts down.
    pub stop: watch::Receiver<bool>,
}

impl Context {
    /// Resolves once the server shuts down.
    pub async fn stopped(&mut self) {
        let _ = self.stop.wait_for(|s| *s).await;
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Wait until this process leads detection (at once on a storage only
    /// it opens); `false` when the server stops first. Sinks start only on
    /// the leader, so processes sharing one database publish, archive and
    /// alert nothing twice; when the leader dies, the next one resumes from
    /// the stored positions.
    pub async fn until_leading(&mut self) -> bool {
        let mut leading = self.pipeline.leading();
        let mut stop = self.stop.clone();
        tokio::select! {
            r = leading.wait_for(|l| *l) => r.is_ok(),
            _ = stop.wait_for(|s| *s) => false,
        }
    }
}

/// A connector that could not start (a bad URL, an unknown option).
#[derive(Debug, thiserror::Error)]
#[error("{connector}: {message}")]
pub struct ConnectorError {
    pub connector: &'static str,
    pub message: String,
}

impl ConnectorError {
    pub fn new(connector: &'static str, message: impl Into<String>) -> Self {
        ConnectorError {
            connector,
            message: message.into(),
        }
    }
}

/// The running connectors.
pub struct Running {
    /// Stops the sources.
    stop: watch::Sender<bool>,
    /// Stops the sinks, the archive and the alerter: sent only after the
    /// pipeline flushed, so they see the last events and findings.
    stop_sinks: watch::Sender<bool>,
    /// Sources: stopped and awaited before the pipeline flushes.
    sources: Vec<(&'static str, JoinHandle<()>)>,
    /// Sinks and the archive: stopped after the pipeline flushed, so they
    /// see the last findings.
    sinks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// Stop the sources and wait for them (their last batches are stored).
    pub async fn stop_sources(&mut self) {
        let _ = self.stop.send(true);
        for (name, task) in self.sources.drain(..) {
            if let Err(e) = task.await {
                tracing::warn!(connector = name, error = %e, "source task ended abnormally");
            }
        }
    }

    /// Stop everything still running.
    pub async fn stop_all(&mut self) {
        self.stop_sources().await;
        let _ = self.stop_sinks.send(true);
        for (name, task) in self.sinks.drain(..) {
            if let Err(e) = task.await {
                tracing::warn!(connector = name, error = %e, "sink task ended abnormally");
            }
        }
    }
}

/// Start every configured connector. A connector whose configuration is
/// wrong fails the start; one whose broker is down starts and retries.
pub fn start(
    storage: Arc<dyn Storage>,
    pipeline: Arc<Pipeline>,
    hub: Arc<Hub>,
    config: Arc<Config>,
) -> Result<Running, ConnectorError> {
    let (stop, stop_rx) = watch::channel(false);
    let (stop_sinks, stop_sinks_rx) = watch::channel(false);
    let ctx = Context {
        storage,
        pipeline,
        hub,
        config: config.clone(),
        stop: stop_rx,
    };
    let sink_ctx = Context {
        stop: stop_sinks_rx,
        ..ctx.clone()
    };
    let mut running = Running {
        stop,
        stop_sinks,
        sources: Vec::new(),
        sinks: Vec::new(),
    };
    if let Some(c) = &config.sources.kafka {
        running
            .sources
            .push(("kafka", kafka::start_source(c.clone(), ctx.clone())?));
    }
    if let Some(c) = &config.sources.amqp {
        running
            .sources
            .push(("amqp", amqp::start_source(c.clone(), ctx.clone())?));
    }
    if let Some(c) = &config.sinks.kafka {
        running.sinks.push((
            "kafka-sink",
            kafka::start_sink(c.clone(), sink_ctx.clone())?,
        ));
    }
    if let Some(c) = &config.sinks.amqp {
        running
            .sinks
            .push(("amqp-sink", amqp::start_sink(c.clone(), sink_ctx.clone())?));
    }
    if let Some(c) = &config.archive {
        running
            .sinks
            .push(("archive", archive::start(c.clone(), sink_ctx.clone())?));
    }
    running.sinks.push((
        "alerts",
        crate::alerts::start(config.alerts.clone(), sink_ctx)?,
    ));
    Ok(running)
}

/// The message the sinks publish for a stored IAM audit: the IAM auditor's
/// status envelope (`status`, `pipeline: iam-audit`, `audit_id`, `summary`),
/// the same body the audit reports to the pipeline hub.
pub(crate) fn iam_envelope(audit: &vigilo_storage::IamAudit) -> serde_json::Value {
    serde_json::json!({
        "status": "done",
        "pipeline": crate::hub::IAM_AUDIT,
        "audit_id": audit.id,
        "summary": seed_summary(&audit.report),
    })
}

/// The IAM auditor's summary (`{high_risk, medium_risk, low_risk,
/// details: [{risk, issue}]}`) from a stored report, tiered as the audit
/// API's response is: critical and high are high, informational is low.
fn seed_summary(report: &serde_json::Value) -> serde_json::Value {
    let tier = |sev: &str| match sev {
        "critical" | "high" => "high",
        "medium" => "medium",
        _ => "low",
    };
    let findings = report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let mut counts = [0u64; 3];
    let details: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            let risk = tier(f["severity"].as_str().unwrap_or("low"));
            counts[match risk {
                "high" => 0,
                "medium" => 1,
                _ => 2,
            }] += 1;
            let text = |k: &str| f[k].as_str().unwrap_or("").to_string();
            serde_json::json!({
                "risk": risk,
                "issue": format!("{} {}: {}", text("principal_type"), text("principal"), text("title")),
            })
        })
        .collect();
    serde_json::json!({
        "high_risk": counts[0],
        "medium_risk": counts[1],
        "low_risk": counts[2],
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_tiers_like_the_audit_api() {
        let report = serde_json::json!({"findings": [
            {"severity": "critical", "principal_type": "user", "principal": "root", "title": "no MFA"},
            {"severity": "informational", "principal_type": "group", "principal": "g", "title": "t"},
        ]});
        let s = seed_summary(&report);
        assert_eq!(s["high_risk"], 1);
        assert_eq!(s["medium_risk"], 0);
        assert_eq!(s["low_risk"], 1);
        assert_eq!(s["details"][0]["issue"], "user root: no MFA");
    }
}
