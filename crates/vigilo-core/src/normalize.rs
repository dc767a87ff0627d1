//! Turning a client's JSON object into a [`NewEvent`]: event time, kind,
//! service and user, with errors that name the field.

use chrono::{DateTime, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::errors::ErrorCode;
use crate::event::NewEvent;

/// Fields read for the event time, in priority order.
pub const TIMESTAMP_FIELDS: [&str; 3] = ["timestamp", "@timestamp", "ts"];
/// Fields read for the user, in priority order.
pub const USER_FIELDS: [&str; 3] = ["user", "user_id", "username"];

/// Why one event was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EventError {
    pub code: ErrorCode,
    pub message: String,
}

impl EventError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        EventError {
            code,
            message: message.into(),
        }
    }
}

/// Normalize one decoded JSON value received at `received_at`.
pub fn normalize(value: Value, received_at: DateTime<Utc>) -> Result<NewEvent, EventError> {
    let Value::Object(payload) = value else {
        return Err(EventError::new(
            ErrorCode::EventNotObject,
            format!("event must be a JSON object, got {}", type_name(&value)),
        ));
    };
    let timestamp = event_time(&payload)?.unwrap_or(received_at);
    let kind = match payload.get("kind") {
        None | Some(Value::Null) => infer_kind(&payload).to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(EventError::new(
                ErrorCode::InvalidField,
                format!(
                    "field `kind` must be a non-empty string, got {}",
                    type_name(other)
                ),
            ));
        }
    };
    let service = string_field(&payload, "service")?;
    // The first of the user fields that is set names the user; each one
    // present must still hold a string or a number.
    let mut user = None;
    for f in USER_FIELDS {
        if let Some(u) = string_field(&payload, f)? {
            user.get_or_insert(u);
        }
    }
    Ok(NewEvent {
        logsource: Default::default(),
        timestamp,
        received_at,
        kind,
        service,
        user,
        payload,
        origin: None,
    })
}

/// Kind inferred from the fields present, as Kafka anomaly producers' events imply.
pub fn infer_kind(payload: &Map<String, Value>) -> &'static str {
    if payload.contains_key("level") {
        "log"
    } else if payload.contains_key("cpu") || payload.contains_key("latency_ms") {
        "metric"
    } else if payload.contains_key("transaction_id") {
        "transaction"
    } else {
        "event"
    }
}

fn string_field(payload: &Map<String, Value>, field: &str) -> Result<Option<String>, EventError> {
    match payload.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        // Numeric ids (user_id: 42) are common; keep them as their text.
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(EventError::new(
            ErrorCode::InvalidField,
            format!(
                "field `{field}` must be a string or number, got {}",
                type_name(other)
            ),
        )),
    }
}

/// The event time: the first of [`TIMESTAMP_FIELDS`] that is present and
/// not null. Every one present must be a time, even those after the first:
/// a client that sends a bad `ts` beside a good `timestamp` learns of it.
fn event_time(payload: &Map<String, Value>) -> Result<Option<DateTime<Utc>>, EventError> {
    let mut first = None;
    for field in TIMESTAMP_FIELDS {
        let Some(v) = payload.get(field) else {
            continue;
        };
        if v.is_null() {
            continue;
        }
        let t = parse_timestamp(v).map_err(|why| {
            EventError::new(
                ErrorCode::InvalidTimestamp,
                format!("field `{field}` {why}"),
            )
        })?;
        first.get_or_insert(t);
    }
    Ok(first)
}

/// Epoch values at or above this are milliseconds (year 2286 in seconds).
const EPOCH_MILLIS_THRESHOLD: f64 = 10_000_000_000.0;

/// Parse RFC 3339 (any offset, optional fraction; a space instead of `T` and a
/// missing offset, read as UTC, are accepted too) or epoch seconds /
/// milliseconds as a number or a numeric string.
pub fn parse_timestamp(v: &Value) -> Result<DateTime<Utc>, String> {
    match v {
        Value::Number(n) => {
            let f = n
                .as_f64()
                .ok_or_else(|| format!("is not a usable number: {n}"))?;
            from_epoch(f).ok_or_else(|| format!("is out of range: {n}"))
        }
        Value::String(s) => parse_timestamp_str(s),
        other => Err(format!(
            "must be an RFC 3339 string or epoch number, got {}",
            type_name(other)
        )),
    }
}

fn parse_timestamp_str(s: &str) -> Result<DateTime<Utc>, String> {
    let t = s.trim();
    if let Ok(dt) = DateTime::<FixedOffset>::parse_from_rfc3339(t) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return Ok(Utc.from_utc_datetime(&naive));
        }
    }
    if !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && let Ok(f) = t.parse::<f64>()
    {
        return from_epoch(f).ok_or_else(|| format!("is out of range: {s:?}"));
    }
    Err(format!(
        "is not an RFC 3339 timestamp or epoch seconds/milliseconds: {s:?}"
    ))
}

