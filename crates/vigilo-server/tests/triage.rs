//! Findings triage through a real server (and in process): assignees,
//! workflow tags, close reasons, history with its actor, notes, bulk
//! updates, groups, the triage filters, exports, and re-fired incidents
//! that keep what analysts set.
mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigilo_server::pipeline::LiveUpdate;
use vigilo_server::server::router;

const T: &str = "2025-06-02T10:00:00Z";

/// Seven findings: an ERROR spike, a slow hot metric (two rules), failed
/// logins then a success (two rules), an admin token without expiry (two
/// rules).
fn stream() -> Vec<Value> {
    let mut v = Vec::new();
    for i in 0..20 {
        v.push(json!({
            "timestamp": ts(T, i * 5), "service": "checkout", "level": "ERROR",
            "message": format!("boom {i}"),
        }));
    }
    v.push(json!({"timestamp": ts(T, 200), "service": "payments", "cpu": 95, "latency_ms": 1500}));
    for i in 0..3 {
        v.push(json!({"timestamp": ts(T, 300 + i * 60), "event_type": "login_failed", "user": "mallory", "ip": "10.0.0.9"}));
    }
    v.push(json!({"timestamp": ts(T, 480), "event_type": "login_success", "user": "mallory", "ip": "10.0.0.9"}));
    v.push(token(600));
    v
}

fn token(secs: i64) -> Value {
    json!({
        "timestamp": ts(T, secs), "event_type": "api_token_created", "user": "trent",
        "scopes": ["admin:*"], "has_expiry": false,
    })
}

async fn loaded() -> TestServer {
    let s = start().await;
    s.ingest(&Value::Array(stream())).await;
    s.wait_for_detection().await;
    assert_eq!(s.finding_total().await, 7);
    s
}

/// The id of the one finding of `rule_id`.
async fn id_of(s: &TestServer, rule_id: &str) -> i64 {
    let all = s.findings(&format!("rule_id={rule_id}")).await;
    assert_eq!(all.len(), 1, "{all:#?}");
    all[0]["id"].as_i64().expect("id")
}

/// The client of analyst `actor` (signed in), or the admin key's.
async fn client_of(s: &TestServer, actor: Option<&str>) -> reqwest::Client {
    match actor {
        Some(a) => s.user_client(a, vigilo_auth::Role::Analyst).await,
        None => s.client.clone(),
    }
}

async fn patch_as(s: &TestServer, actor: Option<&str>, id: i64, body: Value) -> Resp {
    let c = client_of(s, actor).await;
    s.send(
        c.patch(s.url(&format!("/api/v1/findings/{id}")))
            .json(&body),
    )
    .await
}

async fn post_as(s: &TestServer, actor: &str, path: &str, body: Value) -> Resp {
    let c = client_of(s, Some(actor)).await;
    s.send(c.post(s.url(path)).json(&body)).await
}

async fn history(s: &TestServer, id: i64) -> Vec<Value> {
    let r = s.get(&format!("/api/v1/findings/{id}/history")).await;
    let body = r.expect_status(200);
    let items = body["items"].as_array().expect("items").clone();
    assert_eq!(body["total"], items.len() as u64);
    items
}

/// (action, actor, from, to) of each history entry.
fn entries(h: &[Value]) -> Vec<(String, String, Value, Value)> {
    h.iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["actor"].as_str().unwrap_or_default().to_string(),
                e["from"].clone(),
                e["to"].clone(),
            )
        })
        .collect()
}

fn entry(action: &str, actor: &str, from: Value, to: Value) -> (String, String, Value, Value) {
    (action.to_string(), actor.to_string(), from, to)
}

