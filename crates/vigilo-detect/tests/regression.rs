//! SigmaHQ's regression suite through Vigilo: every case of
//! `../shared/corpus/sigmahq/regression_data` (a rule id and the events,
//! stored as EVTX converted to JSON, that must trigger it) runs through the
//! shipped `windows` pipeline with logsource routing on, the events as they
//! are stored (`Event.System`, `Event.EventData`, several objects back to
//! back in some files). A case passes when the rule matches as many events
//! as its `match_count` (at least one when it names none). The same cases
//! run again in Winlogbeat's shape (`winlog.event_id`, `winlog.event_data`,
//! ...) through the shipped `windows-winlogbeat` pipeline.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use vigilo_core::Event;
use vigilo_core::event::Logsource;
use vigilo_detect::pipeline::builtin_pipeline;
use vigilo_detect::{Pipelines, RuleSet, RuleSource};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/sigmahq")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Rule id → rule file, over every rule folder of the snapshot.
fn rule_index(root: &Path) -> HashMap<String, PathBuf> {
    let mut files = Vec::new();
    for dir in [
        "rules",
        "rules-emerging-threats",
        "rules-threat-hunting",
        "rules-compliance",
    ] {
        walk(&root.join(dir), &mut files);
    }
    let mut index = HashMap::new();
    for f in files {
        if f.extension().and_then(|e| e.to_str()) != Some("yml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if let Some(id) = text
            .lines()
            .find_map(|l| l.strip_prefix("id:"))
            .map(|v| v.trim().trim_matches('\'').trim_matches('"').to_string())
        {
            index.insert(id, f);
        }
    }
    index
}

/// The value of `key:` in an info.yml (commented lines included: the one
/// raw case keeps its test description commented out).
fn info_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        let l = l.strip_prefix("- ").unwrap_or(l);
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    })
}

fn windows_event(id: i64, payload: Value) -> Event {
    common::logsource_event(id, payload, "windows", None)
}

/// Every JSON object in `text`, back to back.
fn objects(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .map(|v| v.expect("event json"))
        .collect()
}

struct Case {
    dir: PathBuf,
    rule: PathBuf,
    events: Vec<Event>,
    expected: Option<i64>,
}

fn cases() -> Vec<Case> {
    let root = corpus();
    let rules = rule_index(&root);
    let mut files = Vec::new();
    walk(&root.join("regression_data"), &mut files);
    let mut out = Vec::new();
    for info in files.iter().filter(|f| f.ends_with("info.yml")) {
        let text = std::fs::read_to_string(info).expect("info.yml");
        let dir = info.parent().expect("case dir").to_path_buf();
        let rule_id = text
            .split("rule_metadata:")
            .nth(1)
            .and_then(|rest| info_value(rest, "id"))
            .expect("rule id");
        let rule = rules
            .get(&rule_id)
            .unwrap_or_else(|| panic!("{}: no rule {rule_id}", dir.display()))
            .clone();
        let expected = info_value(&text, "match_count").map(|v| v.parse().expect("count"));
        let mut events = Vec::new();
        let mut data: Vec<&PathBuf> = files.iter().filter(|f| f.parent() == Some(&dir)).collect();
        data.sort();
        for f in data {
            let body = std::fs::read_to_string(f).expect("event file");
            match f.extension().and_then(|e| e.to_str()) {
                Some("json") => {
                    for o in objects(&body) {
                        events.push(windows_event(events.len() as i64 + 1, o));
                    }
                }
                Some("raw") => {
                    let product = rule
                        .components()
                        .rev()
                        .nth(2)
                        .and_then(|c| c.as_os_str().to_str())
                        .map(str::to_string);
                    let service = rule
                        .components()
                        .rev()
                        .nth(1)
                        .and_then(|c| c.as_os_str().to_str())
                        .map(str::to_string);
                    for line in body.lines().filter(|l| !l.trim().is_empty()) {
                        let mut e = windows_event(
                            events.len() as i64 + 1,
                            serde_json::json!({ "message": line }),
                        );
                        e.logsource = Logsource {
                            product: product.clone(),
                            category: None,
                            service: service.clone(),
                        };
                        events.push(e);
                    }
                }
                _ => {}
            }
        }
        out.push(Case {
            dir,
            rule,
            events,
            expected,
        });
    }
    out
}