fn from_epoch(f: f64) -> Option<DateTime<Utc>> {
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    let millis = if f >= EPOCH_MILLIS_THRESHOLD {
        f
    } else {
        f * 1000.0
    };
    if millis > 253_402_300_799_999.0 {
        return None; // past 9999-12-31
    }
    DateTime::from_timestamp_millis(millis.round() as i64)
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn timestamps_in_every_accepted_form() {
        let want = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
        for v in [
            json!("2025-03-01T12:00:00Z"),
            json!("2025-03-01T14:00:00+02:00"),
            json!("2025-03-01T12:00:00.000Z"),
            json!("2025-03-01 12:00:00"),
            json!("2025-03-01T12:00:00"),
            json!(1740830400),
            json!(1740830400000i64),
            json!(1740830400.0),
            json!("1740830400"),
        ] {
            assert_eq!(parse_timestamp(&v).unwrap(), want, "{v}");
        }
        let frac = parse_timestamp(&json!("2025-03-01T12:00:00.123456-05:30")).unwrap();
        assert_eq!(frac.timestamp_subsec_micros(), 123_456);
    }

    #[test]
    fn bad_timestamp_names_the_field() {
        let err = normalize(json!({"@timestamp": "yesterday"}), now()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTimestamp);
        assert!(err.message.contains("`@timestamp`"), "{}", err.message);
        let err = normalize(json!({"ts": true}), now()).unwrap_err();
        assert!(err.message.contains("`ts`"));
        let err = normalize(json!({"ts": -5}), now()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidTimestamp);
        // A bad later field is an error even when an earlier one is good.
        let err = normalize(
            json!({"timestamp": "2025-03-01T12:00:00Z", "ts": -1}),
            now(),
        )
        .unwrap_err();
        assert!(err.message.contains("`ts`"), "{}", err.message);
        // The first good one is the event time.
        let e = normalize(
            json!({"ts": 1740830400, "timestamp": "2025-03-01T13:00:00Z", "@timestamp": null}),
            now(),
        )
        .unwrap();
        assert_eq!(
            e.timestamp,
            Utc.with_ymd_and_hms(2025, 3, 1, 13, 0, 0).unwrap()
        );
    }

    #[test]
    fn missing_timestamp_is_receive_time() {
        let e = normalize(json!({"a": 1}), now()).unwrap();
        assert_eq!(e.timestamp, now());
        assert_eq!(e.kind, "event");
    }

    #[test]
    fn kind_inference_and_well_known_fields() {
        let log = normalize(
            json!({"level": "ERROR", "service": "api", "user_id": "u1"}),
            now(),
        )
        .unwrap();
        assert_eq!(
            (
                log.kind.as_str(),
                log.service.as_deref(),
                log.user.as_deref()
            ),
            ("log", Some("api"), Some("u1"))
        );
        assert_eq!(normalize(json!({"cpu": 90}), now()).unwrap().kind, "metric");
        assert_eq!(
            normalize(json!({"latency_ms": 9}), now()).unwrap().kind,
            "metric"
        );
        assert_eq!(
            normalize(json!({"transaction_id": "t"}), now())
                .unwrap()
                .kind,
            "transaction"
        );
        assert_eq!(
            normalize(json!({"kind": "audit", "level": "x"}), now())
                .unwrap()
                .kind,
            "audit"
        );
        assert!(normalize(json!({"user": "ann", "username": {"x": 1}}), now()).is_err());
        let u = normalize(json!({"username": "bob", "user_id": 7}), now()).unwrap();
        assert_eq!(u.user.as_deref(), Some("7"));
    }

    #[test]
    fn wrong_types_are_rejected() {
        assert_eq!(
            normalize(json!([1]), now()).unwrap_err().code,
            ErrorCode::EventNotObject
        );
        let e = normalize(json!({"service": {"x": 1}}), now()).unwrap_err();
        assert!(e.message.contains("`service`"));
        let e = normalize(json!({"kind": 5}), now()).unwrap_err();
        assert!(e.message.contains("`kind`"));
    }

    /// Numbers keep the text they were sent with (serde_json's
    /// `arbitrary_precision`): no rounding to f64, no reformatting; only an
    /// exponent's `E` is written `e`.
    #[test]
    fn numbers_are_kept_exactly_as_sent() {
        let text = r#"{"big":123456789012345678901234567890,"f":0.1,"g":1.50,"e":1e+2,"z":-0,"user_id":98765432109876543210987}"#;
        let e = normalize(serde_json::from_str(text).unwrap(), now()).unwrap();
        assert_eq!(serde_json::to_string(&e.payload).unwrap(), text);
        let upper: Value = serde_json::from_str("1E-7").unwrap();
        assert_eq!(upper.to_string(), "1e-7");
        assert_eq!(e.user.as_deref(), Some("98765432109876543210987"));
        // And they still read as numbers.
        assert_eq!(e.payload["big"].as_f64(), Some(1.2345678901234568e29));
        assert_eq!(e.payload["g"].as_f64(), Some(1.5));
        let t = normalize(
            serde_json::from_str(r#"{"ts":1740830400.250}"#).unwrap(),
            now(),
        );
        assert_eq!(t.unwrap().timestamp.timestamp_millis(), 1_740_830_400_250);
    }

    #[test]
    fn payload_is_kept_as_sent() {
        let v = json!({"z": 1, "a": {"b": [1, 2]}, "timestamp": "2025-03-01T12:00:00Z"});
        let e = normalize(v.clone(), now()).unwrap();
        assert_eq!(Value::Object(e.payload), v);
    }
}
