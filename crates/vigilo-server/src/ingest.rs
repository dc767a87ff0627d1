//! Decoding an ingest request body into validated events: JSON object, JSON
//! array or NDJSON, optionally gzip-compressed. All or nothing: one bad event
//! rejects the request with every problem listed (up to [`MAX_DETAILS`]).

use std::io::Read;

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::Value;
use serde_json::value::RawValue;
use vigilo_core::normalize::normalize;
use vigilo_core::{ErrorCode, NewEvent};

use crate::error::{ApiError, ErrorDetail};

/// Most per-event problems listed in one error response.
pub const MAX_DETAILS: usize = 100;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_event_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Ndjson,
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Format::Json);
    };
    let ct = ct.to_str().unwrap_or_default();
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "" | "application/json" | "text/json" => Ok(Format::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines" => Ok(Format::Ndjson),
        _ => Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "header `content-type` `{ct}` is not supported; use application/json or application/x-ndjson"
            ),
        )),
    }
}

fn decompress(headers: &HeaderMap, body: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let Some(enc) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let enc = enc.to_str().unwrap_or_default().trim().to_ascii_lowercase();
    match enc.as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
            let mut dec = flate2::read::MultiGzDecoder::new(&body[..]).take(limit as u64 + 1);
            dec.read_to_end(&mut out).map_err(|e| {
                ApiError::new(
                    ErrorCode::MalformedBody,
                    format!("body is not valid gzip: {e}"),
                )
            })?;
            if out.len() > limit {
                return Err(too_large(limit));
            }
            Ok(Bytes::from(out))
        }
        other => Err(ApiError::new(
            ErrorCode::UnsupportedEncoding,
            format!("header `content-encoding` `{other}` is not supported; use gzip or none"),
        )),
    }
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body exceeds the limit of {limit} bytes (ingest.max_body_bytes)"),
    )
}

/// Decode and validate a whole request.
pub fn decode(
    headers: &HeaderMap,
    body: Bytes,
    limits: Limits,
    received_at: DateTime<Utc>,
) -> Result<Vec<NewEvent>, ApiError> {
    let format = format_of(headers)?;
    if body.len() > limits.max_body_bytes {
        return Err(too_large(limits.max_body_bytes));
    }
    let body = decompress(headers, body, limits.max_body_bytes)?;
    let mut errors = Errors::default();
    let mut events = Vec::new();
    match format {
        Format::Json => {
            let raws = split_json(&body)?;
            events.reserve(raws.len());
            for (index, raw) in raws.iter().enumerate() {
                let text = raw.get();
                if let Some(ev) = one(index, text.as_bytes(), limits, received_at, &mut errors) {
                    events.push(ev);
                }
            }
        }
        Format::Ndjson => {
            let mut index = 0;
            for line in body.split(|b| *b == b'\n') {
                let line = trim_ascii(line);
                if line.is_empty() {
                    continue;
                }
                if let Some(ev) = one(index, line, limits, received_at, &mut errors) {
                    events.push(ev);
                }
                index += 1;
            }
        }
    }
    if errors.count > 0 {
        let n = errors.count;
        let too_big = errors
            .details
            .iter()
            .all(|d| d.code == ErrorCode::EventTooLarge.code());
        let code = if too_big {
            ErrorCode::EventTooLarge
        } else {
            ErrorCode::InvalidEvents
        };
        return Err(ApiError::new(
            code,
            format!(
                "{n} of {} events are invalid; nothing was stored",
                events.len() + n
            ),
        )
        .with_details(errors.details));
    }
    if events.is_empty() {
        return Err(ApiError::new(
            ErrorCode::EmptyBatch,
            "request body holds no events",
        ));
    }
    Ok(events)
}

#[derive(Default)]
struct Errors {
    count: usize,
    details: Vec<ErrorDetail>,
}

impl Errors {
    fn push(&mut self, index: usize, code: ErrorCode, message: String) {
        self.count += 1;
        if self.details.len() < MAX_DETAILS {
            self.details.push(ErrorDetail {
                index,
                code: code.code().to_string(),
                message,
            });
        }
    }
}

