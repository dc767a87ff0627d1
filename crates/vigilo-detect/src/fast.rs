//! The native evaluation path: stateless pre-dispatch of detection rules and
//! native sliding windows for `event_count` and `temporal_ordered`
//! correlations.
//!
//! It reproduces what `rsigma-eval`'s correlation engine computes for the
//! rule shapes it accepts (see [`Native::build`]); a rule set using anything
//! else runs through the engine instead. Differences from the engine are
//! limited to bookkeeping: no per-match result objects, group keys kept as
//! one encoded string per group, and evidence references kept as numbers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

use aho_corasick::AhoCorasick;

use rsigma_eval::compiler::eval_condition;
use rsigma_eval::correlation::compile_correlation;
use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{
    CompiledCondition, CompiledDetection, CompiledMatcher, CompiledRule, CorrelationConfig,
    CorrelationEngine, CorrelationSnapshot, Event as _, EventRefBuffer, EventValue, GroupByField,
    GroupKey, WindowState,
};
use rsigma_parser::{ConditionExpr, CorrelationType, Quantifier, SelectorPattern, WindowMode};
use serde_json::{Map, Value};

use crate::logsource::Route;
use crate::ruleset::RuleSetInner;
use crate::view::{EventView, parse_ref};
use vigilo_core::event::Logsource;

/// The hasher of the per-event maps, the group index above all, whose keys
/// are values any ingest client chooses (user names, services, hosts).
/// Keyed with a seed drawn once per process and varied per map, so values
/// that collide cannot be worked out in advance: with an unkeyed hash,
/// chosen values could pile into one bucket and turn every lookup of their
/// correlation into a scan, stalling detection for everyone.
pub(crate) type FastBuild = foldhash::fast::RandomState;
pub(crate) type FastMap<K, V> = HashMap<K, V, FastBuild>;

/// One evidence event: processing sequence, event id, event time (millis).
pub(crate) type EvidenceRef = (u64, i64, i64);

/// Groups held across all correlations before an early sweep, as the engine.
const MAX_STATE_ENTRIES: usize = 1_000_000;
/// Chained correlation depth limit, as the engine.
const MAX_CHAIN_DEPTH: usize = 10;

/// What one event produced, in the engine's result order: detections first
/// (rule order), then correlation firings in the order they happened.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Hit {
    Detection {
        info: usize,
    },
    Correlation {
        /// Index into the native correlation table.
        corr: usize,
        /// Group slot inside that correlation.
        group: usize,
        value: f64,
        /// Range of this firing's window references in the evidence buffer.
        refs: (usize, usize),
    },
}

#[derive(Debug)]
struct NRule {
    info: usize,
    /// The rule's logsource (events whose logsource conflicts skip it).
    logsource: Logsource,
    /// How the candidate index reaches the rule.
    via: Via,
    compiled: CompiledRule,
    /// The conditions with detections resolved, when they use only what
    /// [`eval_expr`] handles.
    simple: Option<Vec<SExpr>>,
    /// (correlation, reference position) fed by a match, correlation order.
    feeds: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NType {
    EventCount,
    TemporalOrdered,
}

#[derive(Debug)]
pub(crate) struct NCorr {
    pub(crate) info: usize,
    stable_id: String,
    ty: NType,
    span: i64,
    condition: CompiledCondition,
    /// `event_count`: most hits a group counts (see [`window_keep`]).
    keep: usize,
    /// `event_count`: the count is kept apart from the evidence, as hit
    /// times, because it must reach further than the evidence does (a
    /// threshold at or past `max_refs`) or counts chained firings, which
    /// carry no evidence of their own. Otherwise the evidence is the count.
    counted: bool,
    /// Most evidence references a group keeps: `max_refs`, and for
    /// `event_count` no more than `keep`.
    ref_cap: usize,
    pub(crate) group_by: Vec<String>,
    /// Referenced rule strings, in order.
    refs: Vec<String>,
    /// (parent correlation, reference position in the parent).
    parents: Vec<(usize, usize)>,
    max_refs: usize,
    /// Encoded group key -> slot in `slots`.
    index: FastMap<String, usize>,
    pub(crate) slots: Vec<Group>,
    free: Vec<usize>,
}

/// What a group is, built the first time its correlation fires.
#[derive(Debug)]
pub(crate) struct GroupMeta {
    /// Group as field/value pairs (absent fields left out) and its canonical JSON.
    pub(crate) pairs: std::collections::BTreeMap<String, String>,
    pub(crate) canon: String,
}

#[derive(Debug, Default)]
pub(crate) struct Group {
    pub(crate) meta: Option<Box<GroupMeta>>,
    /// `event_count` when [`NCorr::counted`]: hit times (seconds).
    times: VecDeque<i64>,
    /// `temporal_ordered`: hit times per reference position.
    hits: Vec<VecDeque<i64>>,
    /// Direct hits' evidence, oldest first, capped at [`NCorr::ref_cap`].
    refs: VecDeque<EvidenceRef>,
    /// `temporal_ordered`: sequence of the last direct hit of the last
    /// reference (0: none). Its evidence is the only one of that reference
    /// a group keeps: a new closing hit replaces it.
    closing: u64,
}

/// Event time of an evidence reference in whole seconds, as the windows
/// count it (the same clamp as [`Native::process`]).
fn ref_secs(r: &EvidenceRef) -> i64 {
    r.2.div_euclid(1000).clamp(0, i64::MAX / 2)
}

/// Push `v` onto a deque holding at most `cap` items, dropping the oldest,
/// and grow its buffer no further than `cap` (a window bounded at 302 hits
/// keeps room for 302, not the 512 that doubling would reserve).
fn push_bounded<T>(q: &mut VecDeque<T>, cap: usize, v: T) {
    if q.len() >= cap {
        q.pop_front();
    } else if q.len() == q.capacity() {
        // At least 4 slots, never more than `cap` (which may be below 4).
        let want = q.capacity().saturating_mul(2).max(4).min(cap);
        q.reserve_exact(want - q.len());
    }
    q.push_back(v);
}

impl Group {
    /// No window state left: nothing counted and no evidence.
    fn is_empty(&self) -> bool {
        self.times.is_empty() && self.refs.is_empty() && self.hits.iter().all(VecDeque::is_empty)
    }

    fn evict(&mut self, cutoff: i64) {
        while self.times.front().is_some_and(|&t| t < cutoff) {
            self.times.pop_front();
        }
        for h in &mut self.hits {
            while h.front().is_some_and(|&t| t < cutoff) {
                h.pop_front();
            }
        }
    }

