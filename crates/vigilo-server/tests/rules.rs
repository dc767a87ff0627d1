//! Rules API: the bundled list, testing a rule, reloading from disk.
mod common;

use common::*;
use serde_json::{Value, json};

const BUNDLED: [(&str, &str, &str); 23] = [
    ("anomaly.cpu_and_latency", "critical", "detection"),
    ("anomaly.cpu_sustained", "high", "correlation"),
    ("anomaly.high_latency", "high", "detection"),
    ("anomaly.large_amount", "high", "detection"),
    ("anomaly.log_error_spike", "critical", "correlation"),
    ("anomaly.log_failed_keyword", "medium", "detection"),
    ("anomaly.log_user_burst", "medium", "correlation"),
    ("anomaly.txn_burst", "medium", "correlation"),
    ("identity.activity_burst", "high", "correlation"),
    ("identity.admin_token", "critical", "detection"),
    ("identity.failed_logins_critical", "critical", "correlation"),
    ("identity.failed_logins_high", "high", "correlation"),
    ("identity.failed_logins_medium", "medium", "correlation"),
    ("identity.large_pr", "high", "detection"),
    ("identity.login_after_failures", "critical", "correlation"),
    ("identity.mfa_failures_high", "high", "correlation"),
    ("identity.mfa_failures_medium", "medium", "correlation"),
    (
        "identity.privilege_escalation_approved",
        "high",
        "detection",
    ),
    (
        "identity.privilege_escalation_unapproved",
        "critical",
        "detection",
    ),
    ("identity.prod_deploy_failed", "high", "detection"),
    ("identity.public_bucket", "critical", "detection"),
    ("identity.token_without_expiry", "high", "detection"),
    ("identity.vigilo_failed_sign_ins", "high", "correlation"),
];

