//! Native cloud audit log shapes: AWS CloudTrail, Okta System Log, GitHub
//! audit log, Azure activity and sign-in logs, Google Cloud audit logs
//! (and Google Workspace logs exported to Cloud Logging).
//!
//! A shape is read when the request's logsource names it, or when the
//! object carries the shape's unambiguous markers (below). Each shape has
//! the logsource SigmaHQ's rules for it name, so those rules apply
//! unchanged. An ordinary Vigilo event is never misfiled: an object with a
//! `kind` field, or with a Vigilo timestamp field the shape does not use
//! itself, is normalized as it is sent.
//!
//! | shape | logsource | markers | time | service | user |
//! |---|---|---|---|---|---|
//! | CloudTrail | aws / cloudtrail | `eventVersion`, `eventTime`, `eventName`, `eventSource` ending `.amazonaws.com` | `eventTime` | `eventSource` | `userIdentity.arn`, `.userName`, `.principalId`, `.invokedBy` |
//! | Okta | okta / okta | `published`, `eventType`, `actor` object, `uuid` | `published` | `okta` | `actor.alternateId`, `actor.id` |
//! | GitHub | github / audit | `action`, `_document_id`, `@timestamp` or `created_at` | `@timestamp`, `created_at` | `github` | `actor` |
//! | Azure activity | azure / activitylogs | `time`, `resourceId`, `operationName`, `category` (not a sign-in category); or `Type: AzureActivity` with `TimeGenerated` | `time`, `TimeGenerated` | the resource provider | `caller`, `Caller` |
//! | Azure sign-in | azure / signinlogs | as above with a sign-in `category`; or `Type: SigninLogs` | `time`, `TimeGenerated` | `Entra ID` | `properties.userPrincipalName`, `UserPrincipalName` |
//! | GCP audit | gcp / gcp.audit | `protoPayload` with an AuditLog `@type` or `serviceName` and `methodName` | `timestamp` | `protoPayload.serviceName` | `protoPayload.authenticationInfo.principalEmail` |
//! | Workspace admin / login | gcp / google_workspace.admin, google_workspace.login | as GCP audit, `serviceName` `admin.googleapis.com` / `login.googleapis.com` | as GCP | as GCP | as GCP |
//!
//! Every shape's events get `kind: audit`. Files that wrap records,
//! CloudTrail's `{"Records": [...]}` (as written to S3) and Azure's
//! `{"records": [...]}` (storage and Event Hub exports), are unpacked
//! into their records when the object holds nothing else and every record
//! is of the family (or the request names the shape).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::errors::ErrorCode;
use crate::event::{Logsource, NewEvent};
use crate::logsource::{self, DeriveRules};
use crate::normalize::{EventError, TIMESTAMP_FIELDS, normalize, parse_timestamp, type_name};

/// The kind given to every event of a native shape.
pub const AUDIT_KIND: &str = "audit";

/// A native audit log shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    CloudTrail,
    Okta,
    GitHub,
    AzureActivity,
    AzureSignIn,
    GcpAudit,
    WorkspaceAdmin,
    WorkspaceLogin,
}

/// Azure diagnostic categories of sign-in records.
const AZURE_SIGNIN_CATEGORIES: [&str; 4] = [
    "SignInLogs",
    "NonInteractiveUserSignInLogs",
    "ServicePrincipalSignInLogs",
    "ManagedIdentitySignInLogs",
];

/// Log Analytics table names of sign-in records.
const AZURE_SIGNIN_TABLES: [&str; 4] = [
    "SigninLogs",
    "AADNonInteractiveUserSignInLogs",
    "AADServicePrincipalSignInLogs",
    "AADManagedIdentitySignInLogs",
];

impl Shape {
    pub const ALL: [Shape; 8] = [
        Shape::CloudTrail,
        Shape::Okta,
        Shape::GitHub,
        Shape::AzureActivity,
        Shape::AzureSignIn,
        Shape::GcpAudit,
        Shape::WorkspaceAdmin,
        Shape::WorkspaceLogin,
    ];

