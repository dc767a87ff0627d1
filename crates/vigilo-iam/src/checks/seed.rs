//! The IAM audit service's checks on its `{"users", "groups"}` format.

use crate::eval::Confidence;
use crate::model::{PrincipalType, SeedEntry};
use crate::{Evidence, IamFinding, Severity};

#[allow(clippy::too_many_arguments)]
fn f(
    e: &SeedEntry,
    id: &str,
    severity: Severity,
    title: String,
    explanation: String,
    detail: String,
    remediation: &str,
    refs: &[&str],
) -> IamFinding {
    IamFinding {
        check_id: id.into(),
        severity,
        principal_type: e.kind,
        principal: e.name.clone(),
        principal_arn: None,
        title,
        explanation,
        method: None,
        evidence: vec![Evidence {
            policy: format!("{} entry", e.kind.as_str()),
            detail: Some(detail),
            ..Default::default()
        }],
        remediation: remediation.into(),
        references: refs.iter().map(|s| s.to_string()).collect(),
        confidence: Confidence::Certain,
    }
}

fn is_root(e: &SeedEntry) -> bool {
    e.kind == PrincipalType::User
        && (e.name.eq_ignore_ascii_case("root")
            || e.name == "<root_account>"
            || e.privileges.iter().any(|p| p.eq_ignore_ascii_case("root")))
}

pub(crate) fn run(entries: &[SeedEntry]) -> Vec<IamFinding> {
    let mut out = Vec::new();
    for e in entries {
        let who = format!("{} {}", e.kind.as_str(), e.name);
        if is_root(e) && e.mfa_enabled != Some(true) {
            out.push(f(e, "iam.root_mfa_disabled", Severity::High, "Root user has no MFA".into(),
                format!("{who} is the root user and has no MFA; the password alone controls the whole account."),
                format!("mfa_enabled = {}", e.mfa_enabled.map_or("missing".to_string(), |b| b.to_string())),
                "Enable MFA for the root user.", &["CIS AWS Foundations 1.5"]));
        }
        let admin_priv: Vec<&String> = e
            .privileges
            .iter()
            .filter(|p| p.to_ascii_lowercase().contains("admin"))
            .collect();
        let star = e.permissions.iter().any(|p| p.trim() == "*")
            || e.privileges.iter().any(|p| p.trim() == "*");
        if !admin_priv.is_empty() || star {
            let mut why = Vec::new();
            if !admin_priv.is_empty() {
                why.push(format!(
                    "privilege {}",
                    admin_priv
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if star {
                why.push("the wildcard permission \"*\"".to_string());
            }
            out.push(f(
                e,
                "iam.admin_privileges",
                Severity::Medium,
                "Admin or wildcard permissions".into(),
                format!(
                    "{who} has {}, which gives it unrestricted control.",
                    why.join(" and ")
                ),
                why.join("; "),
                "Grant the specific permissions the principal needs instead of admin or \"*\".",
                &["CIS AWS Foundations 1.16"],
            ));
        }
        if e.permissions.len() > 10 {
            out.push(f(
                e,
                "iam.excessive_permissions",
                Severity::Low,
                format!("{} permissions (more than 10)", e.permissions.len()),
                format!(
                    "{who} holds {} permissions; a set this large usually exceeds least privilege.",
                    e.permissions.len()
                ),
                format!("permissions: {}", e.permissions.len()),
                "Review the permissions and remove the ones the principal does not use.",
                &["CIS AWS Foundations 1.16"],
            ));
        }
        if e.kind == PrincipalType::Group {
            let full: Vec<&String> = e
                .policies
                .iter()
                .chain(e.privileges.iter())
                .filter(|p| {
                    let l = p.to_ascii_lowercase();
                    l.contains("full_access")
                        || l.contains("fullaccess")
                        || l == "administratoraccess"
                        || l == "*"
                })
                .collect();
            if !full.is_empty() {
                let names = full
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(f(
                    e,
                    "iam.group_full_access",
                    Severity::Medium,
                    format!("Group has a full-access policy ({names})"),
                    format!("Every member of {who} receives full access through {names}."),
                    format!("policy: {names}"),
                    "Replace full-access policies on groups with scoped job-function policies.",
                    &["CIS AWS Foundations 1.15"],
                ));
            }
        }
    }
    out
}
