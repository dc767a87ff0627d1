//! Context-aware heuristic risk score: the score every finding carries when
//! it is first stored, and the fallback when a model cannot be asked.
//!
//! The function is pure: the caller (the server's pipeline) supplies the
//! context it keeps (recent findings per principal and service, the asset
//! criticality table) in [`RiskInputs`].
//!
//! Formula (documented in the README, "Risk scoring and enrichment"):
//!
//! | factor | points |
//! |---|---|
//! | severity base | informational 5, low 20, medium 50, high 80, critical 95 |
//! | sensitive rule (`vigilo.sensitive.*`, privilege escalation) | +5, and the score never drops below 80 |
//! | events in the incident | 10–99: +5, 100 or more: +10 |
//! | the principal's other findings in 7 days | 1–2: +5, 3–9: +10, 10 or more: +15 |
//! | the service's other findings in 7 days | 5–19: +5, 20 or more: +10 |
//! | the service's criticality | critical +10, high +5, medium 0, low −10 |
//!
//! The sum is clamped to 0–100.

use std::fmt;
use std::str::FromStr;

use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, Detection, DetectionItem, SigmaRule,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use vigilo_core::event::Event;
use vigilo_core::finding::ParseEnumError;

use crate::risk::{SENSITIVE_TAG_PREFIX, severity_score};
use crate::ruleset::{RuleInfo, RuleSet};

/// Points a sensitive rule adds, and the floor it keeps the score at.
pub const SENSITIVE_POINTS: i32 = 5;
pub const SENSITIVE_FLOOR: i32 = 80;
/// Days of recent findings that count.
pub const RECENT_DAYS: i64 = 7;
/// Most trigger descriptions named in an explanation.
pub const MAX_TRIGGERS: usize = 5;

/// How critical an asset (a service) is, from the `[risk]` config table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    Low,
    Medium,
    High,
    Critical,
}

impl Criticality {
    pub fn as_str(self) -> &'static str {
        match self {
            Criticality::Low => "low",
            Criticality::Medium => "medium",
            Criticality::High => "high",
            Criticality::Critical => "critical",
        }
    }

    /// Points this criticality adds to a score.
    pub fn points(self) -> i32 {
        match self {
            Criticality::Low => -10,
            Criticality::Medium => 0,
            Criticality::High => 5,
            Criticality::Critical => 10,
        }
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Criticality {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Criticality::Low),
            "medium" => Ok(Criticality::Medium),
            "high" => Ok(Criticality::High),
            "critical" => Ok(Criticality::Critical),
            _ => Err(ParseEnumError {
                what: "criticality",
                value: s.to_string(),
                expected: "low, medium, high, critical",
            }),
        }
    }
}

/// Everything the heuristic score depends on.
#[derive(Debug, Clone)]
pub struct RiskInputs<'a> {
    pub rule: &'a RuleInfo,
    /// Events in the incident.
    pub event_count: i64,
    /// The user (principal) of the finding, if any.
    pub principal: Option<&'a str>,
    /// The principal's other findings in the last [`RECENT_DAYS`] days.
    pub principal_recent: u32,
    pub service: Option<&'a str>,
    /// The service's other findings in the last [`RECENT_DAYS`] days.
    pub service_recent: u32,
    /// The service's criticality from the config table, if listed.
    pub service_criticality: Option<Criticality>,
    /// What triggered the rule (see [`triggers`]).
    pub triggers: &'a [String],
}

/// One term of the score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskFactor {
    pub points: i32,
    pub label: String,
}

/// A heuristic score with its factors and the explanation naming them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskAssessment {
    pub score: u8,
    pub factors: Vec<RiskFactor>,
    pub explanation: String,
}

/// What makes a rule sensitive, named for the explanation; empty when it is not.
pub fn sensitive_reasons(rule: &RuleInfo) -> Vec<String> {
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
    reasons
}

