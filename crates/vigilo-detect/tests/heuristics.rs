//! The heuristic risk score: one case per factor, and the explanation names
//! what triggered the rule and every term of the score.
mod common;

use common::*;
use serde_json::json;
use vigilo_detect::heuristics::{Criticality, RiskInputs, assess, triggers};
use vigilo_detect::{RuleSet, bundled};

fn inputs<'a>(rules: &'a RuleSet, id: &str, triggers: &'a [String]) -> RiskInputs<'a> {
    RiskInputs {
        rule: rules.rule(id).expect("bundled rule"),
        event_count: 1,
        principal: Some("alice"),
        principal_recent: 0,
        service: Some("payments"),
        service_recent: 0,
        service_criticality: None,
        triggers,
    }
}

#[test]
fn heuristic_table() {
    let rules = RuleSet::compile(&bundled()).unwrap();
    type Tweak = fn(&mut RiskInputs<'_>);
    // (rule, change to the inputs, score, a term the explanation must hold)
    let cases: &[(&str, Tweak, u8, &str)] = &[
        ("anomaly.large_amount", |_| {}, 80, "base 80: high severity"),
        (
            "anomaly.log_failed_keyword",
            |_| {},
            50,
            "base 50: medium severity",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.event_count = 12,
            55,
            "+5: 12 events",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.event_count = 150,
            60,
            "+10: 150 events",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.principal_recent = 1,
            55,
            "+5: user alice had 1 other finding in 7 days",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.principal_recent = 3,
            60,
            "+10: user alice had 3 other findings in 7 days",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.principal_recent = 40,
            65,
            "+15: user alice had 40",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.service_recent = 4,
            50,
            "base 50",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.service_recent = 6,
            55,
            "+5: service payments had 6 other findings",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.service_recent = 25,
            60,
            "+10: service payments had 25",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.service_criticality = Some(Criticality::Critical),
            60,
            "+10: service payments is critical",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.service_criticality = Some(Criticality::High),
            55,
            "+5: service payments is high",
        ),
        (
            "anomaly.log_failed_keyword",
            |i| i.service_criticality = Some(Criticality::Low),
            40,
            "-10: service payments is low",
        ),
        // The rule's own weight: sensitive rules gain 5 and stay high even on a low-criticality asset.
        (
            "identity.admin_token",
            |_| {},
            100,
            "+5: sensitive admin token",
        ),
        (
            "identity.privilege_escalation_approved",
            |i| i.service_criticality = Some(Criticality::Low),
            80,
            "sensitive rules stay at 80 or above",
        ),
        // Everything at once is capped.
        (
            "anomaly.large_amount",
            |i| {
                i.event_count = 200;
                i.principal_recent = 12;
                i.service_criticality = Some(Criticality::Critical);
            },
            100,
            "capped at 100",
        ),
    ];
    for (rule, tweak, score, term) in cases {
        let mut i = inputs(&rules, rule, &[]);
        tweak(&mut i);
        let a = assess(&i);
        assert_eq!(a.score, *score, "{rule}: {}", a.explanation);
        assert!(
            a.explanation.contains(term),
            "{rule}: `{term}` not in {}",
            a.explanation
        );
        // Every factor is named in the explanation.
        for f in &a.factors {
            assert!(a.explanation.contains(&f.label), "{}", a.explanation);
        }
    }
}

#[test]
fn explanation_names_amount_and_threshold() {
    let rules = RuleSet::compile(&bundled()).unwrap();
    let e = ev(
        1,
        0,
        json!({"kind": "transaction", "user_id": "u1", "amount": 12000, "currency": "EUR"}),
    );
    let t = triggers(&rules, "anomaly.large_amount", &e, 1);
    assert!(
        t.iter()
            .any(|l| l == "amount = 12000 (rule: amount gt 10000)"),
        "{t:?}"
    );
    let a = assess(&inputs(&rules, "anomaly.large_amount", &t));
    assert!(
        a.explanation.contains("amount = 12000"),
        "{}",
        a.explanation
    );
    assert!(a.explanation.contains("10000"), "{}", a.explanation);
}

#[test]
fn explanation_names_count_and_window() {
    let rules = RuleSet::compile(&bundled()).unwrap();
    let e = ev(
        1,
        0,
        json!({"kind": "transaction", "user_id": "u1", "amount": 3}),
    );
    let t = triggers(&rules, "anomaly.txn_burst", &e, 7);
    assert_eq!(t.len(), 1, "{t:?}");
    assert!(t[0].starts_with("7 events in 5m"), "{t:?}");
    assert!(t[0].contains("gte 5"), "{t:?}");
}
