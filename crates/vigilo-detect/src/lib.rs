//! Vigilo's detection engine.
//!
//! Sigma detection and correlation rules (through `rsigma-eval`) evaluated
//! on **event time**: the same stream of events gives the same findings
//! whether it arrives live or is replayed from history. Matches are
//! coalesced into incidents: repeated matches of one rule for one group
//! inside the rule's suppression window update one finding.
//!
//! The crate is pure: no I/O, no clock. Rule text comes in as
//! [`RuleSource`]s; [`bundled`] returns the packs shipped under `rules/`.
//!
//! # Evaluation paths
//!
//! When every rule fits it (all bundled packs do), the detector runs a
//! native path instead of rsigma's correlation engine:
//!
//! - **Logsource routing.** A detection rule is evaluated only for events
//!   whose logsource does not conflict with its own (a dimension both name
//!   differs; one side leaving it unnamed never conflicts), as rsigma's
//!   `--logsource-routing`; the engine path gets the same through rsigma's
//!   extractor. See the `logsource` module.
//! - **Candidate index.** Per event logsource, a plan of the rules it
//!   admits, built on first use: a rule whose condition requires one of a
//!   few exact strings on one field (the field whose values the rule set
//!   needs least: `event_type: login_failed`, `eventName: CreateUser`) is
//!   only evaluated for events whose field holds one of them (an event
//!   whose value is not a plain ASCII string gets every such rule); else a
//!   rule that needs one of some fields, for events that have one; else a
//!   rule whose keywords need one of some ASCII texts, for events where one
//!   pass of an automaton over their strings finds one; else always. Each
//!   step only drops rules that cannot match, so the index never hides one.
//! - **Evaluation.** Conditions built from named selections with `and`,
//!   `or`, `not` are evaluated with rsigma's compiled matchers, comparing
//!   ASCII text case-insensitively in place; other rule shapes go through
//!   rsigma's evaluator unchanged.
//! - **Correlations.** `event_count` and `temporal_ordered` correlations
//!   (sliding windows, plain `group-by`) keep per-group windows natively:
//!   hit times (one-second resolution, inclusive: when an event is added, entries
//!   more than `timespan` before it are dropped; an `event_count` group keeps
//!   only the newest `largest threshold + 1`, a `temporal_ordered` group only
//!   the newest hit of its last reference, which decides the same firings) and
//!   the references of the events that fed them directly, capped at 512 per
//!   group: for `event_count` the same newest `threshold + 1` hits (one
//!   24-byte reference each is then the whole window), for `temporal_ordered`
//!   the hits of the earlier references and the latest closing hit. The
//!   engine path trims its firings' evidence to the same. They fire on every
//!   event for which the condition holds, chain to
//!   correlations that refer to them, and apply rsigma's rules for ordering
//!   (`temporal_ordered`: same-second hits count as in order), negative
//!   times (clamped to 0) and chaining depth (10). Window state exports to
//!   and imports from rsigma's `CorrelationSnapshot` format, so snapshots
//!   move freely between the two paths.
//!
//! A rule set using anything else (other correlation types, tumbling or
//! session windows, aliased group-by, `rsigma.*` attributes, extended
//! temporal conditions, a rule referenced twice by one correlation) runs
//! entirely through rsigma's correlation engine, with the same results and
//! lower throughput. A test checks the native path against the engine, upsert
//! for upsert, on dense mixed traffic.
//!
//! Differences from the engine, none visible in findings: groups whose
//! windows have emptied are dropped at the periodic sweep (or when a million
//! groups are held) rather than by the engine's own hard cap, which, past a
//! million groups, also drops the stalest non-empty ones.
//!
//! [`Detector::process_batch`] runs a slice of events in one call and gives
//! one upsert per incident it touched (the incident after its last match,
//! the evidence of all its matches, their number), so a busy incident costs
//! one copy per batch rather than one per event.
//!
//! Throughput: `cargo bench -p vigilo-detect --bench detect` (100,000 mixed
//! events, both packs, fresh detector, one thread) went from about 73,000 to
//! about 405,000 events/s measured by criterion on a shared 2-core machine
//! under a load average of 6 to 8; a plain timing loop over the same stream
//! (detector creation, processing and drop) took 177 to 195 ms per 100,000
//! events in its better runs, i.e. 510,000 to 560,000 events/s.

mod detector;
mod error;
mod fast;
pub mod heuristics;
mod logsource;
pub mod pipeline;
mod risk;
mod ruleset;
mod view;

pub use detector::{Detector, FindingUpsert};
pub use error::RuleError;
pub use logsource::compatible as logsource_compatible;
pub use pipeline::{PipelineError, Pipelines};
pub use risk::{SENSITIVE_BONUS, SENSITIVE_TAG_PREFIX, risk, severity_score};
pub use ruleset::{
    ATTR_EMIT, ATTR_GROUP_BY, ATTR_SUPPRESS, DEFAULT_SUPPRESSION, Logsource, RuleInfo, RuleKind,
    RuleSet, RuleSource,
};

use vigilo_core::{Event, Finding};

macro_rules! bundled_files {
    ($($path:literal),+ $(,)?) => {
        /// Paths (relative to the repository root) of the bundled rule files.
        pub const BUNDLED_FILES: &[&str] = &[$($path),+];

        /// The rule packs shipped with Vigilo (`rules/anomaly`, `rules/identity`).
        pub fn bundled() -> Vec<RuleSource> {
            vec![$(RuleSource::new(
                $path,
                include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../", $path)),
            )),+]
        }
    };
}

bundled_files![
    "rules/anomaly/logs.yml",
    "rules/anomaly/metrics.yml",
    "rules/anomaly/transactions.yml",
    "rules/identity/activity.yml",
    "rules/identity/changes.yml",
    "rules/identity/logins.yml",
    "rules/identity/mfa.yml",
    "rules/identity/privilege.yml",
    "rules/identity/storage.yml",
    "rules/identity/tokens.yml",
    "rules/identity/vigilo.yml",
];

/// Compile `sources`, run `events` in order through a fresh detector and
/// return the final state of every incident, in the order they opened.
/// Touches no stored data.
pub fn evaluate_once(
    sources: &[RuleSource],
    events: &[Event],
) -> Result<Vec<Finding>, Vec<RuleError>> {
    let mut evaluation = Evaluation::new(RuleSet::compile(sources)?);
    evaluation.feed(events);
    Ok(evaluation.finish())
}

/// [`evaluate_once`] over a stream: events are fed in consecutive batches
/// of any size and only the incidents are kept, so memory follows the
/// number of incidents and open windows, not the number of events.
/// Batching does not change the findings.
pub struct Evaluation {
    detector: Detector,
    /// Incident keys in the order the incidents opened.
    order: Vec<String>,
    /// The latest state of each incident.
    latest: std::collections::HashMap<String, Finding>,
}

impl Evaluation {
    /// A fresh detector over `rules`.
    pub fn new(rules: RuleSet) -> Self {
        Evaluation {
            detector: Detector::new(rules),
            order: Vec::new(),
            latest: std::collections::HashMap::new(),
        }
    }

    /// Run the next `events` of the stream, in order.
    pub fn feed(&mut self, events: &[Event]) {
        for up in self.detector.process_batch(events) {
            if up.is_new {
                self.order.push(up.incident_key.clone());
            }
            self.latest.insert(up.incident_key, up.finding);
        }
    }

    /// The final state of every incident, in the order they opened.
    pub fn finish(mut self) -> Vec<Finding> {
        self.order
            .into_iter()
            .filter_map(|k| self.latest.remove(&k))
            .collect()
    }
}