/// The rules that produce findings, by rule id.
async fn rule_list(s: &TestServer) -> Vec<Value> {
    let r = s.get("/api/v1/rules").await;
    let mut items: Vec<Value> = r.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["emits_findings"] == true)
        .cloned()
        .collect();
    items.sort_by(|a, b| a["rule_id"].as_str().cmp(&b["rule_id"].as_str()));
    items
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|r| r["rule_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn bundled_rules_are_listed_with_match_counts() {
    let s = start().await;
    let items = rule_list(&s).await;
    let got: Vec<(&str, &str, &str)> = items
        .iter()
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap(),
                r["severity"].as_str().unwrap(),
                r["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, BUNDLED.to_vec());
    for r in &items {
        assert_eq!(r["matches"], 0, "{r}");
        assert_eq!(r["suppression_seconds"], 600, "{r}");
        assert!(!r["title"].as_str().unwrap().is_empty(), "{r}");
        assert!(r["origin"].as_str().unwrap().contains(".yml"), "{r}");
    }
    let spike = items
        .iter()
        .find(|r| r["rule_id"] == "anomaly.log_error_spike")
        .unwrap();
    assert_eq!(spike["group_by"], json!(["service"]));
    let token = items
        .iter()
        .find(|r| r["rule_id"] == "identity.admin_token")
        .unwrap();
    assert_eq!(token["group_by"], json!(["user"]));
    assert!(
        token["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("vigilo.sensitive.admin_token"))
    );

    // Detection rules say their logsource and pack; every rule, helpers
    // included, is listed, as many as /readyz counts.
    let latency = items
        .iter()
        .find(|r| r["rule_id"] == "anomaly.high_latency")
        .unwrap();
    assert_eq!(latency["logsource"]["product"], "vigilo");
    assert_eq!(latency["pack"], "anomaly");
    assert_eq!(
        (&latency["findings"], &latency["last_match"]),
        (&json!(0), &Value::Null)
    );
    assert_eq!(
        spike["logsource"],
        json!({"product": null, "category": null, "service": null})
    );
    assert!(!spike["references"].as_array().unwrap().is_empty());
    let all = s.get("/api/v1/rules").await;
    let ready = s.get("/readyz").await;
    assert_eq!(all.body["total"], ready.body["rules"]);
    assert!(
        all.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["emits_findings"] == false && r["kind"] == "detection"),
        "helper rules are listed"
    );

    // Two slow samples in two separate incidents, a public bucket once.
    let t = "2025-04-01T08:00:00Z";
    s.ingest(&json!([
        {"timestamp": ts(t, 0), "service": "a", "latency_ms": 1200},
        {"timestamp": ts(t, 1), "service": "b", "latency_ms": 1300},
        {"timestamp": ts(t, 2), "event_type": "storage_bucket_created", "user": "u", "public": true},
    ]))
    .await;
    s.wait_for_detection().await;
    let after = rule_list(&s).await;
    let counts: Vec<(String, u64)> = after
        .iter()
        .filter(|r| r["matches"] != 0)
        .map(|r| {
            (
                r["rule_id"].as_str().unwrap().to_string(),
                r["matches"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("anomaly.high_latency".to_string(), 2),
            ("identity.public_bucket".to_string(), 1),
        ]
    );
    let latency = after
        .iter()
        .find(|r| r["rule_id"] == "anomaly.high_latency")
        .unwrap();
    assert_eq!(latency["findings"], 2, "{latency}");
    assert_eq!(latency["last_match"], ts(t, 1));
}

const BIG_ORDER: &str = "title: Big order
name: test.big_order
logsource: {product: vigilo}
detection:
  selection:
    order_total|gt: 100
  condition: selection
level: high
vigilo.group_by:
  - user
";

#[tokio::test]
async fn rule_test_returns_findings_and_stores_nothing() {
    let s = start().await;
    s.ingest(&json!({"tag": "existing"})).await;
    s.wait_for_detection().await;
    let events_before = s.event_total().await;

    let body = json!({
        "rules": BIG_ORDER,
        "events": [
            {"timestamp": "2025-05-01T10:00:00Z", "user": "ann", "order_total": 500},
            {"timestamp": "2025-05-01T10:01:00Z", "user": "bob", "order_total": 5},
            {"timestamp": "2025-05-01T10:02:00Z", "user": "ann", "order_total": 700},
            {"timestamp": "2025-05-01T10:03:00Z", "user": "cat", "order_total": 101},
        ],
    });
    let r = s.post_json("/api/v1/rules/test", &body).await;
    let b = r.expect_status(200);
    assert_eq!(b["events_evaluated"], 4);
    let mut got: Vec<(Value, Value, Value, Value, Value, Value, Value)> = b["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["id"].clone(),
                f["rule_id"].clone(),
                f["group"].clone(),
                f["event_count"].clone(),
                f["severity"].clone(),
                f["evidence"].clone(),
                f["last_seen"].clone(),
            )
        })
        .collect();
    got.sort_by_key(|g| g.2.to_string());
    assert_eq!(
        got,
        vec![
            (
                json!(0),
                json!("test.big_order"),
                json!({"user": "ann"}),
                json!(2),
                json!("high"),
                json!([1, 3]),
                json!("2025-05-01T10:02:00Z")
            ),
            (
                json!(0),
                json!("test.big_order"),
                json!({"user": "cat"}),
                json!(1),
                json!("high"),
                json!([4]),
                json!("2025-05-01T10:03:00Z")
            ),
        ]
    );

    // Bundled rules in the test request work too, and nothing is stored.
    let r = s
        .post_json(
            "/api/v1/rules/test",
            &json!({
                "rules": std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/identity/tokens.yml")).unwrap(),
                "events": [{"event_type": "api_token_created", "user": "x", "scopes": ["admin:*"], "has_expiry": false}],
            }),
        )
        .await;
    let mut fired: Vec<&str> = r.expect_status(200)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule_id"].as_str().unwrap())
        .collect();
    fired.sort();
    assert_eq!(
        fired,
        vec!["identity.admin_token", "identity.token_without_expiry"]
    );

    s.wait_for_detection().await;
    assert_eq!(s.event_total().await, events_before);
    assert_eq!(s.finding_total().await, 0);
    assert!(rule_list(&s).await.iter().all(|r| r["matches"] == 0));
    assert!(!ids(&rule_list(&s).await).contains(&"test.big_order".to_string()));
}

#[tokio::test]
async fn rule_test_errors() {
    let s = start().await;
    // Unknown condition identifier on line 6.
    let bad = "title: Bad cond
name: t.badcond
logsource: {product: vigilo}
detection:
  sel: {kind: log}
  condition: sel and missing_one
level: low
";
    let r = s
        .post_json("/api/v1/rules/test", &json!({"rules": bad, "events": []}))
        .await;
    r.expect_error(400, "invalid_rule");
    let d = &r.body["error"]["details"][0];
    assert_eq!(d["code"], "invalid_rule");
    assert_eq!(d["index"], 0);
    let msg = d["message"].as_str().unwrap();
    assert!(msg.starts_with("request:6: rule `t.badcond`: "), "{msg}");
    assert!(msg.contains("missing_one"), "{msg}");

    // YAML syntax error: a line is named.
    let broken = "title: Broken\nname: t.broken\ndetection:\n  sel: {kind: log\n  condition: sel\n";
    let r = s
        .post_json(
            "/api/v1/rules/test",
            &json!({"rules": broken, "events": [{"a": 1}]}),
        )
        .await;
    r.expect_error(400, "invalid_rule");
    let msg = r.body["error"]["details"][0]["message"].as_str().unwrap();
    let line: String = msg
        .strip_prefix("request:")
        .unwrap_or_else(|| panic!("no origin: {msg}"))
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let line: usize = line.parse().unwrap_or_else(|_| panic!("no line: {msg}"));
    assert!((4..=6).contains(&line), "{msg}");

    // Bad sample events, bad bodies.
    let r = s
        .post_json(
            "/api/v1/rules/test",
            &json!({"rules": BIG_ORDER, "events": [{"a": 1}, 7, {"ts": "nope"}]}),
        )
        .await;
    r.expect_error(400, "invalid_events");
    let got: Vec<(Value, Value)> = r.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["index"].clone(), d["code"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(1), json!("event_not_object")),
            (json!(2), json!("invalid_timestamp"))
        ]
    );
    s.post_json("/api/v1/rules/test", &json!({"rules": BIG_ORDER}))
        .await
        .expect_error(400, "invalid_request");
    s.post_json(
        "/api/v1/rules/test",
        &json!({"rules": BIG_ORDER, "events": [], "x": 1}),
    )
    .await
    .expect_error(400, "invalid_request");
    s.post_raw("/api/v1/rules/test", "{", Some("application/json"), None)
        .await
        .expect_error(400, "malformed_body");
    s.post_raw("/api/v1/rules/test", "{}", Some("text/plain"), None)
        .await
        .expect_error(415, "unsupported_media_type");
}

