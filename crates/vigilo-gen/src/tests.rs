//! Tests against a model of the bundled rules: normal traffic trips none,
//! each incident trips exactly its own.

mod model;
mod server;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::{GenConfig, Generator, Incident, Limit, Populations, write_ndjson};
use model::RuleModel;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid date")
}

/// Drives a generator on a simulated clock as the sender does: a batch every
/// 200 ms holding what the rate makes due.
fn simulate(cfg: GenConfig, secs: u64, mut each: impl FnMut(&Value)) -> Generator {
    let start = cfg.start.unwrap_or_else(t0);
    let rate = cfg.rate;
    let mut g = Generator::new(cfg);
    let steps = secs * 5;
    for k in 1..=steps {
        let elapsed_ms = k * 200;
        let due = (rate * elapsed_ms as f64 / 1000.0).floor() as u64;
        let n = due.saturating_sub(g.emitted()) as usize;
        let now = start + chrono::Duration::milliseconds(elapsed_ms as i64);
        for v in g.next_batch(now, n) {
            each(&v);
        }
    }
    g
}

fn normal(rate: f64, seed: u64) -> GenConfig {
    GenConfig {
        rate,
        incident_rate: 0.0,
        seed: Some(seed),
        start: Some(t0()),
        ..GenConfig::default()
    }
}

#[test]
fn normal_traffic_stays_under_every_threshold() {
    // (rate, simulated seconds): an hour where affordable, long enough for
    // several cycles of every population elsewhere.
    for (rate, secs) in [
        (0.5, 3 * 3600),
        (5.0, 3600),
        (40.0, 3600),
        (300.0, 1800),
        (3000.0, 240),
    ] {
        let mut model = RuleModel::default();
        let mut count = 0u64;
        let g = simulate(normal(rate, 7), secs, |v| {
            model.observe(v);
            count += 1;
        });
        let expected = (rate * secs as f64) as u64;
        assert!(
            count + 1 >= expected && count <= expected,
            "rate {rate}: {count} events, expected {expected}"
        );
        let report = model.evaluate();
        eprintln!(
            "rate {rate}: {count} events, window maxima {:?}",
            report.maxima
        );
        assert!(
            report.tripped.is_empty(),
            "rate {rate}: normal traffic tripped {:?}\nmaxima {:#?}",
            report.tripped,
            report.maxima
        );
        // Keep a margin below each threshold, not just under it.
        for (rule, max) in &report.maxima {
            let limit = model::margin_limit(rule);
            assert!(
                *max <= limit,
                "rate {rate}: {rule} reached {max} (margin limit {limit})"
            );
        }
        assert_eq!(g.incidents_emitted().len(), 0);
        assert!(
            model.kinds.len() == 4,
            "rate {rate}: kinds {:?}",
            model.kinds
        );
    }
}

#[test]
fn populations_scale_with_rate() {
    let low = Populations::for_rate(1.0);
    let high = Populations::for_rate(100_000.0);
    assert_eq!(low.services, 12);
    assert!(low.users >= 500);
    assert!(high.users >= 3_000_000);
    assert_eq!(high.services, 480);
    assert!(high.error_share > 0.0 && high.error_share < low.error_share);
}

#[test]
fn each_incident_trips_exactly_its_rules() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for (i, kind) in Incident::ALL.iter().enumerate() {
        let built = kind.build(i as u64 + 1, t0(), &mut rng);
        assert!(!built.events.is_empty());
        assert!(
            built.events.windows(2).all(|w| w[0].0 <= w[1].0),
            "{kind}: not in time order"
        );
        let mut model = RuleModel::default();
        for (t, v) in &built.events {
            assert_eq!(
                v["timestamp"].as_str(),
                Some(crate::events::ts(*t).as_str().unwrap_or(""))
            );
            model.observe(v);
        }
        let report = model.evaluate();
        let want: BTreeSet<String> = kind.rule_ids().iter().map(|s| s.to_string()).collect();
        assert_eq!(report.tripped, want, "{kind}");
        // Groups that tripped are the incident's own users and services.
        let own: HashSet<&str> = built
            .users
            .iter()
            .chain(&built.services)
            .map(String::as_str)
            .collect();
        for (rule, group) in &report.groups {
            assert!(
                own.contains(group.as_str()),
                "{kind}: {rule} tripped for foreign group {group}"
            );
        }
    }
}

