//! Every rule of the identity pack: exact findings, boundaries, negatives.
mod common;
use common::*;
use serde_json::json;
use vigilo_core::Severity::*;

fn failures(first_id: i64, times: &[i64], user: &str) -> Vec<vigilo_core::Event> {
    times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            audit(
                first_id + i as i64,
                t,
                "login_failed",
                user,
                json!({"ip": "10.0.0.1", "method": "password"}),
            )
        })
        .collect()
}

#[test]
fn failed_login_tiers() {
    let mut d = detector(&identity());
    assert!(run(&mut d, &failures(1, &[0, 60], "bob")).is_empty());

    let times: Vec<i64> = (0..8).map(|i| i * 60).collect();
    let mut d = detector(&identity());
    let fs = run(&mut d, &failures(1, &times, "bob"));
    let all: Vec<i64> = (1..=8).collect();
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "identity.failed_logins_medium",
                &[("user", "bob")],
                &all,
                0,
                420,
                Medium
            ),
            expect(
                "identity.failed_logins_high",
                &[("user", "bob")],
                &all,
                0,
                420,
                High
            ),
            expect(
                "identity.failed_logins_critical",
                &[("user", "bob")],
                &all,
                0,
                420,
                Critical
            ),
        ]
    );

    // Exactly 4: only the medium tier.
    let mut d = detector(&identity());
    let fs = run(&mut d, &failures(1, &[0, 60, 120, 180], "bob"));
    assert_eq!(
        gots(&fs),
        vec![expect(
            "identity.failed_logins_medium",
            &[("user", "bob")],
            &[1, 2, 3, 4],
            0,
            180,
            Medium
        )]
    );
}

#[test]
fn failed_logins_spread_over_more_than_an_hour_are_quiet() {
    let mut d = detector(&identity());
    assert!(run(&mut d, &failures(1, &[0, 1800, 3601], "bob")).is_empty());
    let mut d = detector(&identity());
    let fs = run(&mut d, &failures(1, &[0, 1800, 3600], "bob"));
    assert_eq!(
        gots(&fs),
        vec![expect(
            "identity.failed_logins_medium",
            &[("user", "bob")],
            &[1, 2, 3],
            0,
            3600,
            Medium
        )]
    );
}

#[test]
fn failed_logins_are_per_user() {
    let mut events = failures(1, &[0, 10], "bob");
    events.extend(failures(3, &[20, 30], "eve"));
    let mut d = detector(&identity());
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn login_after_failures_in_order() {
    let mut events = failures(1, &[0, 60, 120], "bob");
    events.push(audit(
        4,
        180,
        "login_success",
        "bob",
        json!({"ip": "10.0.0.1"}),
    ));
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "identity.failed_logins_medium",
                &[("user", "bob")],
                &[1, 2, 3],
                0,
                120,
                Medium
            ),
            expect(
                "identity.login_after_failures",
                &[("user", "bob")],
                &[1, 2, 3, 4],
                0,
                180,
                Critical
            ),
        ]
    );
}

#[test]
fn login_after_failures_reversed_order_is_quiet() {
    let mut events = vec![audit(1, 0, "login_success", "bob", json!({}))];
    events.extend(failures(2, &[60, 120, 180], "bob"));
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "identity.failed_logins_medium",
            &[("user", "bob")],
            &[2, 3, 4],
            60,
            180,
            Medium
        )]
    );
}

#[test]
fn login_after_failures_needs_three_failures() {
    let mut events = failures(1, &[0, 60], "bob");
    events.push(audit(3, 120, "login_success", "bob", json!({})));
    let mut d = detector(&identity());
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn login_after_failures_window_is_thirty_minutes() {
    // Success 30 min after the third failure: still inside.
    let mut events = failures(1, &[0, 60, 120], "bob");
    events.push(audit(4, 120 + 1800, "login_success", "bob", json!({})));
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        fs.iter()
            .filter(|f| f.rule_id == "identity.login_after_failures")
            .count(),
        1
    );

    // 30 min + 1 s: outside.
    let mut events = failures(1, &[0, 60, 120], "bob");
    events.push(audit(4, 120 + 1801, "login_success", "bob", json!({})));
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "identity.failed_logins_medium",
            &[("user", "bob")],
            &[1, 2, 3],
            0,
            120,
            Medium
        )]
    );

    // Failures more than 30 min apart never make the sequence.
    let mut events = failures(1, &[0, 1000, 1900], "bob");
    events.push(audit(4, 1910, "login_success", "bob", json!({})));
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "identity.failed_logins_medium",
            &[("user", "bob")],
            &[1, 2, 3],
            0,
            1900,
            Medium
        )]
    );
}

