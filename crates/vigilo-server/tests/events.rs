//! `GET /api/v1/events` filters, pagination and ordering; `GET /events/{id}`.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-09-10T12:00:00Z";

/// 12 events, one per minute from T, in shuffled posting order.
fn events() -> Vec<Value> {
    let spec = [
        (
            5,
            json!({"level": "INFO", "service": "api", "user_id": "ann", "message": "Checkout Done"}),
        ),
        (
            0,
            json!({"level": "ERROR", "service": "api", "user_id": "bob", "message": "timeout"}),
        ),
        (9, json!({"cpu": 50, "service": "db"})),
        (
            3,
            json!({"transaction_id": "t-1", "user_id": "ann", "amount": 12}),
        ),
        (11, json!({"event_type": "login_failed", "user": "bob"})),
        (
            1,
            json!({"level": "WARNING", "service": "web", "username": "cat", "message": "slow checkout"}),
        ),
        (7, json!({"latency_ms": 80, "service": "api"})),
        (
            2,
            json!({"kind": "audit", "event_type": "login_success", "user": "ann"}),
        ),
        (
            10,
            json!({"level": "INFO", "service": "db", "message": "vacuum"}),
        ),
        (4, json!({"cpu": 70, "service": "api"})),
        (
            8,
            json!({"transaction_id": "t-2", "user_id": "cat", "amount": 3}),
        ),
        (
            6,
            json!({"level": "ERROR", "service": "web", "message": "CHECKOUT broke"}),
        ),
    ];
    spec.into_iter()
        .map(|(m, mut v)| {
            v["timestamp"] = json!(ts(T, m * 60));
            v["minute"] = json!(m);
            v
        })
        .collect()
}

async fn minutes(s: &TestServer, query: &str) -> (u64, Vec<i64>) {
    let r = s.get(&format!("/api/v1/events?{query}")).await;
    let b = r.expect_status(200);
    let mins = b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["minute"].as_i64().unwrap())
        .collect();
    (b["total"].as_u64().unwrap(), mins)
}

#[tokio::test]
async fn filters_pagination_and_order() {
    let s = start().await;
    assert_eq!(s.ingest(&Value::Array(events())).await, 12);

    // Newest event time first, whatever the posting order.
    let (total, all) = minutes(&s, "").await;
    assert_eq!(total, 12);
    assert_eq!(all, (0..12).rev().collect::<Vec<i64>>());

    let cases: Vec<(&str, Vec<i64>)> = vec![
        ("kind=log", vec![10, 6, 5, 1, 0]),
        ("kind=metric", vec![9, 7, 4]),
        ("kind=transaction", vec![8, 3]),
        ("kind=audit", vec![2]),
        ("kind=event", vec![11]),
        ("kind=nothing", vec![]),
        ("service=api", vec![7, 5, 4, 0]),
        ("service=db", vec![10, 9]),
        ("user=ann", vec![5, 3, 2]),
        ("user=cat", vec![8, 1]),
        ("user=bob&kind=log", vec![0]),
        ("from=2025-09-10T12:09:00Z", vec![11, 10, 9]),
        ("to=2025-09-10T12:02:00Z", vec![1, 0]),
        (
            "from=2025-09-10T12:03:00Z&to=2025-09-10T12:06:00Z",
            vec![5, 4, 3],
        ),
        // Epoch seconds and milliseconds.
        ("from=1757505780&to=1757505960", vec![5, 4, 3]),
        ("from=1757505780000&to=1757505960000", vec![5, 4, 3]),
        (
            "from=2025-09-10T14:03:00%2B02:00&to=2025-09-10T12:06:00Z",
            vec![5, 4, 3],
        ),
        // Text search, case-insensitive, anywhere in the event.
        ("q=checkout", vec![6, 5, 1]),
        ("q=CHECKOUT&service=web", vec![6, 1]),
        ("q=t-2", vec![8]),
        ("q=", (0..12).rev().collect()),
        ("q=zzz", vec![]),
    ];
    for (q, want) in cases {
        let (total, got) = minutes(&s, q).await;
        assert_eq!(got, want, "query {q}");
        assert_eq!(total, want.len() as u64, "query {q}");
    }

    // Pages of 5: 5, 5, 2, then empty; totals stay 12.
    let mut seen = Vec::new();
    for (page, n) in [(1, 5), (2, 5), (3, 2), (4, 0)] {
        let r = s
            .get(&format!("/api/v1/events?page={page}&page_size=5"))
            .await;
        let b = r.expect_status(200);
        assert_eq!(
            (&b["total"], &b["page"], &b["page_size"]),
            (&json!(12), &json!(page), &json!(5))
        );
        let items = b["items"].as_array().unwrap();
        assert_eq!(items.len(), n);
        seen.extend(
            items
                .iter()
                .map(|e| e["payload"]["minute"].as_i64().unwrap()),
        );
    }
    assert_eq!(seen, all);
    let (total, got) = minutes(&s, "kind=log&page=2&page_size=2").await;
    assert_eq!((total, got), (5, vec![5, 1]));
    let r = s.get("/api/v1/events?page_size=500").await;
    assert_eq!(r.expect_status(200)["page_size"], 500);
    let r = s.get("/api/v1/events").await;
    assert_eq!(r.expect_status(200)["page_size"], 50);
}

