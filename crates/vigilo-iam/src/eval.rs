//! The policy evaluator: what a principal may do, with which confidence, and
//! because of which statements.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{ActionSet, expand_pattern, index_of};
use crate::glob;
use crate::model::{Account, Principal, PrincipalType};
use crate::policy::{Condition, Effect, Matcher, PolicyDocument, Statement};

/// How sure a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Depends on a condition (or a conditional Deny) that may or may not hold.
    Conditional,
    /// Granted unconditionally.
    Certain,
}

/// The outcome of evaluating a condition block against what is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CondOutcome {
    Always,
    Maybe,
    Never,
}

/// Longest lifetime of temporary credentials (GetSessionToken, 36 hours).
const MAX_SESSION_HOURS: i64 = 36;

/// What is known about the request being evaluated, beyond action and resource.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ctx<'a> {
    /// For `iam:PassRole`: the service principal the role is passed to.
    pub passed_to_service: Option<&'a str>,
}

fn eval_string_condition(op: &str, values: &[String], actual: &str) -> CondOutcome {
    let base = op.strip_suffix("IfExists").unwrap_or(op);
    let base = base
        .strip_prefix("ForAnyValue:")
        .or_else(|| base.strip_prefix("ForAllValues:"))
        .unwrap_or(base);
    let hit = |like: bool| {
        values.iter().any(|v| {
            if like {
                glob::matches_ci(v, actual)
            } else {
                v.eq_ignore_ascii_case(actual)
            }
        })
    };
    let yes = match base {
        "StringEquals" | "StringEqualsIgnoreCase" => hit(false),
        "StringLike" => hit(true),
        "StringNotEquals" | "StringNotEqualsIgnoreCase" => !hit(false),
        "StringNotLike" => !hit(true),
        _ => return CondOutcome::Maybe,
    };
    if yes {
        CondOutcome::Always
    } else {
        CondOutcome::Never
    }
}

fn eval_condition(c: &Condition, now: DateTime<Utc>, ctx: Ctx<'_>) -> CondOutcome {
    let op = c.operator.as_str();
    let key = c.key.to_ascii_lowercase();
    if key == "iam:passedtoservice" {
        return match ctx.passed_to_service {
            Some(svc) => eval_string_condition(op, &c.values, svc),
            None => CondOutcome::Maybe,
        };
    }
    let date_op = matches!(
        op,
        "DateGreaterThan" | "DateGreaterThanEquals" | "DateLessThan" | "DateLessThanEquals"
    );
    if !date_op
        || !matches!(
            key.as_str(),
            "aws:currenttime" | "aws:tokenissuetime" | "aws:epochtime"
        )
    {
        return CondOutcome::Maybe;
    }
    let parse = |v: &str| -> Option<DateTime<Utc>> {
        if let Ok(secs) = v.parse::<i64>() {
            return DateTime::from_timestamp(secs, 0);
        }
        crate::model::parse_time(v)
    };
    let greater = op.starts_with("DateGreaterThan");
    // Values of one key are ORed.
    let mut best = CondOutcome::Never;
    for v in &c.values {
        let Some(t) = parse(v) else {
            return CondOutcome::Maybe;
        };
        let outcome = match (key.as_str(), greater) {
            // The current time only moves forward.
            ("aws:currenttime" | "aws:epochtime", true) if t <= now => CondOutcome::Always,
            ("aws:currenttime" | "aws:epochtime", true) => CondOutcome::Maybe,
            ("aws:currenttime" | "aws:epochtime", false) if t <= now => CondOutcome::Never,
            ("aws:currenttime" | "aws:epochtime", false) => CondOutcome::Maybe,
            // Only temporary credentials carry a token issue time, so a
            // "greater than" is satisfiable but never certain; a "less than"
            // a date older than any live session can never hold.
            (_, true) => CondOutcome::Maybe,
            (_, false) if t < now - chrono::Duration::hours(MAX_SESSION_HOURS) => {
                CondOutcome::Never
            }
            (_, false) => CondOutcome::Maybe,
        };
        best = match (best, outcome) {
            (CondOutcome::Always, _) | (_, CondOutcome::Always) => CondOutcome::Always,
            (CondOutcome::Maybe, _) | (_, CondOutcome::Maybe) => CondOutcome::Maybe,
            _ => CondOutcome::Never,
        };
    }
    best
}

