//! Incidents, replay, reload, errors and the bundled list.
mod common;
use common::*;
use serde_json::json;
use vigilo_core::Severity::*;
use vigilo_detect::{
    Detector, Evaluation, RuleKind, RuleSet, RuleSource, bundled, evaluate_once, risk,
};

/// A mixed historical stream touching both packs, interleaved.
fn mixed_stream() -> Vec<vigilo_core::Event> {
    let mut events = Vec::new();
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    for i in 0..25 {
        // ERROR spike on "api" (25 errors, 4 s apart), distinct users.
        events.push(log(
            next(),
            i * 4,
            "api",
            "ERROR",
            "upstream timeout",
            &format!("a{i}"),
        ));
        // Quiet traffic on another service.
        events.push(log(next(), i * 4 + 1, "web", "INFO", "ok", "w"));
        events.push(metric(next(), i * 4 + 2, "web", 20.0, 50));
    }
    // A "failed" error, sustained CPU on db with one very slow sample.
    events.push(log(next(), 110, "billing", "ERROR", "Charge failed", "c1"));
    for i in 0..5 {
        let latency = if i == 4 { 1200 } else { 300 };
        events.push(metric(next(), 120 + i * 30, "db", 90.0, latency));
    }
    // Transactions: one large, a burst of 5 for one user.
    events.push(txn(next(), 130, "t1", 50000.0));
    for i in 0..5 {
        events.push(txn(next(), 140 + i * 20, "t2", 20.0));
    }
    // Identity: failures then success, an unapproved escalation, a public bucket.
    for i in 0..3 {
        events.push(audit(
            next(),
            200 + i * 10,
            "login_failed",
            "mallory",
            json!({"ip": "1.2.3.4"}),
        ));
    }
    events.push(audit(
        next(),
        240,
        "login_success",
        "mallory",
        json!({"ip": "1.2.3.4"}),
    ));
    events.push(audit(
        next(),
        250,
        "permission_changed",
        "mallory",
        json!({"old_role": "viewer", "new_role": "admin"}),
    ));
    events.push(audit(
        next(),
        260,
        "storage_bucket_created",
        "mallory",
        json!({"bucket_name": "dump", "public": true}),
    ));
    events.push(audit(next(), 270, "login_success", "alice", json!({})));
    events
}

fn expected_mixed() -> Vec<Got> {
    // Ids: spike errors are 1, 4, 7, ... (every third id), 25 of them.
    let spike: Vec<i64> = (0..25).map(|i| 1 + i * 3).collect();
    vec![
        expect(
            "anomaly.log_error_spike",
            &[("service", "api")],
            &spike,
            0,
            96,
            Critical,
        ),
        expect(
            "anomaly.log_failed_keyword",
            &[("service", "billing")],
            &[76],
            110,
            110,
            Medium,
        ),
        expect(
            "anomaly.high_latency",
            &[("service", "db")],
            &[81],
            240,
            240,
            High,
        ),
        expect(
            "anomaly.cpu_and_latency",
            &[("service", "db")],
            &[81],
            240,
            240,
            Critical,
        ),
        expect(
            "anomaly.cpu_sustained",
            &[("service", "db")],
            &[77, 78, 79, 80, 81],
            120,
            240,
            High,
        ),
        expect(
            "anomaly.large_amount",
            &[("user_id", "t1")],
            &[82],
            130,
            130,
            High,
        ),
        expect(
            "anomaly.txn_burst",
            &[("user_id", "t2")],
            &[83, 84, 85, 86, 87],
            140,
            220,
            Medium,
        ),
        expect(
            "identity.failed_logins_medium",
            &[("user", "mallory")],
            &[88, 89, 90],
            200,
            220,
            Medium,
        ),
        expect(
            "identity.login_after_failures",
            &[("user", "mallory")],
            &[88, 89, 90, 91],
            200,
            240,
            Critical,
        ),
        expect(
            "identity.privilege_escalation_unapproved",
            &[("user", "mallory")],
            &[92],
            250,
            250,
            Critical,
        ),
        expect(
            "identity.public_bucket",
            &[("user", "mallory")],
            &[93],
            260,
            260,
            Critical,
        ),
    ]
}

