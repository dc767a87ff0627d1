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
    /// Free-text note set by an analyst through `PATCH`.
    pub note: Option<String>,
    /// Wall-clock time the finding was created and last changed.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Evidence ids kept per finding; `event_count` keeps counting past it.
pub const EVIDENCE_CAP: usize = 100;