    fn evict_refs(&mut self, cutoff: i64) {
        while self.refs.front().is_some_and(|r| ref_secs(r) < cutoff) {
            self.refs.pop_front();
        }
    }
}

/// Pre-dispatch on one field: rules that can only match when the field holds
/// one of a few exact strings.
#[derive(Debug)]
struct DispatchField {
    id: usize,
    field: String,
    /// Lower-cased value -> rules (case-insensitive needles).
    ci: FastMap<String, Vec<usize>>,
    /// Exact value -> rules (case-sensitive needles).
    cs: FastMap<String, Vec<usize>>,
    /// Every rule constrained on this field.
    all: Vec<usize>,
}

/// How the candidate index reaches a rule.
#[derive(Debug, Clone)]
enum Via {
    /// Evaluated for every event of a compatible logsource.
    Always,
    /// Only when field `field` (table id `id`) holds one of `needles`.
    Value {
        id: usize,
        field: String,
        needles: Vec<String>,
        ci: bool,
    },
    /// Only when the event satisfies one of these atoms (see
    /// [`rule_witness`]).
    Witness(Vec<Atom>),
}

/// Rules reached by the presence of a field, in one plan.
#[derive(Debug)]
struct PresenceField {
    field: String,
    rules: Vec<usize>,
}

/// Fewest rules (counted once per field) worth a presence index in a plan.
const PRESENCE_MIN_RULES: usize = 16;

/// Overlay fields, present on every event whatever its payload.
const OVERLAY_FIELDS: [&str; 3] = ["kind", "service", "user"];

/// The candidate index for one event logsource: the rules it admits,
/// reached by value or always.
#[derive(Debug)]
struct Plan {
    route: Route,
    always: Vec<usize>,
    dispatch: Vec<DispatchField>,
    /// Presence index: rules that need one of their fields.
    present: Vec<PresenceField>,
    /// A top-level key or a dotted field's first segment -> the presence
    /// fields it may supply.
    by_key: FastMap<String, Vec<usize>>,
    /// Presence fields named like an overlay field, checked on every event.
    overlay: Vec<usize>,
    /// Keyword index: an automaton over the words of `word_rules` (same
    /// order), each with the rules it may satisfy.
    words: Option<AhoCorasick>,
    word_rules: Vec<PresenceField>,
}

/// Plans kept before the cache starts over (event logsources are chosen by
/// ingest clients; each plan costs a pass over the rules to build).
const MAX_PLANS: usize = 1024;

#[derive(Debug)]
pub(crate) struct Native {
    /// Top-level field names used by rules and dispatch with their table
    /// ids, by name length (short lists: no hashing per payload key).
    by_len: Vec<Vec<(String, usize)>>,
    rules: Vec<NRule>,
    /// Candidate indexes by event logsource, built on first use.
    plans: Vec<Plan>,
    plan_of: FastMap<Route, usize>,
    /// The plan of the previous event.
    last_plan: usize,
    pub(crate) corrs: Vec<NCorr>,
    groups: usize,
    // Scratch, reused across events.
    cand: Vec<usize>,
    selections: Vec<String>,
    key: String,
    lower: String,
    /// Keyword index scratch: words already found in this event.
    word_hit: Vec<bool>,
    matched: Vec<usize>,
    fired: Vec<(usize, usize)>,
    pub(crate) evidence: Vec<EvidenceRef>,
}

/// Exact-string needles of a matcher: `(values, case_insensitive)`.
fn exact_needles(m: &CompiledMatcher) -> Option<(Vec<String>, bool)> {
    match m {
        CompiledMatcher::Exact {
            value,
            case_insensitive,
        } => Some((vec![value.clone()], *case_insensitive)),
        CompiledMatcher::CaseInsensitiveGroup {
            children,
            mode: GroupMode::Any,
        } => {
            let mut out = Vec::new();
            for c in children {
                let (v, ci) = exact_needles(c)?;
                if !ci {
                    return None;
                }
                out.extend(v);
            }
            Some((out, true))
        }
        CompiledMatcher::AnyOf(children) => {
            let mut out = Vec::new();
            let mut ci = None;
            for c in children {
                let (v, c_ci) = exact_needles(c)?;
                if *ci.get_or_insert(c_ci) != c_ci {
                    return None;
                }
                out.extend(v);
            }
            Some((out, ci?))
        }
        _ => None,
    }
}

/// A necessary condition: (field, needles, case-insensitive).
type Needed = (String, Vec<String>, bool);

/// Necessary conditions of `rule`: each must hold for it to match (the
/// field holds one of the needles).
fn necessary_conditions(rule: &CompiledRule) -> Vec<Needed> {
    let [condition] = rule.conditions.as_slice() else {
        return Vec::new();
    };
    let idents: Vec<&String> = match condition {
        ConditionExpr::Identifier(n) => vec![n],
        ConditionExpr::And(children) => children
            .iter()
            .filter_map(|c| match c {
                ConditionExpr::Identifier(n) => Some(n),
                _ => None,
            })
            .collect(),
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    for name in idents {
        let Some(CompiledDetection::AllOf(items)) = rule.detections.get(name) else {
            continue;
        };
        for item in items {
            let (Some(field), None) = (&item.field, item.exists) else {
                continue;
            };
            if let Some((needles, ci)) = exact_needles(&item.matcher) {
                out.push((field.clone(), needles, ci));
            }
        }
    }
    out
}

/// Per rule, the necessary condition to dispatch it on: the one whose
/// values other rules need least (the field that splits traffic most
/// finely for this rule set), ties to the first.
fn dispatch_choices(rules: &[NRule]) -> Vec<Option<Needed>> {
    let options: Vec<_> = rules
        .iter()
        .map(|r| necessary_conditions(&r.compiled))
        .collect();
    let mut uses: HashMap<(String, String), usize> = HashMap::new();
    for opts in &options {
        for (field, needles, _) in opts {
            for n in needles {
                *uses
                    .entry((field.clone(), n.to_ascii_lowercase()))
                    .or_default() += 1;
            }
        }
    }
    options
        .into_iter()
        .map(|opts| {
            let cost = |(field, needles, _): &Needed| -> usize {
                needles
                    .iter()
                    .map(|n| uses[&(field.clone(), n.to_ascii_lowercase())])
                    .sum()
            };
            let mut best: Option<(usize, Needed)> = None;
            for o in opts {
                let c = cost(&o);
                if best.as_ref().is_none_or(|(b, _)| c < *b) {
                    best = Some((c, o));
                }
            }
            best.map(|(_, o)| o)
        })
        .collect()
}

/// One way an event can satisfy a rule's witness.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    /// The event has this field (any value, null included).
    Field(String),
    /// One of the event's string values contains this text, compared ASCII
    /// case-insensitively (`needle` is lower-case ASCII).
    Word(String),
}

/// What an event needs for `rule` to match (its witness): at least one of
/// the returned atoms, or `None` when no such set is known.
///
/// A detection item on field `f` fails on an event without `f` unless its
/// matcher is `null` or it asserts absence, so a selection with such an
/// item needs `f`; a keyword selection needs one of its literal texts in
/// some string value; a list of selections needs one of theirs; `and`
/// needs what any operand needs (the smallest set is taken), `or` and
/// `1 of` / `all of` one of what each operand needs; `not`, regular
/// expressions, non-ASCII keywords and array matches give none.
fn rule_witness(rule: &CompiledRule) -> Option<Vec<Atom>> {
    let mut out: Vec<Atom> = Vec::new();
    for c in &rule.conditions {
        out.extend(cond_witness(c, &rule.detections)?);
    }
    if out.is_empty() {
        return None;
    }
    out.sort();
    out.dedup();
    Some(out)
}

fn union<T>(parts: impl IntoIterator<Item = Option<Vec<T>>>) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let mut any = false;
    for p in parts {
        out.extend(p?);
        any = true;
    }
    (any && !out.is_empty()).then_some(out)
}

