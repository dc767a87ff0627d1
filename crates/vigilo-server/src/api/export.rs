//! Streamed exports of a listing as CSV or NDJSON.
//!
//! A listing route that supports exports takes `format=csv|ndjson` (or
//! `Accept: text/csv` / `application/x-ndjson`), and answers with every row
//! its filters select, paging parameters ignored. The rows are read page by
//! page through a keyset scan (each page resumes after the last row of the
//! one before, so a million rows cost one index seek per page, never an
//! OFFSET) and each page is encoded and handed to the connection before the
//! next one is read: memory stays that of one page, however long the
//! export.
//!
//! A route plugs in with [`negotiate`] and [`export`]:
//!
//! ```ignore
//! if let Some(format) = export::negotiate(p.format, &headers) {
//!     let storage = state.storage.clone();
//!     return export::export(format, "findings", move |after| {
//!         let storage = storage.clone();
//!         let q = q.clone();
//!         Box::pin(async move { storage.scan_findings(&q, after, export::PAGE_ROWS).await })
//!     }, |f: &Finding| f.cursor())
//!     .await;
//! }
//! ```
//!
//! CSV follows RFC 4180 (a header row, `CRLF` line ends, fields holding a
//! comma, a quote or a line break in quotes, quotes doubled) and defuses
//! spreadsheet formulas: a text cell that starts with `=`, `+`, `-`, `@`, a
//! tab or a carriage return gets a leading `'`, so a spreadsheet shows it as
//! text instead of running it. Numbers are written as numbers.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use vigilo_storage::StorageError;

use crate::error::{ApiError, ApiResult};

/// Rows read (and held) per page of an export.
pub const PAGE_ROWS: u32 = 500;

/// The `format` query parameter of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl ExportFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }
}

/// Text for a listing's `format` parameter in the OpenAPI document.
pub const FORMAT_DOC: &str = "Export every row the filters select instead of a JSON page: \
    `csv` (RFC 4180, header row) or `ndjson` (one object per line), streamed as an attachment; \
    `page` and `page_size` are then ignored. Without it, `Accept: text/csv` or \
    `Accept: application/x-ndjson` (preferred over `application/json`) asks for the same.";

/// The export a request asks for, if any: `format` wins; otherwise the
/// `Accept` header, when it prefers CSV or NDJSON to JSON (by q-value;
/// wildcards count for JSON, and a tie goes to JSON). `None`: the JSON page.
pub fn negotiate(format: Option<ExportFormat>, headers: &HeaderMap) -> Option<ExportFormat> {
    if format.is_some() {
        return format;
    }
    let mut json = 0.0f32;
    let mut csv = 0.0f32;
    let mut ndjson = 0.0f32;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for range in text.split(',') {
            let mut parts = range.split(';');
            let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let slot = match essence.as_str() {
                "application/json" | "application/*" | "*/*" => &mut json,
                "text/csv" => &mut csv,
                "application/x-ndjson" | "application/ndjson" => &mut ndjson,
                _ => continue,
            };
            *slot = slot.max(q);
        }
    }
    if csv > json && csv >= ndjson {
        Some(ExportFormat::Csv)
    } else if ndjson > json {
        Some(ExportFormat::Ndjson)
    } else {
        None
    }
}

/// One CSV cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// An empty field.
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(Cow<'a, str>),
    /// RFC 3339, UTC, as in the JSON answers.
    Time(DateTime<Utc>),
    /// A JSON value as JSON text (numbers as themselves).
    Json(&'a Value),
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(Cow::Borrowed(s))
    }
}

impl<'a> From<Option<&'a str>> for Cell<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Cell::Null, Cell::from)
    }
}

impl From<String> for Cell<'_> {
    fn from(s: String) -> Self {
        Cell::Text(Cow::Owned(s))
    }
}

impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}

impl From<DateTime<Utc>> for Cell<'_> {
    fn from(t: DateTime<Utc>) -> Self {
        Cell::Time(t)
    }
}

