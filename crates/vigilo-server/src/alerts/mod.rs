//! Alerting: routes, receivers (Discord, Slack, webhooks), grouping,
//! inhibition, silences, and the stored history of every notification.
//!
//! The alerter reads the finding outbox from its stored position (consumer
//! `alerts`). Each step it folds the changes into notification groups
//! (per route, receiver and `group_by` values), decides with
//! [`engine::step`] what each group sends now, and stores the groups, the
//! new notifications (`pending`), silence announcements and the outbox
//! position in one transaction; only then are the notifications queued
//! for delivery ([`dispatch`]). A restart reloads the groups, so nothing
//! already sent is sent again, and re-queues what was still pending.

pub mod api;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod receivers;
pub mod templates;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;
use vigilo_storage::{
    AlertCommit, AlertGroup, NewNotification, NotificationKind, NotificationStatus, Silence,
    Storage, StorageError,
};

pub use config::AlertsConfig;
use engine::{Edge, Group, Member};
use receivers::Message;

use crate::connectors::{ConnectorError, Context};

/// The alerter's name in the outbox and on the status board.
pub const CONSUMER: &str = "alerts";

/// Outbox entries read per step.
const BATCH: u32 = 500;

/// How often the status board hears from the alerter.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// Start the alerter: it reads the finding outbox from its stored
/// position. With no receivers configured it only keeps its position.
pub fn start(config: AlertsConfig, ctx: Context) -> Result<JoinHandle<()>, ConnectorError> {
    config::validate(&config).map_err(|e| ConnectorError::new("alerts", e))?;
    let mut ctx = ctx;
    if config.receivers.is_empty() {
        return Ok(tokio::spawn(async move { ctx.stopped().await }));
    }
    let dispatch = dispatch::Dispatch::start(
        &config.receivers,
        config.queue_capacity,
        ctx.storage.clone(),
        ctx.stop.clone(),
    );
    Ok(tokio::spawn(async move {
        if !ctx.until_leading().await {
            return;
        }
        let mut alerter = Alerter {
            config: Arc::new(config),
            storage: ctx.storage.clone(),
            dispatch,
            groups: BTreeMap::new(),
            position: 0,
        };
        if let Err(e) = alerter.load().await {
            tracing::error!(error = %e, "alerts cannot load their state; not running");
            ctx.stopped().await;
            return;
        }
        let tick = alerter.tick();
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_report = tokio::time::Instant::now() - REPORT_EVERY;
        let mut errors = 0u64;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = ctx.stopped() => break,
            }
            if let Err(e) = alerter.step(Utc::now()).await {
                errors += 1;
                tracing::warn!(error = %e, "alerts step failed; retrying");
                if let Ok(mut l) = alerter.dispatch.stats.last_error.lock() {
                    *l = Some(e.to_string());
                }
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = tokio::time::Instant::now();
                alerter.report(&ctx, errors).await;
            }
        }
        alerter.report(&ctx, errors).await;
    }))
}

struct Alerter {
    config: Arc<AlertsConfig>,
    storage: Arc<dyn Storage>,
    dispatch: dispatch::Dispatch,
    /// By [`Group::key`].
    groups: BTreeMap<String, Group>,
    position: i64,
}

impl Alerter {
    async fn load(&mut self) -> Result<(), StorageError> {
        self.position = self.storage.consumer_position(CONSUMER).await?;
        for g in self.storage.alert_groups().await? {
            match serde_json::from_value::<Group>(g.state) {
                Ok(group) => {
                    self.groups.insert(g.key, group);
                }
                Err(e) => {
                    tracing::warn!(key = %g.key, error = %e, "alert group unreadable; dropped")
                }
            }
        }
        // Decided before a stop but not delivered: deliver now.
        for p in self.storage.pending_notifications(10_000).await? {
            self.dispatch.enqueue(p).await;
        }
        tracing::info!(
            groups = self.groups.len(),
            position = self.position,
            "alerts resumed"
        );
        Ok(())
    }

    /// Step often enough for the shortest timing configured.
    fn tick(&self) -> Duration {
        let c = &self.config;
        let mut least = c.group_wait.0.min(c.group_interval.0);
        for r in &c.routes {
            for d in [r.group_wait, r.group_interval].into_iter().flatten() {
                least = least.min(d.0);
            }
        }
        (least / 4).clamp(Duration::from_millis(25), Duration::from_secs(1))
    }