fn smallest<T>(parts: impl IntoIterator<Item = Option<Vec<T>>>) -> Option<Vec<T>> {
    parts
        .into_iter()
        .flatten()
        .filter(|w| !w.is_empty())
        .min_by_key(Vec::len)
}

/// Sigma's selector wildcard: `*` any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && glob(rest, &tail[i..]))
        }
    }
}

fn cond_witness(e: &ConditionExpr, dets: &HashMap<String, CompiledDetection>) -> Option<Vec<Atom>> {
    match e {
        ConditionExpr::Identifier(n) => det_witness(dets.get(n)?),
        ConditionExpr::And(c) => smallest(c.iter().map(|e| cond_witness(e, dets))),
        ConditionExpr::Or(c) => union(c.iter().map(|e| cond_witness(e, dets))),
        ConditionExpr::Not(_) => None,
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            if matches!(quantifier, Quantifier::Count(0)) {
                return None;
            }
            // Every name the selector may cover: when the condition holds,
            // at least one of them matched (an empty selection gives none).
            let names: Vec<&String> = dets
                .keys()
                .filter(|n| match pattern {
                    SelectorPattern::Them => true,
                    SelectorPattern::Pattern(p) => glob(p, n),
                })
                .collect();
            if names.is_empty()
                || (matches!(quantifier, Quantifier::All)
                    && names.iter().any(|n| n.starts_with('_')))
            {
                return None;
            }
            union(names.into_iter().map(|n| det_witness(&dets[n])))
        }
    }
}

fn det_witness(d: &CompiledDetection) -> Option<Vec<Atom>> {
    match d {
        CompiledDetection::AllOf(items) => {
            let needed = |i: &&rsigma_eval::CompiledDetectionItem| match (&i.field, i.exists) {
                (Some(_), Some(true)) => true,
                (Some(_), None) => !matches!(i.matcher, CompiledMatcher::Null),
                _ => false,
            };
            // Prefer a field that is not on every event.
            let pick = items
                .iter()
                .filter(needed)
                .find(|i| !OVERLAY_FIELDS.contains(&i.field.as_deref().unwrap_or_default()))
                .or_else(|| items.iter().find(needed));
            if let Some(pick) = pick {
                return Some(vec![Atom::Field(pick.field.clone()?)]);
            }
            smallest(
                items
                    .iter()
                    .filter(|i| i.field.is_none() && i.exists.is_none())
                    .map(|i| words(&i.matcher)),
            )
        }
        CompiledDetection::AnyOf(dets) => union(dets.iter().map(det_witness)),
        CompiledDetection::And(dets) => smallest(dets.iter().map(det_witness)),
        CompiledDetection::Keywords(m) => words(m),
        _ => None,
    }
}

/// Texts of which a string matched by `m` contains one (ASCII lower-cased),
/// or `None`.
fn words(m: &CompiledMatcher) -> Option<Vec<Atom>> {
    let word =
        |v: &str| (!v.is_empty() && v.is_ascii()).then(|| vec![Atom::Word(v.to_ascii_lowercase())]);
    match m {
        CompiledMatcher::Exact { value, .. }
        | CompiledMatcher::Contains { value, .. }
        | CompiledMatcher::StartsWith { value, .. }
        | CompiledMatcher::EndsWith { value, .. } => word(value),
        CompiledMatcher::AhoCorasickSet { needles, .. } => union(needles.iter().map(|n| word(n))),
        CompiledMatcher::AnyOf(children)
        | CompiledMatcher::CaseInsensitiveGroup {
            children,
            mode: GroupMode::Any,
        } => union(children.iter().map(words)),
        CompiledMatcher::AllOf(children)
        | CompiledMatcher::CaseInsensitiveGroup {
            children,
            mode: GroupMode::All,
        } => smallest(children.iter().map(words)),
        _ => None,
    }
}

fn value_to_key(v: &EventValue<'_>, out: &mut String) -> bool {
    match v {
        EventValue::Str(s) => {
            let _ = write!(out, "{}:{}", s.len(), s);
        }
        EventValue::Int(n) => {
            let s = n.to_string();
            let _ = write!(out, "{}:{}", s.len(), s);
        }
        EventValue::Float(f) => {
            let s = f.to_string();
            let _ = write!(out, "{}:{}", s.len(), s);
        }
        EventValue::Bool(b) => {
            let s = if *b { "true" } else { "false" };
            let _ = write!(out, "{}:{}", s.len(), s);
        }
        _ => return false,
    }
    true
}

/// Inverse of the group key encoding.
fn decode_key(key: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('-') {
            out.push(None);
            rest = r;
            continue;
        }
        let Some((len, r)) = rest.split_once(':') else {
            break;
        };
        let Ok(len) = len.parse::<usize>() else {
            break;
        };
        let Some(v) = r.get(..len) else { break };
        out.push(Some(v.to_string()));
        rest = &r[len..];
    }
    out
}

fn encode_values(values: &[Option<String>], out: &mut String) {
    out.clear();
    for v in values {
        match v {
            Some(s) => {
                let _ = write!(out, "{}:{}", s.len(), s);
            }
            None => out.push('-'),
        }
    }
}

/// How many hit times an `event_count` group needs to keep.
///
/// Only the count in the window matters, and only up to one past the
/// largest threshold `t` of the condition: keeping the newest
/// `keep = floor(t) + 1 > t` hits gives `min(count, keep)` (the dropped hits
/// are older than the kept ones, so they leave the window first), and for
/// every operator (`<`, `<=`, `>`, `>=`, `==`, `!=`) against any threshold
/// up to `t`, `min(count, keep)` passes exactly when `count` does. Memory
/// per group is then bounded by the threshold instead of growing with the
/// traffic: the bundled one-hour `gte: 301` rule keeps 302 times per group
/// rather than every matching event of the hour. The count reported with a
/// firing (a new incident's `event_count` floor) is capped the same way.
fn window_keep(condition: &CompiledCondition) -> usize {
    let max = condition
        .predicates
        .iter()
        .map(|(_, t)| *t)
        .fold(0.0f64, f64::max);
    if max.is_finite() && max < 1e7 {
        max.floor() as usize + 1
    } else {
        usize::MAX
    }
}

/// For each rule of `inner`, the most hits its window counts when it is an
/// `event_count` correlation (see [`window_keep`]), else `usize::MAX`.
pub(crate) fn event_count_keeps(inner: &RuleSetInner) -> Vec<usize> {
    let mut keeps = vec![usize::MAX; inner.infos.len()];
    for c in &inner.collection.correlations {
        let Ok(compiled) = compile_correlation(c) else {
            continue;
        };
        if compiled.correlation_type != CorrelationType::EventCount {
            continue;
        }
        if let Some(&idx) = compiled
            .id
            .as_deref()
            .and_then(|id| inner.engine_ids.get(id))
        {
            keeps[idx] = window_keep(&compiled.condition);
        }
    }
    keeps
}

