//! Every rule of the anomaly pack: exact findings, boundaries, negatives.
mod common;
use common::*;
use vigilo_core::Severity::*;

/// `n` ERROR logs from `service`, one per `step` seconds from `start`, each
/// from a different user so no per-user rule fires.
fn errors(first_id: i64, n: i64, start: i64, step: i64, service: &str) -> Vec<vigilo_core::Event> {
    (0..n)
        .map(|i| {
            log(
                first_id + i,
                start + i * step,
                service,
                "ERROR",
                "boom",
                &format!("u{}", first_id + i),
            )
        })
        .collect()
}

#[test]
fn error_spike_needs_twenty_errors() {
    let mut d = detector(&anomaly());
    assert!(run(&mut d, &errors(1, 19, 0, 5, "api")).is_empty());

    let mut d = detector(&anomaly());
    let fs = run(&mut d, &errors(1, 20, 0, 5, "api"));
    let ids: Vec<i64> = (1..=20).collect();
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.log_error_spike",
            &[("service", "api")],
            &ids,
            0,
            95,
            Critical
        )]
    );
}

#[test]
fn error_spike_window_is_three_minutes_inclusive() {
    // 19 errors at 0..18 and the 20th exactly 180 s after the first: fires.
    let mut events = errors(1, 19, 0, 1, "api");
    events.push(log(20, 180, "api", "ERROR", "boom", "u20"));
    let mut d = detector(&anomaly());
    let fs = run(&mut d, &events);
    let ids: Vec<i64> = (1..=20).collect();
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.log_error_spike",
            &[("service", "api")],
            &ids,
            0,
            180,
            Critical
        )]
    );

    // The 20th 181 s after the first: the first has left the window.
    let mut events = errors(1, 19, 0, 1, "api");
    events.push(log(20, 181, "api", "ERROR", "boom", "u20"));
    let mut d = detector(&anomaly());
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn error_spike_counts_per_service_and_only_errors() {
    let mut events = errors(1, 10, 0, 1, "api");
    events.extend(errors(11, 10, 10, 1, "web"));
    events
        .extend((0..10).map(|i| log(100 + i, 30 + i, "api", "WARNING", "slow", &format!("w{i}"))));
    let mut d = detector(&anomaly());
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn error_spike_keeps_one_finding_while_errors_continue() {
    let mut d = detector(&anomaly());
    let fs = run(&mut d, &errors(1, 30, 0, 5, "api"));
    let ids: Vec<i64> = (1..=30).collect();
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.log_error_spike",
            &[("service", "api")],
            &ids,
            0,
            145,
            Critical
        )]
    );
}

#[test]
fn failed_keyword_any_case_at_error_only() {
    let events = vec![
        log(1, 0, "billing", "ERROR", "Payment FAILED for order 7", "u1"),
        log(2, 10, "billing", "WARNING", "retry failed", "u1"),
        log(3, 20, "billing", "ERROR", "timeout", "u1"),
        log(4, 30, "billing", "INFO", "failed nothing", "u1"),
        log(5, 40, "billing", "error", "job Failed", "u2"),
        log(6, 50, "search", "ERROR", "index failed", "u3"),
    ];
    let mut d = detector(&anomaly());
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.log_failed_keyword",
                &[("service", "billing")],
                &[1, 5],
                0,
                40,
                Medium
            ),
            expect(
                "anomaly.log_failed_keyword",
                &[("service", "search")],
                &[6],
                50,
                50,
                Medium
            ),
        ]
    );
    assert_eq!(fs[0].service.as_deref(), Some("billing"));
    assert_eq!(fs[0].user.as_deref(), Some("u1"));
}

#[test]
fn user_burst_needs_ten_errors_or_warnings() {
    let burst = |n: i64| -> Vec<vigilo_core::Event> {
        (0..n)
            .map(|i| {
                let level = if i % 2 == 0 { "WARNING" } else { "ERROR" };
                log(i + 1, i * 10, &format!("svc{i}"), level, "boom", "alice")
            })
            .collect()
    };
    let mut d = detector(&anomaly());
    let mut events = burst(9);
    events.push(log(50, 95, "svcx", "INFO", "hello", "alice"));
    assert!(run(&mut d, &events).is_empty());

    let mut d = detector(&anomaly());
    let fs = run(&mut d, &burst(10));
    let ids: Vec<i64> = (1..=10).collect();
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.log_user_burst",
            &[("user_id", "alice")],
            &ids,
            0,
            90,
            Medium
        )]
    );
}

