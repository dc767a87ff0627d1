//! The stateful detector: runs every event through the correlation engine at
//! the event's own time and coalesces matches into incidents.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, TimeZone, Utc};
use rsigma_eval::{
    CorrelationConfig, CorrelationEngine, CorrelationEventMode, CorrelationSnapshot, Event as _,
    EventValue, ResultBody, TimestampFallback,
};
use rsigma_parser::CorrelationType;
use vigilo_core::finding::EVIDENCE_CAP;
use vigilo_core::{Event, Finding, FindingStatus};

use crate::fast::{Closer, EvidenceRef, Hit, Native, event_count_keeps, temporal_closers};
use crate::risk::risk;
use crate::ruleset::{RuleInfo, RuleKind, RuleSet};
use crate::view::{EventView, parse_ref};

/// Event references kept per correlation window and group (24 bytes each).
/// An `event_count` group keeps no more than its threshold + 1 (the largest
/// bundled threshold is 301), and a `temporal_ordered` group one closing hit,
/// so this caps what the earlier references of an ordered correlation keep.
const MAX_WINDOW_REFS: usize = 512;

/// Events between sweeps of expired incidents and correlation windows.
const SWEEP_EVERY: u32 = 16_384;

/// What one call of [`Detector::process`] or [`Detector::process_batch`]
/// changed in one incident, for storage to upsert on `incident_key`.
#[derive(Debug, Clone, PartialEq)]
pub struct FindingUpsert {
    /// Stable for the incident's whole life: `rule_id|group-json|first-seen-millis`.
    pub incident_key: String,
    /// True when one of these matches opened the incident.
    pub is_new: bool,
    /// The incident as it stands after the last of these matches. `id` is 0
    /// (storage assigns it); `created_at`/`updated_at` are event times.
    pub finding: Finding,
    /// Evidence ids added by these matches, in order (already included in
    /// `finding.evidence` while under the cap).
    pub new_evidence: Vec<i64>,
    /// Rule matches this upsert stands for.
    pub matches: u64,
}

#[derive(Debug, Clone)]
struct Incident {
    key: String,
    finding: Finding,
    /// Highest processing sequence already counted in this incident.
    max_seq: u64,
    /// (call, index): the upsert this incident has in the output of that
    /// call, which its later matches in the same call update in place.
    slot: Option<(u64, usize)>,
}

/// Where the incident a match joins is kept.
#[derive(Debug, Clone, Copy)]
enum At {
    /// The group's latest incident.
    Latest,
    /// A displaced one, by its index.
    Displaced(usize),
}

/// Whether a match at `now` (event millis) falls in `inc`'s window: from
/// `suppression` before its first match to `suppression` after its last.
fn takes(inc: &Incident, now: i64, suppression: i64) -> bool {
    let first = inc.finding.first_seen.timestamp_millis();
    let last = inc.finding.last_seen.timestamp_millis();
    now.saturating_sub(last) <= suppression && now >= first.saturating_sub(suppression)
}

/// Evidence of the latest firing of a correlation that others refer to.
#[derive(Debug, Clone)]
struct ChildFire {
    secs: i64,
    refs: Vec<EvidenceRef>,
}

/// Engine path only: the closing hits of `temporal_ordered` correlations
/// that a newer closing hit of the same group replaced. The native path
/// keeps one closing hit's evidence per group; the engine keeps them all, so
/// its firings drop these to give the same evidence.
#[derive(Debug, Default)]
struct Superseded {
    /// Per rule: the correlations it closes.
    closers: Vec<Vec<Closer>>,
    /// (correlation, canonical group) -> its closing hits.
    groups: HashMap<(usize, String), Closings>,
}

#[derive(Debug, Default)]
struct Closings {
    /// The latest closing hit: (seconds, sequence, also fed an earlier
    /// reference, so its evidence stays).
    last: Option<(i64, u64, bool)>,
    /// Replaced closing hits still inside the window: (seconds, sequence).
    dropped: Vec<(i64, u64)>,
    span: i64,
}

impl Superseded {
    fn new(rules: &RuleSet) -> Self {
        Superseded {
            closers: temporal_closers(&rules.inner),
            groups: HashMap::new(),
        }
    }

    /// Record the closing hits among `matched` (rules the event matched).
    fn note(&mut self, matched: &[usize], view: &EventView<'_>, seq: u64, secs: i64) {
        for &r in matched {
            let Some(closers) = self.closers.get(r) else {
                continue;
            };
            for c in closers {
                let group: BTreeMap<String, String> = c
                    .group_by
                    .iter()
                    .filter_map(|(name, field)| {
                        let v = view.get_field(field).as_ref().and_then(group_value)?;
                        Some((name.clone(), v))
                    })
                    .collect();
                let state = self.groups.entry((c.corr, canonical(&group))).or_default();
                state.span = c.span;
                let cutoff = secs.saturating_sub(c.span);
                state.dropped.retain(|&(t, _)| t >= cutoff);
                if let Some((t, prev, false)) = state.last {
                    state.dropped.push((t, prev));
                }
                let earlier = c.earlier.iter().any(|e| matched.contains(e));
                state.last = Some((secs, seq, earlier));
            }
        }
    }

    /// Drop replaced closing hits from a firing's evidence.
    fn filter(&self, corr: usize, canon: &str, evidence: &mut Vec<EvidenceRef>) {
        if let Some(state) = self.groups.get(&(corr, canon.to_string()))
            && !state.dropped.is_empty()
        {
            evidence.retain(|e| !state.dropped.iter().any(|&(_, s)| s == e.0));
        }
    }