#[test]
fn mixed_history_gives_exactly_the_expected_findings() {
    let events = mixed_stream();
    let mut d = detector(&all_packs());
    let fs = run(&mut d, &events);
    assert_eq!(gots(&fs), expected_mixed());

    // Replaying through a fresh detector gives the identical findings.
    let mut again = detector(&all_packs());
    assert_eq!(run(&mut again, &events), fs);

    // And the one-shot evaluation (rules test) agrees.
    let once = evaluate_once(&all_packs(), &events).expect("rules compile");
    assert_eq!(once, fs);

    // Risk and metadata are filled in.
    let esc = fs
        .iter()
        .find(|f| f.rule_id == "identity.privilege_escalation_unapproved")
        .unwrap();
    assert_eq!(esc.risk_score, 100);
    assert!(esc.explanation.contains("privilege"), "{}", esc.explanation);
    assert_eq!(esc.status, vigilo_core::FindingStatus::Open);
    assert_eq!(esc.id, 0);
    assert!(esc.tags.iter().any(|t| t == "attack.t1098"));
}

#[test]
fn a_streamed_evaluation_gives_the_same_findings_for_any_batch_size() {
    let events = mixed_stream();
    let per_event = run(&mut detector(&all_packs()), &events);
    assert_eq!(gots(&per_event), expected_mixed());
    for size in [1, 2, 7, 64, events.len()] {
        let rules = RuleSet::compile(&all_packs()).expect("rules compile");
        let mut evaluation = Evaluation::new(rules);
        for batch in events.chunks(size) {
            evaluation.feed(batch);
        }
        assert_eq!(evaluation.finish(), per_event, "batches of {size}");
    }
    let rules = RuleSet::compile(&all_packs()).expect("rules compile");
    let mut empty = Evaluation::new(rules);
    empty.feed(&[]);
    assert!(empty.finish().is_empty());
}

#[test]
fn findings_do_not_depend_on_wall_clock_or_receive_time() {
    let events = mixed_stream();
    let shifted: Vec<_> = events
        .iter()
        .cloned()
        .map(|mut e| {
            e.received_at = chrono::Utc::now();
            e
        })
        .collect();
    let a = evaluate_once(&all_packs(), &events).unwrap();
    let b = evaluate_once(&all_packs(), &shifted).unwrap();
    assert_eq!(a, b);
}

#[test]
fn incident_keys_are_stable_and_updates_carry_new_evidence() {
    let mut d = detector(&anomaly());
    let a = d.process(&log(1, 0, "billing", "ERROR", "x failed", "u"));
    assert_eq!(a.len(), 1);
    assert!(a[0].is_new);
    assert_eq!(a[0].new_evidence, vec![1]);
    let key = a[0].incident_key.clone();
    assert_eq!(
        key,
        format!(
            "anomaly.log_failed_keyword|{{\"service\":\"billing\"}}|{}",
            T0 * 1000
        )
    );
    let b = d.process(&log(2, 30, "billing", "ERROR", "y failed", "u"));
    assert_eq!(b.len(), 1);
    assert!(!b[0].is_new);
    assert_eq!(b[0].incident_key, key);
    assert_eq!(b[0].new_evidence, vec![2]);
    assert_eq!(b[0].finding.event_count, 2);
    assert_eq!(b[0].finding.evidence, vec![1, 2]);
}

#[test]
fn suppression_window_splits_incidents() {
    // Detection rule: 600 s after the last match still joins; 601 s opens a new one.
    let mut d = detector(&anomaly());
    let events = vec![
        log(1, 0, "billing", "ERROR", "a failed", "u"),
        log(2, 600, "billing", "ERROR", "b failed", "u"),
        log(3, 1201, "billing", "ERROR", "c failed", "u"),
    ];
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.log_failed_keyword",
                &[("service", "billing")],
                &[1, 2],
                0,
                600,
                Medium
            ),
            expect(
                "anomaly.log_failed_keyword",
                &[("service", "billing")],
                &[3],
                1201,
                1201,
                Medium
            ),
        ]
    );
}

