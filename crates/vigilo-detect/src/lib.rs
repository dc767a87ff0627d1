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

mod detector;
mod error;
mod fast;
mod risk;
mod ruleset;
mod view;

pub use detector::{Detector, FindingUpsert};
pub use error::RuleError;
pub use risk::{SENSITIVE_BONUS, SENSITIVE_TAG_PREFIX, risk, severity_score};
pub use ruleset::{
    ATTR_EMIT, ATTR_GROUP_BY, ATTR_SUPPRESS, DEFAULT_SUPPRESSION, RuleInfo, RuleKind, RuleSet,
    RuleSource,
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
];

/// Compile `sources`, run `events` in order through a fresh detector and
/// return the final state of every incident, in the order they opened.
/// Touches no stored data.
pub fn evaluate_once(
    sources: &[RuleSource],
    events: &[Event],
) -> Result<Vec<Finding>, Vec<RuleError>> {
    let rules = RuleSet::compile(sources)?;
    let mut detector = Detector::new(rules);
    let mut order: Vec<String> = Vec::new();
    let mut latest: std::collections::HashMap<String, Finding> = std::collections::HashMap::new();
    for event in events {
        for up in detector.process(event) {
            if up.is_new {
                order.push(up.incident_key.clone());
            }
            latest.insert(up.incident_key, up.finding);
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|k| latest.remove(&k))
        .collect())
}
