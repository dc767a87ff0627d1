//! IAM audits: JSON and multipart uploads, stored audits, findings, the
//! the IAM audit service's endpoint, errors.
mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

fn corpus() -> Vec<u8> {
    std::fs::read(IAM_AUTH_DETAILS).expect("IAM corpus document")
}

fn seed_doc() -> Value {
    json!({
        "users": [
            {"username": "root", "mfa_enabled": false, "privileges": ["admin"], "permissions": "*"},
            {"username": "dev", "mfa_enabled": true, "privileges": "read",
             "permissions": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]},
            {"username": "ok", "mfa_enabled": true, "privileges": [], "permissions": ["s3:GetObject"]}
        ],
        "groups": [{"name": "ops", "privileges": [], "permissions": [], "policy": "full_access"}]
    })
}

fn id_set(v: &Value) -> BTreeSet<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn json_audit_is_stored_and_its_findings_recorded() {
    let s = start().await;
    let r = s.post_json("/api/v1/iam/audits", &seed_doc()).await;
    let created = r.expect_status(201).clone();
    let id = created["id"].as_i64().unwrap();
    assert!(created["summary"].is_object(), "{created}");
    assert_eq!(created["source"], Value::Null);
    let finding_ids = id_set(&created["finding_ids"]);

    // The stored audit carries the full report.
    let full = s.get(&format!("/api/v1/iam/audits/{id}")).await;
    let full = full.expect_status(200);
    assert_eq!(full["id"], id);
    assert_eq!(full["summary"], created["summary"]);
    let report = full["report"]["findings"].as_array().unwrap();
    assert_eq!(report.len(), finding_ids.len());

    // Each report finding is a Vigilo finding in service `iam`.
    let fs = s.findings("service=iam").await;
    assert_eq!(
        fs.iter()
            .map(|f| f["id"].as_i64().unwrap())
            .collect::<BTreeSet<_>>(),
        finding_ids
    );
    let mut got: Vec<(String, String, String)> = fs
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["group"]["principal"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = report
        .iter()
        .map(|f| {
            (
                f["check_id"].as_str().unwrap().to_string(),
                f["principal"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(got, want);
    for (check, principal, severity) in [
        ("iam.root_mfa_disabled", "root", "high"),
        ("iam.admin_privileges", "root", "medium"),
        ("iam.excessive_permissions", "dev", "low"),
        ("iam.group_full_access", "ops", "medium"),
    ] {
        let t = (
            check.to_string(),
            principal.to_string(),
            severity.to_string(),
        );
        assert!(got.contains(&t), "{t:?} missing from {got:?}");
    }
    let root = fs
        .iter()
        .find(|f| f["rule_id"] == "iam.root_mfa_disabled")
        .unwrap();
    assert_eq!(root["user"], "root");
    assert_eq!(root["service"], "iam");
    assert_eq!(root["status"], "open");
    let ops = fs
        .iter()
        .find(|f| f["rule_id"] == "iam.group_full_access")
        .unwrap();
    assert_eq!(ops["user"], Value::Null, "a group is not a user");
    // IAM findings filter like any other.
    let by_rule = s.findings("rule_id=iam.excessive_permissions").await;
    assert_eq!(by_rule.len(), 1);
    assert_eq!(
        s.findings("user=root&service=iam").await.len(),
        got.iter().filter(|g| g.1 == "root").count()
    );
}

#[tokio::test]
async fn multipart_upload_of_the_corpus_and_no_duplicates_on_resubmission() {
    let s = start().await;
    let upload = || {
        reqwest::multipart::Form::new()
            .text("note", "ignored")
            .part(
                "file",
                reqwest::multipart::Part::bytes(corpus())
                    .file_name("iam-get-account-authorization-details.json")
                    .mime_str("application/json")
                    .unwrap(),
            )
    };
    let r = s
        .send(
            s.client
                .post(s.url("/api/v1/iam/audits"))
                .multipart(upload()),
        )
        .await;
    let first = r.expect_status(201).clone();
    assert_eq!(
        first["source"],
        "iam-get-account-authorization-details.json"
    );
    assert!(first["summary"].is_object());
    let first_ids = id_set(&first["finding_ids"]);
    // One Vigilo finding per report finding.
    assert_eq!(
        first_ids.len() as u64,
        first["summary"]["total"].as_u64().unwrap()
    );
    assert!(!first_ids.is_empty());

    let bad_role: Vec<Value> = s
        .findings("service=iam&rule_id=iam.role_trust_any_principal")
        .await;
    assert_eq!(bad_role.len(), 1, "{bad_role:#?}");
    assert_eq!(bad_role[0]["group"]["principal"], "bad_role");
    assert_eq!(bad_role[0]["group"]["principal_type"], "role");
    assert_eq!(bad_role[0]["severity"], "critical");
    assert!(first_ids.contains(&bad_role[0]["id"].as_i64().unwrap()));
    let total = s.finding_total().await;
    assert_eq!(total, first_ids.len() as u64);

    // The same document again (as a JSON body): a second audit, same findings.
    let r = s
        .post_raw(
            "/api/v1/iam/audits",
            corpus(),
            Some("application/json"),
            None,
        )
        .await;
    let second = r.expect_status(201).clone();
    assert_ne!(second["id"], first["id"]);
    let without_time = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("reference_time");
        v
    };
    assert_eq!(
        without_time(&second["summary"]),
        without_time(&first["summary"])
    );
    assert_eq!(id_set(&second["finding_ids"]), first_ids);
    assert_eq!(s.finding_total().await, total);

    // Both audits are listed, newest first, without reports.
    let r = s.get("/api/v1/iam/audits").await;
    let list = r.expect_status(200);
    assert_eq!(list["total"], 2);
    assert_eq!((&list["page"], &list["page_size"]), (&json!(1), &json!(50)));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items[0]["id"], second["id"]);
    assert_eq!(items[1]["id"], first["id"]);
    assert!(items.iter().all(|a| a.get("report").is_none()), "{list}");
    let r = s.get("/api/v1/iam/audits?page=2&page_size=1").await;
    let page = r.expect_status(200);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["id"], first["id"]);
    s.get("/api/v1/iam/audits?page=0")
        .await
        .expect_error(400, "invalid_query");
    s.get("/api/v1/iam/audits?page_size=501")
        .await
        .expect_error(400, "invalid_query");
}

#[tokio::test]
async fn seed_endpoint_answers_risk_tiers() {
    let s = start().await;
    let r = s.post_json("/audit-iam", &seed_doc()).await;
    let b = r.expect_status(200).clone();
    let mut keys: Vec<&String> = b.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["details", "high_risk", "low_risk", "medium_risk"]
    );

    // The tiers agree with the stored report (critical and high are "high").
    let list = s.get("/api/v1/iam/audits").await;
    assert_eq!(
        list.body["total"], 1,
        "the seed endpoint stores the audit too"
    );
    let id = list.body["items"][0]["id"].as_i64().unwrap();
    let full = s.get(&format!("/api/v1/iam/audits/{id}")).await;
    let findings = full.body["report"]["findings"].as_array().unwrap().clone();
    let tier = |f: &Value| match f["severity"].as_str().unwrap() {
        "critical" | "high" => "high",
        "medium" => "medium",
        _ => "low",
    };
    let count = |t: &str| findings.iter().filter(|f| tier(f) == t).count() as u64;
    assert_eq!(b["high_risk"].as_u64().unwrap(), count("high"));
    assert_eq!(b["medium_risk"].as_u64().unwrap(), count("medium"));
    assert_eq!(b["low_risk"].as_u64().unwrap(), count("low"));
    assert!(b["high_risk"].as_u64().unwrap() >= 1);
    assert!(b["medium_risk"].as_u64().unwrap() >= 2);
    assert!(b["low_risk"].as_u64().unwrap() >= 1);
    let details = b["details"].as_array().unwrap();
    assert_eq!(details.len(), findings.len());
    for d in details {
        let mut k: Vec<&String> = d.as_object().unwrap().keys().collect();
        k.sort();
        assert_eq!(k, vec!["issue", "risk"]);
    }
    assert!(
        details
            .iter()
            .any(|d| d["risk"] == "high" && d["issue"].as_str().unwrap().contains("root")),
        "{details:#?}"
    );
    // Its findings are recorded like any audit's.
    assert_eq!(s.findings("service=iam").await.len(), findings.len());

    // Multipart works on the seed endpoint too.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(seed_doc().to_string().into_bytes()).file_name("iam.json"),
    );
    let r = s
        .send(s.client.post(s.url("/audit-iam")).multipart(form))
        .await;
    assert_eq!(r.expect_status(200), &b);
}

