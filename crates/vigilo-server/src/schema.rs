//! OpenAPI schemas written by hand where a Rust type cannot say what the
//! server accepts: an incoming event is any JSON object, but its well-known
//! fields have rules (see `vigilo_core::normalize`).

use serde_json::json;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::api::params::{EPOCH_PATTERN, MAX_EPOCH};

/// An event as a client sends it: any JSON object. The well-known fields,
/// when present and not null, must hold what normalization reads.
pub struct EventInput;

fn timestamp_schema() -> serde_json::Value {
    json!({
        "description": "RFC 3339 date-time, or epoch seconds / milliseconds (a number, or digits in a string)",
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": EPOCH_PATTERN},
            {"type": "number", "minimum": 0, "maximum": MAX_EPOCH},
            {"type": "null"},
        ]
    })
}

fn id_schema() -> serde_json::Value {
    json!({"type": ["string", "number", "null"]})
}

impl utoipa::PartialSchema for EventInput {
    fn schema() -> RefOr<Schema> {
        let value = json!({
            "type": "object",
            "description": "Any JSON object; every field is kept as sent. The event time comes from `timestamp`, `@timestamp` or `ts` (else the receive time); `user` from `user`, `user_id` or `username`.",
            "properties": {
                "timestamp": timestamp_schema(),
                "@timestamp": timestamp_schema(),
                "ts": timestamp_schema(),
                "kind": {"type": ["string", "null"], "minLength": 1,
                         "description": "log, metric, transaction, audit, pipeline, …; inferred when absent"},
                "service": id_schema(),
                "user": id_schema(),
                "user_id": id_schema(),
                "username": id_schema(),
            },
            "additionalProperties": true,
            "example": {"timestamp": "2026-01-01T10:00:00Z", "kind": "log", "service": "api", "level": "ERROR", "message": "upstream timed out"}
        });
        serde_json::from_value(value).unwrap_or_else(|_| {
            RefOr::T(Schema::Object(
                utoipa::openapi::ObjectBuilder::new().build(),
            ))
        })
    }
}

impl utoipa::ToSchema for EventInput {}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::PartialSchema;

    #[test]
    fn the_event_schema_keeps_its_fields() {
        let v = serde_json::to_value(EventInput::schema()).unwrap();
        for f in ["timestamp", "@timestamp", "ts", "kind", "user"] {
            assert!(v["properties"].get(f).is_some(), "{f} missing: {v}");
        }
        assert_eq!(v["additionalProperties"], json!(true));
    }
}
