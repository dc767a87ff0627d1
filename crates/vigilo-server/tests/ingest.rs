//! `POST /api/v1/events` through a real server: formats, durability,
//! all-or-nothing validation, limits, timestamps, normalization, overload.
mod common;

use std::collections::BTreeMap;
use std::io::Write;

use common::*;
use serde_json::{Value, json};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Events whose payload has `tag` equal to `tag`, oldest id first.
async fn tagged(s: &TestServer, tag: &str) -> Vec<Value> {
    let r = s
        .get(&format!("/api/v1/events?q={tag}&page_size=500"))
        .await;
    let mut items = r.expect_status(200)["items"].as_array().unwrap().clone();
    items.retain(|e| e["payload"]["tag"] == tag);
    items.sort_by_key(|e| e["id"].as_i64());
    items
}

#[tokio::test]
async fn object_array_ndjson_and_gzip_are_accepted_and_stored_before_202() {
    let s = start().await;

    let r = s
        .post_json("/api/v1/events", &json!({"tag": "one", "msg": "a"}))
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 1}));
    // Durable before the answer: visible at once.
    assert_eq!(tagged(&s, "one").await.len(), 1);

    let r = s
        .post_json(
            "/api/v1/events",
            &json!([{"tag": "arr", "i": 0}, {"tag": "arr", "i": 1}]),
        )
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 2}));
    assert_eq!(tagged(&s, "arr").await.len(), 2);

    let nd = "{\"tag\":\"nd\",\"i\":0}\n\n{\"tag\":\"nd\",\"i\":1}\r\n{\"tag\":\"nd\",\"i\":2}\n";
    let r = s
        .post_raw("/api/v1/events", nd, Some("application/x-ndjson"), None)
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 3}));
    let got: Vec<Value> = tagged(&s, "nd")
        .await
        .iter()
        .map(|e| e["payload"]["i"].clone())
        .collect();
    assert_eq!(got, vec![json!(0), json!(1), json!(2)]);

    let gz = gzip(b"{\"tag\":\"gz\"}\n{\"tag\":\"gz\"}\n{\"tag\":\"gz\"}\n{\"tag\":\"gz\"}\n");
    let r = s
        .post_raw(
            "/api/v1/events",
            gz,
            Some("application/x-ndjson"),
            Some("gzip"),
        )
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 4}));
    assert_eq!(tagged(&s, "gz").await.len(), 4);

    let gz = gzip(br#"[{"tag":"gzj"},{"tag":"gzj"}]"#);
    let r = s
        .post_raw("/api/v1/events", gz, Some("application/json"), Some("gzip"))
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 2}));
    assert_eq!(tagged(&s, "gzj").await.len(), 2);

    assert_eq!(s.event_total().await, 12);
}

#[tokio::test]
async fn every_accepted_request_is_immediately_listed() {
    let s = start().await;
    for round in 0..20u64 {
        let batch: Vec<Value> = (0..5)
            .map(|i| json!({"tag": "dur", "round": round, "i": i}))
            .collect();
        assert_eq!(s.ingest(&Value::Array(batch)).await, 5);
        // No waiting: the 202 means committed.
        assert_eq!(s.event_total().await, (round + 1) * 5);
    }
}

#[tokio::test]
async fn one_bad_event_rejects_the_whole_request() {
    let s = start().await;
    s.ingest(&json!([{"tag": "base"}, {"tag": "base"}])).await;
    let before = s.event_total().await;

    let batch = json!([
        {"tag": "bad-batch", "level": "ERROR", "service": "x"},
        {"tag": "bad-batch"},
        {"tag": "bad-batch", "ts": "soon"},
        {"tag": "bad-batch"},
        [1, 2],
        {"tag": "bad-batch", "kind": 5},
        {"tag": "bad-batch", "service": {"nested": true}},
    ]);
    let r = s.post_json("/api/v1/events", &batch).await;
    r.expect_error(400, "invalid_events");
    let details = r.body["error"]["details"].as_array().unwrap();
    let got: Vec<(u64, &str)> = details
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "invalid_timestamp"),
            (4, "event_not_object"),
            (5, "invalid_field"),
            (6, "invalid_field"),
        ]
    );
    assert!(
        details[0]["message"].as_str().unwrap().contains("`ts`"),
        "{}",
        r.text
    );
    assert!(
        details[2]["message"].as_str().unwrap().contains("`kind`"),
        "{}",
        r.text
    );
    assert!(
        details[3]["message"]
            .as_str()
            .unwrap()
            .contains("`service`"),
        "{}",
        r.text
    );
    assert!(r.message().contains("nothing was stored"), "{}", r.text);

    // NDJSON with one malformed line among good ones.
    let nd = "{\"tag\":\"bad-nd\"}\n{oops\n{\"tag\":\"bad-nd\"}\n";
    let r = s
        .post_raw("/api/v1/events", nd, Some("application/x-ndjson"), None)
        .await;
    r.expect_error(400, "invalid_events");
    assert_eq!(r.body["error"]["details"][0]["index"], 1);
    assert_eq!(r.body["error"]["details"][0]["code"], "malformed_body");

    s.wait_for_detection().await;
    assert_eq!(s.event_total().await, before);
    assert!(tagged(&s, "bad-batch").await.is_empty());
    assert!(tagged(&s, "bad-nd").await.is_empty());
    assert_eq!(s.finding_total().await, 0);
}