/// All conditions of a statement are ANDed.
pub(crate) fn eval_conditions(conds: &[Condition], now: DateTime<Utc>) -> CondOutcome {
    eval_conditions_in(conds, now, Ctx::default())
}

pub(crate) fn eval_conditions_in(
    conds: &[Condition],
    now: DateTime<Utc>,
    ctx: Ctx<'_>,
) -> CondOutcome {
    let mut out = CondOutcome::Always;
    for c in conds {
        match eval_condition(c, now, ctx) {
            CondOutcome::Never => return CondOutcome::Never,
            CondOutcome::Maybe => out = CondOutcome::Maybe,
            CondOutcome::Always => {}
        }
    }
    out
}

/// Which resources a question is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Res<'a> {
    /// Some resource, unknown which.
    Any,
    /// Some resource that is not in the AWS-managed namespace
    /// (`arn:aws:iam::aws:...`), for questions about customer policies when no
    /// inventory is available.
    AnyCustomer,
    /// Some resource other than the caller itself (patterns that only name
    /// the caller through `${aws:username}` do not count).
    AnyOther,
    /// Every resource: the statement must say `*`.
    Star,
    /// This ARN.
    Arn(&'a str),
}

/// A reference to one statement of one of the principal's policies
/// (`policy == usize::MAX` is the permissions boundary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct StmtRef {
    pub policy: usize,
    pub stmt: usize,
}

pub(crate) const BOUNDARY: usize = usize::MAX;

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub confidence: Confidence,
    pub via: Vec<StmtRef>,
}

/// Stands for the caller's own name in a standalone policy document.
const SELF_PLACEHOLDER: &str = "\u{1}self\u{1}";

/// Substitute policy variables that can be resolved for this principal.
/// `None` means the pattern cannot match anything for it.
fn resolve<'p>(pattern: &'p str, p: &Principal) -> Option<Cow<'p, str>> {
    if !pattern.contains("${") {
        return Some(Cow::Borrowed(pattern));
    }
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Some(Cow::Owned(out));
        };
        let var = &after[..end];
        match var.to_ascii_lowercase().as_str() {
            "aws:username" => match p.kind {
                PrincipalType::User => out.push_str(&p.name),
                // A role session has no aws:username: the statement never applies.
                PrincipalType::Role | PrincipalType::Group => return None,
                // Standalone policy: a stand-in for "the caller's own name".
                _ => out.push_str(SELF_PLACEHOLDER),
            },
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            // Other variables (tags, ids): unknown value, any string.
            _ => out.push('*'),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(Cow::Owned(out))
}

fn resource_matches_arn(m: Option<&Matcher>, arn: &str, p: &Principal) -> bool {
    match m {
        None => true,
        Some(Matcher::Only(pats)) => pats
            .iter()
            .filter_map(|x| resolve(x, p))
            .any(|x| glob::matches(&x, arn)),
        Some(Matcher::Except(pats)) => !pats
            .iter()
            .filter_map(|x| resolve(x, p))
            .any(|x| glob::matches(&x, arn)),
    }
}

