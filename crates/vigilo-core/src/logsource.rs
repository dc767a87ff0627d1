//! Where an event's [`Logsource`] comes from, shared by the server's ingest
//! and `vigilo rules test`, so both give an event the same logsource.
//!
//! Layers, lowest first; each dimension (`product`, `category`, `service`)
//! is taken from the highest layer that names it:
//!
//! 1. the source: the request's `?product=&category=&service=` or its
//!    `X-Vigilo-Logsource` header, a Kafka topic's or a queue's logsource,
//!    `rules test`'s flags;
//! 2. the configured derivation rules (`[[logsources.rules]]`), matched on
//!    the event's fields;
//! 3. a `logsource` object inside the event (kept in the payload).
//!
//! A layer that names a product other than the one below it also drops the
//! lower layer's `category` and `service`: they described the other
//! product's events. When no layer names a product, the product is
//! [`DEFAULT_PRODUCT`] (`vigilo`), the product the bundled packs' rules name.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::errors::ErrorCode;
use crate::event::{Logsource, NewEvent};
use crate::normalize::EventError;

/// The product of events whose source names none.
pub const DEFAULT_PRODUCT: &str = "vigilo";
/// Longest dimension value, in bytes.
pub const MAX_VALUE_LEN: usize = 64;
/// The dimensions, in the order they are written.
pub const DIMENSIONS: [&str; 3] = ["product", "category", "service"];
/// The event field holding an event's own logsource.
pub const EVENT_FIELD: &str = "logsource";

/// Why a dimension value is refused (`None` when it is fine): 1 to
/// [`MAX_VALUE_LEN`] ASCII letters, digits, `_`, `-` or `.`.
pub fn value_problem(v: &str) -> Option<String> {
    if v.is_empty() {
        return Some("must not be empty".into());
    }
    if v.len() > MAX_VALUE_LEN {
        return Some(format!("is {} bytes, longer than {MAX_VALUE_LEN}", v.len()));
    }
    if let Some(c) = v
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Some(format!(
            "holds {c:?}; use letters, digits, `_`, `-` and `.` only"
        ));
    }
    None
}

impl Logsource {
    /// The logsource of events that name nothing: `product: vigilo`.
    pub fn vigilo() -> Self {
        Logsource {
            product: Some(DEFAULT_PRODUCT.to_string()),
            ..Default::default()
        }
    }

    /// The value of dimension `dim` (one of [`DIMENSIONS`]).
    pub fn get(&self, dim: &str) -> Option<&str> {
        match dim {
            "product" => self.product.as_deref(),
            "category" => self.category.as_deref(),
            "service" => self.service.as_deref(),
            _ => None,
        }
    }

    fn slot(&mut self, dim: &str) -> Option<&mut Option<String>> {
        match dim {
            "product" => Some(&mut self.product),
            "category" => Some(&mut self.category),
            "service" => Some(&mut self.service),
            _ => None,
        }
    }

    /// `self` under `over`: each dimension `over` names wins; when `over`
    /// names another product than `self`, `self`'s category and service
    /// are dropped first.
    pub fn overlay(mut self, over: &Logsource) -> Logsource {
        if let (Some(p), Some(q)) = (&over.product, &self.product)
            && p != q
        {
            self.category = None;
            self.service = None;
        }
        for dim in DIMENSIONS {
            if let Some(v) = over.get(dim)
                && let Some(slot) = self.slot(dim)
            {
                *slot = Some(v.to_string());
            }
        }
        self
    }

    /// With `product: vigilo` when no product is named.
    pub fn or_default_product(mut self) -> Logsource {
        if self.product.is_none() {
            self.product = Some(DEFAULT_PRODUCT.to_string());
        }
        self
    }

    /// Every named value well-formed; the error names `{prefix}{dim}`.
    pub fn check(&self, prefix: &str) -> Result<(), String> {
        for dim in DIMENSIONS {
            if let Some(v) = self.get(dim)
                && let Some(why) = value_problem(v)
            {
                return Err(format!("`{prefix}{dim}` {why}"));
            }
        }
        Ok(())
    }

