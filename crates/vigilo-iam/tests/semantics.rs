//! Evaluator semantics and input handling, through the public API.

use serde_json::{Value, json};
use vigilo_iam::{
    AuditOptions, Confidence, Exclusions, InputError, InputFormat, PrincipalType, Report, Severity,
    audit, exceeds, render_json, render_sarif, render_table, seed_summary,
};

const ACCT: &str = "111122223333";

fn now() -> chrono::DateTime<chrono::Utc> {
    "2024-06-01T00:00:00Z".parse().expect("date")
}

fn run(v: &Value) -> Report {
    audit(v.to_string().as_bytes(), &AuditOptions::new(now())).expect("audit")
}

fn user(name: &str, managed: &[&str], inline: &[Value], groups: &[&str]) -> Value {
    json!({
        "UserName": name,
        "Arn": format!("arn:aws:iam::{ACCT}:user/{name}"),
        "CreateDate": "2023-03-09 10:41:45+00:00",
        "GroupList": groups,
        "AttachedManagedPolicies": managed.iter().map(|p| json!({"PolicyName": p, "PolicyArn": format!("arn:aws:iam::{ACCT}:policy/{p}")})).collect::<Vec<_>>(),
        "UserPolicyList": inline.iter().enumerate().map(|(i, d)| json!({"PolicyName": format!("inline{i}"), "PolicyDocument": d})).collect::<Vec<_>>(),
    })
}

fn role(name: &str, trust: Value, managed: &[&str], inline: &[Value]) -> Value {
    json!({
        "RoleName": name,
        "Arn": format!("arn:aws:iam::{ACCT}:role/{name}"),
        "CreateDate": "2021-03-13T18:42:09+00:00",
        "AssumeRolePolicyDocument": trust,
        "InstanceProfileList": [],
        "AttachedManagedPolicies": managed.iter().map(|p| json!({"PolicyName": p, "PolicyArn": format!("arn:aws:iam::{ACCT}:policy/{p}")})).collect::<Vec<_>>(),
        "RolePolicyList": inline.iter().enumerate().map(|(i, d)| json!({"PolicyName": format!("inline{i}"), "PolicyDocument": d})).collect::<Vec<_>>(),
    })
}

fn managed(name: &str, versions: &[(&str, bool, Value)]) -> Value {
    json!({
        "PolicyName": name,
        "Arn": format!("arn:aws:iam::{ACCT}:policy/{name}"),
        "DefaultVersionId": versions.iter().find(|v| v.1).map(|v| v.0).unwrap_or("v1"),
        "PolicyVersionList": versions.iter().map(|(id, d, doc)| json!({"VersionId": id, "IsDefaultVersion": d, "Document": doc})).collect::<Vec<_>>(),
    })
}

fn allow(actions: Value, resource: Value) -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]})
}

fn account(
    users: Vec<Value>,
    groups: Vec<Value>,
    roles: Vec<Value>,
    policies: Vec<Value>,
) -> Value {
    json!({"UserDetailList": users, "GroupDetailList": groups, "RoleDetailList": roles, "Policies": policies})
}

fn admin_role() -> Value {
    role(
        "admin-role",
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        &[],
        &[allow(json!("*"), json!("*"))],
    )
}

fn methods_of(r: &Report, who: &str) -> Vec<String> {
    let mut v: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.principal == who && f.check_id == "iam.privilege_escalation")
        .filter_map(|f| f.method.clone())
        .collect();
    v.sort();
    v
}

fn checks_of(r: &Report, who: &str) -> Vec<String> {
    r.findings
        .iter()
        .filter(|f| f.principal == who)
        .map(|f| f.check_id.clone())
        .collect()
}

