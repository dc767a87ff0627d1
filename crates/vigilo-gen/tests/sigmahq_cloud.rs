//! SigmaHQ's whole `rules/` directory (from `../shared` beside the
//! repository) over generated CloudTrail, Okta, GitHub, Azure (activity and
//! sign-in logs) and Google Cloud (audit logs and Workspace login events)
//! traffic: exactly the rules of the injected incidents fire, each at least
//! once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use vigilo_core::Event;
use vigilo_core::cloud::unpack_assigned;
use vigilo_core::event::Logsource;
use vigilo_core::logsource::DeriveRules;
use vigilo_detect::{Evaluation, RuleSet, RuleSource};
use vigilo_gen::{GenConfig, Generator, Source};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigmahq/rules")
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e} (../shared beside the repository)", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

fn sigmahq() -> RuleSet {
    let mut files = Vec::new();
    yaml_files(&rules_dir(), &mut files);
    assert!(files.len() > 2500, "only {} rule files", files.len());
    let sources: Vec<RuleSource> = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("rule file");
            RuleSource::new(p.display().to_string(), text)
        })
        .collect();
    RuleSet::compile(&sources).unwrap_or_else(|errors| {
        panic!(
            "{} rules do not compile, first: {}",
            errors.len(),
            errors[0]
        )
    })
}

/// The rule ids that fire over `events` generated events of `source`.
fn fired(rules: RuleSet, source: Source, events: usize) -> BTreeSet<String> {
    let start = Utc.with_ymd_and_hms(2026, 4, 1, 8, 0, 0).unwrap();
    let rate = 40.0;
    let mut generator = Generator::new(GenConfig {
        rate,
        incident_rate: 12.0,
        seed: Some(7),
        start: Some(start),
        source,
        ..GenConfig::default()
    });
    let mut evaluation = Evaluation::new(rules);
    let mut id = 0;
    let mut now = start;
    let batch = 400;
    while (id as usize) < events {
        now += chrono::Duration::milliseconds((batch as f64 / rate * 1000.0) as i64);
        let normalized = read_as_ingest(&mut generator, now, batch);
        let stored: Vec<Event> = normalized
            .into_iter()
            .map(|e| {
                id += 1;
                Event::from_new(id, e)
            })
            .collect();
        evaluation.feed(&stored);
    }
    evaluation.finish().into_iter().map(|f| f.rule_id).collect()
}

#[test]
fn sigmahq_rules_catch_exactly_the_injected_cloud_incidents() {
    let rules = sigmahq();
    for source in [
        Source::CloudTrail,
        Source::Okta,
        Source::GitHub,
        Source::Azure,
        Source::Gcp,
    ] {
        let want: BTreeSet<String> = source
            .incidents()
            .iter()
            .map(|i| i.rule_id.to_string())
            .collect();
        let got = fired(rules.clone(), source, 20_000);
        let titles = |ids: &BTreeSet<String>| -> Vec<String> {
            ids.iter()
                .map(|id| {
                    rules
                        .rule(id)
                        .map_or(id.clone(), |r| format!("{} ({id})", r.title))
                })
                .collect()
        };
        assert_eq!(
            titles(&got),
            titles(&want),
            "{source}: rules that fired (left) against the injected incidents' rules (right)"
        );
    }
}

/// The generator's next `n` records as ingest reads them (native shapes
/// unpacked, no logsource named by the request).
fn read_as_ingest(
    generator: &mut Generator,
    now: chrono::DateTime<Utc>,
    n: usize,
) -> Vec<vigilo_core::NewEvent> {
    let mut normalized = Vec::new();
    for v in generator.next_batch(now, n) {
        unpack_assigned(
            v,
            &Logsource::default(),
            &DeriveRules::default(),
            now,
            &mut normalized,
        )
        .expect("generated events are valid");
    }
    normalized
}

/// The (product, service) logsources the ingest side gives `events`
/// generated events of `source`, read with no logsource named.
fn logsources(source: Source, events: usize) -> BTreeSet<(String, String)> {
    let start = Utc.with_ymd_and_hms(2026, 4, 1, 8, 0, 0).unwrap();
    let mut generator = Generator::new(GenConfig {
        rate: 40.0,
        incident_rate: 12.0,
        seed: Some(11),
        start: Some(start),
        source,
        ..GenConfig::default()
    });
    let now = start + chrono::Duration::seconds((events / 40) as i64);
    let normalized = read_as_ingest(&mut generator, now, events);
    assert_eq!(normalized.len(), events);
    normalized
        .into_iter()
        .map(|e| {
            assert_eq!(e.kind, "audit", "{source}: {:?}", e.payload);
            let ls = e.logsource;
            (
                ls.product.unwrap_or_default(),
                ls.service.unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn every_cloud_source_is_read_as_its_native_shapes() {
    let pair = |p: &str, s: &str| (p.to_string(), s.to_string());
    let want = [
        (Source::CloudTrail, vec![pair("aws", "cloudtrail")]),
        (Source::Okta, vec![pair("okta", "okta")]),
        (Source::GitHub, vec![pair("github", "audit")]),
        (
            Source::Azure,
            vec![pair("azure", "activitylogs"), pair("azure", "signinlogs")],
        ),
        (
            Source::Gcp,
            vec![
                pair("gcp", "gcp.audit"),
                pair("gcp", "google_workspace.login"),
            ],
        ),
    ];
    for (source, shapes) in want {
        let got = logsources(source, 2_000);
        assert_eq!(got, shapes.into_iter().collect(), "{source}");
        let (product, _) = source.logsource();
        assert!(got.iter().all(|(p, _)| p == product), "{source}");
        assert_eq!(source.name().parse::<Source>(), Ok(source));
    }
    for source in Source::ALL {
        assert_eq!(source.to_string().parse::<Source>(), Ok(source));
        assert_eq!(source.incidents().is_empty(), source == Source::Vigilo);
    }
}
