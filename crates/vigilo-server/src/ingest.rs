//! Decoding an ingest request body into validated events: JSON object, JSON
//! array or NDJSON, optionally gzip-compressed. All or nothing: one bad event
//! rejects the request with every problem listed (up to [`MAX_DETAILS`]).
//!
//! Work is bounded before it is spent: the media type and encoding are
//! checked before the body is read; gzip is inflated in chunks, each counted
//! against `ingest.max_body_bytes` and the global [`DecodeBudget`]; the
//! top-level events are counted while the bytes arrive, so a body holding
//! more than the per-request cap is refused as soon as the count passes it,
//! before any event is built. Bodies past [`INLINE_DECODE_BYTES`] (and every
//! gzip body) are decoded on the blocking pool, so the async workers keep
//! answering other requests.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use vigilo_core::logsource::{self, DeriveRules};
use vigilo_core::normalize::EventError;
use vigilo_core::{ErrorCode, Logsource, NewEvent};

use crate::error::{ApiError, ErrorDetail};

/// Most per-event problems listed in one error response.
pub const MAX_DETAILS: usize = 100;

/// Identity-encoded bodies up to this size are decoded on the async worker
/// (well under a millisecond of parsing); larger ones, and every gzip body
/// (which may inflate a thousandfold), go to the blocking pool.
pub const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// How long a request waits for its share of the decode budget before it is
/// answered 503 `overloaded`: about one decode of a large body.
pub const BUDGET_WAIT: Duration = Duration::from_millis(250);

/// Bytes inflated (or scanned) per step; each step is counted against the
/// limits.
const INFLATE_CHUNK: usize = 32 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_event_bytes: usize,
    /// Most events in one request ...
    pub max_events: usize,
    /// ... and the config key that sets that cap, for the error message.
    pub max_events_key: &'static str,
    /// Advertised in `Retry-After` when the decode budget is exhausted.
    pub retry_after_secs: u64,
}

/// What gives a request's (or a connector read's) events their logsource:
/// the source's own (query parameters or `X-Vigilo-Logsource`, a topic's
/// or a queue's), under the configured derivation rules, under each event's
/// `logsource` object (see [`vigilo_core::logsource`]).
#[derive(Debug, Clone, Default)]
pub struct LogsourceContext {
    pub source: Logsource,
    pub rules: DeriveRules,
}

impl LogsourceContext {
    pub fn new(source: Logsource, rules: DeriveRules) -> Self {
        LogsourceContext { source, rules }
    }
}

/// The events one decoded top-level JSON value of a request stands for,
/// each normalized and given its logsource. A native cloud audit log file
/// (CloudTrail's `{"Records": [...]}`, Azure's `{"records": [...]}`) stands
/// for its records; native records get their shape's logsource under the
/// source's (see [`vigilo_core::cloud`]).
pub fn events_of(
    value: Value,
    received_at: DateTime<Utc>,
    ctx: &LogsourceContext,
) -> Result<Vec<NewEvent>, EventError> {
    let mut out = Vec::with_capacity(1);
    vigilo_core::cloud::unpack_assigned(value, &ctx.source, &ctx.rules, received_at, &mut out)?;
    Ok(out)
}

/// The query parameters that name a request's logsource.
pub const LOGSOURCE_PARAMS: [&str; 3] = logsource::DIMENSIONS;
/// The header that names a request's logsource.
pub const LOGSOURCE_HEADER: &str = "x-vigilo-logsource";