    /// One step: fold outbox changes in, decide, store, queue.
    async fn step(&mut self, now: DateTime<Utc>) -> Result<(), StorageError> {
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let changes = self
            .storage
            .finding_changes_after(self.position, BATCH)
            .await?;
        let new_position = changes.last().map(|c| c.seq);
        let mut seen = BTreeSet::new();
        for c in &changes {
            if !seen.insert(c.finding_id) {
                continue;
            }
            let Some(f) = self.storage.get_finding(c.finding_id).await? else {
                continue;
            };
            let m = Member::of(&f);
            for route in engine::routes_for(&self.config, &m) {
                let labels = engine::labels(&self.config, route, &m);
                for receiver in &route.receivers {
                    let g = Group::new(&route.name, receiver, labels.clone());
                    let key = g.key();
                    let group = self.groups.entry(key.clone()).or_insert(g);
                    group.members.insert(m.id, m.clone());
                    dirty.insert(key);
                }
            }
            // A finding already grouped whose fields no longer match its
            // routes still gets its status updated there.
            for (key, g) in self.groups.iter_mut() {
                if let Some(old) = g.members.get_mut(&m.id)
                    && *old != m
                {
                    *old = m.clone();
                    dirty.insert(key.clone());
                }
            }
        }

        let silences = self.storage.list_silences().await?;
        let active: Vec<&Silence> = silences
            .iter()
            .filter(|s| engine::silence_active(s, now))
            .collect();
        let mut all: BTreeMap<i64, &Member> = BTreeMap::new();
        for g in self.groups.values() {
            for m in g.members.values() {
                all.insert(m.id, m);
            }
        }
        let silenced: BTreeSet<i64> = all
            .values()
            .filter(|m| active.iter().any(|s| engine::silence_matches(s, m)))
            .map(|m| m.id)
            .collect();
        let inhibited = engine::inhibited(&self.config.inhibit, all.values().copied(), &silenced);
        let muted: BTreeSet<i64> = silenced.union(&inhibited).copied().collect();

        let mut notes = Vec::new();
        let mut removed = Vec::new();
        for (key, g) in self.groups.iter_mut() {
            // A route or receiver gone from the configuration: forget the group.
            let Some(route) = self
                .config
                .routes
                .iter()
                .find(|r| r.name == g.route && r.receivers.contains(&g.receiver))
            else {
                removed.push(key.clone());
                continue;
            };
            let t = engine::timings(&self.config, route);
            // Members as they were, for a resolved message about them.
            let before = g.members.clone();
            let (decision, changed) = engine::step(g, &t, &muted, now);
            if changed {
                dirty.insert(key.clone());
            }
            if let Some(d) = decision {
                let members: Vec<&Member> =
                    d.findings.iter().filter_map(|id| before.get(id)).collect();
                let msg = Message::about(
                    d.kind,
                    &g.route,
                    &g.receiver,
                    &g.group_key,
                    &g.labels,
                    &members,
                    &self.config.base_url,
                    now,
                );
                if let Some(rc) = self.config.receivers.iter().find(|r| r.name == g.receiver) {
                    let (title, body) = receivers::render(rc, &msg);
                    notes.push(NewNotification {
                        receiver: g.receiver.clone(),
                        route: g.route.clone(),
                        group_key: g.group_key.clone(),
                        kind: d.kind,
                        finding_ids: d.findings,
                        status: NotificationStatus::Pending,
                        created_at: now,
                        title,
                        body,
                        silence_id: None,
                    });
                }
            }
            if engine::is_done(g) {
                removed.push(key.clone());
            }
        }
        for key in &removed {
            self.groups.remove(key);
            dirty.remove(key);
        }

        let mut announced = Vec::new();
        for s in &silences {
            let Some(edge) = engine::silence_edge(s, now) else {
                continue;
            };
            let kind = match edge {
                Edge::Started => NotificationKind::SilenceStarted,
                Edge::Ended => NotificationKind::SilenceEnded,
                Edge::Skipped => {
                    announced.push((s.id, true, true));
                    continue;
                }
            };
            announced.push((s.id, true, edge == Edge::Ended));
            for rc in &self.config.receivers {
                let msg = Message::silence(kind, &rc.name, s, &self.config.base_url, now);
                let (title, body) = receivers::render(rc, &msg);
                notes.push(NewNotification {
                    receiver: rc.name.clone(),
                    route: String::new(),
                    group_key: msg.group_key.clone(),
                    kind,
                    finding_ids: Vec::new(),
                    status: NotificationStatus::Pending,
                    created_at: now,
                    title,
                    body,
                    silence_id: Some(s.id),
                });
            }
        }

        if dirty.is_empty()
            && removed.is_empty()
            && notes.is_empty()
            && announced.is_empty()
            && new_position.is_none()
        {
            return Ok(());
        }
        let mut groups = Vec::with_capacity(dirty.len());
        for key in &dirty {
            if let Some(g) = self.groups.get(key) {
                let state = serde_json::to_value(g)
                    .map_err(|e| StorageError::Database(format!("encode alert group: {e}")))?;
                groups.push(AlertGroup {
                    key: key.clone(),
                    state,
                    updated_at: now,
                });
            }
        }
        let stored = self
            .storage
            .commit_alerts(AlertCommit {
                groups,
                removed_groups: removed,
                notifications: notes,
                silences_announced: announced,
                position: new_position.map(|p| (CONSUMER.to_string(), p)),
            })
            .await;
        let stored = match stored {
            Ok(s) => s,
            Err(e) => {
                // Nothing was written: decide again from the stored state.
                self.groups.clear();
                self.load_groups().await?;
                return Err(e);
            }
        };
        if let Some(p) = new_position {
            self.position = p;
        }
        for n in stored {
            self.dispatch.enqueue(n).await;
        }
        Ok(())
    }