    /// A short name, for logs and documentation.
    pub fn name(self) -> &'static str {
        match self {
            Shape::CloudTrail => "cloudtrail",
            Shape::Okta => "okta",
            Shape::GitHub => "github",
            Shape::AzureActivity => "azure_activity",
            Shape::AzureSignIn => "azure_signin",
            Shape::GcpAudit => "gcp_audit",
            Shape::WorkspaceAdmin => "google_workspace_admin",
            Shape::WorkspaceLogin => "google_workspace_login",
        }
    }

    /// The (product, service) SigmaHQ's rules for the shape name.
    fn dimensions(self) -> (&'static str, &'static str) {
        match self {
            Shape::CloudTrail => ("aws", "cloudtrail"),
            Shape::Okta => ("okta", "okta"),
            Shape::GitHub => ("github", "audit"),
            Shape::AzureActivity => ("azure", "activitylogs"),
            Shape::AzureSignIn => ("azure", "signinlogs"),
            Shape::GcpAudit => ("gcp", "gcp.audit"),
            Shape::WorkspaceAdmin => ("gcp", "google_workspace.admin"),
            Shape::WorkspaceLogin => ("gcp", "google_workspace.login"),
        }
    }

    /// The shape's logsource: product and service, no category.
    pub fn logsource(self) -> Logsource {
        let (product, service) = self.dimensions();
        Logsource {
            product: Some(product.to_string()),
            category: None,
            service: Some(service.to_string()),
        }
    }

    /// The fields read for the event time, in priority order.
    pub fn time_fields(self) -> &'static [&'static str] {
        match self {
            Shape::CloudTrail => &["eventTime"],
            Shape::Okta => &["published"],
            Shape::GitHub => &["@timestamp", "created_at"],
            Shape::AzureActivity | Shape::AzureSignIn => &["time", "TimeGenerated"],
            Shape::GcpAudit | Shape::WorkspaceAdmin | Shape::WorkspaceLogin => &["timestamp"],
        }
    }

    /// The shape a logsource names, if exactly one: product and service as
    /// the shape's, or only the product of a single-shape product (aws,
    /// okta, github). Azure and GCP need their service.
    pub fn for_logsource(ls: &Logsource) -> Option<Shape> {
        let product = ls.product.as_deref()?;
        match ls.service.as_deref() {
            None => match product {
                "aws" => Some(Shape::CloudTrail),
                "okta" => Some(Shape::Okta),
                "github" => Some(Shape::GitHub),
                _ => None,
            },
            Some(service) => Shape::ALL
                .into_iter()
                .find(|s| s.dimensions() == (product, service)),
        }
    }

    /// The shape whose markers `obj` carries. An object with `kind` or
    /// `logsource` (an ordinary Vigilo event) has none.
    pub fn recognise(obj: &Map<String, Value>) -> Option<Shape> {
        if obj.contains_key("kind") || obj.contains_key("logsource") {
            return None;
        }
        if is_cloudtrail(obj) {
            return Some(Shape::CloudTrail);
        }
        if has_str(obj, "published")
            && has_str(obj, "eventType")
            && matches!(obj.get("actor"), Some(Value::Object(_)))
            && has_str(obj, "uuid")
        {
            return Some(Shape::Okta);
        }
        if has_str(obj, "action")
            && obj.contains_key("_document_id")
            && (obj.contains_key("@timestamp") || obj.contains_key("created_at"))
        {
            return Some(Shape::GitHub);
        }
        if let Some(s) = azure_shape(obj) {
            return Some(s);
        }
        gcp_shape(obj)
    }

    /// A shape in the same family as `self` for this record: Azure records
    /// say activity or sign-in themselves, GCP records their service.
    fn refine(self, obj: &Map<String, Value>) -> Shape {
        match self {
            Shape::AzureActivity | Shape::AzureSignIn => azure_shape(obj).unwrap_or(self),
            Shape::GcpAudit | Shape::WorkspaceAdmin | Shape::WorkspaceLogin => {
                gcp_shape(obj).unwrap_or(self)
            }
            other => other,
        }
    }

    fn service(self, obj: &Map<String, Value>) -> Option<String> {
        match self {
            Shape::CloudTrail => str_at(obj, &["eventSource"]).map(str::to_string),
            Shape::Okta => Some("okta".into()),
            Shape::GitHub => Some("github".into()),
            Shape::AzureActivity => ["operationName", "OperationNameValue", "OperationName"]
                .iter()
                .find_map(|f| str_at(obj, &[f]))
                .and_then(|op| op.split('/').next())
                .filter(|p| !p.is_empty())
                .map(|p| p.to_ascii_lowercase()),
            Shape::AzureSignIn => Some("Entra ID".into()),
            Shape::GcpAudit | Shape::WorkspaceAdmin | Shape::WorkspaceLogin => {
                str_at(obj, &["protoPayload", "serviceName"]).map(str::to_string)
            }
        }
    }

    fn user(self, obj: &Map<String, Value>) -> Option<String> {
        let paths: &[&[&str]] = match self {
            Shape::CloudTrail => &[
                &["userIdentity", "arn"],
                &["userIdentity", "userName"],
                &["userIdentity", "principalId"],
                &["userIdentity", "invokedBy"],
            ],
            Shape::Okta => &[&["actor", "alternateId"], &["actor", "id"]],
            Shape::GitHub => &[&["actor"]],
            Shape::AzureActivity => &[&["caller"], &["Caller"]],
            Shape::AzureSignIn => &[
                &["properties", "userPrincipalName"],
                &["UserPrincipalName"],
                &["identity"],
            ],
            Shape::GcpAudit | Shape::WorkspaceAdmin | Shape::WorkspaceLogin => {
                &[&["protoPayload", "authenticationInfo", "principalEmail"]]
            }
        };
        paths
            .iter()
            .find_map(|p| str_at(obj, p))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}

