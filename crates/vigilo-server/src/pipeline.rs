//! The ingest pipeline.
//!
//! ```text
//! handler ──submit──► writer task ──group commit──► ack to handler
//!                         │
//!                         └──stored batch──► detection task ──commit findings + watermark
//!                                                   └──► live feed (broadcast)
//! ```
//!
//! Memory is bounded by a semaphore counting events between acceptance and
//! the end of detection: `submit` takes one permit per event without waiting
//! and answers `Overloaded` when there are not enough, so the handler can
//! reply 503 with `Retry-After`.
//!
//! Exactly-once evaluation: detection results are committed in the same
//! transaction as the detection watermark (the id of the last evaluated
//! event). At start the detection task replays every stored event past the
//! watermark before taking new ones, and skips ids it has already evaluated.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use chrono::{Duration as ChronoDuration, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use vigilo_core::finding::EVIDENCE_CAP;
use vigilo_core::{Event, Finding, NewEvent};
use vigilo_detect::{Detector, FindingUpsert, RuleInfo, RuleSet};
use vigilo_storage::{FindingWrite, Storage, StorageError};

use crate::ingest::DecodeBudget;

/// Most events evaluated and committed as one detection batch.
const MAX_DETECTION_BATCH: usize = 50_000;
/// Events read per step when catching up from the watermark.
const REPLAY_CHUNK: u32 = 5_000;
/// How far back (in event time, before the last evaluated event) open
/// incidents are reloaded at start so repeated matches keep deduplicating.
const INCIDENT_LOOKBACK_HOURS: i64 = 24;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("ingest queue is full")]
    Overloaded,
    #[error("batch of {0} events is larger than the ingest queue ({1})")]
    TooBig(usize, usize),
    #[error("server is shutting down")]
    ShuttingDown,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What the live feed carries.
#[derive(Debug, Clone)]
pub enum LiveUpdate {
    /// Findings created or updated by one detection commit.
    Findings(Arc<Vec<Finding>>),
    /// Events durably stored by one group commit: how many of each kind,
    /// and the first few of them when [`Pipeline::sample_events`] is on.
    EventsStored {
        count: usize,
        by_kind: Arc<Vec<(String, u64)>>,
        sample: Arc<Vec<Event>>,
    },
    /// A pipeline's status report, as the hub broadcasts it.
    Pipeline(Arc<serde_json::Value>),
    /// Findings changed by analysts in one bulk action (clients refetch).
    FindingsChanged { updated: u64 },
}

/// Events sampled per group commit for the live `event` feed (the live
/// channel thins them further to its per-second budget).
const SAMPLE_PER_COMMIT: usize = 20;

/// Running counts of the stages, for the hub's stage reports and the live
/// `stats`; updated with relaxed atomics on the hot paths.
#[derive(Debug, Default)]
pub struct StageCounters {
    /// Events durably stored.
    pub stored: AtomicU64,
    /// Group commits that failed.
    pub store_errors: AtomicU64,
    /// Events evaluated by detection.
    pub evaluated: AtomicU64,
    /// Detection commits that failed (and were retried).
    pub commit_errors: AtomicU64,
    /// Receive time (µs since the epoch) of the last event evaluated.
    pub last_evaluated_received_us: AtomicI64,
    /// Whether the writer samples stored events for the live feed.
    pub sample_events: AtomicBool,
}

struct Job {
    events: Vec<NewEvent>,
    permit: OwnedSemaphorePermit,
    ack: oneshot::Sender<Result<usize, Arc<StorageError>>>,
}

struct Stored {
    events: Vec<Event>,
    /// Queue slots of these events, released once detection is done with them.
    permits: Vec<OwnedSemaphorePermit>,
}

enum Control {
    Reload(RuleSet, oneshot::Sender<()>),
    /// Findings from outside detection (IAM audits), committed in order
    /// with detection's own so the watermark stays exact.
    Findings(
        Vec<FindingWrite>,
        oneshot::Sender<Result<Vec<Finding>, StorageError>>,
    ),
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub queue_capacity: usize,
    pub max_batch_events: usize,
    /// Detection commits at most this often while events keep coming:
    /// results evaluated meanwhile wait in memory, one write per incident, so
    /// a busy incident costs one row update per interval instead of one per
    /// batch, and the write connection stays with ingest. After a quiet
    /// spell the first results commit at once; under load a finding is
    /// stored at most this long after its events were evaluated.
    pub commit_every: std::time::Duration,
    /// Rules switched off: still evaluated (their windows stay warm), but
    /// their matches produce no findings.
    pub disabled_rules: HashSet<String>,
    /// The heuristics' asset criticality table (`[risk]`).
    pub risk: crate::enrichment::RiskConfig,
    /// How detection follows a storage several processes write to.
    pub poll: PollConfig,
}

