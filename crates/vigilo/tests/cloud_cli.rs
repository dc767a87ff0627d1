//! `vigilo generate --source cloudtrail` and `vigilo rules test` over
//! CloudTrail files, through the real binary, with SigmaHQ's CloudTrail
//! rules (from `../shared` beside the repository).
mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::{Value, json};

fn cloudtrail_rules() -> String {
    let p = repo_root().join("../shared/corpus/sigmahq/rules/cloud/aws/cloudtrail");
    assert!(
        p.is_dir(),
        "{} (../shared beside the repository)",
        p.display()
    );
    p.to_str().expect("utf-8 path").to_string()
}

fn rule_ids(out: &std::process::Output) -> BTreeSet<String> {
    let findings: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json findings");
    findings
        .iter()
        .map(|f| f["rule_id"].as_str().expect("rule_id").to_string())
        .collect()
}

#[test]
fn rules_test_reads_generated_cloudtrail_and_cloudtrail_files() {
    let dir = tempfile::tempdir().unwrap();
    let rules = cloudtrail_rules();

    // Generated CloudTrail records, NDJSON, with incidents.
    let ndjson = dir.path().join("trail.ndjson");
    let ndjson = ndjson.to_str().unwrap();
    let out = run_cli(&[
        "generate",
        "--source",
        "cloudtrail",
        "--out",
        ndjson,
        "--count",
        "2000",
        "--rate",
        "20",
        "--incident-rate",
        "12",
        "--seed",
        "5",
        "--start",
        "2026-04-01T08:00:00Z",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = std::fs::read_to_string(ndjson).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2000);
    assert!(
        records
            .iter()
            .all(|r| r["eventVersion"] == "1.09" && r["eventTime"].is_string())
    );

    let out = run_cli(&[
        "rules", "test", &rules, "--events", ndjson, "--format", "json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let want: BTreeSet<String> = vigilo_gen::Source::CloudTrail
        .incidents()
        .iter()
        .map(|i| i.rule_id.to_string())
        .collect();
    assert_eq!(rule_ids(&out), want);

    // The same records as one pretty-printed CloudTrail file, as
    // CloudTrail's S3 objects hold them: the same findings.
    let file = dir.path().join("trail.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&json!({"Records": records})).unwrap(),
    )
    .unwrap();
    let out = run_cli(&[
        "rules",
        "test",
        &rules,
        "--events",
        file.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(rule_ids(&out), want);

    // A bad record is an error naming it.
    let bad = dir.path().join("bad.json");
    let mut broken = records[..3].to_vec();
    broken[2]["eventTime"] = json!("yesterday");
    std::fs::write(
        &bad,
        serde_json::to_string(&json!({"Records": broken})).unwrap(),
    )
    .unwrap();
    let out = run_cli(&["rules", "test", &rules, "--events", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("record 3: field `eventTime`"),
        "{}",
        stderr_of(&out)
    );
}