#[test]
fn user_gets_inline_attached_and_group_policies() {
    let acct = account(
        vec![
            user("alice", &[], &[], &["devs"]),
            user("bob", &["keys"], &[], &[]),
            user(
                "carol",
                &[],
                &[allow(json!("iam:PutUserPolicy"), json!("*"))],
                &[],
            ),
        ],
        vec![
            json!({"GroupName": "devs", "Arn": format!("arn:aws:iam::{ACCT}:group/devs"),
            "GroupPolicyList": [{"PolicyName": "g", "PolicyDocument": allow(json!("iam:AttachUserPolicy"), json!("*"))}],
            "AttachedManagedPolicies": []}),
        ],
        vec![admin_role()],
        vec![managed(
            "keys",
            &[("v1", true, allow(json!("iam:CreateAccessKey"), json!("*")))],
        )],
    );
    let r = run(&acct);
    assert_eq!(methods_of(&r, "alice"), vec!["AttachUserPolicy"]);
    let ev = &r
        .findings
        .iter()
        .find(|f| f.principal == "alice" && f.check_id == "iam.privilege_escalation")
        .unwrap()
        .evidence[0];
    assert_eq!(ev.via_group.as_deref(), Some("devs"));
    assert_eq!(methods_of(&r, "carol"), vec!["PutUserPolicy"]);
    // bob can create keys for alice and carol, but neither holds anything bob lacks
    // except their own escalation permissions, so the target is the more privileged one.
    assert_eq!(methods_of(&r, "bob"), vec!["CreateAccessKey"]);
}

#[test]
fn role_gets_only_its_own_policies() {
    let acct = account(
        vec![user("u", &["pm"], &[], &[])],
        vec![],
        vec![
            role(
                "r",
                json!({"Statement": []}),
                &[],
                &[allow(json!("s3:ListBucket"), json!("*"))],
            ),
            admin_role(),
        ],
        vec![managed(
            "pm",
            &[("v1", true, allow(json!("iam:PutRolePolicy"), json!("*")))],
        )],
    );
    let r = run(&acct);
    assert_eq!(methods_of(&r, "u"), vec!["PutRolePolicy"]);
    assert!(methods_of(&r, "r").is_empty());
}

#[test]
fn only_the_default_version_grants_and_others_are_latent() {
    let acct = account(
        vec![user("u", &["p"], &[], &[])],
        vec![],
        vec![admin_role()],
        vec![managed(
            "p",
            &[
                ("v1", false, allow(json!("*"), json!("*"))),
                ("v2", true, allow(json!("s3:ListBucket"), json!("*"))),
            ],
        )],
    );
    let r = run(&acct);
    assert!(!checks_of(&r, "u").contains(&"iam.admin_access".to_string()));
    assert!(methods_of(&r, "u").is_empty());
    let latent = r
        .findings
        .iter()
        .find(|f| f.check_id == "iam.latent_policy_version")
        .expect("latent");
    assert_eq!(latent.principal_type, PrincipalType::Policy);
    assert_eq!(latent.principal, "p");
    assert!(latent.title.contains("v1"));
}