/// Handle shared by the HTTP handlers.
pub struct Pipeline {
    jobs: mpsc::UnboundedSender<Job>,
    control: mpsc::UnboundedSender<Control>,
    permits: Arc<Semaphore>,
    capacity: usize,
    live: broadcast::Sender<LiveUpdate>,
    rules: Arc<Snapshot<Vec<RuleInfo>>>,
    tasks: tokio::sync::Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
    shutdown: tokio::sync::Mutex<Option<oneshot::Sender<()>>>,
    /// Bytes of request bodies being decoded at once, shared by every
    /// ingest request; sized on first use from the ingest config.
    decode_budget: OnceLock<DecodeBudget>,
    /// True until detection has evaluated every event stored before this
    /// start (the replay from the watermark).
    catching_up: Arc<AtomicBool>,
    /// See [`PipelineConfig::disabled_rules`].
    disabled: Arc<Snapshot<HashSet<String>>>,
    counters: Arc<StageCounters>,
    /// Whether this process leads detection (always, on a storage only it
    /// opens).
    leading: Arc<watch::Sender<bool>>,
}

impl Pipeline {
    /// Start the writer and detection tasks.
    pub fn start(storage: Arc<dyn Storage>, rules: RuleSet, cfg: PipelineConfig) -> Arc<Self> {
        let (jobs_tx, jobs_rx) = mpsc::unbounded_channel();
        let (stored_tx, stored_rx) = mpsc::unbounded_channel();
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = oneshot::channel();
        // Few slots: the one reader (the live channel) takes each update at
        // once; a commit's findings are held here only until it has.
        let (live, _) = broadcast::channel(64);
        let counters = Arc::new(StageCounters::default());
        let capacity = cfg.queue_capacity.max(1);
        let permits = Arc::new(Semaphore::new(capacity));
        let rule_infos = Arc::new(Snapshot::new(rules.rules().to_vec()));
        metrics::gauge!("vigilo_ingest_queue_capacity").set(capacity as f64);
        let catching_up = Arc::new(AtomicBool::new(true));
        let disabled = Arc::new(Snapshot::new(cfg.disabled_rules.clone()));
        let leading = Arc::new(watch::Sender::new(false));

        let writer = tokio::spawn(writer_loop(
            storage.clone(),
            jobs_rx,
            stop_rx,
            stored_tx,
            cfg.max_batch_events.max(1),
            live.clone(),
            counters.clone(),
        ));
        let detector = tokio::spawn(detection_loop(
            storage,
            Detector::new(rules),
            stored_rx,
            control_rx,
            live.clone(),
            Published {
                rules: rule_infos.clone(),
                catching_up: catching_up.clone(),
                disabled: disabled.clone(),
                counters: counters.clone(),
                leading: leading.clone(),
                poll: cfg.poll,
            },
            (cfg.commit_every, cfg.risk.clone()),
        ));
        Arc::new(Pipeline {
            jobs: jobs_tx,
            control: control_tx,
            permits,
            capacity,
            live,
            rules: rule_infos,
            tasks: tokio::sync::Mutex::new(Some((writer, detector))),
            shutdown: tokio::sync::Mutex::new(Some(stop_tx)),
            decode_budget: OnceLock::new(),
            catching_up,
            disabled,
            counters,
            leading,
        })
    }

