//! Query parameters shared by the listing and dashboard routes: how each is
//! parsed, and the OpenAPI schema that says exactly what is accepted, so
//! the document and the checks cannot drift apart.

use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ObjectBuilder, RefOr};
use vigilo_storage::RuleIdFilter;

use crate::error::ApiError;

/// Latest epoch value accepted: 9999-12-31T23:59:59.999Z in milliseconds
/// (values below 10,000,000,000 are seconds, the rest milliseconds).
pub const MAX_EPOCH: u64 = 253_402_300_799_999;

/// Epoch seconds or milliseconds as digits, optionally with a fraction. At
/// most 14 digits before the point, so every value it allows is in range
/// (a JSON Schema pattern cannot bound a number; 15-digit values up to
/// [`MAX_EPOCH`] are accepted too, and the integer form says so).
pub const EPOCH_PATTERN: &str = r"^[0-9]{1,14}(\.[0-9]+)?$";

fn schema_from(value: serde_json::Value) -> RefOr<Schema> {
    // The schemas here are literal JSON Schema; a literal that does not
    // deserialize is a programming error caught by the OpenAPI tests.
    serde_json::from_value(value)
        .unwrap_or_else(|_| RefOr::T(Schema::Object(ObjectBuilder::new().build())))
}

/// `from` / `to`: an RFC 3339 date-time or epoch seconds/milliseconds.
pub fn time_schema() -> RefOr<Schema> {
    schema_from(json!({
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": EPOCH_PATTERN},
            {"type": "integer", "minimum": 0, "maximum": MAX_EPOCH},
        ]
    }))
}

/// A comma-separated list of enum values (`severity=high,critical`).
fn enum_list_schema(values: &[&str]) -> RefOr<Schema> {
    schema_from(json!({
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": values},
    }))
}

pub fn severity_list_schema() -> RefOr<Schema> {
    let names: Vec<&str> = vigilo_core::Severity::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    enum_list_schema(&names)
}

pub fn status_list_schema() -> RefOr<Schema> {
    enum_list_schema(&["open", "acknowledged", "resolved", "suppressed"])
}

/// A logsource dimension value (`product`, `category`, `service`): 1 to 64
/// letters, digits, `_`, `-` or `.`.
pub fn logsource_value_schema() -> RefOr<Schema> {
    schema_from(json!({
        "type": "string",
        "minLength": 1,
        "maxLength": vigilo_core::logsource::MAX_VALUE_LEN,
        "pattern": LOGSOURCE_VALUE_PATTERN,
    }))
}

/// What [`vigilo_core::logsource::value_problem`] accepts.
pub const LOGSOURCE_VALUE_PATTERN: &str = "^[A-Za-z0-9_.-]{1,64}$";

/// `X-Vigilo-Logsource`: `product=aws,service=cloudtrail`, the dimensions
/// in this order, each at most once (the parser also takes any order and
/// spaces around items).
pub fn logsource_header_schema() -> RefOr<Schema> {
    let v = "[A-Za-z0-9_.-]{1,64}";
    schema_from(json!({
        "type": "string",
        "pattern": format!(
            "^(product={v}(,category={v})?(,service={v})?|category={v}(,service={v})?|service={v})$"
        ),
    }))
}

/// `page`: 1 or more.
pub fn page_schema() -> RefOr<Schema> {
    schema_from(json!({"type": "integer", "minimum": 1, "maximum": u32::MAX, "default": 1}))
}

/// `page_size`: 1 to [`vigilo_storage::MAX_PAGE_SIZE`].
pub fn page_size_schema() -> RefOr<Schema> {
    schema_from(json!({
        "type": "integer",
        "minimum": 1,
        "maximum": vigilo_storage::MAX_PAGE_SIZE,
        "default": 50,
    }))
}

/// Parse an optional time query parameter (RFC 3339 or epoch s/ms). An
/// empty value is an error, like any other value that is not a time.
pub fn time_param(field: &str, v: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(s) = v else { return Ok(None) };
    // The event-time parser reads digit strings as epoch seconds/ms too.
    vigilo_core::normalize::parse_timestamp(&serde_json::Value::String(s.to_string()))
        .map(Some)
        .map_err(|why| ApiError::query(format!("query parameter `{field}` {why}")))
}

/// A listing's optional lower and upper time bounds.
pub type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `from` and `to` of a listing: either may be absent; when both are given
/// `from` must not be after `to`.
pub fn time_bounds(from: Option<&str>, to: Option<&str>) -> Result<Bounds, ApiError> {
    let from_t = time_param("from", from)?;
    let to_t = time_param("to", to)?;
    if let (Some(f), Some(t)) = (from_t, to_t)
        && f > t
    {
        return Err(ApiError::query(format!(
            "query parameter `from` ({}) is after `to` ({})",
            f.to_rfc3339(),
            t.to_rfc3339()
        )));
    }
    Ok((from_t, to_t))
}

/// The default span of a window: the summary's 30 days, the dashboard's
/// 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Days30,
    Hours24,
}

impl Span {
    pub fn duration(self) -> Duration {
        match self {
            Span::Days30 => Duration::days(30),
            Span::Hours24 => Duration::hours(24),
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            Span::Days30 => "30 days",
            Span::Hours24 => "24 hours",
        }
    }
}