    /// Parse `product=aws,service=cloudtrail` (the header's and the CLI
    /// flag's form): comma-separated `dimension=value` pairs, each
    /// dimension at most once, spaces around items ignored. The error says
    /// what is wrong, without naming where the text came from.
    pub fn parse_pairs(text: &str) -> Result<Logsource, String> {
        let mut out = Logsource::default();
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((dim, value)) = item.split_once('=') else {
                return Err(format!("`{}` is not `dimension=value`", shorten(item)));
            };
            let (dim, value) = (dim.trim(), value.trim());
            let Some(slot) = out.slot(dim) else {
                return Err(format!(
                    "names `{}`; the dimensions are product, category and service",
                    shorten(dim)
                ));
            };
            if slot.is_some() {
                return Err(format!("names `{dim}` twice"));
            }
            if let Some(why) = value_problem(value) {
                return Err(format!("`{dim}` {why}"));
            }
            *slot = Some(value.to_string());
        }
        if out.is_empty() {
            return Err(
                "names no dimension; write for example `product=aws,service=cloudtrail`".into(),
            );
        }
        Ok(out)
    }

    /// `product=aws,service=cloudtrail`: the form [`Logsource::parse_pairs`] reads.
    pub fn to_pairs(&self) -> String {
        DIMENSIONS
            .iter()
            .filter_map(|d| self.get(d).map(|v| format!("{d}={v}")))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn shorten(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// A value a derivation rule compares a field with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    /// Whether a field holding `v` equals this value: strings exactly,
    /// numbers by value (so `EventID = 1` matches `1` and `"1"`), booleans
    /// as booleans.
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Scalar::Text(s), Value::String(t)) => s == t,
            (Scalar::Text(s), Value::Number(n)) => *s == n.to_string(),
            (Scalar::Bool(b), Value::Bool(c)) => b == c,
            (Scalar::Int(i), Value::Number(n)) => {
                n.as_i64() == Some(*i) || n.as_f64() == Some(*i as f64)
            }
            (Scalar::Int(i), Value::String(t)) => t.trim().parse::<i64>().ok() == Some(*i),
            (Scalar::Float(f), Value::Number(n)) => n.as_f64() == Some(*f),
            (Scalar::Float(f), Value::String(t)) => t.trim().parse::<f64>().ok() == Some(*f),
            _ => false,
        }
    }
}

/// What a derivation rule asks of one field: a value, or any of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Condition {
    One(Scalar),
    AnyOf(Vec<Scalar>),
}

impl Condition {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Condition::One(s) => s.matches(v),
            Condition::AnyOf(list) => list.iter().any(|s| s.matches(v)),
        }
    }
}

/// One `[[logsources.rules]]` entry: when every field of `when` holds its
/// value, the event's logsource gets the dimensions of `set`.
///
/// Keys of `when`: `kind`, `service` and `user` compare with the event's
/// kind (as sent or inferred), service and user; any other key names a
/// payload field, a dotted key reaching into nested objects when no field
/// has the dotted name itself (`winlog.event_id`). An empty `when` matches
/// every event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveRule {
    #[serde(default)]
    pub when: BTreeMap<String, Condition>,
    pub set: Logsource,
}

impl DeriveRule {
    fn matches(&self, e: &NewEvent) -> bool {
        self.when.iter().all(|(key, cond)| {
            let own = match key.as_str() {
                "kind" => Some(Value::String(e.kind.clone())),
                "service" => e.service.clone().map(Value::String),
                "user" => e.user.clone().map(Value::String),
                _ => None,
            };
            match own {
                Some(v) => cond.matches(&v),
                None => field(&e.payload, key).is_some_and(|v| cond.matches(v)),
            }
        })
    }
}

fn field<'a>(payload: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(v) = payload.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut cur = payload.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// The configured derivation rules, in order (`[[logsources.rules]]`);
/// cheap to clone. For each dimension the first matching rule that names
/// it decides it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<DeriveRule>", into = "Vec<DeriveRule>")]
pub struct DeriveRules(Arc<[DeriveRule]>);

impl TryFrom<Vec<DeriveRule>> for DeriveRules {
    type Error = String;

