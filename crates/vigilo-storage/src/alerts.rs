//! What the alerter keeps: the state of each notification group (so a
//! restart neither forgets nor repeats what was sent), every notification
//! with its outcome, and silences.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a notification was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// The first notification of a group, or one for new findings or counts.
    Firing,
    /// Every finding of a group that was notified is closed.
    Resolved,
    /// Still firing, unchanged, after the repeat interval.
    Repeat,
    SilenceStarted,
    SilenceEnded,
    /// Sent from the test-send endpoint.
    Test,
}

impl NotificationKind {
    pub const ALL: [NotificationKind; 6] = [
        NotificationKind::Firing,
        NotificationKind::Resolved,
        NotificationKind::Repeat,
        NotificationKind::SilenceStarted,
        NotificationKind::SilenceEnded,
        NotificationKind::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Firing => "firing",
            NotificationKind::Resolved => "resolved",
            NotificationKind::Repeat => "repeat",
            NotificationKind::SilenceStarted => "silence_started",
            NotificationKind::SilenceEnded => "silence_ended",
            NotificationKind::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where a notification is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationStatus {
    /// Stored, not delivered yet (queued or between retries).
    Pending,
    /// The receiver accepted it.
    Sent,
    /// Every try failed: the dead-letter record.
    Failed,
    /// Decided but not sent (its findings were closed before it went).
    Suppressed,
}

impl NotificationStatus {
    pub const ALL: [NotificationStatus; 4] = [
        NotificationStatus::Pending,
        NotificationStatus::Sent,
        NotificationStatus::Failed,
        NotificationStatus::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
            NotificationStatus::Suppressed => "suppressed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One notification to one receiver, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: i64,
    pub receiver: String,
    /// The route that chose the receiver (empty for tests and silences
    /// sent to every receiver).
    pub route: String,
    pub group_key: String,
    pub kind: NotificationKind,
    pub finding_ids: Vec<i64>,
    pub status: NotificationStatus,
    /// Delivery tries so far.
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    /// Rendered title (also inside `body`).
    pub title: String,
    /// The request body as sent (JSON of the receiver's shape).
    pub body: Value,
    /// The silence a silence_started / silence_ended notification is about.
    pub silence_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub receiver: String,
    pub route: String,
    pub group_key: String,
    pub kind: NotificationKind,
    pub finding_ids: Vec<i64>,
    pub status: NotificationStatus,
    pub created_at: DateTime<Utc>,
    pub title: String,
    pub body: Value,
    pub silence_id: Option<i64>,
}

/// The outcome of one delivery try.
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationAttempt {
    pub status: NotificationStatus,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotificationQuery {
    pub receiver: Option<String>,
    pub route: Option<String>,
    pub status: Option<NotificationStatus>,
    pub kind: Option<NotificationKind>,
    /// Notifications that name this finding.
    pub finding_id: Option<i64>,
    /// Case-insensitive substring of the title, body, group key or error.
    pub q: Option<String>,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}

/// The stored state of one notification group: what the alerter decided
/// and sent for it so far. `state` is the alerter's own JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertGroup {
    /// Unique: route, receiver and the group's label values.
    pub key: String,
    pub state: Value,
    pub updated_at: DateTime<Utc>,
}

/// What one alerter step decided, written in one transaction: the groups
/// changed or gone, the notifications to send, silences announced, and
/// the outbox position reached.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertCommit {
    pub groups: Vec<AlertGroup>,
    pub removed_groups: Vec<String>,
    pub notifications: Vec<NewNotification>,
    /// (silence id, start announced, end announced): flags only turn on.
    pub silences_announced: Vec<(i64, bool, bool)>,
    /// The outbox position for consumer `alerts`, when it moved.
    pub position: Option<(String, i64)>,
}

/// One matcher of a silence: the finding's `field` equals `value`, or
/// matches it as a glob (`*` any run, `?` one character) when `glob`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    /// `rule_id`, `service`, `severity`, `user` or `tag`.
    pub field: String,
    pub value: String,
    #[serde(default)]
    pub glob: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Silence {
    pub id: i64,
    /// All must match.
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    /// When it was expired early through the API.
    pub expired_at: Option<DateTime<Utc>>,
    pub start_announced: bool,
    pub end_announced: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
}