#[tokio::test]
async fn same_time_events_order_by_id_descending() {
    let s = start().await;
    let batch: Vec<Value> = (0..4)
        .map(|i| json!({"timestamp": "2025-09-10T00:00:00Z", "i": i}))
        .collect();
    s.ingest(&Value::Array(batch)).await;
    let r = s.get("/api/v1/events").await;
    let items = r.expect_status(200)["items"].as_array().unwrap().clone();
    let ids: Vec<i64> = items.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
    let order: Vec<i64> = items
        .iter()
        .map(|e| e["payload"]["i"].as_i64().unwrap())
        .collect();
    assert_eq!(
        order,
        vec![3, 2, 1, 0],
        "ids follow the order in the request"
    );
}

#[tokio::test]
async fn bad_event_queries() {
    let s = start().await;
    for q in [
        "page=0",
        "page_size=0",
        "page_size=501",
        "page=-1",
        "page=abc",
        "colour=red",
    ] {
        let r = s.get(&format!("/api/v1/events?{q}")).await;
        r.expect_error(400, "invalid_query");
        assert!(!r.message().is_empty());
    }
    let r = s.get("/api/v1/events?page_size=501").await;
    assert!(r.message().contains("`page_size`"), "{}", r.text);
    let r = s.get("/api/v1/events?page=0").await;
    assert!(r.message().contains("`page`"), "{}", r.text);
    let r = s.get("/api/v1/events?from=soon").await;
    r.expect_error(400, "invalid_query");
    assert!(r.message().contains("`from`"), "{}", r.text);
    let r = s.get("/api/v1/events?to=2025-99-01").await;
    r.expect_error(400, "invalid_query");
    assert!(r.message().contains("`to`"), "{}", r.text);
    // A backwards range is an error naming both bounds, not an empty page.
    let r = s
        .get("/api/v1/events?from=2025-09-10T12:09:00Z&to=2025-09-10T12:00:00Z")
        .await;
    r.expect_error(400, "invalid_query");
    assert!(
        r.message().contains("`from`") && r.message().contains("`to`"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn text_search_is_literal_for_every_byte() {
    let s = start().await;
    s.ingest(&json!([
        {"timestamp": "2025-09-10T12:00:00Z", "service": "gateway", "message": "upstream ok"},
        {"timestamp": "2025-09-10T12:00:01Z", "service": "gateway", "message": "nul\u{0}byte"},
        {"timestamp": "2025-09-10T12:00:02Z", "service": "web", "message": "100% done_now"},
    ]))
    .await;
    let count = |q: &str| {
        let path = format!("/api/v1/events?q={q}");
        let s = &s;
        async move {
            s.get(&path).await.expect_status(200)["total"]
                .as_u64()
                .unwrap()
        }
    };
    assert_eq!(count("gateway").await, 2);
    // A NUL byte matches only itself: not everything, not nothing.
    assert_eq!(count("%00zzzz").await, 0);
    assert_eq!(count("gateway%00zzzz").await, 0);
    assert_eq!(count("nul%00byte").await, 1);
    assert_eq!(count("%00").await, 1);
    // LIKE's wildcards are plain characters.
    assert_eq!(count("100%25").await, 1);
    assert_eq!(count("done_now").await, 1);
    assert_eq!(count("done%5Fnow").await, 1);
    assert_eq!(count("d_ne").await, 0);
}

#[tokio::test]
async fn get_one_event() {
    let s = start().await;
    s.ingest(
        &json!({"timestamp": "2025-09-10T00:00:00Z", "service": "s", "user": "u", "x": [1, 2]}),
    )
    .await;
    let r = s.get("/api/v1/events").await;
    let listed = r.expect_status(200)["items"][0].clone();
    let id = listed["id"].as_i64().unwrap();
    let r = s.get(&format!("/api/v1/events/{id}")).await;
    let e = r.expect_status(200);
    assert_eq!(e, &listed);
    let mut keys: Vec<&String> = e.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "id",
            "kind",
            "logsource",
            "payload",
            "received_at",
            "service",
            "timestamp",
            "user"
        ]
    );
    assert_eq!(
        e["payload"],
        json!({"timestamp": "2025-09-10T00:00:00Z", "service": "s", "user": "u", "x": [1, 2]})
    );

    for missing in [
        format!("{}", id + 1),
        "0".into(),
        "-3".into(),
        "abc".into(),
        "1.5".into(),
    ] {
        let r = s.get(&format!("/api/v1/events/{missing}")).await;
        r.expect_error(404, "not_found");
        assert!(r.message().contains(&missing), "{}", r.text);
    }
}