/// A request's logsource, from `?product=&category=&service=` or the
/// `X-Vigilo-Logsource: product=aws,service=cloudtrail` header (both: each dimension the header names wins;
/// a malformed value is 400 `invalid_logsource`). Query parameters other than those and
/// `also_allowed` are refused (400 `invalid_query`), so a misspelt
/// dimension is not silently ignored.
pub fn request_logsource(
    query: Option<&str>,
    headers: &HeaderMap,
    also_allowed: &[&str],
) -> Result<Logsource, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::InvalidLogsource, m);
    let mut from_query = Logsource::default();
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "product" => &mut from_query.product,
            "category" => &mut from_query.category,
            "service" => &mut from_query.service,
            other if also_allowed.contains(&other) => continue,
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!(
                        "unknown query parameter `{shown}`; a request's logsource is given                          with product, category and service"
                    ),
                ));
            }
        };
        if slot.is_some() {
            return Err(bad(format!(
                "query parameter `{k}` is given more than once"
            )));
        }
        if let Some(why) = logsource::value_problem(&v) {
            return Err(bad(format!("query parameter `{k}` {why}")));
        }
        *slot = Some(v.into_owned());
    }
    let mut values = headers.get_all(LOGSOURCE_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(from_query);
    };
    if values.next().is_some() {
        return Err(bad(format!(
            "header `{LOGSOURCE_HEADER}` is sent more than once"
        )));
    }
    let text = value
        .to_str()
        .map_err(|_| bad(format!("header `{LOGSOURCE_HEADER}` is not ASCII text")))?;
    let header = Logsource::parse_pairs(text)
        .map_err(|why| bad(format!("header `{LOGSOURCE_HEADER}` {why}")))?;
    // Both given: each dimension the header names wins over the query's.
    Ok(Logsource {
        product: header.product.or(from_query.product),
        category: header.category.or(from_query.category),
        service: header.service.or(from_query.service),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Ndjson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

/// What the request's headers say its body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Media {
    pub format: Format,
    pub encoding: Encoding,
}

/// The `application/json` body of an ingest request, for the OpenAPI
/// document: one event object, or an array of them. Never built: bodies
/// are decoded by hand.
pub struct IngestBody;

impl utoipa::PartialSchema for IngestBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, OneOfBuilder};
        // Any JSON object whose well-known fields hold what normalization
        // reads (`EventInput`).
        let event = || utoipa::openapi::Ref::from_schema_name("EventInput");
        OneOfBuilder::new()
            .item(event())
            .item(
                ArrayBuilder::new()
                    .items(event())
                    .min_items(Some(1))
                    .description(Some("Events, each a JSON object (at least one)")),
            )
            .into()
    }
}

impl utoipa::ToSchema for IngestBody {}

/// Media types read as one JSON value (an object or an array of them).
const JSON_TYPES: [&str; 2] = ["application/json", "text/json"];
/// Media types read as newline-delimited JSON.
const NDJSON_TYPES: [&str; 5] = [
    "application/x-ndjson",
    "application/ndjson",
    "application/jsonl",
    "application/x-jsonlines",
    "application/jsonlines",
];

/// Check `Content-Type` and `Content-Encoding` (before reading the body).
///
/// A missing `Content-Type` means JSON: the API is JSON throughout, the body
/// is still parsed strictly, and clients that post JSON without the header
/// keep working. A header that is present must be a well-formed media type
/// (`type/subtype` tokens, optional `; name=value` parameters) of a supported
/// type, with `charset`, if given, `utf-8`.
pub fn media(headers: &HeaderMap) -> Result<Media, ApiError> {
    Ok(Media {
        format: format_of(headers)?,
        encoding: encoding_of(headers)?,
    })
}

fn single<'h>(
    headers: &'h HeaderMap,
    name: &header::HeaderName,
) -> Result<Option<&'h HeaderValue>, ()> {
    let mut all = headers.get_all(name).iter();
    let first = all.next();
    if all.next().is_some() {
        return Err(());
    }
    Ok(first)
}

/// A header value for an error message: printable ASCII, at most 80 chars.
fn shown(v: &HeaderValue) -> String {
    let s: String = v
        .as_bytes()
        .iter()
        .take(80)
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    if v.len() > 80 { format!("{s}…") } else { s }
}

fn format_of(headers: &HeaderMap) -> Result<Format, ApiError> {
    let unsupported = |why: String| {
        ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("header `content-type` {why}; use application/json or application/x-ndjson"),
        )
    };
    let Ok(value) = single(headers, &header::CONTENT_TYPE) else {
        return Err(unsupported("is sent more than once".into()));
    };
    let Some(value) = value else {
        return Ok(Format::Json);
    };
    let mt = parse_media_type(value.as_bytes())
        .map_err(|why| unsupported(format!("`{}` is not a media type: {why}", shown(value))))?;
    if let Some((_, charset)) = mt
        .params
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("charset"))
        && !charset.eq_ignore_ascii_case("utf-8")
    {
        return Err(unsupported(format!(
            "`{}` names charset `{charset}`; events are UTF-8 only",
            shown(value)
        )));
    }
    let essence = format!("{}/{}", mt.kind, mt.subtype).to_ascii_lowercase();
    if JSON_TYPES.contains(&essence.as_str()) {
        Ok(Format::Json)
    } else if NDJSON_TYPES.contains(&essence.as_str()) {
        Ok(Format::Ndjson)
    } else {
        Err(unsupported(format!(
            "`{}` is not a supported media type",
            shown(value)
        )))
    }
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
    let unsupported = |what: String| {
        ApiError::new(
            ErrorCode::UnsupportedEncoding,
            format!("header `content-encoding` {what} is not supported; use gzip or none"),
        )
    };
    let Ok(value) = single(headers, &header::CONTENT_ENCODING) else {
        return Err(unsupported("sent more than once".into()));
    };
    let Some(value) = value else {
        return Ok(Encoding::Identity);
    };
    let Ok(text) = value.to_str() else {
        return Err(unsupported(format!("`{}`", shown(value))));
    };
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(Encoding::Identity),
        "gzip" | "x-gzip" => Ok(Encoding::Gzip),
        _ => Err(unsupported(format!("`{}`", shown(value)))),
    }
}

