//! Trust-policy checks on roles.

use std::collections::BTreeSet;

use super::{describe, finding, is_service_linked};
use crate::eval::{CondOutcome, Confidence, Evaluator, eval_conditions};
use crate::model::{PrincipalType, arn_account};
use crate::policy::{Condition, Effect, PrincipalSpec, Statement};
use crate::{Evidence, IamFinding, Severity};

/// Condition keys that restrict who can use a trust statement.
const RESTRICTING: &[&str] = &[
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:sourceidentity",
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:userid",
    "aws:username",
    "sts:externalid",
];

const COMPUTE: &[&str] = &[
    "ec2",
    "lambda",
    "ecs-tasks",
    "ecs",
    "eks",
    "eks-fargate-pods",
    "glue",
    "sagemaker",
    "codebuild",
    "datapipeline",
    "elasticbeanstalk",
    "batch",
    "elasticmapreduce",
    "cloudformation",
    "states",
    "apprunner",
    "build.apprunner",
];

fn restricting(conds: &[Condition]) -> bool {
    conds.iter().any(|c| {
        let k = c.key.to_ascii_lowercase();
        RESTRICTING.contains(&k.as_str()) || k.ends_with(":sub") || k.ends_with(":aud")
    })
}

fn trust_evidence(role: &str, st: &Statement, detail: String) -> Evidence {
    Evidence {
        policy: format!("trust policy of {role}"),
        statement: Some(st.label()),
        effect: Some("Allow".into()),
        actions: st.actions_raw.clone(),
        detail: Some(detail),
        ..Default::default()
    }
}

