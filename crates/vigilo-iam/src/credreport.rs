//! The IAM credential report (CSV, or `get-credential-report` JSON).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::{InputError, Path};
use crate::eval::Confidence;
use crate::model::{PrincipalType, parse_time};
use crate::{Evidence, IamFinding, Severity};

const ROTATION_DAYS: i64 = 90;
const UNUSED_DAYS: i64 = 45;
const ROOT_RECENT_DAYS: i64 = 90;

#[derive(Debug, Clone, Default)]
pub(crate) struct Key {
    pub active: bool,
    pub last_rotated: Option<DateTime<Utc>>,
    pub last_used: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub user: String,
    pub arn: String,
    pub created: Option<DateTime<Utc>>,
    pub password_enabled: bool,
    pub password_last_used: Option<DateTime<Utc>>,
    pub password_last_changed: Option<DateTime<Utc>>,
    pub mfa_active: bool,
    pub keys: [Key; 2],
}

impl Row {
    fn is_root(&self) -> bool {
        self.user == "<root_account>" || self.arn.ends_with(":root")
    }
}

pub(crate) fn looks_like_csv(b: &[u8]) -> bool {
    b.starts_with(b"user,arn") || b.starts_with(b"\"user\",\"arn\"")
}

/// Ages are measured against the report's generation time when it has one
/// (the report is a snapshot), otherwise against the caller's `now`.
pub(crate) fn reference(generated: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    generated.unwrap_or(now)
}

pub(crate) fn parse_json(v: &Value) -> Result<(Vec<Row>, Option<DateTime<Utc>>), InputError> {
    let root = Path::Root;
    let cp = root.key("Content");
    let content = match v.get("Content") {
        Some(Value::String(s)) => s,
        _ => return Err(InputError::field(&cp, "expected a string")),
    };
    let generated = match v.get("GeneratedTime") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_time(s)
                .ok_or_else(|| InputError::field(&root.key("GeneratedTime"), "expected a date"))?,
        ),
        Some(_) => {
            return Err(InputError::field(
                &root.key("GeneratedTime"),
                "expected a string",
            ));
        }
    };
    let text = if looks_like_csv(content.trim_start().as_bytes()) {
        content.clone()
    } else {
        let compact: String = content.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| InputError::field(&cp, format!("neither CSV nor base64 ({e})")))?;
        String::from_utf8(bytes)
            .map_err(|_| InputError::field(&cp, "base64 content is not UTF-8 text"))?
    };
    Ok((parse_csv(&text)?, generated))
}

fn opt_time(s: &str, line: usize, column: &str) -> Result<Option<DateTime<Utc>>, InputError> {
    match s.trim() {
        "" | "N/A" | "no_information" | "not_supported" => Ok(None),
        t => parse_time(t)
            .map(Some)
            .ok_or_else(|| InputError::CredentialReport {
                line,
                message: format!("column {column}: expected a date, got {t:?}"),
            }),
    }
}

fn bool_field(s: &str, line: usize, column: &str) -> Result<bool, InputError> {
    match s.trim() {
        "true" | "TRUE" | "True" => Ok(true),
        "false" | "FALSE" | "False" | "" | "N/A" | "not_supported" => Ok(false),
        t => Err(InputError::CredentialReport {
            line,
            message: format!("column {column}: expected true or false, got {t:?}"),
        }),
    }
}