/// A `temporal_ordered` correlation seen from its references: which rule
/// closes it, which rules hold its earlier positions, and how it groups.
#[derive(Debug, Clone)]
pub(crate) struct Closer {
    /// The correlation's index into the rule infos.
    pub(crate) corr: usize,
    /// Rule indices of the earlier references.
    pub(crate) earlier: Vec<usize>,
    /// Group-by (name, field read from the closing rule's events).
    pub(crate) group_by: Vec<(String, String)>,
    pub(crate) span: i64,
}

/// For each rule of `inner`, the `temporal_ordered` correlations whose last
/// reference it is (detection rules only: a chained firing carries no
/// evidence of its own).
pub(crate) fn temporal_closers(inner: &RuleSetInner) -> Vec<Vec<Closer>> {
    let mut out = vec![Vec::new(); inner.infos.len()];
    let rule_idx = |r: &str| -> Option<usize> {
        let rule = inner
            .collection
            .rules
            .iter()
            .find(|d| d.id.as_deref() == Some(r) || d.name.as_deref() == Some(r))?;
        inner.engine_ids.get(rule.id.as_deref()?).copied()
    };
    for c in &inner.collection.correlations {
        let Ok(compiled) = compile_correlation(c) else {
            continue;
        };
        if compiled.correlation_type != CorrelationType::TemporalOrdered {
            continue;
        }
        let Some(&corr) = compiled
            .id
            .as_deref()
            .and_then(|id| inner.engine_ids.get(id))
        else {
            continue;
        };
        let Some((last_ref, earlier)) = compiled.rule_refs.split_last() else {
            continue;
        };
        let Some(last) = rule_idx(last_ref) else {
            continue;
        };
        out[last].push(Closer {
            corr,
            earlier: earlier.iter().filter_map(|r| rule_idx(r)).collect(),
            group_by: compiled
                .group_by
                .iter()
                .map(|g| (g.name().to_string(), g.resolve(&[last_ref]).to_string()))
                .collect(),
            span: i64::try_from(compiled.timespan_secs).unwrap_or(i64::MAX),
        });
    }
    out
}

fn check_ordered(hits: &[VecDeque<i64>], idx: usize, min_ts: i64) -> bool {
    let Some(times) = hits.get(idx) else {
        return true;
    };
    times
        .iter()
        .any(|&t| t >= min_ts && check_ordered(hits, idx + 1, t))
}

impl NCorr {
    /// Slot of the group with encoded key `key`; true when new.
    fn slot(&mut self, key: &str) -> (usize, bool) {
        if let Some(&s) = self.index.get(key) {
            return (s, false);
        }
        (self.insert(key), true)
    }

    /// Fill in the group's pairs and canonical form from its key.
    fn ensure_meta(&mut self, slot: usize, key: &str) {
        if self.slots[slot].meta.is_some() {
            return;
        }
        let values = decode_key(key);
        let pairs: std::collections::BTreeMap<String, String> = self
            .group_by
            .iter()
            .zip(values)
            .filter_map(|(f, v)| v.map(|v| (f.clone(), v)))
            .collect();
        let canon = serde_json::to_string(&pairs).unwrap_or_default();
        self.slots[slot].meta = Some(Box::new(GroupMeta { pairs, canon }));
    }

    fn insert(&mut self, key: &str) -> usize {
        let temporal = if self.ty == NType::TemporalOrdered {
            self.refs.len()
        } else {
            0
        };
        let group = Group {
            hits: vec![VecDeque::new(); temporal],
            ..Group::default()
        };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s] = group;
                s
            }
            None => {
                self.slots.push(group);
                self.slots.len() - 1
            }
        };
        self.index.insert(key.to_string(), s);
        s
    }

    /// Count a hit at `ts` for reference position `pos`, with its evidence
    /// when it is a direct hit (chained firings carry none). Returns the
    /// window's value when the condition holds.
    fn push(
        &mut self,
        slot: usize,
        pos: usize,
        ts: i64,
        evidence: Option<EvidenceRef>,
    ) -> Option<f64> {
        let g = &mut self.slots[slot];
        let cutoff = ts - self.span;
        g.evict(cutoff);
        if let Some(e) = evidence {
            g.evict_refs(cutoff);
            if self.ty == NType::TemporalOrdered && pos + 1 == g.hits.len() {
                if g.closing != 0
                    && let Some(i) = g.refs.iter().rposition(|r| r.0 == g.closing)
                {
                    g.refs.remove(i);
                }
                g.closing = e.0;
            }
            push_bounded(&mut g.refs, self.ref_cap, e);
        }
        let value = match self.ty {
            NType::EventCount if self.counted => {
                push_bounded(&mut g.times, self.keep, ts);
                g.times.len() as f64
            }
            NType::EventCount => g.refs.len() as f64,
            NType::TemporalOrdered => {
                let last = g.hits.len().saturating_sub(1);
                let h = &mut g.hits[pos];
                if pos == last && !h.is_empty() {
                    // Of the last reference only the newest hit matters: an
                    // ordered chain ending at an earlier hit also ends at it,
                    // and it is the last to leave the window. Keeping one
                    // bounds the state of a common closing event (every
                    // sign-in, for "failures then a sign-in").
                    let newest = h.iter().copied().fold(ts, i64::max);
                    h.clear();
                    h.push_back(newest);
                } else {
                    h.push_back(ts);
                }
                let all = g.hits.iter().all(|h| !h.is_empty());
                if all && check_ordered(&g.hits, 0, i64::MIN) {
                    self.refs.len() as f64
                } else {
                    0.0
                }
            }
        };
        self.condition.check(value).then_some(value)
    }

    /// Evict every group at `cutoff` and drop the empty ones.
    fn evict_all(&mut self, cutoff: i64) {
        let slots = &mut self.slots;
        let free = &mut self.free;
        self.index.retain(|_, &mut s| {
            let g = &mut slots[s];
            g.evict(cutoff);
            g.evict_refs(cutoff);
            if g.is_empty() {
                slots[s] = Group::default();
                free.push(s);
                false
            } else {
                true
            }
        });
    }
}