    /// Whether this process leads detection, and its changes. The sinks
    /// (outbox publishers, the archive, the alerter) run only while it
    /// does, so several processes on one database send nothing twice.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Queue events and wait until they are durably stored. Returns the
    /// number stored.
    pub async fn submit(&self, events: Vec<NewEvent>) -> Result<usize, SubmitError> {
        let n = events.len();
        if n > self.capacity {
            return Err(SubmitError::TooBig(n, self.capacity));
        }
        let permit = match self.permits.clone().try_acquire_many_owned(n as u32) {
            Ok(p) => p,
            Err(tokio::sync::TryAcquireError::NoPermits) => return Err(SubmitError::Overloaded),
            Err(tokio::sync::TryAcquireError::Closed) => return Err(SubmitError::ShuttingDown),
        };
        let (ack, done) = oneshot::channel();
        self.jobs
            .send(Job {
                events,
                permit,
                ack,
            })
            .map_err(|_| SubmitError::ShuttingDown)?;
        match done.await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(SubmitError::Storage(StorageError::Database(e.to_string()))),
            Err(_) => Err(SubmitError::ShuttingDown),
        }
    }

    /// Whether detection is still evaluating the events stored before this
    /// start; until it is done, not every acknowledged event has findings.
    pub fn catching_up(&self) -> bool {
        self.catching_up.load(Ordering::Acquire)
    }

    /// Switch a rule's findings off or on from the next evaluated batch.
    pub fn set_rule_enabled(&self, rule_id: &str, enabled: bool) {
        self.disabled.update(|current| {
            let mut next = current.clone();
            if enabled {
                next.remove(rule_id);
            } else {
                next.insert(rule_id.to_string());
            }
            next
        });
    }

    /// Whether a rule's findings are switched off.
    pub fn rule_disabled(&self, rule_id: &str) -> bool {
        self.disabled.get().contains(rule_id)
    }

    /// Events accepted but not yet through detection.
    pub fn queue_depth(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The ingest decode budget, created with `bytes` on first use.
    pub fn decode_budget(&self, bytes: usize) -> DecodeBudget {
        self.decode_budget
            .get_or_init(|| DecodeBudget::new(bytes))
            .clone()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveUpdate> {
        self.live.subscribe()
    }

    /// A sender into the live feed, for a task that must not keep the
    /// pipeline alive (the relay of another process's findings ends when
    /// the pipeline's leadership channel closes).
    pub fn live_sender(&self) -> broadcast::Sender<LiveUpdate> {
        self.live.clone()
    }

    /// Send an update to the live feed (the hub's pipeline reports).
    pub fn publish(&self, update: LiveUpdate) {
        let _ = self.live.send(update);
    }

    /// The stages' running counts.
    pub fn counters(&self) -> &StageCounters {
        &self.counters
    }

    /// Sample stored events for the live feed (on while anyone watches).
    pub fn sample_events(&self, on: bool) {
        self.counters.sample_events.store(on, Ordering::Relaxed);
    }

    /// Detection lag: how long ago (ms) the last evaluated event was
    /// received, while events wait for evaluation; 0 when none wait.
    pub fn detection_lag_ms(&self) -> i64 {
        if self.queue_depth() == 0 {
            return 0;
        }
        let last = self
            .counters
            .last_evaluated_received_us
            .load(Ordering::Relaxed);
        if last == 0 {
            return 0;
        }
        ((Utc::now().timestamp_micros() - last) / 1000).max(0)
    }

    /// The rules the detection task runs now.
    pub fn rules(&self) -> Arc<Vec<RuleInfo>> {
        self.rules.get()
    }

    /// Swap the rule set between two batches; returns once it is in force.
    pub async fn reload(&self, rules: RuleSet) -> Result<(), SubmitError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Reload(rules, tx))
            .map_err(|_| SubmitError::ShuttingDown)?;
        rx.await.map_err(|_| SubmitError::ShuttingDown)
    }

    /// Record findings produced outside detection (IAM audits).
    pub async fn commit_findings(
        &self,
        writes: Vec<FindingWrite>,
    ) -> Result<Vec<Finding>, SubmitError> {
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Findings(writes, tx))
            .map_err(|_| SubmitError::ShuttingDown)?;
        Ok(rx.await.map_err(|_| SubmitError::ShuttingDown)??)
    }

    /// Stop taking events, write and evaluate everything accepted, then
    /// return. New submissions fail with `ShuttingDown`.
    pub async fn shutdown(&self) {
        if let Some(stop) = self.shutdown.lock().await.take() {
            let _ = stop.send(());
        }
        if let Some((writer, detector)) = self.tasks.lock().await.take() {
            if let Err(e) = writer.await {
                tracing::error!(error = %e, "writer task failed");
            }
            if let Err(e) = detector.await {
                tracing::error!(error = %e, "detection task failed");
            }
        }
    }
}

