//! Health, metrics, OpenAPI, docs, routing errors; and handlers in process
//! through `router(state)`.
mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use tower::ServiceExt;
use vigilo_server::auth::Permission;
use vigilo_server::server::router;

#[tokio::test]
async fn healthz_and_readyz() {
    let s = start_with(|c, _| c.ingest.queue_capacity = 1234).await;
    let r = s.get("/healthz").await;
    assert_eq!(r.expect_status(200), &json!({"status": "ok"}));
    // Not ready until detection has looked at what was stored before (on
    // an empty store that takes a moment, not nothing).
    s.wait_for_detection().await;
    let r = s.get("/readyz").await;
    let b = r.expect_status(200);
    assert_eq!(b["status"], "ready");
    assert_eq!(b["storage"], "ok");
    assert_eq!(b["catching_up"], false);
    assert_eq!(b["queue_depth"], 0);
    assert_eq!(b["queue_capacity"], 1234);
    // Every compiled rule, helper rules included, as the rules list says.
    let list = s.get("/api/v1/rules").await;
    let listed = list.body["items"].as_array().unwrap().len();
    assert_eq!(b["rules"], listed as u64, "{b}");
    assert_eq!(list.body["total"], listed as u64);
    let emitting = list.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["emits_findings"] == true)
        .count();
    assert_eq!(emitting, 23);
    assert!(listed > emitting, "helper rules are listed too");
}

