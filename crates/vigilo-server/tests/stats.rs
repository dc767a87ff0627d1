//! Summary cards and dashboard aggregates against a known stream.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-06-02T10:00:00Z";

/// 25 checkout logs (20 ERROR: one spike), 2 payments metrics (one slow and
/// hot), 4 sign-in events, 1 admin token: 32 events, 7 findings.
fn stream() -> Vec<Value> {
    let mut v = Vec::new();
    for i in 0..20 {
        v.push(json!({"timestamp": ts(T, i * 5), "service": "checkout", "level": "ERROR", "message": "boom"}));
    }
    for i in 0..5 {
        v.push(json!({"timestamp": ts(T, 10 + i), "service": "checkout", "level": "INFO", "message": "ok"}));
    }
    v.push(json!({"timestamp": ts(T, 150), "service": "payments", "cpu": 20, "latency_ms": 30}));
    v.push(json!({"timestamp": ts(T, 200), "service": "payments", "cpu": 95, "latency_ms": 1500}));
    for i in 0..3 {
        v.push(json!({"timestamp": ts(T, 300 + i * 60), "event_type": "login_failed", "user": "mallory"}));
    }
    v.push(json!({"timestamp": ts(T, 480), "event_type": "login_success", "user": "mallory"}));
    v.push(json!({
        "timestamp": ts(T, 600), "event_type": "api_token_created", "user": "trent",
        "scopes": ["admin:*"], "has_expiry": false,
    }));
    v
}

async fn loaded() -> TestServer {
    let s = start().await;
    assert_eq!(s.ingest(&Value::Array(stream())).await, 32);
    s.wait_for_detection().await;
    assert_eq!(s.finding_total().await, 7);
    s
}

fn sev(critical: u64, high: u64, medium: u64) -> Value {
    json!({"critical": critical, "high": high, "medium": medium, "low": 0, "informational": 0})
}

#[tokio::test]
async fn summary_totals_and_events_over_time() {
    let s = loaded().await;
    let r = s
        .get("/api/v1/stats/summary?from=2025-06-01T00:00:00Z&to=2025-06-04T00:00:00Z&bucket=day")
        .await;
    assert_eq!(
        r.expect_status(200),
        &json!({
            "total_events": 32,
            "total_findings": 7,
            "findings_by_severity": sev(4, 2, 1),
            "events_over_time": [
                {"time": "2025-06-01T00:00:00Z", "count": 0},
                {"time": "2025-06-02T00:00:00Z", "count": 32},
                {"time": "2025-06-03T00:00:00Z", "count": 0},
            ],
        })
    );
    // Default bucket is a day.
    let r = s
        .get("/api/v1/stats/summary?from=2025-06-01T00:00:00Z&to=2025-06-04T00:00:00Z")
        .await;
    assert_eq!(
        r.body["events_over_time"][1],
        json!({"time": "2025-06-02T00:00:00Z", "count": 32})
    );
    assert_eq!(r.body["events_over_time"].as_array().map(Vec::len), Some(3));
    let r = s
        .get("/api/v1/stats/summary?from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z&bucket=hour")
        .await;
    // Every hour of the day, zeros included, one field name for the time.
    let hours = r.expect_status(200)["events_over_time"].clone();
    let hours = hours.as_array().unwrap();
    assert_eq!(hours.len(), 24);
    for (h, p) in hours.iter().enumerate() {
        let n = if h == 10 { 32 } else { 0 };
        assert_eq!(
            p,
            &json!({"time": format!("2025-06-02T{h:02}:00:00Z"), "count": n})
        );
    }
    let r = s
        .get(
            "/api/v1/stats/summary?from=2025-06-02T10:00:00Z&to=2025-06-02T11:00:00Z&bucket=minute",
        )
        .await;
    let counts = [
        (0, 17),
        (1, 8),
        (2, 1),
        (3, 1),
        (5, 1),
        (6, 1),
        (7, 1),
        (8, 1),
        (10, 1),
    ];
    let want: Vec<Value> = (0..60)
        .map(|m| {
            let n = counts.iter().find(|(k, _)| *k == m).map_or(0, |(_, n)| *n);
            json!({"time": format!("2025-06-02T10:{m:02}:00Z"), "count": n})
        })
        .collect();
    assert_eq!(r.expect_status(200)["events_over_time"], Value::Array(want));
    // Epoch bounds work too; a range with nothing has zero buckets but the
    // same all-time totals. 1700000000 is 2023-11-14T22:13:20Z: the first
    // bucket is the day that holds it.
    let r = s
        .get("/api/v1/stats/summary?from=1700000000&to=1700086400")
        .await;
    let b = r.expect_status(200);
    assert_eq!(
        b["events_over_time"],
        json!([
            {"time": "2023-11-14T00:00:00Z", "count": 0},
            {"time": "2023-11-15T00:00:00Z", "count": 0},
        ])
    );
    assert_eq!(
        (&b["total_events"], &b["total_findings"]),
        (&json!(32), &json!(7))
    );
    // Without bounds: the last 30 days up to now, which holds no 2025 events
    // only if now is past July 2025; totals are all-time regardless.
    let r = s.get("/api/v1/stats/summary").await;
    assert_eq!(r.expect_status(200)["total_events"], 32);
}

