//! The metrics explorer: `GET /api/v1/metrics/series` and
//! `GET /api/v1/metrics/fields`, over rollups written by ingest.
mod common;

use common::*;
use serde_json::{Value, json};

const T: &str = "2025-09-10T12:00:00Z";

async fn seeded() -> TestServer {
    let s = start().await;
    let mut events = vec![
        json!({"timestamp": ts(T, 5), "service": "api", "cpu": 10, "latency_ms": 100}),
        json!({"timestamp": ts(T, 30), "service": "api", "cpu": 30}),
        json!({"timestamp": ts(T, 50), "service": "db", "cpu": 50}),
        json!({"timestamp": ts(T, 70), "service": "api", "cpu": 20}),
        json!({"timestamp": ts(T, 3600), "service": "db", "cpu": 90}),
        json!({"timestamp": ts(T, 10), "cpu": "not a number", "service": "api"}),
        json!({"timestamp": ts(T, 20), "source_id": "sensor-1", "metric_name": "temp", "value": 21.5}),
        json!({"timestamp": ts(T, 80), "source_id": "sensor-2", "metric_name": "temp", "value": 23.5}),
        json!({"timestamp": ts(T, 90), "source_id": "sensor-1", "metric_name": "humidity", "value": 40}),
        json!({"timestamp": ts(T, 40), "kind": "transaction", "transaction_id": "t1", "amount": 12.5}),
    ];
    // A known distribution for the quantiles: 1..=1000 ms in minute 3.
    for v in 1..=1000 {
        events.push(json!({"timestamp": ts(T, 180 + v % 60), "service": "web", "latency_ms": v}));
    }
    s.ingest(&json!(events)).await;
    s
}

fn points(series: &Value) -> Vec<Value> {
    series["points"]
        .as_array()
        .expect("points")
        .iter()
        .map(|p| p["value"].clone())
        .collect()
}

#[tokio::test]
async fn series_are_zero_filled_per_bucket_and_group() {
    let s = seeded().await;
    let r = s
        .get("/api/v1/metrics/series?field=cpu&group_by=service&agg=avg&from=2025-09-10T12:00:00Z&to=2025-09-10T12:05:00Z&bucket=minute")
        .await;
    let b = r.expect_status(200);
    assert_eq!(b["field"], "cpu");
    assert_eq!(b["agg"], "avg");
    assert_eq!(b["group_by"], "service");
    assert_eq!(b["bucket_seconds"], 60);
    assert_eq!(b["from"], "2025-09-10T12:00:00Z");
    assert_eq!(b["to"], "2025-09-10T12:05:00Z");
    let series = b["series"].as_array().unwrap();
    let keys: Vec<&Value> = series.iter().map(|s| &s["key"]).collect();
    assert_eq!(keys, [&json!("api"), &json!("db")]);
    assert_eq!(
        series[0]["points"][0]["time"], "2025-09-10T12:00:00Z",
        "every bucket, oldest first"
    );
    assert_eq!(
        points(&series[0]),
        [
            json!(20.0),
            json!(20.0),
            Value::Null,
            Value::Null,
            Value::Null
        ],
        "api: (10 + 30) / 2, then 20; empty buckets are null"
    );
    assert_eq!(
        points(&series[1]),
        [
            json!(50.0),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null
        ]
    );

    // Hours merge minutes; group_by=none is one series with a null key.
    let r = s
        .get("/api/v1/metrics/series?field=cpu&agg=max&from=2025-09-10T12:00:00Z&to=2025-09-10T14:00:00Z&bucket=hour")
        .await;
    let b = r.expect_status(200);
    assert_eq!(b["group_by"], "none");
    assert_eq!(b["series"].as_array().unwrap().len(), 1);
    assert_eq!(b["series"][0]["key"], Value::Null);
    assert_eq!(points(&b["series"][0]), [json!(50.0), json!(90.0)]);
    for (agg, want) in [("sum", 110.0), ("count", 4.0), ("min", 10.0)] {
        let r = s
            .get(&format!("/api/v1/metrics/series?field=cpu&agg={agg}&from=2025-09-10T12:00:00Z&to=2025-09-10T13:00:00Z&bucket=hour"))
            .await;
        assert_eq!(
            points(&r.expect_status(200)["series"][0]),
            [json!(want)],
            "{agg}"
        );
    }
    // Nothing in range: one series of nulls.
    let r = s
        .get("/api/v1/metrics/series?field=amount&from=2025-09-11T00:00:00Z&to=2025-09-11T00:03:00Z&bucket=minute")
        .await;
    let b = r.expect_status(200);
    assert_eq!(
        points(&b["series"][0]),
        [Value::Null, Value::Null, Value::Null]
    );
}

