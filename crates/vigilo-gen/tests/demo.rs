//! The demo's traffic on a simulated clock, run through the real detector
//! with the bundled packs: every rule that produces findings fires within
//! the first two minutes, and keeps firing for new incidents later.

use std::collections::{BTreeMap, HashSet};

use chrono::{Duration, TimeZone, Utc};
use vigilo_core::Event;
use vigilo_core::normalize::normalize;
use vigilo_detect::{Detector, RuleSet, bundled};
use vigilo_gen::{GenConfig, Generator};

/// What a simulated demo run produced.
struct Run {
    /// Seconds after the start at which each rule opened its first finding.
    first: BTreeMap<String, f64>,
    /// Findings opened per rule.
    findings: BTreeMap<String, usize>,
    /// Every finding opened, as (rule, seconds after the start).
    opened: Vec<(String, f64)>,
    /// The group values of every finding opened, as (rule, values).
    groups: Vec<(String, Vec<String>)>,
    generator: Generator,
}

/// Drives the generator as `vigilo_gen::send` does (a batch every 200 ms
/// holding what the rate makes due, stamped with the clock), for `secs`
/// seconds of event time, and feeds every event to the detector with the
/// bundled packs as ingest would.
fn run(cfg: GenConfig, secs: i64) -> Run {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid date");
    let rate = cfg.rate;
    let mut generator = Generator::new(GenConfig {
        seed: Some(cfg.seed.unwrap_or(17)),
        ..cfg
    });
    let rules = RuleSet::compile(&bundled()).expect("bundled rules compile");
    let mut detector = Detector::new(rules);
    let mut first = BTreeMap::new();
    let mut findings: BTreeMap<String, usize> = BTreeMap::new();
    let mut opened = Vec::new();
    let mut groups = Vec::new();
    let mut id = 0i64;
    for step in 0..=(secs * 5) {
        let now = start + Duration::milliseconds(step * 200);
        let due = (rate * step as f64 / 5.0).floor() as u64;
        let n = due.saturating_sub(generator.emitted()) as usize;
        for value in generator.next_batch(now, n) {
            id += 1;
            let new = normalize(value, now).expect("generated events normalize");
            let event = Event::from_new(id, new);
            for up in detector.process(&event) {
                if !up.is_new {
                    continue;
                }
                let rule = up.finding.rule_id;
                let t = (now - start).num_milliseconds() as f64 / 1000.0;
                first.entry(rule.clone()).or_insert(t);
                *findings.entry(rule.clone()).or_default() += 1;
                opened.push((rule.clone(), t));
                groups.push((rule, up.finding.group.into_values().collect()));
            }
        }
    }
    Run {
        first,
        findings,
        opened,
        groups,
        generator,
    }
}

/// Every bundled rule that can open a finding: correlations and detection
/// rules, less the helper rules that only feed correlations, and less the
/// rules over Vigilo's own audit trail (`identity.vigilo_*`), which real
/// sign-ins feed, not generated traffic.
fn finding_rules() -> Vec<String> {
    let rules = RuleSet::compile(&bundled()).expect("bundled rules compile");
    rules
        .rules()
        .iter()
        .filter(|r| r.emits_findings && !r.rule_id.starts_with("identity.vigilo_"))
        .map(|r| r.rule_id.clone())
        .collect()
}

#[test]
fn the_demo_fires_every_bundled_rule_within_two_minutes_and_again_later() {
    let expected = finding_rules();
    // 8 anomaly and 14 identity rules; the 9 helpers (`*.base.*`) only feed
    // correlations.
    assert_eq!(expected.len(), 22, "finding rules: {expected:?}");

    let secs = 600;
    let r = run(GenConfig::demo(), secs);
    for rule in &expected {
        eprintln!(
            "{rule:<44} first at {:>6} s, {:>3} findings in {secs} s",
            r.first
                .get(rule)
                .map_or("never".to_string(), |t| format!("{t:.1}")),
            r.findings.get(rule).copied().unwrap_or(0)
        );
    }
    let silent: Vec<&str> = expected
        .iter()
        .filter(|rule| r.first.get(rule.as_str()).is_none_or(|t| *t > 120.0))
        .map(String::as_str)
        .collect();
    assert!(
        silent.is_empty(),
        "{} of {} rules fired within 120 s; silent: {silent:?}",
        expected.len() - silent.len(),
        expected.len()
    );

    // Later rounds of incidents keep opening findings for every rule: four
    // rounds of 22 at 10 a minute fit in the next eight minutes.
    let mut later: BTreeMap<&str, usize> = BTreeMap::new();
    for (rule, t) in &r.opened {
        if *t > 120.0 {
            *later.entry(rule.as_str()).or_default() += 1;
        }
    }
    let rare: Vec<(&str, usize)> = expected
        .iter()
        .map(|rule| {
            (
                rule.as_str(),
                later.get(rule.as_str()).copied().unwrap_or(0),
            )
        })
        .filter(|(_, n)| *n < 3)
        .collect();
    assert!(
        rare.is_empty(),
        "rules with fewer than 3 findings between 120 and {secs} s: {rare:?}"
    );

    // Only incidents trip rules: normal traffic at the demo's rate stays
    // under every threshold.
    let own: HashSet<&str> = r
        .generator
        .injected()
        .iter()
        .flat_map(|i| i.users.iter().chain(&i.services))
        .map(String::as_str)
        .collect();
    for (rule, group) in &r.groups {
        assert!(
            group.iter().any(|v| own.contains(v.as_str())),
            "{rule} fired for {group:?}, which is no injected incident"
        );
    }
}