#[test]
fn matches_that_interleave_two_incidents_all_count() {
    // History replayed out of order: t1, t2 a day later, t1 again, t2 again.
    // The second t1 match belongs to the first incident even though the
    // second one is newer; each incident counts both of its matches (a
    // key built from rule, group and first match used to be reused, and the
    // first incident's second match lost).
    let day = 86_400;
    let mut d = detector(&anomaly());
    let events = vec![
        log(1, 0, "billing", "ERROR", "a failed", "u"),
        log(2, day, "billing", "ERROR", "b failed", "u"),
        log(3, 0, "billing", "ERROR", "c failed", "u"),
        log(4, day, "billing", "ERROR", "d failed", "u"),
        log(5, 30, "billing", "ERROR", "e failed", "u"),
    ];
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.log_failed_keyword",
                &[("service", "billing")],
                &[1, 3, 5],
                0,
                30,
                Medium
            ),
            expect(
                "anomaly.log_failed_keyword",
                &[("service", "billing")],
                &[2, 4],
                day,
                day,
                Medium
            ),
        ]
    );
    assert_eq!(d.open_incidents(), 2);
}

#[test]
fn second_burst_after_the_window_makes_a_second_finding() {
    let burst = |first: i64, start: i64| -> Vec<vigilo_core::Event> {
        (0..20)
            .map(|i| {
                log(
                    first + i,
                    start + i,
                    "api",
                    "ERROR",
                    "boom",
                    &format!("u{}", first + i),
                )
            })
            .collect()
    };
    // Second burst 300 s later: inside the 10 min suppression window, same finding.
    let mut events = burst(1, 0);
    events.extend(burst(21, 300));
    let mut d = detector(&anomaly());
    let fs = run(&mut d, &events);
    let ids: Vec<i64> = (1..=40).collect();
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.log_error_spike",
            &[("service", "api")],
            &ids,
            0,
            319,
            Critical
        )]
    );

    // Second burst 1000 s later: a new finding with only its own events.
    let mut events = burst(1, 0);
    events.extend(burst(21, 1000));
    let mut d = detector(&anomaly());
    let fs = run(&mut d, &events);
    let a: Vec<i64> = (1..=20).collect();
    let b: Vec<i64> = (21..=40).collect();
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.log_error_spike",
                &[("service", "api")],
                &a,
                0,
                19,
                Critical
            ),
            expect(
                "anomaly.log_error_spike",
                &[("service", "api")],
                &b,
                1000,
                1019,
                Critical
            ),
        ]
    );
}

#[test]
fn suppression_is_settable_per_rule() {
    let rule = r#"
title: Short suppression
name: test.short
logsource: {product: vigilo}
detection:
  sel: {kind: log, level: ERROR}
  condition: sel
level: low
vigilo.group_by: [service]
vigilo.suppress: 1m
"#;
    let rules = RuleSet::compile(&[RuleSource::new("t.yml", rule)]).unwrap();
    assert_eq!(
        rules.rules()[0].suppression,
        std::time::Duration::from_secs(60)
    );
    let mut d = Detector::new(rules);
    let fs = run(
        &mut d,
        &[
            log(1, 0, "s", "ERROR", "x", "u"),
            log(2, 60, "s", "ERROR", "x", "u"),
            log(3, 121, "s", "ERROR", "x", "u"),
        ],
    );
    assert_eq!(
        gots(&fs),
        vec![
            expect("test.short", &[("service", "s")], &[1, 2], 0, 60, Low),
            expect("test.short", &[("service", "s")], &[3], 121, 121, Low),
        ]
    );
}