/// A window with defaults: `to` defaults to now, `from` to `span` before
/// `to`. `from` must be before `to`; the error says which bound was a
/// default.
pub fn window(from: Option<&str>, to: Option<&str>, span: Span) -> Result<Window, ApiError> {
    let to_given = time_param("to", to)?;
    let from_given = time_param("from", from)?;
    let to_t = to_given.unwrap_or_else(Utc::now);
    let from_t = from_given.unwrap_or(to_t - span.duration());
    if from_t >= to_t {
        let to_text = match to_given {
            Some(t) => format!("`to` ({})", t.to_rfc3339()),
            None => format!("`to`, which defaults to now ({})", to_t.to_rfc3339()),
        };
        return Err(ApiError::query(format!(
            "query parameter `from` ({}) must be before {to_text}",
            from_t.to_rfc3339()
        )));
    }
    let default_note = match (from_given, to_given) {
        (None, None) => format!(" (the default window, the last {})", span.text()),
        (None, Some(_)) => format!(" (`from` defaults to {} before `to`)", span.text()),
        (Some(_), None) => " (`to` defaults to now)".to_string(),
        (Some(_), Some(_)) => String::new(),
    };
    Ok(Window {
        from: from_t,
        to: to_t,
        default_note,
    })
}

/// A resolved time window, and how it was defaulted (for error messages).
#[derive(Debug, Clone)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// " (the default window, the last 24 hours)", or "" when both bounds
    /// were given.
    pub default_note: String,
}

/// Validate `page` (≥ 1, default 1) and `page_size` (1..=500, default 50).
pub fn paging(page: Option<u32>, page_size: Option<u32>) -> Result<(u32, u32), ApiError> {
    let page = page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::query("query parameter `page` must be 1 or more"));
    }
    let size = page_size.unwrap_or(50);
    if size == 0 || size > vigilo_storage::MAX_PAGE_SIZE {
        return Err(ApiError::query(format!(
            "query parameter `page_size` must be between 1 and {}",
            vigilo_storage::MAX_PAGE_SIZE
        )));
    }
    Ok((page, size))
}

/// A comma-separated list of enum values, at least one; an empty value or
/// item (`severity=`, `high,,low`) is an error (leave the parameter out to
/// mean any).
pub fn enum_list<T>(field: &str, v: Option<&str>) -> Result<Vec<T>, ApiError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    if v.is_empty() {
        return Err(ApiError::query(format!(
            "query parameter `{field}` is empty; list at least one value or leave it out"
        )));
    }
    let mut out = Vec::new();
    for item in v.split(',') {
        match item.parse::<T>() {
            Ok(x) => out.push(x),
            Err(e) => return Err(ApiError::query(format!("query parameter `{field}`: {e}"))),
        }
    }
    Ok(out)
}

/// `rule_id`: an exact id, or a prefix when it ends with `*` (`iam.*`).
pub fn rule_id_filter(v: Option<String>) -> Option<RuleIdFilter> {
    v.map(|r| match r.strip_suffix('*') {
        Some(prefix) => RuleIdFilter::Prefix(prefix.to_string()),
        None => RuleIdFilter::Exact(r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigilo_core::Severity;

    #[test]
    fn every_schema_here_is_valid_openapi() {
        for s in [
            time_schema(),
            severity_list_schema(),
            status_list_schema(),
            page_schema(),
            page_size_schema(),
        ] {
            let text = serde_json::to_value(&s).unwrap();
            assert!(
                text.get("type").is_some() || text.get("anyOf").is_some(),
                "schema lost its content: {text}"
            );
        }
    }

    #[test]
    fn lists_parse_and_name_the_field() {
        let got: Vec<Severity> = enum_list("severity", Some("high,critical")).unwrap();
        assert_eq!(got, vec![Severity::High, Severity::Critical]);
        let none: Vec<Severity> = enum_list("severity", None).unwrap();
        assert!(none.is_empty());
        assert!(enum_list::<Severity>("severity", Some("")).is_err());
        assert!(enum_list::<Severity>("severity", Some(",,")).is_err());
        assert!(enum_list::<Severity>("severity", Some("high,")).is_err());
        let err = enum_list::<Severity>("severity", Some("high,urgent")).unwrap_err();
        assert!(err.message.contains("`severity`") && err.message.contains("urgent"));
    }

    #[test]
    fn rule_ids_ending_in_a_star_are_prefixes() {
        assert_eq!(
            rule_id_filter(Some("iam.*".into())),
            Some(RuleIdFilter::Prefix("iam.".into()))
        );
        assert_eq!(
            rule_id_filter(Some("iam.admin".into())),
            Some(RuleIdFilter::Exact("iam.admin".into()))
        );
    }

    #[test]
    fn bounds_and_windows_refuse_backwards_ranges_and_say_the_default() {
        assert!(time_bounds(Some("2026-01-02T00:00:00Z"), Some("2026-01-01T00:00:00Z")).is_err());
        assert!(time_bounds(Some("2026-01-01T00:00:00Z"), Some("2026-01-01T00:00:00Z")).is_ok());
        assert!(time_param("from", Some("")).is_err());
        let err = window(Some("9999-01-01T00:00:00Z"), None, Span::Hours24).unwrap_err();
        assert!(err.message.contains("defaults to now"), "{}", err.message);
        let w = window(None, None, Span::Hours24).unwrap();
        assert!(w.default_note.contains("last 24 hours"));
        let w = window(
            Some("2026-01-01T00:00:00Z"),
            Some("2026-01-02T00:00:00Z"),
            Span::Hours24,
        )
        .unwrap();
        assert_eq!(w.default_note, "");
    }
}