impl Native {
    /// Build the native path for `inner`, or `None` when some rule needs the
    /// full engine (pipelines of correlation features not handled here).
    pub(crate) fn build(inner: &RuleSetInner, max_refs: usize) -> Option<Native> {
        let collection = &inner.collection;
        let attr_free = |attrs: &HashMap<String, yaml_serde::Value>| {
            !attrs.keys().any(|k| k.starts_with("rsigma."))
        };
        if collection
            .rules
            .iter()
            .any(|r| !attr_free(&r.custom_attributes))
            || collection
                .correlations
                .iter()
                .any(|c| !attr_free(&c.custom_attributes))
        {
            return None;
        }

        let mut fields: FastMap<String, usize> = FastMap::default();
        let mut rules = Vec::with_capacity(collection.rules.len());
        for r in &collection.rules {
            let compiled = rsigma_eval::compile_rule(r).ok()?;
            let id = r.id.as_deref()?;
            let info = *inner.engine_ids.get(id)?;
            let simple = if compiled.conditions.iter().all(simple_expr)
                && compiled.detections.values().all(simple_detection)
            {
                Some(
                    compiled
                        .conditions
                        .iter()
                        .map(|c| resolve(c, &compiled.detections, &mut fields))
                        .collect(),
                )
            } else {
                None
            };
            rules.push(NRule {
                info,
                logsource: Logsource {
                    product: r.logsource.product.clone(),
                    category: r.logsource.category.clone(),
                    service: r.logsource.service.clone(),
                },
                via: Via::Always,
                simple,
                compiled,
                feeds: Vec::new(),
            });
        }

        let mut corrs = Vec::with_capacity(collection.correlations.len());
        for c in &collection.correlations {
            let compiled = compile_correlation(c).ok()?;
            let ty = match compiled.correlation_type {
                CorrelationType::EventCount => NType::EventCount,
                CorrelationType::TemporalOrdered => NType::TemporalOrdered,
                _ => return None,
            };
            if compiled.window_mode != WindowMode::Sliding
                || compiled.extended_expr.is_some()
                || compiled.suppress_secs.is_some()
                || compiled.action.is_some()
                || compiled.event_mode.is_some()
                || compiled.max_events.is_some()
                || compiled.max_group_entries.is_some()
            {
                return None;
            }
            let mut group_by = Vec::new();
            for g in &compiled.group_by {
                match g {
                    GroupByField::Direct(f) => group_by.push(f.clone()),
                    GroupByField::Aliased { .. } => return None,
                }
            }
            let unique: HashSet<&String> = compiled.rule_refs.iter().collect();
            if unique.len() != compiled.rule_refs.len() {
                return None;
            }
            let info = *inner.engine_ids.get(compiled.id.as_deref()?)?;
            let stable_id = compiled
                .id
                .clone()
                .or_else(|| compiled.name.clone())
                .unwrap_or_else(|| compiled.title.clone());
            corrs.push(NCorr {
                info,
                stable_id,
                ty,
                span: i64::try_from(compiled.timespan_secs).ok()?,
                keep: window_keep(&compiled.condition),
                counted: false,
                ref_cap: max_refs,
                condition: compiled.condition,
                group_by,
                refs: compiled.rule_refs,
                parents: Vec::new(),
                max_refs,
                index: FastMap::default(),
                slots: Vec::new(),
                free: Vec::new(),
            });
        }

        // Resolve references: each must name exactly one rule, and no rule
        // may be referred to twice by one correlation.
        let rule_names: Vec<(Option<&str>, Option<&str>)> = collection
            .rules
            .iter()
            .map(|r| (r.id.as_deref(), r.name.as_deref()))
            .collect();
        let corr_names: Vec<(Option<&str>, Option<&str>)> = collection
            .correlations
            .iter()
            .map(|c| (c.id.as_deref(), c.name.as_deref()))
            .collect();
        let named =
            |(id, name): (Option<&str>, Option<&str>), s: &str| id == Some(s) || name == Some(s);
        for p in 0..corrs.len() {
            let mut targets: HashSet<(bool, usize)> = HashSet::new();
            for (pos, r) in corrs[p].refs.clone().iter().enumerate() {
                let det: Vec<usize> = (0..rules.len())
                    .filter(|&i| named(rule_names[i], r))
                    .collect();
                let cor: Vec<usize> = (0..corrs.len())
                    .filter(|&i| named(corr_names[i], r))
                    .collect();
                match (det.as_slice(), cor.as_slice()) {
                    ([d], []) => {
                        if !targets.insert((false, *d)) {
                            return None;
                        }
                        // The engine keys temporal hits by the rule's id when
                        // referenced, else its name: same position here.
                        rules[*d].feeds.push((p, pos));
                    }
                    ([], [c]) => {
                        if !targets.insert((true, *c)) {
                            return None;
                        }
                        corrs[*c].parents.push((p, pos));
                    }
                    _ => return None,
                }
            }
        }
        for r in &mut rules {
            r.feeds.sort_unstable();
        }
        // Correlations that count other correlations' firings.
        let mut chained = vec![false; corrs.len()];
        for c in &corrs {
            for &(p, _) in &c.parents {
                chained[p] = true;
            }
        }
        for (c, chained) in corrs.iter_mut().zip(chained) {
            if c.ty == NType::EventCount {
                c.ref_cap = max_refs.min(c.keep);
                c.counted = c.keep > max_refs || chained;
            }
        }

        // Pre-dispatch: by value where the rule requires one, else by the
        // presence of one of the fields it needs, else always.
        let choices = dispatch_choices(&rules);
        for (r, choice) in rules.iter_mut().zip(choices) {
            if let Some((field, needles, ci)) = choice {
                r.via = Via::Value {
                    id: field_id(&mut fields, &field),
                    field,
                    needles,
                    ci,
                };
            } else if let Some(atoms) = rule_witness(&r.compiled) {
                r.via = Via::Witness(atoms);
            }
        }

        let mut by_len: Vec<Vec<(String, usize)>> = Vec::new();
        for (name, &id) in &fields {
            if id >= TABLE {
                continue;
            }
            if by_len.len() <= name.len() {
                by_len.resize_with(name.len() + 1, Vec::new);
            }
            by_len[name.len()].push((name.clone(), id));
        }
        Some(Native {
            by_len,
            rules,
            plans: Vec::new(),
            plan_of: FastMap::default(),
            last_plan: usize::MAX,
            corrs,
            groups: 0,
            cand: Vec::new(),
            selections: Vec::new(),
            key: String::new(),
            lower: String::new(),
            word_hit: Vec::new(),
            matched: Vec::new(),
            fired: Vec::new(),
            evidence: Vec::new(),
        })
    }

    /// The plan (candidate index) for events with logsource `ls`.
    fn plan_for(&mut self, ls: &Logsource) -> usize {
        if let Some(p) = self.plans.get(self.last_plan)
            && p.route.is(ls)
        {
            return self.last_plan;
        }
        let route = Route::of(ls);
        if let Some(&p) = self.plan_of.get(&route) {
            self.last_plan = p;
            return p;
        }
        if self.plans.len() >= MAX_PLANS {
            self.plans.clear();
            self.plan_of.clear();
        }
        let plan = self.build_plan(route.clone());
        self.plans.push(plan);
        let p = self.plans.len() - 1;
        self.plan_of.insert(route, p);
        self.last_plan = p;
        p
    }