#[test]
fn evidence_is_capped_but_count_keeps_going() {
    let mut d = detector(&anomaly());
    let events: Vec<_> = (0..150)
        .map(|i| log(i + 1, i, "billing", "ERROR", "failed", &format!("u{i}")))
        .collect();
    let fs = run(&mut d, &events);
    let kw = fs
        .iter()
        .find(|f| f.rule_id == "anomaly.log_failed_keyword")
        .unwrap();
    assert_eq!(kw.event_count, 150);
    assert_eq!(kw.evidence, (1..=100).collect::<Vec<i64>>());
}

#[test]
fn restored_incidents_are_updated_not_duplicated() {
    let first = log(1, 0, "billing", "ERROR", "a failed", "u");
    let mut d = detector(&anomaly());
    let up = d.process(&first).remove(0);
    // Restart: a fresh detector learns the open incident from storage.
    let mut d = detector(&anomaly());
    d.restore_incidents([(up.incident_key.clone(), up.finding.clone())]);
    let next = d.process(&log(2, 100, "billing", "ERROR", "b failed", "u"));
    assert_eq!(next.len(), 1);
    assert!(!next[0].is_new);
    assert_eq!(next[0].incident_key, up.incident_key);
    assert_eq!(next[0].finding.evidence, vec![1, 2]);
    assert_eq!(next[0].finding.event_count, 2);
}

#[test]
fn reload_with_unchanged_rules_keeps_windows() {
    let mut d = detector(&anomaly());
    let events: Vec<_> = (0..20)
        .map(|i| log(i + 1, i, "api", "ERROR", "boom", &format!("u{i}")))
        .collect();
    assert!(run(&mut d, &events[..10]).is_empty());
    d.reload(RuleSet::compile(&anomaly()).unwrap());
    let fs = run(&mut d, &events[10..]);
    let ids: Vec<i64> = (1..=20).collect();
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.log_error_spike",
            &[("service", "api")],
            &ids,
            0,
            19,
            Critical
        )]
    );
    assert_eq!(d.match_counts().get("anomaly.base.log_error"), Some(&20));
    assert_eq!(d.match_counts().get("anomaly.log_error_spike"), Some(&1));
}

#[test]
fn reload_with_a_changed_correlation_resets_its_window_only() {
    let mut d = detector(&anomaly());
    let errors: Vec<_> = (0..20)
        .map(|i| log(i + 1, i, "api", "ERROR", "boom", &format!("u{i}")))
        .collect();
    let txns: Vec<_> = (0..5).map(|i| txn(100 + i, i, "carol", 1.0)).collect();
    run(&mut d, &errors[..10]);
    run(&mut d, &txns[..4]);

    let mut changed = anomaly();
    changed[0].text = changed[0].text.replace("gte: 20", "gte: 19");
    d.reload(RuleSet::compile(&changed).unwrap());

    // The spike's window restarted: 10 more errors are not enough (need 19).
    assert!(run(&mut d, &errors[10..]).is_empty());
    // The unchanged txn_burst kept its four transactions.
    let fs = run(&mut d, &txns[4..]);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.txn_burst",
            &[("user_id", "carol")],
            &[100, 101, 102, 103, 104],
            0,
            4,
            Medium
        )]
    );
}

#[test]
fn reload_keeps_open_incidents() {
    let mut d = detector(&anomaly());
    let a = d
        .process(&log(1, 0, "billing", "ERROR", "a failed", "u"))
        .remove(0);
    let mut changed = anomaly();
    changed[0].text = changed[0].text.replace("level: medium", "level: high");
    d.reload(RuleSet::compile(&changed).unwrap());
    let b = d
        .process(&log(2, 10, "billing", "ERROR", "b failed", "u"))
        .remove(0);
    assert!(!b.is_new);
    assert_eq!(b.incident_key, a.incident_key);
    assert_eq!(d.match_counts().get("anomaly.log_failed_keyword"), Some(&2));
    assert_eq!(
        d.rules()
            .iter()
            .find(|r| r.rule_id == "anomaly.log_failed_keyword")
            .unwrap()
            .severity,
        High
    );
}

