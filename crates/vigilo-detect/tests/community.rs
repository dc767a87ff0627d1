//! The Sigma community's rules (SigmaHQ's `rules/` snapshot in the shared
//! corpus) loaded beside the bundled packs: over Vigilo's own generated
//! traffic (logsource `product: vigilo`) they must find nothing, and the
//! bundled packs must find exactly what they find alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use vigilo_core::logsource::{DeriveRules, assign};
use vigilo_core::{Event, Finding, Logsource};
use vigilo_detect::{Detector, RuleSet, RuleSource, bundled, evaluate_once};
use vigilo_gen::{GenConfig, Limit, write_ndjson};

fn sigmahq_rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigmahq/rules")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

/// Every SigmaHQ rule file that compiles on its own, and the errors of
/// those that do not (origin, message).
fn community() -> (Vec<RuleSource>, Vec<String>) {
    let root = sigmahq_rules_dir();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for f in files {
        let origin = f
            .strip_prefix(&root)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).expect("rule file");
        let source = RuleSource::new(format!("sigmahq/{origin}"), text);
        match RuleSet::compile(std::slice::from_ref(&source)) {
            Ok(_) => ok.push(source),
            Err(errors) => failed.extend(errors.iter().map(|e| e.to_string())),
        }
    }
    (ok, failed)
}

/// `n` events of `vigilo generate` traffic (incidents injected), stored the
/// way ingest stores them: normalized, logsource assigned (the default
/// `product: vigilo`, as the events name none).
fn generated(n: u64) -> Vec<Event> {
    let cfg = GenConfig {
        rate: 100.0,
        incident_rate: 6.0,
        seed: Some(11),
        start: Some(Utc.timestamp_opt(1_704_067_200, 0).single().expect("time")),
        ..GenConfig::default()
    };
    let mut buf = Vec::new();
    write_ndjson(&mut buf, cfg, Limit::Events(n)).expect("generate");
    let received = Utc.timestamp_opt(1_800_000_000, 0).single().expect("time");
    let text = String::from_utf8(buf).expect("utf-8");
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let value = serde_json::from_str(line).expect("json line");
            let mut e = vigilo_core::normalize::normalize(value, received).expect("event");
            assign(&Logsource::default(), &DeriveRules::default(), &mut e).expect("logsource");
            Event::from_new(i as i64 + 1, e)
        })
        .collect()
}

fn summary(findings: &[Finding]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in findings {
        *out.entry(f.rule_id.clone()).or_default() += 1;
    }
    out
}

#[test]
fn community_rules_find_nothing_in_vigilo_traffic_and_leave_the_packs_unchanged() {
    let (community, failed) = community();
    eprintln!(
        "sigmahq: {} rule files compile, {} errors",
        community.len(),
        failed.len()
    );
    for f in &failed {
        eprintln!("  {f}");
    }
    // The snapshot's 3,141 rule files all compile.
    assert!(failed.is_empty(), "{} errors", failed.len());
    assert!(community.len() > 3_000, "only {} load", community.len());

    let mut all = bundled();
    all.extend(community.iter().cloned());
    let rules = RuleSet::compile(&all).expect("packs and community rules compile together");
    assert!(rules.rules().len() > 3_000);
    assert_eq!(Detector::new(rules.clone()).evaluation_path(), "native");

    let events = generated(30_000);
    assert!(
        events
            .iter()
            .all(|e| e.logsource.product.as_deref() == Some("vigilo"))
    );

    let alone = evaluate_once(&bundled(), &events).expect("packs compile");
    let together = evaluate_once(&all, &events).expect("all compile");
    assert!(
        alone.len() >= 10,
        "the injected incidents make findings ({})",
        alone.len()
    );
    let community_findings: Vec<&Finding> = together
        .iter()
        .filter(|f| {
            rules
                .rules()
                .iter()
                .any(|r| r.rule_id == f.rule_id && r.origin.starts_with("sigmahq/"))
        })
        .collect();
    assert!(
        community_findings.is_empty(),
        "community findings: {:?}",
        summary(&together)
    );
    assert_eq!(summary(&together), summary(&alone));
    assert_eq!(together, alone);
}

#[test]
fn community_rules_route_only_to_their_own_logsource() {
    // The same events, each claiming to be something else: a Windows
    // process-creation event that is not one (no Image, no CommandLine...)
    // still only reaches Windows rules, whose conditions then decide.
    let (community, _) = community();
    let rules = RuleSet::compile(&community).expect("community rules compile together");
    let windows = rules
        .rules()
        .iter()
        .filter(|r| {
            r.logsource
                .product
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case("windows"))
        })
        .count();
    assert!(windows > 1_000, "{windows} windows rules");
    let mut events = generated(2_000);
    for e in &mut events {
        e.logsource = Logsource {
            product: Some("linux".into()),
            category: Some("process_creation".into()),
            service: None,
        };
    }
    let found = evaluate_once(&community, &events).expect("compile");
    for f in &found {
        let info = rules
            .rules()
            .iter()
            .find(|r| r.rule_id == f.rule_id)
            .expect("rule of a finding");
        assert!(
            vigilo_detect::logsource_compatible(&info.logsource, &events[0].logsource),
            "{} ({:?}) fired on a linux process_creation event",
            f.rule_id,
            info.logsource
        );
    }
}
