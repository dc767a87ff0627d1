//! Vigilo IAM audit engine.
//!
//! Feed it what an AWS account exports and learn who can become admin, who
//! can read secrets, which roles anyone can assume, and which credentials are
//! stale, each with an explanation and a remediation.
//!
//! Inputs (detected automatically by [`audit`]):
//! 1. the IAM audit service's format `{"users": [...], "groups": [...]}`;
//! 2. the output of `aws iam get-account-authorization-details`;
//! 3. a single IAM policy document;
//! 4. the IAM credential report, as CSV or as `get-credential-report` JSON.
//!
//! The crate does no I/O and reads no clock: the caller passes "now" in
//! [`AuditOptions`].

mod catalog;
mod checks;
mod credreport;
mod error;
mod eval;
mod exclusions;
mod glob;
mod model;
mod policy;
mod render;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

pub use catalog::{AccessLevel, access_level, catalog_size};
pub use checks::privesc_methods;
pub use error::InputError;
pub use eval::Confidence;
pub use exclusions::Exclusions;
pub use model::PrincipalType;
pub use render::{render_json, render_sarif, render_table, seed_summary};
pub use vigilo_core::Severity;

/// Options of one audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// The reference time for credential ages and time conditions. The
    /// engine never reads the clock itself.
    pub now: DateTime<Utc>,
    /// Principals, policies and checks to leave out of the report.
    pub exclusions: Exclusions,
}

impl AuditOptions {
    pub fn new(now: DateTime<Utc>) -> Self {
        AuditOptions {
            now,
            exclusions: Exclusions::default(),
        }
    }
}

/// The format [`audit`] detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// The IAM audit service's `{"users": [...], "groups": [...]}`.
    SeedIam,
    /// `aws iam get-account-authorization-details`.
    AuthorizationDetails,
    /// A single IAM policy document.
    PolicyDocument,
    /// The IAM credential report (CSV or `get-credential-report` JSON).
    CredentialReport,
}

/// Where a finding comes from: a policy statement, a trust statement or a
/// credential-report field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Evidence {
    /// Policy name (or `credential report`).
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// The group the policy is inherited from, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via_group: Option<String>,
    /// `Sid` of the statement, or `#index` when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The Effect of the statement (`Allow`/`Deny`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    /// The action patterns the statement lists (`NotAction` ones prefixed `!`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    /// Free-form detail: the permission this evidence grants, the target, a
    /// credential-report field, etc.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct IamFinding {
    /// Stable identifier of the check (`iam.privilege_escalation`, ...).
    pub check_id: String,
    pub severity: Severity,
    pub principal_type: PrincipalType,
    pub principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal_arn: Option<String>,
    pub title: String,
    pub explanation: String,
    /// The escalation method, for `iam.privilege_escalation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    pub evidence: Vec<Evidence>,
    pub remediation: String,
    /// Compliance references (CIS AWS Foundations Benchmark, ...).
    pub references: Vec<String>,
    pub confidence: Confidence,
}

/// Counts over the findings.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub informational: usize,
    /// Principals the input describes.
    pub principals_audited: usize,
    /// Principals with at least one finding.
    pub principals_with_findings: usize,
    /// Principals with at least one `iam.privilege_escalation` finding.
    pub principals_with_escalation: usize,
    /// Findings left out because of the exclusions.
    pub excluded: usize,
    /// The time ages were measured against (see the crate README).
    pub reference_time: DateTime<Utc>,
}

/// The result of an audit.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub findings: Vec<IamFinding>,
    pub input_format: InputFormat,
    /// Things the engine could not evaluate (missing policy documents, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Detect the format of `input`, audit it and return the findings, most
