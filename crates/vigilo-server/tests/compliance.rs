//! Compliance through a real server: frameworks and controls from the
//! bundled mapping, a control's status following its findings, a user's
//! mapping file, and the evidence export (JSON, CSV, HTML)
//! holding exactly the findings of the period.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-06-02T10:00:00Z";
const CONTROL: &str = "soc2:CC7.2";

/// A large transaction of `user` at `secs` after `T`; the id of its finding.
async fn large_transaction(s: &TestServer, user: &str, secs: i64) -> i64 {
    s.ingest(&json!([{
        "timestamp": ts(T, secs), "kind": "transaction", "transaction_id": format!("t-{user}-{secs}"),
        "user_id": user, "amount": 12_000, "currency": "EUR", "status": "ok",
    }]))
    .await;
    s.wait_for_detection().await;
    let f = s
        .findings(&format!("rule_id=anomaly.large_amount&user={user}"))
        .await;
    assert_eq!(f.len(), 1, "{f:?}");
    f[0]["id"].as_i64().unwrap()
}

async fn control(s: &TestServer, id: &str) -> Value {
    s.get(&format!("/api/v1/compliance/controls/{id}"))
        .await
        .expect_status(200)
        .clone()
}

fn control_in<'a>(list: &'a Value, key: &str) -> &'a Value {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("{key} not in {list}"))
}

#[tokio::test]
async fn frameworks_and_controls_come_from_the_bundled_mapping() {
    let s = start().await;
    let r = s.get("/api/v1/compliance/frameworks").await;
    let body = r.expect_status(200);
    let ids: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    for want in ["soc2", "iso27001", "nist_800_53", "cis_aws"] {
        assert!(ids.contains(&want), "{want} missing: {ids:?}");
    }
    for f in body["items"].as_array().unwrap() {
        let n = f["controls"].as_u64().unwrap();
        let sum = f["passing"].as_u64().unwrap()
            + f["failing"].as_u64().unwrap()
            + f["not_monitored"].as_u64().unwrap();
        assert_eq!(n, sum, "{f}");
        assert!(n > 0, "{f}");
        // Nothing has fired yet.
        assert_eq!(f["failing"], 0, "{f}");
    }

    let list = s.get("/api/v1/compliance/controls?framework=soc2").await;
    let list = list.expect_status(200).clone();
    let c = control_in(&list, CONTROL);
    assert_eq!(c["status"], "passing", "{c}");
    assert!(
        c["mapped"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["rule"] == "anomaly.large_amount"
                && !m["reason"].as_str().unwrap().is_empty()),
        "{c}"
    );

    s.get("/api/v1/compliance/controls?framework=nope")
        .await
        .expect_error(404, "not_found");
    s.get("/api/v1/compliance/controls")
        .await
        .expect_error(400, "invalid_query");
    s.get("/api/v1/compliance/controls/soc2:NOPE")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn a_controls_status_follows_its_findings_opened_and_resolved() {
    let s = start().await;
    let id = large_transaction(&s, "u1", 0).await;

    let c = control(&s, CONTROL).await;
    assert_eq!(c["control"]["status"], "failing", "{c}");
    assert_eq!(c["control"]["open"], 1, "{c}");
    assert_eq!(c["control"]["open_by_severity"]["high"], 1, "{c}");
    assert!(c["control"]["last_evidence"].is_string(), "{c}");
    let ids: Vec<i64> = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&id), "{ids:?}");
    let fw = s.get("/api/v1/compliance/frameworks").await;
    let soc2 = fw.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == "soc2")
        .unwrap()
        .clone();
    assert!(soc2["failing"].as_u64().unwrap() >= 1, "{soc2}");

    // Acknowledged is still open.
    s.patch_json(
        &format!("/api/v1/findings/{id}"),
        &json!({"status": "acknowledged"}),
    )
    .await
    .expect_status(200);
    assert_eq!(control(&s, CONTROL).await["control"]["status"], "failing");

    s.patch_json(
        &format!("/api/v1/findings/{id}"),
        &json!({"status": "resolved"}),
    )
    .await
    .expect_status(200);
    let c = control(&s, CONTROL).await;
    assert_eq!(c["control"]["status"], "passing", "{c}");
    assert_eq!(c["control"]["open"], 0, "{c}");
    // The evidence stays.
    assert!(c["control"]["last_evidence"].is_string(), "{c}");
    assert_eq!(c["findings"].as_array().unwrap().len(), 1, "{c}");

    // A control only IAM checks give evidence for is not monitored before
    // the first audit.
    let c = control(&s, "cis_aws:1.4").await;
    assert_eq!(
        c["control"]["status"], "not_monitored",
        "an IAM control before any audit: {c}"
    );
}