#[tokio::test]
async fn stats_and_dashboard_reject_bad_ranges() {
    let s = start().await;
    for path in [
        "/api/v1/stats/summary",
        "/api/v1/dashboard/overview",
        "/api/v1/dashboard/timeline",
        "/api/v1/dashboard/services",
    ] {
        let r = s.get(&format!("{path}?from=last-tuesday")).await;
        r.expect_error(400, "invalid_query");
        assert!(r.message().contains("`from`"), "{path}: {}", r.text);
        let r = s.get(&format!("{path}?to=2025-02-30T00:00:00Z")).await;
        r.expect_error(400, "invalid_query");
        assert!(r.message().contains("`to`"), "{path}: {}", r.text);
        let r = s
            .get(&format!(
                "{path}?from=2025-06-02T00:00:00Z&to=2025-06-02T00:00:00Z"
            ))
            .await;
        r.expect_error(400, "invalid_query");
        let r = s
            .get(&format!(
                "{path}?from=2025-06-03T00:00:00Z&to=2025-06-02T00:00:00Z"
            ))
            .await;
        r.expect_error(400, "invalid_query");
        assert!(r.message().contains("`from`"), "{path}: {}", r.text);
        s.get(&format!("{path}?colour=red"))
            .await
            .expect_error(400, "invalid_query");
    }
    for path in ["/api/v1/stats/summary", "/api/v1/dashboard/timeline"] {
        s.get(&format!("{path}?bucket=week"))
            .await
            .expect_error(400, "invalid_query");
        // 30 days of minutes is over the 10 000-bucket cap.
        let r = s
            .get(&format!(
                "{path}?from=2025-05-01T00:00:00Z&to=2025-05-31T00:00:00Z&bucket=minute"
            ))
            .await;
        r.expect_error(400, "invalid_query");
        assert!(r.message().contains("`bucket`"), "{path}: {}", r.text);
        // Errors that depend on a default say so.
        let r = s.get(&format!("{path}?bucket=minute")).await;
        if path.ends_with("summary") {
            // 30 days of minutes by default.
            r.expect_error(400, "invalid_query");
            assert!(
                r.message().contains("the default window, the last 30 days"),
                "{path}: {}",
                r.text
            );
        } else {
            // 24 hours of minutes fit: 1,441 buckets unless now falls on
            // a whole minute.
            let n = r.expect_status(200)["points"]
                .as_array()
                .map_or(0, Vec::len);
            assert!(n == 1440 || n == 1441, "{n}");
        }
    }
    for path in [
        "/api/v1/stats/summary",
        "/api/v1/dashboard/overview",
        "/api/v1/dashboard/timeline",
        "/api/v1/dashboard/services",
    ] {
        let r = s.get(&format!("{path}?from=2999-01-01T00:00:00Z")).await;
        r.expect_error(400, "invalid_query");
        assert!(
            r.message().contains("defaults to now"),
            "{path}: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn overview_counts_the_window() {
    let s = loaded().await;
    let r = s
        .get("/api/v1/dashboard/overview?from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z")
        .await;
    let mut top: Vec<Value> = [
        "anomaly.cpu_and_latency",
        "anomaly.high_latency",
        "anomaly.log_error_spike",
        "identity.admin_token",
        "identity.failed_logins_medium",
        "identity.login_after_failures",
        "identity.token_without_expiry",
    ]
    .iter()
    .map(|r| json!({"rule_id": r, "count": 1}))
    .collect();
    assert_eq!(
        r.expect_status(200),
        &json!({
            "from": "2025-06-02T00:00:00Z",
            "to": "2025-06-03T00:00:00Z",
            "total_events": 32,
            "total_findings": 7,
            "findings_by_status": {"open": 7, "acknowledged": 0, "resolved": 0, "suppressed": 0},
            "events_in_window": 32,
            "findings_in_window": 7,
            "events_by_kind": {"event": 5, "log": 25, "metric": 2},
            "findings_by_severity": sev(4, 2, 1),
            "top_rules": top.clone(),
            "services": 2,
        })
    );

    // From 10:04: only the sign-in and token events and their findings.
    let r = s
        .get("/api/v1/dashboard/overview?from=2025-06-02T10:04:00Z&to=2025-06-02T10:20:00Z")
        .await;
    top.retain(|t| t["rule_id"].as_str().unwrap().starts_with("identity."));
    let b = r.expect_status(200);
    assert_eq!(b["events_in_window"], 5);
    assert_eq!(b["events_by_kind"], json!({"event": 5}));
    assert_eq!(b["findings_in_window"], 4);
    assert_eq!(b["findings_by_severity"], sev(2, 1, 1));
    assert_eq!(b["top_rules"], Value::Array(top));
    assert_eq!(b["services"], 0);
    assert_eq!(
        (&b["total_events"], &b["total_findings"]),
        (&json!(32), &json!(7))
    );

    // A window with nothing.
    let r = s
        .get("/api/v1/dashboard/overview?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
        .await;
    let b = r.expect_status(200);
    assert_eq!(
        (
            &b["events_in_window"],
            &b["findings_in_window"],
            &b["services"],
            &b["top_rules"]
        ),
        (&json!(0), &json!(0), &json!(0), &json!([]))
    );
    assert_eq!(b["findings_by_severity"], sev(0, 0, 0));
}

#[tokio::test]
async fn timeline_buckets_events_and_new_findings() {
    let s = loaded().await;
    let r = s
        .get("/api/v1/dashboard/timeline?from=2025-06-02T10:00:00Z&to=2025-06-02T11:00:00Z&bucket=minute")
        .await;
    let b = r.expect_status(200);
    assert_eq!(b["bucket_seconds"], 60);
    assert_eq!(b["from"], "2025-06-02T10:00:00Z");
    assert_eq!(b["to"], "2025-06-02T11:00:00Z");
    let point = |m: u32, kinds: Value, events: u64, sevs: Value, findings: u64| {
        json!({
            "time": format!("2025-06-02T10:{m:02}:00Z"),
            "events": events,
            "findings": findings,
            "findings_by_severity": sevs,
            "events_by_kind": kinds,
        })
    };
    let busy = [
        point(0, json!({"log": 17}), 17, sev(1, 0, 0), 1),
        point(1, json!({"log": 8}), 8, sev(0, 0, 0), 0),
        point(2, json!({"metric": 1}), 1, sev(0, 0, 0), 0),
        point(3, json!({"metric": 1}), 1, sev(1, 1, 0), 2),
        point(5, json!({"event": 1}), 1, sev(1, 0, 1), 2),
        point(6, json!({"event": 1}), 1, sev(0, 0, 0), 0),
        point(7, json!({"event": 1}), 1, sev(0, 0, 0), 0),
        point(8, json!({"event": 1}), 1, sev(0, 0, 0), 0),
        point(10, json!({"event": 1}), 1, sev(1, 1, 0), 2),
    ];
    // Every minute of the hour, the quiet ones as zeros.
    let want: Vec<Value> = (0..60u32)
        .map(|m| {
            let t = format!("2025-06-02T10:{m:02}:00Z");
            busy.iter()
                .find(|p| p["time"] == t.as_str())
                .cloned()
                .unwrap_or_else(|| point(m, json!({}), 0, sev(0, 0, 0), 0))
        })
        .collect();
    assert_eq!(b["points"], Value::Array(want));

    // Default bucket: an hour.
    let r = s
        .get("/api/v1/dashboard/timeline?from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z")
        .await;
    let b = r.expect_status(200);
    assert_eq!(b["bucket_seconds"], 3600);
    assert_eq!(b["points"].as_array().map(Vec::len), Some(24));
    assert_eq!(
        b["points"][10],
        json!({
            "time": "2025-06-02T10:00:00Z", "events": 32, "findings": 7,
            "findings_by_severity": sev(4, 2, 1),
            "events_by_kind": {"event": 5, "log": 25, "metric": 2},
        })
    );
    assert_eq!(
        b["points"][11],
        json!({
            "time": "2025-06-02T11:00:00Z", "events": 0, "findings": 0,
            "findings_by_severity": sev(0, 0, 0), "events_by_kind": {},
        })
    );
}

#[tokio::test]
async fn services_summarize_per_service() {
    let s = loaded().await;
    let r = s
        .get("/api/v1/dashboard/services?from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z")
        .await;
    let payments = json!({
        "service": "payments", "events": 2, "findings": 2,
        "findings_by_severity": sev(1, 1, 0),
        "last_finding_at": "2025-06-02T10:03:20Z",
    });
    let checkout = json!({
        "service": "checkout", "events": 25, "findings": 1,
        "findings_by_severity": sev(1, 0, 0),
        "last_finding_at": "2025-06-02T10:01:35Z",
    });
    assert_eq!(
        r.expect_status(200)["items"],
        json!([
            {
                "service": "payments", "events": 2, "findings": 2,
                "findings_by_severity": sev(1, 1, 0),
                "last_finding_at": "2025-06-02T10:03:20Z",
            },
            {
                "service": "checkout", "events": 25, "findings": 1,
                "findings_by_severity": sev(1, 0, 0),
                "last_finding_at": "2025-06-02T10:01:35Z",
            },
        ])
    );
    assert_eq!(
        (&r.body["total"], &r.body["page"], &r.body["page_size"]),
        (&json!(2), &json!(1), &json!(50))
    );
    assert_eq!(r.body["from"], "2025-06-02T00:00:00Z");
    // Pages of one, in the same order.
    for (page, want) in [(1, &payments), (2, &checkout)] {
        let r = s
            .get(&format!("/api/v1/dashboard/services?from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z&page={page}&page_size=1"))
            .await;
        let b = r.expect_status(200);
        assert_eq!((&b["items"], &b["total"]), (&json!([want]), &json!(2)));
    }
    let r = s
        .get("/api/v1/dashboard/services?from=2025-06-02T00:00:00Z&to=2025-06-03T00:00:00Z&page=3&page_size=1")
        .await;
    assert_eq!(
        (&r.expect_status(200)["items"], &r.body["total"]),
        (&json!([]), &json!(2))
    );
    let r = s
        .get("/api/v1/dashboard/services?from=2025-06-02T10:01:00Z&to=2025-06-02T10:03:00Z")
        .await;
    assert_eq!(
        r.expect_status(200)["items"],
        json!([
            {
                "service": "checkout", "events": 8, "findings": 0,
                "findings_by_severity": sev(0, 0, 0), "last_finding_at": null,
            },
            {
                "service": "payments", "events": 1, "findings": 0,
                "findings_by_severity": sev(0, 0, 0), "last_finding_at": null,
            },
        ])
    );
    let r = s
        .get("/api/v1/dashboard/services?from=2024-01-01T00:00:00Z&to=2024-01-02T00:00:00Z")
        .await;
    assert_eq!(r.expect_status(200)["items"], json!([]));
}
