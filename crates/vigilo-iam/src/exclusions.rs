//! Exclusions: principals, policies and checks to leave out of a report.
//!
//! YAML or JSON, every key optional, each value a string or a list of
//! strings; `*` and `?` wildcards match case-insensitively:
//!
//! ```yaml
//! users: ["break-glass-*"]          # user names or ARNs
//! groups: ["admins"]
//! roles: ["OrganizationAccountAccessRole", "AWSReservedSSO_*"]
//! principals: ["ci-*"]              # any principal type
//! policies: ["AWSServiceRoleFor*"]  # findings caused only by these policies
//! check_ids: ["iam.infrastructure_modification"]
//! ```

use serde_json::Value;

use crate::IamFinding;
use crate::error::InputError;
use crate::glob;
use crate::model::PrincipalType;

/// What to leave out of a report. See the module documentation for the file format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exclusions {
    pub users: Vec<String>,
    pub groups: Vec<String>,
    pub roles: Vec<String>,
    pub principals: Vec<String>,
    pub policies: Vec<String>,
    pub check_ids: Vec<String>,
}

const KEYS: &str = "users, groups, roles, principals, policies, check_ids";

impl Exclusions {
    /// Parse a YAML or JSON exclusions file.
    pub fn parse(text: &str) -> Result<Self, InputError> {
        if text.trim().is_empty() {
            return Ok(Exclusions::default());
        }
        let value: Value =
            yaml_serde::from_str(text).map_err(|e| InputError::Exclusions(e.to_string()))?;
        let map = match value {
            Value::Null => return Ok(Exclusions::default()),
            Value::Object(m) => m,
            _ => {
                return Err(InputError::Exclusions(format!(
                    "$: expected a mapping with keys {KEYS}"
                )));
            }
        };
        let mut out = Exclusions::default();
        for (k, v) in map {
            let slot = match k.as_str() {
                "users" => &mut out.users,
                "groups" => &mut out.groups,
                "roles" => &mut out.roles,
                "principals" => &mut out.principals,
                "policies" => &mut out.policies,
                "check_ids" | "check-ids" | "checks" => &mut out.check_ids,
                _ => {
                    return Err(InputError::Exclusions(format!(
                        "$.{k}: unknown key (expected one of {KEYS})"
                    )));
                }
            };
            let list: Vec<String> = match &v {
                Value::Null => Vec::new(),
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| match x {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(InputError::Exclusions(format!(
                            "$.{k}[{i}]: expected a string"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                _ => {
                    return Err(InputError::Exclusions(format!(
                        "$.{k}: expected a string or a list of strings"
                    )));
                }
            };
            slot.extend(list);
        }
        Ok(out)
    }

    fn any(patterns: &[String], values: &[&str]) -> bool {
        patterns
            .iter()
            .any(|p| values.iter().any(|v| glob::matches_ci(p, v)))
    }

    /// Should this finding be left out?
    pub fn excludes(&self, f: &IamFinding) -> bool {
        let mut names = vec![f.principal.as_str()];
        if let Some(a) = &f.principal_arn {
            names.push(a);
        }
        if Self::any(&self.check_ids, &[&f.check_id]) || Self::any(&self.principals, &names) {
            return true;
        }
        let typed = match f.principal_type {
            PrincipalType::User => &self.users,
            PrincipalType::Group => &self.groups,
            PrincipalType::Role => &self.roles,
            PrincipalType::Policy => &self.policies,
            PrincipalType::Account => &self.users,
        };
        if Self::any(typed, &names) {
            return true;
        }
        // Findings whose every piece of evidence comes from an excluded policy.
        let policy_evidence: Vec<&crate::Evidence> = f
            .evidence
            .iter()
            .filter(|e| {
                !e.policy.starts_with("trust policy of ") && e.policy != "credential report"
            })
            .collect();
        !self.policies.is_empty()
            && !policy_evidence.is_empty()
            && policy_evidence.len() == f.evidence.len()
            && policy_evidence.iter().all(|e| {
                let mut v = vec![e.policy.as_str()];
                if let Some(a) = &e.policy_arn {
                    v.push(a);
                }
                Self::any(&self.policies, &v)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json() {
        let y = Exclusions::parse(
            "users: [\"ci-*\"]\nroles: OrgRole\ncheck_ids:\n  - iam.service_wildcard\n",
        )
        .unwrap();
        assert_eq!(y.users, vec!["ci-*"]);
        assert_eq!(y.roles, vec!["OrgRole"]);
        let j = Exclusions::parse(
            r#"{"users": ["ci-*"], "roles": "OrgRole", "check_ids": ["iam.service_wildcard"]}"#,
        )
        .unwrap();
        assert_eq!(y, j);
        assert!(Exclusions::parse("").unwrap() == Exclusions::default());
        let e = Exclusions::parse("bogus: [1]").unwrap_err().to_string();
        assert!(e.contains("unknown key"), "{e}");
        let e = Exclusions::parse("users: [1]").unwrap_err().to_string();
        assert!(e.contains("$.users[0]"), "{e}");
    }
}
