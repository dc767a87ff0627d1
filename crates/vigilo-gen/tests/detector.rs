//! A simulated hour of generated traffic with incidents, run through the
//! real detector with the bundled rules: every rule fires, and only for the
//! users and services of injected incidents.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{Duration, TimeZone, Utc};
use vigilo_core::Event;
use vigilo_core::normalize::normalize;
use vigilo_detect::{Detector, RuleSet, bundled};
use vigilo_gen::{GenConfig, Generator, Incident};

#[test]
fn bundled_rules_fire_for_incidents_and_only_for_them() {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid date");
    let rate = 12.0;
    let mut generator = Generator::new(GenConfig {
        rate,
        incident_rate: 2.0,
        seed: Some(21),
        start: Some(start),
        ..GenConfig::default()
    });
    let rules = RuleSet::compile(&bundled()).expect("bundled rules compile");
    let mut detector = Detector::new(rules);

    let mut id = 0i64;
    // rule id -> group values of every finding it opened
    let mut fired: BTreeMap<String, Vec<BTreeMap<String, String>>> = BTreeMap::new();
    for step in 1..=(3600 * 5) {
        let now = start + Duration::milliseconds(step * 200);
        let due = (rate * step as f64 / 5.0).floor() as u64;
        let n = due.saturating_sub(generator.emitted()) as usize;
        for value in generator.next_batch(now, n) {
            id += 1;
            let new = normalize(value, now).expect("generated events normalize");
            let event = Event::from_new(id, new);
            for up in detector.process(&event) {
                if up.is_new {
                    fired
                        .entry(up.finding.rule_id.clone())
                        .or_default()
                        .push(up.finding.group.clone());
                }
            }
        }
    }

    let expected: BTreeSet<&str> = Incident::ALL
        .iter()
        .flat_map(|k| k.rule_ids().iter().copied())
        .collect();
    let got: BTreeSet<&str> = fired.keys().map(String::as_str).collect();
    assert_eq!(got, expected, "rules that fired");

    let own: HashSet<&str> = generator
        .injected()
        .iter()
        .flat_map(|i| i.users.iter().chain(&i.services))
        .map(String::as_str)
        .collect();
    for (rule, groups) in &fired {
        for group in groups {
            assert!(
                group.values().any(|v| own.contains(v.as_str())),
                "{rule} fired for {group:?}, which is no injected incident"
            );
        }
    }

    // One finding per incident of the rule's own kind (tiers fire once per
    // incident that reaches them).
    let mut per_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for inc in generator.injected() {
        if inc.end <= start + Duration::hours(1) {
            for r in inc.kind.rule_ids() {
                *per_rule.entry(r).or_default() += 1;
            }
        }
    }
    for (rule, groups) in &fired {
        let want = per_rule.get(rule.as_str()).copied().unwrap_or(0);
        assert!(
            groups.len() >= want,
            "{rule}: {} findings for {want} complete incidents",
            groups.len()
        );
    }
}