    fn try_from(rules: Vec<DeriveRule>) -> Result<Self, String> {
        for (i, r) in rules.iter().enumerate() {
            if r.set.is_empty() {
                return Err(format!(
                    "logsources.rules[{i}].set names no dimension (product, category or service)"
                ));
            }
            r.set.check(&format!("logsources.rules[{i}].set."))?;
        }
        Ok(DeriveRules(rules.into()))
    }
}

impl From<DeriveRules> for Vec<DeriveRule> {
    fn from(r: DeriveRules) -> Self {
        r.0.to_vec()
    }
}

impl DeriveRules {
    pub fn rules(&self) -> &[DeriveRule] {
        &self.0
    }

    /// The dimensions the rules give `e`.
    pub fn derive(&self, e: &NewEvent) -> Logsource {
        let mut out = Logsource::default();
        for r in self.0.iter() {
            if (out.product.is_some() || r.set.product.is_none())
                && (out.category.is_some() || r.set.category.is_none())
                && (out.service.is_some() || r.set.service.is_none())
            {
                continue; // nothing left for this rule to decide
            }
            if !r.matches(e) {
                continue;
            }
            for dim in DIMENSIONS {
                if let Some(v) = r.set.get(dim)
                    && let Some(slot) = out.slot(dim)
                    && slot.is_none()
                {
                    *slot = Some(v.to_string());
                }
            }
        }
        out
    }
}

/// The `logsource` object of an event, if it has one. It must be an object
/// whose keys are dimensions, each a well-formed string or null.
pub fn event_logsource(payload: &Map<String, Value>) -> Result<Option<Logsource>, EventError> {
    let bad = |message: String| EventError {
        code: ErrorCode::InvalidLogsource,
        message,
    };
    let Some(v) = payload.get(EVENT_FIELD) else {
        return Ok(None);
    };
    let obj = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => {
            return Err(bad(format!(
                "field `{EVENT_FIELD}` must be an object with product, category and service, \
                 got {}",
                match v {
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    Value::String(_) => "a string",
                    _ => "an array",
                }
            )));
        }
    };
    let mut out = Logsource::default();
    for (k, v) in obj {
        let Some(slot) = out.slot(k) else {
            return Err(bad(format!(
                "field `{EVENT_FIELD}.{}` is not a dimension; use product, category and service",
                shorten(k)
            )));
        };
        match v {
            Value::Null => {}
            Value::String(s) => {
                if let Some(why) = value_problem(s) {
                    return Err(bad(format!("field `{EVENT_FIELD}.{k}` {why}")));
                }
                *slot = Some(s.clone());
            }
            _ => {
                return Err(bad(format!(
                    "field `{EVENT_FIELD}.{k}` must be a string or null"
                )));
            }
        }
    }
    Ok(Some(out))
}

