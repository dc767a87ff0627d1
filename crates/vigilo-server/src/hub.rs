//! The pipeline hub: the last status, a bounded stored history and the
//! throughput of every pipeline, each report broadcast live as
//! `pipeline_update` (the event a pipeline dashboard hub's clients listen
//! for). Pipelines are the configured topics, Vigilo's own stages, and any
//! agent that reports itself (unless the hub is restricted).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use vigilo_storage::{PipelineUpdate, Storage, StorageError};

use crate::config::PipelinesConfig;
use crate::pipeline::{LiveUpdate, Pipeline};

/// Vigilo's own stages, which report through the hub like any pipeline.
pub const STAGES: [&str; 3] = ["ingest", "detection", "storage"];

/// The pipeline an IAM audit reports to.
pub const IAM_AUDIT: &str = "iam-audit";

/// Statuses a report may carry.
pub const STATUSES: [&str; 4] = ["running", "done", "success", "error"];

/// Reports kept in memory per pipeline (listing and throughput).
const RECENT: usize = 100;

/// Reports a listing shows per pipeline.
pub const LISTED_HISTORY: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PipelineKind {
    /// A configured topic.
    Topic,
    /// One of Vigilo's own stages.
    Stage,
    /// Created by its first report.
    Agent,
}

/// One report as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UpdateView {
    pub status: String,
    pub received_at: DateTime<Utc>,
    /// The envelope as posted (with `pipeline` and `received_at` set).
    #[schema(value_type = Object)]
    pub payload: Value,
}