/// A parsed media type (RFC 9110 §8.3.1): `type "/" subtype *( OWS ";" OWS
/// [ parameter ] )`, parameter values a token or a quoted string.
#[derive(Debug, PartialEq, Eq)]
struct MediaType<'a> {
    kind: &'a str,
    subtype: &'a str,
    params: Vec<(&'a str, String)>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `type/subtype` of a `Content-Type` value, lowercase, parsed as
/// strictly as ingest parses it; the error says what is malformed.
pub(crate) fn media_essence(value: &HeaderValue) -> Result<String, &'static str> {
    let mt = parse_media_type(value.as_bytes())?;
    Ok(format!("{}/{}", mt.kind, mt.subtype).to_ascii_lowercase())
}

fn parse_media_type(s: &[u8]) -> Result<MediaType<'_>, &'static str> {
    let mut p = Cursor { s, i: 0 };
    p.ows();
    let kind = p.token().ok_or("no type before `/`")?;
    if !p.eat(b'/') {
        return Err("no `/` after the type");
    }
    let subtype = p.token().ok_or("no subtype after `/`")?;
    let mut params = Vec::new();
    loop {
        p.ows();
        if p.done() {
            break;
        }
        if !p.eat(b';') {
            return Err("unexpected text after the subtype");
        }
        p.ows();
        if p.done() || p.peek() == Some(b';') {
            continue; // an empty parameter is allowed
        }
        let name = p.token().ok_or("a parameter has no name")?;
        if !p.eat(b'=') {
            return Err("a parameter has no `=`");
        }
        let value = if p.peek() == Some(b'"') {
            p.quoted().ok_or("a quoted parameter value is not closed")?
        } else {
            p.token().ok_or("a parameter has no value")?.to_string()
        };
        params.push((name, value));
    }
    Ok(MediaType {
        kind,
        subtype,
        params,
    })
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        // Token characters are ASCII, so this cannot fail.
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .filter(|t| !t.is_empty())
    }
    fn quoted(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = String::new();
        loop {
            let b = self.peek()?;
            self.i += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    out.push(char::from(e));
                }
                b'\t' | 0x20..=0x7e => out.push(char::from(b)),
                _ => return None,
            }
        }
    }
}

pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request body exceeds the limit of {limit} bytes (ingest.max_body_bytes)"),
    )
}

fn too_many(limits: &Limits) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "request holds more than {} events, the most one request may carry ({})",
            limits.max_events, limits.max_events_key
        ),
    )
}

/// Bytes of request bodies being decoded at once, shared by all requests.
#[derive(Debug, Clone)]
pub struct DecodeBudget {
    permits: Arc<Semaphore>,
    total: u32,
    /// Decodes running on the blocking pool at once: one per core. More
    /// would not finish sooner, and would crowd out the async workers.
    threads: Arc<Semaphore>,
}

/// A request's share of the [`DecodeBudget`], released on drop.
#[derive(Debug)]
pub struct Reservation {
    budget: DecodeBudget,
    permit: OwnedSemaphorePermit,
    held: u32,
}

impl DecodeBudget {
    pub fn new(bytes: usize) -> Self {
        let total = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        DecodeBudget {
            permits: Arc::new(Semaphore::new(total as usize)),
            total,
            threads: Arc::new(Semaphore::new(cores)),
        }
    }

    /// The budget in bytes.
    pub fn total(&self) -> usize {
        self.total as usize
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }

    fn clamp(&self, bytes: usize) -> u32 {
        u32::try_from(bytes).unwrap_or(u32::MAX).min(self.total)
    }

    /// Reserve `bytes` (at most the whole budget), waiting up to `wait`.
    pub async fn reserve(&self, bytes: usize, wait: Duration) -> Option<Reservation> {
        let n = self.clamp(bytes);
        let acquire = self.permits.clone().acquire_many_owned(n);
        let permit = tokio::time::timeout(wait, acquire).await.ok()?.ok()?;
        Some(Reservation {
            budget: self.clone(),
            permit,
            held: n,
        })
    }
}