#[tokio::test]
async fn metrics_after_traffic() {
    let s = start().await;
    s.ingest(&json!([
        {"timestamp": "2025-01-01T00:00:00Z", "service": "m", "cpu": 99, "latency_ms": 5000},
        {"timestamp": "2025-01-01T00:00:01Z", "service": "m", "cpu": 10},
    ]))
    .await;
    s.wait_for_detection().await;
    assert_eq!(s.finding_total().await, 2);
    let r = s.get("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        r.headers
    );
    for name in [
        "vigilo_events_ingested_total",
        "vigilo_ingest_queue_depth",
        "vigilo_ingest_queue_capacity",
        "vigilo_findings_total",
        "vigilo_detection_seconds",
        "vigilo_commit_seconds",
        "vigilo_http_requests_total",
    ] {
        assert!(r.text.contains(name), "{name} missing:\n{}", r.text);
    }
    // Counters are process-wide (one recorder); at least this test's share.
    let ingested: f64 = r
        .text
        .lines()
        .find(|l| l.starts_with("vigilo_events_ingested_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no ingested sample:\n{}", r.text));
    assert!(ingested >= 2.0, "{ingested}");
    assert!(
        r.text
            .contains("vigilo_findings_total{severity=\"critical\"}"),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("vigilo_findings_total{severity=\"high\"}"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn openapi_documents_every_route() {
    let s = start().await;
    let r = s.get("/api/openapi.json").await;
    let spec = r.expect_status(200);
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    assert_eq!(spec["info"]["title"], "Vigilo");
    let routes = vigilo_server::api::routes();
    let table = routes.table();
    assert!(table.len() >= 24, "{table:?}");
    let mut missing = Vec::new();
    for (method, path, perm) in table {
        let expected = match *path {
            "/metrics" => Some(Permission::Metrics),
            "/api/openapi.json" => Some(Permission::Docs),
            p if p.starts_with("/docs") => Some(Permission::Docs),
            _ => None,
        };
        if let Some(want) = expected {
            assert_eq!(*perm, want, "{method} {path} requires {perm:?}");
        } else {
            assert!(
                !matches!(perm, Permission::Metrics | Permission::Docs),
                "{method} {path} requires {perm:?}"
            );
        }
        if path.starts_with("/docs") || *path == "/api/openapi.json" {
            continue;
        }
        if spec["paths"][path][method.to_ascii_lowercase()].is_null() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    // And the spec documents nothing that is not routed.
    let paths = spec["paths"].as_object().unwrap();
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let m = method.to_ascii_uppercase();
            assert!(
                table.iter().any(|(tm, tp, _)| *tm == m && tp == path),
                "{m} {path} is documented but not routed"
            );
        }
    }
    // The error envelope is a documented schema.
    assert!(spec["components"]["schemas"]["ErrorResponse"].is_object());

    // Every reference resolves (a missing `Bucket` schema once hid the
    // bucket parameter from clients and fuzzers alike).
    let mut refs = Vec::new();
    collect_refs(spec, &mut refs);
    assert!(!refs.is_empty());
    for r in &refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "unresolved reference {r}"
        );
    }
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            // Anything that takes input says how it refuses it, with codes
            // (a browser redirect, such as single sign-on's callback, refuses
            // by redirecting).
            let redirects_only = responses.keys().all(|k| k.starts_with('3'));
            if (!params.is_empty() || !op["requestBody"].is_null()) && !redirects_only {
                let bad = responses
                    .iter()
                    .find(|(k, _)| k.starts_with('4'))
                    .unwrap_or_else(|| panic!("{method} {path} documents no 4xx"));
                assert!(
                    bad.1["description"]
                        .as_str()
                        .is_some_and(|d| d.contains('_')),
                    "{method} {path}: the 4xx description names no error code: {}",
                    bad.1
                );
            }
            for p in &params {
                let name = p["name"].as_str().unwrap();
                if matches!(name, "from" | "to") {
                    let schema = p["schema"].to_string();
                    assert!(
                        schema.contains("date-time") && schema.contains("maximum"),
                        "{method} {path} `{name}` does not say its format: {schema}"
                    );
                }
                if matches!(name, "page" | "page_size") {
                    assert_eq!(p["schema"]["minimum"], 1, "{method} {path} `{name}`");
                    assert!(
                        p["schema"]["format"].is_null(),
                        "{method} {path} `{name}`: no int32"
                    );
                }
                if p["schema"]["type"] == "array" {
                    assert_eq!(
                        (&p["style"], &p["explode"]),
                        (&serde_json::json!("form"), &serde_json::json!(false)),
                        "{method} {path} `{name}` is a comma-separated list"
                    );
                }
                if p["in"] == "query" {
                    assert!(
                        p["description"].is_string() || p["schema"]["$ref"].is_null(),
                        "{method} {path} `{name}` has no description"
                    );
                }
            }
            // JSON bodies that can be refused for their media type say so.
            if op["requestBody"]["content"]["application/json"].is_object() {
                assert!(
                    responses.contains_key("415"),
                    "{method} {path} does not document 415"
                );
            }
        }
    }
}

fn collect_refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn docs_are_served() {
    let s = start().await;
    let r = s.get("/docs/").await;
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("text/html")
    );
    assert!(
        r.text.to_ascii_lowercase().contains("swagger"),
        "{}",
        r.text
    );
    // /docs redirects to /docs/.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect.get(s.url("/docs")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 308);
    assert_eq!(r.headers()["location"], "/docs/");
    let r = s.get("/docs/swagger-initializer.js").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("/api/openapi.json"), "{}", r.text);
    s.get("/docs/no-such-file.js")
        .await
        .expect_error(404, "route_not_found");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods() {
    let s = start().await;
    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/events",
        "/api/v1/events/1/extra",
    ] {
        let r = s.get(path).await;
        r.expect_error(404, "route_not_found");
        assert!(r.message().contains(path), "{}", r.text);
    }
    let cases = [
        (reqwest::Method::DELETE, "/api/v1/events"),
        (reqwest::Method::PUT, "/api/v1/findings/1"),
        (reqwest::Method::POST, "/api/v1/findings"),
        (reqwest::Method::GET, "/api/v1/rules/reload"),
        (reqwest::Method::GET, "/audit-iam"),
        (reqwest::Method::POST, "/healthz"),
    ];
    for (method, path) in cases {
        let r = s.send(s.client.request(method.clone(), s.url(path))).await;
        r.expect_error(405, "method_not_allowed");
        assert!(r.message().contains(method.as_str()), "{}", r.text);
    }
    // Events: unknown id or non-numeric id are not found.
    s.get("/api/v1/events/12345")
        .await
        .expect_error(404, "not_found");
    s.get("/api/v1/events/abc")
        .await
        .expect_error(404, "not_found");
}