fn is_cloudtrail(obj: &Map<String, Value>) -> bool {
    has_str(obj, "eventVersion")
        && has_str(obj, "eventTime")
        && has_str(obj, "eventName")
        && str_at(obj, &["eventSource"]).is_some_and(|s| s.ends_with(".amazonaws.com"))
}

fn azure_shape(obj: &Map<String, Value>) -> Option<Shape> {
    if has_str(obj, "time") && has_str(obj, "resourceId") && has_str(obj, "operationName") {
        let category = str_at(obj, &["category"])?;
        return Some(if AZURE_SIGNIN_CATEGORIES.contains(&category) {
            Shape::AzureSignIn
        } else {
            Shape::AzureActivity
        });
    }
    if has_str(obj, "TimeGenerated") {
        let table = str_at(obj, &["Type"])?;
        if AZURE_SIGNIN_TABLES.contains(&table) {
            return Some(Shape::AzureSignIn);
        }
        if table == "AzureActivity" {
            return Some(Shape::AzureActivity);
        }
    }
    None
}

fn gcp_shape(obj: &Map<String, Value>) -> Option<Shape> {
    let Some(Value::Object(proto)) = obj.get("protoPayload") else {
        return None;
    };
    let audit_type =
        str_at(proto, &["@type"]).is_some_and(|t| t.ends_with("google.cloud.audit.AuditLog"));
    if !(audit_type || (has_str(proto, "serviceName") && has_str(proto, "methodName"))) {
        return None;
    }
    Some(match str_at(proto, &["serviceName"]) {
        Some("admin.googleapis.com") => Shape::WorkspaceAdmin,
        Some("login.googleapis.com") => Shape::WorkspaceLogin,
        _ => Shape::GcpAudit,
    })
}

fn has_str(obj: &Map<String, Value>, key: &str) -> bool {
    matches!(obj.get(key), Some(Value::String(_)))
}

/// The string at a path of object keys.
fn str_at<'a>(obj: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (last, parents) = path.split_last()?;
    let mut cur = obj;
    for k in parents {
        match cur.get(*k) {
            Some(Value::Object(m)) => cur = m,
            _ => return None,
        }
    }
    cur.get(*last).and_then(Value::as_str)
}

/// The logsource named by the `logsource` object of an event, when it
/// holds strings (a malformed one is the ingest layer's to reject).
fn own_logsource(obj: &Map<String, Value>) -> Option<Logsource> {
    let Some(Value::Object(ls)) = obj.get("logsource") else {
        return None;
    };
    let dim = |k: &str| ls.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Logsource {
        product: dim("product"),
        category: dim("category"),
        service: dim("service"),
    })
}

/// The wrapper key of a file of records and the family it holds.
const WRAPPERS: [(&str, Shape); 2] = [
    ("Records", Shape::CloudTrail),
    ("records", Shape::AzureActivity),
];

fn same_family(a: Shape, b: Shape) -> bool {
    let family = |s: Shape| match s {
        Shape::AzureActivity | Shape::AzureSignIn => 1,
        Shape::GcpAudit | Shape::WorkspaceAdmin | Shape::WorkspaceLogin => 2,
        Shape::CloudTrail => 3,
        Shape::Okta => 4,
        Shape::GitHub => 5,
    };
    family(a) == family(b)
}

/// The records of a wrapper object to unpack, with the family they are
/// read as: the object holds only the wrapper key and an array, and the
/// request names the family or every record carries its markers.
fn wrapped(obj: &Map<String, Value>, hint: Option<Shape>, markers: bool) -> Option<Shape> {
    if obj.len() != 1 {
        return None;
    }
    let (key, family) = WRAPPERS.iter().find(|(k, _)| obj.contains_key(*k))?;
    let Some(Value::Array(records)) = obj.get(*key) else {
        return None;
    };
    if let Some(h) = hint {
        return same_family(h, *family).then_some(h);
    }
    if !markers {
        return None;
    }
    records
        .iter()
        .all(|r| {
            r.as_object()
                .and_then(Shape::recognise)
                .is_some_and(|s| same_family(s, *family))
        })
        .then_some(*family)
}