    fn evict(&mut self, now_secs: i64) {
        self.groups.retain(|_, state| {
            let cutoff = now_secs.saturating_sub(state.span);
            state.dropped.retain(|&(t, _)| t >= cutoff);
            state.last.is_some_and(|(t, _, _)| t >= cutoff) || !state.dropped.is_empty()
        });
    }
}

/// How events are evaluated: natively when every rule fits the native path,
/// else through rsigma's correlation engine.
enum Core {
    Native(Box<Native>),
    Engine(Box<CorrelationEngine>),
    /// Only while a native core is borrowed out during `process`.
    Taken,
}

impl Core {
    fn build(rules: &RuleSet) -> Core {
        match Native::build(&rules.inner, MAX_WINDOW_REFS) {
            Some(n) => Core::Native(Box::new(n)),
            None => Core::Engine(Box::new(build_engine(rules))),
        }
    }

    fn export(&self) -> CorrelationSnapshot {
        match self {
            Core::Native(n) => n.export(),
            Core::Engine(e) => e.export_state(),
            Core::Taken => CorrelationEngine::new(CorrelationConfig::default()).export_state(),
        }
    }

    fn import(&mut self, snapshot: CorrelationSnapshot) -> bool {
        match self {
            Core::Native(n) => n.import(snapshot),
            Core::Engine(e) => e.import_state(snapshot),
            Core::Taken => false,
        }
    }

    fn evict(&mut self, now_secs: i64) {
        match self {
            Core::Native(n) => n.evict(now_secs),
            Core::Engine(e) => e.evict_expired(now_secs),
            Core::Taken => {}
        }
    }
}

pub struct Detector {
    rules: RuleSet,
    core: Core,
    risks: Vec<(u8, String)>,
    /// Correlations referred to by another correlation (their firings are kept).
    referenced: Vec<bool>,
    /// Per rule: hits an `event_count` window counts and keeps as evidence.
    keeps: Vec<usize>,
    /// Engine path: replaced closing hits (see [`Superseded`]).
    superseded: Superseded,
    /// Open incidents by rule_id, then canonical group: the latest one of
    /// each group (the one with the latest last_seen).
    open: HashMap<String, HashMap<String, Incident>>,
    /// Other incidents of a group still within their window: opened by
    /// matches older than the latest incident's window (history replayed out
    /// of order, or events with equal times that arrive interleaved). A
    /// match joins whichever incident's window holds it, so none of them is
    /// forgotten and overwritten later. Usually empty.
    displaced: HashMap<String, HashMap<String, Vec<Incident>>>,
    /// Scratch for native hits.
    hits: Vec<Hit>,
    /// Latest firing of a referenced correlation by (rule index, canonical group).
    child_fires: HashMap<(usize, String), ChildFire>,
    counts: Vec<u64>,
    /// Match counts of rules no longer loaded, and the base for reloaded ones.
    carried_counts: HashMap<String, u64>,
    seq: u64,
    /// Calls of `process`/`process_batch` so far (see [`Incident::slot`]).
    calls: u64,
    /// Latest event time seen (millis).
    watermark: i64,
    since_sweep: u32,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("rules", &self.rules.rules().len())
            .field("open_incidents", &self.open_incidents())
            .field("events", &self.seq)
            .finish()
    }
}

fn build_engine(rules: &RuleSet) -> CorrelationEngine {
    let config = CorrelationConfig {
        // Event time is always passed in; never fall back to the clock.
        timestamp_fallback: TimestampFallback::Skip,
        max_state_entries: 1_000_000,
        emit_detections: true,
        correlation_event_mode: CorrelationEventMode::Refs,
        max_correlation_events: MAX_WINDOW_REFS,
        ..CorrelationConfig::default()
    };
    let mut engine = CorrelationEngine::new(config);
    // Logsource routing: the view reports each event's own logsource.
    engine.set_logsource_extractor(Some(crate::logsource::extractor()));
    // `RuleSet::compile` built the same collection once already, so this
    // cannot fail; should it, the detector runs with no rules rather than panic.
    if engine.add_collection(&rules.inner.collection).is_err() {
        engine = CorrelationEngine::new(CorrelationConfig::default());
    }
    engine
}

fn canonical(group: &BTreeMap<String, String>) -> String {
    serde_json::to_string(group).unwrap_or_default()
}

