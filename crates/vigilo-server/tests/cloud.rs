//! Native cloud audit logs through a real server with SigmaHQ's whole
//! `rules/` directory loaded (from `../shared` beside the repository):
//! generated CloudTrail traffic posted as CloudTrail files
//! (`{"Records": [...]}`, one of them gzipped), Okta and GitHub traffic as
//! NDJSON with no logsource given; every record is stored with its shape's
//! logsource and exactly the injected incidents' rules produce findings.
mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use chrono::{TimeZone, Utc};
use common::*;
use serde_json::{Value, json};
use vigilo_gen::{GenConfig, Generator, Source};

fn generated(source: Source, events: usize) -> Vec<Value> {
    let start = Utc.with_ymd_and_hms(2026, 4, 1, 8, 0, 0).unwrap();
    let rate = 40.0;
    let mut generator = Generator::new(GenConfig {
        rate,
        incident_rate: 12.0,
        seed: Some(11),
        start: Some(start),
        source,
        ..GenConfig::default()
    });
    let mut out = Vec::new();
    let mut now = start;
    while out.len() < events {
        now += chrono::Duration::milliseconds(10_000);
        out.extend(generator.next_batch(now, 400));
    }
    out.truncate(events);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigmahq_rules_over_native_cloud_logs_through_the_server() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigmahq/rules");
    assert!(
        rules.is_dir(),
        "{} (../shared beside the repository)",
        rules.display()
    );
    let s = start_with(|c, _| c.rules = vec![rules]).await;
    let mut sent = 0u64;

    // CloudTrail: files of 100 records, as CloudTrail writes them to S3.
    let trail = generated(Source::CloudTrail, 3_000);
    for (i, chunk) in trail.chunks(100).enumerate() {
        let body = serde_json::to_vec(&json!({"Records": chunk})).unwrap();
        let r = if i == 0 {
            s.post_raw(
                "/api/v1/events",
                gzip(&body),
                Some("application/json"),
                Some("gzip"),
            )
            .await
        } else {
            s.post_raw("/api/v1/events", body, Some("application/json"), None)
                .await
        };
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(
            r.body["accepted"].as_u64(),
            Some(chunk.len() as u64),
            "{}",
            r.text
        );
        sent += chunk.len() as u64;
    }
    // Okta and GitHub: NDJSON, nothing said about the logsource.
    for source in [Source::Okta, Source::GitHub] {
        let events = generated(source, 3_000);
        for chunk in events.chunks(1000) {
            let mut body = Vec::new();
            for v in chunk {
                serde_json::to_writer(&mut body, v).unwrap();
                body.push(b'\n');
            }
            let r = s
                .post_raw("/api/v1/events", body, Some("application/x-ndjson"), None)
                .await;
            assert_eq!(r.status, 202, "{}", r.text);
            sent += chunk.len() as u64;
        }
    }
    s.wait_for_detection().await;
    assert_eq!(s.event_total().await, sent);

    // Each record is stored with its shape's logsource, kind and time.
    let r = s.get("/api/v1/events?page_size=1&product=aws").await;
    assert_eq!(
        r.expect_status(200)["total"].as_u64(),
        Some(trail.len() as u64)
    );
    let e = &r.body["items"][0];
    assert_eq!(
        e["logsource"],
        json!({"product": "aws", "service": "cloudtrail"})
    );
    assert_eq!(e["kind"], "audit");
    assert!(e["payload"]["eventTime"].is_string());
    for product in ["okta", "github"] {
        let r = s
            .get(&format!("/api/v1/events?page_size=1&product={product}"))
            .await;
        assert_eq!(
            r.expect_status(200)["total"].as_u64(),
            Some(3_000),
            "{product}"
        );
    }

    let got: BTreeSet<String> = s
        .findings("")
        .await
        .iter()
        .map(|f| f["rule_id"].as_str().expect("rule_id").to_string())
        .collect();
    let want: BTreeSet<String> = [Source::CloudTrail, Source::Okta, Source::GitHub]
        .iter()
        .flat_map(|src| src.incidents().iter().map(|i| i.rule_id.to_string()))
        .collect();
    assert_eq!(
        got, want,
        "rules with findings (left) against the injected incidents' rules"
    );
}