fn one(
    index: usize,
    text: &[u8],
    limits: Limits,
    received_at: DateTime<Utc>,
    errors: &mut Errors,
) -> Option<NewEvent> {
    if text.len() > limits.max_event_bytes {
        errors.push(
            index,
            ErrorCode::EventTooLarge,
            format!(
                "event is {} bytes, over the limit of {} (ingest.max_event_bytes)",
                text.len(),
                limits.max_event_bytes
            ),
        );
        return None;
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(
                index,
                ErrorCode::MalformedBody,
                format!("invalid JSON: {e}"),
            );
            return None;
        }
    };
    match normalize(value, received_at) {
        Ok(ev) => Some(ev),
        Err(e) => {
            errors.push(index, e.code, e.message);
            None
        }
    }
}

fn split_json(body: &[u8]) -> Result<Vec<&RawValue>, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let malformed = |e: serde_json::Error| {
        ApiError::new(
            ErrorCode::MalformedBody,
            format!("body is not valid JSON: {e}"),
        )
    };
    match first {
        None => Ok(Vec::new()),
        Some(b'[') => serde_json::from_slice::<Vec<&RawValue>>(body).map_err(malformed),
        Some(_) => serde_json::from_slice::<&RawValue>(body)
            .map(|r| vec![r])
            .map_err(malformed),
    }
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::io::Write;

    const LIMITS: Limits = Limits {
        max_body_bytes: 1 << 20,
        max_event_bytes: 1024,
    };

    fn hdrs(ct: Option<&str>, enc: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(ct) = ct {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        if let Some(enc) = enc {
            h.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_str(enc).unwrap(),
            );
        }
        h
    }

    fn dec(h: &HeaderMap, body: &[u8]) -> Result<Vec<NewEvent>, ApiError> {
        decode(h, Bytes::copy_from_slice(body), LIMITS, Utc::now())
    }

    #[test]
    fn object_array_and_ndjson() {
        assert_eq!(dec(&hdrs(None, None), br#"{"a":1}"#).unwrap().len(), 1);
        assert_eq!(
            dec(
                &hdrs(Some("application/json"), None),
                br#"[{"a":1},{"b":2}]"#
            )
            .unwrap()
            .len(),
            2
        );
        let nd = b"{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":3}";
        assert_eq!(
            dec(&hdrs(Some("application/x-ndjson"), None), nd)
                .unwrap()
                .len(),
            3
        );
    }

    #[test]
    fn gzip_bodies() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"{\"a\":1}\n{\"a\":2}\n").unwrap();
        let gz = enc.finish().unwrap();
        let evs = dec(&hdrs(Some("application/x-ndjson"), Some("gzip")), &gz).unwrap();
        assert_eq!(evs.len(), 2);
        let err = dec(&hdrs(None, Some("gzip")), b"not gzip").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedBody);
        let err = dec(&hdrs(None, Some("br")), b"{}").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedEncoding);
    }

    #[test]
    fn gzip_bomb_is_capped() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; 2 << 20]).unwrap();
        let gz = enc.finish().unwrap();
        let err = dec(&hdrs(None, Some("gzip")), &gz).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn every_bad_event_is_listed() {
        let nd = b"{\"a\":1}\n[1]\n{\"ts\":\"soon\"}\n{bad\n";
        let err = dec(&hdrs(Some("application/x-ndjson"), None), nd).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidEvents);
        let got: Vec<_> = err
            .details
            .iter()
            .map(|d| (d.index, d.code.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, "event_not_object"),
                (2, "invalid_timestamp"),
                (3, "malformed_body")
            ]
        );
        assert!(err.details[1].message.contains("`ts`"));
    }

    #[test]
    fn limits_and_empty_bodies() {
        let big = format!("{{\"m\":\"{}\"}}", "x".repeat(2000));
        let err = dec(&hdrs(None, None), big.as_bytes()).unwrap_err();
        assert_eq!(err.code, ErrorCode::EventTooLarge);
        assert_eq!(err.details[0].index, 0);
        assert_eq!(
            dec(&hdrs(None, None), b"  ").unwrap_err().code,
            ErrorCode::EmptyBatch
        );
        assert_eq!(
            dec(&hdrs(None, None), b"[]").unwrap_err().code,
            ErrorCode::EmptyBatch
        );
        assert_eq!(
            dec(&hdrs(None, None), b"{").unwrap_err().code,
            ErrorCode::MalformedBody
        );
        let err = dec(&hdrs(Some("text/csv"), None), b"a,b").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedMediaType);
    }
}
