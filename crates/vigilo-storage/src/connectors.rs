//! What connectors keep: the positions of ordered sources (in
//! `insert_events`), messages that could not be ingested (dead letters),
//! the log of finding changes that sinks and alerts read (the outbox), and
//! each reader's position in it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A message a connector could not ingest, kept with the reason and its
/// raw bytes so nothing is lost and its partition or queue moves on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    pub id: i64,
    /// The connector: `kafka`, `amqp`, ...
    pub source: String,
    /// Where in it: `logs/0@42` (topic, partition, offset), a queue name.
    pub location: String,
    pub reason: String,
    pub raw: Vec<u8>,
    /// Key, headers and anything else the connector knew.
    pub meta: Value,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewDeadLetter {
    pub source: String,
    pub location: String,
    pub reason: String,
    pub raw: Vec<u8>,
    pub meta: Value,
    pub received_at: DateTime<Utc>,
}

/// What happened to a finding, as the outbox records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingChangeKind {
    /// Detection opened a new incident.
    Created,
    /// Detection added matches to a known incident.
    Updated,
    /// Someone changed its status (the new one is in `status`).
    Status,
}

impl FindingChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingChangeKind::Created => "created",
            FindingChangeKind::Updated => "updated",
            FindingChangeKind::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "created" => FindingChangeKind::Created,
            "updated" => FindingChangeKind::Updated,
            "status" => FindingChangeKind::Status,
            _ => return None,
        })
    }
}

/// One entry of the finding outbox, written in the transaction that
/// changed the finding. `seq` increases in commit order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FindingChange {
    pub seq: i64,
    pub finding_id: i64,
    pub kind: FindingChangeKind,
    /// The finding's status after the change.
    pub status: vigilo_core::FindingStatus,
    pub at: DateTime<Utc>,
}
