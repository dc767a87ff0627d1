//! The checks. `run` audits an account model; credential-report checks live
//! in `credreport`, seed-format checks in `seed`.

mod privesc;
mod risk;
pub(crate) mod seed;

pub use privesc::method_names as privesc_methods;
mod trust;

use chrono::{DateTime, Utc};

use crate::eval::{Confidence, Evaluator, StmtRef};
use crate::model::{Account, Principal, PrincipalType};
use crate::policy::Matcher;
use crate::{Evidence, IamFinding, Severity};

pub(crate) const PRIVESC: &str = "iam.privilege_escalation";

/// Audit an account model.
pub(crate) fn run(account: &Account, now: DateTime<Utc>) -> Vec<IamFinding> {
    let ev = Evaluator::new(account, now);
    let mut out = Vec::new();
    let escalating = privesc::run(&ev, &mut out);
    risk::run(&ev, &mut out);
    trust::run(&ev, &escalating, &mut out);
    risk::latent_versions(&ev, &mut out);
    out
}

/// Roles AWS creates and manages for its own services.
pub(crate) fn is_service_linked(p: &Principal) -> bool {
    p.kind == PrincipalType::Role && p.arn.contains(":role/aws-service-role/")
}

/// Action patterns shown per statement before the list is cut.
const MAX_PATTERNS: usize = 12;

pub(crate) fn evidence(
    ev: &Evaluator<'_>,
    p: &Principal,
    refs: &[StmtRef],
    detail: Option<&str>,
) -> Vec<Evidence> {
    evidence_for(ev, p, refs, detail, &[])
}

/// Like `evidence`, keeping only the action patterns of each statement that
/// match one of `relevant` (when that leaves any).
pub(crate) fn evidence_for(
    ev: &Evaluator<'_>,
    p: &Principal,
    refs: &[StmtRef],
    detail: Option<&str>,
    relevant: &[&str],
) -> Vec<Evidence> {
    let relevant: Vec<String> = relevant.iter().map(|a| a.to_ascii_lowercase()).collect();
    let mut refs = refs.to_vec();
    refs.sort();
    refs.dedup();
    refs.iter()
        .filter_map(|r| {
            let st = ev.statement(p, *r)?;
            let (policy, arn, group) = if r.policy == crate::eval::BOUNDARY {
                let b = p.boundary.as_ref()?;
                (
                    format!("{} (permissions boundary)", b.name),
                    b.arn.clone(),
                    None,
                )
            } else {
                let a = p.policies.get(r.policy)?;
                (a.name.clone(), a.arn.clone(), a.via_group.clone())
            };
            let negated = matches!(st.actions, Matcher::Except(_));
            let mut patterns: Vec<&String> = st.actions_raw.iter().collect();
            if !negated && !relevant.is_empty() {
                let kept: Vec<&String> = patterns
                    .iter()
                    .copied()
                    .filter(|pat| {
                        let l = pat.to_ascii_lowercase();
                        relevant.iter().any(|a| crate::glob::matches(&l, a))
                    })
                    .collect();
                if !kept.is_empty() {
                    patterns = kept;
                }
            }
            let total = patterns.len();
            Some(Evidence {
                policy,
                policy_arn: arn,
                via_group: group,
                statement: Some(st.label()),
                effect: Some(format!("{:?}", st.effect)),
                actions: patterns
                    .iter()
                    .take(MAX_PATTERNS)
                    .map(|a| {
                        if negated {
                            format!("!{a}")
                        } else {
                            (*a).clone()
                        }
                    })
                    .chain(
                        (total > MAX_PATTERNS)
                            .then(|| format!("... ({} more)", total - MAX_PATTERNS)),
                    )
                    .collect(),
                detail: detail.map(str::to_string),
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn finding(
    p: &Principal,
    check_id: &str,
    severity: Severity,
    title: String,
    explanation: String,
    method: Option<String>,
    evidence: Vec<Evidence>,
    remediation: &str,
    references: &[&str],
    confidence: Confidence,
) -> IamFinding {
    IamFinding {
        check_id: check_id.into(),
        severity,
        principal_type: p.kind,
        principal: p.name.clone(),
        principal_arn: (!p.arn.is_empty()).then(|| p.arn.clone()),
        title,
        explanation,
        method,
        evidence,
        remediation: remediation.into(),
        references: references.iter().map(|s| s.to_string()).collect(),
        confidence,
    }
}

/// "user alice", "role ci-deploy", ...
pub(crate) fn describe(p: &Principal) -> String {
    match p.kind {
        PrincipalType::Policy => format!("the policy {}", p.name),
        k => format!("{} {}", k.as_str(), p.name),
    }
}

pub(crate) fn conditional_note(c: Confidence) -> &'static str {
    match c {
        Confidence::Certain => "",
        Confidence::Conditional => {
            " Part of this depends on a policy Condition (or a conditional Deny) that the audit cannot decide, so the finding is conditional."
        }
    }
}