fn cond_text(conds: &[Condition]) -> String {
    conds
        .iter()
        .map(|c| format!("{} {} {}", c.operator, c.key, c.values.join("|")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn run(ev: &Evaluator<'_>, escalating: &BTreeSet<usize>, out: &mut Vec<IamFinding>) {
    for (ri, r) in ev.account.principals.iter().enumerate() {
        if r.kind != PrincipalType::Role || is_service_linked(r) {
            continue;
        }
        let Some(trust) = &r.trust else { continue };
        let admin = ev.caps(ri).and_then(|c| c.is_admin()).is_some();
        let own_account = r.account_id.as_deref();
        let mut compute: Vec<String> = Vec::new();
        for st in &trust.statements {
            if st.effect != Effect::Allow || st.not_principal {
                continue;
            }
            if !(st.actions.matches_action("sts:assumerole")
                || st.actions.matches_action("sts:assumerolewithwebidentity")
                || st.actions.matches_action("sts:assumerolewithsaml"))
            {
                continue;
            }
            let cond = eval_conditions(&st.conditions, ev.now);
            if cond == CondOutcome::Never {
                continue;
            }
            let conf = if st.conditions.is_empty() {
                Confidence::Certain
            } else {
                Confidence::Conditional
            };
            let mut anyone = None;
            let mut cross = Vec::new();
            let mut federated = Vec::new();
            match &st.principal {
                Some(PrincipalSpec::Wildcard) => anyone = Some("\"Principal\": \"*\"".to_string()),
                Some(PrincipalSpec::Typed(kinds)) => {
                    for (k, vals) in kinds {
                        for v in vals {
                            if k.eq_ignore_ascii_case("AWS") {
                                if v == "*" {
                                    anyone = Some("{\"AWS\": \"*\"}".into());
                                } else if v.starts_with("arn:aws:iam::*:")
                                    || v.starts_with("arn:*:iam::*:")
                                {
                                    anyone = Some(format!("{{\"AWS\": \"{v}\"}}"));
                                } else {
                                    let acct = arn_account(v).or_else(|| {
                                        (v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit()))
                                            .then_some(v.as_str())
                                    });
                                    if let (Some(a), Some(own)) = (acct, own_account)
                                        && a != own
                                        && a != "aws"
                                    {
                                        cross.push((a.to_string(), v.clone()));
                                    }
                                }
                            } else if k.eq_ignore_ascii_case("Service") {
                                let svc = v.trim_end_matches(".amazonaws.com").to_ascii_lowercase();
                                if COMPUTE.contains(&svc.as_str()) && !compute.contains(v) {
                                    compute.push(v.clone());
                                }
                            } else if k.eq_ignore_ascii_case("Federated") {
                                federated.push(v.clone());
                            }
                        }
                    }
                }
                None => {}
            }
            if let Some(what) = anyone {
                let (severity, qual) = if st.conditions.is_empty() {
                    (
                        Severity::Critical,
                        "with no condition: any AWS account in the world can assume it".to_string(),
                    )
                } else if restricting(&st.conditions) {
                    (
                        Severity::Medium,
                        format!(
                            "restricted only by the condition {}",
                            cond_text(&st.conditions)
                        ),
                    )
                } else {
                    (
                        Severity::High,
                        format!(
                            "with a condition that does not restrict who the caller is ({})",
                            cond_text(&st.conditions)
                        ),
                    )
                };
                out.push(finding(
                    r,
                    "iam.role_trust_any_principal",
                    severity,
                    "Role can be assumed by any principal".into(),
                    format!(
                        "The trust policy of {} allows {what} to assume it, {qual}.{}",
                        describe(r),
                        if admin { " The role has administrator access." } else { "" }
                    ),
                    None,
                    vec![trust_evidence(&r.name, st, format!("Principal {what}"))],
                    "Name the exact accounts or principals that need the role, and add aws:PrincipalOrgID or sts:ExternalId conditions.",
                    &["CIS AWS Foundations 1.20"],
                    conf,
                ));
            }
            for (acct, v) in cross {
                let guarded = restricting(&st.conditions);
                let severity = match (admin, guarded) {
                    (true, false) => Severity::High,
                    (true, true) | (false, false) => Severity::Medium,
                    (false, true) => Severity::Low,
                };
                out.push(finding(
                    r,
                    "iam.role_trust_cross_account",
                    severity,
                    format!("Role trusts another account ({acct})"),
                    format!(
                        "The trust policy of {} lets {v} (account {acct}) assume it{}{}. Whoever controls that account's identities can act with this role's permissions.",
                        describe(r),
                        if guarded { format!(", subject to {}", cond_text(&st.conditions)) } else { " without an sts:ExternalId or organization condition".into() },
                        if admin { "; the role has administrator access" } else { "" }
                    ),
                    None,
                    vec![trust_evidence(&r.name, st, format!("trusted principal {v}"))],
                    "Confirm that the account is yours or a trusted vendor's; require sts:ExternalId for third parties and aws:PrincipalOrgID for your organization.",
                    &["CIS AWS Foundations 1.20"],
                    conf,
                ));
            }
            for v in federated {
                if st.conditions.is_empty()
                    || (!restricting(&st.conditions) && !v.contains("saml-provider"))
                {
                    out.push(finding(
                        r,
                        "iam.role_trust_federated_unrestricted",
                        Severity::High,
                        "Federated role trust has no audience or subject condition".into(),
                        format!(
                            "The trust policy of {} lets identities of {v} assume it without restricting which ones (no :aud / :sub condition). For public identity providers this means anyone with an account there.",
                            describe(r)
                        ),
                        None,
                        vec![trust_evidence(&r.name, st, format!("Federated {v}"))],
                        "Add StringEquals conditions on the provider's aud and sub claims (for example token.actions.githubusercontent.com:sub).",
                        &[],
                        conf,
                    ));
                }
            }
        }
        if !compute.is_empty() {
            let esc = escalating.contains(&ri);
            let pm = ev.caps(ri).is_some_and(|c| {
                c.star.iter().any(|i| {
                    crate::catalog::CATALOG.actions.get(i).is_some_and(|a| {
                        a.level == crate::catalog::AccessLevel::PermissionsManagement
                    })
                })
            });
            if admin || esc || pm {
                let why = if admin {
                    "administrator access"
                } else if esc {
                    "permissions that allow privilege escalation"
                } else {
                    "permissions-management actions on all resources"
                };
                out.push(finding(
                    r,
                    "iam.role_trust_compute_service",
                    if admin { Severity::High } else { Severity::Medium },
                    "Compute service role holds high privileges".into(),
                    format!(
                        "{} is assumable by {} and holds {why}. Any code running there (and anyone who can run code there, for example with iam:PassRole) gets those privileges.",
                        describe(r),
                        compute.join(", ")
                    ),
                    None,
                    vec![Evidence {
                        policy: format!("trust policy of {}", r.name),
                        detail: Some(format!("Service {}", compute.join(", "))),
                        ..Default::default()
                    }],
                    "Give compute roles only what the workload needs, and restrict who may pass them (iam:PassRole).",
                    &["CIS AWS Foundations 1.18"],
                    Confidence::Certain,
                ));
            }
        }
    }
}
