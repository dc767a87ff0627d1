//! Findings from a historical stream through the bundled rules: the exact
//! set, filters, pagination, detail, analyst updates, incident windows.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-06-02T10:00:00Z";

/// The stream: an ERROR spike, a slow hot metric, failed logins then a
/// success, an admin token without expiry.
fn stream() -> Vec<Value> {
    let mut v = Vec::new();
    for i in 0..20 {
        v.push(json!({
            "timestamp": ts(T, i * 5), "service": "checkout", "level": "ERROR",
            "message": format!("boom {i}"),
        }));
    }
    // Noise that trips nothing: warnings, info, a cool fast metric.
    for i in 0..5 {
        v.push(json!({"timestamp": ts(T, 10 + i), "service": "checkout", "level": "INFO", "message": "ok"}));
    }
    v.push(json!({"timestamp": ts(T, 150), "service": "payments", "cpu": 20, "latency_ms": 30}));
    v.push(json!({"timestamp": ts(T, 200), "service": "payments", "cpu": 95, "latency_ms": 1500}));
    for i in 0..3 {
        v.push(json!({"timestamp": ts(T, 300 + i * 60), "event_type": "login_failed", "user": "mallory", "ip": "10.0.0.9"}));
    }
    v.push(json!({"timestamp": ts(T, 480), "event_type": "login_success", "user": "mallory", "ip": "10.0.0.9"}));
    v.push(json!({
        "timestamp": ts(T, 600), "event_type": "api_token_created", "user": "trent",
        "scopes": ["read", "admin:*"], "has_expiry": false,
    }));
    v
}

/// (rule_id, group, event_count, severity, first_seen offset, last_seen offset)
type Want = (&'static str, Value, i64, &'static str, i64, i64);

fn expected() -> Vec<Want> {
    vec![
        (
            "anomaly.cpu_and_latency",
            json!({"service": "payments"}),
            1,
            "critical",
            200,
            200,
        ),
        (
            "anomaly.high_latency",
            json!({"service": "payments"}),
            1,
            "high",
            200,
            200,
        ),
        (
            "anomaly.log_error_spike",
            json!({"service": "checkout"}),
            20,
            "critical",
            0,
            95,
        ),
        (
            "identity.admin_token",
            json!({"user": "trent"}),
            1,
            "critical",
            600,
            600,
        ),
        (
            "identity.failed_logins_medium",
            json!({"user": "mallory"}),
            3,
            "medium",
            300,
            420,
        ),
        (
            "identity.login_after_failures",
            json!({"user": "mallory"}),
            4,
            "critical",
            300,
            480,
        ),
        (
            "identity.token_without_expiry",
            json!({"user": "trent"}),
            1,
            "high",
            600,
            600,
        ),
    ]
}

fn summarize(findings: &[Value]) -> Vec<(String, Value, i64, String, i64, i64)> {
    let t0 = instant(&json!(T));
    let mut v: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["group"].clone(),
                f["event_count"].as_i64().unwrap(),
                f["severity"].as_str().unwrap().to_string(),
                (instant(&f["first_seen"]) - t0).num_seconds(),
                (instant(&f["last_seen"]) - t0).num_seconds(),
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, a.1.to_string(), a.4).cmp(&(&b.0, b.1.to_string(), b.4)));
    v
}

fn want(w: Vec<Want>) -> Vec<(String, Value, i64, String, i64, i64)> {
    let mut v: Vec<_> = w
        .into_iter()
        .map(|(r, g, n, s, a, b)| (r.to_string(), g, n, s.to_string(), a, b))
        .collect();
    v.sort_by(|a, b| (&a.0, a.1.to_string(), a.4).cmp(&(&b.0, b.1.to_string(), b.4)));
    v
}

fn ids(findings: &[Value]) -> Vec<i64> {
    let mut v: Vec<i64> = findings.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    v.sort();
    v
}

async fn loaded() -> TestServer {
    let s = start().await;
    assert_eq!(s.ingest(&Value::Array(stream())).await, 32);
    s.wait_for_detection().await;
    s
}