fn millis_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Bring `copy` (an earlier clone of an incident's finding) up to date with
/// `finding` after an update: the fields an update changes, reusing the
/// copy's allocations.
fn refresh(copy: &mut Finding, finding: &Finding) {
    copy.event_count = finding.event_count;
    copy.evidence.clone_from(&finding.evidence);
    copy.first_seen = finding.first_seen;
    copy.last_seen = finding.last_seen;
    copy.updated_at = finding.updated_at;
    if copy.service.is_none() {
        copy.service.clone_from(&finding.service);
    }
    if copy.user.is_none() {
        copy.user.clone_from(&finding.user);
    }
}

fn group_value(v: &EventValue<'_>) -> Option<String> {
    match v {
        EventValue::Str(s) => Some(s.to_string()),
        EventValue::Int(n) => Some(n.to_string()),
        EventValue::Float(f) => Some(f.to_string()),
        EventValue::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Detector {
    pub fn new(rules: RuleSet) -> Self {
        let core = Core::build(&rules);
        let mut d = Detector {
            risks: Vec::new(),
            referenced: Vec::new(),
            keeps: Vec::new(),
            superseded: Superseded::default(),
            core,
            rules: RuleSet::empty(),
            open: HashMap::new(),
            displaced: HashMap::new(),
            hits: Vec::new(),
            child_fires: HashMap::new(),
            counts: Vec::new(),
            carried_counts: HashMap::new(),
            seq: 0,
            calls: 0,
            watermark: i64::MIN,
            since_sweep: 0,
        };
        d.install(rules);
        d
    }

    /// Set the per-rule tables for `rules` (engine already built).
    fn install(&mut self, rules: RuleSet) {
        let infos = rules.rules();
        self.risks = infos.iter().map(risk).collect();
        let mut referenced = vec![false; infos.len()];
        for children in &rules.inner.child_correlations {
            for &c in children {
                referenced[c] = true;
            }
        }
        self.referenced = referenced;
        self.keeps = event_count_keeps(&rules.inner);
        self.superseded = Superseded::new(&rules);
        self.counts = infos
            .iter()
            .map(|r| self.carried_counts.remove(&r.rule_id).unwrap_or(0))
            .collect();
        self.rules = rules;
    }

    pub fn rules(&self) -> &[RuleInfo] {
        self.rules.rules()
    }

    /// Which evaluation path runs the rules: `"native"` or `"engine"`
    /// (rsigma's correlation engine; see the crate documentation).
    pub fn evaluation_path(&self) -> &'static str {
        match self.core {
            Core::Engine(_) => "engine",
            _ => "native",
        }
    }

    pub fn rule_set(&self) -> &RuleSet {
        &self.rules
    }

    /// Matches per rule id since this detector was created, across reloads.
    /// Detection rules count matching events, correlations count firings.
    pub fn match_counts(&self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = self
            .carried_counts
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (info, n) in self.rules.rules().iter().zip(&self.counts) {
            *out.entry(info.rule_id.clone()).or_default() += n;
        }
        out
    }

    /// Number of incidents currently open for deduplication.
    pub fn open_incidents(&self) -> usize {
        let displaced: usize = self
            .displaced
            .values()
            .flat_map(HashMap::values)
            .map(Vec::len)
            .sum();
        self.open.values().map(HashMap::len).sum::<usize>() + displaced
    }

    /// Evaluate one event at its own time. Returns one upsert per incident
    /// opened or updated by it.
    pub fn process(&mut self, event: &Event) -> Vec<FindingUpsert> {
        self.process_batch(std::slice::from_ref(event))
    }

    /// Evaluate `events` in order. One upsert per incident they touched, in
    /// the order of each incident's first match: its state after its last
    /// match, the evidence all its matches added, and how many there were.
    /// A busy incident costs one upsert per batch, not one per event.
    pub fn process_batch(&mut self, events: &[Event]) -> Vec<FindingUpsert> {
        self.calls += 1;
        let mut out = Vec::new();
        for event in events {
            self.process_one(event, &mut out);
        }
        out
    }

    /// Evaluate one event, adding its matches to `out`.
    fn process_one(&mut self, event: &Event, out: &mut Vec<FindingUpsert>) {
        self.seq += 1;
        let seq = self.seq;
        let millis = event.timestamp.timestamp_millis();
        if millis > self.watermark {
            self.watermark = millis;
        }
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.sweep();
        }

        let view = EventView::new(event, seq);
        let secs = event.timestamp.timestamp();
        match &mut self.core {
            Core::Native(native) => {
                let mut hits = std::mem::take(&mut self.hits);
                hits.clear();
                native.process(&view, secs, (seq, event.id, millis), &mut hits);
                if !hits.is_empty() {
                    let core = std::mem::replace(&mut self.core, Core::Taken);
                    if let Core::Native(native) = &core {
                        for &hit in &hits {
                            self.on_native_hit(native, hit, &view, seq, event, out);
                        }
                    }
                    self.core = core;
                }
                self.hits = hits;
            }
            Core::Engine(engine) => {
                let results = engine.process_event_at(&view, secs);
                let matched: Vec<usize> = results
                    .iter()
                    .filter(|r| matches!(r.body, ResultBody::Detection(_)))
                    .filter_map(|r| {
                        let id = r.header.rule_id.as_deref()?;
                        self.rules.inner.engine_ids.get(id).copied()
                    })
                    .collect();
                self.superseded.note(&matched, &view, seq, secs);
                for result in &results {
                    self.on_engine_result(result, &view, seq, event, out);
                }
            }
            Core::Taken => {}
        }
    }

    fn on_detection(
        &mut self,
        idx: usize,
        view: &EventView<'_>,
        seq: u64,
        event: &Event,
        out: &mut Vec<FindingUpsert>,
    ) {
        self.counts[idx] += 1;
        let rules = self.rules.clone();
        let info = &rules.inner.infos[idx];
        if !info.emits_findings {
            return;
        }
        let mut group = BTreeMap::new();
        for field in &info.group_by {
            if let Some(v) = view.get_field(field).as_ref().and_then(group_value) {
                group.insert(field.clone(), v);
            }
        }
        let canon = canonical(&group);
        let evidence = vec![(seq, event.id, event.timestamp.timestamp_millis())];
        self.upsert(idx, &group, &canon, evidence, 0, event, out);
    }

    /// A correlation firing: `refs` are its window's evidence.
    #[allow(clippy::too_many_arguments)]
    fn on_correlation(
        &mut self,
        idx: usize,
        group: &BTreeMap<String, String>,
        canon: &str,
        mut evidence: Vec<EvidenceRef>,
        window_count: usize,
        event: &Event,
        out: &mut Vec<FindingUpsert>,
    ) {
        self.counts[idx] += 1;
        let rules = self.rules.clone();
        let inner = &rules.inner;
        for &child in &inner.child_correlations[idx] {
            if let Some(fire) = self.child_fires.get(&(child, canon.to_string())) {
                evidence.extend(fire.refs.iter().copied());
            }
        }
        evidence.sort_unstable();
        evidence.dedup_by_key(|e| e.0);
        if self.referenced[idx] {
            self.child_fires.insert(
                (idx, canon.to_string()),
                ChildFire {
                    secs: event.timestamp.timestamp(),
                    refs: evidence.clone(),
                },
            );
        }
        if !inner.infos[idx].emits_findings {
            return;
        }
        self.upsert(idx, group, canon, evidence, window_count, event, out);
    }

    fn on_native_hit(
        &mut self,
        native: &Native,
        hit: Hit,
        view: &EventView<'_>,
        seq: u64,
        event: &Event,
        out: &mut Vec<FindingUpsert>,
    ) {
        match hit {
            Hit::Detection { info } => self.on_detection(info, view, seq, event, out),
            Hit::Correlation {
                corr,
                group,
                value,
                refs,
            } => {
                let c = &native.corrs[corr];
                let idx = c.info;
                // A correlation that emits nothing and feeds nothing only counts.
                if !self.rules.inner.infos[idx].emits_findings && !self.referenced[idx] {
                    self.counts[idx] += 1;
                    return;
                }
                let window_count = if native.is_event_count(corr) {
                    value.max(0.0) as usize
                } else {
                    0
                };
                let Some(meta) = c.slots[group].meta.as_ref() else {
                    return;
                };
                let refs = &native.evidence[refs.0..refs.1];
                // A firing that updates an open incident adds only what it
                // has not counted: skip copying the rest of the window (302
                // references per event for a busy one-hour burst). Chained
                // correlations keep the whole firing for their parents.
                let counted = if self.referenced[idx]
                    || !self.rules.inner.child_correlations[idx].is_empty()
                {
                    None
                } else {
                    self.counted_up_to(idx, &meta.canon, event.timestamp.timestamp_millis())
                };
                let evidence: Vec<EvidenceRef> = match counted {
                    Some(max_seq) => refs.iter().filter(|e| e.0 > max_seq).copied().collect(),
                    None => refs.to_vec(),
                };
                self.on_correlation(
                    idx,
                    &meta.pairs,
                    &meta.canon,
                    evidence,
                    window_count,
                    event,
                    out,
                );
            }
        }
    }

    fn on_engine_result(
        &mut self,
        result: &rsigma_eval::EvaluationResult,
        view: &EventView<'_>,
        seq: u64,
        event: &Event,
        out: &mut Vec<FindingUpsert>,
    ) {
        let Some(&idx) = result
            .header
            .rule_id
            .as_deref()
            .and_then(|id| self.rules.inner.engine_ids.get(id))
        else {
            return;
        };
        match &result.body {
            ResultBody::Detection(_) => self.on_detection(idx, view, seq, event, out),
            ResultBody::Correlation(body) => {
                let group: BTreeMap<String, String> = body.group_key.iter().cloned().collect();
                let canon = canonical(&group);
                let mut evidence: Vec<EvidenceRef> = body
                    .event_refs
                    .iter()
                    .flatten()
                    .filter_map(|r| r.id.as_deref().and_then(parse_ref))
                    .collect();
                let window_count = match body.correlation_type {
                    CorrelationType::TemporalOrdered => {
                        self.superseded.filter(idx, &canon, &mut evidence);
                        0
                    }
                    CorrelationType::EventCount => {
                        // As the native path: the window counts, and keeps
                        // as evidence, its newest `keep` hits.
                        let keep = self.keeps[idx];
                        let extra = evidence.len().saturating_sub(keep);
                        evidence.drain(..extra);
                        (body.aggregated_value.max(0.0) as usize).min(keep)
                    }
                    _ => 0,
                };
                self.on_correlation(idx, &group, &canon, evidence, window_count, event, out);
            }
        }
    }

    /// When a match of rule `idx` for `canon` at `now` (event millis) updates
    /// an open incident rather than opening one: the highest processing
    /// sequence that incident has counted.
    fn counted_up_to(&self, idx: usize, canon: &str, now: i64) -> Option<u64> {
        self.incident_at(idx, canon, now)
            .map(|(_, inc)| inc.max_seq)
    }

    /// The open incident of rule `idx` for `canon` a match at `now` (event
    /// millis) joins, and where it is kept: the latest one when its window
    /// holds `now`, else a displaced one whose window does.
    fn incident_at(&self, idx: usize, canon: &str, now: i64) -> Option<(At, &Incident)> {
        let info = &self.rules.inner.infos[idx];
        let suppression = i64::try_from(info.suppression.as_millis()).unwrap_or(i64::MAX);
        let rule = info.rule_id.as_str();
        if let Some(inc) = self.open.get(rule).and_then(|m| m.get(canon))
            && takes(inc, now, suppression)
        {
            return Some((At::Latest, inc));
        }
        self.displaced
            .get(rule)?
            .get(canon)?
            .iter()
            .enumerate()
            .find(|(_, inc)| takes(inc, now, suppression))
            .map(|(i, inc)| (At::Displaced(i), inc))
    }

    /// Open or update the incident of rule `idx` for `group`, and record the
    /// change in `out` (in place when the incident is already there).
    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &mut self,
        idx: usize,
        group: &BTreeMap<String, String>,
        canon: &str,
        evidence: Vec<EvidenceRef>,
        window_count: usize,
        event: &Event,
        out: &mut Vec<FindingUpsert>,
    ) {
        let now = event.timestamp.timestamp_millis();
        let at = self.incident_at(idx, canon, now).map(|(at, _)| at);
        let call = self.calls;
        let info = &self.rules.inner.infos[idx];
        let rule = info.rule_id.as_str();
        let joined = match at {
            None => None,
            Some(At::Latest) => self.open.get_mut(rule).and_then(|m| m.get_mut(canon)),
            Some(At::Displaced(i)) => self
                .displaced
                .get_mut(rule)
                .and_then(|m| m.get_mut(canon))
                .and_then(|v| v.get_mut(i)),
        };
        if let Some(inc) = joined {
            let fresh: Vec<EvidenceRef> =
                evidence.into_iter().filter(|e| e.0 > inc.max_seq).collect();
            if fresh.is_empty() {
                return;
            }
            let f = &mut inc.finding;
            let mut new_evidence = Vec::with_capacity(fresh.len());
            for &(seq, id, ms) in &fresh {
                inc.max_seq = inc.max_seq.max(seq);
                f.event_count += 1;
                if f.evidence.len() < EVIDENCE_CAP {
                    f.evidence.push(id);
                }
                new_evidence.push(id);
                if ms < f.first_seen.timestamp_millis() {
                    f.first_seen = millis_to_time(ms);
                }
                if ms > f.last_seen.timestamp_millis() {
                    f.last_seen = millis_to_time(ms);
                }
            }
            if now > f.last_seen.timestamp_millis() {
                f.last_seen = event.timestamp;
            }
            if f.service.is_none() {
                f.service = event.service.clone();
            }
            if f.user.is_none() {
                f.user = event.user.clone();
            }
            f.updated_at = event.timestamp;
            let emitted = inc
                .slot
                .filter(|&(c, _)| c == call)
                .and_then(|(_, i)| out.get_mut(i));
            match emitted {
                Some(u) => {
                    debug_assert_eq!(u.incident_key, inc.key, "slot of another incident");
                    refresh(&mut u.finding, &inc.finding);
                    u.new_evidence.extend(new_evidence);
                    u.matches += 1;
                }
                None => {
                    inc.slot = Some((call, out.len()));
                    out.push(FindingUpsert {
                        incident_key: inc.key.clone(),
                        is_new: false,
                        finding: inc.finding.clone(),
                        new_evidence,
                        matches: 1,
                    });
                }
            }
            return;
        }

        let first = evidence.iter().map(|e| e.2).min().unwrap_or(now).min(now);
        let last = evidence.iter().map(|e| e.2).max().unwrap_or(now).max(now);
        let ids: Vec<i64> = evidence.iter().map(|e| e.1).collect();
        let max_seq = evidence.iter().map(|e| e.0).max().unwrap_or(0);
        let event_count = ids.len().max(window_count).max(1);
        let (risk_score, explanation) = self.risks[idx].clone();
        let group = group.clone();
        let service = event
            .service
            .clone()
            .or_else(|| group.get("service").cloned());
        let user = event
            .user
            .clone()
            .or_else(|| group.get("user").or_else(|| group.get("user_id")).cloned());
        let incident_key = format!("{}|{}|{}", info.rule_id, canon, first);
        let finding = Finding {
            id: 0,
            rule_id: info.rule_id.clone(),
            rule_title: info.title.clone(),
            severity: info.severity,
            status: FindingStatus::Open,
            group,
            service,
            user,
            first_seen: millis_to_time(first),
            last_seen: millis_to_time(last),
            event_count: i64::try_from(event_count).unwrap_or(i64::MAX),
            evidence: ids.iter().copied().take(EVIDENCE_CAP).collect(),
            description: info.description.clone(),
            tags: info.tags.clone(),
            risk_score,
            explanation,
            note: None,
            assignee: None,
            workflow_tags: Vec::new(),
            close_reason: None,
            recommended_actions: Vec::new(),
            enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
            enriched_at: None,
            created_at: event.timestamp,
            updated_at: event.timestamp,
        };
        let slot = out.len();
        out.push(FindingUpsert {
            incident_key: incident_key.clone(),
            is_new: true,
            finding: finding.clone(),
            new_evidence: ids,
            matches: 1,
        });
        let incident = Incident {
            key: incident_key,
            finding,
            max_seq,
            slot: Some((call, slot)),
        };
        let rule_id = info.rule_id.clone();
        self.track(rule_id, canon, incident);
    }

    /// Keep an incident open: as its group's latest when it is (its
    /// last_seen is not before the latest's), the other one displaced.
    fn track(&mut self, rule_id: String, canon: &str, incident: Incident) {
        let by_group = self.open.entry(rule_id.clone()).or_default();
        let older = match by_group.get_mut(canon) {
            None => {
                by_group.insert(canon.to_string(), incident);
                None
            }
            Some(latest) if latest.finding.last_seen <= incident.finding.last_seen => {
                Some(std::mem::replace(latest, incident))
            }
            Some(_) => Some(incident),
        };
        if let Some(older) = older {
            self.displaced
                .entry(rule_id)
                .or_default()
                .entry(canon.to_string())
                .or_default()
                .push(older);
        }
    }

    /// Drop incidents whose suppression window has passed, stale correlation
    /// firings, and expired correlation windows, all by event time.
    fn sweep(&mut self) {
        self.since_sweep = 0;
        let watermark = self.watermark;
        if watermark == i64::MIN {
            return;
        }
        let suppression: HashMap<&str, i64> = self
            .rules
            .rules()
            .iter()
            .map(|r| {
                (
                    r.rule_id.as_str(),
                    i64::try_from(r.suppression.as_millis()).unwrap_or(i64::MAX),
                )
            })
            .collect();
        self.open.retain(|rule_id, by_group| {
            let window = suppression
                .get(rule_id.as_str())
                .copied()
                .unwrap_or(i64::MAX);
            by_group.retain(|_, inc| {
                watermark.saturating_sub(inc.finding.last_seen.timestamp_millis()) <= window
            });
            !by_group.is_empty()
        });
        self.displaced.retain(|rule_id, by_group| {
            let window = suppression
                .get(rule_id.as_str())
                .copied()
                .unwrap_or(i64::MAX);
            by_group.retain(|_, list| {
                list.retain(|inc| {
                    watermark.saturating_sub(inc.finding.last_seen.timestamp_millis()) <= window
                });
                !list.is_empty()
            });
            !by_group.is_empty()
        });
        let infos = &self.rules.inner.infos;
        let watermark_secs = watermark.div_euclid(1000);
        self.child_fires.retain(|(idx, _), fire| {
            let span = infos
                .get(*idx)
                .and_then(|r| r.timespan)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            watermark_secs.saturating_sub(fire.secs) <= span
        });
        self.core.evict(watermark_secs);
        self.superseded.evict(watermark_secs);
    }

    /// Rebuild deduplication state after a restart from the incidents storage
    /// still has open (key and finding as last upserted). Later matches of
    /// the same rule and group inside the suppression window update them.
    pub fn restore_incidents(&mut self, open: impl IntoIterator<Item = (String, Finding)>) {
        for (key, finding) in open {
            let canon = canonical(&finding.group);
            let rule_id = finding.rule_id.clone();
            let incident = Incident {
                key,
                finding,
                max_seq: self.seq,
                slot: None,
            };
            self.track(rule_id, &canon, incident);
        }
    }

    /// Replace the rules.
    ///
    /// What survives:
    /// - every open incident (so a match after the reload still updates the
    ///   same finding, using the new rule's severity only for new incidents);
    /// - correlation windows, and the evidence they hold, of correlations whose
    ///   id is unchanged and whose text, and the text of every rule they refer
    ///   to, is unchanged; any other correlation starts with empty windows;
    /// - match counts, by rule id.
    pub fn reload(&mut self, rules: RuleSet) {
        let old = self.rules.clone();
        let new = rules.clone();
        let mut unchanged_ids: HashSet<String> = HashSet::new();
        let mut index_map: HashMap<usize, usize> = HashMap::new();
        let old_by_id: HashMap<&str, usize> = old
            .rules()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.rule_id.as_str(), i))
            .collect();
        for (new_idx, info) in new.rules().iter().enumerate() {
            if info.kind != RuleKind::Correlation {
                continue;
            }
            let Some(&old_idx) = old_by_id.get(info.rule_id.as_str()) else {
                continue;
            };
            if old.inner.fingerprints[old_idx] == new.inner.fingerprints[new_idx] {
                index_map.insert(old_idx, new_idx);
                if let Some(engine_id) = engine_id_of(&new, new_idx) {
                    unchanged_ids.insert(engine_id);
                }
            }
        }

        let mut snapshot: CorrelationSnapshot = self.core.export();
        snapshot.windows.retain(|k, _| unchanged_ids.contains(k));
        snapshot.last_alert.retain(|k, _| unchanged_ids.contains(k));
        snapshot
            .event_buffers
            .retain(|k, _| unchanged_ids.contains(k));
        snapshot
            .event_ref_buffers
            .retain(|k, _| unchanged_ids.contains(k));
        let mut core = Core::build(&new);
        core.import(snapshot);
        self.core = core;

        self.child_fires = std::mem::take(&mut self.child_fires)
            .into_iter()
            .filter_map(|((idx, g), fire)| index_map.get(&idx).map(|&n| ((n, g), fire)))
            .collect();

        for (info, n) in old.rules().iter().zip(&self.counts) {
            *self.carried_counts.entry(info.rule_id.clone()).or_default() += n;
        }
        self.install(rules);
    }

    /// Correlation window state, serializable, for persisting across restarts.
    pub fn export_windows(&self) -> CorrelationSnapshot {
        self.core.export()
    }

    /// Load window state saved by [`Detector::export_windows`]. Windows of
    /// correlations not loaded are ignored. Returns false on a snapshot of
    /// an incompatible version.
    pub fn import_windows(&mut self, snapshot: CorrelationSnapshot) -> bool {
        self.core.import(snapshot)
    }
}

