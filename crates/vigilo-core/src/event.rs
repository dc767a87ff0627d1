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
        }
    }
}