#[tokio::test]
async fn patch_writes_history_with_the_actor() {
    let s = loaded().await;
    let id = id_of(&s, "identity.admin_token").await;
    let created = s.get(&format!("/api/v1/findings/{id}")).await;
    let created = created.expect_status(200);
    assert_eq!(created["assignee"], Value::Null);
    assert_eq!(created["workflow_tags"], json!([]));
    assert_eq!(created["close_reason"], Value::Null);

    let r = patch_as(
        &s,
        Some("dana"),
        id,
        json!({"status": "acknowledged", "assignee": "dana", "workflow_tags": ["wip", "customer"]}),
    )
    .await;
    let f = r.expect_status(200);
    assert_eq!(f["assignee"], "dana");
    assert_eq!(f["workflow_tags"], json!(["customer", "wip"]));
    let r = patch_as(
        &s,
        None,
        id,
        json!({"status": "resolved", "close_reason": "false_positive", "add_tags": ["fp"], "remove_tags": ["wip"], "note": "test key"}),
    )
    .await;
    let f = r.expect_status(200);
    assert_eq!(f["close_reason"], "false_positive");
    assert_eq!(f["workflow_tags"], json!(["customer", "fp"]));
    // The actor comes from the credentials, never from a header.
    let spoofed = s
        .client
        .patch(s.url(&format!("/api/v1/findings/{id}")))
        .header("x-vigilo-actor", "mallory")
        .json(&json!({"assignee": ""}));
    s.send(spoofed).await.expect_status(200);

    let h = history(&s, id).await;
    assert_eq!(
        entries(&h),
        vec![
            entry("created", "vigilo", Value::Null, Value::Null),
            entry("status", "dana", json!("open"), json!("acknowledged")),
            entry("assignee", "dana", Value::Null, json!("dana")),
            entry("tags", "dana", Value::Null, json!("customer,wip")),
            entry(
                "status",
                "key:tests",
                json!("acknowledged"),
                json!("resolved")
            ),
            entry(
                "tags",
                "key:tests",
                json!("customer,wip"),
                json!("customer,fp")
            ),
            entry(
                "close_reason",
                "key:tests",
                Value::Null,
                json!("false_positive")
            ),
            entry("note", "key:tests", Value::Null, json!("test key")),
            entry("assignee", "key:tests", json!("dana"), Value::Null),
        ]
    );
    assert_eq!(h[0]["at"], created["created_at"]);
    assert!(h.iter().all(|e| e["finding_id"] == id));
    let times: Vec<_> = h.iter().map(|e| instant(&e["at"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");

    // Reopening clears the close reason, in the history too.
    let f = patch_as(&s, Some("erin"), id, json!({"status": "open"})).await;
    assert_eq!(f.expect_status(200)["close_reason"], Value::Null);
    let h = history(&s, id).await;
    assert_eq!(
        entries(&h[h.len() - 2..]),
        vec![
            entry("status", "erin", json!("resolved"), json!("open")),
            entry("close_reason", "erin", json!("false_positive"), Value::Null),
        ]
    );
    s.get("/api/v1/findings/98765/history")
        .await
        .expect_error(404, "not_found");
    s.get("/api/v1/findings/abc/history")
        .await
        .expect_error(404, "not_found");
}

#[tokio::test]
async fn bad_patches_are_refused_naming_the_field() {
    let s = loaded().await;
    let id = id_of(&s, "identity.admin_token").await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"close_reason": "benign"}), "close_reason"),
        (
            json!({"status": "open", "close_reason": "benign"}),
            "close_reason",
        ),
        (
            json!({"status": "acknowledged", "close_reason": "fixed"}),
            "close_reason",
        ),
        (
            json!({"status": "resolved", "close_reason": "wontfix"}),
            "close_reason",
        ),
        (json!({"assignee": "a".repeat(129)}), "assignee"),
        (json!({"add_tags": ["a,b"]}), "add_tags[0]"),
        (json!({"workflow_tags": ["ok", ""]}), "workflow_tags[1]"),
        (json!({"remove_tags": ["t".repeat(65)]}), "remove_tags[0]"),
        (json!({"assignee": null}), "assignee"),
        (json!({"owner": "x"}), "owner"),
        (json!({}), "status"),
    ];
    for (body, field) in cases {
        let r = patch_as(&s, Some("x"), id, body.clone()).await;
        r.expect_error(400, "invalid_request");
        assert!(
            r.message().contains(field),
            "{body}: the message names `{field}`: {}",
            r.message()
        );
    }
    // Nothing of them was written.
    assert_eq!(history(&s, id).await.len(), 1);
    let f = s.get(&format!("/api/v1/findings/{id}")).await;
    assert_eq!(f.expect_status(200)["status"], "open");
}