#[test]
fn deny_in_another_policy_and_conditions() {
    let deny_iam = json!({"Statement": [{"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]});
    let cond_deny = json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}]});
    let cond_allow = json!({"Statement": [{"Effect": "Allow", "Action": "iam:PutUserPolicy", "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}]});
    let acct = account(
        vec![
            user(
                "denied",
                &[],
                &[allow(json!("iam:*"), json!("*")), deny_iam],
                &[],
            ),
            user(
                "mfa",
                &[],
                &[allow(json!("iam:PutUserPolicy"), json!("*")), cond_deny],
                &[],
            ),
            user("cond", &[], &[cond_allow], &[]),
        ],
        vec![],
        vec![admin_role()],
        vec![],
    );
    let r = run(&acct);
    assert!(methods_of(&r, "denied").is_empty());
    for who in ["mfa", "cond"] {
        let f = r
            .findings
            .iter()
            .find(|f| f.principal == who && f.check_id == "iam.privilege_escalation")
            .expect(who);
        assert_eq!(f.confidence, Confidence::Conditional, "{who}");
        assert!(f.explanation.contains("conditional"));
    }
}

#[test]
fn resource_constraints_decide_targets() {
    let acct = account(
        vec![
            user(
                "self-only",
                &[],
                &[allow(
                    json!("iam:CreateAccessKey"),
                    json!("arn:aws:iam::*:user/${aws:username}"),
                )],
                &[],
            ),
            user("admin", &[], &[allow(json!("*"), json!("*"))], &[]),
            user(
                "aws-ns",
                &[],
                &[allow(
                    json!("iam:CreatePolicyVersion"),
                    json!("arn:aws:iam::aws:policy/*"),
                )],
                &[],
            ),
        ],
        vec![],
        vec![admin_role()],
        vec![],
    );
    let r = run(&acct);
    assert!(methods_of(&r, "self-only").is_empty());
    assert!(methods_of(&r, "aws-ns").is_empty());
}

#[test]
fn permission_boundary_caps_identity_policies() {
    let mut u = user("bounded", &[], &[allow(json!("*"), json!("*"))], &[]);
    u["PermissionsBoundary"] = json!({"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": format!("arn:aws:iam::{ACCT}:policy/boundary")});
    let acct = account(
        vec![u],
        vec![],
        vec![admin_role()],
        vec![managed(
            "boundary",
            &[("v1", true, allow(json!(["s3:*"]), json!("*")))],
        )],
    );
    let r = run(&acct);
    let checks = checks_of(&r, "bounded");
    assert!(
        !checks.contains(&"iam.admin_access".to_string()),
        "{checks:?}"
    );
    assert!(methods_of(&r, "bounded").is_empty());
    assert!(checks.contains(&"iam.data_exfiltration".to_string()));
}

#[test]
fn passrole_needs_a_more_privileged_role_trusting_the_service() {
    let passer = |n: &str| {
        user(
            n,
            &[],
            &[allow(
                json!([
                    "iam:PassRole",
                    "lambda:CreateFunction",
                    "lambda:InvokeFunction"
                ]),
                json!("*"),
            )],
            &[],
        )
    };
    // Only an EC2 role exists: no Lambda escalation.
    let r = run(&account(
        vec![passer("p")],
        vec![],
        vec![admin_role()],
        vec![],
    ));
    assert!(methods_of(&r, "p").is_empty());
    let lambda_role = role(
        "fn-role",
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}, "Action": "sts:AssumeRole"}]}),
        &[],
        &[allow(json!("dynamodb:*"), json!("*"))],
    );
    let r = run(&account(
        vec![passer("p")],
        vec![],
        vec![lambda_role],
        vec![],
    ));
    assert_eq!(
        methods_of(&r, "p"),
        vec!["PassExistingRoleToNewLambdaThenInvoke"]
    );
}

fn trust_findings(trust: Value) -> Vec<(String, Severity)> {
    let r = run(&account(
        vec![],
        vec![],
        vec![role("t", trust, &[], &[])],
        vec![],
    ));
    r.findings
        .iter()
        .filter(|f| f.check_id.starts_with("iam.role_trust"))
        .map(|f| (f.check_id.clone(), f.severity))
        .collect()
}

#[test]
fn trust_policies() {
    let any = "iam.role_trust_any_principal".to_string();
    let stmt = |p: Value, c: Option<Value>| {
        let mut s = json!({"Effect": "Allow", "Principal": p, "Action": "sts:AssumeRole"});
        if let Some(c) = c {
            s["Condition"] = c;
        }
        json!({"Statement": [s]})
    };
    assert_eq!(
        trust_findings(stmt(json!("*"), None)),
        vec![(any.clone(), Severity::Critical)]
    );
    assert_eq!(
        trust_findings(stmt(json!({"AWS": "*"}), None)),
        vec![(any.clone(), Severity::Critical)]
    );
    assert_eq!(
        trust_findings(stmt(json!({"AWS": ["arn:aws:iam::*:root"]}), None)),
        vec![(any.clone(), Severity::Critical)]
    );
    assert_eq!(
        trust_findings(stmt(
            json!({"AWS": "*"}),
            Some(json!({"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}))
        )),
        vec![(any.clone(), Severity::Medium)]
    );
    assert_eq!(
        trust_findings(stmt(json!({"AWS": "arn:aws:iam::999999999999:root"}), None)),
        vec![("iam.role_trust_cross_account".to_string(), Severity::Medium)]
    );
    assert_eq!(
        trust_findings(stmt(
            json!({"AWS": "999999999999"}),
            Some(json!({"StringEquals": {"sts:ExternalId": "x"}}))
        )),
        vec![("iam.role_trust_cross_account".to_string(), Severity::Low)]
    );
    assert!(
        trust_findings(stmt(
            json!({"AWS": format!("arn:aws:iam::{ACCT}:root")}),
            None
        ))
        .is_empty()
    );
    assert!(trust_findings(stmt(json!({"Service": "lambda.amazonaws.com"}), None)).is_empty());
    let oidc = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCT}:oidc-provider/token.actions.githubusercontent.com")}}]});
    assert_eq!(
        trust_findings(oidc),
        vec![(
            "iam.role_trust_federated_unrestricted".to_string(),
            Severity::High
        )]
    );
    let scoped = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
        "Principal": {"Federated": format!("arn:aws:iam::{ACCT}:oidc-provider/token.actions.githubusercontent.com")},
        "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:org/repo:*"}}}]});
    assert!(trust_findings(scoped).is_empty());
}