#[test]
fn user_burst_spread_over_more_than_three_minutes_is_quiet() {
    let events: Vec<_> = (0..10)
        .map(|i| log(i + 1, i * 21, "api", "WARNING", "slow", "bob"))
        .collect();
    let mut d = detector(&anomaly());
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn cpu_sustained_needs_five_samples_at_or_above_80() {
    let mut d = detector(&anomaly());
    let mut events: Vec<_> = (0..4)
        .map(|i| metric(i + 1, i * 60, "db", 80.0, 100))
        .collect();
    events.push(metric(5, 250, "db", 79.9, 100));
    assert!(run(&mut d, &events).is_empty());

    let mut d = detector(&anomaly());
    let events: Vec<_> = (0..5)
        .map(|i| metric(i + 1, i * 60, "db", 80.0 + i as f64, 100))
        .collect();
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.cpu_sustained",
            &[("service", "db")],
            &[1, 2, 3, 4, 5],
            0,
            240,
            High
        )]
    );

    // Spread over 5 min + 1 s: quiet.
    let mut d = detector(&anomaly());
    let events: Vec<_> = [0, 60, 120, 180, 301]
        .iter()
        .enumerate()
        .map(|(i, &t)| metric(i as i64 + 1, t, "db", 95.0, 100))
        .collect();
    assert!(run(&mut d, &events).is_empty());
}

#[test]
fn high_latency_above_1000() {
    let mut d = detector(&anomaly());
    let events = vec![
        metric(1, 0, "api", 10.0, 1000),
        metric(2, 10, "api", 10.0, 1001),
        metric(3, 20, "web", 10.0, 5000),
    ];
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.high_latency",
                &[("service", "api")],
                &[2],
                10,
                10,
                High
            ),
            expect(
                "anomaly.high_latency",
                &[("service", "web")],
                &[3],
                20,
                20,
                High
            ),
        ]
    );
}

#[test]
fn cpu_and_latency_together() {
    let mut d = detector(&anomaly());
    let events = vec![
        metric(1, 0, "api", 79.0, 2000),
        metric(2, 10, "web", 80.0, 1500),
        metric(3, 20, "db", 99.0, 900),
    ];
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.high_latency",
                &[("service", "api")],
                &[1],
                0,
                0,
                High
            ),
            expect(
                "anomaly.high_latency",
                &[("service", "web")],
                &[2],
                10,
                10,
                High
            ),
            expect(
                "anomaly.cpu_and_latency",
                &[("service", "web")],
                &[2],
                10,
                10,
                Critical
            ),
        ]
    );
}

#[test]
fn large_amount_above_10000() {
    let mut d = detector(&anomaly());
    let events = vec![
        txn(1, 0, "alice", 10000.0),
        txn(2, 10, "bob", 10000.01),
        txn(3, 20, "bob", 25000.0),
    ];
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.large_amount",
            &[("user_id", "bob")],
            &[2, 3],
            10,
            20,
            High
        )]
    );
}

#[test]
fn txn_burst_five_in_five_minutes() {
    let mut d = detector(&anomaly());
    let events: Vec<_> = (0..4).map(|i| txn(i + 1, i * 60, "carol", 10.0)).collect();
    assert!(run(&mut d, &events).is_empty());

    let mut d = detector(&anomaly());
    let events: Vec<_> = (0..5).map(|i| txn(i + 1, i * 60, "carol", 10.0)).collect();
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.txn_burst",
            &[("user_id", "carol")],
            &[1, 2, 3, 4, 5],
            0,
            240,
            Medium
        )]
    );

    let mut d = detector(&anomaly());
    let events: Vec<_> = [0, 60, 120, 180, 301]
        .iter()
        .enumerate()
        .map(|(i, &t)| txn(i as i64 + 1, t, "carol", 10.0))
        .collect();
    assert!(run(&mut d, &events).is_empty());

    // Different users do not add up.
    let mut d = detector(&anomaly());
    let events: Vec<_> = (0..10)
        .map(|i| txn(i + 1, i, if i % 2 == 0 { "x" } else { "y" }, 1.0))
        .collect();
    let fs = run(&mut d, &events);
    assert_eq!(
        gots(&fs),
        vec![
            expect(
                "anomaly.txn_burst",
                &[("user_id", "x")],
                &[1, 3, 5, 7, 9],
                0,
                8,
                Medium
            ),
            expect(
                "anomaly.txn_burst",
                &[("user_id", "y")],
                &[2, 4, 6, 8, 10],
                1,
                9,
                Medium
            ),
        ]
    );
}

#[test]
fn kind_is_inferred_for_events_without_it() {
    // The server infers `kind` from the fields; rules see the normalized kind.
    let e = ev(
        1,
        0,
        serde_json::json!({"service": "api", "cpu": 10, "latency_ms": 3000}),
    );
    assert_eq!(e.kind, "metric");
    assert!(!e.payload.contains_key("kind"));
    let mut d = detector(&anomaly());
    let fs = run(&mut d, &[e]);
    assert_eq!(
        gots(&fs),
        vec![expect(
            "anomaly.high_latency",
            &[("service", "api")],
            &[1],
            0,
            0,
            High
        )]
    );
}
