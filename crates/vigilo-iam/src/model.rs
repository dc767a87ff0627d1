//! The account model the checks run on, and the parsers that build it from
//! `get-account-authorization-details`, a single policy document, or the IAM audit service's
//! format.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{InputError, Path};
use crate::policy::{PolicyDocument, parse_document, string_or_list};

/// The kind of principal a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalType {
    User,
    Group,
    Role,
    Policy,
    Account,
}

impl PrincipalType {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalType::User => "user",
            PrincipalType::Group => "group",
            PrincipalType::Role => "role",
            PrincipalType::Policy => "policy",
            PrincipalType::Account => "account",
        }
    }
}

/// A policy in effect for a principal.
#[derive(Debug, Clone)]
pub(crate) struct AttachedPolicy {
    pub name: String,
    /// Set for managed policies.
    pub arn: Option<String>,
    /// The group it comes from, when inherited.
    pub via_group: Option<String>,
    pub doc: Arc<PolicyDocument>,
}

impl AttachedPolicy {
    pub fn is_customer_managed(&self) -> bool {
        self.arn
            .as_deref()
            .is_some_and(|a| !a.starts_with("arn:aws:iam::aws:"))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub kind: PrincipalType,
    pub name: String,
    pub arn: String,
    pub account_id: Option<String>,
    pub policies: Vec<AttachedPolicy>,
    pub boundary: Option<AttachedPolicy>,
    pub trust: Option<PolicyDocument>,
    pub groups: Vec<String>,
    /// `Some(true)` when the role has an instance profile, `None` when unknown.
    pub instance_profile: Option<bool>,
}

#[derive(Debug, Clone)]
pub(crate) struct ManagedPolicy {
    pub name: String,
    pub arn: String,
    pub default_version: Option<String>,
    pub default_doc: Option<Arc<PolicyDocument>>,
    pub other_versions: Vec<(String, Arc<PolicyDocument>)>,
}

impl ManagedPolicy {
    pub fn is_customer_managed(&self) -> bool {
        !self.arn.starts_with("arn:aws:iam::aws:")
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Account {
    pub principals: Vec<Principal>,
    pub managed: Vec<ManagedPolicy>,
    /// True when the input lists the account's users, groups and roles, so
    /// that targets (roles to pass, users to take over) can be enumerated.
    pub inventory: bool,
    pub warnings: Vec<String>,
}

/// Account id from an ARN (`arn:partition:service:region:account:...`).
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let _arn = parts.next()?;
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let _region = parts.next()?;
    let acct = parts.next()?;
    if acct.is_empty() { None } else { Some(acct) }
}

// ---------------------------------------------------------------- helpers

fn obj<'v>(v: &'v Value, path: &Path<'_>) -> Result<&'v Map<String, Value>, InputError> {
    v.as_object()
        .ok_or_else(|| InputError::field(path, "expected an object"))
}

fn opt_array<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<&'v [Value], InputError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(InputError::field(&path.key(key), "expected an array")),
    }
}

fn req_str<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<&'v str, InputError> {
    match o.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(InputError::field(&path.key(key), "expected a string")),
        None => Err(InputError::field(&path.key(key), "missing field")),
    }
}

fn opt_str<'v>(
    o: &'v Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<Option<&'v str>, InputError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InputError::field(&path.key(key), "expected a string")),
    }
}

fn opt_bool(
    o: &Map<String, Value>,
    key: &str,
    path: &Path<'_>,
) -> Result<Option<bool>, InputError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(_) => Err(InputError::field(&path.key(key), "expected a boolean")),
    }
}