/// Normalize one decoded JSON value received at `received_at`, reading
/// native cloud shapes: `hint` is the request's logsource (empty when it
/// names none). Appends the event, or the records of a wrapper file, to
/// `out`; a shape's events carry its logsource, other events an empty one
/// (the ingest layer fills it). On error nothing is appended; a record's
/// error names it (from 1).
pub fn unpack(
    value: Value,
    hint: &Logsource,
    received_at: DateTime<Utc>,
    out: &mut Vec<NewEvent>,
) -> Result<(), EventError> {
    // A request that names a product is believed: markers are read only
    // when it names none.
    let hinted = Shape::for_logsource(hint);
    let markers = hint.product.is_none();
    let Value::Object(obj) = value else {
        return normalize(value, received_at).map(|e| out.push(e));
    };
    if let Some(shape) = wrapped(&obj, hinted, markers) {
        let Some((_, Value::Array(records))) = obj.into_iter().next() else {
            return Ok(());
        };
        let start = out.len();
        out.reserve(records.len());
        for (i, r) in records.into_iter().enumerate() {
            let res = match r {
                Value::Object(m) => {
                    let s = shape.refine(&m);
                    one(m, Some(s), markers, received_at)
                }
                other => Err(EventError {
                    code: ErrorCode::EventNotObject,
                    message: format!("must be a JSON object, got {}", type_name(&other)),
                }),
            };
            match res {
                Ok(e) => out.push(e),
                Err(e) => {
                    out.truncate(start);
                    return Err(EventError {
                        code: e.code,
                        message: format!("record {}: {}", i + 1, e.message),
                    });
                }
            }
        }
        return Ok(());
    }
    let (hinted, markers) = match own_logsource(&obj) {
        Some(own) => (Shape::for_logsource(&own), false),
        None => (hinted, markers),
    };
    out.push(one(obj, hinted, markers, received_at)?);
    Ok(())
}

/// [`unpack`], then each event's logsource assigned as
/// [`logsource::assign`] does, with the shape's logsource as the lowest
/// layer under the request's (`source`): a CloudTrail record sent with no
/// logsource gets `product: aws, service: cloudtrail`, and the request,
/// the derivation rules and the event's own object still override it.
pub fn unpack_assigned(
    value: Value,
    source: &Logsource,
    rules: &DeriveRules,
    received_at: DateTime<Utc>,
    out: &mut Vec<NewEvent>,
) -> Result<(), EventError> {
    let start = out.len();
    unpack(value, source, received_at, out)?;
    for e in &mut out[start..] {
        let layer = if e.logsource.is_empty() {
            source.clone()
        } else {
            std::mem::take(&mut e.logsource).overlay(source)
        };
        if let Err(err) = logsource::assign(&layer, rules, e) {
            out.truncate(start);
            return Err(err);
        }
    }
    Ok(())
}

/// One object: read as `hint`'s shape unless it is an ordinary Vigilo
/// event, else as the shape its markers name, else as an ordinary event.
fn one(
    obj: Map<String, Value>,
    hint: Option<Shape>,
    markers: bool,
    received_at: DateTime<Utc>,
) -> Result<NewEvent, EventError> {
    let shape = match hint {
        Some(h) if !ordinary(&obj, h) => Some(h.refine(&obj)),
        Some(_) => None,
        None if markers => Shape::recognise(&obj),
        None => None,
    };
    match shape {
        Some(s) => read(s, obj, received_at),
        None => normalize(Value::Object(obj), received_at),
    }
}

/// Whether an object sent as `shape` is an ordinary Vigilo event instead:
/// it has `kind`, or a Vigilo timestamp field the shape does not use.
fn ordinary(obj: &Map<String, Value>, shape: Shape) -> bool {
    obj.contains_key("kind")
        || TIMESTAMP_FIELDS
            .iter()
            .any(|f| obj.contains_key(*f) && !shape.time_fields().contains(f))
}

/// Read `obj` as `shape`: time from the shape's fields (the receive time
/// when none is present), kind `audit`, service and user as the table in
/// the module documentation says; the payload is kept as sent.
pub fn read(
    shape: Shape,
    obj: Map<String, Value>,
    received_at: DateTime<Utc>,
) -> Result<NewEvent, EventError> {
    let mut timestamp = None;
    for field in shape.time_fields() {
        match obj.get(*field) {
            None | Some(Value::Null) => continue,
            Some(v) => {
                let t = parse_timestamp(v).map_err(|why| EventError {
                    code: ErrorCode::InvalidTimestamp,
                    message: format!("field `{field}` {why}"),
                })?;
                timestamp.get_or_insert(t);
            }
        }
    }
    Ok(NewEvent {
        timestamp: timestamp.unwrap_or(received_at),
        received_at,
        kind: AUDIT_KIND.to_string(),
        service: shape.service(&obj),
        user: shape.user(&obj),
        logsource: shape.logsource(),
        payload: obj,
        origin: None,
    })
}

#[cfg(test)]
mod tests;
