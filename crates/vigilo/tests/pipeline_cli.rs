//! `vigilo rules test --pipeline` and `rules validate --pipeline` through
//! the real binary, on a SigmaHQ regression case as stored (EVTX as JSON,
//! pretty-printed), from `../shared` beside the repository.
mod common;

use common::*;

const CASE: &str = "proc_creation_win_curl_custom_user_agent";
const ID: &str = "85de1f22-d189-44e4-8239-dc276b45379b";

fn findings(o: &std::process::Output) -> Vec<serde_json::Value> {
    serde_json::from_slice(&o.stdout).expect("json findings")
}

#[test]
fn the_windows_pipeline_makes_a_sysmon_rule_match_the_stored_event() {
    let sigma = repo_root().join("../shared/corpus/sigmahq");
    assert!(
        sigma.is_dir(),
        "{} (../shared beside the repository)",
        sigma.display()
    );
    let rule = sigma.join(format!("rules/windows/process_creation/{CASE}.yml"));
    let events = sigma.join(format!(
        "regression_data/rules/windows/process_creation/{CASE}/{ID}.json"
    ));
    let (rule, events) = (rule.to_str().unwrap(), events.to_str().unwrap());
    let base = [
        "rules",
        "test",
        rule,
        "--events",
        events,
        "--product",
        "windows",
        "--format",
        "json",
    ];

    let out = run_cli(&[&base[..], &["--pipeline", "windows"]].concat());
    assert!(out.status.success(), "{}", stderr_of(&out));
    let f = findings(&out);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["rule_id"], ID);

    // Without the pipeline the rule's field names are not the event's.
    let out = run_cli(&base);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(findings(&out).len(), 0);

    // A pipeline file works like the shipped name.
    let file = repo_root().join("pipelines/windows.yml");
    let out = run_cli(&[&base[..], &["--pipeline", file.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(findings(&out).len(), 1);

    let out = run_cli(&["rules", "validate", rule, "--pipeline", "windows"]);
    assert!(out.status.success(), "{}", stderr_of(&out));

    // An unsupported transformation is an error naming it.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "name: bad\ntransformations:\n  - type: query_expression_placeholders\n    expression: \"{field}\"\n",
    )
    .unwrap();
    let out = run_cli(&[
        "rules",
        "validate",
        rule,
        "--pipeline",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("query_expression_placeholders"),
        "{}",
        stderr_of(&out)
    );
}