impl Reservation {
    /// Hold at least `bytes` in all (at most the whole budget), polling for
    /// up to `wait`. Blocks the thread: only for decoding off the async
    /// workers.
    fn grow_blocking(&mut self, bytes: usize, wait: Duration) -> bool {
        let want = self.budget.clamp(bytes);
        if want <= self.held {
            return true;
        }
        let extra = want - self.held;
        let deadline = Instant::now() + wait;
        loop {
            match self.budget.permits.clone().try_acquire_many_owned(extra) {
                Ok(more) => {
                    self.permit.merge(more);
                    self.held = want;
                    return true;
                }
                Err(TryAcquireError::Closed) => return false,
                Err(TryAcquireError::NoPermits) if Instant::now() >= deadline => return false,
                Err(TryAcquireError::NoPermits) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }
}

fn overloaded(budget: &DecodeBudget, limits: &Limits) -> ApiError {
    ApiError::new(
        ErrorCode::Overloaded,
        format!(
            "the ingest decode budget of {} bytes is in use (ingest.decode_budget_bytes); retry after the advertised delay",
            budget.total()
        ),
    )
    .retry_after(limits.retry_after_secs)
}

/// Reserve the body's bytes of the decode budget, waiting up to
/// [`BUDGET_WAIT`]; 503 `overloaded` when the budget stays in use.
pub async fn reserve(
    budget: &DecodeBudget,
    body_len: usize,
    limits: &Limits,
) -> Result<Reservation, ApiError> {
    budget
        .reserve(body_len, BUDGET_WAIT)
        .await
        .ok_or_else(|| overloaded(budget, limits))
}

/// Decode a whole request: inline when it is small and identity-encoded,
/// else on the blocking pool, one decode per core at a time (the others wait
/// their turn). The reservation is held until decoding ends.
pub async fn decode_request(
    media: Media,
    body: bytes::Bytes,
    limits: Limits,
    received_at: DateTime<Utc>,
    ctx: LogsourceContext,
    mut reservation: Reservation,
) -> Result<Vec<NewEvent>, ApiError> {
    if media.encoding == Encoding::Identity && body.len() <= INLINE_DECODE_BYTES {
        // Identity bodies never grow past the bytes reserved for them.
        return decode(media, &body, &limits, received_at, &ctx, &mut |_| Ok(()));
    }
    let budget = reservation.budget.clone();
    let Ok(thread) = budget.threads.clone().acquire_owned().await else {
        return Err(overloaded(&budget, &limits));
    };
    let task = tokio::task::spawn_blocking(move || {
        let _thread = thread;
        let mut grow = |bytes: usize| {
            if reservation.grow_blocking(bytes, BUDGET_WAIT) {
                Ok(())
            } else {
                Err(overloaded(&budget, &limits))
            }
        };
        decode(media, &body, &limits, received_at, &ctx, &mut grow)
    });
    match task.await {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "ingest decode task failed");
            Err(ApiError::internal(
                "decoding the request failed; see server logs",
            ))
        }
    }
}

/// Decode and validate a whole request body. `reserve(n)` is called as a
/// gzip body inflates, with the bytes it holds so far (compressed plus
/// inflated); an error from it ends decoding.
pub fn decode(
    media: Media,
    body: &[u8],
    limits: &Limits,
    received_at: DateTime<Utc>,
    ctx: &LogsourceContext,
    reserve: &mut dyn FnMut(usize) -> Result<(), ApiError>,
) -> Result<Vec<NewEvent>, ApiError> {
    if body.len() > limits.max_body_bytes {
        return Err(too_large(limits.max_body_bytes));
    }
    let inflated;
    let text: &[u8] = match media.encoding {
        Encoding::Identity => {
            // In steps, so a body far past the cap stops near its start.
            let mut counter = Counter::new(media.format, limits.max_events);
            let mut start = 0;
            while start < body.len() {
                let end = body.len().min(start + INFLATE_CHUNK);
                if !counter.feed(&body[..end], start) {
                    return Err(too_many(limits));
                }
                start = end;
            }
            body
        }
        Encoding::Gzip => {
            inflated = inflate(body, media.format, limits, reserve)?;
            &inflated
        }
    };
    parse(media.format, text, limits, received_at, ctx)
}

