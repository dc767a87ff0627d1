//! Deterministic risk score for a finding of a rule.

use vigilo_core::Severity;

use crate::ruleset::RuleInfo;

/// Tag prefix (in a rule's `vigilo.tags`) that marks a rule as touching
/// something sensitive. The part after the prefix names it in the explanation.
pub const SENSITIVE_TAG_PREFIX: &str = "vigilo.sensitive.";

/// Added once when a rule is sensitive (privilege, admin token, public data).
pub const SENSITIVE_BONUS: u8 = crate::heuristics::SENSITIVE_POINTS as u8;

/// Base score of a severity.
pub fn severity_score(severity: Severity) -> u8 {
    match severity {
        Severity::Informational => 5,
        Severity::Low => 20,
        Severity::Medium => 50,
        Severity::High => 80,
        Severity::Critical => 95,
    }
}

/// Risk score 0–100 and its explanation for a finding of `rule` without
/// context (one event, no recent findings, no asset criticality): the
/// severity's base (informational 5, low 20, medium 50, high 80, critical
/// 95), +5 with a floor of 80 when the rule is tagged `vigilo.sensitive.*`
/// (privilege changes, admin-scoped tokens, public buckets) or
/// `attack.privilege-escalation` (the older `attack.privilege_escalation`
/// spelling counts too). The server's pipeline rescores each finding with
/// its context through [`crate::heuristics::assess`] before it is stored.
pub fn risk(rule: &RuleInfo) -> (u8, String) {
    let a = crate::heuristics::assess(&crate::heuristics::RiskInputs {
        rule,
        event_count: 1,
        principal: None,
        principal_recent: 0,
        service: None,
        service_recent: 0,
        service_criticality: None,
        triggers: &[],
    });
    (a.score, a.explanation)
}