/// A row an export can write: as JSON (NDJSON, its `Serialize` form, the
/// same as in the JSON listing) and as CSV cells.
pub trait ExportRow: Serialize + Send + 'static {
    /// The CSV header, in cell order.
    fn columns() -> &'static [&'static str];
    /// This row's cells, one per column.
    fn cells(&self) -> Vec<Cell<'_>>;
}

/// A page of rows, being read.
pub type PageFuture<T> = Pin<Box<dyn Future<Output = Result<Vec<T>, StorageError>> + Send>>;

/// Characters that make a spreadsheet read a cell as a formula.
fn is_formula_start(c: char) -> bool {
    matches!(c, '=' | '+' | '-' | '@' | '\t' | '\r')
}

/// Append `text` as one CSV field: formulas defused, quoted when needed.
fn push_text(out: &mut Vec<u8>, text: &str) {
    let defuse = text.starts_with(is_formula_start);
    let quote = text.contains([',', '"', '\r', '\n']);
    if quote {
        out.push(b'"');
    }
    if defuse {
        out.push(b'\'');
    }
    if quote {
        for b in text.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(text.as_bytes());
    }
}

fn push_cell(out: &mut Vec<u8>, cell: &Cell<'_>) {
    use std::io::Write as _;
    match cell {
        Cell::Null => {}
        // Writing to a Vec cannot fail.
        Cell::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Cell::Float(v) if v.is_finite() => {
            let _ = write!(out, "{v}");
        }
        Cell::Float(_) => {}
        Cell::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Cell::Text(t) => push_text(out, t),
        Cell::Time(t) => push_text(out, &t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        Cell::Json(Value::Number(n)) => {
            let _ = write!(out, "{n}");
        }
        Cell::Json(v) => push_text(out, &v.to_string()),
    }
}

/// Append one CSV record (with its `CRLF`).
pub fn push_csv_record<'c>(out: &mut Vec<u8>, cells: impl IntoIterator<Item = Cell<'c>>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_cell(out, &cell);
    }
    out.extend_from_slice(b"\r\n");
}

/// Encode one page of rows (the CSV header first when `header`).
fn encode_page<T: ExportRow>(format: ExportFormat, rows: &[T], header: bool) -> Bytes {
    let mut out = Vec::with_capacity(rows.len() * 256 + 64);
    match format {
        ExportFormat::Csv => {
            if header {
                push_csv_record(&mut out, T::columns().iter().map(|c| Cell::from(*c)));
            }
            for row in rows {
                push_csv_record(&mut out, row.cells());
            }
        }
        ExportFormat::Ndjson => {
            for row in rows {
                match serde_json::to_writer(&mut out, row) {
                    Ok(()) => out.push(b'\n'),
                    Err(e) => tracing::error!(error = %e, "export row could not be encoded"),
                }
            }
        }
    }
    Bytes::from(out)
}

/// `<name>-<UTC time>.<ext>`, e.g. `events-20261201T223000Z.csv`.
pub fn file_name(name: &str, format: ExportFormat, now: DateTime<Utc>) -> String {
    format!(
        "{name}-{}.{}",
        now.format("%Y%m%dT%H%M%SZ"),
        format.extension()
    )
}

struct Scan<T, K, F, C> {
    fetch: F,
    cursor_of: C,
    format: ExportFormat,
    /// The first page, read before the answer started.
    first: Option<Vec<T>>,
    after: Option<K>,
    done: bool,
}

