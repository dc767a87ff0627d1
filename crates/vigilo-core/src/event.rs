use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An event accepted by ingest, normalized but not yet stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Event time: the event's own timestamp, or the receive time when it had none.
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub kind: String,
    pub service: Option<String>,
    pub user: Option<String>,
    /// The object exactly as the client sent it; numbers keep their text
    /// (serde_json's `arbitrary_precision`), so a 30-digit integer or `1.50`
    /// comes back as sent.
    pub payload: Map<String, Value>,
    /// Where a connector read the event: a redelivery of an offset already
    /// stored is skipped, so at-least-once delivery stores each event once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// The Sigma logsource the event belongs to (which rules apply to it).
    #[serde(default, skip_serializing_if = "Logsource::is_empty")]
    pub logsource: Logsource,
}

/// A Sigma logsource: the dimensions (`product`, `category`, `service`) a
/// rule or an event names. A dimension left `None` is unnamed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Logsource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

impl Logsource {
    /// True when no dimension is named.
    pub fn is_empty(&self) -> bool {
        self.product.is_none() && self.category.is_none() && self.service.is_none()
    }
}

/// A position in an ordered source: a Kafka partition and offset, an
/// archive replay and the archived event's id. Offsets of one stream
/// increase; storage keeps the highest stored offset of each stream in the
/// transaction that stores its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// For example `kafka:logs:0` (source, topic, partition).
    pub stream: String,
    pub offset: i64,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub id: i64,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub kind: String,
    pub service: Option<String>,
    pub user: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Map<String, Value>,
    /// The event's logsource (empty when it names none).
    #[serde(default)]
    pub logsource: Logsource,
}

impl Event {
    pub fn from_new(id: i64, e: NewEvent) -> Self {
        Event {
            id,
            timestamp: e.timestamp,
            received_at: e.received_at,
            kind: e.kind,
            service: e.service,
            user: e.user,
            payload: e.payload,
            logsource: e.logsource,
        }
    }
}