/// Can an Allow statement's Resource element grant something for `res`?
/// Returns the resource patterns that a Deny would have to cover.
fn allow_resources<'s>(
    st: &'s Statement,
    res: Res<'_>,
    p: &Principal,
) -> Option<Vec<Cow<'s, str>>> {
    let m = st.resources.as_ref();
    match res {
        Res::Arn(arn) => resource_matches_arn(m, arn, p).then(|| vec![Cow::Owned(arn.to_string())]),
        Res::Star => match m {
            None => Some(vec![Cow::Borrowed("*")]),
            Some(Matcher::Only(pats)) => pats
                .iter()
                .any(|x| x == "*")
                .then(|| vec![Cow::Borrowed("*")]),
            Some(Matcher::Except(pats)) => {
                (!pats.iter().any(|x| x == "*")).then(|| vec![Cow::Borrowed("*")])
            }
        },
        Res::Any | Res::AnyCustomer | Res::AnyOther => match m {
            None => Some(vec![Cow::Borrowed("*")]),
            Some(Matcher::Only(pats)) => {
                let v: Vec<Cow<str>> = pats
                    .iter()
                    .filter_map(|x| resolve(x, p))
                    .filter(|x| match res {
                        Res::AnyCustomer => !x.starts_with("arn:aws:iam::aws:"),
                        Res::AnyOther => !x.contains(SELF_PLACEHOLDER),
                        _ => true,
                    })
                    .collect();
                (!v.is_empty()).then_some(v)
            }
            Some(Matcher::Except(pats)) => {
                (!pats.iter().any(|x| x == "*")).then(|| vec![Cow::Borrowed("*")])
            }
        },
    }
}

/// Does a Deny statement's Resource element cover every resource in `allowed`?
fn deny_covers(st: &Statement, allowed: &[Cow<'_, str>], res: Res<'_>, p: &Principal) -> bool {
    let m = st.resources.as_ref();
    if let Res::Arn(arn) = res {
        return resource_matches_arn(m, arn, p);
    }
    match m {
        None => true,
        Some(Matcher::Only(pats)) => {
            let pats: Vec<Cow<str>> = pats.iter().filter_map(|x| resolve(x, p)).collect();
            allowed
                .iter()
                .all(|a| pats.iter().any(|d| glob::covers(d, a)))
        }
        Some(Matcher::Except(pats)) => {
            let pats: Vec<Cow<str>> = pats.iter().filter_map(|x| resolve(x, p)).collect();
            allowed
                .iter()
                .all(|a| a != "*" && !pats.iter().any(|d| glob::may_intersect(d, a)))
        }
    }
}

/// The capabilities of a principal over the action catalog.
#[derive(Clone)]
pub(crate) struct Caps {
    /// Actions allowed on some resource (conditions permitting).
    pub any: ActionSet,
    /// Actions allowed on every resource (conditions permitting).
    pub star: ActionSet,
    /// Actions allowed on every resource without any condition.
    pub star_certain: ActionSet,
}

impl Caps {
    pub fn is_admin(&self) -> Option<Confidence> {
        if self.star_certain.is_full() {
            Some(Confidence::Certain)
        } else if self.star.is_full() {
            Some(Confidence::Conditional)
        } else {
            None
        }
    }
    /// Does `other` hold some permission that `self` lacks?
    pub fn lacks_some_of(&self, other: &Caps) -> bool {
        !other.any.is_subset_of(&self.any)
    }
}

/// Expansions of action patterns over the catalog, shared by all audits
/// (AWS managed policies repeat the same patterns everywhere).
static PATTERNS: LazyLock<Mutex<HashMap<String, ActionSet>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
const MAX_CACHED_PATTERNS: usize = 50_000;

pub(crate) struct Evaluator<'a> {
    pub account: &'a Account,
    pub now: DateTime<Utc>,
    caps: Vec<Caps>,
    /// Per policy document (by address), the catalog actions each statement's
    /// Action/NotAction element covers.
    stmt_sets: HashMap<usize, Vec<ActionSet>>,
}

fn doc_key(d: &PolicyDocument) -> usize {
    d as *const PolicyDocument as usize
}

/// A lowercased action and its catalog position, when it has one.
#[derive(Clone, Copy)]
struct Act<'s> {
    lower: &'s str,
    index: Option<usize>,
}

impl<'a> Evaluator<'a> {
    pub fn new(account: &'a Account, now: DateTime<Utc>) -> Self {
        let mut ev = Evaluator {
            account,
            now,
            caps: Vec::new(),
            stmt_sets: HashMap::new(),
        };
        let mut sets = HashMap::new();
        for p in &account.principals {
            for doc in p
                .policies
                .iter()
                .map(|a| &*a.doc)
                .chain(p.boundary.as_ref().map(|b| &*b.doc))
            {
                sets.entry(doc_key(doc)).or_insert_with(|| {
                    doc.statements
                        .iter()
                        .map(|st| ev.expand(&st.actions))
                        .collect()
                });
            }
        }
        ev.stmt_sets = sets;
        let caps = account
            .principals
            .iter()
            .map(|p| ev.compute_caps(p))
            .collect();
        ev.caps = caps;
        ev
    }