/// Give `e` its logsource: `source` (the request's or connector's), under
/// the rules' derivation, under the event's own `logsource` object, with
/// the default product when none is named. The payload is left as sent.
pub fn assign(source: &Logsource, rules: &DeriveRules, e: &mut NewEvent) -> Result<(), EventError> {
    let own = event_logsource(&e.payload)?;
    let mut ls = source.clone();
    if !rules.0.is_empty() {
        ls = ls.overlay(&rules.derive(e));
    }
    if let Some(own) = own {
        ls = ls.overlay(&own);
    }
    e.logsource = ls.or_default_product();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::normalize;
    use serde_json::json;

    fn ls(p: Option<&str>, c: Option<&str>, s: Option<&str>) -> Logsource {
        Logsource {
            product: p.map(Into::into),
            category: c.map(Into::into),
            service: s.map(Into::into),
        }
    }

    fn ev(v: Value) -> NewEvent {
        normalize(v, chrono::Utc::now()).unwrap()
    }

    fn rules(toml_like: Value) -> DeriveRules {
        serde_json::from_value(toml_like).unwrap()
    }

    #[test]
    fn pairs_round_trip_and_errors() {
        let l = Logsource::parse_pairs(" product=aws , service=cloudtrail").unwrap();
        assert_eq!(l, ls(Some("aws"), None, Some("cloudtrail")));
        assert_eq!(l.to_pairs(), "product=aws,service=cloudtrail");
        for bad in [
            "",
            "product",
            "vendor=x",
            "product=a,product=b",
            "product=a b",
            "service=",
        ] {
            assert!(Logsource::parse_pairs(bad).is_err(), "{bad:?}");
        }
        let e = Logsource::parse_pairs("category=Proc/Creation").unwrap_err();
        assert!(e.contains("`category`"), "{e}");
        assert!(value_problem(&"a".repeat(64)).is_none());
        assert!(value_problem(&"a".repeat(65)).is_some());
    }

    #[test]
    fn default_is_product_vigilo() {
        let mut e = ev(json!({"a": 1}));
        assign(&Logsource::default(), &DeriveRules::default(), &mut e).unwrap();
        assert_eq!(e.logsource, Logsource::vigilo());
        // A source naming only a service still gets the default product.
        let mut e = ev(json!({"a": 1}));
        assign(&ls(None, None, Some("x")), &DeriveRules::default(), &mut e).unwrap();
        assert_eq!(e.logsource, ls(Some("vigilo"), None, Some("x")));
    }

    #[test]
    fn event_object_over_rules_over_source() {
        let r = rules(json!([
            {"when": {"kind": "log"}, "set": {"category": "application"}},
            {"when": {"EventID": [1, 4688]}, "set": {"category": "process_creation"}},
            {"when": {"winlog.channel": "Security"}, "set": {"product": "windows", "service": "security"}},
        ]));
        let src = ls(Some("aws"), None, Some("cloudtrail"));
        // Source only.
        let mut e = ev(json!({"eventName": "x"}));
        assign(&src, &r, &mut e).unwrap();
        assert_eq!(e.logsource, src);
        // A rule adds a dimension the source left unnamed (kind is inferred).
        let mut e = ev(json!({"level": "info"}));
        assign(&src, &r, &mut e).unwrap();
        assert_eq!(
            e.logsource,
            ls(Some("aws"), Some("application"), Some("cloudtrail"))
        );
        // Numbers match by value, as number or text; nested fields by dotted key.
        let mut e = ev(json!({"EventID": "4688", "winlog": {"channel": "Security"}}));
        assign(&src, &r, &mut e).unwrap();
        // Another product drops the source's service; the rule's own
        // category (first matching rule) stays.
        assert_eq!(
            e.logsource,
            ls(Some("windows"), Some("process_creation"), Some("security"))
        );
        // The event's object wins over both, dimension by dimension.
        let mut e =
            ev(json!({"level": "info", "logsource": {"category": "webserver", "service": null}}));
        assign(&src, &r, &mut e).unwrap();
        assert_eq!(
            e.logsource,
            ls(Some("aws"), Some("webserver"), Some("cloudtrail"))
        );
        let mut e = ev(json!({"logsource": {"product": "okta"}}));
        assign(&src, &r, &mut e).unwrap();
        assert_eq!(e.logsource, ls(Some("okta"), None, None));
        // The payload is kept as sent.
        assert_eq!(e.payload["logsource"], json!({"product": "okta"}));
    }

    #[test]
    fn bad_event_objects_name_the_field() {
        for (v, field) in [
            (json!({"logsource": "syslog"}), "`logsource`"),
            (json!({"logsource": {"vendor": "x"}}), "`logsource.vendor`"),
            (json!({"logsource": {"product": 5}}), "`logsource.product`"),
            (
                json!({"logsource": {"service": "a/b"}}),
                "`logsource.service`",
            ),
        ] {
            let mut e = ev(v);
            let err = assign(&Logsource::default(), &DeriveRules::default(), &mut e).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidLogsource);
            assert!(err.message.contains(field), "{}", err.message);
        }
    }

    #[test]
    fn rules_are_checked_when_loaded() {
        let bad: Result<DeriveRules, _> = serde_json::from_value(json!([{"when": {}, "set": {}}]));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("logsources.rules[0].set")
        );
        let bad: Result<DeriveRules, _> =
            serde_json::from_value(json!([{"set": {"product": "a b"}}]));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("logsources.rules[0].set.product")
        );
    }
}