#[test]
fn compute_service_role_with_admin_is_flagged() {
    let r = run(&account(vec![], vec![], vec![admin_role()], vec![]));
    let f = r
        .findings
        .iter()
        .find(|f| f.check_id == "iam.role_trust_compute_service")
        .expect("compute");
    assert_eq!(f.severity, Severity::High);
}

#[test]
fn assume_role_chain_through_explicit_trust() {
    let trusts = |arn: String| json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "sts:AssumeRole"}]});
    let acct = account(
        vec![user("start", &[], &[], &[])],
        vec![],
        vec![
            role(
                "a",
                trusts(format!("arn:aws:iam::{ACCT}:user/start")),
                &[],
                &[],
            ),
            role(
                "b",
                trusts(format!("arn:aws:iam::{ACCT}:role/a")),
                &[],
                &[allow(json!("*"), json!("*"))],
            ),
            // Trusting the account root needs an identity permission that `start` lacks.
            role(
                "c",
                trusts(format!("arn:aws:iam::{ACCT}:root")),
                &[],
                &[allow(json!("*"), json!("*"))],
            ),
        ],
        vec![],
    );
    let r = run(&acct);
    let f = r
        .findings
        .iter()
        .find(|f| f.principal == "start" && f.method.as_deref() == Some("AssumeRole"))
        .expect("chain");
    assert!(
        f.explanation.contains("start -> a -> b"),
        "{}",
        f.explanation
    );
    assert_eq!(methods_of(&r, "a"), vec!["AssumeRole"]);
}

#[test]
fn policy_documents_as_url_encoded_strings_and_both_date_formats() {
    let enc = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22iam%3APutUserPolicy%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
    let mut u = user("enc", &[], &[Value::String(enc.into())], &[]);
    u["CreateDate"] = json!("2021-03-13T18:42:09Z");
    let r = run(&account(vec![u], vec![], vec![admin_role()], vec![]));
    assert_eq!(methods_of(&r, "enc"), vec!["PutUserPolicy"]);
}

#[test]
fn errors_name_the_json_path() {
    let mut acct = account(
        vec![
            user("a", &[], &[], &[]),
            user("b", &[], &[], &[]),
            user("c", &[], &[], &[]),
            user("d", &["p"], &[], &[]),
        ],
        vec![],
        vec![],
        vec![],
    );
    acct["UserDetailList"][3]["AttachedManagedPolicies"][0]["PolicyArn"] = json!(42);
    let e = audit(acct.to_string().as_bytes(), &AuditOptions::new(now())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "$.UserDetailList[3].AttachedManagedPolicies[0].PolicyArn: expected a string"
    );
    assert!(matches!(e, InputError::Field { .. }));

    let bad_stmt = account(
        vec![user(
            "a",
            &[],
            &[json!({"Statement": [{"Effect": "Allow", "Action": [1], "Resource": "*"}]})],
            &[],
        )],
        vec![],
        vec![],
        vec![],
    );
    let e = audit(bad_stmt.to_string().as_bytes(), &AuditOptions::new(now())).unwrap_err();
    assert_eq!(
        e.to_string(),
        "$.UserDetailList[0].UserPolicyList[0].PolicyDocument.Statement[0].Action[0]: expected a string"
    );

    let bad_date = account(
        vec![json!({"UserName": "x", "CreateDate": "yesterday"})],
        vec![],
        vec![],
        vec![],
    );
    let e = audit(bad_date.to_string().as_bytes(), &AuditOptions::new(now())).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("$.UserDetailList[0].CreateDate: expected a date"),
        "{e}"
    );

    let e = audit(b"{not json", &AuditOptions::new(now())).unwrap_err();
    assert!(matches!(e, InputError::Json { line: 1, .. }), "{e}");
    let e = audit(b"[1,2]", &AuditOptions::new(now())).unwrap_err();
    assert!(matches!(e, InputError::Unrecognised(_)));
    let e = audit(
        br#"{"users": [{"username": 5}]}"#,
        &AuditOptions::new(now()),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "$.users[0].username: expected a string");
}