/// A pipeline as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PipelineView {
    pub name: String,
    /// Listed in `pipelines.names` (or one of Vigilo's stages).
    pub configured: bool,
    pub kind: PipelineKind,
    /// Latest status, null before the first report.
    pub status: Option<String>,
    pub last_update: Option<DateTime<Utc>>,
    pub updates_total: u64,
    /// Reports in the last minute.
    pub updates_per_min: u64,
    /// Newest first.
    pub history: Vec<UpdateView>,
    /// The latest report's envelope.
    #[schema(value_type = Option<Object>)]
    pub last_payload: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("unknown pipeline `{0}`: the hub only accepts its configured pipelines")]
    Unknown(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

struct Entry {
    kind: PipelineKind,
    configured: bool,
    updates_total: u64,
    /// Newest at the back.
    recent: VecDeque<PipelineUpdate>,
}

impl Entry {
    fn new(kind: PipelineKind, configured: bool) -> Self {
        Entry {
            kind,
            configured,
            updates_total: 0,
            recent: VecDeque::new(),
        }
    }

    fn view(&self, name: &str, now: DateTime<Utc>) -> PipelineView {
        let last = self.recent.back();
        let minute_ago = now - chrono::Duration::seconds(60);
        PipelineView {
            name: name.to_string(),
            configured: self.configured,
            kind: self.kind,
            status: last.map(|u| u.status.clone()),
            last_update: last.map(|u| u.received_at),
            updates_total: self.updates_total,
            updates_per_min: self
                .recent
                .iter()
                .rev()
                .take_while(|u| u.received_at >= minute_ago)
                .count() as u64,
            history: self
                .recent
                .iter()
                .rev()
                .take(LISTED_HISTORY)
                .map(view)
                .collect(),
            last_payload: last.map(|u| u.payload.clone()),
        }
    }
}

fn view(u: &PipelineUpdate) -> UpdateView {
    UpdateView {
        status: u.status.clone(),
        received_at: u.received_at,
        payload: u.payload.clone(),
    }
}

pub struct Hub {
    storage: Arc<dyn Storage>,
    pipeline: Arc<Pipeline>,
    cfg: PipelinesConfig,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Serializes reports, so storage, memory and the broadcast see them in
    /// one order.
    order: tokio::sync::Mutex<()>,
}

impl Hub {
    /// The configured pipelines and stages, plus every pipeline with stored
    /// reports.
    pub async fn load(
        storage: Arc<dyn Storage>,
        pipeline: Arc<Pipeline>,
        cfg: PipelinesConfig,
    ) -> Result<Hub, StorageError> {
        let mut entries = BTreeMap::new();
        for name in &cfg.names {
            entries.insert(name.clone(), Entry::new(PipelineKind::Topic, true));
        }
        for name in STAGES {
            entries.insert(name.to_string(), Entry::new(PipelineKind::Stage, true));
        }
        for rec in storage.pipeline_records(RECENT as u32).await? {
            let e = entries
                .entry(rec.name)
                .or_insert_with(|| Entry::new(PipelineKind::Agent, false));
            e.updates_total = rec.updates_total;
            e.recent = rec.recent.into_iter().rev().collect();
        }
        Ok(Hub {
            storage,
            pipeline,
            cfg,
            entries: Mutex::new(entries),
            order: tokio::sync::Mutex::new(()),
        })
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Whether a report for `name` is accepted.
    fn accepts(&self, name: &str) -> bool {
        !self.cfg.restrict
            || STAGES.contains(&name)
            || name == IAM_AUDIT
            || self.cfg.names.iter().any(|n| n == name)
    }

    /// Record a report posted for `name`: its envelope must carry a known
    /// `status` and, if it names its `pipeline`, the same name.
    pub async fn report(
        &self,
        name: &str,
        mut body: Map<String, Value>,
    ) -> Result<UpdateView, HubError> {
        check_name(name)?;
        if !self.accepts(name) {
            return Err(HubError::Unknown(name.to_string()));
        }
        match body.get("status") {
            Some(Value::String(s)) if STATUSES.contains(&s.as_str()) => {}
            Some(Value::String(s)) => {
                return Err(HubError::Invalid(format!(
                    "field `status`: unknown status `{s}`, expected one of: {}",
                    STATUSES.join(", ")
                )));
            }
            Some(_) => {
                return Err(HubError::Invalid(
                    "field `status` must be a string".to_string(),
                ));
            }
            None => return Err(HubError::Invalid("field `status` is required".to_string())),
        }
        match body.get("pipeline") {
            None => {
                body.insert("pipeline".into(), Value::String(name.to_string()));
            }
            Some(Value::String(p)) if p == name => {}
            Some(other) => {
                return Err(HubError::Invalid(format!(
                    "field `pipeline` is {other} but the path names `{name}`; leave it out or make them equal"
                )));
            }
        }
        self.record(name, body).await
    }

    /// Record a report from Vigilo itself (its stages, IAM audits): always
    /// accepted.
    pub async fn report_internal(
        &self,
        name: &str,
        body: Map<String, Value>,
    ) -> Result<UpdateView, HubError> {
        self.record(name, body).await
    }

    async fn record(
        &self,
        name: &str,
        mut body: Map<String, Value>,
    ) -> Result<UpdateView, HubError> {
        let _order = self.order.lock().await;
        let received_at = Utc::now();
        body.insert(
            "received_at".into(),
            Value::String(received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        );
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("running")
            .to_string();
        let payload = Value::Object(body);
        let update = PipelineUpdate {
            pipeline: name.to_string(),
            status,
            received_at,
            payload,
        };
        self.storage
            .insert_pipeline_update(&update, self.cfg.history.max(1))
            .await?;
        {
            let mut entries = self.entries();
            let e = entries
                .entry(name.to_string())
                .or_insert_with(|| Entry::new(PipelineKind::Agent, false));
            e.updates_total += 1;
            e.recent.push_back(update.clone());
            while e.recent.len() > RECENT {
                e.recent.pop_front();
            }
        }
        metrics::counter!("vigilo_pipeline_updates_total").increment(1);
        self.pipeline
            .publish(LiveUpdate::Pipeline(Arc::new(update.payload.clone())));
        Ok(view(&update))
    }

    /// Every pipeline, by name.
    pub fn list(&self) -> Vec<PipelineView> {
        let now = Utc::now();
        self.entries()
            .iter()
            .map(|(name, e)| e.view(name, now))
            .collect()
    }

    /// One pipeline with up to `limit` reports of its stored history.
    pub async fn get(&self, name: &str, limit: u32) -> Result<Option<PipelineView>, HubError> {
        let Some(mut v) = self.entries().get(name).map(|e| e.view(name, Utc::now())) else {
            return Ok(None);
        };
        v.history = self
            .storage
            .pipeline_history(name, limit)
            .await?
            .iter()
            .map(view)
            .collect();
        Ok(Some(v))
    }
}

/// Pipeline names: 1 to 128 characters of letters, digits and `._:-`,
/// starting with a letter or digit.
fn check_name(name: &str) -> Result<(), HubError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(())
    } else {
        Err(HubError::Invalid(format!(
            "pipeline name `{name}`: use 1 to 128 letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit"
        )))
    }
}

/// Report Vigilo's own stages every `every` until the process ends.
/// The task ends when the hub is dropped.
pub fn spawn_stage_reports(hub: std::sync::Weak<Hub>, every: Duration) {
    if every.is_zero() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let Some(first) = hub.upgrade() else { return };
        let mut last = Sample::take(&first.pipeline);
        drop(first);
        loop {
            tick.tick().await;
            let Some(hub) = hub.upgrade() else { return };
            let now = Sample::take(&hub.pipeline);
            for (name, body) in stage_reports(&hub, &last, &now) {
                if let Err(e) = hub.report_internal(name, body).await {
                    tracing::warn!(stage = name, error = %e, "stage report failed");
                }
            }
            last = now;
        }
    });
}