#[test]
fn mfa_failure_tiers() {
    let mfa = |id: i64, t: i64| audit(id, t, "mfa_failed", "dana", json!({"method": "totp"}));
    let mut d = detector(&identity());
    assert!(run(&mut d, &[mfa(1, 0), mfa(2, 60)]).is_empty());

    let mut d = detector(&identity());
    let fs = run(&mut d, &[mfa(1, 0), mfa(2, 60), mfa(3, 120)]);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "identity.mfa_failures_medium",
            &[("user", "dana")],
            &[1, 2, 3],
            0,
            120,
            Medium
        )]
    );

    let mut d = detector(&identity());
    let events: Vec<_> = (0..5).map(|i| mfa(i + 1, i * 100)).collect();
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "identity.mfa_failures_medium",
                &[("user", "dana")],
                &[1, 2, 3, 4, 5],
                0,
                400,
                Medium
            ),
            expect(
                "identity.mfa_failures_high",
                &[("user", "dana")],
                &[1, 2, 3, 4, 5],
                0,
                400,
                High
            ),
        ]
    );

    // Spread over 10 min + 1 s.
    let mut d = detector(&identity());
    assert!(run(&mut d, &[mfa(1, 0), mfa(2, 300), mfa(3, 601)]).is_empty());
}

#[test]
fn privilege_escalation_approved_or_not() {
    let change = |id: i64, user: &str, extra: serde_json::Value| {
        audit(id, id * 10, "permission_changed", user, extra)
    };
    let events = vec![
        change(1, "u1", json!({"old_role": "viewer", "new_role": "admin"})),
        change(
            2,
            "u2",
            json!({"old_role": "viewer", "new_role": "admin", "approved_by": null}),
        ),
        change(
            3,
            "u3",
            json!({"old_role": "editor", "new_role": "admin", "approved_by": ""}),
        ),
        change(
            4,
            "u4",
            json!({"old_role": "viewer", "new_role": "admin", "approved_by": "carol"}),
        ),
        change(5, "u5", json!({"old_role": "admin", "new_role": "admin"})),
        change(6, "u6", json!({"old_role": "viewer", "new_role": "editor"})),
        change(7, "u7", json!({"new_role": "admin"})),
        change(
            8,
            "u8",
            json!({"old_role": "admin", "new_role": "admin", "approved_by": "carol"}),
        ),
    ];
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "identity.privilege_escalation_unapproved",
                &[("user", "u1")],
                &[1],
                10,
                10,
                Critical
            ),
            expect(
                "identity.privilege_escalation_unapproved",
                &[("user", "u2")],
                &[2],
                20,
                20,
                Critical
            ),
            expect(
                "identity.privilege_escalation_unapproved",
                &[("user", "u3")],
                &[3],
                30,
                30,
                Critical
            ),
            expect(
                "identity.privilege_escalation_approved",
                &[("user", "u4")],
                &[4],
                40,
                40,
                High
            ),
            expect(
                "identity.privilege_escalation_unapproved",
                &[("user", "u7")],
                &[7],
                70,
                70,
                Critical
            ),
        ]
    );
}