#[test]
fn single_policy_document() {
    let doc = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    let r = run(&doc);
    assert_eq!(r.input_format, InputFormat::PolicyDocument);
    let ms = methods_of(&r, "policy document");
    assert!(
        ms.contains(&"CreateEC2WithExistingInstanceProfile".to_string()),
        "{ms:?}"
    );
    let checks = checks_of(&r, "policy document");
    for c in [
        "iam.service_wildcard",
        "iam.data_exfiltration",
        "iam.resource_exposure",
        "iam.infrastructure_modification",
    ] {
        assert!(checks.contains(&c.to_string()), "{c}: {checks:?}");
    }
    let admin = run(&allow(json!("*"), json!("*")));
    assert_eq!(admin.findings[0].check_id, "iam.admin_access");
}

#[test]
fn seed_format_checks() {
    let seed = json!({
        "users": [
            {"username": "root", "mfa_enabled": false, "privileges": ["admin"], "permissions": "*"},
            {"username": "dev", "mfa_enabled": true, "privileges": "read", "permissions": ["a","b","c","d","e","f","g","h","i","j","k"]},
            {"username": "ok", "mfa_enabled": true, "privileges": [], "permissions": ["s3:GetObject"]}
        ],
        "groups": [{"name": "ops", "privileges": [], "permissions": [], "policy": "full_access"}]
    });
    let r = run(&seed);
    assert_eq!(r.input_format, InputFormat::SeedIam);
    let by = |id: &str| -> Vec<(String, Severity)> {
        r.findings
            .iter()
            .filter(|f| f.check_id == id)
            .map(|f| (f.principal.clone(), f.severity))
            .collect()
    };
    assert_eq!(
        by("iam.root_mfa_disabled"),
        vec![("root".into(), Severity::High)]
    );
    assert_eq!(
        by("iam.admin_privileges"),
        vec![("root".into(), Severity::Medium)]
    );
    assert_eq!(
        by("iam.excessive_permissions"),
        vec![("dev".into(), Severity::Low)]
    );
    assert_eq!(
        by("iam.group_full_access"),
        vec![("ops".into(), Severity::Medium)]
    );
    let s = seed_summary(&r);
    assert!(s["high_risk"].as_u64().unwrap() >= 1);
    assert_eq!(
        s["medium_risk"].as_u64().unwrap() as usize,
        r.findings
            .iter()
            .filter(|f| f.severity == Severity::Medium)
            .count()
    );
    assert!(s["details"][0]["risk"].is_string() && s["details"][0]["issue"].is_string());
}

#[test]
fn renderers_and_fail_on() {
    let r = run(&account(
        vec![user(
            "u",
            &[],
            &[allow(json!("iam:PutUserPolicy"), json!("*"))],
            &[],
        )],
        vec![],
        vec![admin_role()],
        vec![],
    ));
    let json: Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert!(json["summary"]["total"].as_u64().unwrap() > 0);
    let f0 = &json["findings"][0];
    for k in [
        "check_id",
        "severity",
        "principal_type",
        "principal",
        "title",
        "explanation",
        "evidence",
    ] {
        assert!(f0.get(k).is_some(), "{k}");
    }
    let esc = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check_id"] == "iam.privilege_escalation")
        .unwrap();
    assert_eq!(esc["method"], "PutUserPolicy");
    assert_eq!(esc["severity"], "high");
    assert_eq!(esc["principal_type"], "user");

    let sarif: Value = serde_json::from_str(&render_sarif(&r)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(
        sarif["runs"][0]["results"].as_array().unwrap().len(),
        r.findings.len()
    );
    assert!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "iam.privilege_escalation")
    );

    let plain = render_table(&r, false);
    assert!(plain.lines().all(|l| l.chars().count() <= 80), "{plain}");
    assert!(!plain.contains('\x1b'));
    let coloured = render_table(&r, true);
    assert!(coloured.contains("\x1b[1;31m[HIGH]"));

    assert!(exceeds(&r, Severity::High));
    assert!(!exceeds(&r, Severity::Critical));
}