async fn writer_loop(
    storage: Arc<dyn Storage>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut stop: oneshot::Receiver<()>,
    stored_tx: mpsc::UnboundedSender<Stored>,
    max_batch: usize,
    live: broadcast::Sender<LiveUpdate>,
    counters: Arc<StageCounters>,
) {
    let mut stopping = false;
    loop {
        let first = if stopping {
            jobs.recv().await
        } else {
            tokio::select! {
                j = jobs.recv() => j,
                _ = &mut stop => {
                    // No new jobs; drain what was already sent.
                    jobs.close();
                    stopping = true;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut batch = vec![first];
        let mut n = batch[0].events.len();
        while n < max_batch {
            match jobs.try_recv() {
                Ok(j) => {
                    n += j.events.len();
                    batch.push(j);
                }
                Err(_) => break,
            }
        }
        let mut all = Vec::with_capacity(n);
        let mut sizes = Vec::with_capacity(batch.len());
        let mut acks = Vec::with_capacity(batch.len());
        let mut permits = Vec::with_capacity(batch.len());
        for job in batch {
            sizes.push(job.events.len());
            all.extend(job.events);
            acks.push(job.ack);
            permits.push(job.permit);
        }
        let started = Instant::now();
        match storage.insert_events(all).await {
            Ok(events) => {
                metrics::histogram!("vigilo_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("vigilo_commit_batch_events").record(events.len() as f64);
                metrics::counter!("vigilo_events_ingested_total").increment(events.len() as u64);
                let count = events.len();
                counters.stored.fetch_add(count as u64, Ordering::Relaxed);
                let by_kind = Arc::new(count_kinds(&events));
                let sample = if counters.sample_events.load(Ordering::Relaxed) {
                    Arc::new(events.iter().take(SAMPLE_PER_COMMIT).cloned().collect())
                } else {
                    Arc::new(Vec::new())
                };
                // Hand over to detection before acknowledging, so an
                // acknowledged event is always on its way to evaluation.
                let _ = stored_tx.send(Stored { events, permits });
                for (ack, size) in acks.into_iter().zip(sizes) {
                    let _ = ack.send(Ok(size));
                }
                let _ = live.send(LiveUpdate::EventsStored {
                    count,
                    by_kind,
                    sample,
                });
            }
            Err(e) => {
                tracing::error!(error = %e, events = n, "group commit failed");
                counters.store_errors.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("vigilo_events_rejected_total", "reason" => "storage")
                    .increment(n as u64);
                let e = Arc::new(e);
                for ack in acks {
                    let _ = ack.send(Err(e.clone()));
                }
            }
        }
    }
    tracing::debug!("writer stopped");
}

/// Events per kind, in order of first appearance. Kinds are few and come
/// in runs, so a scan that starts at the last hit beats hashing every event.
fn count_kinds(events: &[Event]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    let mut last = 0usize;
    for e in events {
        if out.get(last).is_some_and(|(k, _)| *k == e.kind) {
            out[last].1 += 1;
            continue;
        }
        match out.iter().position(|(k, _)| *k == e.kind) {
            Some(i) => {
                out[i].1 += 1;
                last = i;
            }
            None => {
                out.push((e.kind.clone(), 1));
                last = out.len() - 1;
            }
        }
    }
    out
}

/// A value read whole and replaced whole (the rules in force, the rules
/// switched off): readers take an `Arc` of the current one and never wait on
/// a writer for longer than the swap. A lock poisoned by a panicking writer
/// is read through: the value is always a complete one.
pub struct Snapshot<T>(RwLock<Arc<T>>);

impl<T> Snapshot<T> {
    fn new(value: T) -> Self {
        Snapshot(RwLock::new(Arc::new(value)))
    }

    fn get(&self) -> Arc<T> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replace the value with `f` of the current one, under the write lock
    /// (two updates never lose one another).
    fn update(&self, f: impl FnOnce(&T) -> T) {
        let mut guard = match self.0.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(f(&guard));
    }
}

/// State the detection task shares with the HTTP handlers.
struct Published {
    /// The rules in force (replaced on reload).
    rules: Arc<Snapshot<Vec<RuleInfo>>>,
    /// True until the replay of events stored before this start is done.
    catching_up: Arc<AtomicBool>,
    /// Rules whose findings are switched off (set by the handlers).
    disabled: Arc<Snapshot<HashSet<String>>>,
    counters: Arc<StageCounters>,
    /// Whether this process leads detection now.
    leading: Arc<watch::Sender<bool>>,
    poll: PollConfig,
}

async fn detection_loop(
    storage: Arc<dyn Storage>,
    detector: Detector,
    mut stored: mpsc::UnboundedReceiver<Stored>,
    mut control: mpsc::UnboundedReceiver<Control>,
    live: broadcast::Sender<LiveUpdate>,
    published: Published,
    (commit_every, risk): (std::time::Duration, crate::enrichment::RiskConfig),
) {
    let Published {
        rules: rule_infos,
        catching_up,
        disabled,
        counters,
        leading,
        poll,
    } = published;
    let mut rules = detector.rule_set().clone();
    let mut first = Some(detector);
    loop {
        // Until this process leads detection, another one evaluates what
        // any process stores: this one's batches are only let go.
        let mut reported = false;
        loop {
            match storage.try_lead_detection().await {
                Ok(true) => break,
                Ok(false) => {
                    if !reported {
                        tracing::info!("another process leads detection; waiting to take over");
                        reported = true;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot try for the detection lead"),
            }
            // Ready while following: this process ingests and serves.
            catching_up.store(false, Ordering::Release);
            let wait = tokio::time::sleep(poll.lead_retry);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    biased;
                    c = control.recv() => match c {
                        Some(Control::Reload(set, done)) => {
                            rule_infos.update(|_| set.rules().to_vec());
                            rules = set;
                            first = None;
                            let _ = done.send(());
                        }
                        Some(Control::Findings(writes, done)) => {
                            // The watermark stays where the leader put it.
                            let r = storage.commit_detection(&writes, 0).await;
                            if let Ok(f) = &r
                                && !f.is_empty()
                            {
                                let _ = live.send(LiveUpdate::Findings(Arc::new(f.clone())));
                            }
                            let _ = done.send(r);
                        }
                        None => return,
                    },
                    b = stored.recv() => if b.is_none() { return },
                    _ = &mut wait => break,
                }
            }
        }
        let _ = leading.send_replace(true);
        let detector = first.take().unwrap_or_else(|| Detector::new(rules.clone()));
        let mut state = DetectState {
            commit_every,
            disabled: disabled.clone(),
            storage: storage.clone(),
            rules: rules.clone(),
            detector: Some(detector),
            evaluated_up_to: 0,
            started_up_to: 0,
            in_flight: None,
            // As if the last commit were long past: the first results commit at once.
            last_commit: Instant::now()
                .checked_sub(commit_every)
                .unwrap_or_else(Instant::now),
            pending: Pending::default(),
            live: live.clone(),
            counters: counters.clone(),
            risk: crate::enrichment::context::RiskTracker::new(risk.clone()),
            lost: Arc::new(AtomicBool::new(false)),
        };
        if let Err(e) = state.catch_up().await {
            tracing::error!(error = %e, "detection catch-up failed; evaluating new events only");
        }
        catching_up.store(false, Ordering::Release);
        let ended = state
            .run(&mut stored, &mut control, &rule_infos, poll)
            .await;
        rules = state.rules.clone();
        match ended {
            Ended::Stopped => {
                state.flush().await;
                let _ = leading.send_replace(false);
                break;
            }
            Ended::LeadLost => {
                // What was evaluated and not committed is let go: the new
                // leader evaluates it again from the stored watermark.
                state.wait_for_commit().await;
                let _ = leading.send_replace(false);
                tracing::error!(
                    evaluated_up_to = state.evaluated_up_to,
                    "lost the detection lead; results not yet committed are left to the new leader"
                );
            }
        }
    }
    tracing::debug!("detection stopped");
}

/// Why a detection run ended.
enum Ended {
    /// The pipeline is shutting down.
    Stopped,
    /// Another process leads detection now.
    LeadLost,
}

/// How detection follows a storage other processes write to.
#[derive(Debug, Clone, Copy)]
pub struct PollConfig {
    /// How often the leader looks for events other processes stored while
    /// its own writer is quiet.
    pub others: std::time::Duration,
    /// How often a process that does not lead tries to take over, and the
    /// leader checks that it still leads.
    pub lead_retry: std::time::Duration,
}

struct DetectState {
    storage: Arc<dyn Storage>,
    detector: Option<Detector>,
    /// The rules in force, to rebuild the detector if it ever panics.
    rules: RuleSet,
    /// Rules whose findings are switched off.
    disabled: Arc<Snapshot<HashSet<String>>>,
    evaluated_up_to: i64,
    /// The watermark of the last commit started (the one in flight, if any).
    started_up_to: i64,
    /// The commit running beside evaluation, if any: at most one at a time,
    /// so commits land in watermark order.
    in_flight: Option<JoinHandle<()>>,
    /// When the last commit started.
    last_commit: Instant,
    /// See [`PipelineConfig::commit_every`].
    commit_every: std::time::Duration,
    /// Evaluated results not committed yet.
    pending: Pending,
    live: broadcast::Sender<LiveUpdate>,
    counters: Arc<StageCounters>,
    /// Context of the heuristic risk score (recent findings, criticality).
    risk: crate::enrichment::context::RiskTracker,
    /// Set by a commit refused because another process leads detection now.
    lost: Arc<AtomicBool>,
}

/// Detection results waiting for the next commit: one write per incident
/// (its latest state, all its new evidence, how many matches it stands for)
/// and the new findings per severity for the metrics.
#[derive(Default)]
struct Pending {
    writes: Vec<FindingWrite>,
    index: HashMap<String, usize>,
    new_by_sev: BTreeMap<&'static str, u64>,
    /// Queue slots of the evaluated events, released by the commit.
    permits: Vec<OwnedSemaphorePermit>,
}

impl Pending {
    fn add(&mut self, upserts: Vec<FindingUpsert>, now: chrono::DateTime<Utc>) {
        for mut u in upserts {
            if u.is_new {
                *self
                    .new_by_sev
                    .entry(u.finding.severity.as_str())
                    .or_default() += 1;
            }
            // Event time is first/last_seen; created/updated are wall clock.
            u.finding.created_at = now;
            u.finding.updated_at = now;
            // Storage builds the evidence from `new_evidence`: the finding's
            // own copy (up to 100 ids) would only take room while waiting.
            u.finding.evidence = Vec::new();
            u.new_evidence.truncate(EVIDENCE_CAP);
            match self.index.get(&u.incident_key) {
                Some(&i) => {
                    let w = &mut self.writes[i];
                    w.finding = u.finding;
                    // More than the cap can never be attached.
                    let room = EVIDENCE_CAP.saturating_sub(w.new_evidence.len());
                    w.new_evidence.extend(u.new_evidence.into_iter().take(room));
                    w.matches += u.matches;
                }
                None => {
                    self.index.insert(u.incident_key.clone(), self.writes.len());
                    self.writes.push(FindingWrite {
                        incident_key: u.incident_key,
                        finding: u.finding,
                        new_evidence: u.new_evidence,
                        matches: u.matches,
                    });
                }
            }
        }
    }
}

impl DetectState {
    /// Evaluate what is stored, batch after batch, until the pipeline
    /// stops or the lead is lost.
    async fn run(
        &mut self,
        stored: &mut mpsc::UnboundedReceiver<Stored>,
        control: &mut mpsc::UnboundedReceiver<Control>,
        rule_infos: &Snapshot<Vec<RuleInfo>>,
        poll: PollConfig,
    ) -> Ended {
        let shared = self.storage.shared();
        let mut others = tokio::time::interval(poll.others);
        others.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lead_check = tokio::time::interval(poll.lead_retry);
        lead_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Whether this process's writer handed a batch over since the last
        // look for other processes' events.
        let mut handed_over = false;
        loop {
            if self.lost.load(Ordering::Acquire) {
                return Ended::LeadLost;
            }
            tokio::select! {
                biased;
                c = control.recv() => match c {
                    Some(Control::Reload(rules, done)) => {
                        if let Some(d) = self.detector.as_mut() {
                            d.reload(rules);
                            self.rules = d.rule_set().clone();
                            let infos = d.rules().to_vec();
                            rule_infos.update(|_| infos);
                        }
                        let _ = done.send(());
                    }
                    Some(Control::Findings(writes, done)) => {
                        // Detection's own results first, so these commit after
                        // everything evaluated before them.
                        self.flush().await;
                        let r = self.storage.commit_detection(&writes, self.evaluated_up_to).await;
                        match &r {
                            Ok(f) => {
                                self.started_up_to = self.evaluated_up_to;
                                if !f.is_empty() {
                                    let _ = self.live.send(LiveUpdate::Findings(Arc::new(f.clone())));
                                }
                            }
                            Err(StorageError::NotLeader) => self.lost.store(true, Ordering::Release),
                            Err(_) => {}
                        }
                        let _ = done.send(r);
                    }
                    None => {
                        // Control handle gone: keep draining batches.
                        while let Some(batch) = stored.recv().await {
                            let (events, permits) = self.take_batch(batch, stored, shared).await;
                            self.evaluate(events, permits).await;
                        }
                        return Ended::Stopped;
                    }
                },
                b = stored.recv() => match b {
                    Some(batch) => {
                        handed_over = true;
                        let (events, permits) = self.take_batch(batch, stored, shared).await;
                        self.evaluate(events, permits).await;
                    }
                    None => return Ended::Stopped,
                },
                _ = tokio::time::sleep_until(self.commit_due()), if self.uncommitted() => {
                    self.start_commit().await;
                }
                _ = others.tick(), if shared => {
                    if !std::mem::take(&mut handed_over) {
                        self.evaluate_others().await;
                    }
                }
                _ = lead_check.tick(), if shared => {
                    match self.storage.try_lead_detection().await {
                        Ok(true) => {}
                        Ok(false) => return Ended::LeadLost,
                        Err(e) => tracing::warn!(error = %e, "cannot check the detection lead"),
                    }
                }
            }
        }
    }

    /// A batch the writer handed over, with every batch already waiting
    /// behind it (one evaluation for all of them). On a shared storage,
    /// events other processes committed between this process's batches
    /// are read and evaluated in their place: ids follow commit order, so
    /// when a batch is visible, so is every smaller id.
    async fn take_batch(
        &mut self,
        batch: Stored,
        stored: &mut mpsc::UnboundedReceiver<Stored>,
        shared: bool,
    ) -> (Vec<Event>, Vec<OwnedSemaphorePermit>) {
        let mut batches = vec![batch];
        let mut n = batches[0].events.len();
        while n < MAX_DETECTION_BATCH {
            match stored.try_recv() {
                Ok(more) => {
                    n += more.events.len();
                    batches.push(more);
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(n);
        let mut permits = Vec::new();
        for b in batches {
            if shared && let Some(first) = b.events.first().map(|e| e.id) {
                let after = events.last().map_or(self.evaluated_up_to, |e: &Event| e.id);
                self.read_others(after, first, &mut events).await;
            }
            events.extend(b.events);
            permits.extend(b.permits);
        }
        (events, permits)
    }

    /// Append the stored events with `after < id < before` to `out`.
    async fn read_others(&mut self, after: i64, before: i64, out: &mut Vec<Event>) {
        let mut after = after.max(self.evaluated_up_to);
        let mut chunk = 1;
        while after + 1 < before {
            match self.storage.events_after(after, chunk).await {
                Ok(events) => {
                    let fetched = events.len();
                    let mut reached = fetched < chunk as usize;
                    for e in events {
                        if e.id >= before {
                            reached = true;
                            break;
                        }
                        after = e.id;
                        out.push(e);
                    }
                    if reached {
                        return;
                    }
                    // Most batches have nothing before them: the first read
                    // asks for one event.
                    chunk = REPLAY_CHUNK;
                }
                Err(e) => {
                    // The batch after them cannot be evaluated first (the
                    // watermark would pass over them): retry until the read
                    // works.
                    tracing::warn!(error = %e, "cannot read events other processes stored; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Evaluate what other processes stored past the last evaluated id.
    async fn evaluate_others(&mut self) {
        if let Err(e) = self.evaluate_stored().await {
            tracing::warn!(error = %e, "cannot read events other processes stored");
        }
    }

    /// Evaluate every stored event past the last evaluated one, chunk by
    /// chunk; returns how many.
    async fn evaluate_stored(&mut self) -> Result<usize, StorageError> {
        let mut n = 0;
        loop {
            let events = self
                .storage
                .events_after(self.evaluated_up_to, REPLAY_CHUNK)
                .await?;
            if events.is_empty() {
                return Ok(n);
            }
            n += events.len();
            self.evaluate(events, Vec::new()).await;
        }
    }

    async fn catch_up(&mut self) -> Result<(), StorageError> {
        if let Err(e) = self.risk.seed(self.storage.as_ref()).await {
            tracing::warn!(error = %e, "recent findings unreadable; risk context starts empty");
        }
        let watermark = self.storage.detection_watermark().await?;
        self.evaluated_up_to = watermark;
        self.started_up_to = watermark;
        if watermark > 0
            && let Some(last) = self.storage.get_event(watermark).await?
        {
            let since = last.timestamp - ChronoDuration::hours(INCIDENT_LOOKBACK_HOURS);
            let incidents = self.storage.recent_incidents(since).await?;
            if let Some(d) = self.detector.as_mut() {
                tracing::info!(incidents = incidents.len(), "restored open incidents");
                d.restore_incidents(incidents);
            }
        }
        let replayed = self.evaluate_stored().await?;
        self.flush().await;
        if replayed > 0 {
            tracing::info!(
                events = replayed,
                watermark,
                "evaluated events stored before the last stop"
            );
        }
        Ok(())
    }

    /// Evaluate events. What they produced joins the pending results, which
    /// commit with the watermark now if the last commit is at least
    /// `commit_every` old, else when that much time has passed.
    ///
    /// `permits` are the events' queue slots: they are released when the
    /// results are committed, so an empty queue means every accepted event's
    /// results are stored.
    async fn evaluate(&mut self, mut events: Vec<Event>, permits: Vec<OwnedSemaphorePermit>) {
        events.retain(|e| e.id > self.evaluated_up_to);
        let Some(last_id) = events.last().map(|e| e.id) else {
            // Evaluated already (read from storage before the writer handed
            // them over): their queue slots go with the commit of their
            // results, so an empty queue still means they are stored.
            if self.uncommitted() {
                self.pending.permits.extend(permits);
            } else {
                self.wait_for_commit().await;
            }
            return;
        };
        let Some(mut detector) = self.detector.take() else {
            return;
        };
        let started = Instant::now();
        let n = events.len();
        let last_received = events.last().map(|e| e.received_at.timestamp_micros());
        let joined = tokio::task::spawn_blocking(move || {
            let upserts = detector.process_batch(&events);
            (detector, upserts, events)
        })
        .await;
        let (detector, upserts, events) = match joined {
            Ok(r) => r,
            Err(e) => {
                // A batch that panics the detector is passed over (the
                // watermark moves past it, so a restart does not replay it
                // into the same panic), and detection goes on with a fresh
                // detector: open incidents and windows are lost, not the
                // service.
                tracing::error!(
                    error = %e,
                    events = n,
                    last_id,
                    "detection panicked; the batch was skipped and the detector rebuilt empty"
                );
                self.detector = Some(Detector::new(self.rules.clone()));
                self.pending.permits.extend(permits);
                self.evaluated_up_to = last_id;
                return;
            }
        };
        self.detector = Some(detector);
        let disabled = self.disabled.get();
        let mut upserts = upserts;
        if !disabled.is_empty() {
            upserts.retain(|u| !disabled.contains(&u.finding.rule_id));
        }
        self.risk.rescore(&self.rules, &mut upserts, &events);
        metrics::histogram!("vigilo_detection_seconds").record(started.elapsed().as_secs_f64());
        metrics::counter!("vigilo_detection_events_total").increment(n as u64);
        self.counters
            .evaluated
            .fetch_add(n as u64, Ordering::Relaxed);
        if let Some(t) = last_received {
            self.counters
                .last_evaluated_received_us
                .store(t, Ordering::Relaxed);
        }
        self.pending.add(upserts, Utc::now());
        self.pending.permits.extend(permits);
        self.evaluated_up_to = last_id;
        if self.last_commit.elapsed() >= self.commit_every {
            self.start_commit().await;
        }
    }

    /// Whether evaluation is ahead of the last commit started.
    fn uncommitted(&self) -> bool {
        self.evaluated_up_to > self.started_up_to
    }

    /// When pending results are due for their commit.
    fn commit_due(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.last_commit + self.commit_every)
    }

    /// Commit everything evaluated so far and wait until it is stored.
    async fn flush(&mut self) {
        self.start_commit().await;
        self.wait_for_commit().await;
    }

    /// Wait for the commit in flight, if any.
    async fn wait_for_commit(&mut self) {
        if let Some(task) = self.in_flight.take()
            && let Err(e) = task.await
        {
            tracing::error!(error = %e, "detection commit task failed");
        }
    }

    /// Start committing the pending results and the watermark, if
    /// evaluation got ahead of the last commit, once the commit before it
    /// has landed. The commit runs beside evaluation: events keep being
    /// evaluated (and their memory freed) while SQLite writes, instead of
    /// piling up behind it.
    async fn start_commit(&mut self) {
        if !self.uncommitted() {
            return;
        }
        self.wait_for_commit().await;
        let pending = std::mem::take(&mut self.pending);
        let up_to = self.evaluated_up_to;
        self.started_up_to = up_to;
        self.last_commit = Instant::now();
        let storage = self.storage.clone();
        let live = self.live.clone();
        let counters = self.counters.clone();
        let lost = self.lost.clone();
        self.in_flight = Some(tokio::spawn(async move {
            let committed = commit(
                &*storage,
                &live,
                &counters,
                pending.writes,
                up_to,
                pending.new_by_sev,
            )
            .await;
            if !committed {
                lost.store(true, Ordering::Release);
            }
            // The events' queue slots free up once their results are stored.
            drop(pending.permits);
        }));
    }
}

/// Commit detection results and the watermark, retrying until it works:
/// the events are stored, so their results must be too. `false` when the
/// storage refused it because another process leads detection now.
async fn commit(
    storage: &dyn Storage,
    live: &broadcast::Sender<LiveUpdate>,
    counters: &StageCounters,
    writes: Vec<FindingWrite>,
    last_id: i64,
    new_by_sev: BTreeMap<&'static str, u64>,
) -> bool {
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        match storage.commit_detection(&writes, last_id).await {
            Ok(findings) => {
                metrics::histogram!("vigilo_detection_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                tracing::debug!(
                    writes = writes.len(),
                    evidence = writes.iter().map(|w| w.new_evidence.len()).sum::<usize>(),
                    ms = started.elapsed().as_millis() as u64,
                    "detection results committed"
                );
                for (sev, c) in new_by_sev {
                    metrics::counter!("vigilo_findings_total", "severity" => sev).increment(c);
                }
                if !findings.is_empty() {
                    let _ = live.send(LiveUpdate::Findings(Arc::new(findings)));
                }
                return true;
            }
            Err(StorageError::NotLeader) => {
                tracing::error!(
                    watermark = last_id,
                    "detection results refused: another process leads detection now"
                );
                return false;
            }
            Err(e) => {
                attempt += 1;
                counters.commit_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, attempt, "committing detection results failed; retrying");
                let wait = std::time::Duration::from_millis(100 * u64::from(attempt.min(50)));
                tokio::time::sleep(wait).await;
            }
        }
    }
}