#[tokio::test]
async fn notes_append_to_the_history() {
    let s = loaded().await;
    let id = id_of(&s, "anomaly.log_error_spike").await;
    let path = format!("/api/v1/findings/{id}/notes");
    let r = post_as(&s, "gil", &path, json!({"text": "paged the on-call"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["action"], "note");
    assert_eq!(r.body["actor"], "gil");
    assert_eq!(r.body["to"], "paged the on-call");
    assert_eq!(r.body["from"], Value::Null);
    assert_eq!(r.body["finding_id"], id);
    let first = r.body.clone();
    let r = post_as(&s, "hal", &path, json!({"text": "rolled back"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["from"], "paged the on-call");
    let f = s.get(&format!("/api/v1/findings/{id}")).await;
    assert_eq!(f.expect_status(200)["note"], "rolled back");
    let h = history(&s, id).await;
    assert_eq!(h.len(), 3);
    assert_eq!(h[1], first);
    assert_eq!(h[2], r.body);

    post_as(&s, "x", &path, json!({"text": ""}))
        .await
        .expect_error(400, "invalid_request");
    post_as(&s, "x", &path, json!({}))
        .await
        .expect_error(400, "invalid_request");
    let long = "n".repeat(16 * 1024 + 1);
    let r = post_as(&s, "x", &path, json!({ "text": long })).await;
    r.expect_error(400, "invalid_request");
    assert!(r.message().contains("`text`"), "{}", r.message());
    post_as(
        &s,
        "x",
        "/api/v1/findings/98765/notes",
        json!({"text": "t"}),
    )
    .await
    .expect_error(404, "not_found");
    s.post_raw(&path, "text", Some("text/plain"), None)
        .await
        .expect_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn bulk_updates_by_ids_and_by_the_list_filters() {
    let s = loaded().await;
    let mallory = s.findings("user=mallory").await;
    assert_eq!(mallory.len(), 2);
    let ids: Vec<i64> = mallory.iter().map(|f| f["id"].as_i64().unwrap()).collect();

    let r = post_as(
        &s,
        "ivy",
        "/api/v1/findings/bulk",
        json!({"ids": [ids[0], ids[1], 98765], "set": {"assignee": "ivy", "add_tags": ["phish"]}}),
    )
    .await;
    assert_eq!(r.expect_status(200), &json!({"matched": 2, "updated": 2}));
    let assigned = s.findings("assignee=ivy").await;
    assert_eq!(assigned.len(), 2);
    for f in &assigned {
        assert_eq!(f["workflow_tags"], json!(["phish"]));
        let h = history(&s, f["id"].as_i64().unwrap()).await;
        assert_eq!(
            entries(&h[1..]),
            vec![
                entry("assignee", "ivy", Value::Null, json!("ivy")),
                entry("tags", "ivy", Value::Null, json!("phish")),
            ]
        );
    }

    // By filter: the same parameters as the list, as JSON.
    let r = post_as(
        &s,
        "jo",
        "/api/v1/findings/bulk",
        json!({
            "filter": {"severity": ["critical"], "tag": "phish", "from": ts(T, 0), "to": 1_900_000_000},
            "set": {"status": "resolved", "close_reason": "benign", "note": "drill"},
        }),
    )
    .await;
    assert_eq!(r.expect_status(200), &json!({"matched": 1, "updated": 1}));
    let closed = s.findings("status=resolved").await;
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0]["rule_id"], "identity.login_after_failures");
    assert_eq!(closed[0]["close_reason"], "benign");
    assert_eq!(closed[0]["note"], "drill");
    // Every finding without an assignee.
    let r = post_as(
        &s,
        "kim",
        "/api/v1/findings/bulk",
        json!({"filter": {"assignee": "none"}, "set": {"status": "acknowledged"}}),
    )
    .await;
    assert_eq!(r.expect_status(200), &json!({"matched": 5, "updated": 5}));
    assert_eq!(s.findings("status=acknowledged").await.len(), 5);

    let bad: Vec<(Value, &str)> = vec![
        (json!({"set": {"status": "open"}}), "ids"),
        (
            json!({"ids": [1], "filter": {}, "set": {"status": "open"}}),
            "filter",
        ),
        (json!({"ids": [], "set": {"status": "open"}}), "ids"),
        (
            json!({"ids": (0..10_001).collect::<Vec<i64>>(), "set": {"status": "open"}}),
            "ids",
        ),
        (json!({"ids": [1], "set": {}}), "set"),
        (
            json!({"ids": [1], "set": {"close_reason": "fixed"}}),
            "set.close_reason",
        ),
        (
            json!({"filter": {"severity": ["urgent"]}, "set": {"status": "open"}}),
            "severity",
        ),
        (
            json!({"filter": {"from": "yesterday"}, "set": {"status": "open"}}),
            "filter.from",
        ),
        (
            json!({"filter": {"from": ts(T, 60), "to": ts(T, 0)}, "set": {"status": "open"}}),
            "filter.from",
        ),
        (
            json!({"filter": {"q": ""}, "set": {"status": "open"}}),
            "filter.q",
        ),
        (
            json!({"filter": {"status": []}, "set": {"status": "open"}}),
            "filter.status",
        ),
        (
            json!({"filter": {"page": 1}, "set": {"status": "open"}}),
            "page",
        ),
    ];
    for (body, field) in bad {
        let r = post_as(&s, "x", "/api/v1/findings/bulk", body.clone()).await;
        r.expect_error(400, "invalid_request");
        assert!(
            r.message().contains(field),
            "{body}: the message names `{field}`: {}",
            r.message()
        );
    }
}

#[tokio::test]
async fn bulk_over_ten_thousand_findings_by_filter_is_refused() {
    let s = start().await;
    // 10,001 incidents: one admin token per user.
    let events: Vec<Value> = (0..10_001)
        .map(|i| {
            json!({
                "timestamp": ts(T, 600), "event_type": "api_token_created",
                "user": format!("u{i}"), "scopes": ["read"], "has_expiry": false,
            })
        })
        .collect();
    for chunk in events.chunks(5_000) {
        s.ingest(&Value::Array(chunk.to_vec())).await;
    }
    s.wait_for_detection().await;
    assert_eq!(s.finding_total().await, 10_001);
    let r = post_as(
        &s,
        "x",
        "/api/v1/findings/bulk",
        json!({"filter": {}, "set": {"assignee": "nobody"}}),
    )
    .await;
    r.expect_error(400, "invalid_request");
    assert!(
        r.message().contains("`filter`") && r.message().contains("10001"),
        "{}",
        r.message()
    );
    assert_eq!(s.findings("assignee=nobody").await.len(), 0, "none changed");
    let r = post_as(
        &s,
        "x",
        "/api/v1/findings/bulk",
        json!({"filter": {"q": "u1"}, "set": {"assignee": "some"}}),
    )
    .await;
    assert_eq!(r.expect_status(200)["matched"], 1_112, "u1, u10-u19, ...");
}

#[tokio::test]
async fn groups_count_findings_with_the_list_filters() {
    let s = loaded().await;
    let id = id_of(&s, "identity.admin_token").await;
    patch_as(
        &s,
        Some("x"),
        id,
        json!({"assignee": "lee", "status": "acknowledged"}),
    )
    .await
    .expect_status(200);

    let r = s.get("/api/v1/findings/groups?by=user").await;
    let body = r.expect_status(200);
    assert_eq!(body["by"], "user");
    assert_eq!(body["total"], 3);
    let items = body["items"].as_array().unwrap();
    let shape: Vec<(Value, u64, u64, Value)> = items
        .iter()
        .map(|g| {
            (
                g["key"].clone(),
                g["count"].as_u64().unwrap(),
                g["open"].as_u64().unwrap(),
                g["max_severity"].clone(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (Value::Null, 3, 3, json!("critical")),
            (json!("mallory"), 2, 2, json!("critical")),
            (json!("trent"), 2, 1, json!("critical")),
        ]
    );
    let r = s.get("/api/v1/findings/groups").await;
    let body = r.expect_status(200);
    assert_eq!(body["by"], "rule", "by rule unless asked");
    assert_eq!(body["total"], 7);
    let spike = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "anomaly.log_error_spike")
        .expect("spike group")
        .clone();
    assert_eq!(spike["count"], 1);
    assert!(spike["title"].is_string(), "{spike}");
    let lasts = s.findings("rule_id=anomaly.log_error_spike").await;
    assert_eq!(spike["last_seen"], lasts[0]["last_seen"]);

    let r = s
        .get("/api/v1/findings/groups?by=assignee&severity=critical,high")
        .await;
    let body = r.expect_status(200);
    let keys: Vec<(Value, u64)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), g["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(keys, vec![(Value::Null, 5), (json!("lee"), 1)]);
    let r = s
        .get("/api/v1/findings/groups?by=service&page_size=1&page=2")
        .await;
    let body = r.expect_status(200);
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["total"], 3);

    s.get("/api/v1/findings/groups?by=colour")
        .await
        .expect_error(400, "invalid_query");
    s.get("/api/v1/findings/groups?sort=risk_score")
        .await
        .expect_error(400, "invalid_query");
}

#[tokio::test]
async fn the_list_filters_by_assignee_tag_and_text() {
    let s = loaded().await;
    let token = id_of(&s, "identity.admin_token").await;
    let spike = id_of(&s, "anomaly.log_error_spike").await;
    patch_as(
        &s,
        Some("x"),
        token,
        json!({"assignee": "max", "add_tags": ["rotate"]}),
    )
    .await
    .expect_status(200);
    patch_as(
        &s,
        Some("x"),
        spike,
        json!({"note": "Deploy 4711 rolled back"}),
    )
    .await
    .expect_status(200);
    let rules = |fs: Vec<Value>| -> Vec<String> {
        let mut v: Vec<String> = fs
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("assignee=max", vec!["identity.admin_token"]),
        ("assignee=nobody", vec![]),
        ("tag=rotate", vec!["identity.admin_token"]),
        ("q=DEPLOY%204711", vec!["anomaly.log_error_spike"]),
        (
            "q=mallory",
            vec![
                "identity.failed_logins_medium",
                "identity.login_after_failures",
            ],
        ),
        ("q=checkout&assignee=none", vec!["anomaly.log_error_spike"]),
        ("q=checkout&assignee=max", vec![]),
    ];
    for (query, want) in cases {
        assert_eq!(rules(s.findings(query).await), want, "{query}");
    }
    let unassigned = s.findings("assignee=none").await;
    assert_eq!(unassigned.len(), 6);
    // A rule tag of the bundled packs matches too.
    let tagged = s.findings("tag=attack.credential-access").await;
    assert!(!tagged.is_empty());
    assert!(
        tagged.iter().all(|f| f["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("attack.credential-access"))),
        "{tagged:#?}"
    );
    for bad in ["assignee=", "tag=", "q=", &format!("q={}", "x".repeat(257))] {
        let r = s.get(&format!("/api/v1/findings?{bad}")).await;
        r.expect_error(400, "invalid_query");
        let name = bad.split('=').next().unwrap();
        assert!(
            r.message().contains(&format!("`{name}`")),
            "{}",
            r.message()
        );
    }
}

#[tokio::test]
async fn exports_stream_every_selected_finding() {
    let s = loaded().await;
    let token = id_of(&s, "identity.admin_token").await;
    patch_as(
        &s,
        Some("x"),
        token,
        json!({"assignee": "nia", "workflow_tags": ["b", "a"], "note": "=cmd|' /C calc'!A0"}),
    )
    .await
    .expect_status(200);

    let r = s
        .get("/api/v1/findings?format=csv&page_size=1&page=3")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        r.headers
    );
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"findings-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let lines: Vec<&str> = r.text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines[0],
        "id,rule_id,rule_title,severity,status,risk_score,service,user,group,first_seen,\
         last_seen,event_count,assignee,workflow_tags,close_reason,note,tags,description,\
         explanation,created_at,updated_at"
    );
    assert_eq!(lines.len(), 1 + 7, "every finding, paging ignored");
    let row = lines
        .iter()
        .find(|l| l.starts_with(&format!("{token},")))
        .expect("the token's row");
    assert!(row.contains(",nia,\"a,b\",,"), "{row}");
    assert!(row.contains("'=cmd"), "a formula is defused: {row}");

    // Filters apply; Accept chooses NDJSON.
    let r = s
        .send(
            s.client
                .get(s.url("/api/v1/findings?severity=critical"))
                .header("accept", "application/x-ndjson"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".ndjson\"")
    );
    let rows: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|f| f["severity"] == "critical"));
    let ids: Vec<i64> = rows.iter().map(|f| f["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "id order: {ids:?}");
    let listed = s.findings("severity=critical").await;
    let by_id = |id: i64| listed.iter().find(|f| f["id"] == id).unwrap().clone();
    for row in &rows {
        assert_eq!(row, &by_id(row["id"].as_i64().unwrap()), "the list's JSON");
    }
    // An export of nothing is a header alone.
    let r = s.get("/api/v1/findings?format=csv&assignee=nobody").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text.matches("\r\n").count(), 1, "{}", r.text);
    s.get("/api/v1/findings?format=xml")
        .await
        .expect_error(400, "invalid_query");
}

#[tokio::test]
async fn a_refired_incident_keeps_its_triage() {
    let s = start().await;
    s.ingest(&token(600)).await;
    s.wait_for_detection().await;
    let id = id_of(&s, "identity.admin_token").await;
    patch_as(
        &s,
        Some("oli"),
        id,
        json!({
            "status": "suppressed", "close_reason": "duplicate", "assignee": "oli",
            "workflow_tags": ["known"], "note": "same as last week",
        }),
    )
    .await
    .expect_status(200);
    let before = history(&s, id).await;

    // Five minutes later, inside the rule's window: the same incident.
    s.ingest(&token(900)).await;
    s.wait_for_detection().await;
    let all = s.findings("rule_id=identity.admin_token").await;
    assert_eq!(all.len(), 1, "{all:#?}");
    let f = &all[0];
    assert_eq!(f["id"], id);
    assert_eq!(f["event_count"], 2, "the incident was updated");
    assert_eq!(f["status"], "suppressed");
    assert_eq!(f["close_reason"], "duplicate");
    assert_eq!(f["assignee"], "oli");
    assert_eq!(f["workflow_tags"], json!(["known"]));
    assert_eq!(f["note"], "same as last week");
    assert_eq!(history(&s, id).await, before, "detection writes no history");
}

/// The same routes in process, on a server's state (no socket).
#[tokio::test]
async fn triage_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = bind(dir.path(), test_config(dir.path())).await;
    let state = server.state();
    let app = router(state.clone());
    // Analyst `pat`, signed in: the session token rides on every call.
    let pat = state
        .storage
        .create_user(vigilo_storage::NewUser {
            username: "pat".into(),
            role: "analyst".into(),
            email: None,
            source: "password".into(),
            oidc_subject: None,
            password_hash: None,
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();
    let token = vigilo_server::auth::session::start(&state, &pat, None)
        .await
        .unwrap()
        .1
        .token;
    let writes = vec![vigilo_storage::FindingWrite {
        incident_key: "k".into(),
        finding: vigilo_core::Finding {
            id: 0,
            rule_id: "r".into(),
            rule_title: "R".into(),
            severity: vigilo_core::Severity::High,
            status: vigilo_core::FindingStatus::Open,
            group: Default::default(),
            service: Some("api".into()),
            user: None,
            first_seen: chrono::Utc::now(),
            last_seen: chrono::Utc::now(),
            event_count: 1,
            evidence: Vec::new(),
            description: "d".into(),
            tags: Vec::new(),
            risk_score: 80,
            explanation: "e".into(),
            note: None,
            assignee: None,
            workflow_tags: Vec::new(),
            close_reason: None,
            recommended_actions: Vec::new(),
            enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
            enriched_at: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        },
        new_evidence: Vec::new(),
        matches: 1,
    }];
    let id = state.storage.commit_detection(&writes, 0).await.unwrap()[0].id;

    let call = |method: Method, uri: String, body: Option<Value>| {
        let app = app.clone();
        let token = token.clone();
        async move {
            let mut req = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {token}"));
            let body = match body {
                Some(v) => {
                    req = req.header("content-type", "application/json");
                    Body::from(v.to_string())
                }
                None => Body::empty(),
            };
            let resp = app.oneshot(req.body(body).unwrap()).await.unwrap();
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };
    let mut live = state.pipeline.subscribe();
    let (st, f) = call(
        Method::PATCH,
        format!("/api/v1/findings/{id}"),
        Some(json!({"assignee": "pat"})),
    )
    .await;
    assert_eq!((st, &f["assignee"]), (StatusCode::OK, &json!("pat")));
    // The live feed hears of it, as an updated finding.
    let heard = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(LiveUpdate::Findings(fs)) = live.recv().await {
                return fs;
            }
        }
    })
    .await
    .expect("a live update");
    assert_eq!(heard.len(), 1);
    assert_eq!(heard[0].id, id);
    assert_eq!(heard[0].assignee.as_deref(), Some("pat"));
    assert!(heard[0].updated_at > heard[0].created_at, "an update");
    let (st, n) = call(
        Method::POST,
        format!("/api/v1/findings/{id}/notes"),
        Some(json!({"text": "in process"})),
    )
    .await;
    assert_eq!((st, &n["actor"]), (StatusCode::CREATED, &json!("pat")));
    let (st, h) = call(Method::GET, format!("/api/v1/findings/{id}/history"), None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h["total"], 3);
    let (st, b) = call(
        Method::POST,
        "/api/v1/findings/bulk".into(),
        Some(json!({"filter": {"service": "api"}, "set": {"add_tags": ["x"]}})),
    )
    .await;
    assert_eq!(
        (st, b),
        (StatusCode::OK, json!({"matched": 1, "updated": 1}))
    );
    let (st, g) = call(
        Method::GET,
        "/api/v1/findings/groups?by=assignee".into(),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(g["items"][0]["key"], "pat");
}