    async fn load_groups(&mut self) -> Result<(), StorageError> {
        for g in self.storage.alert_groups().await? {
            if let Ok(group) = serde_json::from_value::<Group>(g.state) {
                self.groups.insert(g.key, group);
            }
        }
        Ok(())
    }

    async fn report(&self, ctx: &Context, errors: u64) {
        let s = &self.dispatch.stats;
        let last_error = s.last_error.lock().ok().and_then(|l| l.clone());
        let mut body = Map::new();
        body.insert("status".into(), json!("running"));
        body.insert("queue_depth".into(), json!(self.dispatch.depth()));
        body.insert("sent".into(), json!(s.sent.load(Ordering::Relaxed)));
        body.insert("failed".into(), json!(s.failed.load(Ordering::Relaxed)));
        body.insert("retries".into(), json!(s.retries.load(Ordering::Relaxed)));
        body.insert("groups".into(), json!(self.groups.len()));
        body.insert("position".into(), json!(self.position));
        body.insert("errors".into(), json!(errors));
        body.insert("receivers".into(), json!(self.config.receivers.len()));
        body.insert(
            "last_error".into(),
            last_error.map_or(Value::Null, Value::String),
        );
        metrics::gauge!("vigilo_alerts_queue_depth").set(self.dispatch.depth() as f64);
        if let Err(e) = ctx.hub.report_internal(CONSUMER, body).await {
            tracing::debug!(error = %e, "alerts status report refused");
        }
    }
}

/// Send a test message to receiver `name` now (one try), store it and
/// return what became of it; `None` when there is no such receiver.
pub async fn send_test(
    storage: &dyn Storage,
    config: &AlertsConfig,
    name: &str,
) -> Result<Option<vigilo_storage::Notification>, StorageError> {
    let Some(rc) = config.receivers.iter().find(|r| r.name == name) else {
        return Ok(None);
    };
    let now = Utc::now();
    let msg = Message::test(&rc.name, &config.base_url, now);
    let (title, body) = receivers::render(rc, &msg);
    let stored = storage
        .commit_alerts(AlertCommit {
            notifications: vec![NewNotification {
                receiver: rc.name.clone(),
                route: String::new(),
                group_key: "test".into(),
                kind: NotificationKind::Test,
                finding_ids: Vec::new(),
                status: NotificationStatus::Pending,
                created_at: now,
                title,
                body,
                silence_id: None,
            }],
            ..AlertCommit::default()
        })
        .await?;
    let Some(n) = stored.into_iter().next() else {
        return Ok(None);
    };
    let one_try = config::ReceiverConfig {
        max_retries: 0,
        ..rc.clone()
    };
    let stats = dispatch::Stats::default();
    let (_tx, mut stop) = tokio::sync::watch::channel(false);
    let client = dispatch::client();
    Ok(Some(
        dispatch::deliver(storage, &client, &one_try, n, &stats, &mut stop).await,
    ))
}