const ALPHA: &str = "title: Alpha
name: t.alpha
logsource: {product: vigilo}
detection:
  sel: {marker: alpha}
  condition: sel
level: low
";

const BETA: &str = "title: Beta
name: t.beta
logsource: {product: vigilo}
detection:
  sel: {marker: beta}
  condition: sel
level: high
vigilo.suppress: 30s
";

#[tokio::test]
async fn reload_swaps_rules_and_keeps_the_old_ones_on_error() {
    let rules_dir = tempfile::tempdir().unwrap();
    std::fs::write(rules_dir.path().join("a.yml"), ALPHA).unwrap();
    let dir_path = rules_dir.path().to_path_buf();
    let s = start_with(move |c, _| c.rules = vec![dir_path]).await;

    let items = rule_list(&s).await;
    assert_eq!(ids(&items), vec!["t.alpha"]);
    assert!(items[0]["origin"].as_str().unwrap().ends_with("a.yml"));
    assert_eq!(s.get("/readyz").await.body["rules"], 1);

    // Add a file: reload, and the new rule is listed and in force.
    std::fs::write(rules_dir.path().join("b.yml"), BETA).unwrap();
    let r = s.post_json("/api/v1/rules/reload", &json!({})).await;
    assert_eq!(r.expect_status(200), &json!({"rules": 2}));
    let items = rule_list(&s).await;
    assert_eq!(ids(&items), vec!["t.alpha", "t.beta"]);
    assert_eq!(items[1]["suppression_seconds"], 30);
    assert_eq!(items[1]["severity"], "high");
    s.ingest(&json!({"marker": "beta", "timestamp": "2025-02-01T00:00:00Z"}))
        .await;
    s.wait_for_detection().await;
    let fs = s.findings("").await;
    assert_eq!(rule_groups(&fs), vec![("t.beta".to_string(), json!({}))]);

    // Break the file: 400 naming file and line, old rules stay listed and in force.
    std::fs::write(
        rules_dir.path().join("b.yml"),
        BETA.replace("condition: sel", "condition: sel and nothing"),
    )
    .unwrap();
    let r = s.post_json("/api/v1/rules/reload", &json!({})).await;
    r.expect_error(400, "invalid_rule");
    let msg = r.body["error"]["details"][0]["message"].as_str().unwrap();
    assert!(msg.contains("b.yml:6: rule `t.beta`"), "{msg}");
    assert_eq!(ids(&rule_list(&s).await), vec!["t.alpha", "t.beta"]);
    s.ingest(&json!({"marker": "alpha", "timestamp": "2025-02-01T00:01:00Z"}))
        .await;
    s.wait_for_detection().await;
    let fs = s.findings("").await;
    assert_eq!(
        rule_groups(&fs),
        vec![
            ("t.alpha".to_string(), json!({})),
            ("t.beta".to_string(), json!({}))
        ]
    );

    // No rule files at all: also refused.
    std::fs::remove_file(rules_dir.path().join("a.yml")).unwrap();
    std::fs::remove_file(rules_dir.path().join("b.yml")).unwrap();
    let r = s.post_json("/api/v1/rules/reload", &json!({})).await;
    r.expect_error(400, "invalid_rule");
    assert_eq!(ids(&rule_list(&s).await), vec!["t.alpha", "t.beta"]);

    // Fixed again: reload works.
    std::fs::write(rules_dir.path().join("c.yml"), BETA).unwrap();
    let r = s.post_json("/api/v1/rules/reload", &json!({})).await;
    assert_eq!(r.expect_status(200), &json!({"rules": 1}));
    assert_eq!(ids(&rule_list(&s).await), vec!["t.beta"]);
}