#[tokio::test]
async fn bad_documents_are_refused() {
    let s = start().await;
    for path in ["/api/v1/iam/audits", "/audit-iam"] {
        for body in [
            "not json at all",
            "   ",
            "",
            "[1, 2, 3]",
            "{\"unrelated\": true}",
        ] {
            let r = s.post_raw(path, body, Some("application/json"), None).await;
            r.expect_error(400, "invalid_iam_document");
        }
        // Multipart without a file field.
        let form = reqwest::multipart::Form::new().text("other", "x");
        let r = s.send(s.client.post(s.url(path)).multipart(form)).await;
        r.expect_error(400, "invalid_request");
        // A garbage file.
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"\x00\x01garbage".to_vec()).file_name("x.bin"),
        );
        let r = s.send(s.client.post(s.url(path)).multipart(form)).await;
        r.expect_error(400, "invalid_iam_document");
        // Media types other than JSON, CSV and multipart are refused by
        // name; without one the content decides.
        let doc = r#"{"users": [{"name": "root", "is_root": true, "mfa_enabled": false}]}"#;
        for ct in ["application/xml", ";", "image/png"] {
            let r = s.post_raw(path, doc, Some(ct), None).await;
            r.expect_error(415, "unsupported_media_type");
            assert!(r.message().contains("content-type"), "{}", r.text);
        }
        assert!(
            s.post_raw(path, doc, None, None).await.status < 300,
            "{path}"
        );
    }
    // The two accepted audits above are the only ones stored.
    let list = s.get("/api/v1/iam/audits").await;
    assert_eq!(list.expect_status(200)["total"], 2);
    let list = s.get("/api/v1/iam/audits?page=1&page_size=1").await;
    assert_eq!(
        list.expect_status(200)["items"].as_array().map(Vec::len),
        Some(1)
    );
    s.get("/api/v1/iam/audits/999")
        .await
        .expect_error(404, "not_found");
    s.get("/api/v1/iam/audits/abc")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn iam_bodies_over_the_limit_are_413() {
    let s = start_with(|c, _| c.ingest.max_body_bytes = 1000).await;
    let r = s
        .post_raw(
            "/api/v1/iam/audits",
            corpus(),
            Some("application/json"),
            None,
        )
        .await;
    r.expect_error(413, "payload_too_large");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(corpus()).file_name("big.json"),
    );
    let r = s
        .send(s.client.post(s.url("/api/v1/iam/audits")).multipart(form))
        .await;
    r.expect_error(413, "payload_too_large");
}