/// The heuristic score of a finding (see the module docs for the formula).
pub fn assess(inputs: &RiskInputs<'_>) -> RiskAssessment {
    let rule = inputs.rule;
    let base = i32::from(severity_score(rule.severity));
    let mut factors = vec![RiskFactor {
        points: base,
        label: format!("base {base}: {} severity", rule.severity),
    }];
    let reasons = sensitive_reasons(rule);
    if !reasons.is_empty() {
        factors.push(RiskFactor {
            points: SENSITIVE_POINTS,
            label: format!("sensitive {}", reasons.join(", ")),
        });
    }
    let events = inputs.event_count.max(1);
    let event_points = match events {
        0..=9 => 0,
        10..=99 => 5,
        _ => 10,
    };
    if event_points > 0 {
        factors.push(RiskFactor {
            points: event_points,
            label: format!("{events} events in the incident"),
        });
    }
    let principal_points = match inputs.principal_recent {
        0 => 0,
        1..=2 => 5,
        3..=9 => 10,
        _ => 15,
    };
    if principal_points > 0 {
        let who = inputs.principal.unwrap_or("the principal");
        factors.push(RiskFactor {
            points: principal_points,
            label: format!(
                "user {who} had {} other finding{} in {RECENT_DAYS} days",
                inputs.principal_recent,
                plural(inputs.principal_recent)
            ),
        });
    }
    let service_points = match inputs.service_recent {
        0..=4 => 0,
        5..=19 => 5,
        _ => 10,
    };
    if service_points > 0 {
        let svc = inputs.service.unwrap_or("the service");
        factors.push(RiskFactor {
            points: service_points,
            label: format!(
                "service {svc} had {} other findings in {RECENT_DAYS} days",
                inputs.service_recent
            ),
        });
    }
    if let Some(c) = inputs.service_criticality
        && c.points() != 0
    {
        let svc = inputs.service.unwrap_or("the service");
        factors.push(RiskFactor {
            points: c.points(),
            label: format!("service {svc} is {c}"),
        });
    }
    let sum: i32 = factors.iter().map(|f| f.points).sum();
    let mut score = sum.clamp(0, 100);
    let mut notes = Vec::new();
    if sum > 100 {
        notes.push("capped at 100".to_string());
    }
    if !reasons.is_empty() && score < SENSITIVE_FLOOR {
        score = SENSITIVE_FLOOR;
        notes.push(format!(
            "sensitive rules stay at {SENSITIVE_FLOOR} or above"
        ));
    }
    let score = u8::try_from(score).unwrap_or(100);
    let mut explanation = format!("{} severity rule `{}`", rule.severity, rule.rule_id);
    if !inputs.triggers.is_empty() {
        explanation.push_str(": ");
        explanation.push_str(&inputs.triggers.join("; "));
    }
    explanation.push_str(&format!(". Risk {score} = "));
    let terms: Vec<String> = factors
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if i == 0 {
                f.label.clone()
            } else if f.points >= 0 {
                format!("+{}: {}", f.points, f.label)
            } else {
                format!("{}: {}", f.points, f.label)
            }
        })
        .collect();
    explanation.push_str(&terms.join("; "));
    if !notes.is_empty() {
        explanation.push_str(&format!(" ({})", notes.join(", ")));
    }
    RiskAssessment {
        score,
        factors,
        explanation,
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The value of `field` in an event: `kind`, `service`, `user`, or a dotted
/// path into the payload.
pub fn event_field<'e>(event: &'e Event, field: &str) -> Option<String> {
    match field {
        "kind" => return Some(event.kind.clone()),
        "service" if event.service.is_some() => return event.service.clone(),
        "user" if event.user.is_some() => return event.user.clone(),
        _ => {}
    }
    let v: &'e Value = match event.payload.get(field) {
        Some(v) => v,
        None => {
            let mut parts = field.split('.');
            let mut v = event.payload.get(parts.next()?)?;
            for p in parts {
                v = v.get(p)?;
            }
            v
        }
    };
    Some(match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

impl RuleSet {
    /// The detection rule behind `rule_id`, if it is one.
    fn sigma_rule(&self, rule_id: &str) -> Option<&SigmaRule> {
        let idx = self.inner.infos.iter().position(|i| i.rule_id == rule_id)?;
        self.inner.collection.rules.iter().find(|r| {
            r.id.as_deref()
                .and_then(|id| self.inner.engine_ids.get(id))
                .is_some_and(|&i| i == idx)
        })
    }

    /// The correlation behind `rule_id`, if it is one.
    fn correlation(&self, rule_id: &str) -> Option<&CorrelationRule> {
        let idx = self.inner.infos.iter().position(|i| i.rule_id == rule_id)?;
        self.inner.collection.correlations.iter().find(|r| {
            r.id.as_deref()
                .and_then(|id| self.inner.engine_ids.get(id))
                .is_some_and(|&i| i == idx)
        })
    }
}

/// What triggered `rule_id` for `event`, for the explanation: the event's
/// value of each field the rule's selections test, beside the rule's own
/// test (`amount = 12000 (rule: amount gt 10000)`), or for a correlation the
/// count against its condition and window (`12 events in 10m (rule: event_count gte 5)`).
pub fn triggers(rules: &RuleSet, rule_id: &str, event: &Event, event_count: i64) -> Vec<String> {
    if let Some(c) = rules.correlation(rule_id) {
        let mut cond = String::new();
        if let CorrelationCondition::Threshold {
            predicates, field, ..
        } = &c.condition
        {
            let preds: Vec<String> = predicates
                .iter()
                .map(|(op, v)| format!("{} {v}", op_text(*op)))
                .collect();
            let what = match field {
                Some(f) if !f.is_empty() => format!("{:?} of {}", c.correlation_type, f.join(", ")),
                _ => format!("{:?}", c.correlation_type),
            };
            cond = format!(" (rule: {} {})", snake(&what), preds.join(" and "));
        }
        return vec![format!(
            "{event_count} events in {}{cond}",
            c.timespan.original
        )];
    }
    let Some(rule) = rules.sigma_rule(rule_id) else {
        return Vec::new();
    };
    let mut names: Vec<&String> = rule
        .detection
        .named
        .keys()
        .filter(|k| !k.starts_with("filter"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let mut items = Vec::new();
        collect_items(&rule.detection.named[name], &mut items);
        for item in items {
            let Some(field) = item.field.name.as_deref() else {
                continue;
            };
            let Some(value) = event_field(event, field) else {
                continue;
            };
            let mods: String = item
                .field
                .modifiers
                .iter()
                .map(|m| format!(" {}", format!("{m:?}").to_ascii_lowercase()))
                .collect();
            let values: Vec<String> = item.values.iter().map(|v| v.to_string()).collect();
            let test = if mods.is_empty() {
                format!("{field} = {}", values.join(" or "))
            } else {
                format!("{field}{mods} {}", values.join(" or "))
            };
            let line = format!("{field} = {} (rule: {test})", shorten(&value));
            if !out.contains(&line) {
                out.push(line);
            }
            if out.len() >= MAX_TRIGGERS {
                return out;
            }
        }
    }
    out
}

fn collect_items<'d>(d: &'d Detection, out: &mut Vec<&'d DetectionItem>) {
    match d {
        Detection::AllOf(items) => out.extend(items.iter()),
        Detection::AnyOf(ds) => ds.iter().for_each(|d| collect_items(d, out)),
        _ => {}
    }
}

fn op_text(op: ConditionOperator) -> &'static str {
    match op {
        ConditionOperator::Lt => "lt",
        ConditionOperator::Lte => "lte",
        ConditionOperator::Gt => "gt",
        ConditionOperator::Gte => "gte",
        ConditionOperator::Eq => "eq",
        ConditionOperator::Neq => "neq",
    }
}

fn snake(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with(' ') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn shorten(v: &str) -> String {
    const MAX: usize = 80;
    if v.chars().count() <= MAX {
        v.to_string()
    } else {
        let cut: String = v.chars().take(MAX).collect();
        format!("{cut}…")
    }
}
