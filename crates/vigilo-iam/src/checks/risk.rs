//! Effective-permission risks: admin access, data exfiltration, credentials
//! exposure, resource exposure, service wildcards, infrastructure
//! modification, and latent risk in non-default policy versions.

use super::{conditional_note, describe, evidence, evidence_for, finding, is_service_linked};
use crate::catalog::{AccessLevel, ActionSet, CATALOG};
use crate::eval::{Confidence, Evaluator, Res, StmtRef};
use crate::model::PrincipalType;
use crate::policy::{Effect, Matcher};
use crate::{Evidence, IamFinding, Severity};

/// Actions that read data or secrets out of the account.
const EXFILTRATION: &[&str] = &[
    "s3:GetObject",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "kms:Decrypt",
    "dynamodb:Scan",
    "rds-data:ExecuteStatement",
];

/// Actions that return credentials, keys or passwords.
const CREDENTIALS: &[&str] = &[
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:CreateServiceSpecificCredential",
    "iam:ResetServiceSpecificCredential",
    "iam:UpdateAccessKey",
    "sts:GetFederationToken",
    "ec2:GetPasswordData",
    "ecr:GetAuthorizationToken",
    "redshift:GetClusterCredentials",
    "rds-db:Connect",
    "lightsail:GetInstanceAccessDetails",
    "lightsail:GetRelationalDatabaseMasterUserPassword",
    "cognito-identity:GetCredentialsForIdentity",
    "sso:GetRoleCredentials",
    "codeartifact:GetAuthorizationToken",
    "gamelift:RequestUploadCredentials",
];

const MAX_LISTED: usize = 8;

fn first_names(set: &ActionSet, n: usize) -> (Vec<String>, usize) {
    let cat = &*CATALOG;
    let names: Vec<String> = set
        .iter()
        .take(n)
        .filter_map(|i| cat.actions.get(i).map(|a| a.display.clone()))
        .collect();
    (names, set.len())
}

fn level_set(set: &ActionSet, levels: &[AccessLevel]) -> ActionSet {
    let mut out = crate::catalog::level_set(levels);
    out.intersect_with(set);
    out
}