#[test]
fn each_incident_trips_its_rule_within_max_trip_of_its_start() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for (i, kind) in Incident::ALL.iter().enumerate() {
        let built = kind.build(i as u64 + 1, t0(), &mut rng);
        let mut model = RuleModel::default();
        let tripped_at = built.events.iter().find_map(|(t, v)| {
            model.observe(v);
            model
                .evaluate()
                .tripped
                .contains(kind.rule_id())
                .then_some(*t)
        });
        let Some(at) = tripped_at else {
            panic!("{kind} never trips {}", kind.rule_id());
        };
        assert!(
            at - t0() <= Incident::MAX_TRIP,
            "{kind} trips its rule {} s after its start",
            (at - t0()).num_milliseconds() as f64 / 1000.0
        );
    }
}

#[test]
fn the_first_round_injects_every_kind_in_order_and_later_rounds_shuffle_them() {
    let cfg = GenConfig {
        rate: 50.0,
        incident_rate: 10.0,
        first_round: Some(Duration::from_secs(60)),
        seed: Some(8),
        start: Some(t0()),
        ..GenConfig::default()
    };
    let g = simulate(cfg, 600, |_| {});
    let n = Incident::ALL.len();
    let injected: Vec<_> = g.injected().iter().collect();
    let first: Vec<Incident> = injected.iter().take(n).map(|i| i.kind).collect();
    assert_eq!(first, Incident::ALL.to_vec());
    // The first round within its minute, then one every 6 s.
    let last_of_first = injected[n - 1].start - t0();
    assert!(
        last_of_first <= chrono::Duration::seconds(60),
        "first round ends {last_of_first}"
    );
    for pair in injected[n - 1..].windows(2) {
        assert_eq!(pair[1].start - pair[0].start, chrono::Duration::seconds(6));
    }
    // Every later whole round holds every kind once, not in the first order.
    let rounds: Vec<Vec<Incident>> = injected[n..]
        .chunks(n)
        .filter(|c| c.len() == n)
        .map(|c| c.iter().map(|i| i.kind).collect())
        .collect();
    assert!(rounds.len() >= 3, "{} later rounds", rounds.len());
    for round in &rounds {
        let kinds: BTreeSet<Incident> = round.iter().copied().collect();
        assert_eq!(kinds.len(), n, "{round:?}");
    }
    assert!(rounds.iter().any(|r| r[..] != Incident::ALL[..]));
}

#[test]
fn a_tiny_incident_rate_does_not_overflow_the_clock() {
    // (first round, incidents expected in 70 s): without a first round the
    // first incident is half a year away; with one, the first round comes
    // and the next is a year later.
    for (first_round, want) in [(None, 0), (Some(Duration::from_secs(60)), 22)] {
        let cfg = GenConfig {
            rate: 10.0,
            incident_rate: 1e-300,
            first_round,
            seed: Some(2),
            start: Some(t0()),
            ..GenConfig::default()
        };
        let g = simulate(cfg, 70, |_| {});
        assert_eq!(g.injected().len(), want, "{first_round:?}");
    }
}

#[test]
fn incident_names_parse_back() {
    for kind in Incident::ALL {
        assert_eq!(kind.name().parse::<Incident>().ok(), Some(kind));
        assert_eq!(kind.rule_id().parse::<Incident>().ok(), Some(kind));
        assert!(kind.rule_id().ends_with(kind.name()));
    }
    assert!("nope".parse::<Incident>().is_err());
}

