//! `GET /api/v1/dead-letters`: what the broker sources could not ingest.

mod common;

use base64::Engine;
use chrono::Utc;
use serde_json::json;
use vigilo_storage::NewDeadLetter;

async fn add(s: &common::TestServer, source: &str, raw: &[u8]) {
    s.state
        .storage
        .insert_dead_letter(NewDeadLetter {
            source: source.to_string(),
            location: "logs/0@12".to_string(),
            reason: "invalid JSON at line 1 column 2".to_string(),
            raw: raw.to_vec(),
            meta: json!({"key": "user-7"}),
            received_at: Utc::now(),
        })
        .await
        .expect("insert");
}

#[tokio::test]
async fn dead_letters_list_newest_first_with_bytes_and_counts() {
    let s = common::start().await;
    add(&s, "kafka", b"{oops").await;
    add(&s, "kafka", &[0xff, b'a']).await;
    add(&s, "amqp", b"[1,2]").await;

    let all = s.get("/api/v1/dead-letters").await;
    let body = all.expect_status(200);
    assert_eq!(body["total"], 3);
    assert_eq!(body["counts"], json!({"amqp": 1, "kafka": 2}));
    assert_eq!(body["items"][0]["source"], "amqp");

    let kafka = s.get("/api/v1/dead-letters?source=kafka&page_size=1").await;
    let body = kafka.expect_status(200);
    assert_eq!(body["total"], 2);
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1));
    let item = &body["items"][0];
    // Invalid UTF-8 shows replaced in the preview and exact in base64.
    assert_eq!(item["preview"], "\u{fffd}a");
    assert_eq!(item["size"], 2);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(item["raw_base64"].as_str().expect("base64"))
        .expect("valid base64");
    assert_eq!(raw, vec![0xff, b'a']);
    assert_eq!(item["meta"]["key"], "user-7");
    assert_eq!(item["location"], "logs/0@12");

    s.get("/api/v1/dead-letters?page_size=0")
        .await
        .expect_error(400, "invalid_query");
    let anon = s.send(s.anon.get(s.url("/api/v1/dead-letters"))).await;
    anon.expect_error(401, "unauthenticated");
}
