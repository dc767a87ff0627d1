//! Exports of `GET /api/v1/events` and `GET /api/v1/iam/audits` as CSV and
//! NDJSON, through a real server.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-09-10T12:00:00Z";

/// Events that exercise the CSV escaping: a comma, quotes, a line break
/// and would-be formulas.
fn tricky() -> Vec<Value> {
    vec![
        json!({"timestamp": ts(T, 1), "service": "api", "user": "=cmd|'/c calc'!A1",
               "message": "a, b and \"c\"\nnext line", "level": "INFO"}),
        json!({"timestamp": ts(T, 2), "service": "billing, eu", "user": "+ann",
               "message": "plain", "level": "INFO"}),
        json!({"timestamp": ts(T, 3), "service": "api", "user": "@bob", "cpu": -5,
               "level": "INFO"}),
        json!({"timestamp": ts(T, 4), "kind": "audit", "user": "-carl", "event_type": "x"}),
    ]
}

async fn export(s: &TestServer, query: &str) -> Resp {
    s.get(&format!("/api/v1/events?{query}")).await
}

/// (header, records) of a CSV body.
fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header = r
        .headers()
        .expect("csv header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .records()
        .map(|rec| {
            rec.expect("csv record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect();
    (header, rows)
}

#[tokio::test]
async fn csv_export_has_a_header_every_row_and_escapes_cells() {
    let s = start().await;
    s.ingest(&json!(tricky())).await;

    let r = export(&s, "format=csv").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "text/csv; charset=utf-8");
    let disposition = r.headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"events-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(r.text.ends_with("\r\n"), "records end with CRLF");
    let (header, rows) = parse_csv(&r.text);
    assert_eq!(
        header,
        [
            "id",
            "timestamp",
            "received_at",
            "kind",
            "service",
            "user",
            "payload",
            "product",
            "category",
            "logsource_service"
        ]
    );
    assert_eq!(rows.len(), 4);
    // Newest first, as listed.
    let listed = s.get("/api/v1/events?page_size=500").await;
    let items = listed.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    for (row, item) in rows.iter().zip(&items) {
        assert_eq!(row[0], item["id"].to_string());
        assert_eq!(row[1], item["timestamp"].as_str().unwrap());
        assert_eq!(row[3], item["kind"].as_str().unwrap());
        let payload: Value = serde_json::from_str(&row[6]).expect("payload is JSON text");
        assert_eq!(payload, item["payload"]);
    }
    let by_user = |u: &str| rows.iter().find(|r| r[5] == u).cloned();
    let first = by_user("'=cmd|'/c calc'!A1").expect("formula defused with a quote");
    assert_eq!(first[4], "api");
    let payload: Value = serde_json::from_str(&first[6]).unwrap();
    assert_eq!(payload["message"], "a, b and \"c\"\nnext line");
    assert_eq!(by_user("'+ann").unwrap()[4], "billing, eu");
    assert!(by_user("'@bob").is_some());
    let carl = by_user("'-carl").unwrap();
    assert_eq!(carl[4], "", "no service is an empty cell");
    // The raw text quotes what needs it.
    assert!(r.text.contains(",\"billing, eu\","), "{}", r.text);
}

#[tokio::test]
async fn ndjson_export_is_one_listed_event_per_line() {
    let s = start().await;
    s.ingest(&json!(tricky())).await;
    let listed = s.get("/api/v1/events?page_size=500").await;
    let items = listed.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();

    let r = export(&s, "format=ndjson").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".ndjson\"")
    );
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines, items);

    // The Accept header asks for the same; a browser's gets JSON.
    let accepted = s
        .send(
            s.client
                .get(s.url("/api/v1/events"))
                .header("accept", "application/x-ndjson"),
        )
        .await;
    assert_eq!(accepted.headers["content-type"], "application/x-ndjson");
    assert_eq!(accepted.text, r.text);
    let csv = s
        .send(
            s.client
                .get(s.url("/api/v1/events?kind=audit"))
                .header("accept", "text/csv"),
        )
        .await;
    assert_eq!(parse_csv(&csv.text).1.len(), 1);
    let browser = s
        .send(s.client.get(s.url("/api/v1/events")).header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ))
        .await;
    assert_eq!(browser.body["total"], 4);
}

