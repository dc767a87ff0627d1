//! `GET /api/v1/metrics/series?limit=`: only the groups with the most
//! values in the range come back as series, and `groups_total` counts them
//! all.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-09-10T12:00:00Z";

fn keys(b: &Value) -> Vec<Value> {
    b["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| s["key"].clone())
        .collect()
}

#[tokio::test]
async fn series_are_capped_to_the_groups_with_the_most_values() {
    let s = start().await;
    // Service s00 has 1 value, s01 2, ... s11 12; events without a
    // service have 5 (the null-key group).
    let mut events = Vec::new();
    for i in 0..12 {
        for j in 0..=i {
            events
                .push(json!({"timestamp": ts(T, j * 7), "service": format!("s{i:02}"), "cpu": j}));
        }
    }
    for j in 0..5 {
        events.push(json!({"timestamp": ts(T, 4000 + j), "cpu": 1}));
    }
    s.ingest(&json!(events)).await;
    let url = |extra: &str| {
        format!(
            "/api/v1/metrics/series?field=cpu&group_by=service&agg=count&from=2025-09-10T11:30:00Z&to=2025-09-10T14:00:00Z&bucket=hour{extra}"
        )
    };

    let r = s.get(&url("")).await;
    let b = r.expect_status(200);
    assert_eq!(
        b["groups_total"], 13,
        "12 services and the events without one"
    );
    let got = keys(b);
    assert_eq!(got.len(), 10, "10 series by default");
    // s11..s05 (12..6 values), then the null group and s04 (5 each, the
    // tie to the smaller key, null first), then s03 (4).
    let mut want = vec![Value::Null];
    want.extend((3..12).map(|i| json!(format!("s{i:02}"))));
    assert_eq!(
        got, want,
        "the 10 groups with the most values, null first, then by key"
    );

    let r = s.get(&url("&limit=2")).await;
    let b = r.expect_status(200);
    assert_eq!(keys(b), [json!("s10"), json!("s11")]);
    assert_eq!(b["groups_total"], 13);
    assert_eq!(
        b["series"][1]["points"][1]["value"], 12.0,
        "values as before"
    );

    // s04 has 5 values like the null group: the tie goes to null.
    let r = s.get(&url("&limit=8")).await;
    let b = r.expect_status(200);
    let mut want = vec![Value::Null];
    want.extend((5..12).map(|i| json!(format!("s{i:02}"))));
    assert_eq!(keys(b), want);

    let r = s.get(&url("&limit=50")).await;
    assert_eq!(keys(r.expect_status(200)).len(), 13);

    let r = s
        .get("/api/v1/metrics/series?field=cpu&agg=count&from=2025-09-10T11:30:00Z&to=2025-09-10T14:00:00Z&bucket=hour&limit=1")
        .await;
    let b = r.expect_status(200);
    assert_eq!(b["groups_total"], 1, "group_by=none is one series");
    assert_eq!(keys(b), [Value::Null]);

    for bad in ["0", "51", "-1", "ten", ""] {
        let r = s.get(&url(&format!("&limit={bad}"))).await;
        let e = r.expect_status(400);
        assert_eq!(e["error"]["code"], "invalid_query", "limit={bad}");
    }
}