pub(super) fn run(ev: &Evaluator<'_>, out: &mut Vec<IamFinding>) {
    for (pi, p) in ev.account.principals.iter().enumerate() {
        let Some(caps) = ev.caps(pi) else { continue };
        if p.kind == PrincipalType::Group {
            group_full_access(ev, pi, out);
            continue;
        }
        if is_service_linked(p) {
            continue;
        }
        if let Some(conf) = caps.is_admin() {
            let refs: Vec<StmtRef> = p
                .policies
                .iter()
                .enumerate()
                .flat_map(|(pj, a)| {
                    a.doc
                        .statements
                        .iter()
                        .enumerate()
                        .filter_map(move |(sj, st)| {
                            (st.effect == Effect::Allow
                                && (st.actions.patterns().iter().any(|x| x == "*")
                                    || st.actions.is_negated()))
                            .then_some(StmtRef {
                                policy: pj,
                                stmt: sj,
                            })
                        })
                })
                .collect();
            out.push(finding(
                p,
                "iam.admin_access",
                Severity::High,
                "Has administrator access (*:* on *)".into(),
                format!(
                    "{} is allowed every action on every resource. Anyone who obtains its credentials owns the account, including its logs and its other identities.{}",
                    describe(p),
                    conditional_note(conf)
                ),
                None,
                evidence(ev, p, &refs, Some("effective permissions: all actions on all resources")),
                "Replace administrator access with the permissions the principal actually uses (IAM Access Analyzer can generate a policy from CloudTrail), and keep full admin for break-glass roles with MFA.",
                &["CIS AWS Foundations 1.16"],
                conf,
            ));
            continue;
        }
        grant_list(
            ev,
            pi,
            EXFILTRATION,
            out,
            ListCheck {
                id: "iam.data_exfiltration",
                severity: Severity::Medium,
                title: "Can read data or secrets on all resources",
                what: "read data and secrets (objects, secrets, parameters, decrypted ciphertext) without any resource restriction",
                remediation: "Restrict these read actions to the specific buckets, secrets, parameters and keys the principal needs.",
                references: &["MITRE ATT&CK T1530", "MITRE ATT&CK T1552"],
            },
        );
        grant_list(
            ev,
            pi,
            CREDENTIALS,
            out,
            ListCheck {
                id: "iam.credentials_exposure",
                severity: Severity::Medium,
                title: "Can obtain credentials on all resources",
                what: "create or fetch credentials, passwords or tokens without any resource restriction",
                remediation: "Remove these actions or restrict them to the principal's own resources (for IAM users: arn:aws:iam::ACCOUNT:user/${aws:username}).",
                references: &["MITRE ATT&CK T1528", "MITRE ATT&CK T1098.001"],
            },
        );
        let pm = level_set(&caps.star, &[AccessLevel::PermissionsManagement]);
        if pm.len() > 0 {
            let (names, total) = first_names(&pm, MAX_LISTED);
            let refs = refs_for(ev, pi, &names);
            let conf =
                if level_set(&caps.star_certain, &[AccessLevel::PermissionsManagement]).len() > 0 {
                    Confidence::Certain
                } else {
                    Confidence::Conditional
                };
            out.push(finding(
                p,
                "iam.resource_exposure",
                Severity::Medium,
                format!("Can change permissions on all resources ({total} actions)"),
                format!(
                    "{} holds {total} permissions-management action{} on all resources (e.g. {}). These rewrite resource policies and grants, which can expose resources publicly or to other accounts.{}",
                    describe(p),
                    if total == 1 { "" } else { "s" },
                    names.join(", "),
                    conditional_note(conf)
                ),
                None,
                evidence_for(ev, p, &refs, Some(&format!("permissions management on *: {total} actions")), &strs(&names)),
                "Restrict permissions-management actions to specific resource ARNs, or move them to a dedicated administrative role.",
                &["MITRE ATT&CK T1098"],
                conf,
            ));
        }
        service_wildcards(ev, pi, out);
        let write = level_set(&caps.star, &[AccessLevel::Write, AccessLevel::Tagging]);
        if write.len() > 0 {
            let (names, total) = first_names(&write, MAX_LISTED);
            let refs = refs_for(ev, pi, &names);
            out.push(finding(
                p,
                "iam.infrastructure_modification",
                Severity::Low,
                format!("Can modify resources without resource restriction ({total} actions)"),
                format!(
                    "{} holds {total} write or tagging action{} with Resource \"*\" (e.g. {}). Scoping them to specific resources limits what a compromise can change.",
                    describe(p),
                    if total == 1 { "" } else { "s" },
                    names.join(", ")
                ),
                None,
                evidence_for(ev, p, &refs, Some(&format!("write on *: {total} actions")), &strs(&names)),
                "Replace Resource \"*\" with the ARNs of the resources the principal manages.",
                &["CIS AWS Foundations 1.16"],
                Confidence::Certain,
            ));
        }
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Statements that grant the listed example actions on `*`.
fn refs_for(ev: &Evaluator<'_>, pi: usize, names: &[String]) -> Vec<StmtRef> {
    let Some(p) = ev.account.principals.get(pi) else {
        return Vec::new();
    };
    let mut refs = Vec::new();
    for n in names {
        if let Some(g) = ev.allowed(p, n, Res::Star) {
            refs.extend(g.via);
        }
    }
    refs
}

struct ListCheck {
    id: &'static str,
    severity: Severity,
    title: &'static str,
    what: &'static str,
    remediation: &'static str,
    references: &'static [&'static str],
}

fn grant_list(
    ev: &Evaluator<'_>,
    pi: usize,
    actions: &[&str],
    out: &mut Vec<IamFinding>,
    c: ListCheck,
) {
    let Some(p) = ev.account.principals.get(pi) else {
        return;
    };
    let mut granted = Vec::new();
    let mut refs = Vec::new();
    let mut conf = Confidence::Conditional;
    for a in actions {
        if let Some(g) = ev.allowed(p, a, Res::Star) {
            granted.push(*a);
            conf = conf.max(g.confidence);
            refs.extend(g.via);
        }
    }
    if granted.is_empty() {
        return;
    }
    out.push(finding(
        p,
        c.id,
        c.severity,
        c.title.into(),
        format!(
            "{} can {}: {}.{}",
            describe(p),
            c.what,
            granted.join(", "),
            conditional_note(conf)
        ),
        None,
        evidence_for(
            ev,
            p,
            &refs,
            Some(&format!("on *: {}", granted.join(", "))),
            &granted,
        ),
        c.remediation,
        c.references,
        conf,
    ));
}

fn service_wildcards(ev: &Evaluator<'_>, pi: usize, out: &mut Vec<IamFinding>) {
    let Some(p) = ev.account.principals.get(pi) else {
        return;
    };
    let Some(caps) = ev.caps(pi) else { return };
    let mut services: Vec<String> = Vec::new();
    let mut refs = Vec::new();
    for (pj, a) in p.policies.iter().enumerate() {
        for (sj, st) in a.doc.statements.iter().enumerate() {
            if st.effect != Effect::Allow {
                continue;
            }
            let Matcher::Only(pats) = &st.actions else {
                continue;
            };
            for pat in pats {
                let Some(svc) = pat.strip_suffix(":*") else {
                    continue;
                };
                if svc.is_empty() || svc.contains(['*', '?']) {
                    continue;
                }
                // Only when the whole service is still granted after denies.
                let set = ev.expand(&Matcher::Only(vec![pat.clone()]));
                if set.len() == 0 || !set.is_subset_of(&caps.any) {
                    continue;
                }
                if !services.iter().any(|s| s == svc) {
                    services.push(svc.to_string());
                }
                refs.push(StmtRef {
                    policy: pj,
                    stmt: sj,
                });
            }
        }
    }
    if services.is_empty() {
        return;
    }
    out.push(finding(
        p,
        "iam.service_wildcard",
        Severity::Low,
        format!("Grants every action of {} service{}", services.len(), if services.len() == 1 { "" } else { "s" }),
        format!(
            "{} is granted `service:*` for {}. A service wildcard includes actions added in the future and usually far more than the workload uses.",
            describe(p),
            services.join(", ")
        ),
        None,
        evidence(ev, p, &refs, Some(&format!("service wildcards: {}", services.join(", ")))),
        "List the actions the principal needs instead of `service:*`.",
        &["CIS AWS Foundations 1.16"],
        Confidence::Certain,
    ));
}

fn group_full_access(ev: &Evaluator<'_>, gi: usize, out: &mut Vec<IamFinding>) {
    let Some(g) = ev.account.principals.get(gi) else {
        return;
    };
    let Some(caps) = ev.caps(gi) else { return };
    let admin = caps.is_admin();
    let full_named: Vec<usize> = g
        .policies
        .iter()
        .enumerate()
        .filter(|(_, a)| {
            let n = a.name.to_ascii_lowercase();
            n.ends_with("fullaccess") || n.contains("full_access") || n == "administratoraccess"
        })
        .map(|(i, _)| i)
        .collect();
    if admin.is_none() && full_named.is_empty() {
        return;
    }
    let refs: Vec<StmtRef> = full_named
        .iter()
        .flat_map(|&pj| {
            let n = g.policies.get(pj).map_or(0, |a| a.doc.statements.len());
            (0..n).map(move |sj| StmtRef {
                policy: pj,
                stmt: sj,
            })
        })
        .collect();
    let names: Vec<&str> = full_named
        .iter()
        .filter_map(|&i| g.policies.get(i).map(|a| a.name.as_str()))
        .collect();
    let severity = Severity::Medium;
    let conf = admin.unwrap_or(Confidence::Certain);
    out.push(finding(
        g,
        "iam.group_full_access",
        severity,
        if admin.is_some() {
            "Group grants administrator access".into()
        } else {
            format!("Group has a full-access policy ({})", names.join(", "))
        },
        format!(
            "Every member of group {} receives {}. Membership changes then silently hand out broad access.{}",
            g.name,
            if admin.is_some() {
                "every action on every resource".to_string()
            } else {
                format!("full access through {}", names.join(", "))
            },
            conditional_note(conf)
        ),
        None,
        evidence(ev, g, &refs, None),
        "Replace full-access policies on groups with job-function policies scoped to what the members need.",
        &["CIS AWS Foundations 1.15", "CIS AWS Foundations 1.16"],
        conf,
    ));
}

/// Non-default versions of customer managed policies grant nothing today but
/// come back with one `iam:SetDefaultPolicyVersion`.
pub(super) fn latent_versions(ev: &Evaluator<'_>, out: &mut Vec<IamFinding>) {
    for m in &ev.account.managed {
        if !m.is_customer_managed() || m.other_versions.is_empty() {
            continue;
        }
        let default_set = m
            .default_doc
            .as_ref()
            .map(|d| doc_star(ev, d))
            .unwrap_or_else(ActionSet::empty);
        for (vid, doc) in &m.other_versions {
            let set = doc_star(ev, doc);
            let mut extra = set.clone();
            extra.subtract(&default_set);
            let risky = level_set(&extra, &[AccessLevel::PermissionsManagement]);
            let admin = set.is_full();
            if !admin && risky.len() == 0 {
                continue;
            }
            let (names, total) = first_names(&risky, MAX_LISTED);
            out.push(crate::IamFinding {
                check_id: "iam.latent_policy_version".into(),
                severity: if admin { Severity::Medium } else { Severity::Low },
                principal_type: PrincipalType::Policy,
                principal: m.name.clone(),
                principal_arn: Some(m.arn.clone()),
                title: format!("Non-default version {vid} grants more than the default"),
                explanation: format!(
                    "Version {vid} of policy {} is not the default, so it grants nothing today (default: {}), but {}. Anyone allowed iam:SetDefaultPolicyVersion on it can make it effective again.",
                    m.name,
                    m.default_version.as_deref().unwrap_or("none"),
                    if admin {
                        "it allows every action on every resource".to_string()
                    } else {
                        format!("it adds {total} permissions-management action{} (e.g. {})", if total == 1 { "" } else { "s" }, names.join(", "))
                    }
                ),
                method: None,
                evidence: vec![Evidence {
                    policy: m.name.clone(),
                    policy_arn: Some(m.arn.clone()),
                    detail: Some(format!("non-default version {vid}")),
                    ..Default::default()
                }],
                remediation: "Delete policy versions that are no longer needed (iam:DeletePolicyVersion).".into(),
                references: vec!["MITRE ATT&CK T1098".into()],
                confidence: Confidence::Certain,
            });
        }
    }
}

fn doc_star(ev: &Evaluator<'_>, doc: &crate::policy::PolicyDocument) -> ActionSet {
    let mut set = ActionSet::empty();
    let mut deny = ActionSet::empty();
    for st in &doc.statements {
        let s = ev.expand(&st.actions);
        match st.effect {
            Effect::Allow => set.union_with(&s),
            Effect::Deny => deny.union_with(&s),
        }
    }
    set.subtract(&deny);
    set
}