#[test]
fn an_hour_with_incidents_trips_every_rule_and_only_for_incidents() {
    let cfg = GenConfig {
        rate: 30.0,
        incident_rate: 2.0,
        seed: Some(11),
        start: Some(t0()),
        ..GenConfig::default()
    };
    let mut model = RuleModel::default();
    let g = simulate(cfg, 3600, |v| model.observe(v));
    let report = model.evaluate();
    let all: BTreeSet<String> = Incident::ALL
        .iter()
        .flat_map(|k| k.rule_ids().iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(report.tripped, all);
    let own: HashSet<&str> = g
        .injected()
        .iter()
        .flat_map(|i| i.users.iter().chain(&i.services))
        .map(String::as_str)
        .collect();
    for (rule, group) in &report.groups {
        assert!(
            own.contains(group.as_str()),
            "{rule} tripped for {group}, not an incident"
        );
    }
    // 120 incidents started, in five whole rounds of every kind and part of
    // a sixth; those finished are counted (the hour may cut the last one).
    assert_eq!(g.injected().len(), 120);
    for kind in Incident::ALL {
        let n = g.incidents_emitted().get(kind.name()).copied().unwrap_or(0);
        assert!(n >= 5, "{kind}: {n}");
    }
}

#[test]
fn seeded_generation_is_deterministic() {
    let cfg = |seed| GenConfig {
        rate: 50.0,
        incident_rate: 6.0,
        seed: Some(seed),
        start: Some(t0()),
        ..GenConfig::default()
    };
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    let ra =
        write_ndjson(&mut a, cfg(42), Limit::Duration(Duration::from_secs(120))).expect("write");
    write_ndjson(&mut b, cfg(42), Limit::Duration(Duration::from_secs(120))).expect("write");
    write_ndjson(&mut c, cfg(43), Limit::Duration(Duration::from_secs(120))).expect("write");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(ra.seed, 42);
    assert!(ra.events >= 5999 && ra.events <= 6000, "{}", ra.events);
}

#[test]
fn ndjson_output_parses_line_by_line() {
    let cfg = GenConfig {
        rate: 200.0,
        incident_rate: 20.0,
        seed: Some(5),
        start: Some(t0()),
        ..GenConfig::default()
    };
    let mut out = Vec::new();
    let report = write_ndjson(&mut out, cfg.clone(), Limit::Events(12_345)).expect("write");
    assert_eq!(report.events, 12_345);
    let text = String::from_utf8(out).expect("utf-8");
    assert!(text.ends_with('\n'));
    let mut kinds = BTreeSet::new();
    let mut last = t0();
    let mut lines = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("each line is JSON");
        let obj = v.as_object().expect("each line is an object");
        let ts = obj["timestamp"].as_str().expect("timestamp string");
        assert_eq!(ts.len(), 24, "millisecond RFC 3339: {ts}");
        let t = DateTime::parse_from_rfc3339(ts)
            .expect("rfc 3339")
            .with_timezone(&Utc);
        assert!(t >= t0() && t <= report.end);
        assert!(t >= last, "time order");
        last = t;
        kinds.insert(obj["kind"].as_str().expect("kind").to_string());
        vigilo_core::normalize::normalize(v.clone(), Utc::now()).expect("server accepts it");
        lines += 1;
    }
    assert_eq!(lines, 12_345);
    let want: BTreeSet<String> = ["audit", "log", "metric", "transaction"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(kinds, want);

    let mut out = Vec::new();
    let r = write_ndjson(&mut out, cfg, Limit::Duration(Duration::from_secs(30))).expect("write");
    assert_eq!(r.end - r.start, chrono::Duration::seconds(30));
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count() as u64, r.events);
}

#[test]
fn invalid_configuration_is_refused() {
    let mut out = Vec::new();
    let bad = GenConfig {
        rate: 0.0,
        ..GenConfig::default()
    };
    assert!(write_ndjson(&mut out, bad, Limit::Events(1)).is_err());
    let bad = GenConfig {
        incident_rate: f64::NAN,
        ..GenConfig::default()
    };
    assert!(bad.validate().is_err());
    assert!(crate::events_url("localhost:8080").is_err());
    assert_eq!(
        crate::events_url("http://h:1/").expect("url"),
        "http://h:1/api/v1/events"
    );
    assert_eq!(
        crate::events_url("http://h:1/api/v1/events").expect("url"),
        "http://h:1/api/v1/events"
    );
}

#[test]
fn sender_and_load_futures_can_be_spawned() {
    fn is_send<T: Send + 'static>(_: T) {}
    is_send(crate::send(
        "http://127.0.0.1:9",
        GenConfig::default(),
        Duration::ZERO,
        std::future::pending::<()>(),
    ));
    is_send(crate::load(crate::LoadConfig::default()));
}

#[test]
fn load_report_finds_its_slowest_and_fastest_whole_windows() {
    let mut per_second = vec![1_000u64; 25];
    per_second[3] = 0; // first window: 9,000 in 10 s
    per_second[14] = 11_000; // second: 20,000
    per_second[24] = 1_000_000; // the partial third window does not count
    let report = crate::LoadReport {
        elapsed: Duration::from_millis(25_400),
        events: per_second.iter().sum(),
        per_second,
        ..Default::default()
    };
    assert_eq!(report.window_extremes(), Some(((0, 900.0), (10, 2_000.0))));
    let text = report.to_string();
    assert!(
        text.contains("slowest 900 events/s (from 0 s), fastest 2000 events/s (from 10 s)"),
        "{text}"
    );
}