#[test]
fn exclusions_drop_findings() {
    let acct = account(
        vec![
            user(
                "u",
                &[],
                &[allow(json!("iam:PutUserPolicy"), json!("*"))],
                &[],
            ),
            user(
                "ci-bot",
                &[],
                &[allow(json!("iam:PutUserPolicy"), json!("*"))],
                &[],
            ),
        ],
        vec![],
        vec![admin_role()],
        vec![],
    );
    let ex = Exclusions::parse(
        "users: [\"ci-*\"]\ncheck_ids: [iam.resource_exposure]\nroles: admin-role\n",
    )
    .unwrap();
    let opts = AuditOptions {
        now: now(),
        exclusions: ex,
    };
    let r = audit(acct.to_string().as_bytes(), &opts).unwrap();
    assert!(
        r.findings
            .iter()
            .all(|f| f.principal != "ci-bot" && f.principal != "admin-role")
    );
    assert!(
        r.findings
            .iter()
            .all(|f| f.check_id != "iam.resource_exposure")
    );
    assert!(r.findings.iter().any(|f| f.principal == "u"));
    assert!(r.summary.excluded > 0);
    let by_policy = Exclusions::parse(r#"{"policies": ["inline0"]}"#).unwrap();
    let r = audit(
        acct.to_string().as_bytes(),
        &AuditOptions {
            now: now(),
            exclusions: by_policy,
        },
    )
    .unwrap();
    assert!(
        r.findings.iter().all(|f| f.principal != "u"),
        "{:?}",
        r.findings
            .iter()
            .map(|f| (&f.principal, &f.check_id))
            .collect::<Vec<_>>()
    );
}

#[test]
fn credential_report_csv_uses_now() {
    let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n<root_account>,arn:aws:iam::1:root,2018-01-01T00:00:00+00:00,not_supported,N/A,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
    let r = audit(csv.as_bytes(), &AuditOptions::new(now())).unwrap();
    assert_eq!(r.input_format, InputFormat::CredentialReport);
    assert_eq!(r.summary.reference_time, now());
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].check_id, "iam.root_mfa_disabled");
    assert_eq!(r.findings[0].severity, Severity::High);
}

#[test]
fn garbage_never_panics() {
    let samples: &[&[u8]] = &[
        b"", b"   ", b"null", b"{}", b"{\"Statement\": 3}", b"{\"Statement\": [null]}", b"{\"Content\": \"!!!\"}",
        b"user,arn\n", b"user,arn,mfa_active\n,,\n", b"{\"UserDetailList\": {}}", b"{\"users\": [1]}", b"\xff\xfe",
        b"{\"Statement\": {\"Effect\": \"Allow\", \"NotAction\": \"*\", \"Resource\": \"*\", \"Condition\": {\"DateLessThan\": {\"aws:CurrentTime\": \"x\"}}}}",
    ];
    for s in samples {
        let _ = audit(s, &AuditOptions::new(now()));
    }
}

#[test]
fn passed_to_service_limits_passrole_paths() {
    let lambda_role = role(
        "fn-role",
        json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
        &[],
        &[allow(json!("*"), json!("*"))],
    );
    let mut ec2_role = admin_role();
    ec2_role["InstanceProfileList"] = json!([{"InstanceProfileName": "p"}]);
    let passer = user(
        "p",
        &[],
        &[
            allow(
                json!([
                    "lambda:CreateFunction",
                    "lambda:InvokeFunction",
                    "ec2:RunInstances"
                ]),
                json!("*"),
            ),
            json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}]}),
        ],
        &[],
    );
    let r = run(&account(
        vec![passer],
        vec![],
        vec![lambda_role, ec2_role],
        vec![],
    ));
    assert_eq!(
        methods_of(&r, "p"),
        vec!["PassExistingRoleToNewLambdaThenInvoke"]
    );
    let f = r
        .findings
        .iter()
        .find(|f| f.principal == "p" && f.check_id == "iam.privilege_escalation")
        .unwrap();
    assert_eq!(f.confidence, Confidence::Certain);
}
