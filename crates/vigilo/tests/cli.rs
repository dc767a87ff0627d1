//! The binary's offline commands.

mod common;

use std::process::Command;

use common::{bin, repo_root};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(bin()).args(args).output().expect("run vigilo")
}

#[test]
fn rules_validate_accepts_the_bundled_packs() {
    let rules = repo_root().join("rules");
    let out = run(&["rules", "validate", rules.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rules OK"));
}

#[test]
fn rules_validate_reports_file_rule_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "title: Broken\nname: test.broken\nlogsource:\n  product: x\ndetection:\n  sel:\n    a: 1\n  condition: nope\nlevel: high\n",
    )
    .unwrap();
    let out = run(&["rules", "validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yml"), "{err}");
    assert!(err.contains("test.broken"), "{err}");
    assert!(err.contains("bad.yml:"), "line number missing: {err}");
}

#[test]
fn rules_test_checks_expectations() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    std::fs::write(
        &events,
        "{\"timestamp\":\"2025-01-01T00:00:00Z\",\"kind\":\"metric\",\"service\":\"api\",\"cpu\":10,\"latency_ms\":1500}\n",
    )
    .unwrap();
    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"[{"rule_id":"anomaly.high_latency","group":{"service":"api"},"event_count":1}]"#,
    )
    .unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"[{"rule_id":"anomaly.cpu_and_latency"}]"#).unwrap();
    let rules = repo_root().join("rules");
    let rules = rules.to_str().unwrap();
    let ev = events.to_str().unwrap();
    let out = run(&[
        "rules",
        "test",
        rules,
        "--events",
        ev,
        "--expect",
        good.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("anomaly.high_latency"));
    let out = run(&[
        "rules",
        "test",
        rules,
        "--events",
        ev,
        "--expect",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing: anomaly.cpu_and_latency"), "{err}");
    assert!(err.contains("unexpected: anomaly.high_latency"), "{err}");
}

#[test]
fn generate_out_is_reproducible_ndjson() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    for f in [&a, &b] {
        let out = run(&[
            "generate",
            "--out",
            f.to_str().unwrap(),
            "--count",
            "500",
            "--seed",
            "3",
            "--start",
            "2025-01-01T00:00:00Z",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert_eq!(text.lines().count(), 500);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["timestamp"].as_str().unwrap().starts_with("2025-01-01"));
    }
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["migrate", "--data-dir", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("vigilo.db").exists());
}

fn corpus(rel: &str) -> String {
    repo_root()
        .join("../shared/corpus/iam")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn iam_audit_formats_and_fail_on_gate() {
    let lab = corpus("cloudmapper/iam-get-account-authorization-details.json");
    let out = run(&["iam", "audit", &lab, "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert!(
        findings.iter().any(
            |f| f["check_id"] == "iam.role_trust_any_principal" && f["principal"] == "bad_role"
        )
    );

    let out = run(&["iam", "audit", &lab, "--fail-on", "high"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a high finding exists, so the gate fails"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("bad_role"));
    assert!(!table.contains('\x1b'), "no colour when not a terminal");

    let out = run(&["iam", "audit", &lab, "--format", "sarif"]);
    assert!(out.status.success());
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");

    let out = run(&["iam", "audit", &lab, "--fail-on", "bogus"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--fail-on"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"UserDetailList\": 5}").unwrap();
    let out = run(&["iam", "audit", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("UserDetailList"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