#[tokio::test]
async fn rule_test_without_rules_is_an_error() {
    let s = common::start().await;
    let r = s
        .post_json(
            "/api/v1/rules/test",
            &serde_json::json!({"rules": "  ", "events": [{"a": 1}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "invalid_rule");
}

#[tokio::test]
async fn a_rule_switched_off_produces_no_findings_until_switched_on() {
    let mut s = start().await;
    let slow = |secs: i64| json!({"timestamp": ts("2025-04-02T08:00:00Z", secs), "service": "a", "latency_ms": 1500});
    let r = s
        .patch_json(
            "/api/v1/rules/anomaly.high_latency",
            &json!({"enabled": false}),
        )
        .await;
    let view = r.expect_status(200);
    assert_eq!(
        (&view["rule_id"], &view["enabled"]),
        (&json!("anomaly.high_latency"), &json!(false))
    );
    assert!(view["enabled_changed_at"].is_string(), "{view}");
    s.ingest(&slow(0)).await;
    s.wait_for_detection().await;
    assert_eq!(s.findings("rule_id=anomaly.high_latency").await.len(), 0);
    let listed = s.get("/api/v1/rules").await;
    let rule = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule_id"] == "anomaly.high_latency")
        .cloned()
        .unwrap();
    assert_eq!(rule["enabled"], false);

    // Unknown rules and bad bodies.
    s.patch_json("/api/v1/rules/no.such.rule", &json!({"enabled": false}))
        .await
        .expect_error(404, "not_found");
    s.patch_json("/api/v1/rules/anomaly.high_latency", &json!({}))
        .await
        .expect_error(400, "invalid_request");
    s.patch_json(
        "/api/v1/rules/anomaly.high_latency",
        &json!({"enabled": "no"}),
    )
    .await
    .expect_error(400, "invalid_request");

    // Switched back on, the next matches produce findings again.
    let r = s
        .patch_json(
            "/api/v1/rules/anomaly.high_latency",
            &json!({"enabled": true}),
        )
        .await;
    assert_eq!(r.expect_status(200)["enabled"], true);
    s.ingest(&slow(3600)).await;
    s.wait_for_detection().await;
    assert_eq!(s.findings("rule_id=anomaly.high_latency").await.len(), 1);

    // The state is stored: a new server on the same database keeps it.
    s.patch_json(
        "/api/v1/rules/anomaly.high_latency",
        &json!({"enabled": false}),
    )
    .await
    .expect_status(200);
    s.stop().await;
    let dir = s.data_dir();
    let server = bind(&dir, test_config(&dir)).await;
    let state = server.state();
    assert!(state.pipeline.rule_disabled("anomaly.high_latency"));
    assert!(!state.pipeline.rule_disabled("anomaly.cpu_and_latency"));
    state.pipeline.shutdown().await;
}

/// SigmaHQ's `whoami /all` rule, written for Sysmon's process creation.
const WHOAMI_ALL: &str = "../../../shared/corpus/sigmahq/rules/windows/process_creation/proc_creation_win_whoami_all_execution.yml";

#[tokio::test]
async fn configured_pipelines_apply_to_the_servers_rules_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let rule =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(WHOAMI_ALL))
            .expect("SigmaHQ rule (../shared beside the repository)");
    std::fs::write(rules.join("whoami.yml"), &rule).unwrap();
    // A user's own pipeline file beside a shipped one.
    let extra = dir.path().join("extra.yml");
    std::fs::write(
        &extra,
        "name: extra\npriority: 50\ntransformations:\n  - id: rename_unused\n    type: field_name_mapping\n    mapping:\n      UnusedField: Renamed\n",
    )
    .unwrap();
    let (r_dir, e_file) = (rules.clone(), extra.display().to_string());
    let s = start_with(move |c, _| {
        c.rules = vec![r_dir];
        c.detection.pipelines = vec!["windows-security".into(), e_file];
    })
    .await;

    // Security event 4688 (a host without Sysmon), flat fields.
    let audit = |t: &str| {
        json!({
            "timestamp": t, "EventID": 4688, "Channel": "Security",
            "NewProcessName": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami /all",
            "SubjectUserName": "alice",
        })
    };
    // Sysmon's event 1 of the same: through this pipeline it is not one.
    let sysmon = json!({
        "timestamp": "2025-03-01T09:00:01Z", "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami /all",
    });
    let r = s
        .post_json(
            "/api/v1/events?product=windows",
            &json!([audit("2025-03-01T09:00:00Z"), sysmon]),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    s.wait_for_detection().await;
    let fs = s.findings("").await;
    assert_eq!(fs.len(), 1, "{fs:?}");
    assert_eq!(fs[0]["event_count"], 1);
    assert_eq!(
        fs[0]["rule_title"],
        "Enumerate All Information With Whoami.EXE"
    );

    // The pipeline file broken: the reload is refused naming the file and
    // the transformation, and the rules in force stay (with their pipelines).
    std::fs::write(
        &extra,
        "name: extra\ntransformations:\n  - id: x\n    type: no_such_transformation\n",
    )
    .unwrap();
    let r = s.post_json("/api/v1/rules/reload", &json!({})).await;
    r.expect_error(400, "invalid_rule");
    assert!(
        r.text.contains("extra.yml") && r.text.contains("no_such_transformation"),
        "{}",
        r.text
    );
    let r = s
        .post_json(
            "/api/v1/events?product=windows",
            &audit("2025-03-02T09:00:00Z"),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    s.wait_for_detection().await;
    let fs = s.findings("").await;
    assert_eq!(fs.len(), 2, "{fs:?}");
}

#[tokio::test]
async fn a_server_with_an_unknown_pipeline_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.detection.pipelines = vec!["no-such-pipeline".into()];
    let storage = common::open_storage(dir.path()).await;
    let err = vigilo_server::Server::start(config, storage)
        .await
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("pipeline no-such-pipeline is neither a shipped pipeline (windows,"),
        "{msg}"
    );
}

#[tokio::test]
async fn interleaved_out_of_order_matches_all_count_through_the_server() {
    // History arriving out of order, one request per event: t1, t2 a day
    // later, t1 again, t2 again. Two incidents of the same rule and group,
    // each with both of its matches (none overwritten by the other).
    let s = common::start().await;
    for t in [
        "2025-04-01T10:00:00Z",
        "2025-04-02T10:00:00Z",
        "2025-04-01T10:00:00Z",
        "2025-04-02T10:00:00Z",
    ] {
        s.ingest(&json!({
            "timestamp": t, "kind": "log", "service": "billing", "level": "ERROR",
            "message": "payment failed", "user_id": "u1",
        }))
        .await;
        s.wait_for_detection().await;
    }
    let fs = s
        .findings("rule_id=anomaly.log_failed_keyword&sort=first_seen&order=asc")
        .await;
    let counts: Vec<(String, i64)> = fs
        .iter()
        .map(|f| {
            (
                f["first_seen"].as_str().unwrap().to_string(),
                f["event_count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        vec![
            ("2025-04-01T10:00:00Z".to_string(), 2),
            ("2025-04-02T10:00:00Z".to_string(), 2)
        ],
        "{fs:?}"
    );
}