#[tokio::test]
async fn a_users_mapping_file_adds_a_framework_and_its_controls() {
    let s = start_with(|c, dir| {
        let path = dir.join("mine.yml");
        std::fs::write(
            &path,
            "frameworks:\n  - id: internal\n    title: Internal policy\n    controls:\n      - {id: P-1, title: \"Payments are watched\"}\n\
             mappings:\n  - rule: anomaly.large_amount\n    controls:\n      internal:P-1: large transfers are reviewed by finance\n",
        )
        .unwrap();
        c.compliance.mappings = vec![path];
    })
    .await;
    large_transaction(&s, "u2", 0).await;
    let list = s
        .get("/api/v1/compliance/controls?framework=internal")
        .await;
    let list = list.expect_status(200).clone();
    let c = control_in(&list, "internal:P-1");
    assert_eq!(c["status"], "failing", "{c}");
    assert_eq!(
        c["mapped"][0]["reason"],
        "large transfers are reviewed by finance"
    );
}

#[tokio::test]
async fn the_export_holds_exactly_the_findings_of_the_period() {
    let s = start().await;
    // Three days apart: the second is the period.
    let before = large_transaction(&s, "early", 0).await;
    let inside = large_transaction(&s, "inside", 86_400).await;
    let after = large_transaction(&s, "late", 2 * 86_400).await;
    let from = ts(T, 86_400 - 3_600);
    let to = ts(T, 86_400 + 3_600);

    let q = format!("framework=soc2&from={from}&to={to}");
    let r = s.get(&format!("/api/v1/compliance/export?{q}")).await;
    let doc = r.expect_status(200).clone();
    let ids: Vec<i64> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&inside), "{ids:?}");
    assert!(!ids.contains(&before) && !ids.contains(&after), "{ids:?}");
    // Every finding of the period is mapped to soc2, so no other rule fired.
    assert_eq!(ids, vec![inside], "{doc}");
    let c = doc["controls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == CONTROL)
        .unwrap();
    assert_eq!(c["findings"], json!([inside]));

    // CSV: one row per control and finding of the period.
    let r = s
        .get(&format!("/api/v1/compliance/export?{q}&format=csv"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut lines = r.text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "finding_id").unwrap();
    let rows: Vec<i64> = lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(rows, vec![inside], "{}", r.text);

    // HTML: a printable report with a page for the failing control.
    let r = s
        .get(&format!(
            "/api/v1/compliance/export?{q}&format=html&control={CONTROL}"
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.starts_with("<!DOCTYPE html>"), "{}", r.text);
    assert!(r.text.contains("CC7.2"), "{}", r.text);
    assert!(r.text.contains("anomaly.large_amount"), "{}", r.text);

    // Without a period: the 30 days before now.
    let r = s.get("/api/v1/compliance/export?framework=soc2").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let doc: serde_json::Value = serde_json::from_str(&r.text).unwrap();
    let at = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(doc[k].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    assert!(
        (chrono::Utc::now() - at("to")).num_seconds().abs() < 60,
        "{doc}"
    );
    assert_eq!(at("to") - at("from"), chrono::Duration::days(30), "{doc}");

    s.get(&format!(
        "/api/v1/compliance/export?framework=soc2&from={to}&to={from}"
    ))
    .await
    .expect_error(400, "invalid_query");
    s.get(&format!(
        "/api/v1/compliance/export?framework=soc2&from={from}&to={to}&control=iso27001:A.8.16"
    ))
    .await
    .expect_error(404, "not_found");
}