    /// The candidate index of the rules `route` admits.
    fn build_plan(&self, route: Route) -> Plan {
        let mut always = Vec::new();
        let mut dispatch: Vec<DispatchField> = Vec::new();
        let mut present: Vec<PresenceField> = Vec::new();
        let mut present_of: FastMap<&str, usize> = FastMap::default();
        let mut word_rules: Vec<PresenceField> = Vec::new();
        let mut word_of: FastMap<&str, usize> = FastMap::default();
        for (i, r) in self.rules.iter().enumerate() {
            if !route.admits(&r.logsource) {
                continue;
            }
            match &r.via {
                Via::Always => always.push(i),
                Via::Witness(atoms) => {
                    for atom in atoms {
                        let (table, of, key) = match atom {
                            Atom::Field(f) => (&mut present, &mut present_of, f),
                            Atom::Word(w) => (&mut word_rules, &mut word_of, w),
                        };
                        let at = *of.entry(key.as_str()).or_insert_with(|| {
                            table.push(PresenceField {
                                field: key.clone(),
                                rules: Vec::new(),
                            });
                            table.len() - 1
                        });
                        let list = &mut table[at].rules;
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
                Via::Value {
                    id,
                    field,
                    needles,
                    ci,
                } => {
                    let slot = match dispatch.iter().position(|d| d.field == *field) {
                        Some(s) => s,
                        None => {
                            dispatch.push(DispatchField {
                                id: *id,
                                field: field.clone(),
                                ci: FastMap::default(),
                                cs: FastMap::default(),
                                all: Vec::new(),
                            });
                            dispatch.len() - 1
                        }
                    };
                    let d = &mut dispatch[slot];
                    d.all.push(i);
                    for n in needles {
                        let map = if *ci { &mut d.ci } else { &mut d.cs };
                        let list = map.entry(n.clone()).or_default();
                        if list.last() != Some(&i) {
                            list.push(i);
                        }
                    }
                }
            }
        }
        // A presence index for a handful of rules costs more per event than
        // evaluating them (a missing field fails a simple rule at once).
        let reached: usize = present.iter().map(|p| p.rules.len()).sum();
        if reached < PRESENCE_MIN_RULES {
            for p in present.drain(..) {
                always.extend(p.rules);
            }
            always.sort_unstable();
            always.dedup();
        }
        let mut by_key: FastMap<String, Vec<usize>> = FastMap::default();
        let mut overlay = Vec::new();
        for (at, p) in present.iter().enumerate() {
            if OVERLAY_FIELDS.contains(&p.field.as_str()) {
                overlay.push(at);
                continue;
            }
            by_key.entry(p.field.clone()).or_default().push(at);
            if let Some((root, _)) = p.field.split_once('.') {
                let list = by_key.entry(root.to_string()).or_default();
                if list.last() != Some(&at) {
                    list.push(at);
                }
            }
        }
        // An automaton that finds every word in one pass over an event's
        // strings; should it fail to build, those rules are always evaluated.
        let words = if word_rules.is_empty() {
            None
        } else {
            match AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(word_rules.iter().map(|w| w.field.as_str()))
            {
                Ok(ac) => Some(ac),
                Err(_) => {
                    for w in &word_rules {
                        always.extend_from_slice(&w.rules);
                    }
                    always.sort_unstable();
                    always.dedup();
                    word_rules.clear();
                    None
                }
            }
        };
        Plan {
            route,
            always,
            dispatch,
            present,
            by_key,
            overlay,
            words,
            word_rules,
        }
    }

    /// Candidate rules for `view`, in rule order, into `self.cand`.
    fn candidates<'a>(&mut self, view: &EventView<'a>, table: &Table<'a>) {
        let p = self.plan_for(view.logsource());
        let plan = &self.plans[p];
        self.cand.clear();
        self.cand.extend_from_slice(&plan.always);
        for d in &plan.dispatch {
            match lookup(view, table, d.id, &d.field) {
                None | Some(EventValue::Null) => {}
                Some(EventValue::Str(s)) if s.is_ascii() => {
                    if let Some(l) = d.cs.get(s.as_ref()) {
                        self.cand.extend_from_slice(l);
                    }
                    if !d.ci.is_empty() {
                        self.lower.clear();
                        self.lower.push_str(&s);
                        self.lower.make_ascii_lowercase();
                        if let Some(l) = d.ci.get(self.lower.as_str()) {
                            self.cand.extend_from_slice(l);
                        }
                    }
                }
                Some(_) => self.cand.extend_from_slice(&d.all),
            }
        }
        if !plan.present.is_empty() {
            let has = |f: &str| view.get_field(f).is_some();
            for &at in &plan.overlay {
                let p = &plan.present[at];
                if has(&p.field) {
                    self.cand.extend_from_slice(&p.rules);
                }
            }
            for (k, _) in view.entries() {
                let Some(list) = plan.by_key.get(k.as_str()) else {
                    continue;
                };
                for &at in list {
                    let p = &plan.present[at];
                    if p.field == *k || has(&p.field) {
                        self.cand.extend_from_slice(&p.rules);
                    }
                }
            }
        }
        if let Some(ac) = &plan.words {
            let cand = &mut self.cand;
            let hit = &mut self.word_hit;
            hit.clear();
            hit.resize(plan.word_rules.len(), false);
            let mut scan = |s: &str| {
                for m in ac.find_overlapping_iter(s) {
                    let w = m.pattern().as_usize();
                    if !hit[w] {
                        hit[w] = true;
                        cand.extend_from_slice(&plan.word_rules[w].rules);
                    }
                }
            };
            // The strings keyword matching reads; non-ASCII ones also
            // lower-cased, in case the matcher folds them. Most events hold
            // no word at all: a first pass (with the automaton's
            // prefilter) only asks whether any string has one.
            let mut any = false;
            view.visit_string_values(&mut |s: &str| {
                any = any || ac.is_match(s) || (!s.is_ascii() && ac.is_match(&s.to_lowercase()));
            });
            if any {
                view.visit_string_values(&mut |s: &str| {
                    scan(s);
                    if !s.is_ascii() {
                        scan(&s.to_lowercase());
                    }
                });
            }
        }
        self.cand.sort_unstable();
        self.cand.dedup();
    }

    /// Run one event. `hits` receives what it produced; window references of
    /// correlation firings go to `self.evidence`.
    pub(crate) fn process(
        &mut self,
        view: &EventView<'_>,
        secs: i64,
        evidence: EvidenceRef,
        hits: &mut Vec<Hit>,
    ) {
        self.evidence.clear();
        let mut table: Table<'_> = [None; TABLE];
        for (k, v) in view.entries() {
            if let Some(names) = self.by_len.get(k.len())
                && let Some((_, id)) = names.iter().find(|(n, _)| n == k)
            {
                table[*id] = Some(v);
            }
        }
        self.candidates(view, &table);
        self.matched.clear();
        for ci in 0..self.cand.len() {
            let r = &self.rules[self.cand[ci]];
            let mut ok = false;
            if let Some(exprs) = &r.simple {
                ok = exprs.iter().any(|e| eval_expr(e, view, &table));
            } else {
                for cond in &r.compiled.conditions {
                    self.selections.clear();
                    if eval_condition(cond, &r.compiled.detections, view, &mut self.selections) {
                        ok = true;
                        break;
                    }
                }
            }
            if ok {
                hits.push(Hit::Detection { info: r.info });
                if !r.feeds.is_empty() {
                    self.matched.push(self.cand[ci]);
                }
            }
        }
        if self.matched.is_empty() {
            return;
        }

        let ts = secs.clamp(0, i64::MAX / 2);
        if self.groups >= MAX_STATE_ENTRIES {
            self.evict(ts);
        }

        // Direct updates, in detection order then correlation order.
        self.fired.clear();
        for mi in 0..self.matched.len() {
            let r = self.matched[mi];
            for fi in 0..self.rules[r].feeds.len() {
                let (c, pos) = self.rules[r].feeds[fi];
                let corr = &mut self.corrs[c];
                let mut key = std::mem::take(&mut self.key);
                key.clear();
                for f in &corr.group_by {
                    match view.get_field(f) {
                        Some(v) if value_to_key(&v, &mut key) => {}
                        _ => key.push('-'),
                    }
                }
                let (slot, new) = corr.slot(&key);
                if new {
                    self.groups += 1;
                }
                let fired = corr.push(slot, pos, ts, Some(evidence));
                if fired.is_some() {
                    corr.ensure_meta(slot, &key);
                }
                self.key = key;
                let g = &corr.slots[slot];
                if let Some(value) = fired {
                    let start = self.evidence.len();
                    self.evidence.extend(g.refs.iter().copied());
                    hits.push(Hit::Correlation {
                        corr: c,
                        group: slot,
                        value,
                        refs: (start, self.evidence.len()),
                    });
                    self.fired.push((c, slot));
                }
            }
        }

        // Chained correlations.
        let mut pending = std::mem::take(&mut self.fired);
        let mut next = Vec::new();
        let mut depth = 0;
        while !pending.is_empty() && depth < MAX_CHAIN_DEPTH {
            depth += 1;
            next.clear();
            for &(child, child_slot) in &pending {
                for pi in 0..self.corrs[child].parents.len() {
                    let (p, pos) = self.corrs[child].parents[pi];
                    let values: Vec<Option<String>> = {
                        let cc = &self.corrs[child];
                        let g = &cc.slots[child_slot];
                        self.corrs[p]
                            .group_by
                            .iter()
                            .map(|f| g.meta.as_ref().and_then(|m| m.pairs.get(f).cloned()))
                            .collect()
                    };
                    let mut key = std::mem::take(&mut self.key);
                    encode_values(&values, &mut key);
                    let corr = &mut self.corrs[p];
                    let (slot, new) = corr.slot(&key);
                    if new {
                        self.groups += 1;
                    }
                    let fired = corr.push(slot, pos, ts, None);
                    if fired.is_some() {
                        corr.ensure_meta(slot, &key);
                    }
                    self.key = key;
                    if let Some(value) = fired {
                        let at = self.evidence.len();
                        hits.push(Hit::Correlation {
                            corr: p,
                            group: slot,
                            value,
                            refs: (at, at),
                        });
                        next.push((p, slot));
                    }
                }
            }
            std::mem::swap(&mut pending, &mut next);
        }
        pending.clear();
        self.fired = pending;
    }

    pub(crate) fn is_event_count(&self, corr: usize) -> bool {
        self.corrs[corr].ty == NType::EventCount
    }

    /// Drop window entries older than each correlation's span before `now`.
    pub(crate) fn evict(&mut self, now: i64) {
        let mut groups = 0;
        for c in &mut self.corrs {
            c.evict_all(now - c.span);
            groups += c.index.len();
        }
        self.groups = groups;
    }

    /// Window state in the engine's snapshot format.
    pub(crate) fn export(&self) -> CorrelationSnapshot {
        let mut snapshot = CorrelationEngine::new(CorrelationConfig::default()).export_state();
        for c in &self.corrs {
            let mut windows = Vec::new();
            let mut buffers = Vec::new();
            for (k, &s) in &c.index {
                let g = &c.slots[s];
                let key = GroupKey(decode_key(k));
                let state = match c.ty {
                    NType::EventCount if c.counted => {
                        (!g.times.is_empty()).then(|| WindowState::EventCount {
                            timestamps: g.times.clone(),
                        })
                    }
                    NType::EventCount => (!g.refs.is_empty()).then(|| WindowState::EventCount {
                        timestamps: g.refs.iter().map(ref_secs).collect(),
                    }),
                    NType::TemporalOrdered => {
                        (!g.hits.iter().all(VecDeque::is_empty)).then(|| WindowState::Temporal {
                            rule_hits: c
                                .refs
                                .iter()
                                .zip(&g.hits)
                                .filter(|(_, h)| !h.is_empty())
                                .map(|(r, h)| (r.clone(), h.clone()))
                                .collect(),
                        })
                    }
                };
                if let Some(state) = state {
                    windows.push((key.clone(), state));
                }
                if !g.refs.is_empty() {
                    let mut buf = EventRefBuffer::new(c.max_refs);
                    for r in &g.refs {
                        let (seq, id, ms) = *r;
                        let mut m = Map::with_capacity(1);
                        m.insert("id".into(), Value::String(format!("{seq}:{id}:{ms}")));
                        buf.push(ref_secs(r), &Value::Object(m));
                    }
                    buffers.push((key, buf));
                }
            }
            if !windows.is_empty() {
                snapshot.windows.insert(c.stable_id.clone(), windows);
            }
            if !buffers.is_empty() {
                snapshot
                    .event_ref_buffers
                    .insert(c.stable_id.clone(), buffers);
            }
        }
        snapshot
    }

    /// Load a snapshot made by [`Native::export`] or by the engine.
    pub(crate) fn import(&mut self, snapshot: CorrelationSnapshot) -> bool {
        let version = CorrelationEngine::new(CorrelationConfig::default())
            .export_state()
            .version;
        if snapshot.version != version {
            return false;
        }
        let by_id: HashMap<String, usize> = self
            .corrs
            .iter()
            .enumerate()
            .map(|(i, c)| (c.stable_id.clone(), i))
            .collect();
        let mut key = String::new();
        for (id, groups) in snapshot.windows {
            let Some(&c) = by_id.get(&id) else { continue };
            let corr = &mut self.corrs[c];
            for (gk, state) in groups {
                if gk.0.len() != corr.group_by.len() {
                    continue;
                }
                encode_values(&gk.0, &mut key);
                let (slot, _) = corr.slot(&key);
                let g = &mut corr.slots[slot];
                match (corr.ty, state) {
                    // Without `counted` the evidence below is the count.
                    (NType::EventCount, WindowState::EventCount { mut timestamps })
                        if corr.counted =>
                    {
                        let extra = timestamps.len().saturating_sub(corr.keep);
                        timestamps.drain(..extra);
                        g.times = timestamps;
                    }
                    (NType::TemporalOrdered, WindowState::Temporal { rule_hits }) => {
                        for (pos, r) in corr.refs.iter().enumerate() {
                            g.hits[pos] = rule_hits.get(r).cloned().unwrap_or_default();
                        }
                    }
                    _ => {}
                }
            }
        }
        for (id, groups) in snapshot.event_ref_buffers {
            let Some(&c) = by_id.get(&id) else { continue };
            let corr = &mut self.corrs[c];
            for (gk, buf) in groups {
                if gk.0.len() != corr.group_by.len() {
                    continue;
                }
                encode_values(&gk.0, &mut key);
                let (slot, _) = corr.slot(&key);
                let mut refs: VecDeque<EvidenceRef> = buf
                    .refs()
                    .into_iter()
                    .filter_map(|r| parse_ref(r.id.as_deref()?))
                    .collect();
                let extra = refs.len().saturating_sub(corr.ref_cap);
                refs.drain(..extra);
                refs.shrink_to_fit();
                corr.slots[slot].refs = refs;
            }
        }
        let mut groups = 0;
        for c in &mut self.corrs {
            c.evict_all(i64::MIN);
            groups += c.index.len();
        }
        self.groups = groups;
        true
    }
}

// A boolean evaluator for the common rule shapes: the same results as
// rsigma's condition evaluator, without its per-comparison allocations
// (ASCII text is compared case-insensitively in place).

fn simple_expr(e: &ConditionExpr) -> bool {
    match e {
        ConditionExpr::Identifier(_) => true,
        ConditionExpr::And(c) | ConditionExpr::Or(c) => c.iter().all(simple_expr),
        ConditionExpr::Not(c) => simple_expr(c),
        _ => false,
    }
}

fn simple_detection(d: &CompiledDetection) -> bool {
    match d {
        CompiledDetection::AllOf(items) => items.iter().all(|i| i.field.is_some()),
        CompiledDetection::AnyOf(dets) => dets.iter().all(simple_detection),
        _ => false,
    }
}

/// Top-level fields looked up once per event, by id.
const TABLE: usize = 32;
type Table<'a> = [Option<&'a Value>; TABLE];