#[tokio::test]
async fn metric_name_and_source_id_split_the_series() {
    let s = seeded().await;
    let window = "from=2025-09-10T12:00:00Z&to=2025-09-10T12:02:00Z&bucket=minute";
    let r = s
        .get(&format!(
            "/api/v1/metrics/series?field=value&group_by=metric_name&agg=avg&{window}"
        ))
        .await;
    let b = r.expect_status(200);
    let got: Vec<(Value, Vec<Value>)> = b["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].clone(), points(s)))
        .collect();
    assert_eq!(
        got,
        vec![
            (json!("humidity"), vec![Value::Null, json!(40.0)]),
            (json!("temp"), vec![json!(21.5), json!(23.5)]),
        ]
    );
    let r = s
        .get(&format!(
            "/api/v1/metrics/series?field=value&group_by=source_id&agg=count&{window}"
        ))
        .await;
    let b = r.expect_status(200);
    let got: Vec<(Value, Vec<Value>)> = b["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["key"].clone(), points(s)))
        .collect();
    assert_eq!(
        got,
        vec![
            (json!("sensor-1"), vec![json!(1.0), json!(1.0)]),
            (json!("sensor-2"), vec![Value::Null, json!(1.0)]),
        ]
    );
    // Values without a service are the null-keyed series of group_by=service.
    let r = s
        .get(&format!(
            "/api/v1/metrics/series?field=value&group_by=service&agg=sum&{window}"
        ))
        .await;
    let b = r.expect_status(200);
    assert_eq!(b["series"].as_array().unwrap().len(), 1);
    assert_eq!(b["series"][0]["key"], Value::Null);
    assert_eq!(points(&b["series"][0]), [json!(21.5), json!(63.5)]);
}

#[tokio::test]
async fn quantiles_come_from_the_sketch_within_one_percent() {
    let s = seeded().await;
    for (agg, exact) in [("p50", 500.0), ("p95", 950.0), ("p99", 990.0)] {
        let r = s
            .get(&format!("/api/v1/metrics/series?field=latency_ms&group_by=service&agg={agg}&from=2025-09-10T12:03:00Z&to=2025-09-10T12:04:00Z&bucket=minute"))
            .await;
        let b = r.expect_status(200);
        let web = b["series"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == "web")
            .expect("web series");
        let got = web["points"][0]["value"].as_f64().expect("a value");
        assert!(
            (got - exact).abs() <= 0.01 * exact + 1.0,
            "{agg}: {got} vs {exact}"
        );
    }
}

#[tokio::test]
async fn fields_list_the_configured_fields_and_the_groups_seen() {
    let s = seeded().await;
    let r = s.get("/api/v1/metrics/fields").await;
    let b = r.expect_status(200);
    assert_eq!(b["fields"], json!(["cpu", "latency_ms", "amount", "value"]));
    assert_eq!(b["groups"]["service"], json!(["api", "db", "web"]));
    assert_eq!(b["groups"]["metric_name"], json!(["humidity", "temp"]));
    assert_eq!(b["groups"]["source_id"], json!(["sensor-1", "sensor-2"]));
}

#[tokio::test]
async fn configured_fields_are_the_only_ones_rolled_up_and_asked_for() {
    let s = start_with(|c, _| c.metrics.fields = vec!["cpu".into(), "queue_depth".into()]).await;
    // The test helper opens storage with its default options; the rollups
    // follow the storage's fields, the API the configuration's.
    let r = s.get("/api/v1/metrics/fields").await;
    assert_eq!(
        r.expect_status(200)["fields"],
        json!(["cpu", "queue_depth"])
    );
    let r = s.get("/api/v1/metrics/series?field=latency_ms").await;
    r.expect_error(400, "invalid_query");
    assert!(r.message().contains("`field`"), "{}", r.message());
    assert!(r.message().contains("`queue_depth`"), "{}", r.message());
}

#[tokio::test]
async fn bad_queries_are_400_naming_the_parameter() {
    let s = start().await;
    for (query, names) in [
        ("", "field"),
        ("field=nope", "field"),
        ("field=cpu&agg=p42", "agg"),
        ("field=cpu&group_by=user", "group_by"),
        ("field=cpu&bucket=week", "bucket"),
        ("field=cpu&from=soon", "from"),
        (
            "field=cpu&from=2025-09-11T00:00:00Z&to=2025-09-10T00:00:00Z",
            "from",
        ),
        (
            "field=cpu&from=2000-01-01T00:00:00Z&to=2025-01-01T00:00:00Z&bucket=minute",
            "bucket",
        ),
        ("field=cpu&page=1", "page"),
    ] {
        let r = s.get(&format!("/api/v1/metrics/series?{query}")).await;
        r.expect_error(400, "invalid_query");
        assert!(r.message().contains(names), "{query}: {}", r.message());
    }
    // Defaults: the last 24 hours by hour, avg, no grouping.
    let r = s.get("/api/v1/metrics/series?field=cpu").await;
    let b = r.expect_status(200);
    assert_eq!(
        (
            b["agg"].clone(),
            b["group_by"].clone(),
            b["bucket_seconds"].clone()
        ),
        (json!("avg"), json!("none"), json!(3600))
    );
    let n = b["series"][0]["points"].as_array().unwrap().len();
    assert!((24..=25).contains(&n), "{n} buckets");
}