#[test]
fn tokens_admin_scope_and_expiry() {
    let token = |id: i64, user: &str, scopes: serde_json::Value, has_expiry: bool| {
        audit(
            id,
            id * 10,
            "api_token_created",
            user,
            json!({"scopes": scopes, "has_expiry": has_expiry}),
        )
    };
    let events = vec![
        token(1, "u1", json!(["repo:read", "admin:*"]), true),
        token(2, "u2", json!(["admin:org"]), true),
        token(3, "u3", json!(["repo:read"]), false),
        token(4, "u4", json!(["admin:*"]), false),
        token(5, "u5", json!(["repo:read"]), true),
        audit(
            6,
            60,
            "api_token_created",
            "u6",
            json!({"scopes": ["repo:read"]}),
        ),
    ];
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "identity.admin_token",
                &[("user", "u1")],
                &[1],
                10,
                10,
                Critical
            ),
            expect(
                "identity.token_without_expiry",
                &[("user", "u3")],
                &[3],
                30,
                30,
                High
            ),
            expect(
                "identity.admin_token",
                &[("user", "u4")],
                &[4],
                40,
                40,
                Critical
            ),
            expect(
                "identity.token_without_expiry",
                &[("user", "u4")],
                &[4],
                40,
                40,
                High
            ),
        ]
    );
}

#[test]
fn large_pr_and_prod_deploy() {
    let events = vec![
        audit(
            1,
            0,
            "pull_request_merged",
            "u1",
            json!({"repo": "core", "lines_changed": 400}),
        ),
        audit(
            2,
            10,
            "pull_request_merged",
            "u1",
            json!({"repo": "core", "lines_changed": 401}),
        ),
        audit(
            3,
            20,
            "deployment_failed",
            "u2",
            json!({"service": "api", "environment": "staging"}),
        ),
        audit(
            4,
            30,
            "deployment_failed",
            "u2",
            json!({"service": "api", "environment": "prod"}),
        ),
        audit(
            5,
            40,
            "deployment_succeeded",
            "u3",
            json!({"service": "api", "environment": "prod"}),
        ),
    ];
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect("identity.large_pr", &[("user", "u1")], &[2], 10, 10, High),
            expect(
                "identity.prod_deploy_failed",
                &[("user", "u2")],
                &[4],
                30,
                30,
                High
            ),
        ]
    );
    assert_eq!(fs[1].service.as_deref(), Some("api"));
}

#[test]
fn public_buckets() {
    let events = vec![
        audit(
            1,
            0,
            "storage_bucket_created",
            "u1",
            json!({"bucket_name": "logs", "public": true}),
        ),
        audit(
            2,
            10,
            "storage_bucket_created",
            "u2",
            json!({"bucket_name": "priv", "public": false}),
        ),
        audit(
            3,
            20,
            "storage_bucket_permission_changed",
            "u3",
            json!({"bucket_name": "x", "public": true}),
        ),
        audit(
            4,
            30,
            "storage_bucket_deleted",
            "u4",
            json!({"bucket_name": "y", "public": true}),
        ),
    ];
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "identity.public_bucket",
                &[("user", "u1")],
                &[1],
                0,
                0,
                Critical
            ),
            expect(
                "identity.public_bucket",
                &[("user", "u3")],
                &[3],
                20,
                20,
                Critical
            ),
        ]
    );
}

