//! Shipped pipelines beyond the regression suite's `windows`:
//! `windows-security` (SigmaHQ's process creation and network connection
//! rules, written for Sysmon, over Windows Security audit events 4688 and
//! 5156, flat and with `winlogbeat-fields` as Winlogbeat ships them; Sysmon's
//! own events no longer match through it) and `gcp` (SigmaHQ's Google Cloud
//! audit rules over Cloud Logging entries as exported).

mod common;

use std::path::Path;

use serde_json::{Value, json};
use vigilo_core::Event;
use vigilo_detect::pipeline::builtin_pipeline;
use vigilo_detect::{Evaluation, Pipelines, RuleSet, RuleSource};

fn sigmahq_rule(path: &str) -> RuleSource {
    let full = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/sigmahq/rules")
        .join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|e| panic!("{}: {e} (../shared beside the repository)", full.display()));
    RuleSource::new(full.display().to_string(), text)
}

fn pipelines(names: &[&str]) -> Pipelines {
    let sources: Vec<RuleSource> = names
        .iter()
        .map(|n| builtin_pipeline(n).unwrap_or_else(|| panic!("no shipped pipeline {n}")))
        .collect();
    Pipelines::parse(&sources).expect("shipped pipelines parse")
}

fn event(id: i64, payload: Value) -> Event {
    common::logsource_event(id, payload, "windows", None)
}

/// Winlogbeat's shape of a flat event: system fields under `winlog.`, the
/// rest under `winlog.event_data`.
fn winlogbeat(flat: &Value) -> Value {
    let mut data = serde_json::Map::new();
    let mut winlog = serde_json::Map::new();
    for (k, v) in flat.as_object().expect("object") {
        match k.as_str() {
            "EventID" => winlog.insert("event_id".into(), v.clone()),
            "Channel" => winlog.insert("channel".into(), v.clone()),
            "Computer" => winlog.insert("computer_name".into(), v.clone()),
            _ => data.insert(k.clone(), v.clone()),
        };
    }
    winlog.insert("event_data".into(), Value::Object(data));
    json!({ "winlog": winlog })
}

/// Matched events per rule id.
fn matches(rules: &[RuleSource], pipelines: &Pipelines, payloads: &[Value]) -> Vec<(String, i64)> {
    let events: Vec<Event> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| event(i as i64 + 1, p.clone()))
        .collect();
    matches_events(rules, pipelines, &events)
}

fn matches_events(
    rules: &[RuleSource],
    pipelines: &Pipelines,
    events: &[Event],
) -> Vec<(String, i64)> {
    let set = RuleSet::compile_with(rules, pipelines).expect("rules compile through the pipeline");
    let mut evaluation = Evaluation::new(set);
    evaluation.feed(events);
    let mut out: Vec<(String, i64)> = Vec::new();
    for f in evaluation.finish() {
        match out.iter_mut().find(|(id, _)| *id == f.rule_id) {
            Some((_, n)) => *n += f.event_count,
            None => out.push((f.rule_id.clone(), f.event_count)),
        }
    }
    out.sort();
    out
}

fn whoami_4688() -> Value {
    json!({
        "EventID": 4688,
        "Channel": "Security",
        "Computer": "ws-17.corp.example",
        "SubjectUserName": "alice",
        "SubjectLogonId": "0x3e7",
        "NewProcessId": "0x1a2c",
        "NewProcessName": "C:\\Windows\\System32\\whoami.exe",
        "ProcessId": "0x10f0",
        "ParentProcessName": "C:\\Windows\\System32\\cmd.exe",
        "CommandLine": "whoami /all",
        "MandatoryLabel": "S-1-16-12288",
    })
}

fn certutil_5156() -> Value {
    json!({
        "EventID": 5156,
        "Channel": "Security",
        "Computer": "ws-17.corp.example",
        "ProcessID": 4412,
        "Application": "\\device\\harddiskvolume3\\windows\\system32\\certutil.exe",
        "Direction": "%%14593",
        "SourceAddress": "10.0.4.17",
        "SourcePort": 50122,
        "DestAddress": "203.0.113.9",
        "DestPort": 443,
        "Protocol": 6,
    })
}

/// The same process creation as Sysmon records it (event 1).
fn whoami_sysmon() -> Value {
    json!({
        "EventID": 1,
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "Image": "C:\\Windows\\System32\\whoami.exe",
        "OriginalFileName": "whoami.exe",
        "CommandLine": "whoami /all",
        "ParentImage": "C:\\Windows\\System32\\cmd.exe",
        "User": "CORP\\alice",
    })
}

const WHOAMI_ALL: &str = "windows/process_creation/proc_creation_win_whoami_all_execution.yml";
const CERTUTIL_NET: &str =
    "windows/network_connection/net_connection_win_certutil_initiated_connection.yml";

fn rule_ids(rules: &[RuleSource]) -> Vec<String> {
    let set = RuleSet::compile(rules).expect("rules compile");
    set.rules().iter().map(|r| r.rule_id.clone()).collect()
}

