//! Event logsources through a real server: the request's query parameters
//! or `X-Vigilo-Logsource` header, an event's own `logsource` object, the
//! configured derivation rules, the default `product: vigilo`, refused
//! values, the `GET /api/v1/events` filters, and a restart.
mod common;

use common::*;
use serde_json::{Value, json};

fn ls(v: &Value) -> Value {
    v["logsource"].clone()
}

/// POST `body` to `/api/v1/events?{query}` with optional header.
async fn post(s: &TestServer, query: &str, header: Option<&str>, body: &Value) -> Resp {
    let mut req = s
        .client
        .post(s.url(&format!("/api/v1/events?{query}")))
        .json(body);
    if let Some(h) = header {
        req = req.header("x-vigilo-logsource", h);
    }
    s.send(req).await
}

async fn items(s: &TestServer, query: &str) -> Vec<Value> {
    let r = s
        .get(&format!("/api/v1/events?page_size=500&{query}"))
        .await;
    r.expect_status(200)["items"]
        .as_array()
        .expect("items")
        .clone()
}

/// The `logsource` of the one stored event whose `n` is `n`.
async fn logsource_of(s: &TestServer, n: i64) -> Value {
    let all = items(s, "").await;
    let e = all
        .iter()
        .find(|e| e["payload"]["n"] == json!(n))
        .unwrap_or_else(|| panic!("event {n} stored: {all:?}"));
    ls(e)
}