#[test]
fn activity_burst_more_than_300_in_an_hour() {
    let burst = |n: i64| -> Vec<vigilo_core::Event> {
        (0..n)
            .map(|i| audit(i + 1, i * 10, "file_viewed", "erin", json!({})))
            .collect()
    };
    let mut d = detector(&identity());
    assert!(run(&mut d, &burst(300)).is_empty());

    let mut d = detector(&identity());
    let fs = run(&mut d, &burst(301));
    assert_eq!(fs.len(), 1);
    let f = &fs[0];
    assert_eq!(f.rule_id, "identity.activity_burst");
    assert_eq!(f.severity, High);
    assert_eq!(f.event_count, 301);
    assert_eq!(f.evidence, (1..=100).collect::<Vec<i64>>());
    assert_eq!(got(f).first_seen, 0);
    assert_eq!(got(f).last_seen, 3000);

    // 301 events over more than an hour: never 301 in one window.
    let mut d = detector(&identity());
    let events: Vec<_> = (0..301)
        .map(|i| audit(i + 1, i * 13, "file_viewed", "erin", json!({})))
        .collect();
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn a_long_burst_keeps_bounded_window_state_and_the_same_incident() {
    // 5,000 events from one user in under an hour: one incident that grows,
    // while the one-hour window keeps only what `> 300` needs.
    let events: Vec<_> = (0..5_000)
        .map(|i| audit(i + 1, i / 2, "file_viewed", "erin", json!({})))
        .collect();
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    assert_eq!(fs.len(), 1, "{fs:#?}");
    assert_eq!(fs[0].rule_id, "identity.activity_burst");
    assert_eq!(fs[0].event_count, 5_000);
    assert_eq!(got(&fs[0]).first_seen, 0);
    assert_eq!(got(&fs[0]).last_seen, 2_499);

    let snapshot = d.export_windows();
    let kept: Vec<usize> = snapshot
        .windows
        .values()
        .flatten()
        .map(|(_, w)| match w {
            rsigma_eval::WindowState::EventCount { timestamps } => timestamps.len(),
            _ => 0,
        })
        .collect();
    assert!(!kept.is_empty());
    // The rule is `gte: 301`: the window keeps the newest 302 times.
    assert_eq!(kept, vec![302], "window state stays near the threshold");
    // And as many evidence references, not one per event of the hour.
    let refs: Vec<usize> = snapshot
        .event_ref_buffers
        .values()
        .flatten()
        .map(|(_, b)| b.refs().len())
        .collect();
    assert_eq!(refs, vec![302], "evidence stays near the threshold too");
}

#[test]
fn a_reopened_tier_takes_the_newest_hits_of_its_window_as_evidence() {
    // Ten failures a minute apart open all three tiers. After more than the
    // ten-minute suppression window one more failure reopens each tier while
    // the one-hour window still holds all eleven: each new incident takes
    // the newest threshold + 1 of them (4, 6, 9), not the whole window.
    let mut times: Vec<i64> = (0..10).map(|i| i * 60).collect();
    times.push(1_500);
    let mut d = detector(&identity());
    let fs = run(&mut d, &failures(1, &times, "bob"));
    let first: Vec<i64> = (1..=10).collect();
    let bob = |tier: &str, evidence: &[i64], seen: (i64, i64), sev| {
        let rule = format!("identity.failed_logins_{tier}");
        expect(&rule, &[("user", "bob")], evidence, seen.0, seen.1, sev)
    };
    assert_eq!(
        gots(&fs),
        vec![
            bob("medium", &first, (0, 540), Medium),
            bob("high", &first, (0, 540), High),
            bob("critical", &first, (0, 540), Critical),
            bob("medium", &[8, 9, 10, 11], (420, 1_500), Medium),
            bob("high", &[6, 7, 8, 9, 10, 11], (300, 1_500), High),
            bob(
                "critical",
                &(3..=11).collect::<Vec<_>>(),
                (120, 1_500),
                Critical
            ),
        ]
    );
}

#[test]
fn many_sign_ins_keep_one_closing_hit_and_still_follow_failures() {
    // 250 sign-ins (under the activity burst), then 3 failures and one
    // more sign-in, all within 30 minutes.
    let mut events: Vec<_> = (0..250)
        .map(|i| audit(i + 1, i * 4, "login_success", "sam", json!({})))
        .collect();
    for (k, t) in [1_100, 1_110, 1_120].into_iter().enumerate() {
        events.push(audit(1_001 + k as i64, t, "login_failed", "sam", json!({})));
    }
    events.push(audit(1_004, 1_130, "login_success", "sam", json!({})));
    let mut d = detector(&identity());
    let fs = run(&mut d, &events);
    let rules: Vec<&str> = fs.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(
        rules,
        vec![
            "identity.failed_logins_medium",
            "identity.login_after_failures"
        ]
    );
    let after = &fs[1];
    // The evidence is the failures and the sign-in that followed them, not
    // the 250 sign-ins before: a group keeps one closing hit's evidence.
    assert_eq!(
        got(after),
        expect(
            "identity.login_after_failures",
            &[("user", "sam")],
            &[1_001, 1_002, 1_003, 1_004],
            1_100,
            1_130,
            Critical
        )
    );

    let snapshot = d.export_windows();
    let closing: Vec<usize> = snapshot
        .windows
        .values()
        .flatten()
        .filter_map(|(_, w)| match w {
            rsigma_eval::WindowState::Temporal { rule_hits } => rule_hits
                .get("identity.base.login_success")
                .map(|h| h.len()),
            _ => None,
        })
        .collect();
    assert_eq!(closing, vec![1], "one sign-in kept, not 251");
}