pub(crate) fn parse_csv(text: &str) -> Result<Vec<Row>, InputError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| InputError::CredentialReport {
            line: 1,
            message: e.to_string(),
        })?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let (Some(user_c), Some(arn_c), Some(mfa_c)) = (col("user"), col("arn"), col("mfa_active"))
    else {
        return Err(InputError::CredentialReport {
            line: 1,
            message: "header must include user, arn and mfa_active".into(),
        });
    };
    let c = |n: &str| col(n);
    let cols = [
        "user_creation_time",
        "password_enabled",
        "password_last_used",
        "password_last_changed",
        "access_key_1_active",
        "access_key_1_last_rotated",
        "access_key_1_last_used_date",
        "access_key_2_active",
        "access_key_2_last_rotated",
        "access_key_2_last_used_date",
    ]
    .map(c);
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| InputError::CredentialReport {
            line,
            message: e.to_string(),
        })?;
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |idx: Option<usize>| idx.and_then(|i| rec.get(i)).unwrap_or("");
        let names = [
            "user_creation_time",
            "password_enabled",
            "password_last_used",
            "password_last_changed",
            "access_key_1_active",
            "access_key_1_last_rotated",
            "access_key_1_last_used_date",
            "access_key_2_active",
            "access_key_2_last_rotated",
            "access_key_2_last_used_date",
        ];
        let f = |k: usize| get(cols[k]);
        let user = get(Some(user_c)).to_string();
        if user.is_empty() {
            return Err(InputError::CredentialReport {
                line,
                message: "column user: empty".into(),
            });
        }
        rows.push(Row {
            user,
            arn: get(Some(arn_c)).to_string(),
            created: opt_time(f(0), line, names[0])?,
            password_enabled: bool_field(f(1), line, names[1])?,
            password_last_used: opt_time(f(2), line, names[2])?,
            password_last_changed: opt_time(f(3), line, names[3])?,
            mfa_active: bool_field(get(Some(mfa_c)), line, "mfa_active")?,
            keys: [
                Key {
                    active: bool_field(f(4), line, names[4])?,
                    last_rotated: opt_time(f(5), line, names[5])?,
                    last_used: opt_time(f(6), line, names[6])?,
                },
                Key {
                    active: bool_field(f(7), line, names[7])?,
                    last_rotated: opt_time(f(8), line, names[8])?,
                    last_used: opt_time(f(9), line, names[9])?,
                },
            ],
        });
    }
    Ok(rows)
}

fn days(reference: DateTime<Utc>, t: DateTime<Utc>) -> i64 {
    (reference - t).num_days()
}

fn fmt_time(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "never".into())
}

#[allow(clippy::too_many_arguments)]
fn finding(
    row: &Row,
    check_id: &str,
    severity: Severity,
    title: String,
    explanation: String,
    fields: &[(&str, String)],
    remediation: &str,
    references: &[&str],
) -> IamFinding {
    IamFinding {
        check_id: check_id.into(),
        severity,
        principal_type: if row.is_root() {
            PrincipalType::Account
        } else {
            PrincipalType::User
        },
        principal: row.user.clone(),
        principal_arn: (!row.arn.is_empty()).then(|| row.arn.clone()),
        title,
        explanation,
        method: None,
        evidence: fields
            .iter()
            .map(|(k, v)| Evidence {
                policy: "credential report".into(),
                detail: Some(format!("{k} = {v}")),
                ..Default::default()
            })
            .collect(),
        remediation: remediation.into(),
        references: references.iter().map(|s| s.to_string()).collect(),
        confidence: Confidence::Certain,
    }
}

