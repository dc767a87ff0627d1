//! Detection throughput with many Sigma rules, for side-by-side runs with
//! other engines on the same events.
//!
//! ```text
//! cargo run --release -p vigilo-detect --example sigma_throughput -- \
//!     [--source vigilo|cloudtrail|okta|github] [--events N] [--runs K] \
//!     [--rules DIR]... [--no-bundled] [--write events.ndjson]
//! ```
//!
//! Generates `N` events of `vigilo generate` traffic (seed 1), writes them
//! as NDJSON when asked (the input for the other engine), reads them the
//! way ingest does (cloud shapes unpacked, logsource assigned), then times
//! parsing and compiling the rules (reading the files included) and, `K`
//! times, a fresh detector over all events (detection alone: the events are
//! already in memory and the detector is built before the clock starts). Rules default to the bundled packs plus the SigmaHQ
//! snapshot at `../shared/corpus/sigmahq/rules` from the repository root.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{TimeZone, Utc};
use vigilo_core::logsource::DeriveRules;
use vigilo_core::{Event, Logsource};
use vigilo_detect::{Detector, RuleSet, RuleSource, bundled};
use vigilo_gen::{GenConfig, Limit, Source, write_ndjson};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        eprintln!("cannot read {}", dir.display());
        std::process::exit(2);
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let mut source = Source::Vigilo;
    let mut events: u64 = 100_000;
    let mut runs = 3;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut with_bundled = true;
    let mut write: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next().unwrap_or_else(|| {
                eprintln!("{a} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--source" => source = value().parse().unwrap_or_else(|e| panic!("{e}")),
            "--events" => events = value().parse().expect("--events: a number"),
            "--runs" => runs = value().parse().expect("--runs: a number"),
            "--rules" => dirs.push(PathBuf::from(value())),
            "--no-bundled" => with_bundled = false,
            "--write" => write = Some(PathBuf::from(value())),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    if dirs.is_empty() {
        dirs.push(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigmahq/rules"),
        );
    }

    // Events.
    let cfg = GenConfig {
        rate: 100.0,
        incident_rate: 2.0,
        seed: Some(1),
        start: Some(Utc.timestamp_opt(1_704_067_200, 0).single().expect("time")),
        source,
        ..GenConfig::default()
    };
    let mut ndjson = Vec::new();
    write_ndjson(&mut ndjson, cfg, Limit::Events(events)).expect("generate");
    if let Some(path) = &write {
        std::fs::write(path, &ndjson).expect("write events");
    }
    let received = Utc.timestamp_opt(1_800_000_000, 0).single().expect("time");
    let read = Instant::now();
    let mut stored: Vec<Event> = Vec::with_capacity(events as usize);
    let mut new = Vec::new();
    for line in String::from_utf8(ndjson).expect("utf-8").lines() {
        let value = serde_json::from_str(line).expect("json line");
        vigilo_core::cloud::unpack_assigned(
            value,
            &Logsource::default(),
            &DeriveRules::default(),
            received,
            &mut new,
        )
        .expect("event");
        for e in new.drain(..) {
            stored.push(Event::from_new(stored.len() as i64 + 1, e));
        }
    }
    let read = read.elapsed();
    let ls = &stored[0].logsource;
    println!(
        "events: {} ({}), read (JSON parse, normalize, logsource) in {:.0} ms, \
         logsource product={:?} category={:?} service={:?}",
        stored.len(),
        source.name(),
        read.as_secs_f64() * 1e3,
        ls.product,
        ls.category,
        ls.service
    );

    // Rules: read, parse and compile.
    let t = Instant::now();
    let mut sources = if with_bundled { bundled() } else { Vec::new() };
    for dir in &dirs {
        let mut files = Vec::new();
        walk(dir, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("rule file");
            sources.push(RuleSource::new(f.to_string_lossy(), text));
        }
    }
    let rules = match RuleSet::compile(&sources) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            std::process::exit(1);
        }
    };
    let compile = t.elapsed();
    let t = Instant::now();
    let detector = Detector::new(rules.clone());
    let build = t.elapsed();
    println!(
        "rules: {} ({} files), parse+compile {:.0} ms, detector built in {:.0} ms, path {}",
        rules.rules().len(),
        sources.len(),
        compile.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e3,
        detector.evaluation_path()
    );
    drop(detector);

    // Detection alone.
    let mut best = f64::MAX;
    let mut findings = 0;
    for run in 0..runs {
        let mut d = Detector::new(rules.clone());
        let t = Instant::now();
        let mut upserts = 0;
        for chunk in stored.chunks(1000) {
            upserts += d.process_batch(chunk).len();
        }
        let secs = t.elapsed().as_secs_f64();
        let matches: u64 = d.match_counts().values().sum();
        drop(d);
        best = best.min(secs);
        findings = upserts;
        println!(
            "run {}: {:.0} ms, {:.0} events/s, {} rule matches, {} upserts",
            run + 1,
            secs * 1e3,
            stored.len() as f64 / secs,
            matches,
            upserts
        );
    }
    println!(
        "best: {:.0} events/s ({} upserts)",
        stored.len() as f64 / best,
        findings
    );
}