/// (body, content type, content encoding, status, error code)
type BodyCase = (
    Vec<u8>,
    Option<&'static str>,
    Option<&'static str>,
    u16,
    &'static str,
);

#[tokio::test]
async fn malformed_empty_and_unsupported_bodies() {
    let s = start().await;
    let cases: Vec<BodyCase> = vec![
        (b"{".to_vec(), None, None, 400, "malformed_body"),
        (
            b"[{\"a\":1},".to_vec(),
            Some("application/json"),
            None,
            400,
            "malformed_body",
        ),
        (b"   ".to_vec(), None, None, 400, "empty_batch"),
        (b"[]".to_vec(), None, None, 400, "empty_batch"),
        (
            b"\n\n".to_vec(),
            Some("application/x-ndjson"),
            None,
            400,
            "empty_batch",
        ),
        (
            b"a,b\n1,2".to_vec(),
            Some("text/csv"),
            None,
            415,
            "unsupported_media_type",
        ),
        (
            b"{}".to_vec(),
            Some("application/xml"),
            None,
            415,
            "unsupported_media_type",
        ),
        (
            b"{}".to_vec(),
            None,
            Some("br"),
            415,
            "unsupported_encoding",
        ),
        (
            b"{}".to_vec(),
            None,
            Some("deflate"),
            415,
            "unsupported_encoding",
        ),
        (
            b"not gzip at all".to_vec(),
            None,
            Some("gzip"),
            400,
            "malformed_body",
        ),
    ];
    for (body, ct, enc, status, code) in cases {
        let r = s.post_raw("/api/v1/events", body.clone(), ct, enc).await;
        assert_eq!(
            (r.status, r.code()),
            (status, code),
            "body {:?} ct {ct:?} enc {enc:?}: {}",
            String::from_utf8_lossy(&body),
            r.text
        );
    }
    // Identity encoding and a charset parameter are fine.
    let r = s
        .post_raw(
            "/api/v1/events",
            "{\"a\":1}",
            Some("application/json; charset=utf-8"),
            Some("identity"),
        )
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 1}));
    assert_eq!(s.event_total().await, 1);
}

#[tokio::test]
async fn body_and_event_limits_answer_413_and_store_nothing() {
    let s = start_with(|c, _| {
        c.ingest.max_body_bytes = 1000;
        c.ingest.max_event_bytes = 200;
    })
    .await;

    // Just under both limits: accepted.
    let ok = json!({"tag": "limit", "m": "x".repeat(150)});
    assert!(ok.to_string().len() <= 200);
    assert_eq!(s.ingest(&ok).await, 1);

    // One event over the per-event limit, among small ones.
    let big = json!([{"tag": "small"}, {"tag": "big", "m": "x".repeat(300)}]);
    let r = s.post_json("/api/v1/events", &big).await;
    r.expect_error(413, "event_too_large");
    assert_eq!(r.body["error"]["details"][0]["index"], 1);
    assert_eq!(r.body["error"]["details"][0]["code"], "event_too_large");

    // A body over the request limit made of small events.
    let many: Vec<Value> = (0..80).map(|i| json!({"tag": "many", "i": i})).collect();
    let body = Value::Array(many).to_string();
    assert!(body.len() > 1000);
    let r = s.post_raw("/api/v1/events", body, None, None).await;
    r.expect_error(413, "payload_too_large");

    // A small gzip body that inflates past the limit.
    let nd: String = (0..80)
        .map(|i| format!("{{\"tag\":\"bomb\",\"i\":{i}}}\n"))
        .collect();
    let gz = gzip(nd.as_bytes());
    assert!(gz.len() < 1000);
    let r = s
        .post_raw(
            "/api/v1/events",
            gz,
            Some("application/x-ndjson"),
            Some("gzip"),
        )
        .await;
    r.expect_error(413, "payload_too_large");

    assert_eq!(s.event_total().await, 1);
}