pub(crate) fn check(
    rows: &[Row],
    generated: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Vec<IamFinding> {
    let at = reference(generated, now);
    let as_of = format!("as of {}", at.format("%Y-%m-%d"));
    let mut out = Vec::new();
    for row in rows {
        if row.is_root() {
            if !row.mfa_active {
                out.push(finding(
                    row,
                    "iam.root_mfa_disabled",
                    Severity::High,
                    "Root user has no MFA".into(),
                    "The account root user can sign in with a password alone. Whoever obtains that password controls every resource and the billing of the account, and no IAM policy can restrict it.".into(),
                    &[("mfa_active", "false".into())],
                    "Enable a hardware or virtual MFA device for the root user (IAM console > Security credentials > Assign MFA).",
                    &["CIS AWS Foundations 1.5", "CIS AWS Foundations 1.6"],
                ));
            }
            for (i, k) in row.keys.iter().enumerate() {
                if k.active {
                    out.push(finding(
                        row,
                        "iam.root_access_key",
                        Severity::Critical,
                        format!("Root user has an active access key ({})", i + 1),
                        format!(
                            "Access key {} of the root user is active (last rotated {}, last used {}). A root access key gives unrestricted programmatic control of the account and cannot be limited by any policy.",
                            i + 1,
                            fmt_time(k.last_rotated),
                            fmt_time(k.last_used)
                        ),
                        &[(if i == 0 { "access_key_1_active" } else { "access_key_2_active" }, "true".into())],
                        "Delete the root user's access keys; use IAM roles or users with least privilege for automation.",
                        &["CIS AWS Foundations 1.4"],
                    ));
                }
            }
            if let Some(t) = row.password_last_used
                && days(at, t) <= ROOT_RECENT_DAYS
                && t <= at
            {
                out.push(finding(
                    row,
                    "iam.root_account_used",
                    Severity::Low,
                    "Root user signed in recently".into(),
                    format!(
                        "The root user's password was last used on {} ({} days before the report). Everyday administration should use IAM identities; the root user is for the few tasks that need it.",
                        fmt_time(Some(t)),
                        days(at, t)
                    ),
                    &[("password_last_used", fmt_time(Some(t)))],
                    "Use IAM roles or users for administration and keep root credentials locked away.",
                    &["CIS AWS Foundations 1.7"],
                ));
            }
            continue;
        }
        if row.password_enabled && !row.mfa_active {
            out.push(finding(
                row,
                "iam.console_user_without_mfa",
                Severity::Medium,
                "Console user without MFA".into(),
                format!(
                    "User {} can sign in to the console with a password and has no MFA device; a phished or reused password is enough to act as this user.",
                    row.user
                ),
                &[("password_enabled", "true".into()), ("mfa_active", "false".into())],
                "Assign an MFA device to the user, or enforce MFA with a policy that denies actions when aws:MultiFactorAuthPresent is false.",
                &["CIS AWS Foundations 1.10"],
            ));
        }
        if row.password_enabled {
            let since = row
                .password_last_used
                .or(row.password_last_changed)
                .or(row.created);
            if let Some(t) = since
                && days(at, t) > UNUSED_DAYS
            {
                let used = row.password_last_used.is_some();
                out.push(finding(
                    row,
                    "iam.unused_password",
                    Severity::Low,
                    "Console password unused for more than 45 days".into(),
                    format!(
                        "User {}'s password {} ({} days {}). An unused password is an attack surface with nobody watching it.",
                        row.user,
                        if used {
                            format!("was last used on {}", fmt_time(Some(t)))
                        } else {
                            format!("has never been used since {}", fmt_time(Some(t)))
                        },
                        days(at, t),
                        as_of
                    ),
                    &[("password_last_used", fmt_time(row.password_last_used))],
                    "Disable the console password (delete the login profile) if the user no longer needs it.",
                    &["CIS AWS Foundations 1.12"],
                ));
            }
        }
        let active: Vec<usize> = (0..2).filter(|&i| row.keys[i].active).collect();
        for &i in &active {
            let k = &row.keys[i];
            let n = i + 1;
            if let Some(r) = k.last_rotated
                && days(at, r) > ROTATION_DAYS
            {
                out.push(finding(
                    row,
                    "iam.access_key_not_rotated",
                    Severity::Medium,
                    format!("Access key {n} not rotated for more than 90 days"),
                    format!(
                        "Access key {n} of user {} was last rotated on {} ({} days {}). Long-lived keys leak through code, logs and laptops; rotation limits how long a leaked key works.",
                        row.user,
                        fmt_time(Some(r)),
                        days(at, r),
                        as_of
                    ),
                    &[(&format!("access_key_{n}_last_rotated"), fmt_time(Some(r)))],
                    "Create a new access key, move the workload to it, then deactivate and delete the old key; prefer roles with temporary credentials.",
                    &["CIS AWS Foundations 1.14"],
                ));
            }
            let since = k.last_used.or(k.last_rotated);
            match (k.last_used, since) {
                (_, Some(t)) if days(at, t) > UNUSED_DAYS => out.push(finding(
                    row,
                    "iam.unused_access_key",
                    Severity::Low,
                    format!("Access key {n} unused for more than 45 days"),
                    format!(
                        "Access key {n} of user {} is active but {} ({} days {}). Unused active keys should be disabled.",
                        row.user,
                        if k.last_used.is_some() {
                            format!("was last used on {}", fmt_time(Some(t)))
                        } else {
                            format!("has never been used since it was created on {}", fmt_time(Some(t)))
                        },
                        days(at, t),
                        as_of
                    ),
                    &[(&format!("access_key_{n}_last_used_date"), fmt_time(k.last_used))],
                    "Deactivate the key, and delete it once nothing breaks.",
                    &["CIS AWS Foundations 1.12"],
                )),
                (None, _) => out.push(finding(
                    row,
                    "iam.access_key_never_used",
                    Severity::Informational,
                    format!("Access key {n} has never been used"),
                    format!(
                        "Access key {n} of user {} is active but has never been used (created {}). If nothing needs it, delete it before it leaks.",
                        row.user,
                        fmt_time(k.last_rotated)
                    ),
                    &[(&format!("access_key_{n}_last_used_date"), "N/A".into())],
                    "Delete access keys that no workload uses.",
                    &["CIS AWS Foundations 1.11"],
                )),
                _ => {}
            }
        }
        if active.len() == 2 {
            out.push(finding(
                row,
                "iam.multiple_active_access_keys",
                Severity::Low,
                "User has two active access keys".into(),
                format!(
                    "User {} has two active access keys. Two keys are only needed during a rotation; otherwise one of them is an unmanaged credential.",
                    row.user
                ),
                &[
                    ("access_key_1_active", "true".into()),
                    ("access_key_2_active", "true".into()),
                ],
                "Deactivate and delete the key that is no longer in use.",
                &["CIS AWS Foundations 1.13"],
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn ids(text: &str, now: &str) -> Vec<(String, String)> {
        let rows = parse_csv(text).unwrap();
        let mut v: Vec<_> = check(&rows, None, now.parse().unwrap())
            .into_iter()
            .map(|f| (f.principal, f.check_id))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn root_without_mfa_and_with_key() {
        let csv = format!(
            "{HEADER}\n<root_account>,arn:aws:iam::1:root,2018-01-01T00:00:00+00:00,not_supported,2018-01-02T00:00:00+00:00,not_supported,not_supported,false,true,2018-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let v = ids(&csv, "2018-02-01T00:00:00Z");
        assert!(v.contains(&("<root_account>".into(), "iam.root_mfa_disabled".into())));
        assert!(v.contains(&("<root_account>".into(), "iam.root_access_key".into())));
        assert!(v.contains(&("<root_account>".into(), "iam.root_account_used".into())));
    }

    #[test]
    fn key_age_thresholds() {
        let row = |rot: &str, used: &str| {
            format!(
                "{HEADER}\nbob,arn:aws:iam::1:user/bob,2020-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,true,{rot},{used},us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
            )
        };
        // 91 days since rotation, used yesterday
        let v = ids(
            &row("2024-01-01T00:00:00+00:00", "2024-03-31T00:00:00+00:00"),
            "2024-04-01T00:00:00Z",
        );
        assert_eq!(v, vec![("bob".into(), "iam.access_key_not_rotated".into())]);
        // 89 days: nothing
        let v = ids(
            &row("2024-01-03T00:00:00+00:00", "2024-03-31T00:00:00+00:00"),
            "2024-04-01T00:00:00Z",
        );
        assert!(v.is_empty());
        // used 46 days ago
        let v = ids(
            &row("2024-03-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"),
            "2024-04-16T00:00:00Z",
        );
        assert_eq!(v, vec![("bob".into(), "iam.unused_access_key".into())]);
    }

    #[test]
    fn json_with_base64_content_and_errors() {
        let csv = format!(
            "{HEADER}\nbob,arn:aws:iam::1:user/bob,2020-01-01T00:00:00+00:00,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(csv.as_bytes());
        let v = serde_json::json!({"Content": b64, "GeneratedTime": "2020-01-02T00:00:00Z", "ReportFormat": "text/csv"});
        let (rows, generated) = parse_json(&v).unwrap();
        assert_eq!(rows.len(), 1);
        assert!(generated.is_some());
        let bad = serde_json::json!({"Content": 5});
        assert_eq!(
            parse_json(&bad).unwrap_err().to_string(),
            "$.Content: expected a string"
        );
        let bad_date = format!(
            "{HEADER}\nbob,arn,yesterday,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        assert!(
            parse_csv(&bad_date)
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
    }
}