/// Accepts the CLI (`2021-03-13T18:42:09+00:00`, `...Z`) and boto3
/// (`2023-03-09 10:41:45+00:00`) date formats.
pub(crate) fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S%:z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = chrono::DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&chrono::Utc));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn check_date(o: &Map<String, Value>, key: &str, path: &Path<'_>) -> Result<(), InputError> {
    if let Some(s) = opt_str(o, key, path)?
        && parse_time(s).is_none()
    {
        return Err(InputError::field(
            &path.key(key),
            "expected a date (YYYY-MM-DDTHH:MM:SS+00:00 or YYYY-MM-DD HH:MM:SS+00:00)",
        ));
    }
    Ok(())
}

// ------------------------------------------------ authorization details

/// Built-in documents for two AWS managed policies, used when an export
/// references them without including their documents.
fn builtin_managed(arn: &str) -> Option<PolicyDocument> {
    let doc = match arn {
        "arn:aws:iam::aws:policy/AdministratorAccess" => {
            serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
        }
        "arn:aws:iam::aws:policy/IAMFullAccess" => {
            serde_json::json!({"Statement": [{"Effect": "Allow", "Action": ["iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization", "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy", "organizations:ListChildren", "organizations:ListParents", "organizations:ListPoliciesForTarget", "organizations:ListRoots", "organizations:ListPolicies", "organizations:ListTargetsForPolicy"], "Resource": "*"}]})
        }
        _ => return None,
    };
    parse_document(&doc, &Path::Root).ok()
}