struct Sample {
    at: std::time::Instant,
    stored: u64,
    evaluated: u64,
    store_errors: u64,
    commit_errors: u64,
}

impl Sample {
    fn take(p: &Pipeline) -> Sample {
        let c = p.counters();
        Sample {
            at: std::time::Instant::now(),
            stored: c.stored.load(Ordering::Relaxed),
            evaluated: c.evaluated.load(Ordering::Relaxed),
            store_errors: c.store_errors.load(Ordering::Relaxed),
            commit_errors: c.commit_errors.load(Ordering::Relaxed),
        }
    }
}

fn stage_reports(hub: &Hub, a: &Sample, b: &Sample) -> Vec<(&'static str, Map<String, Value>)> {
    let secs = b.at.duration_since(a.at).as_secs_f64().max(0.001);
    let rate = |x: u64, y: u64| ((y.saturating_sub(x)) as f64 / secs * 10.0).round() / 10.0;
    let p = &hub.pipeline;
    let queue = p.queue_depth() as u64;
    let lag_ms = p.detection_lag_ms();
    let status = |errors_before: u64, errors_now: u64| {
        if errors_now > errors_before {
            "error"
        } else {
            "running"
        }
    };
    let report = |name: &str,
                  status: &str,
                  rate_per_sec: f64,
                  lag_events: u64,
                  lag_ms: i64,
                  errors: u64,
                  extra: Value| {
        let mut m = Map::new();
        m.insert("status".into(), status.into());
        m.insert("pipeline".into(), name.into());
        m.insert("rate_per_sec".into(), rate_per_sec.into());
        m.insert("lag_events".into(), lag_events.into());
        m.insert("lag_ms".into(), lag_ms.into());
        m.insert("errors_total".into(), errors.into());
        if let Value::Object(extra) = extra {
            m.extend(extra);
        }
        m
    };
    vec![
        (
            "ingest",
            report(
                "ingest",
                status(a.store_errors, b.store_errors),
                rate(a.stored, b.stored),
                queue,
                0,
                b.store_errors,
                serde_json::json!({"queue_depth": queue, "queue_capacity": p.capacity()}),
            ),
        ),
        (
            "detection",
            report(
                "detection",
                status(a.commit_errors, b.commit_errors),
                rate(a.evaluated, b.evaluated),
                queue,
                lag_ms,
                b.commit_errors,
                serde_json::json!({
                    "catching_up": p.catching_up(),
                    "rules": p.rules().len(),
                    "leading": *p.leading().borrow(),
                }),
            ),
        ),
        (
            "storage",
            report(
                "storage",
                status(
                    a.store_errors + a.commit_errors,
                    b.store_errors + b.commit_errors,
                ),
                rate(a.stored, b.stored),
                0,
                0,
                b.store_errors + b.commit_errors,
                serde_json::json!({"backend": hub.storage.backend()}),
            ),
        ),
    ]
}
