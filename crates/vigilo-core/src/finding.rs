use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Informational,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}`, expected one of: {expected}")]
pub struct ParseEnumError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl FromStr for Severity {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "informational" | "info" => Ok(Severity::Informational),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(ParseEnumError {
                what: "severity",
                value: s.to_string(),
                expected: "informational, low, medium, high, critical",
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FindingStatus {
    Open,
    Acknowledged,
    Resolved,
    Suppressed,
}

impl FindingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "open",
            FindingStatus::Acknowledged => "acknowledged",
            FindingStatus::Resolved => "resolved",
            FindingStatus::Suppressed => "suppressed",
        }
    }
}

impl fmt::Display for FindingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingStatus {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(FindingStatus::Open),
            "acknowledged" => Ok(FindingStatus::Acknowledged),
            "resolved" => Ok(FindingStatus::Resolved),
            "suppressed" => Ok(FindingStatus::Suppressed),
            _ => Err(ParseEnumError {
                what: "status",
                value: s.to_string(),
                expected: "open, acknowledged, resolved, suppressed",
            }),
        }
    }
}

/// One incident: repeated matches of a rule for one group inside the rule's
/// suppression window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    pub id: i64,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    pub status: FindingStatus,
    /// Group-by field → value.
    pub group: BTreeMap<String, String>,
    pub service: Option<String>,
    pub user: Option<String>,
    /// Event time of the first evidence.
    pub first_seen: DateTime<Utc>,
    /// Event time of the latest evidence.
    pub last_seen: DateTime<Utc>,
    pub event_count: i64,
    /// Evidence event ids, capped at [`EVIDENCE_CAP`].
    pub evidence: Vec<i64>,
    pub description: String,
    pub tags: Vec<String>,
    pub risk_score: u8,
    pub explanation: String,
    /// Free-text note set by an analyst through `PATCH` (or the latest
    /// note appended through `POST .../notes`).
    pub note: Option<String>,
    /// The analyst the finding is assigned to.
    #[serde(default)]
    pub assignee: Option<String>,
    /// Analysts' tags, a sorted set (the rule's own tags are in `tags`).
    #[serde(default)]
    pub workflow_tags: Vec<String>,
    /// Why the finding was closed: set with `resolved` or `suppressed`,
    /// cleared when it is reopened.
    #[serde(default)]
    pub close_reason: Option<CloseReason>,
    /// What the analyst should do next, from the model that scored the
    /// finding (empty for the heuristic score).
    #[serde(default)]
    pub recommended_actions: Vec<String>,
    /// Who set `risk_score` and `explanation`: `heuristic`, or the name of
    /// the model that enriched the finding.
    #[serde(default = "heuristic_name")]
    pub enriched_by: String,
    /// When the finding was last enriched; `None` while it carries the
    /// heuristic score of its detection.
    #[serde(default)]
    pub enriched_at: Option<DateTime<Utc>>,
    /// Wall-clock time the finding was created and last changed.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `enriched_by` of a finding scored by the heuristics.
pub const ENRICHED_BY_HEURISTIC: &str = "heuristic";

fn heuristic_name() -> String {
    ENRICHED_BY_HEURISTIC.to_string()
}

/// Evidence ids kept per finding; `event_count` keeps counting past it.
pub const EVIDENCE_CAP: usize = 100;

/// Why a finding was resolved or suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CloseReason {
    FalsePositive,
    Benign,
    Fixed,
    Duplicate,
    Other,
}

impl CloseReason {
    pub const ALL: [CloseReason; 5] = [
        CloseReason::FalsePositive,
        CloseReason::Benign,
        CloseReason::Fixed,
        CloseReason::Duplicate,
        CloseReason::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::FalsePositive => "false_positive",
            CloseReason::Benign => "benign",
            CloseReason::Fixed => "fixed",
            CloseReason::Duplicate => "duplicate",
            CloseReason::Other => "other",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CloseReason {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CloseReason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| ParseEnumError {
                what: "close_reason",
                value: s.to_string(),
                expected: "false_positive, benign, fixed, duplicate, other",
            })
    }
}

impl FindingStatus {
    /// Resolved and suppressed findings are closed; they carry a close reason.
    pub fn is_closed(self) -> bool {
        matches!(self, FindingStatus::Resolved | FindingStatus::Suppressed)
    }
}

/// What a history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum HistoryAction {
    Created,
    Status,
    Assignee,
    Tags,
    CloseReason,
    Note,
}

impl HistoryAction {
    pub const ALL: [HistoryAction; 6] = [
        HistoryAction::Created,
        HistoryAction::Status,
        HistoryAction::Assignee,
        HistoryAction::Tags,
        HistoryAction::CloseReason,
        HistoryAction::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::Created => "created",
            HistoryAction::Status => "status",
            HistoryAction::Assignee => "assignee",
            HistoryAction::Tags => "tags",
            HistoryAction::CloseReason => "close_reason",
            HistoryAction::Note => "note",
        }
    }
}

impl fmt::Display for HistoryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HistoryAction {
    type Err = ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HistoryAction::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| ParseEnumError {
                what: "history action",
                value: s.to_string(),
                expected: "created, status, assignee, tags, close_reason, note",
            })
    }
}

/// Who changed what on a finding, and when. For `note`, `to` is the note
/// text; for `tags`, `from` and `to` are the comma-joined sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FindingHistory {
    /// 0 for the `created` entry, which is the finding's creation itself.
    pub id: i64,
    pub finding_id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: HistoryAction,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The actor of writes that name none.
pub const ANONYMOUS: &str = "anonymous";

/// The actor of a finding's `created` entry: Vigilo itself.
pub const SYSTEM_ACTOR: &str = "vigilo";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_their_names() {
        for r in CloseReason::ALL {
            assert_eq!(r.as_str().parse::<CloseReason>(), Ok(r));
            assert_eq!(
                serde_json::to_value(r).ok(),
                Some(serde_json::Value::String(r.as_str().into()))
            );
        }
        for a in HistoryAction::ALL {
            assert_eq!(a.as_str().parse::<HistoryAction>(), Ok(a));
        }
        let err = "wontfix".parse::<CloseReason>().unwrap_err();
        assert_eq!(err.what, "close_reason");
    }
}