pub(crate) fn parse_authorization_details(root: &Value) -> Result<Account, InputError> {
    let rp = Path::Root;
    let top = obj(root, &rp)?;
    let mut account = Account {
        inventory: true,
        ..Default::default()
    };

    // Managed policies first: principals reference them by ARN.
    let mut by_arn: HashMap<String, usize> = HashMap::new();
    let pp = rp.key("Policies");
    for (i, pv) in opt_array(top, "Policies", &rp)?.iter().enumerate() {
        let p = pp.index(i);
        let po = obj(pv, &p)?;
        let arn = req_str(po, "Arn", &p)?.to_string();
        let name = opt_str(po, "PolicyName", &p)?
            .map(str::to_string)
            .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(&arn).to_string());
        let default_id = opt_str(po, "DefaultVersionId", &p)?.map(str::to_string);
        check_date(po, "CreateDate", &p)?;
        check_date(po, "UpdateDate", &p)?;
        let mut default_doc = None;
        let mut default_version = default_id.clone();
        let mut others = Vec::new();
        let vp = p.key("PolicyVersionList");
        for (j, vv) in opt_array(po, "PolicyVersionList", &p)?.iter().enumerate() {
            let v = vp.index(j);
            let vo = obj(vv, &v)?;
            let vid = opt_str(vo, "VersionId", &v)?.unwrap_or("").to_string();
            let is_default = opt_bool(vo, "IsDefaultVersion", &v)?
                .unwrap_or_else(|| default_id.as_deref() == Some(vid.as_str()));
            check_date(vo, "CreateDate", &v)?;
            let Some(dv) = vo.get("Document") else {
                return Err(InputError::field(&v.key("Document"), "missing field"));
            };
            let doc = Arc::new(parse_document(dv, &v.key("Document"))?);
            if is_default && default_doc.is_none() {
                default_doc = Some(doc);
                default_version = Some(vid);
            } else {
                others.push((vid, doc));
            }
        }
        by_arn.insert(arn.clone(), account.managed.len());
        account.managed.push(ManagedPolicy {
            name,
            arn,
            default_version,
            default_doc,
            other_versions: others,
        });
    }

    let mut warnings = Vec::new();
    let mut resolve_managed = |list: &[Value],
                               lp: &Path<'_>,
                               via_group: Option<&str>,
                               managed: &[ManagedPolicy],
                               out: &mut Vec<AttachedPolicy>|
     -> Result<(), InputError> {
        for (k, mv) in list.iter().enumerate() {
            let mp = lp.index(k);
            let mo = obj(mv, &mp)?;
            let arn = req_str(mo, "PolicyArn", &mp)?;
            let name = opt_str(mo, "PolicyName", &mp)?
                .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn));
            let doc = match by_arn.get(arn).and_then(|&i| managed.get(i)) {
                Some(m) => m.default_doc.clone(),
                None => builtin_managed(arn).map(Arc::new),
            };
            match doc {
                Some(doc) => out.push(AttachedPolicy {
                    name: name.to_string(),
                    arn: Some(arn.to_string()),
                    via_group: via_group.map(str::to_string),
                    doc,
                }),
                None => {
                    let w = format!(
                        "managed policy {arn} is attached but its document is not in the input; it was not evaluated"
                    );
                    if !warnings.contains(&w) {
                        warnings.push(w);
                    }
                }
            }
        }
        Ok(())
    };

    let inline = |list: &[Value],
                  lp: &Path<'_>,
                  via_group: Option<&str>,
                  out: &mut Vec<AttachedPolicy>|
     -> Result<(), InputError> {
        for (k, iv) in list.iter().enumerate() {
            let ip = lp.index(k);
            let io = obj(iv, &ip)?;
            let name = req_str(io, "PolicyName", &ip)?;
            let Some(dv) = io.get("PolicyDocument") else {
                return Err(InputError::field(
                    &ip.key("PolicyDocument"),
                    "missing field",
                ));
            };
            out.push(AttachedPolicy {
                name: name.to_string(),
                arn: None,
                via_group: via_group.map(str::to_string),
                doc: Arc::new(parse_document(dv, &ip.key("PolicyDocument"))?),
            });
        }
        Ok(())
    };

    let boundary = |o: &Map<String, Value>,
                    p: &Path<'_>,
                    managed: &[ManagedPolicy]|
     -> Result<Option<AttachedPolicy>, InputError> {
        let Some(bv) = o.get("PermissionsBoundary") else {
            return Ok(None);
        };
        if bv.is_null() {
            return Ok(None);
        }
        let bp = p.key("PermissionsBoundary");
        let bo = obj(bv, &bp)?;
        let arn = req_str(bo, "PermissionsBoundaryArn", &bp)?;
        let doc = match by_arn.get(arn).and_then(|&i| managed.get(i)) {
            Some(m) => m.default_doc.clone(),
            None => builtin_managed(arn).map(Arc::new),
        };
        Ok(Some(AttachedPolicy {
            name: arn.rsplit('/').next().unwrap_or(arn).to_string(),
            arn: Some(arn.to_string()),
            via_group: None,
            // An unknown boundary document cannot be evaluated; an empty
            // document would deny everything, so keep the caps open instead.
            doc: doc.unwrap_or_else(|| {
                Arc::new(
                    parse_document(
                        &serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                        &Path::Root,
                    )
                    .unwrap_or_default(),
                )
            }),
        }))
    };

    // Groups
    let mut group_policies: HashMap<String, Vec<AttachedPolicy>> = HashMap::new();
    let gp = rp.key("GroupDetailList");
    for (i, gv) in opt_array(top, "GroupDetailList", &rp)?.iter().enumerate() {
        let p = gp.index(i);
        let go = obj(gv, &p)?;
        let name = req_str(go, "GroupName", &p)?.to_string();
        let arn = opt_str(go, "Arn", &p)?.map(str::to_string);
        check_date(go, "CreateDate", &p)?;
        let mut pols = Vec::new();
        inline(
            opt_array(go, "GroupPolicyList", &p)?,
            &p.key("GroupPolicyList"),
            Some(&name),
            &mut pols,
        )?;
        resolve_managed(
            opt_array(go, "AttachedManagedPolicies", &p)?,
            &p.key("AttachedManagedPolicies"),
            Some(&name),
            &account.managed,
            &mut pols,
        )?;
        let arn = arn.unwrap_or_else(|| format!("arn:aws:iam::unknown:group/{name}"));
        account.principals.push(Principal {
            kind: PrincipalType::Group,
            name: name.clone(),
            account_id: arn_account(&arn).map(str::to_string),
            arn,
            policies: pols.clone(),
            boundary: None,
            trust: None,
            groups: Vec::new(),
            instance_profile: None,
        });
        group_policies.insert(name, pols);
    }

    // Users
    let mut group_warnings = Vec::new();
    let up = rp.key("UserDetailList");
    for (i, uv) in opt_array(top, "UserDetailList", &rp)?.iter().enumerate() {
        let p = up.index(i);
        let uo = obj(uv, &p)?;
        let name = req_str(uo, "UserName", &p)?.to_string();
        let arn = opt_str(uo, "Arn", &p)?
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:iam::unknown:user/{name}"));
        check_date(uo, "CreateDate", &p)?;
        let mut pols = Vec::new();
        inline(
            opt_array(uo, "UserPolicyList", &p)?,
            &p.key("UserPolicyList"),
            None,
            &mut pols,
        )?;
        resolve_managed(
            opt_array(uo, "AttachedManagedPolicies", &p)?,
            &p.key("AttachedManagedPolicies"),
            None,
            &account.managed,
            &mut pols,
        )?;
        let mut groups = Vec::new();
        let glp = p.key("GroupList");
        for (k, g) in opt_array(uo, "GroupList", &p)?.iter().enumerate() {
            let Some(g) = g.as_str() else {
                return Err(InputError::field(&glp.index(k), "expected a string"));
            };
            groups.push(g.to_string());
            match group_policies.get(g) {
                Some(gpols) => pols.extend(gpols.iter().cloned()),
                None => group_warnings.push(format!(
                    "user {name} is in group {g}, which is not in GroupDetailList; its policies were not evaluated"
                )),
            }
        }
        let boundary = boundary(uo, &p, &account.managed)?;
        account.principals.push(Principal {
            kind: PrincipalType::User,
            name,
            account_id: arn_account(&arn).map(str::to_string),
            arn,
            policies: pols,
            boundary,
            trust: None,
            groups,
            instance_profile: None,
        });
    }

    // Roles
    let rlp = rp.key("RoleDetailList");
    for (i, rv) in opt_array(top, "RoleDetailList", &rp)?.iter().enumerate() {
        let p = rlp.index(i);
        let ro = obj(rv, &p)?;
        let name = req_str(ro, "RoleName", &p)?.to_string();
        let arn = opt_str(ro, "Arn", &p)?
            .map(str::to_string)
            .unwrap_or_else(|| format!("arn:aws:iam::unknown:role/{name}"));
        check_date(ro, "CreateDate", &p)?;
        if let Some(last) = ro.get("RoleLastUsed").filter(|v| !v.is_null()) {
            let lp = p.key("RoleLastUsed");
            check_date(obj(last, &lp)?, "LastUsedDate", &lp)?;
        }
        let mut pols = Vec::new();
        inline(
            opt_array(ro, "RolePolicyList", &p)?,
            &p.key("RolePolicyList"),
            None,
            &mut pols,
        )?;
        resolve_managed(
            opt_array(ro, "AttachedManagedPolicies", &p)?,
            &p.key("AttachedManagedPolicies"),
            None,
            &account.managed,
            &mut pols,
        )?;
        let trust = match ro.get("AssumeRolePolicyDocument") {
            None | Some(Value::Null) => None,
            Some(d) => Some(parse_document(d, &p.key("AssumeRolePolicyDocument"))?),
        };
        let instance_profile = match ro.get("InstanceProfileList") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(!a.is_empty()),
            Some(_) => {
                return Err(InputError::field(
                    &p.key("InstanceProfileList"),
                    "expected an array",
                ));
            }
        };
        let boundary = boundary(ro, &p, &account.managed)?;
        account.principals.push(Principal {
            kind: PrincipalType::Role,
            name,
            account_id: arn_account(&arn).map(str::to_string),
            arn,
            policies: pols,
            boundary,
            trust,
            groups: Vec::new(),
            instance_profile,
        });
    }
    warnings.extend(group_warnings);
    account.warnings = warnings;
    Ok(account)
}

