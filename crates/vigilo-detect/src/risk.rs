//! Deterministic risk score for a finding of a rule.

use vigilo_core::Severity;

use crate::ruleset::RuleInfo;

/// Tag prefix (in a rule's `vigilo.tags`) that marks a rule as touching
/// something sensitive. The part after the prefix names it in the explanation.
pub const SENSITIVE_TAG_PREFIX: &str = "vigilo.sensitive.";

/// Added once when a rule is sensitive (privilege, admin token, public data).
pub const SENSITIVE_BONUS: u8 = 5;

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

/// Risk score 0–100 and a one-line explanation for findings of `rule`.
///
/// The score is the severity's base (informational 5, low 20, medium 50,
/// high 80, critical 95), raised by 5 (capped at 100) when the rule is
/// tagged `vigilo.sensitive.*` (privilege changes, admin-scoped tokens,
/// public buckets) or `attack.privilege-escalation` (the ATT&CK tactic; the
/// older `attack.privilege_escalation` spelling counts too).
pub fn risk(rule: &RuleInfo) -> (u8, String) {
    let base = severity_score(rule.severity);
    let mut reasons: Vec<String> = rule
        .tags
        .iter()
        .filter_map(|t| t.strip_prefix(SENSITIVE_TAG_PREFIX))
        .map(|what| what.replace('_', " "))
        .collect();
    if reasons.is_empty()
        && rule.tags.iter().any(|t| {
            t.replace('_', "-")
                .eq_ignore_ascii_case("attack.privilege-escalation")
        })
    {
        reasons.push("privilege escalation".to_string());
    }
    if reasons.is_empty() {
        return (
            base,
            format!(
                "{} severity rule `{}` (base {base})",
                rule.severity, rule.rule_id
            ),
        );
    }
    let score = base.saturating_add(SENSITIVE_BONUS).min(100);
    (
        score,
        format!(
            "{} severity rule `{}` (base {base}), +{SENSITIVE_BONUS} for sensitive {}",
            rule.severity,
            rule.rule_id,
            reasons.join(", ")
        ),
    )
}
