#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value, json};
use vigilo_core::{Event, Finding, Severity};
use vigilo_detect::{Detector, FindingUpsert, RuleSet, RuleSource};

/// Base event time: 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200;

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(T0 + secs, 0)
        .single()
        .expect("valid time")
}

pub fn load(paths: &[&str]) -> Vec<RuleSource> {
    paths
        .iter()
        .map(|p| {
            let full = format!("{}/../../{}", env!("CARGO_MANIFEST_DIR"), p);
            let text = std::fs::read_to_string(&full).expect("rule file");
            RuleSource::new(*p, text)
        })
        .collect()
}

pub fn anomaly() -> Vec<RuleSource> {
    load(&[
        "rules/anomaly/logs.yml",
        "rules/anomaly/metrics.yml",
        "rules/anomaly/transactions.yml",
    ])
}

pub fn identity() -> Vec<RuleSource> {
    load(&[
        "rules/identity/activity.yml",
        "rules/identity/changes.yml",
        "rules/identity/logins.yml",
        "rules/identity/mfa.yml",
        "rules/identity/privilege.yml",
        "rules/identity/storage.yml",
        "rules/identity/tokens.yml",
    ])
}

pub fn all_packs() -> Vec<RuleSource> {
    let mut v = anomaly();
    v.extend(identity());
    v
}

pub fn detector(sources: &[RuleSource]) -> Detector {
    Detector::new(RuleSet::compile(sources).expect("rules compile"))
}

/// Build a stored event the way ingest normalizes it: kind inferred when
/// absent, service, user from user/user_id/username.
pub fn ev(id: i64, secs: i64, payload: Value) -> Event {
    let Value::Object(mut payload) = payload else {
        panic!("payload must be an object")
    };
    let ts = at(secs);
    payload
        .entry("timestamp")
        .or_insert_with(|| json!(ts.to_rfc3339()));
    let kind = payload
        .get("kind")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| vigilo_core::normalize::infer_kind(&payload).to_string());
    let text = |m: &Map<String, Value>, k: &str| match m.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let service = text(&payload, "service");
    let user = text(&payload, "user")
        .or_else(|| text(&payload, "user_id"))
        .or_else(|| text(&payload, "username"));
    Event {
        logsource: Default::default(),
        id,
        timestamp: ts,
        received_at: ts,
        kind,
        service,
        user,
        payload,
    }
}

pub fn log(id: i64, secs: i64, service: &str, level: &str, message: &str, user_id: &str) -> Event {
    ev(
        id,
        secs,
        json!({"kind": "log", "service": service, "level": level, "message": message, "user_id": user_id}),
    )
}

pub fn metric(id: i64, secs: i64, service: &str, cpu: f64, latency_ms: i64) -> Event {
    ev(
        id,
        secs,
        json!({"kind": "metric", "service": service, "cpu": cpu, "latency_ms": latency_ms}),
    )
}

pub fn txn(id: i64, secs: i64, user_id: &str, amount: f64) -> Event {
    ev(
        id,
        secs,
        json!({"kind": "transaction", "transaction_id": format!("t{id}"), "user_id": user_id,
               "amount": amount, "currency": "EUR", "status": "completed"}),
    )
}

pub fn audit(id: i64, secs: i64, event_type: &str, user: &str, extra: Value) -> Event {
    let mut p = json!({"kind": "audit", "event_type": event_type, "user": user});
    if let (Some(obj), Value::Object(more)) = (p.as_object_mut(), extra) {
        obj.extend(more);
    }
    ev(id, secs, p)
}

/// Run events through a detector; return final incident states in opening order.
pub fn run(d: &mut Detector, events: &[Event]) -> Vec<Finding> {
    let mut order: Vec<String> = Vec::new();
    let mut latest: BTreeMap<String, Finding> = BTreeMap::new();
    for e in events {
        for FindingUpsert {
            incident_key,
            is_new,
            finding,
            ..
        } in d.process(e)
        {
            if is_new {
                assert!(
                    !order.contains(&incident_key),
                    "incident key reused: {incident_key}"
                );
                order.push(incident_key.clone());
            } else {
                assert!(
                    order.contains(&incident_key),
                    "update of unknown incident {incident_key}"
                );
            }
            latest.insert(incident_key, finding);
        }
    }
    order
        .into_iter()
        .filter_map(|k| latest.remove(&k))
        .collect()
}

/// The parts of a finding tests compare exactly.
#[derive(Debug, Clone, PartialEq)]
pub struct Got {
    pub rule_id: String,
    pub group: Vec<(String, String)>,
    pub event_count: i64,
    pub evidence: Vec<i64>,
    pub first_seen: i64,
    pub last_seen: i64,
    pub severity: Severity,
}

pub fn got(f: &Finding) -> Got {
    Got {
        rule_id: f.rule_id.clone(),
        group: f
            .group
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        event_count: f.event_count,
        evidence: f.evidence.clone(),
        first_seen: f.first_seen.timestamp() - T0,
        last_seen: f.last_seen.timestamp() - T0,
        severity: f.severity,
    }
}

pub fn expect(
    rule_id: &str,
    group: &[(&str, &str)],
    evidence: &[i64],
    first_seen: i64,
    last_seen: i64,
    severity: Severity,
) -> Got {
    Got {
        rule_id: rule_id.to_string(),
        group: group
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        event_count: evidence.len() as i64,
        evidence: evidence.to_vec(),
        first_seen,
        last_seen,
        severity,
    }
}

pub fn gots(fs: &[Finding]) -> Vec<Got> {
    fs.iter().map(got).collect()
}

/// A log event at `id` seconds with `payload` (an object) and a logsource
/// naming `product` and, optionally, `service`.
pub fn logsource_event(id: i64, payload: Value, product: &str, service: Option<&str>) -> Event {
    let Value::Object(payload) = payload else {
        panic!("event must be an object")
    };
    Event {
        id,
        timestamp: at(id),
        received_at: at(id),
        kind: "log".into(),
        service: None,
        user: None,
        payload,
        logsource: vigilo_core::event::Logsource {
            product: Some(product.into()),
            category: None,
            service: service.map(str::to_string),
        },
    }
}