/// Inflate a gzip body in chunks, refusing it as soon as it passes the body
/// limit or the event cap, or the decode budget cannot cover it.
fn inflate(
    body: &[u8],
    format: Format,
    limits: &Limits,
    reserve: &mut dyn FnMut(usize) -> Result<(), ApiError>,
) -> Result<Vec<u8>, ApiError> {
    let limit = limits.max_body_bytes;
    let mut counter = Counter::new(format, limits.max_events);
    let mut dec = flate2::read::MultiGzDecoder::new(body);
    let mut out: Vec<u8> = Vec::with_capacity(INFLATE_CHUNK.min(limit.saturating_add(1)));
    loop {
        let start = out.len();
        // Read at most one byte past the limit, to tell "at" from "over".
        let room = (limit.saturating_add(1) - start).min(INFLATE_CHUNK);
        reserve(body.len().saturating_add(start + room))?;
        out.resize(start + room, 0);
        let n = loop {
            match dec.read(&mut out[start..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ApiError::new(
                        ErrorCode::MalformedBody,
                        format!("body is not valid gzip: {e}"),
                    ));
                }
            }
        };
        out.truncate(start + n);
        if n == 0 {
            return Ok(out);
        }
        if out.len() > limit {
            return Err(too_large(limit));
        }
        if !counter.feed(&out, start) {
            return Err(too_many(limits));
        }
    }
}

/// Counts the top-level events of a body as its bytes arrive, building
/// nothing: NDJSON lines holding more than whitespace, or the elements of a
/// top-level JSON array (any other JSON value is one event).
///
/// While a cheap upper bound (newlines + 1, or commas + 1) stays within the
/// cap nothing more is done; once it passes the cap the exact count is taken
/// from the start, and kept from then on.
struct Counter {
    format: Format,
    max: usize,
    bound: usize,
    exact: bool,
    count: usize,
    /// NDJSON: the current line holds a non-whitespace byte.
    line_seen: bool,
    /// JSON scanner state.
    started: bool,
    in_array: bool,
    done: bool,
    depth: usize,
    in_string: bool,
    escaped: bool,
    expect: bool,
}

impl Counter {
    fn new(format: Format, max: usize) -> Self {
        Counter {
            format,
            max,
            bound: 1,
            exact: false,
            count: 0,
            line_seen: false,
            started: false,
            in_array: false,
            done: false,
            depth: 0,
            in_string: false,
            escaped: false,
            expect: false,
        }
    }

    /// `buf[..from]` was fed before; count `buf[from..]`. False once the
    /// count passes the cap.
    fn feed(&mut self, buf: &[u8], from: usize) -> bool {
        if !self.exact {
            let sep = match self.format {
                Format::Json => b',',
                Format::Ndjson => b'\n',
            };
            self.bound += buf[from..].iter().filter(|&&b| b == sep).count();
            if self.bound <= self.max {
                return true;
            }
            self.exact = true;
            return self.scan(buf);
        }
        self.scan(&buf[from..])
    }

    fn scan(&mut self, bytes: &[u8]) -> bool {
        match self.format {
            Format::Ndjson => self.scan_lines(bytes),
            Format::Json => self.scan_json(bytes),
        }
    }

    fn scan_lines(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if b == b'\n' {
                self.line_seen = false;
            } else if !self.line_seen && !b.is_ascii_whitespace() {
                self.line_seen = true;
                self.count += 1;
                if self.count > self.max {
                    return false;
                }
            }
        }
        true
    }

    fn scan_json(&mut self, bytes: &[u8]) -> bool {
        let mut i = 0;
        while i < bytes.len() && !self.done {
            if self.in_string {
                // Skip to the next quote or backslash.
                let rest = &bytes[i..];
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                match rest.iter().position(|&b| b == b'"' || b == b'\\') {
                    None => return true,
                    Some(k) => {
                        if rest[k] == b'"' {
                            self.in_string = false;
                        } else {
                            self.escaped = true;
                        }
                        i += k + 1;
                        continue;
                    }
                }
            }
            let b = bytes[i];
            i += 1;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b',' => {
                    if self.depth == 1 {
                        self.expect = true;
                    }
                }
                b']' | b'}' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 && self.in_array {
                        self.done = true;
                    }
                }
                _ => {
                    if !self.started {
                        self.started = true;
                        if b == b'[' {
                            self.in_array = true;
                            self.depth = 1;
                            self.expect = true;
                            continue;
                        }
                        // Any other top-level value is one event, whatever follows.
                        self.count = 1;
                        self.done = true;
                        continue;
                    } else if self.in_array && self.depth == 1 && self.expect {
                        self.expect = false;
                        self.count += 1;
                        if self.count > self.max {
                            return false;
                        }
                    }
                    match b {
                        b'"' => self.in_string = true,
                        b'[' | b'{' => self.depth += 1,
                        _ => {}
                    }
                }
            }
        }
        true
    }
}