/// A selection with its fields numbered.
#[derive(Debug)]
enum SDet {
    AllOf(Vec<SItem>),
    AnyOf(Vec<SDet>),
}

#[derive(Debug)]
struct SItem {
    id: usize,
    field: String,
    matcher: CompiledMatcher,
    exists: Option<bool>,
}

fn field_id(fields: &mut FastMap<String, usize>, name: &str) -> usize {
    let next = fields.len();
    *fields.entry(name.to_string()).or_insert(next)
}

fn number(d: &CompiledDetection, fields: &mut FastMap<String, usize>) -> SDet {
    match d {
        CompiledDetection::AllOf(items) => SDet::AllOf(
            items
                .iter()
                .map(|i| {
                    let field = i.field.clone().unwrap_or_default();
                    SItem {
                        id: field_id(fields, &field),
                        field,
                        matcher: i.matcher.clone(),
                        exists: i.exists,
                    }
                })
                .collect(),
        ),
        CompiledDetection::AnyOf(dets) => {
            SDet::AnyOf(dets.iter().map(|d| number(d, fields)).collect())
        }
        // Not reached: only simple detections are numbered.
        _ => SDet::AnyOf(Vec::new()),
    }
}

/// The value of field `id` / `name`, as `EventView::get_field` gives it.
#[inline]
fn lookup<'a>(
    view: &EventView<'a>,
    table: &Table<'a>,
    id: usize,
    name: &str,
) -> Option<EventValue<'a>> {
    let top = if id < TABLE {
        table[id]
    } else {
        view.top(name)
    };
    view.field_with_top(name, top)
}