#[tokio::test]
async fn an_export_holds_what_the_filters_select_whatever_the_paging() {
    let s = start().await;
    let mut batch = Vec::new();
    for i in 0..1200 {
        let service = ["api", "db", "web"][i as usize % 3];
        batch.push(json!({
            "timestamp": ts(T, i % 700),
            "service": service,
            "level": "INFO",
            "message": if i % 5 == 0 { "needle here" } else { "hay" },
            "n": i,
        }));
    }
    s.ingest(&json!(batch)).await;
    for filter in [
        "",
        "service=api",
        "q=NEEDLE",
        "service=db&q=needle&from=2025-09-10T12:02:00Z&to=2025-09-10T12:09:00Z",
        "service=nowhere",
    ] {
        let listed = s.get(&format!("/api/v1/events?page_size=1&{filter}")).await;
        let total = listed.expect_status(200)["total"].as_u64().unwrap();
        let r = export(&s, &format!("format=csv&page=2&page_size=3&{filter}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let (_, rows) = parse_csv(&r.text);
        assert_eq!(rows.len() as u64, total, "filter {filter:?}");
        let mut ids: Vec<i64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "no row twice");
    }
}

#[tokio::test]
async fn export_parameters_are_checked() {
    let s = start().await;
    export(&s, "format=xml")
        .await
        .expect_error(400, "invalid_query");
    export(
        &s,
        "format=csv&from=2025-09-11T00:00:00Z&to=2025-09-10T00:00:00Z",
    )
    .await
    .expect_error(400, "invalid_query");
    export(&s, "format=csv&page_size=0")
        .await
        .expect_error(400, "invalid_query");
    // Nothing selected: just the header.
    let r = export(&s, "format=csv").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text,
        "id,timestamp,received_at,kind,service,user,payload,product,category,logsource_service\r\n"
    );
    let r = export(&s, "format=ndjson").await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
}

#[tokio::test]
async fn a_hundred_thousand_events_stream_in_chunks() {
    let s = start().await;
    let total = 100_000usize;
    for start in (0..total).step_by(10_000) {
        let body: String = (start..start + 10_000)
            .map(|i| {
                format!(
                    "{{\"timestamp\":\"{}\",\"service\":\"svc-{}\",\"level\":\"INFO\",\"message\":\"row {i}\"}}\n",
                    ts(T, (i / 10) as i64),
                    i % 7
                )
            })
            .collect();
        let r = s
            .post_raw("/api/v1/events", body, Some("application/x-ndjson"), None)
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
    let mut resp = s
        .client
        .get(s.url("/api/v1/events?format=csv"))
        .send()
        .await
        .expect("export answered");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers().get("content-length").is_none(),
        "streamed, not buffered: {:?}",
        resp.headers()
    );
    let mut chunks = 0usize;
    let mut bytes = 0usize;
    let mut lines = 0usize;
    let mut last_id = i64::MAX;
    let mut tail = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        chunks += 1;
        bytes += chunk.len();
        tail.extend_from_slice(&chunk);
        // Whole lines only (no field here holds a line break).
        let cut = tail.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        for line in tail[..cut].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            lines += 1;
            if lines == 1 {
                continue;
            }
            let id: i64 = std::str::from_utf8(line)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            // Times run in id order here, so newest first is id order.
            assert!(id < last_id, "rows in listing order");
            last_id = id;
        }
        tail.drain(..cut);
    }
    assert!(tail.is_empty());
    assert_eq!(lines, total + 1, "header + every event");
    assert!(
        chunks >= total / 500,
        "{chunks} chunks for {bytes} bytes: one page at a time"
    );
}

#[tokio::test]
async fn iam_audits_export_as_csv_and_ndjson() {
    let s = start().await;
    for name in ["alice", "bob,jr", "=carol"] {
        let doc = json!({"users": [{"name": name, "mfa_enabled": false, "is_root": true, "permissions": ["*"]}]});
        let r = s.post_json("/api/v1/iam/audits", &doc).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let listed = s.get("/api/v1/iam/audits?page_size=500").await;
    let items = listed.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(items.len(), 3);

    let r = s.get("/api/v1/iam/audits?format=ndjson").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"iam-audits-")
    );
    let lines: Vec<Value> = r
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines, items, "as listed, without reports");

    let r = s
        .send(
            s.client
                .get(s.url("/api/v1/iam/audits?page=9"))
                .header("accept", "text/csv"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (header, rows) = parse_csv(&r.text);
    assert_eq!(
        header,
        ["id", "created_at", "source", "input_format", "summary"]
    );
    assert_eq!(rows.len(), 3);
    for (row, item) in rows.iter().zip(&items) {
        assert_eq!(row[0], item["id"].to_string());
        let summary: Value = serde_json::from_str(&row[4]).unwrap();
        assert_eq!(summary, item["summary"]);
    }
    s.get("/api/v1/iam/audits?format=pdf")
        .await
        .expect_error(400, "invalid_query");
}
