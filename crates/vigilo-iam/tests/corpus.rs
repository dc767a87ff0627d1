//! Outcomes on the public corpora: the iam-vulnerable lab exported for
//! Cloudsplaining, and the CloudMapper demo account.

use std::collections::{BTreeMap, BTreeSet};

use vigilo_iam::{AuditOptions, Confidence, InputFormat, PrincipalType, Report, Severity, audit};

const LAB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/iam/cloudsplaining/example.json"
);
const CM_AUTHZ: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/iam/cloudmapper/iam-get-account-authorization-details.json"
);
const CM_CRED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/iam/cloudmapper/iam-get-credential-report.json"
);

fn run(path: &str) -> Report {
    let bytes = std::fs::read(path).expect("corpus file (../shared beside the repository)");
    let now = "2024-06-01T00:00:00Z".parse().expect("date");
    audit(&bytes, &AuditOptions::new(now)).expect("audit")
}

/// principal -> escalation methods
fn methods(r: &Report) -> BTreeMap<String, BTreeSet<String>> {
    let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in r
        .findings
        .iter()
        .filter(|f| f.check_id == "iam.privilege_escalation")
    {
        m.entry(f.principal.clone()).or_default().insert(
            f.method
                .clone()
                .expect("privilege escalation findings carry a method"),
        );
    }
    m
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const CLASSIC: [(&str, &str); 21] = [
    ("privesc1-CreateNewPolicyVersion", "CreateNewPolicyVersion"),
    (
        "privesc2-SetExistingDefaultPolicyVersion",
        "SetExistingDefaultPolicyVersion",
    ),
    (
        "privesc3-CreateEC2WithExistingInstanceProfile",
        "CreateEC2WithExistingInstanceProfile",
    ),
    ("privesc4-CreateAccessKey", "CreateAccessKey"),
    ("privesc5-CreateLoginProfile", "CreateLoginProfile"),
    ("privesc6-UpdateLoginProfile", "UpdateLoginProfile"),
    ("privesc7-AttachUserPolicy", "AttachUserPolicy"),
    ("privesc8-AttachGroupPolicy", "AttachGroupPolicy"),
    ("privesc9-AttachRolePolicy", "AttachRolePolicy"),
    ("privesc10-PutUserPolicy", "PutUserPolicy"),
    ("privesc11-PutGroupPolicy", "PutGroupPolicy"),
    ("privesc12-PutRolePolicy", "PutRolePolicy"),
    ("privesc13-AddUserToGroup", "AddUserToGroup"),
    (
        "privesc14-UpdatingAssumeRolePolicy",
        "UpdatingAssumeRolePolicy",
    ),
    (
        "privesc15-PassExistingRoleToNewLambdaThenInvoke",
        "PassExistingRoleToNewLambdaThenInvoke",
    ),
    (
        "privesc16-PassRoleToNewLambdaThenTriggerWithNewDynamo",
        "PassRoleToNewLambdaThenTriggerWithNewDynamo",
    ),
    (
        "privesc17-EditExistingLambdaFunctionWithRole",
        "EditExistingLambdaFunctionWithRole",
    ),
    (
        "privesc18-PassExistingRoleToNewGlueDevEndpoint",
        "PassExistingRoleToNewGlueDevEndpoint",
    ),
    (
        "privesc19-UpdateExistingGlueDevEndpoint",
        "UpdateExistingGlueDevEndpoint",
    ),
    (
        "privesc20-PassExistingRoleToCloudFormation",
        "PassExistingRoleToCloudFormation",
    ),
    (
        "privesc21-PassExistingRoleToNewDataPipeline",
        "PassExistingRoleToNewDataPipeline",
    ),
];

#[test]
fn lab_classic_methods_exactly() {
    let r = run(LAB);
    assert_eq!(r.input_format, InputFormat::AuthorizationDetails);
    let m = methods(&r);
    for (prefix, method) in CLASSIC {
        for suffix in ["-user", "-role"] {
            let name = format!("{prefix}{suffix}");
            let mut want = set(&[method]);
            if method == "CreateEC2WithExistingInstanceProfile" {
                // The lab policy also grants ec2:AssociateIamInstanceProfile.
                want.insert("AssociateInstanceProfileWithExistingEC2".into());
            }
            assert_eq!(m.get(&name), Some(&want), "{name}");
        }
    }
}

#[test]
fn lab_newer_methods_exactly() {
    let r = run(LAB);
    let m = methods(&r);
    let expect: [(&str, &[&str]); 10] = [
        (
            "privesc-CloudFormationUpdateStack",
            &["CloudFormationUpdateStack"],
        ),
        (
            "privesc-codeBuildCreateProjectPassRole",
            &["CodeBuildCreateProjectPassRole"],
        ),
        ("privesc-ec2InstanceConnect", &["EC2InstanceConnect"]),
        (
            "privesc-sageMakerCreateNotebookPassRole",
            &[
                "SageMakerCreateNotebookPassRole",
                "SageMakerCreatePresignedNotebookURL",
            ],
        ),
        (
            "privesc-sageMakerCreatePresignedNotebookURL",
            &["SageMakerCreatePresignedNotebookURL"],
        ),
        (
            "privesc-sageMakerCreateProcessingJobPassRole",
            &["SageMakerCreateProcessingJobPassRole"],
        ),
        (
            "privesc-sageMakerCreateTrainingJobPassRole",
            &["SageMakerCreateTrainingJobPassRole"],
        ),
        ("privesc-ssmSendCommand", &["SSMSendCommand"]),
        ("privesc-ssmStartSession", &["SSMStartSession"]),
        (
            "privesc-sre",
            &[
                "AddUserToGroup",
                "AssociateInstanceProfileWithExistingEC2",
                "AttachGroupPolicy",
                "AttachRolePolicy",
                "AttachUserPolicy",
                "CreateAccessKey",
                "CreateEC2WithExistingInstanceProfile",
                "CreateLoginProfile",
                "CreateNewPolicyVersion",
                "ModifyEC2InstanceUserDataThenRestart",
                "ModifyExistingEC2LaunchTemplate",
                "PassExistingRoleToNewEC2SpotInstance",
                "PutGroupPolicy",
                "PutRolePolicy",
                "PutUserPolicy",
                "SetExistingDefaultPolicyVersion",
                "UpdateLoginProfile",
                "UpdatingAssumeRolePolicy",
            ],
        ),
    ];
    for (prefix, ms) in expect {
        for suffix in ["-user", "-role"] {
            let name = format!("{prefix}{suffix}");
            assert_eq!(m.get(&name), Some(&set(ms)), "{name}");
        }
    }
    // The AssumeRole chain: starting -> intermediate -> ending (admin).
    assert_eq!(
        m.get("privesc-AssumeRole-starting-role"),
        Some(&set(&["AssumeRole"]))
    );
    assert_eq!(
        m.get("privesc-AssumeRole-intermediate-role"),
        Some(&set(&["AssumeRole"]))
    );
    let chain = r
        .findings
        .iter()
        .find(|f| {
            f.principal == "privesc-AssumeRole-starting-role"
                && f.method.as_deref() == Some("AssumeRole")
        })
        .expect("chain finding");
    assert!(chain.explanation.contains(
        "privesc-AssumeRole-starting-role -> privesc-AssumeRole-intermediate-role -> privesc-AssumeRole-ending-role"
    ));
    // The start user has no permissions and no role trusts it: no evidence of escalation.
    assert!(!m.contains_key("privesc-AssumeRole-start-user"));
    assert!(!m.contains_key("privesc-permissive-role-trust"));
    // Admin principals are reported as admins, not as escalations.
    for admin in [
        "privesc-high-priv-service-role",
        "privesc-AssumeRole-ending-role",
        "obama",
    ] {
        assert!(!m.contains_key(admin), "{admin}");
        assert!(
            r.findings
                .iter()
                .any(|f| f.principal == admin && f.check_id == "iam.admin_access"),
            "{admin}"
        );
    }
}

#[test]
fn lab_false_negatives_are_caught() {
    let r = run(LAB);
    let m = methods(&r);
    for suffix in ["-user", "-role"] {
        // Escalation split across two policies (PassRole in one, RunInstances in the other).
        assert_eq!(
            m.get(&format!("fn1-privesc3-partial{suffix}")),
            Some(&set(&["CreateEC2WithExistingInstanceProfile"]))
        );
        // Resource arn:aws:iam::*:policy/fn2-* matches the principal's own policy.
        assert_eq!(
            m.get(&format!("fn2-exploitableResourceConstraint{suffix}")),
            Some(&set(&["CreateNewPolicyVersion"]))
        );
        // DateGreaterThan aws:TokenIssueTime 2020-01-01 is satisfiable: reported, as conditional.
        let name = format!("fn3-exploitableConditionConstraint{suffix}");
        assert_eq!(m.get(&name), Some(&set(&["CreateNewPolicyVersion"])));
        let f = r
            .findings
            .iter()
            .find(|f| f.principal == name && f.check_id == "iam.privilege_escalation")
            .expect("fn3");
        assert_eq!(f.confidence, Confidence::Conditional);
        // NotAction [iam:Update*, iam:Create*, iam:Attach*] leaves Put*, AddUserToGroup, PassRole...
        let fn4 = m
            .get(&format!("fn4-exploitableNotAction{suffix}"))
            .expect("fn4");
        for yes in [
            "PutUserPolicy",
            "PutGroupPolicy",
            "PutRolePolicy",
            "AddUserToGroup",
            "SetExistingDefaultPolicyVersion",
            "CreateEC2WithExistingInstanceProfile",
            "PassExistingRoleToNewLambdaThenInvoke",
        ] {
            assert!(fn4.contains(yes), "fn4{suffix} {yes}");
        }
        for no in [
            "CreateNewPolicyVersion",
            "CreateAccessKey",
            "CreateLoginProfile",
            "UpdateLoginProfile",
            "AttachUserPolicy",
            "AttachGroupPolicy",
            "AttachRolePolicy",
            "UpdatingAssumeRolePolicy",
        ] {
            assert!(!fn4.contains(no), "fn4{suffix} {no}");
        }
    }
}

#[test]
fn lab_false_positives_are_not_flagged() {
    let r = run(LAB);
    for p in [
        "fp1-allow-and-deny",
        "fp2-allow-and-deny-multiple-policies",
        "fp3-deny-iam",
        "fp4-nonExploitableResourceConstraint",
        "fp5-nonExploitableConditionConstraint",
    ] {
        for suffix in ["-user", "-role"] {
            let name = format!("{p}{suffix}");
            let found: Vec<&str> = r
                .findings
                .iter()
                .filter(|f| f.principal == name)
                .map(|f| f.check_id.as_str())
                .collect();
            assert!(found.is_empty(), "{name}: {found:?}");
        }
    }
}

#[test]
fn lab_counts_and_other_checks() {
    let r = run(LAB);
    let m = methods(&r);
    let lab_principals: Vec<&String> = m
        .keys()
        .filter(|k| k.starts_with("privesc") || k.starts_with("fn"))
        .collect();
    // 42 classic, 20 newer + 2 chain roles, 8 fn
    assert_eq!(lab_principals.len(), 72, "{lab_principals:?}");
    let ids: BTreeSet<(&str, &str)> = r
        .findings
        .iter()
        .map(|f| (f.check_id.as_str(), f.principal.as_str()))
        .collect();
    assert!(ids.contains(&("iam.group_full_access", "admin")));
    assert!(ids.contains(&(
        "iam.role_trust_cross_account",
        "OrganizationAccountAccessRole"
    )));
    assert!(ids.contains(&(
        "iam.role_trust_compute_service",
        "privesc-high-priv-service-role"
    )));
    assert!(ids.contains(&("iam.service_wildcard", "privesc-sre-user")));
    assert!(ids.contains(&("iam.credentials_exposure", "OverprivilegedEC2")));
    assert!(ids.contains(&("iam.data_exfiltration", "OverprivilegedEC2")));
    assert!(ids.contains(&("iam.resource_exposure", "privesc7-AttachUserPolicy-user")));
    // Every finding has an explanation, a remediation and evidence.
    for f in &r.findings {
        assert!(
            !f.explanation.is_empty() && !f.remediation.is_empty(),
            "{f:?}"
        );
        assert!(!f.evidence.is_empty(), "{} {}", f.check_id, f.principal);
    }
    // Escalation findings name the policy and statement that cause them.
    let f = r
        .findings
        .iter()
        .find(|f| f.principal == "privesc4-CreateAccessKey-user")
        .expect("privesc4");
    assert_eq!(f.evidence[0].policy, "privesc4-CreateAccessKey");
    assert_eq!(
        f.evidence[0].actions,
        vec!["iam:CreateAccessKey".to_string()]
    );
    assert_eq!(f.severity, Severity::High);
}

#[test]
fn cloudmapper_bad_role_is_assumable_by_anyone() {
    let r = run(CM_AUTHZ);
    let f = r
        .findings
        .iter()
        .find(|f| f.check_id == "iam.role_trust_any_principal")
        .expect("trust finding");
    assert_eq!(f.principal, "bad_role");
    assert_eq!(f.principal_type, PrincipalType::Role);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(
        r.findings
            .iter()
            .filter(|f| f.check_id == "iam.role_trust_any_principal")
            .count(),
        1
    );
}

#[test]
fn cloudmapper_credential_report_rows() {
    let r = run(CM_CRED);
    assert_eq!(r.input_format, InputFormat::CredentialReport);
    // Ages are measured at the report's generation time.
    assert_eq!(
        r.summary.reference_time,
        "2019-05-07T15:40:22Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
    );
    let mut by: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for f in &r.findings {
        by.entry(f.principal.as_str())
            .or_default()
            .insert(f.check_id.as_str());
    }
    assert_eq!(
        by["<root_account>"],
        ["iam.root_access_key", "iam.root_account_used"]
            .into_iter()
            .collect()
    );
    assert_eq!(
        by["auditor_tmp"],
        ["iam.access_key_never_used"].into_iter().collect()
    );
    assert_eq!(
        by["user"],
        [
            "iam.console_user_without_mfa",
            "iam.unused_password",
            "iam.access_key_not_rotated",
            "iam.unused_access_key",
            "iam.access_key_never_used",
            "iam.multiple_active_access_keys",
        ]
        .into_iter()
        .collect()
    );
    let root = r
        .findings
        .iter()
        .find(|f| f.check_id == "iam.root_access_key")
        .expect("root key");
    assert_eq!(root.severity, Severity::Critical);
    assert_eq!(root.principal_type, PrincipalType::Account);
    assert!(root.references.iter().any(|x| x.contains("CIS")));
}