#[tokio::test]
async fn a_historical_stream_yields_exactly_the_expected_findings() {
    let s = loaded().await;
    let all = s.findings("").await;
    assert_eq!(summarize(&all), want(expected()));
    for f in &all {
        assert_eq!(f["status"], "open", "{f}");
        assert_eq!(f["note"], Value::Null, "{f}");
        assert_eq!(
            f["evidence"].as_array().unwrap().len() as i64,
            f["event_count"].as_i64().unwrap(),
            "{f}"
        );
    }
    let spike = only(&all, "anomaly.log_error_spike");
    assert_eq!(spike["service"], "checkout");
    assert_eq!(spike["user"], Value::Null);
    assert_eq!(spike["risk_score"], 100);
    assert_eq!(only(&all, "identity.admin_token")["risk_score"], 100);
    assert_eq!(
        only(&all, "identity.login_after_failures")["user"],
        "mallory"
    );

    // Ordered by last activity, newest first.
    let lasts: Vec<_> = all.iter().map(|f| instant(&f["last_seen"])).collect();
    assert!(lasts.windows(2).all(|w| w[0] >= w[1]), "{lasts:?}");

    let summary = s.get("/api/v1/stats/summary").await;
    assert_eq!(summary.expect_status(200)["total_findings"], 7);
}