/// A 3 MB request is well under the default 16 MiB `ingest.max_body_bytes`
/// (regression: axum's 2 MiB default body limit once applied first).
#[tokio::test]
async fn bodies_up_to_the_configured_limit_are_accepted() {
    let s = start().await;
    let pad = "p".repeat(1000);
    let nd: String = (0..3000)
        .map(|i| format!("{{\"tag\":\"large\",\"i\":{i},\"pad\":\"{pad}\"}}\n"))
        .collect();
    assert!(nd.len() > 3_000_000);
    let r = s
        .post_raw("/api/v1/events", nd, Some("application/x-ndjson"), None)
        .await;
    assert_eq!(r.expect_status(202), &json!({"accepted": 3000}));
    assert_eq!(s.event_total().await, 3000);
}

/// Over a small configured limit the answer is the JSON error, however
/// large the body is.
#[tokio::test]
async fn huge_bodies_get_the_json_413() {
    let s = start_with(|c, _| c.ingest.max_body_bytes = 1000).await;
    let body = format!("{{\"m\":\"{}\"}}", "x".repeat(3 << 20));
    let r = s
        .post_raw("/api/v1/events", body, Some("application/json"), None)
        .await;
    r.expect_error(413, "payload_too_large");
}

#[tokio::test]
async fn timestamps_in_every_accepted_form() {
    let s = start().await;
    let cases = [
        (
            json!({"tag": "t1", "timestamp": "2025-03-01T12:00:00.250+02:00"}),
            "2025-03-01T10:00:00.250Z",
        ),
        (
            json!({"tag": "t2", "timestamp": "2025-03-01T12:00:00Z"}),
            "2025-03-01T12:00:00Z",
        ),
        (
            json!({"tag": "t3", "@timestamp": "2025-03-01T12:00:00.123456-05:30"}),
            "2025-03-01T17:30:00.123456Z",
        ),
        (
            json!({"tag": "t4", "ts": 1_740_830_400}),
            "2025-03-01T12:00:00Z",
        ),
        (
            json!({"tag": "t5", "ts": 1_740_830_400_123_i64}),
            "2025-03-01T12:00:00.123Z",
        ),
        (
            json!({"tag": "t6", "timestamp": "1740830400"}),
            "2025-03-01T12:00:00Z",
        ),
        (
            json!({"tag": "t7", "timestamp": 1_740_830_400.5}),
            "2025-03-01T12:00:00.500Z",
        ),
        // `timestamp` wins over `ts`.
        (
            json!({"tag": "t8", "timestamp": "2025-01-01T00:00:00Z", "ts": 1_740_830_400}),
            "2025-01-01T00:00:00Z",
        ),
    ];
    for (ev, want) in &cases {
        assert_eq!(s.ingest(ev).await, 1);
        let tag = ev["tag"].as_str().unwrap();
        let got = tagged(&s, tag).await;
        assert_eq!(got.len(), 1, "{tag}");
        assert_eq!(
            instant(&got[0]["timestamp"]),
            instant(&json!(want)),
            "{tag}: {}",
            got[0]
        );
    }

    // Missing: the receive time.
    let before = chrono::Utc::now();
    s.ingest(&json!({"tag": "tnow"})).await;
    let after = chrono::Utc::now();
    let got = tagged(&s, "tnow").await;
    let t = instant(&got[0]["timestamp"]);
    assert!(before <= t && t <= after, "{t} not in [{before}, {after}]");
    assert_eq!(got[0]["timestamp"], got[0]["received_at"]);

    // Unparseable: 400 naming the field, nothing stored.
    let total = s.event_total().await;
    for (field, value) in [
        ("timestamp", json!("yesterday")),
        ("@timestamp", json!("2025-13-45T00:00:00Z")),
        ("ts", json!(true)),
        ("ts", json!(-5)),
    ] {
        let r = s
            .post_json("/api/v1/events", &json!({ field: value, "tag": "bad-ts" }))
            .await;
        r.expect_error(400, "invalid_events");
        let d = &r.body["error"]["details"][0];
        assert_eq!(d["code"], "invalid_timestamp", "{}", r.text);
        assert_eq!(d["index"], 0);
        assert!(
            d["message"]
                .as_str()
                .unwrap()
                .contains(&format!("`{field}`")),
            "{}",
            r.text
        );
    }
    assert_eq!(s.event_total().await, total);
}