#[tokio::test]
async fn query_header_event_object_and_default() {
    let s = start().await;
    // Nothing names a product: the default.
    s.ingest(&json!({"n": 1})).await;
    // Query parameters.
    let r = post(
        &s,
        "product=aws&service=cloudtrail",
        None,
        &json!([{"n": 2}, {"n": 3, "logsource": {"category": "api"}}]),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    // The header.
    let r = post(&s, "", Some("product=okta, service=okta"), &json!({"n": 4})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    // The event's object names another product: the request's service goes.
    let r = post(
        &s,
        "",
        Some("product=aws,service=cloudtrail"),
        &json!({"n": 5, "logsource": {"product": "gcp"}}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);

    assert_eq!(logsource_of(&s, 1).await, json!({"product": "vigilo"}));
    assert_eq!(
        logsource_of(&s, 2).await,
        json!({"product": "aws", "service": "cloudtrail"})
    );
    assert_eq!(
        logsource_of(&s, 3).await,
        json!({"product": "aws", "category": "api", "service": "cloudtrail"})
    );
    assert_eq!(
        logsource_of(&s, 4).await,
        json!({"product": "okta", "service": "okta"})
    );
    assert_eq!(logsource_of(&s, 5).await, json!({"product": "gcp"}));
    // The payload keeps the object as sent.
    let all = items(&s, "").await;
    let five = all.iter().find(|e| e["payload"]["n"] == json!(5)).unwrap();
    assert_eq!(five["payload"]["logsource"], json!({"product": "gcp"}));
    // And GET /events/{id} carries it.
    let one = s
        .get(&format!("/api/v1/events/{}", five["id"]))
        .await
        .expect_status(200)
        .clone();
    assert_eq!(ls(&one), json!({"product": "gcp"}));
}

#[tokio::test]
async fn invalid_logsources_are_refused_with_the_field_named() {
    let s = start().await;
    for (query, header, body, code, needle) in [
        (
            "product=AWS%20x",
            None,
            json!({"n": 1}),
            "invalid_logsource",
            "`product`",
        ),
        (
            "category=",
            None,
            json!({"n": 1}),
            "invalid_logsource",
            "`category`",
        ),
        (
            "produkt=aws",
            None,
            json!({"n": 1}),
            "invalid_query",
            "`produkt`",
        ),
        (
            "product=a&product=b",
            None,
            json!({"n": 1}),
            "invalid_logsource",
            "`product`",
        ),
        (
            "",
            Some("vendor=x"),
            json!({"n": 1}),
            "invalid_logsource",
            "x-vigilo-logsource",
        ),
        (
            "",
            Some("product=a/b"),
            json!({"n": 1}),
            "invalid_logsource",
            "`product`",
        ),
    ] {
        let r = post(&s, query, header, &body).await;
        r.expect_error(400, code);
        assert!(
            r.message().contains(needle),
            "{query} {header:?}: {}",
            r.message()
        );
    }
    // An event's bad object: invalid_events, the detail names the field.
    let r = post(
        &s,
        "",
        None,
        &json!([{"n": 1}, {"n": 2, "logsource": {"service": "has space"}}, {"logsource": "syslog"}]),
    )
    .await;
    r.expect_error(400, "invalid_events");
    let details = r.body["error"]["details"].as_array().expect("details");
    let got: Vec<(u64, &str)> = details
        .iter()
        .map(|d| (d["index"].as_u64().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![(1, "invalid_logsource"), (2, "invalid_logsource")]
    );
    assert!(
        details[0]["message"]
            .as_str()
            .unwrap()
            .contains("`logsource.service`")
    );
    assert_eq!(s.event_total().await, 0, "nothing stored");
}

#[tokio::test]
async fn config_rules_derive_dimensions_between_request_and_event() {
    let s = start_with(|c, _| {
        c.logsources.rules = serde_json::from_value(json!([
            {"when": {"kind": "log"}, "set": {"category": "application"}},
            {"when": {"EventID": 4688, "winlog.channel": "Security"},
             "set": {"product": "windows", "service": "security", "category": "process_creation"}},
        ]))
        .expect("rules");
    })
    .await;
    let r = post(
        &s,
        "product=acme&service=billing",
        None,
        &json!([
            {"n": 1, "level": "info"},
            {"n": 2, "EventID": "4688", "winlog": {"channel": "Security"}},
            {"n": 3, "level": "info", "logsource": {"category": "webserver"}},
            {"n": 4, "cpu": 3},
        ]),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(
        logsource_of(&s, 1).await,
        json!({"product": "acme", "category": "application", "service": "billing"})
    );
    assert_eq!(
        logsource_of(&s, 2).await,
        json!({"product": "windows", "category": "process_creation", "service": "security"})
    );
    assert_eq!(
        logsource_of(&s, 3).await,
        json!({"product": "acme", "category": "webserver", "service": "billing"})
    );
    assert_eq!(
        logsource_of(&s, 4).await,
        json!({"product": "acme", "service": "billing"})
    );
}

#[tokio::test]
async fn the_listing_filters_by_logsource_and_a_restart_keeps_it() {
    let mut s = start().await;
    s.ingest(&json!([{"n": 1}, {"n": 2}])).await;
    let r = post(
        &s,
        "product=aws&service=cloudtrail",
        None,
        &json!([{"n": 3}, {"n": 4, "logsource": {"category": "iam"}}]),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = post(
        &s,
        "product=acme",
        None,
        &json!({"n": 5, "service": "cloudtrail"}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);

    let ns = |v: Vec<Value>| {
        let mut n: Vec<i64> = v
            .iter()
            .map(|e| e["payload"]["n"].as_i64().unwrap())
            .collect();
        n.sort();
        n
    };
    assert_eq!(ns(items(&s, "product=vigilo").await), vec![1, 2]);
    assert_eq!(ns(items(&s, "product=aws").await), vec![3, 4]);
    assert_eq!(
        ns(items(&s, "logsource_service=cloudtrail").await),
        vec![3, 4]
    );
    // `service` is the event's own field, not the logsource's.
    assert_eq!(ns(items(&s, "service=cloudtrail").await), vec![5]);
    assert_eq!(ns(items(&s, "product=aws&category=iam").await), vec![4]);
    assert_eq!(ns(items(&s, "product=gcp").await), Vec::<i64>::new());
    let r = s.get("/api/v1/events?product=AW%20S").await;
    r.expect_error(400, "invalid_query");
    assert!(r.message().contains("`product`"), "{}", r.message());
    let r = s.get("/api/v1/events?logsource_service=").await;
    r.expect_error(400, "invalid_query");
    // The total agrees with the page.
    let r = s.get("/api/v1/events?product=aws&page_size=1").await;
    assert_eq!(r.expect_status(200)["total"], json!(2));
    // The export carries it.
    let r = s
        .get("/api/v1/events?format=csv&product=aws&category=iam")
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.text
            .lines()
            .next()
            .unwrap()
            .ends_with(",product,category,logsource_service"),
        "{}",
        r.text
    );
    assert!(r.text.contains(",aws,iam,cloudtrail"), "{}", r.text);

    // Restart on the same database.
    s.stop().await;
    let dir = s.data_dir();
    let server = bind(&dir, test_config(&dir)).await;
    let state = server.state();
    let key = make_key(&state, "again", &[vigilo_auth::Scope::Admin]).await;
    let base = format!("http://{}", server.local_addr());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    let client = client_with_key(&key);
    let page: Value = client
        .get(format!("{base}/api/v1/events?product=aws&category=iam"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], json!(1), "{page}");
    assert_eq!(
        page["items"][0]["logsource"],
        json!({"product": "aws", "category": "iam", "service": "cloudtrail"})
    );
    let _ = tx.send(());
    handle.await.unwrap().unwrap();
}

#[tokio::test]
async fn websocket_ingest_takes_the_handshake_logsource() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let s = start().await;
    let url = format!(
        "{}?api_key={}&product=aws&service=cloudtrail",
        s.url("/api/v1/ingest/ws").replace("http://", "ws://"),
        s.api_key
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.send(Message::Text(r#"{"n": 7}"#.into())).await.unwrap();
    let reply = ws.next().await.expect("reply").expect("message");
    let reply: Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(reply["ok"], json!(true), "{reply}");
    assert_eq!(
        logsource_of(&s, 7).await,
        json!({"product": "aws", "service": "cloudtrail"})
    );
    // A bad handshake logsource is refused before the upgrade.
    let bad = format!(
        "{}?api_key={}&product=a%20b",
        s.url("/api/v1/ingest/ws").replace("http://", "ws://"),
        s.api_key
    );
    let err = tokio_tungstenite::connect_async(bad).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(r) => assert_eq!(r.status(), 400),
        other => panic!("expected HTTP 400, got {other}"),
    }
}