/// Answer with every row of a keyset scan, streamed in `format`.
///
/// `fetch(after)` reads the page after the cursor (`None`: the first page);
/// an empty page ends the export. `cursor_of(row)` is the cursor after the
/// last row of a page. The first page is read before the answer starts, so
/// a storage failure there is a plain `500 storage_error`; a failure later
/// is logged and cuts the response short (the chunked body never ends, so
/// a client cannot mistake it for a whole export).
pub async fn export<T, K, F, C>(
    format: ExportFormat,
    name: &str,
    mut fetch: F,
    cursor_of: C,
) -> ApiResult<Response>
where
    T: ExportRow,
    K: Send + 'static,
    F: FnMut(Option<K>) -> PageFuture<T> + Send + 'static,
    C: Fn(&T) -> K + Send + 'static,
{
    let first = fetch(None).await.map_err(ApiError::from)?;
    let scan = Scan {
        fetch,
        cursor_of,
        format,
        done: false,
        first: Some(first),
        after: None,
    };
    let stream = futures_util::stream::unfold(scan, |mut s| async move {
        if s.done {
            return None;
        }
        let header = s.first.is_some();
        let rows = match s.first.take() {
            Some(rows) => rows,
            None => match (s.fetch)(s.after.take()).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "export stopped: storage failure");
                    s.done = true;
                    return Some((Err(std::io::Error::other(e.to_string())), s));
                }
            },
        };
        match rows.last() {
            Some(last) => s.after = Some((s.cursor_of)(last)),
            None if header => s.done = true,
            None => return None,
        }
        let chunk = encode_page(s.format, &rows, header);
        Some((Ok::<_, std::io::Error>(chunk), s))
    });
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name(name, format, Utc::now())
    );
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(cells: Vec<Cell<'_>>) -> String {
        let mut out = Vec::new();
        push_csv_record(&mut out, cells);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        assert_eq!(
            csv(vec!["plain".into(), "a,b".into(), "say \"hi\"".into()]),
            "plain,\"a,b\",\"say \"\"hi\"\"\"\r\n"
        );
        assert_eq!(csv(vec!["two\nlines".into()]), "\"two\nlines\"\r\n");
        assert_eq!(
            csv(vec![
                "=1+1".into(),
                "+x".into(),
                "-y".into(),
                "@SUM(A1)".into(),
                "\tt".into()
            ]),
            "'=1+1,'+x,'-y,'@SUM(A1),'\tt\r\n"
        );
        assert_eq!(
            csv(vec!["=HYPERLINK(\"x\",\"y\")".into()]),
            "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\r\n"
        );
        assert_eq!(
            csv(vec![
                Cell::Int(-5),
                Cell::Float(-1.5),
                Cell::Null,
                Cell::Bool(true)
            ]),
            "-5,-1.5,,true\r\n",
            "numbers stay numbers"
        );
        let v = serde_json::json!({"a": "b,c"});
        assert_eq!(csv(vec![Cell::Json(&v)]), "\"{\"\"a\"\":\"\"b,c\"\"}\"\r\n");
        let n = serde_json::json!(-3);
        assert_eq!(csv(vec![Cell::Json(&n)]), "-3\r\n");
    }

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn the_parameter_wins_then_the_preferred_type() {
        let none = HeaderMap::new();
        assert_eq!(negotiate(None, &none), None);
        assert_eq!(
            negotiate(Some(ExportFormat::Ndjson), &accept("text/csv")),
            Some(ExportFormat::Ndjson)
        );
        assert_eq!(
            negotiate(None, &accept("text/csv")),
            Some(ExportFormat::Csv)
        );
        assert_eq!(
            negotiate(None, &accept("application/x-ndjson")),
            Some(ExportFormat::Ndjson)
        );
        assert_eq!(negotiate(None, &accept("text/csv, application/json")), None);
        assert_eq!(
            negotiate(None, &accept("application/json;q=0.5, text/csv")),
            Some(ExportFormat::Csv)
        );
        assert_eq!(
            negotiate(
                None,
                &accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
            ),
            None,
            "a browser gets JSON"
        );
        assert_eq!(negotiate(None, &accept("*/*")), None);
    }

    #[test]
    fn file_names_carry_the_utc_time() {
        let t = DateTime::parse_from_rfc3339("2026-12-01T22:30:05Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            file_name("events", ExportFormat::Csv, t),
            "events-20261201T223005Z.csv"
        );
        assert_eq!(
            file_name("iam-audits", ExportFormat::Ndjson, t),
            "iam-audits-20261201T223005Z.ndjson"
        );
    }
}