/// An EVTX-as-JSON event as Winlogbeat ships it: system fields under
/// `winlog.`, the event data under `winlog.event_data`, user data under
/// `winlog.user_data` with its element's name in `xml_name`.
fn as_winlogbeat(event: &Event) -> Event {
    let Some(Value::Object(evtx)) = event.payload.get("Event") else {
        return event.clone(); // a raw line: no EVTX shape to change
    };
    let system = evtx.get("System").cloned().unwrap_or(Value::Null);
    let mut winlog = serde_json::Map::new();
    for (from, to) in [
        ("EventID", "event_id"),
        ("Channel", "channel"),
        ("Computer", "computer_name"),
        ("EventRecordID", "record_id"),
    ] {
        if let Some(v) = system.get(from) {
            winlog.insert(to.into(), v.clone());
        }
    }
    if let Some(name) = system.pointer("/Provider/#attributes/Name") {
        winlog.insert("provider_name".into(), name.clone());
    }
    if let Some(data) = evtx.get("EventData") {
        winlog.insert("event_data".into(), data.clone());
    }
    if let Some(Value::Object(user)) = evtx.get("UserData")
        && let Some((element, Value::Object(fields))) = user.iter().next()
    {
        let mut data = fields.clone();
        data.insert("xml_name".into(), Value::String(element.clone()));
        winlog.insert("user_data".into(), Value::Object(data));
    }
    let mut out = event.clone();
    out.payload = serde_json::Map::from_iter([("winlog".to_string(), Value::Object(winlog))]);
    out
}

/// Every case through `pipeline`, its events in the shape `shape` gives.
fn run_suite(pipeline: &str, shape: fn(&Event) -> Event) {
    let pipelines = Pipelines::parse(&[builtin_pipeline(pipeline).expect("builtin")])
        .expect("shipped pipeline");
    let cases = cases();
    assert_eq!(cases.len(), 203, "cases found");
    // Four cases store more events that the rule matches than their
    // match_count says (each of them is a genuine match: two registry
    // values of one rule, AnyDesk's config files written twice): for them
    // match_count is a lower bound, for every other case exact.
    const KNOWN: &[&str] = &[
        "file_event_win_anydesk_artefact",
        "file_event_win_cred_dump_tools_dropped_files",
        "registry_set_change_security_zones",
        "registry_set_disable_administrative_share",
    ];
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(&case.rule).expect("rule");
        let source = RuleSource::new(case.rule.display().to_string(), text);
        let rules = match RuleSet::compile_with(std::slice::from_ref(&source), &pipelines) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: {e:?}", case.dir.display()));
                continue;
            }
        };
        let events: Vec<Event> = case.events.iter().map(shape).collect();
        let mut evaluation = vigilo_detect::Evaluation::new(rules);
        evaluation.feed(&events);
        let matched: i64 = evaluation.finish().iter().map(|f| f.event_count).sum();
        let ok = match case.expected {
            Some(n) => matched == n || (matched > n && KNOWN.iter().any(|k| case.dir.ends_with(k))),
            None => matched >= 1,
        };
        if !ok {
            failures.push(format!(
                "{}: matched {matched} of {} events, expected {:?}",
                case.dir.display(),
                case.events.len(),
                case.expected
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{pipeline}: {} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn sigmahq_regression_suite_through_the_windows_pipeline() {
    run_suite("windows", Event::clone);
}

#[test]
fn sigmahq_regression_suite_as_winlogbeat_ships_it() {
    run_suite("windows-winlogbeat", as_winlogbeat);
}