#[test]
fn rule_metadata() {
    let rules = RuleSet::compile(&bundled()).unwrap();
    let spike = rules.rule("anomaly.log_error_spike").unwrap();
    assert_eq!(spike.kind, RuleKind::Correlation);
    assert_eq!(spike.group_by, vec!["service"]);
    assert_eq!(spike.timespan, Some(std::time::Duration::from_secs(180)));
    assert_eq!(spike.suppression, std::time::Duration::from_secs(600));
    assert_eq!(spike.origin, "rules/anomaly/logs.yml");
    assert!(spike.emits_findings);
    assert!(!rules.rule("anomaly.base.log_error").unwrap().emits_findings);
    assert!(
        !rules
            .rule("identity.base.login_failures_30m")
            .unwrap()
            .emits_findings
    );
    let emitting: Vec<&str> = rules
        .rules()
        .iter()
        .filter(|r| r.emits_findings)
        .map(|r| r.rule_id.as_str())
        .collect();
    // 8 anomaly rules, 14 identity rules over events, and one over
    // Vigilo's own audit trail.
    assert_eq!(emitting.len(), 8 + 14 + 1);
    for r in rules.rules() {
        assert!(
            r.emits_findings != r.rule_id.contains(".base."),
            "{} emits_findings={}",
            r.rule_id,
            r.emits_findings
        );
    }
}

#[test]
fn risk_scores() {
    let rules = RuleSet::compile(&bundled()).unwrap();
    let score = |id: &str| risk(rules.rule(id).unwrap()).0;
    assert_eq!(score("identity.admin_token"), 100);
    assert_eq!(score("identity.public_bucket"), 100);
    assert_eq!(score("identity.privilege_escalation_unapproved"), 100);
    assert_eq!(score("identity.privilege_escalation_approved"), 85);
    assert_eq!(score("identity.large_pr"), 80);
    assert_eq!(score("anomaly.log_failed_keyword"), 50);
    assert_eq!(score("anomaly.log_error_spike"), 95);
    let (_, why) = risk(rules.rule("identity.admin_token").unwrap());
    assert!(why.contains("admin token"), "{why}");
}

#[test]
fn bundled_list_matches_the_rules_directory() {
    fn walk(dir: &std::path::Path, root: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let mut on_disk = Vec::new();
    walk(&root.join("rules"), root, &mut on_disk);
    on_disk.sort();
    let mut listed: Vec<String> = vigilo_detect::BUNDLED_FILES
        .iter()
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, on_disk);
    for s in bundled() {
        let disk = std::fs::read_to_string(root.join(&s.origin)).unwrap();
        assert_eq!(disk, s.text, "{} differs from the bundled copy", s.origin);
    }
}

#[test]
fn detector_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<Detector>();
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<RuleSet>();
}

#[test]
fn small_event_count_thresholds_do_not_panic() {
    // `gte: 1` and `gte: 2` keep windows of 2 and 3 hits, fewer than the
    // smallest buffer a window used to reserve.
    for threshold in [1, 2, 3] {
        let text = format!(
            "title: Base\nname: t.base\nid: 0b4f5d0e-6f0a-4c1e-9a57-2f6f3c1d9e01\nlogsource: {{product: vigilo}}\n\
             detection:\n  sel:\n    event_type: login_failed\n  condition: sel\n---\n\
             title: Tier\nname: t.tier\ncorrelation:\n  type: event_count\n  rules: [t.base]\n  \
             group-by: [user]\n  timespan: 10m\n  condition:\n    gte: {threshold}\nlevel: high\n"
        );
        let mut d = detector(&[RuleSource::new("inline", text)]);
        let events: Vec<_> = (0..6)
            .map(|i| audit(i + 1, i * 10, "login_failed", "mallory", json!({})))
            .collect();
        let fs = run(&mut d, &events);
        let tier: Vec<_> = fs.iter().filter(|f| f.rule_id == "t.tier").collect();
        assert_eq!(tier.len(), 1, "gte {threshold}: {fs:?}");
        assert_eq!(tier[0].event_count, 6, "gte {threshold}");
    }
}