#[test]
fn security_audit_events_match_sysmon_rules_flat() {
    let rules = [sigmahq_rule(WHOAMI_ALL), sigmahq_rule(CERTUTIL_NET)];
    let ids = rule_ids(&rules);
    let got = matches(
        &rules,
        &pipelines(&["windows-security"]),
        &[whoami_4688(), certutil_5156(), whoami_sysmon()],
    );
    let mut want: Vec<(String, i64)> = ids.iter().map(|id| (id.clone(), 1)).collect();
    want.sort();
    assert_eq!(
        got, want,
        "4688 and 5156 match once each, Sysmon's event 1 not at all"
    );
}

#[test]
fn security_audit_events_match_as_winlogbeat_ships_them() {
    let rules = [sigmahq_rule(WHOAMI_ALL), sigmahq_rule(CERTUTIL_NET)];
    let ids = rule_ids(&rules);
    let payloads = [winlogbeat(&whoami_4688()), winlogbeat(&certutil_5156())];
    let got = matches(
        &rules,
        &pipelines(&["windows-security", "winlogbeat-fields"]),
        &payloads,
    );
    let mut want: Vec<(String, i64)> = ids.iter().map(|id| (id.clone(), 1)).collect();
    want.sort();
    assert_eq!(got, want);
    // Without the shape pipeline the nested events are not found.
    assert!(matches(&rules, &pipelines(&["windows-security"]), &payloads).is_empty());
}

#[test]
fn conditions_the_security_event_does_not_meet_do_not_match() {
    let rules = [sigmahq_rule(WHOAMI_ALL), sigmahq_rule(CERTUTIL_NET)];
    let p = pipelines(&["windows-security"]);
    let mut other_channel = whoami_4688();
    other_channel["Channel"] = json!("System");
    let mut inbound = certutil_5156();
    inbound["Direction"] = json!("%%14592");
    let mut no_all = whoami_4688();
    no_all["CommandLine"] = json!("whoami");
    assert!(matches(&rules, &p, &[other_channel, inbound, no_all]).is_empty());
}

const GCP_FIREWALL: &str = "cloud/gcp/audit/gcp_firewall_rule_modified_or_deleted.yml";
const GCP_ACCESS_POLICY: &str = "cloud/gcp/audit/gcp_access_policy_deleted.yml";

/// A Cloud Logging audit entry as a sink exports it.
fn gcp_entry(method: &str, service: &str, permission: &str, granted: bool) -> Value {
    json!({
        "insertId": "1x9k2ed3a7",
        "logName": "projects/acme-prod/logs/cloudaudit.googleapis.com%2Factivity",
        "timestamp": "2026-04-01T08:00:00Z",
        "severity": "NOTICE",
        "resource": { "type": "gce_firewall_rule", "labels": { "project_id": "acme-prod" } },
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": service,
            "methodName": method,
            "resourceName": "projects/acme-prod/global/firewalls/allow-ssh",
            "authenticationInfo": { "principalEmail": "ops@acme.example" },
            "authorizationInfo": [
                { "permission": permission, "granted": granted, "resource": "projects/acme-prod" }
            ],
            "requestMetadata": { "callerIp": "198.51.100.7" },
            "status": {},
        },
    })
}

fn gcp_events(payloads: &[Value]) -> Vec<Event> {
    payloads
        .iter()
        .enumerate()
        .map(|(i, p)| common::logsource_event(i as i64 + 1, p.clone(), "gcp", Some("gcp.audit")))
        .collect()
}

#[test]
fn gcp_audit_rules_match_cloud_logging_entries_through_the_gcp_pipeline() {
    let rules = [sigmahq_rule(GCP_FIREWALL), sigmahq_rule(GCP_ACCESS_POLICY)];
    let ids = rule_ids(&rules);
    let events = gcp_events(&[
        gcp_entry(
            "v1.compute.firewalls.delete",
            "compute.googleapis.com",
            "compute.firewalls.delete",
            true,
        ),
        gcp_entry(
            "google.identity.accesscontextmanager.v1.AccessContextManager.DeleteAccessPolicy",
            "accesscontextmanager.googleapis.com",
            "accesscontextmanager.accessPolicies.delete",
            true,
        ),
        // Everyday traffic: a firewall read, an access policy delete refused.
        gcp_entry(
            "v1.compute.firewalls.get",
            "compute.googleapis.com",
            "compute.firewalls.get",
            true,
        ),
        gcp_entry(
            "google.identity.accesscontextmanager.v1.AccessContextManager.DeleteAccessPolicy",
            "accesscontextmanager.googleapis.com",
            "accesscontextmanager.accessPolicies.delete",
            false,
        ),
    ]);
    let got = matches_events(&rules, &pipelines(&["gcp"]), &events);
    let mut want: Vec<(String, i64)> = ids.iter().map(|id| (id.clone(), 1)).collect();
    want.sort();
    assert_eq!(got, want);
    // As written, the rules name fields a native entry does not have.
    assert!(matches_events(&rules, &Pipelines::none(), &events).is_empty());
}