async fn call(
    app: &axum::Router,
    key: &str,
    method: Method,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {key}"));
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The same handlers, in process (no socket), on a server's state.
#[tokio::test]
async fn handlers_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let server = bind(dir.path(), test_config(dir.path())).await;
    let state = server.state();
    let app = router(state.clone());
    let key = common::make_key(&state, "in-process", &[vigilo_auth::Scope::Admin]).await;

    let (st, b) = call(&app, &key, Method::GET, "/healthz", None).await;
    assert_eq!((st, b), (StatusCode::OK, json!({"status": "ok"})));

    let events = json!([
        {"timestamp": "2025-07-01T00:00:00Z", "event_type": "api_token_created", "user": "ip", "scopes": ["admin:*"], "has_expiry": true},
        {"timestamp": "2025-07-01T00:00:01Z", "level": "INFO", "service": "svc"},
    ]);
    let (st, b) = call(&app, &key, Method::POST, "/api/v1/events", Some(events)).await;
    assert_eq!((st, b), (StatusCode::ACCEPTED, json!({"accepted": 2})));
    // Committed before the 202.
    let (st, b) = call(&app, &key, Method::GET, "/api/v1/events?kind=log", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 1);
    assert_eq!(b["items"][0]["service"], "svc");
    let id = b["items"][0]["id"].as_i64().unwrap();
    let (st, b) = call(
        &app,
        &key,
        Method::GET,
        &format!("/api/v1/events/{id}"),
        None,
    )
    .await;
    assert_eq!((st, &b["kind"]), (StatusCode::OK, &json!("log")));

    let (st, b) = call(
        &app,
        &key,
        Method::POST,
        "/api/v1/events",
        Some(json!([{"ts": "x"}])),
    )
    .await;
    assert_eq!(
        (st, &b["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_events"))
    );
    let (st, b) = call(
        &app,
        &key,
        Method::GET,
        "/api/v1/events?page_size=501",
        None,
    )
    .await;
    assert_eq!(
        (st, &b["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_query"))
    );

    // Detection through the pipeline, then the finding handlers.
    let deadline = std::time::Instant::now() + DEADLINE;
    while state.pipeline.queue_depth() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "detection did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (st, b) = call(&app, &key, Method::GET, "/api/v1/findings", None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["total"], 1);
    assert_eq!(b["items"][0]["rule_id"], "identity.admin_token");
    let fid = b["items"][0]["id"].as_i64().unwrap();
    let (st, b) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/api/v1/findings/{fid}"),
        Some(json!({"status": "suppressed"})),
    )
    .await;
    assert_eq!((st, &b["status"]), (StatusCode::OK, &json!("suppressed")));
    let (st, b) = call(
        &app,
        &key,
        Method::GET,
        &format!("/api/v1/findings/{fid}"),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["evidence_events"][0]["payload"]["user"], "ip");

    let (st, b) = call(&app, &key, Method::GET, "/nowhere", None).await;
    assert_eq!(
        (st, &b["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("route_not_found"))
    );
    let (st, b) = call(&app, &key, Method::DELETE, "/api/v1/findings/1", None).await;
    assert_eq!(
        (st, &b["error"]["code"]),
        (StatusCode::METHOD_NOT_ALLOWED, &json!("method_not_allowed"))
    );
    let (st, b) = call(&app, &key, Method::GET, "/api/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(b["paths"]["/api/v1/events"]["post"].is_object());

    state.pipeline.shutdown().await;
}