#[tokio::test]
async fn kind_service_and_user_are_normalized_and_payload_kept() {
    let s = start().await;
    // (payload, kind, service, user)
    let cases = [
        (
            json!({"tag": "k1", "level": "ERROR", "service": "api", "user_id": 42, "message": "m"}),
            "log",
            json!("api"),
            json!("42"),
        ),
        (
            json!({"tag": "k2", "cpu": 91.5, "service": "db"}),
            "metric",
            json!("db"),
            Value::Null,
        ),
        (
            json!({"tag": "k3", "latency_ms": 12}),
            "metric",
            Value::Null,
            Value::Null,
        ),
        (
            json!({"tag": "k4", "transaction_id": "t-1", "amount": 5, "user_id": "u9"}),
            "transaction",
            Value::Null,
            json!("u9"),
        ),
        (
            json!({"tag": "k5", "event_type": "login_failed", "user": "alice", "user_id": "other"}),
            "event",
            Value::Null,
            json!("alice"),
        ),
        (
            json!({"tag": "k6", "kind": "audit", "level": "x", "username": "bob"}),
            "audit",
            Value::Null,
            json!("bob"),
        ),
        (
            json!({"tag": "k7", "username": "carol", "user_id": 7}),
            "event",
            Value::Null,
            json!("7"),
        ),
        (
            json!({"tag": "k8", "nested": {"a": [1, {"b": null}]}, "kind": null, "user": null, "username": "dan"}),
            "event",
            Value::Null,
            json!("dan"),
        ),
    ];
    for (payload, kind, service, user) in &cases {
        s.ingest(payload).await;
        let tag = payload["tag"].as_str().unwrap();
        let got = tagged(&s, tag).await;
        assert_eq!(got.len(), 1, "{tag}");
        let e = &got[0];
        assert_eq!(&e["kind"], kind, "{tag}: {e}");
        assert_eq!(&e["service"], service, "{tag}: {e}");
        assert_eq!(&e["user"], user, "{tag}: {e}");
        assert_eq!(&e["payload"], payload, "{tag}: every field is kept as sent");
        // And the same through GET /events/{id}.
        let one = s.get(&format!("/api/v1/events/{}", e["id"])).await;
        assert_eq!(one.expect_status(200), e);
    }
}

#[tokio::test]
async fn batches_larger_than_the_queue_are_413() {
    let s = start_with(|c, _| c.ingest.queue_capacity = 5).await;
    let six: Vec<Value> = (0..6).map(|i| json!({"i": i})).collect();
    let r = s.post_json("/api/v1/events", &Value::Array(six)).await;
    r.expect_error(413, "payload_too_large");
    assert!(r.message().contains("queue_capacity"), "{}", r.text);
    let five: Vec<Value> = (0..5).map(|i| json!({"i": i})).collect();
    assert_eq!(s.ingest(&Value::Array(five)).await, 5);
    assert_eq!(s.event_total().await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_overload_answers_503_with_retry_after() {
    let s = start_with(|c, _| {
        c.ingest.queue_capacity = 10;
        c.ingest.retry_after_secs = 3;
    })
    .await;
    let mut set = tokio::task::JoinSet::new();
    for req in 0..50u64 {
        let client = s.client.clone();
        let url = s.url("/api/v1/events");
        let batch: Vec<Value> = (0..8).map(|i| json!({"req": req, "i": i})).collect();
        set.spawn(async move {
            let r = client.post(url).json(&batch).send().await.expect("send");
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Value = r.json().await.expect("json body");
            (req, status, retry, body)
        });
    }
    let mut accepted = Vec::new();
    let mut rejected = 0;
    while let Some(res) = set.join_next().await {
        let (req, status, retry, body) = res.unwrap();
        match status {
            202 => {
                assert_eq!(body, json!({"accepted": 8}));
                accepted.push(req);
            }
            503 => {
                assert_eq!(body["error"]["code"], "overloaded", "{body}");
                assert_eq!(retry.as_deref(), Some("3"));
                rejected += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert_eq!(accepted.len() + rejected, 50);
    assert!(rejected >= 1, "no request was refused");
    assert!(!accepted.is_empty(), "every request was refused");

    s.wait_for_detection().await;
    // Exactly the accepted requests' events are stored, 8 each.
    let r = s.get("/api/v1/events?page_size=500").await;
    let body = r.expect_status(200);
    assert_eq!(body["total"].as_u64().unwrap(), 8 * accepted.len() as u64);
    let mut per_req: BTreeMap<u64, usize> = BTreeMap::new();
    for e in body["items"].as_array().unwrap() {
        *per_req
            .entry(e["payload"]["req"].as_u64().unwrap())
            .or_default() += 1;
    }
    accepted.sort();
    assert_eq!(per_req.keys().copied().collect::<Vec<_>>(), accepted);
    assert!(per_req.values().all(|n| *n == 8), "{per_req:?}");

    // The queue drained: a new request is accepted again.
    assert_eq!(s.ingest(&json!({"after": true})).await, 1);
}