fn engine_id_of(rules: &RuleSet, idx: usize) -> Option<String> {
    rules
        .inner
        .engine_ids
        .iter()
        .find(|&(_, &i)| i == idx)
        .map(|(k, _)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Logsource;
    use chrono::TimeZone;
    use serde_json::{Value, json};

    fn engine_detector(rules: RuleSet) -> Detector {
        let mut d = Detector::new(rules.clone());
        d.core = Core::Engine(Box::new(build_engine(&rules)));
        d
    }

    /// Dense mixed traffic over few users and services so every correlation fires.
    fn traffic(n: usize) -> Vec<Event> {
        let mut x: u64 = 7;
        let mut next = move |m: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % m
        };
        let types = [
            "login_failed",
            "login_failed",
            "login_success",
            "mfa_failed",
            "permission_changed",
            "file_viewed",
        ];
        (0..n)
            .map(|i| {
                let user = format!("u{}", next(6));
                let service = ["api", "db"][next(2) as usize];
                // Mostly increasing time with some jitter back and forth.
                let secs = (i as i64 * 3) + next(20) as i64 - 10;
                let level = ["ERROR", "WARNING", "INFO"][next(3) as usize];
                let event_type = types[next(types.len() as u64) as usize];
                let payload = match next(5) {
                    0 => json!({"kind": "log", "service": service,
                        "level": level,
                        "message": "op failed", "user_id": user}),
                    1 => json!({"kind": "metric", "service": service,
                        "cpu": 60 + next(40), "latency_ms": 900 + next(200)}),
                    2 => json!({"kind": "transaction", "user_id": user,
                        "amount": next(12_000) as f64}),
                    _ => json!({"event_type": event_type,
                        "user": user, "new_role": "admin"}),
                };
                let Value::Object(payload) = payload else {
                    unreachable!()
                };
                let ts = Utc.timestamp_opt(1_704_067_200 + secs, 0).unwrap();
                let text = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_string);
                Event {
                    logsource: Default::default(),
                    id: i as i64 + 1,
                    timestamp: ts,
                    received_at: ts,
                    kind: text("kind").unwrap_or_else(|| "audit".into()),
                    service: text("service"),
                    user: text("user").or_else(|| text("user_id")),
                    payload,
                }
            })
            .collect()
    }

    /// `process` on each event, folded as `process_batch` promises: one
    /// upsert per incident in the order of its first match, in its last
    /// state, with all the evidence its matches added.
    fn one_by_one(d: &mut Detector, events: &[Event]) -> Vec<FindingUpsert> {
        let mut out: Vec<FindingUpsert> = Vec::new();
        for e in events {
            for u in d.process(e) {
                match out.iter_mut().find(|o| o.incident_key == u.incident_key) {
                    Some(o) => {
                        o.is_new |= u.is_new;
                        o.finding = u.finding;
                        o.new_evidence.extend(u.new_evidence);
                        o.matches += u.matches;
                    }
                    None => out.push(u),
                }
            }
        }
        out
    }

    #[test]
    fn a_batch_gives_one_upsert_per_incident_in_its_last_state() {
        let rules = RuleSet::compile(&crate::bundled()).unwrap();
        for engine in [false, true] {
            let make = || {
                if engine {
                    engine_detector(rules.clone())
                } else {
                    Detector::new(rules.clone())
                }
            };
            let (mut batched, mut single) = (make(), make());
            let mut merged = 0;
            for (i, chunk) in traffic(20_000).chunks(997).enumerate() {
                let want = one_by_one(&mut single, chunk);
                let got = batched.process_batch(chunk);
                assert_eq!(got, want, "chunk {i}, engine path {engine}");
                merged += got.iter().filter(|u| u.matches > 1).count();
            }
            assert!(
                merged > 100,
                "only {merged} upserts stand for several matches"
            );
            assert_eq!(batched.match_counts(), single.match_counts());
            assert_eq!(batched.open_incidents(), single.open_incidents());
        }
    }

    #[test]
    fn native_path_matches_the_engine() {
        let rules = RuleSet::compile(&crate::bundled()).unwrap();
        let mut native = Detector::new(rules.clone());
        assert!(matches!(native.core, Core::Native(_)));
        let mut engine = engine_detector(rules);
        let events = traffic(40_000);
        let mut fired = 0;
        for (i, e) in events.iter().enumerate() {
            let a = native.process(e);
            let b = engine.process(e);
            assert_eq!(a, b, "event {i}");
            fired += a.len();
        }
        assert!(fired > 1000);
        assert_eq!(native.match_counts(), engine.match_counts());
        assert_eq!(native.open_incidents(), engine.open_incidents());
    }

    /// The bundled packs and every SigmaHQ rule of the shared corpus.
    fn packs_and_community() -> Vec<crate::RuleSource> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for p in entries {
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "yml") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/sigmahq/rules");
        let mut files = Vec::new();
        walk(&root, &mut files);
        let mut sources = crate::bundled();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            sources.push(crate::RuleSource::new(f.to_string_lossy(), text));
        }
        sources
    }

    #[test]
    fn native_path_matches_the_engine_with_thousands_of_rules() {
        let rules = RuleSet::compile(&packs_and_community()).unwrap();
        assert!(rules.rules().len() > 3_000);
        let mut native = Detector::new(rules.clone());
        assert!(matches!(native.core, Core::Native(_)));
        let mut engine = engine_detector(rules);
        let ls = |p: Option<&str>, c: Option<&str>, s: Option<&str>| Logsource {
            product: p.map(str::to_string),
            category: c.map(str::to_string),
            service: s.map(str::to_string),
        };
        let sources = [
            Logsource::default(),
            ls(Some("vigilo"), None, None),
            ls(Some("aws"), None, Some("cloudtrail")),
            ls(Some("windows"), Some("process_creation"), None),
            ls(None, Some("proxy"), None),
            ls(Some("Linux"), None, None),
        ];
        // Fields community rules look at, so that some of them match.
        let extras = [
            json!({"eventSource": "iam.amazonaws.com", "eventName": "CreateAccessKey"}),
            json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketPolicy",
                "userIdentity": {"type": "Root"}}),
            json!({"Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami /all"}),
            json!({"c-uri": "http://x.test/wp-login.php", "cs-method": "POST",
                "c-useragent": "sqlmap/1.0"}),
            json!({}),
        ];
        let mut fired = 0;
        let mut community = 0;
        for (i, mut e) in traffic(6_000).into_iter().enumerate() {
            e.logsource = sources[i % sources.len()].clone();
            if let Value::Object(extra) = &extras[(i / 7) % extras.len()] {
                for (k, v) in extra {
                    e.payload.insert(k.clone(), v.clone());
                }
            }
            let a = native.process(&e);
            let b = engine.process(&e);
            assert_eq!(a, b, "event {i}");
            fired += a.len();
            community += a.iter().filter(|u| u.finding.rule_id.contains('-')).count();
        }
        assert!(fired > 1000, "{fired} upserts");
        assert!(community > 100, "{community} community upserts");
        assert_eq!(native.match_counts(), engine.match_counts());
        assert_eq!(native.open_incidents(), engine.open_incidents());
    }

    #[test]
    fn both_paths_route_by_logsource() {
        let rules = RuleSet::compile(&[crate::RuleSource::new(
            "routing.yml",
            r#"
title: Any source
id: 00000000-0000-4000-8000-000000000001
logsource: {}
detection:
  sel: {action: go}
  condition: sel
---
title: AWS
id: 00000000-0000-4000-8000-000000000002
logsource: {product: aws}
detection:
  sel: {action: go}
  condition: sel
---
title: CloudTrail
id: 00000000-0000-4000-8000-000000000003
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {action: go}
  condition: sel
---
title: Windows process creation
id: 00000000-0000-4000-8000-000000000004
logsource: {product: windows, category: process_creation}
detection:
  sel: {action: go}
  condition: sel
---
title: Absent field
id: 00000000-0000-4000-8000-000000000005
logsource: {product: zeek, service: rdp}
detection:
  sel: {missing_field: 1}
  condition: not sel
"#,
        )])
        .unwrap();
        let ls = |p: Option<&str>, c: Option<&str>, s: Option<&str>| Logsource {
            product: p.map(str::to_string),
            category: c.map(str::to_string),
            service: s.map(str::to_string),
        };
        let cases: &[(Logsource, &[&str])] = &[
            (
                Logsource::default(),
                &[
                    "Any source",
                    "AWS",
                    "CloudTrail",
                    "Windows process creation",
                    "Absent field",
                ],
            ),
            (
                ls(Some("AWS"), None, Some("CloudTrail")),
                &["Any source", "AWS", "CloudTrail"],
            ),
            (ls(Some("aws"), None, Some("s3")), &["Any source", "AWS"]),
            (
                ls(Some("windows"), None, None),
                &["Any source", "Windows process creation"],
            ),
            (
                ls(Some("windows"), Some("file_event"), None),
                &["Any source"],
            ),
            (
                ls(Some("vigilo"), Some("application"), None),
                &["Any source"],
            ),
            (
                ls(None, None, Some("rdp")),
                &[
                    "Any source",
                    "AWS",
                    "Windows process creation",
                    "Absent field",
                ],
            ),
        ];
        for engine in [false, true] {
            let mut d = if engine {
                engine_detector(rules.clone())
            } else {
                Detector::new(rules.clone())
            };
            assert_eq!(matches!(d.core, Core::Engine(_)), engine);
            for (i, (logsource, want)) in cases.iter().enumerate() {
                let ts = Utc
                    .timestamp_opt(1_704_067_200 + i as i64 * 10_000, 0)
                    .unwrap();
                let Value::Object(payload) = json!({"action": "go"}) else {
                    unreachable!()
                };
                let event = Event {
                    id: i as i64 + 1,
                    timestamp: ts,
                    received_at: ts,
                    kind: "audit".into(),
                    service: None,
                    user: None,
                    payload,
                    logsource: logsource.clone(),
                };
                let mut got: Vec<String> = d
                    .process(&event)
                    .into_iter()
                    .map(|u| u.finding.rule_title)
                    .collect();
                got.sort();
                let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
                want.sort();
                assert_eq!(
                    got, want,
                    "event logsource {logsource:?}, engine path {engine}"
                );
            }
        }
    }

    #[test]
    fn both_paths_reopen_incidents_with_the_same_evidence() {
        // Blocks of traffic with quiet spells longer than the suppression
        // window but shorter than the one-hour windows: incidents close and
        // reopen while their windows still hold more hits than the threshold.
        let rules = RuleSet::compile(&crate::bundled()).unwrap();
        let mut native = Detector::new(rules.clone());
        let mut engine = engine_detector(rules);
        let mut reopened = 0;
        let mut seen = std::collections::HashSet::new();
        for (i, mut e) in traffic(12_000).into_iter().enumerate() {
            e.timestamp += chrono::TimeDelta::seconds((i / 300) as i64 * 900);
            let a = native.process(&e);
            let b = engine.process(&e);
            assert_eq!(a, b, "event {i}");
            for u in a.iter().filter(|u| u.is_new) {
                if !seen.insert((u.finding.rule_id.clone(), u.finding.group.clone())) {
                    reopened += 1;
                }
            }
        }
        assert!(reopened > 100, "only {reopened} incidents reopened");
    }

    #[test]
    fn native_windows_survive_export_and_import() {
        let rules = RuleSet::compile(&crate::bundled()).unwrap();
        let events = traffic(6_000);
        let (head, tail) = events.split_at(3_000);
        let mut straight = Detector::new(rules.clone());
        let mut engine = engine_detector(rules.clone());
        for e in head {
            straight.process(e);
            engine.process(e);
        }
        let before = straight.match_counts();
        let mut restarted = Detector::new(rules.clone());
        assert!(restarted.import_windows(straight.export_windows()));
        // Windows exported by the engine load into the native path too.
        let mut from_engine = Detector::new(rules);
        assert!(from_engine.import_windows(engine.export_windows()));
        for e in tail {
            // Incidents are not part of the window state: compare the
            // correlations' firings through match counts instead.
            straight.process(e);
            restarted.process(e);
            from_engine.process(e);
        }
        let corr = |d: &Detector| -> Vec<(String, u64)> {
            d.match_counts()
                .into_iter()
                .map(|(k, n)| {
                    let base = if std::ptr::eq(d, &straight) {
                        before.get(&k).copied().unwrap_or(0)
                    } else {
                        0
                    };
                    (k, n - base)
                })
                .filter(|(k, _)| {
                    d.rules()
                        .iter()
                        .any(|r| &r.rule_id == k && r.kind == RuleKind::Correlation)
                })
                .collect()
        };
        assert_eq!(corr(&straight), corr(&restarted));
        assert_eq!(corr(&straight), corr(&from_engine));
    }
}