#[tokio::test]
async fn finding_filters_and_pagination() {
    let s = loaded().await;
    let rules = |fs: Vec<Value>| -> Vec<String> {
        let mut v: Vec<String> = fs
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            "severity=critical",
            vec![
                "anomaly.cpu_and_latency",
                "anomaly.log_error_spike",
                "identity.admin_token",
                "identity.login_after_failures",
            ],
        ),
        (
            "severity=high",
            vec!["anomaly.high_latency", "identity.token_without_expiry"],
        ),
        ("severity=medium", vec!["identity.failed_logins_medium"]),
        ("severity=low", vec![]),
        ("status=open", expected().iter().map(|w| w.0).collect()),
        ("status=resolved", vec![]),
        ("rule_id=identity.admin_token", vec!["identity.admin_token"]),
        ("rule_id=nope", vec![]),
        (
            "user=mallory",
            vec![
                "identity.failed_logins_medium",
                "identity.login_after_failures",
            ],
        ),
        (
            "user=trent&severity=high",
            vec!["identity.token_without_expiry"],
        ),
        (
            "service=payments",
            vec!["anomaly.cpu_and_latency", "anomaly.high_latency"],
        ),
        ("service=checkout", vec!["anomaly.log_error_spike"]),
        // from: still active at or after; to: began before.
        (
            "from=2025-06-02T10:07:30Z",
            vec![
                "identity.admin_token",
                "identity.login_after_failures",
                "identity.token_without_expiry",
            ],
        ),
        ("to=2025-06-02T10:03:20Z", vec!["anomaly.log_error_spike"]),
        (
            "to=2025-06-02T10:03:21Z",
            vec![
                "anomaly.cpu_and_latency",
                "anomaly.high_latency",
                "anomaly.log_error_spike",
            ],
        ),
        (
            "from=2025-06-02T10:01:35Z&to=2025-06-02T10:05:01Z",
            vec![
                "anomaly.cpu_and_latency",
                "anomaly.high_latency",
                "anomaly.log_error_spike",
                "identity.failed_logins_medium",
                "identity.login_after_failures",
            ],
        ),
        (
            "from=2025-06-02T10:01:36Z&to=2025-06-02T10:05:00Z",
            vec!["anomaly.cpu_and_latency", "anomaly.high_latency"],
        ),
        ("from=2026-01-01T00:00:00Z", vec![]),
        // Lists on enum filters, rule id prefixes.
        (
            "severity=high,medium",
            vec![
                "anomaly.high_latency",
                "identity.failed_logins_medium",
                "identity.token_without_expiry",
            ],
        ),
        (
            "status=open,acknowledged",
            expected().iter().map(|w| w.0).collect(),
        ),
        ("status=resolved,suppressed", vec![]),
        (
            "rule_id=anomaly.*",
            vec![
                "anomaly.cpu_and_latency",
                "anomaly.high_latency",
                "anomaly.log_error_spike",
            ],
        ),
        ("rule_id=anomaly.high*", vec!["anomaly.high_latency"]),
        ("rule_id=*", expected().iter().map(|w| w.0).collect()),
        ("rule_id=anomaly.", vec![]),
        (
            "rule_id=identity.*&severity=critical,high&user=trent",
            vec!["identity.admin_token", "identity.token_without_expiry"],
        ),
    ];
    for (q, want) in cases {
        let got = rules(s.findings(q).await);
        let mut want: Vec<String> = want.into_iter().map(str::to_string).collect();
        want.sort();
        assert_eq!(got, want, "query {q}");
    }

    // Pagination: 7 findings in pages of 2.
    let mut seen = Vec::new();
    for page in 1..=4 {
        let r = s
            .get(&format!("/api/v1/findings?page={page}&page_size=2"))
            .await;
        let body = r.expect_status(200);
        assert_eq!(body["total"], 7);
        assert_eq!(body["page"], page);
        assert_eq!(body["page_size"], 2);
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), if page == 4 { 1 } else { 2 });
        seen.extend(items.iter().map(|f| f["id"].as_i64().unwrap()));
    }
    let r = s.get("/api/v1/findings?page=5&page_size=2").await;
    assert_eq!(r.expect_status(200)["items"], json!([]));
    let all_ids = ids(&s.findings("").await);
    let listed: Vec<i64> = s
        .findings("")
        .await
        .iter()
        .map(|f| f["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, listed, "pages follow the listing order");
    seen.sort();
    assert_eq!(seen, all_ids);
    let r = s.get("/api/v1/findings").await;
    assert_eq!(r.expect_status(200)["page_size"], 50);

    // Bad queries.
    for q in [
        "severity=urgent",
        "status=closed",
        "page=0",
        "page_size=0",
        "page_size=501",
        "page=x",
        "colour=red",
    ] {
        let r = s.get(&format!("/api/v1/findings?{q}")).await;
        r.expect_error(400, "invalid_query");
    }
    let r = s.get("/api/v1/findings?from=yesterday").await;
    r.expect_error(400, "invalid_query");
    assert!(r.message().contains("`from`"), "{}", r.text);
    let r = s.get("/api/v1/findings?to=nope").await;
    assert!(
        r.expect_error(400, "invalid_query")
            .message()
            .contains("`to`")
    );
    let r = s.get("/api/v1/findings?page_size=500").await;
    r.expect_status(200);
    for q in [
        "severity=high,urgent",
        "status=open,,closed",
        "sort=colour",
        "severity=",
        "order=up",
        "from=",
    ] {
        s.get(&format!("/api/v1/findings?{q}"))
            .await
            .expect_error(400, "invalid_query");
    }
    // A backwards range is an error, not an empty page.
    let r = s
        .get("/api/v1/findings?from=2025-06-02T11:00:00Z&to=2025-06-02T10:00:00Z")
        .await;
    r.expect_error(400, "invalid_query");
    assert!(r.message().contains("after `to`"), "{}", r.text);
}

#[tokio::test]
async fn findings_sort_by_time_severity_and_risk() {
    let s = loaded().await;
    let rank = |sev: &str| {
        ["informational", "low", "medium", "high", "critical"]
            .iter()
            .position(|x| *x == sev)
            .unwrap()
    };
    let list = |q: &str| {
        let q = q.to_string();
        let s = &s;
        async move { s.findings(&q).await }
    };
    let by_sev = list("sort=severity").await;
    let sevs: Vec<usize> = by_sev
        .iter()
        .map(|f| rank(f["severity"].as_str().unwrap()))
        .collect();
    assert!(sevs.windows(2).all(|w| w[0] >= w[1]), "{sevs:?}");
    assert_eq!(sevs.len(), 7);
    // Ties on severity: most recently active first.
    for w in by_sev.windows(2) {
        if w[0]["severity"] == w[1]["severity"] {
            assert!(instant(&w[0]["last_seen"]) >= instant(&w[1]["last_seen"]));
        }
    }
    let asc: Vec<usize> = list("sort=severity&order=asc")
        .await
        .iter()
        .map(|f| rank(f["severity"].as_str().unwrap()))
        .collect();
    assert!(asc.windows(2).all(|w| w[0] <= w[1]), "{asc:?}");
    let risks: Vec<i64> = list("sort=risk_score")
        .await
        .iter()
        .map(|f| f["risk_score"].as_i64().unwrap())
        .collect();
    assert!(risks.windows(2).all(|w| w[0] >= w[1]), "{risks:?}");
    assert_eq!(risks[0], 100, "the admin token is the riskiest");
    let firsts: Vec<_> = list("sort=first_seen&order=asc")
        .await
        .iter()
        .map(|f| instant(&f["first_seen"]))
        .collect();
    assert!(firsts.windows(2).all(|w| w[0] <= w[1]), "{firsts:?}");
    let lasts: Vec<_> = list("order=asc")
        .await
        .iter()
        .map(|f| instant(&f["last_seen"]))
        .collect();
    assert!(lasts.windows(2).all(|w| w[0] <= w[1]), "{lasts:?}");
}

#[tokio::test]
async fn finding_detail_has_its_evidence_events() {
    let s = loaded().await;
    let all = s.findings("").await;
    for f in &all {
        let r = s.get(&format!("/api/v1/findings/{}", f["id"])).await;
        let d = r.expect_status(200);
        let ev_ids: Vec<&Value> = d["evidence_events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["id"])
            .collect();
        let evidence: Vec<&Value> = d["evidence"].as_array().unwrap().iter().collect();
        assert_eq!(ev_ids, evidence, "{}", f["rule_id"]);
        assert_eq!(d["rule_id"], f["rule_id"]);
        assert_eq!(d["evidence"], f["evidence"]);
    }
    let spike = only(&all, "anomaly.log_error_spike");
    let d = s.get(&format!("/api/v1/findings/{}", spike["id"])).await;
    let evs = d.body["evidence_events"].as_array().unwrap();
    assert_eq!(evs.len(), 20);
    let mut msgs: Vec<String> = evs
        .iter()
        .map(|e| {
            assert_eq!(e["service"], "checkout");
            assert_eq!(e["payload"]["level"], "ERROR");
            e["payload"]["message"].as_str().unwrap().to_string()
        })
        .collect();
    msgs.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("boom {i}")).collect();
    want.sort();
    assert_eq!(msgs, want);

    let login = only(&all, "identity.login_after_failures");
    let d = s.get(&format!("/api/v1/findings/{}", login["id"])).await;
    let types: Vec<&str> = d.body["evidence_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec![
            "login_failed",
            "login_failed",
            "login_failed",
            "login_success"
        ]
    );

    s.get("/api/v1/findings/999999")
        .await
        .expect_error(404, "not_found");
    s.get("/api/v1/findings/abc")
        .await
        .expect_error(404, "not_found");
    s.get("/api/v1/findings/-1")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn patch_sets_status_and_note() {
    let s = loaded().await;
    let all = s.findings("").await;
    let f = only(&all, "identity.failed_logins_medium");
    let path = format!("/api/v1/findings/{}", f["id"]);

    let r = s
        .patch_json(&path, &json!({"status": "acknowledged", "note": "on it"}))
        .await;
    let got = r.expect_status(200).clone();
    assert_eq!(got["status"], "acknowledged");
    assert_eq!(got["note"], "on it");
    assert_eq!(got["id"], f["id"]);
    assert_eq!(got["event_count"], f["event_count"]);
    assert!(instant(&got["updated_at"]) >= instant(&f["updated_at"]));
    let d = s.get(&path).await;
    assert_eq!(d.body["status"], "acknowledged");
    assert_eq!(d.body["note"], "on it");

    // Status alone keeps the note; note alone keeps the status.
    let r = s.patch_json(&path, &json!({"status": "resolved"})).await;
    assert_eq!(
        (&r.body["status"], &r.body["note"]),
        (&json!("resolved"), &json!("on it"))
    );
    let r = s
        .patch_json(&path, &json!({"note": "fixed upstream"}))
        .await;
    assert_eq!(
        (&r.body["status"], &r.body["note"]),
        (&json!("resolved"), &json!("fixed upstream"))
    );

    assert_eq!(s.findings("status=resolved").await.len(), 1);
    assert_eq!(s.findings("status=open").await.len(), 6);
    let overview = s
        .get("/api/v1/dashboard/overview?from=2025-06-01T00:00:00Z&to=2025-06-03T00:00:00Z")
        .await;
    assert_eq!(
        overview.body["findings_by_status"],
        json!({"acknowledged": 0, "open": 6, "resolved": 1, "suppressed": 0})
    );

    // Errors.
    for body in [
        json!({"status": "bogus"}),
        json!({}),
        json!({"status": "open", "colour": "red"}),
        json!({"note": 5}),
        json!({"note": "x".repeat(16 * 1024 + 1)}),
    ] {
        let r = s.patch_json(&path, &body).await;
        r.expect_error(400, "invalid_request");
    }
    let r = s
        .send(s.client.patch(s.url(&path)).body("{\"status\":"))
        .await;
    assert_eq!(r.status, 415, "{}", r.text);
    let r = s
        .send(
            s.client
                .patch(s.url(&path))
                .header("content-type", "application/json")
                .body("{\"status\":"),
        )
        .await;
    r.expect_error(400, "malformed_body");
    s.patch_json("/api/v1/findings/999999", &json!({"status": "open"}))
        .await
        .expect_error(404, "not_found");
    s.patch_json("/api/v1/findings/abc", &json!({"status": "open"}))
        .await
        .expect_error(404, "not_found");
    // Nothing above changed the finding.
    let d = s.get(&path).await;
    assert_eq!(
        (&d.body["status"], &d.body["note"]),
        (&json!("resolved"), &json!("fixed upstream"))
    );
}

/// `FindingUpdate.note` is documented as "an empty string clears it": the
/// note should be gone (null, as on a new finding), not an empty string.
#[tokio::test]
async fn an_empty_note_clears_the_note() {
    let s = loaded().await;
    let all = s.findings("").await;
    let path = format!("/api/v1/findings/{}", all[0]["id"]);
    s.patch_json(&path, &json!({"note": "temporary"}))
        .await
        .expect_status(200);
    let r = s.patch_json(&path, &json!({"note": ""})).await;
    assert_eq!(r.expect_status(200)["note"], Value::Null, "{}", r.text);
    assert_eq!(s.get(&path).await.body["note"], Value::Null);
}

fn token(secs: i64, has_expiry: bool) -> Value {
    json!({
        "timestamp": ts(T, secs), "event_type": "api_token_created", "user": "trent",
        "scopes": ["admin:*"], "has_expiry": has_expiry,
    })
}

async fn matches(s: &TestServer, rule: &str) -> u64 {
    let r = s.get("/api/v1/rules").await;
    let items = r.expect_status(200)["items"].as_array().unwrap().clone();
    let rule = items
        .iter()
        .find(|r| r["rule_id"] == rule)
        .unwrap_or_else(|| panic!("{rule} not listed"));
    rule["matches"].as_u64().unwrap()
}

#[tokio::test]
async fn later_matches_update_the_incident_and_keep_the_analyst_status() {
    let s = start().await;
    assert_eq!(matches(&s, "identity.admin_token").await, 0);
    s.ingest(&token(600, true)).await;
    s.wait_for_detection().await;
    let first = s.findings("rule_id=identity.admin_token").await;
    assert_eq!(first.len(), 1);
    assert_eq!(matches(&s, "identity.admin_token").await, 1);
    let id = first[0]["id"].clone();
    let path = format!("/api/v1/findings/{id}");
    s.patch_json(
        &path,
        &json!({"status": "acknowledged", "note": "rotating"}),
    )
    .await
    .expect_status(200);

    // Five minutes later (inside the 10-minute window): same finding.
    s.ingest(&token(900, true)).await;
    s.wait_for_detection().await;
    let now = s.findings("rule_id=identity.admin_token").await;
    assert_eq!(now.len(), 1, "{now:#?}");
    let f = &now[0];
    assert_eq!(f["id"], id);
    assert_eq!(f["event_count"], 2);
    assert_eq!(f["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(instant(&f["first_seen"]), instant(&json!(ts(T, 600))));
    assert_eq!(instant(&f["last_seen"]), instant(&json!(ts(T, 900))));
    assert_eq!(f["status"], "acknowledged", "the analyst's status stays");
    assert_eq!(f["note"], "rotating");
    assert_eq!(matches(&s, "identity.admin_token").await, 2);

    // Eleven minutes after the last match: a second finding, open.
    s.ingest(&token(900 + 660, true)).await;
    s.wait_for_detection().await;
    let now = s.findings("rule_id=identity.admin_token").await;
    assert_eq!(now.len(), 2, "{now:#?}");
    let newer = now.iter().find(|f| f["id"] != id).unwrap();
    assert_eq!(newer["status"], "open");
    assert_eq!(newer["note"], Value::Null);
    assert_eq!(newer["event_count"], 1);
    assert_eq!(instant(&newer["first_seen"]), instant(&json!(ts(T, 1560))));
    let older = now.iter().find(|f| f["id"] == id).unwrap();
    assert_eq!(older["event_count"], 2);
    assert_eq!(older["status"], "acknowledged");
    assert_eq!(matches(&s, "identity.admin_token").await, 3);
    // No expiry was ever false: nothing else fired.
    assert_eq!(s.finding_total().await, 2);
}

#[tokio::test]
async fn the_same_incident_replayed_after_the_window_is_a_second_finding() {
    let s = loaded().await;
    // The whole stream again, two hours later (past every window).
    let later: Vec<Value> = stream()
        .into_iter()
        .map(|mut e| {
            let t = instant(&e["timestamp"]) + chrono::Duration::hours(2);
            e["timestamp"] = json!(t.to_rfc3339());
            e
        })
        .collect();
    s.ingest(&Value::Array(later)).await;
    s.wait_for_detection().await;
    let all = s.findings("").await;
    let mut twice: Vec<Want> = Vec::new();
    for (r, g, n, sev, a, b) in expected() {
        twice.push((r, g.clone(), n, sev, a, b));
        twice.push((r, g, n, sev, a + 7200, b + 7200));
    }
    assert_eq!(summarize(&all), want(twice));
}

#[tokio::test]
async fn a_busy_incident_keeps_its_first_hundred_evidence_events() {
    // 150 large transactions of one user, a second apart, in two requests:
    // one incident counting all 150 whose evidence is the first 100.
    let s = start().await;
    let txns: Vec<Value> = (0..150)
        .map(|i| {
            json!({"timestamp": ts(T, i), "kind": "transaction", "transaction_id": format!("t{i}"),
                   "user_id": "whale", "amount": 20_000 + i, "currency": "EUR", "status": "ok"})
        })
        .collect();
    s.ingest(&Value::Array(txns[..70].to_vec())).await;
    s.ingest(&Value::Array(txns[70..].to_vec())).await;
    s.wait_for_detection().await;
    let all = s.findings("rule_id=anomaly.large_amount").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let f = &all[0];
    assert_eq!(f["event_count"], 150);
    let d = s.get(&format!("/api/v1/findings/{}", f["id"])).await;
    let amounts: Vec<i64> = d.expect_status(200)["evidence_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, (20_000..20_100).collect::<Vec<_>>());
}

#[tokio::test]
async fn out_of_order_history_counts_every_match() {
    // t1, t2 a day later, t1, t2: two incidents of two matches each, in
    // separate requests as a replaying client sends them.
    let s = start().await;
    for t in [
        "2025-03-01T10:00:00Z",
        "2025-03-02T10:00:00Z",
        "2025-03-01T10:00:00Z",
        "2025-03-02T10:00:00Z",
    ] {
        s.ingest(&json!([{"timestamp": t, "service": "billing", "level": "ERROR", "message": "charge failed"}]))
            .await;
    }
    s.wait_for_detection().await;
    let fs = s.findings("rule_id=anomaly.log_failed_keyword").await;
    let mut got: Vec<(String, i64)> = fs
        .iter()
        .map(|f| {
            (
                f["first_seen"].as_str().unwrap().to_string(),
                f["event_count"].as_i64().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("2025-03-01T10:00:00Z".to_string(), 2),
            ("2025-03-02T10:00:00Z".to_string(), 2),
        ]
    );
}