/// severe first.
pub fn audit(input: &[u8], opts: &AuditOptions) -> Result<Report, InputError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let trimmed = trim_ascii_start(input);
    let parsed: Result<Value, _> = serde_json::from_slice(input);
    let value = match parsed {
        Ok(v) => v,
        Err(e) => {
            if credreport::looks_like_csv(trimmed) {
                let text = String::from_utf8_lossy(trimmed);
                let rows = credreport::parse_csv(&text)?;
                return Ok(finish(
                    credreport::check(&rows, None, opts.now),
                    InputFormat::CredentialReport,
                    rows.len(),
                    Vec::new(),
                    opts,
                    credreport::reference(None, opts.now),
                ));
            }
            return Err(InputError::Json {
                line: e.line(),
                column: e.column(),
                message: e.to_string(),
            });
        }
    };
    let Some(top) = value.as_object() else {
        return Err(InputError::Unrecognised(
            "expected a JSON object (authorization details, policy document, credential report or {\"users\", \"groups\"})".into(),
        ));
    };
    let has = |k: &str| top.contains_key(k);
    if has("UserDetailList") || has("RoleDetailList") || has("GroupDetailList") || has("Policies") {
        let account = model::parse_authorization_details(&value)?;
        let n = account.principals.len();
        let warnings = account.warnings.clone();
        let findings = checks::run(&account, opts.now);
        return Ok(finish(
            findings,
            InputFormat::AuthorizationDetails,
            n,
            warnings,
            opts,
            opts.now,
        ));
    }
    if has("Statement") {
        let account = model::parse_single_policy(&value)?;
        let findings = checks::run(&account, opts.now);
        return Ok(finish(
            findings,
            InputFormat::PolicyDocument,
            1,
            Vec::new(),
            opts,
            opts.now,
        ));
    }
    if has("Content") {
        let (rows, generated) = credreport::parse_json(&value)?;
        let reference = credreport::reference(generated, opts.now);
        return Ok(finish(
            credreport::check(&rows, generated, opts.now),
            InputFormat::CredentialReport,
            rows.len(),
            Vec::new(),
            opts,
            reference,
        ));
    }
    if has("users") || has("groups") {
        let entries = model::parse_seed(&value)?;
        let mut findings = checks::seed::run(&entries);
        let account = model::seed_account(&entries);
        if !account.principals.is_empty() {
            // `iam.admin_privileges` already reports admins of the seed format.
            let seed_admins: Vec<(PrincipalType, String)> = findings
                .iter()
                .filter(|f| f.check_id == "iam.admin_privileges")
                .map(|f| (f.principal_type, f.principal.clone()))
                .collect();
            findings.extend(checks::run(&account, opts.now).into_iter().filter(|f| {
                !(f.check_id == "iam.admin_access"
                    && seed_admins.contains(&(f.principal_type, f.principal.clone())))
            }));
        }
        return Ok(finish(
            findings,
            InputFormat::SeedIam,
            entries.len(),
            Vec::new(),
            opts,
            opts.now,
        ));
    }
    Err(InputError::Unrecognised(
        "the object has none of UserDetailList/GroupDetailList/RoleDetailList/Policies, Statement, Content, users/groups".into(),
    ))
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn finish(
    findings: Vec<IamFinding>,
    format: InputFormat,
    principals: usize,
    warnings: Vec<String>,
    opts: &AuditOptions,
    reference_time: DateTime<Utc>,
) -> Report {
    let before = findings.len();
    let mut findings: Vec<IamFinding> = findings
        .into_iter()
        .filter(|f| !opts.exclusions.excludes(f))
        .collect();
    let excluded = before - findings.len();
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.check_id.cmp(&b.check_id))
            .then_with(|| a.principal_type.cmp(&b.principal_type))
            .then_with(|| a.principal.cmp(&b.principal))
            .then_with(|| a.method.cmp(&b.method))
    });
    let mut summary = Summary {
        total: findings.len(),
        principals_audited: principals,
        excluded,
        reference_time,
        ..Default::default()
    };
    let mut flagged = std::collections::BTreeSet::new();
    let mut escalating = std::collections::BTreeSet::new();
    for f in &findings {
        match f.severity {
            Severity::Critical => summary.critical += 1,
            Severity::High => summary.high += 1,
            Severity::Medium => summary.medium += 1,
            Severity::Low => summary.low += 1,
            Severity::Informational => summary.informational += 1,
        }
        flagged.insert((f.principal_type, f.principal.clone()));
        if f.check_id == checks::PRIVESC {
            escalating.insert((f.principal_type, f.principal.clone()));
        }
    }
    summary.principals_with_findings = flagged.len();
    summary.principals_with_escalation = escalating.len();
    Report {
        summary,
        findings,
        input_format: format,
        warnings,
    }
}

/// Is there a finding at or above `fail_on`? (The CLI exits 2 when so.)
pub fn exceeds(report: &Report, fail_on: Severity) -> bool {
    report.findings.iter().any(|f| f.severity >= fail_on)
}

/// Entry points for the fuzz targets: each runs one parser, then the checks,
/// on arbitrary bytes. Not part of the supported API.
#[doc(hidden)]
pub mod fuzzing {
    use chrono::{DateTime, Utc};

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_717_200_000, 0).unwrap_or_default()
    }

    fn json(data: &[u8]) -> Option<serde_json::Value> {
        serde_json::from_slice(data).ok()
    }

    /// `get-account-authorization-details`.
    pub fn authorization_details(data: &[u8]) {
        if let Some(v) = json(data)
            && let Ok(account) = crate::model::parse_authorization_details(&v)
        {
            let _ = crate::checks::run(&account, now());
        }
    }

    /// A single policy document (object or URL-encoded string).
    pub fn policy_document(data: &[u8]) {
        let v = json(data).unwrap_or_else(|| {
            serde_json::Value::String(String::from_utf8_lossy(data).into_owned())
        });
        if let Ok(doc) = crate::policy::parse_document(&v, &crate::error::Path::Root) {
            let account = crate::model::Account {
                principals: vec![crate::model::Principal {
                    kind: crate::PrincipalType::Policy,
                    name: "fuzz".into(),
                    arn: String::new(),
                    account_id: None,
                    policies: vec![crate::model::AttachedPolicy {
                        name: "fuzz".into(),
                        arn: None,
                        via_group: None,
                        doc: std::sync::Arc::new(doc),
                    }],
                    boundary: None,
                    trust: None,
                    groups: Vec::new(),
                    instance_profile: None,
                }],
                ..Default::default()
            };
            let _ = crate::checks::run(&account, now());
        }
    }

    /// The credential report, CSV text or `get-credential-report` JSON.
    pub fn credential_report(data: &[u8]) {
        let rows = match json(data) {
            Some(v) => crate::credreport::parse_json(&v).map(|(r, _)| r),
            None => crate::credreport::parse_csv(&String::from_utf8_lossy(data)),
        };
        if let Ok(rows) = rows {
            let _ = crate::credreport::check(&rows, None, now());
        }
    }

    /// The IAM audit service's `{"users", "groups"}` format.
    pub fn seed(data: &[u8]) {
        if let Some(v) = json(data)
            && let Ok(entries) = crate::model::parse_seed(&v)
        {
            let _ = crate::checks::seed::run(&entries);
            let _ = crate::checks::run(&crate::model::seed_account(&entries), now());
        }
    }
}