/// Split the decoded text into events and validate each one.
fn parse(
    format: Format,
    body: &[u8],
    limits: &Limits,
    received_at: DateTime<Utc>,
    ctx: &LogsourceContext,
) -> Result<Vec<NewEvent>, ApiError> {
    let mut errors = Errors::default();
    let mut events = Vec::new();
    match format {
        Format::Json => {
            let raws = split_json(body)?;
            events.reserve(raws.len());
            for (index, raw) in raws.iter().enumerate() {
                let text = raw.get();
                if let Some(evs) = one(
                    index,
                    text.as_bytes(),
                    limits,
                    received_at,
                    ctx,
                    &mut errors,
                ) {
                    events.extend(evs);
                }
            }
        }
        Format::Ndjson => {
            let mut index = 0;
            for line in body.split(|b| *b == b'\n') {
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                if let Some(evs) = one(index, line, limits, received_at, ctx, &mut errors) {
                    events.extend(evs);
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
    limits: &Limits,
    received_at: DateTime<Utc>,
    ctx: &LogsourceContext,
    errors: &mut Errors,
) -> Option<Vec<NewEvent>> {
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
    match events_of(value, received_at, ctx) {
        Ok(evs) => Some(evs),
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

/// The answer to a batch of `n` events the pipeline refused, counted in
/// `vigilo_events_rejected_total`; `unit` names what held them (`request`,
/// `message`).
pub fn refused(
    e: crate::pipeline::SubmitError,
    n: usize,
    unit: &str,
    retry_after_secs: u64,
) -> ApiError {
    use crate::pipeline::SubmitError;
    let reason = match &e {
        SubmitError::Overloaded => "overloaded",
        SubmitError::TooBig(..) => "too_big",
        SubmitError::ShuttingDown => "shutting_down",
        SubmitError::Storage(_) => "storage",
    };
    metrics::counter!("vigilo_events_rejected_total", "reason" => reason).increment(n as u64);
    match e {
        SubmitError::Overloaded => ApiError::new(
            ErrorCode::Overloaded,
            "ingest queue is full; retry after the advertised delay",
        )
        .retry_after(retry_after_secs),
        SubmitError::TooBig(n, cap) => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "{unit} holds {n} events, more than the ingest queue capacity of {cap} (ingest.queue_capacity)"
            ),
        ),
        SubmitError::ShuttingDown => {
            ApiError::new(ErrorCode::ShuttingDown, "server is shutting down").retry_after(5)
        }
        SubmitError::Storage(e) => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: Limits = Limits {
        max_body_bytes: 1 << 20,
        max_event_bytes: 1024,
        max_events: 1000,
        max_events_key: "ingest.max_events_per_request",
        retry_after_secs: 1,
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

    fn dec_with(h: &HeaderMap, body: &[u8], limits: &Limits) -> Result<Vec<NewEvent>, ApiError> {
        decode(
            media(h)?,
            body,
            limits,
            Utc::now(),
            &LogsourceContext::default(),
            &mut |_| Ok(()),
        )
    }

    fn dec(h: &HeaderMap, body: &[u8]) -> Result<Vec<NewEvent>, ApiError> {
        dec_with(h, body, &LIMITS)
    }

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
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
        let gz = gz(b"{\"a\":1}\n{\"a\":2}\n");
        let evs = dec(&hdrs(Some("application/x-ndjson"), Some("gzip")), &gz).unwrap();
        assert_eq!(evs.len(), 2);
        let err = dec(&hdrs(None, Some("gzip")), b"not gzip").unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedBody);
        let err = dec(&hdrs(None, Some("br")), b"{}").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedEncoding);
    }

    #[test]
    fn gzip_bomb_is_capped() {
        let gz = gz(&vec![b' '; 2 << 20]);
        let err = dec(&hdrs(None, Some("gzip")), &gz).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(err.message.contains("ingest.max_body_bytes"), "{err}");
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

    #[test]
    fn media_types_are_parsed_strictly() {
        for ok in [
            "application/json",
            "Application/JSON",
            " application/json ",
            "application/json;",
            "application/json ; ; charset=UTF-8",
            "application/json; charset=\"utf-8\"",
            "application/json;foo=bar",
            "text/json",
        ] {
            assert_eq!(
                format_of(&hdrs(Some(ok), None)).unwrap(),
                Format::Json,
                "{ok}"
            );
        }
        assert_eq!(
            format_of(&hdrs(Some("application/x-ndjson; charset=utf-8"), None)).unwrap(),
            Format::Ndjson
        );
        // Missing: JSON.
        assert_eq!(format_of(&HeaderMap::new()).unwrap(), Format::Json);
        for bad in [
            "",
            ";",
            "garbage",
            "application",
            "application/",
            "/json",
            "application/json/x",
            "application/json x",
            "application/json; charset",
            "application/json; charset=",
            "application/json; charset=\"utf-8",
            "application/json; charset=latin1",
            "application/jsonx",
            "text/plain",
            "application/x-www-form-urlencoded",
        ] {
            let err = format_of(&hdrs(Some(bad), None)).unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsupportedMediaType, "{bad:?}");
            assert!(err.message.contains("`content-type`"), "{}", err.message);
        }
        let mut twice = hdrs(Some("application/json"), None);
        twice.append(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        assert_eq!(
            format_of(&twice).unwrap_err().code,
            ErrorCode::UnsupportedMediaType
        );
        let latin = HeaderValue::from_bytes(b"application/json\xe9").unwrap();
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, latin);
        assert_eq!(
            format_of(&h).unwrap_err().code,
            ErrorCode::UnsupportedMediaType
        );
        let mut h = hdrs(None, Some("gzip"));
        h.append(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert_eq!(
            encoding_of(&h).unwrap_err().code,
            ErrorCode::UnsupportedEncoding
        );
    }

    fn count(format: Format, body: &[u8]) -> usize {
        let mut c = Counter::new(format, usize::MAX);
        c.exact = true;
        assert!(c.feed(body, 0));
        c.count
    }

    #[test]
    fn the_counter_counts_top_level_events_exactly() {
        use Format::*;
        for (format, body, want) in [
            (Json, &br#"{"a":[1,2,{"b":"x,y"}]}"#[..], 1),
            (Json, br#"[]"#, 0),
            (
                Json,
                br#" [ {} , {"a":"],[\"{"} , [1,2], "s,t", 3.5e2 ] "#,
                5,
            ),
            (Json, br#"[{"a":"\\"},{"b":"\\\""}]"#, 2),
            (Json, br#"[{}]  [{},{}]"#, 1),
            (Json, br#"17"#, 1),
            (Ndjson, b"{}\n\n  \r\n{\"a\":\"x\"}\n[1,\n", 3),
            (Ndjson, b"", 0),
        ] {
            assert_eq!(
                count(format, body),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // Fed in pieces of every size, the count is the same.
        let body = br#"[{"a":"x\"y,]"},{"b":[1,{"c":2}]},"z"]"#;
        for step in 1..body.len() {
            let mut c = Counter::new(Json, usize::MAX);
            c.exact = true;
            let mut start = 0;
            while start < body.len() {
                let end = body.len().min(start + step);
                assert!(c.feed(&body[..end], start));
                start = end;
            }
            assert_eq!(c.count, 3, "step {step}");
        }
        // The cheap bound switches to the exact count from the start.
        let mut c = Counter::new(Json, 2);
        assert!(c.feed(br#"[{"a":1,"b":2,"c":3}"#, 0));
        assert!(c.exact && c.count == 1);
        assert!(!c.feed(br#"[{"a":1,"b":2,"c":3},{},{}]"#, 20));
        // A top-level value that is not an array is one event: the scan
        // stops at its first byte.
        let mut c = Counter::new(Json, 2);
        assert!(c.feed(br#"{"a":1,"b":2,"c":3}"#, 0));
        assert!(c.exact && c.done && c.count == 1);
    }

    /// Random JSON arrays (strings full of quotes, escapes, brackets and
    /// commas; nested values), fed in random steps: the count is always the
    /// array's length, and decoding never panics on any prefix of them.
    #[test]
    fn the_counter_agrees_with_serde_on_random_documents() {
        struct Lcg(u64);
        impl Lcg {
            fn below(&mut self, n: u64) -> u64 {
                self.0 = self
                    .0
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (self.0 >> 33) % n
            }
        }
        fn value(r: &mut Lcg, depth: u32) -> Value {
            let pieces = ["\"", "\\", ",", "[", "]", "{", "}", "a", "é", "\n"];
            match r.below(if depth > 3 { 4 } else { 6 }) {
                0 => Value::Null,
                1 => serde_json::json!(r.below(1000)),
                2 | 3 => {
                    let n = r.below(6);
                    let s: String = (0..n)
                        .map(|_| pieces[r.below(pieces.len() as u64) as usize])
                        .collect();
                    Value::String(s)
                }
                4 => Value::Array((0..r.below(4)).map(|_| value(r, depth + 1)).collect()),
                _ => {
                    let mut m = serde_json::Map::new();
                    for i in 0..r.below(4) {
                        m.insert(format!("k{i},]"), value(r, depth + 1));
                    }
                    Value::Object(m)
                }
            }
        }
        let mut r = Lcg(7);
        for _ in 0..300 {
            let n = r.below(12) as usize;
            let doc: Vec<Value> = (0..n).map(|_| value(&mut r, 0)).collect();
            let text = serde_json::to_vec(&doc).unwrap();
            let step = 1 + r.below(16) as usize;
            let mut c = Counter::new(Format::Json, usize::MAX);
            c.exact = true;
            let mut start = 0;
            while start < text.len() {
                let end = text.len().min(start + step);
                assert!(c.feed(&text[..end], start));
                start = end;
            }
            assert_eq!(c.count, n, "{}", String::from_utf8_lossy(&text));
            let cut = r.below(text.len() as u64 + 1) as usize;
            for format in ["application/json", "application/x-ndjson"] {
                let _ = dec(&hdrs(Some(format), None), &text[..cut]);
                let _ = dec(&hdrs(Some(format), Some("gzip")), &gz(&text[..cut]));
            }
        }
    }

    #[test]
    fn bodies_over_the_event_cap_are_refused_before_they_are_inflated() {
        let limits = Limits {
            max_body_bytes: 16 << 20,
            max_events: 10_000,
            ..LIMITS
        };
        let mut body = b"[".to_vec();
        body.extend(b"{},".repeat(5_500_000));
        body.extend(b"{}]");
        let gz = gz(&body);
        let mut most = 0;
        let err = decode(
            media(&hdrs(None, Some("gzip"))).unwrap(),
            &gz,
            &limits,
            Utc::now(),
            &LogsourceContext::default(),
            &mut |n| {
                most = most.max(n);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        assert!(
            err.message.contains("10000") && err.message.contains("ingest.max_events_per_request"),
            "{err}"
        );
        // Only the first step or two was inflated.
        assert!(most < gz.len() + 3 * INFLATE_CHUNK, "{most} bytes reserved");

        // The same uncompressed, and as NDJSON; exactly at the cap is fine.
        let err = dec_with(&hdrs(None, None), &body, &limits).unwrap_err();
        assert_eq!(err.code, ErrorCode::PayloadTooLarge);
        let nd = b"{}\n".repeat(10_001);
        let h = hdrs(Some("application/x-ndjson"), None);
        assert_eq!(
            dec_with(&h, &nd, &limits).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(dec_with(&h, &nd[3..], &limits).unwrap().len(), 10_000);
        let blank = b"\n".repeat(100_000);
        assert_eq!(
            dec_with(&h, &blank, &limits).unwrap_err().code,
            ErrorCode::EmptyBatch
        );
    }

    #[test]
    fn an_exhausted_decode_budget_answers_overloaded() {
        let h = hdrs(None, Some("gzip"));
        let gz = gz(&b"{}\n".repeat(1000));
        let ctx = LogsourceContext::default();
        let err = decode(
            media(&h).unwrap(),
            &gz,
            &LIMITS,
            Utc::now(),
            &ctx,
            &mut |_| Err(overloaded(&DecodeBudget::new(10), &LIMITS)),
        )
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::Overloaded);
        assert_eq!(err.retry_after, Some(1));
        assert!(err.message.contains("ingest.decode_budget_bytes"), "{err}");
    }

    #[tokio::test]
    async fn the_decode_budget_is_shared_and_released() {
        let budget = DecodeBudget::new(100);
        let wait = Duration::from_millis(20);
        let a = budget.reserve(60, wait).await.expect("first fits");
        assert!(budget.reserve(60, wait).await.is_none(), "over the budget");
        // More than the whole budget is clamped to it, so it can wait its turn.
        let mut b = budget.reserve(30, wait).await.expect("30 fits");
        assert!(!b.grow_blocking(50, wait));
        drop(a);
        assert!(b.grow_blocking(1000, wait));
        assert_eq!(budget.available(), 0);
        drop(b);
        assert_eq!(budget.available(), 100);
    }
}