    /// Does statement `si` of `doc` cover the action?
    fn covers(&self, doc: &PolicyDocument, si: usize, st: &Statement, act: Act<'_>) -> bool {
        match (
            act.index,
            self.stmt_sets.get(&doc_key(doc)).and_then(|v| v.get(si)),
        ) {
            (Some(i), Some(set)) => set.contains(i),
            _ => st.actions.matches_action(act.lower),
        }
    }

    pub fn caps(&self, index: usize) -> Option<&Caps> {
        self.caps.get(index)
    }

    /// The statement behind a reference.
    pub fn statement<'p>(&self, p: &'p Principal, r: StmtRef) -> Option<&'p Statement> {
        let doc: &PolicyDocument = if r.policy == BOUNDARY {
            &p.boundary.as_ref()?.doc
        } else {
            &p.policies.get(r.policy)?.doc
        };
        doc.statements.get(r.stmt)
    }

    pub fn expand(&self, m: &Matcher) -> ActionSet {
        let mut set = ActionSet::empty();
        // A poisoned lock only means another thread panicked mid-insert; the
        // map is still usable.
        let mut cache = PATTERNS.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > MAX_CACHED_PATTERNS {
            cache.clear();
        }
        for pat in m.patterns() {
            if let Some(s) = cache.get(pat) {
                set.union_with(s);
            } else {
                let s = expand_pattern(pat);
                set.union_with(&s);
                cache.insert(pat.clone(), s);
            }
        }
        if m.is_negated() {
            set.complement()
        } else {
            set
        }
    }

    fn doc_caps(&self, docs: &mut dyn Iterator<Item = &PolicyDocument>) -> Caps {
        let mut caps = Caps {
            any: ActionSet::empty(),
            star: ActionSet::empty(),
            star_certain: ActionSet::empty(),
        };
        let mut deny_all = ActionSet::empty();
        let mut deny_star = ActionSet::empty();
        let mut deny_certain = ActionSet::empty();
        for doc in docs {
            let cached = self.stmt_sets.get(&doc_key(doc));
            for (si, st) in doc.statements.iter().enumerate() {
                let cond = eval_conditions(&st.conditions, self.now);
                if cond == CondOutcome::Never {
                    continue;
                }
                let set = match cached.and_then(|v| v.get(si)) {
                    Some(s) => s.clone(),
                    None => self.expand(&st.actions),
                };
                let res_star = match &st.resources {
                    None => true,
                    Some(Matcher::Only(p)) => p.iter().any(|x| x == "*"),
                    Some(Matcher::Except(p)) => p.is_empty(),
                };
                let res_some = match &st.resources {
                    None => true,
                    Some(Matcher::Only(p)) => !p.is_empty(),
                    Some(Matcher::Except(p)) => !p.iter().any(|x| x == "*"),
                };
                match st.effect {
                    Effect::Allow => {
                        if res_some {
                            caps.any.union_with(&set);
                        }
                        if res_star {
                            caps.star.union_with(&set);
                            if cond == CondOutcome::Always {
                                caps.star_certain.union_with(&set);
                            }
                        }
                    }
                    Effect::Deny => {
                        if cond == CondOutcome::Always && res_star {
                            deny_all.union_with(&set);
                        } else {
                            deny_star.union_with(&set);
                        }
                        deny_certain.union_with(&set);
                    }
                }
            }
        }
        caps.any.subtract(&deny_all);
        caps.star.subtract(&deny_all);
        caps.star.subtract(&deny_star);
        caps.star_certain.subtract(&deny_certain);
        caps
    }

    fn compute_caps(&self, p: &Principal) -> Caps {
        let mut caps = self.doc_caps(&mut p.policies.iter().map(|a| &*a.doc));
        if let Some(b) = &p.boundary {
            let bc = self.doc_caps(&mut std::iter::once(&*b.doc));
            caps.any.intersect_with(&bc.any);
            caps.star.intersect_with(&bc.star);
            caps.star_certain.intersect_with(&bc.star_certain);
        }
        caps
    }

    /// Is `action` (any case) allowed for `p` on `res`?
    pub fn allowed(&self, p: &Principal, action: &str, res: Res<'_>) -> Option<Grant> {
        self.allowed_ctx(p, action, res, Ctx::default())
    }

    /// `allowed` with what is known about the request.
    pub fn allowed_ctx(
        &self,
        p: &Principal,
        action: &str,
        res: Res<'_>,
        ctx: Ctx<'_>,
    ) -> Option<Grant> {
        let lower = action.to_ascii_lowercase();
        let action = Act {
            lower: &lower,
            index: index_of(&lower),
        };
        let identity = self.allowed_in(
            p,
            &mut p.policies.iter().enumerate().map(|(i, a)| (i, &*a.doc)),
            action,
            res,
            ctx,
        )?;
        let Some(b) = &p.boundary else {
            return Some(identity);
        };
        let bound = self.allowed_in(
            p,
            &mut std::iter::once((BOUNDARY, &*b.doc)),
            action,
            res,
            ctx,
        )?;
        let mut via = identity.via;
        via.extend(bound.via);
        Some(Grant {
            confidence: identity.confidence.min(bound.confidence),
            via,
        })
    }

    fn allowed_in(
        &self,
        p: &Principal,
        docs: &mut dyn Iterator<Item = (usize, &PolicyDocument)>,
        action: Act<'_>,
        res: Res<'_>,
        ctx: Ctx<'_>,
    ) -> Option<Grant> {
        let docs: Vec<(usize, &PolicyDocument)> = docs.collect();
        let mut best: Option<Grant> = None;
        for &(pi, doc) in &docs {
            for (si, st) in doc.statements.iter().enumerate() {
                if st.effect != Effect::Allow || !self.covers(doc, si, st, action) {
                    continue;
                }
                let cond = eval_conditions_in(&st.conditions, self.now, ctx);
                if cond == CondOutcome::Never {
                    continue;
                }
                let Some(allowed) = allow_resources(st, res, p) else {
                    continue;
                };
                let mut confidence = if cond == CondOutcome::Always {
                    Confidence::Certain
                } else {
                    Confidence::Conditional
                };
                let mut blocked = false;
                // Denies anywhere: the principal's policies and its boundary.
                let boundary = p.boundary.as_ref().map(|b| &*b.doc);
                'deny: for doc in docs.iter().map(|d| d.1).chain(boundary) {
                    for (di, d) in doc.statements.iter().enumerate() {
                        if d.effect != Effect::Deny || !self.covers(doc, di, d, action) {
                            continue;
                        }
                        let dc = eval_conditions_in(&d.conditions, self.now, ctx);
                        if dc == CondOutcome::Never || !deny_covers(d, &allowed, res, p) {
                            continue;
                        }
                        if dc == CondOutcome::Always {
                            blocked = true;
                            break 'deny;
                        }
                        confidence = Confidence::Conditional;
                    }
                }
                if blocked {
                    continue;
                }
                let r = StmtRef {
                    policy: pi,
                    stmt: si,
                };
                match &mut best {
                    None => {
                        best = Some(Grant {
                            confidence,
                            via: vec![r],
                        })
                    }
                    Some(g) => {
                        if confidence > g.confidence {
                            *g = Grant {
                                confidence,
                                via: vec![r],
                            };
                        } else if confidence == g.confidence {
                            g.via.push(r);
                        }
                    }
                }
            }
        }
        best
    }

    /// Is there an unconditional Deny of `action` on `res` for `p`?
    pub fn denied(&self, p: &Principal, action: &str, res: Res<'_>) -> bool {
        let action = action.to_ascii_lowercase();
        let boundary = p.boundary.as_ref().map(|b| &*b.doc);
        let star = [Cow::Borrowed("*")];
        p.policies
            .iter()
            .map(|a| &*a.doc)
            .chain(boundary)
            .any(|doc| {
                doc.statements.iter().any(|d| {
                    d.effect == Effect::Deny
                        && d.actions.matches_action(&action)
                        && eval_conditions(&d.conditions, self.now) == CondOutcome::Always
                        && deny_covers(d, &star, res, p)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Path;
    use crate::model::AttachedPolicy;
    use crate::policy::parse_document;
    use serde_json::json;
    use std::sync::Arc;

    fn user(docs: &[serde_json::Value]) -> Principal {
        Principal {
            kind: PrincipalType::User,
            name: "alice".into(),
            arn: "arn:aws:iam::111111111111:user/alice".into(),
            account_id: Some("111111111111".into()),
            policies: docs
                .iter()
                .enumerate()
                .map(|(i, d)| AttachedPolicy {
                    name: format!("p{i}"),
                    arn: None,
                    via_group: None,
                    doc: Arc::new(parse_document(d, &Path::Root).unwrap()),
                })
                .collect(),
            boundary: None,
            trust: None,
            groups: vec![],
            instance_profile: None,
        }
    }

    fn now() -> DateTime<Utc> {
        "2024-06-01T00:00:00Z".parse().unwrap()
    }

    fn check(p: Principal, action: &str, res: Res<'_>) -> Option<Confidence> {
        let account = Account {
            principals: vec![p],
            ..Default::default()
        };
        let ev = Evaluator::new(&account, now());
        ev.allowed(&account.principals[0], action, res)
            .map(|g| g.confidence)
    }

    #[test]
    fn action_wildcards_are_case_insensitive() {
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "IAM:Create*", "Resource": "*"}]}),
        ]);
        assert_eq!(
            check(p.clone(), "iam:CreateAccessKey", Res::Any),
            Some(Confidence::Certain)
        );
        assert_eq!(
            check(p.clone(), "iam:createaccesskey", Res::Star),
            Some(Confidence::Certain)
        );
        assert_eq!(check(p, "iam:DeleteUser", Res::Any), None);
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:Get?bject", "Resource": "*"}]}),
        ]);
        assert!(check(p, "s3:GetObject", Res::Any).is_some());
    }

    #[test]
    fn not_action_allows_everything_else() {
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "NotAction": ["iam:Create*"], "Resource": "*"}]}),
        ]);
        assert!(check(p.clone(), "iam:PutUserPolicy", Res::Any).is_some());
        assert!(check(p, "iam:CreatePolicyVersion", Res::Any).is_none());
    }

    #[test]
    fn explicit_deny_beats_allow() {
        let same = user(&[json!({"Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]})]);
        assert!(check(same, "iam:PutUserPolicy", Res::Any).is_none());
        let split = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}),
        ]);
        assert!(check(split, "s3:GetObject", Res::Any).is_none());
    }

    #[test]
    fn deny_applies_only_where_its_resource_does() {
        let p = user(&[json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::secret/*"}]})]);
        assert!(check(p.clone(), "s3:GetObject", Res::Any).is_some());
        assert!(check(p.clone(), "s3:GetObject", Res::Arn("arn:aws:s3:::public/x")).is_some());
        assert!(check(p, "s3:GetObject", Res::Arn("arn:aws:s3:::secret/x")).is_none());
    }

    #[test]
    fn deny_with_condition_makes_allow_conditional() {
        let p = user(&[json!({"Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "*", "Resource": "*",
             "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]})]);
        assert_eq!(
            check(p, "iam:CreateUser", Res::Any),
            Some(Confidence::Conditional)
        );
    }

    #[test]
    fn not_resource() {
        let p = user(&[json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::private/*"}]})]);
        assert!(check(p.clone(), "s3:GetObject", Res::Arn("arn:aws:s3:::other/x")).is_some());
        assert!(
            check(
                p.clone(),
                "s3:GetObject",
                Res::Arn("arn:aws:s3:::private/x")
            )
            .is_none()
        );
        assert!(check(p, "s3:GetObject", Res::Any).is_some());
        let deny = user(&[json!({"Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::ok/*"}]})]);
        assert!(check(deny.clone(), "s3:GetObject", Res::Arn("arn:aws:s3:::ok/a")).is_some());
        assert!(check(deny, "s3:GetObject", Res::Arn("arn:aws:s3:::no/a")).is_none());
    }

    #[test]
    fn conditions_lower_confidence_or_remove_grants() {
        let cond = |op: &str, date: &str| {
            user(&[
                json!({"Statement": [{"Effect": "Allow", "Action": "iam:CreatePolicyVersion", "Resource": "*",
                "Condition": {op: {"aws:TokenIssueTime": date}}}]}),
            ])
        };
        assert_eq!(
            check(
                cond("DateGreaterThan", "2020-01-01T00:00:01Z"),
                "iam:CreatePolicyVersion",
                Res::Any
            ),
            Some(Confidence::Conditional)
        );
        assert_eq!(
            check(
                cond("DateLessThan", "2020-01-01T00:00:01Z"),
                "iam:CreatePolicyVersion",
                Res::Any
            ),
            None
        );
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]}),
        ]);
        assert_eq!(
            check(p, "s3:GetObject", Res::Any),
            Some(Confidence::Certain)
        );
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-123"}}}]}),
        ]);
        assert_eq!(
            check(p, "s3:GetObject", Res::Any),
            Some(Confidence::Conditional)
        );
    }

    #[test]
    fn passed_to_service_condition() {
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
            "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}]}),
        ]);
        let account = Account {
            principals: vec![p],
            ..Default::default()
        };
        let ev = Evaluator::new(&account, now());
        let p = &account.principals[0];
        let to = |svc| {
            ev.allowed_ctx(
                p,
                "iam:PassRole",
                Res::Any,
                Ctx {
                    passed_to_service: Some(svc),
                },
            )
            .map(|g| g.confidence)
        };
        assert_eq!(to("lambda.amazonaws.com"), Some(Confidence::Certain));
        assert_eq!(to("ec2.amazonaws.com"), None);
        assert_eq!(
            ev.allowed(p, "iam:PassRole", Res::Any)
                .map(|g| g.confidence),
            Some(Confidence::Conditional)
        );
    }

    #[test]
    fn permission_boundary_caps_grants() {
        let mut p =
            user(&[json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})]);
        p.boundary = Some(AttachedPolicy {
            name: "boundary".into(),
            arn: Some("arn:aws:iam::111111111111:policy/boundary".into()),
            via_group: None,
            doc: Arc::new(
                parse_document(
                    &json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}),
                    &Path::Root,
                )
                .unwrap(),
            ),
        });
        assert!(check(p.clone(), "s3:GetObject", Res::Any).is_some());
        assert!(check(p.clone(), "iam:PutUserPolicy", Res::Any).is_none());
        let account = Account {
            principals: vec![p],
            ..Default::default()
        };
        let ev = Evaluator::new(&account, now());
        assert!(ev.caps(0).unwrap().is_admin().is_none());
    }

    #[test]
    fn username_variable() {
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "Action": "iam:CreateAccessKey",
            "Resource": "arn:aws:iam::*:user/${aws:username}"}]}),
        ]);
        assert!(
            check(
                p.clone(),
                "iam:CreateAccessKey",
                Res::Arn("arn:aws:iam::111111111111:user/alice")
            )
            .is_some()
        );
        assert!(
            check(
                p,
                "iam:CreateAccessKey",
                Res::Arn("arn:aws:iam::111111111111:user/bob")
            )
            .is_none()
        );
    }

    #[test]
    fn admin_caps() {
        let p =
            user(&[json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})]);
        let account = Account {
            principals: vec![p],
            ..Default::default()
        };
        let ev = Evaluator::new(&account, now());
        assert_eq!(ev.caps(0).unwrap().is_admin(), Some(Confidence::Certain));
        let p = user(&[
            json!({"Statement": [{"Effect": "Allow", "NotAction": "iam:Update*", "Resource": "*"}]}),
        ]);
        let account = Account {
            principals: vec![p],
            ..Default::default()
        };
        let ev = Evaluator::new(&account, now());
        assert_eq!(ev.caps(0).unwrap().is_admin(), None);
    }
}