// ----------------------------------------------------------- single policy

pub(crate) fn parse_single_policy(root: &Value) -> Result<Account, InputError> {
    let doc = parse_document(root, &Path::Root)?;
    let name = root
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("policy document")
        .to_string();
    Ok(Account {
        principals: vec![Principal {
            kind: PrincipalType::Policy,
            name: name.clone(),
            arn: String::new(),
            account_id: None,
            policies: vec![AttachedPolicy {
                name,
                arn: None,
                via_group: None,
                doc: Arc::new(doc),
            }],
            boundary: None,
            trust: None,
            groups: Vec::new(),
            instance_profile: None,
        }],
        managed: Vec::new(),
        inventory: false,
        warnings: Vec::new(),
    })
}

// ------------------------------------------------------------ seed format

/// One entry of the IAM audit service's `users` or `groups` list.
#[derive(Debug, Clone)]
pub(crate) struct SeedEntry {
    pub kind: PrincipalType,
    pub name: String,
    pub mfa_enabled: Option<bool>,
    pub privileges: Vec<String>,
    pub permissions: Vec<String>,
    pub policies: Vec<String>,
}

pub(crate) fn parse_seed(root: &Value) -> Result<Vec<SeedEntry>, InputError> {
    let rp = Path::Root;
    let top = obj(root, &rp)?;
    let mut out = Vec::new();
    let list_field =
        |o: &Map<String, Value>, key: &str, p: &Path<'_>| -> Result<Vec<String>, InputError> {
            match o.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(v) => string_or_list(v, &p.key(key)),
            }
        };
    for (list, kind, name_key) in [
        ("users", PrincipalType::User, "username"),
        ("groups", PrincipalType::Group, "name"),
    ] {
        let lp = rp.key(list);
        for (i, v) in opt_array(top, list, &rp)?.iter().enumerate() {
            let p = lp.index(i);
            let o = obj(v, &p)?;
            let name = match o.get(name_key) {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err(InputError::field(&p.key(name_key), "expected a string")),
                // Tolerate `name` for users and `username` for groups.
                None => match o.get(if name_key == "name" {
                    "username"
                } else {
                    "name"
                }) {
                    Some(Value::String(s)) => s.clone(),
                    _ => return Err(InputError::field(&p.key(name_key), "missing field")),
                },
            };
            out.push(SeedEntry {
                kind,
                name,
                mfa_enabled: opt_bool(o, "mfa_enabled", &p)?,
                privileges: list_field(o, "privileges", &p)?,
                permissions: list_field(o, "permissions", &p)?,
                policies: list_field(o, "policy", &p)?,
            });
        }
    }
    Ok(out)
}

/// Seed entries whose permissions look like IAM actions (`service:Action` or
/// `*`) are also evaluated as if granted by an `Allow ... Resource "*"` policy.
pub(crate) fn seed_account(entries: &[SeedEntry]) -> Account {
    let mut account = Account::default();
    for e in entries {
        let actions: Vec<&String> = e
            .permissions
            .iter()
            .filter(|p| p.as_str() == "*" || (p.contains(':') && !p.contains(' ')))
            .collect();
        if actions.is_empty() {
            continue;
        }
        let doc = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]});
        let Ok(doc) = parse_document(&doc, &Path::Root) else {
            continue;
        };
        account.principals.push(Principal {
            kind: e.kind,
            name: e.name.clone(),
            arn: String::new(),
            account_id: None,
            policies: vec![AttachedPolicy {
                name: "permissions".into(),
                arn: None,
                via_group: None,
                doc: Arc::new(doc),
            }],
            boundary: None,
            trust: None,
            groups: Vec::new(),
            instance_profile: None,
        });
    }
    account
}