/// A condition with its detections looked up once.
#[derive(Debug)]
enum SExpr {
    Det(SDet),
    /// A name the rule does not define: never matches.
    Missing,
    And(Vec<SExpr>),
    Or(Vec<SExpr>),
    Not(Box<SExpr>),
}

fn resolve(
    e: &ConditionExpr,
    dets: &HashMap<String, CompiledDetection>,
    fields: &mut FastMap<String, usize>,
) -> SExpr {
    match e {
        ConditionExpr::Identifier(n) => dets
            .get(n)
            .map_or(SExpr::Missing, |d| SExpr::Det(number(d, fields))),
        ConditionExpr::And(c) => SExpr::And(c.iter().map(|e| resolve(e, dets, fields)).collect()),
        ConditionExpr::Or(c) => SExpr::Or(c.iter().map(|e| resolve(e, dets, fields)).collect()),
        ConditionExpr::Not(c) => SExpr::Not(Box::new(resolve(c, dets, fields))),
        _ => SExpr::Missing,
    }
}

fn eval_expr<'a>(e: &SExpr, view: &EventView<'a>, table: &Table<'a>) -> bool {
    match e {
        SExpr::Det(d) => eval_detection(d, view, table),
        SExpr::Missing => false,
        SExpr::And(c) => c.iter().all(|e| eval_expr(e, view, table)),
        SExpr::Or(c) => c.iter().any(|e| eval_expr(e, view, table)),
        SExpr::Not(c) => !eval_expr(c, view, table),
    }
}

fn eval_detection<'a>(d: &SDet, view: &EventView<'a>, table: &Table<'a>) -> bool {
    match d {
        SDet::AllOf(items) => items.iter().all(|item| {
            let value = lookup(view, table, item.id, &item.field);
            if let Some(expect) = item.exists {
                return value.is_some_and(|v| !v.is_null()) == expect;
            }
            match value {
                Some(value) => matches(&item.matcher, &value, view),
                None => matches!(item.matcher, CompiledMatcher::Null),
            }
        }),
        SDet::AnyOf(dets) => dets.iter().any(|d| eval_detection(d, view, table)),
    }
}

/// ASCII-only case-insensitive substring search; `needle` is lower-case.
fn contains_ascii_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// `m.matches(value)`, with the allocation-free path for ASCII strings
/// against lower-case string needles.
fn matches(m: &CompiledMatcher, value: &EventValue<'_>, view: &EventView<'_>) -> bool {
    if let EventValue::Str(s) = value
        && s.is_ascii()
    {
        let lower_needle = |n: &str| !n.bytes().any(|b| b.is_ascii_uppercase());
        match m {
            CompiledMatcher::Exact {
                value: n,
                case_insensitive: true,
            } if lower_needle(n) => return s.eq_ignore_ascii_case(n),
            CompiledMatcher::Contains {
                value: n,
                case_insensitive: true,
            } if lower_needle(n) => return contains_ascii_ci(s, n),
            CompiledMatcher::AnyOf(children) => {
                return children.iter().any(|c| matches(c, value, view));
            }
            CompiledMatcher::CaseInsensitiveGroup {
                children,
                mode: GroupMode::Any,
            } if children.iter().all(|c| {
                matches!(c, CompiledMatcher::Exact { value: n, case_insensitive: true } if lower_needle(n))
            }) =>
            {
                return children.iter().any(|c| matches(c, value, view));
            }
            _ => {}
        }
    }
    m.matches(value, view)
}
