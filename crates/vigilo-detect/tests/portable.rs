//! The bundled packs are portable Sigma: every rule has its own UUID `id`,
//! `tags` hold only Sigma namespaces, and Vigilo's own tags live in the
//! `vigilo.tags` attribute, from where they still reach findings and risk.
mod common;
use std::collections::HashSet;

use common::*;
use serde_json::json;
use vigilo_detect::{RuleSet, RuleSource, bundled, risk};

/// Tag namespaces the Sigma specification defines.
const SIGMA_NAMESPACES: &[&str] = &["attack", "car", "cve", "d3fend", "detection", "stp", "tlp"];

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

/// (name, id, tags) of every rule and correlation of the bundled packs.
fn bundled_rules() -> Vec<(String, Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    for source in bundled() {
        let c = rsigma_parser::parse_sigma_yaml(&source.text).expect("bundled rules parse");
        assert!(!c.has_errors(), "{}: {:?}", source.origin, c.errors);
        for r in c.rules {
            out.push((r.name.unwrap(), r.id, r.tags));
        }
        for r in c.correlations {
            out.push((r.name.unwrap(), r.id, r.tags));
        }
    }
    out
}

#[test]
fn every_bundled_rule_has_its_own_uuid_v4_id() {
    let rules = bundled_rules();
    let compiled = RuleSet::compile(&bundled()).expect("bundled rules compile");
    assert_eq!(rules.len(), compiled.rules().len());
    assert_eq!(rules.len(), 33);
    let mut seen = HashSet::new();
    for (name, id, _) in &rules {
        let id = id.as_deref().unwrap_or_else(|| panic!("{name} has no id"));
        assert!(is_uuid_v4(id), "{name}: {id} is not a lowercase UUID v4");
        assert!(seen.insert(id.to_string()), "{name}: id {id} used twice");
    }
    // The finding's rule_id stays the rule's name.
    let names: HashSet<&str> = rules.iter().map(|(n, _, _)| n.as_str()).collect();
    for info in compiled.rules() {
        assert!(names.contains(info.rule_id.as_str()), "{}", info.rule_id);
    }
}

#[test]
fn bundled_tags_are_sigma_namespaces_and_vigilo_tags_reach_the_rule() {
    for (name, _, tags) in bundled_rules() {
        for tag in tags {
            let namespace = tag.split('.').next().unwrap();
            assert!(SIGMA_NAMESPACES.contains(&namespace), "{name}: tag {tag}");
        }
    }
    let compiled = RuleSet::compile(&bundled()).unwrap();
    let token = compiled.rule("identity.admin_token").unwrap();
    assert_eq!(
        token.tags,
        [
            "attack.persistence",
            "attack.t1098.001",
            "vigilo.identity",
            "vigilo.sensitive.admin_token"
        ]
    );
    let (score, why) = risk(token);
    assert_eq!(score, 100);
    assert!(why.contains("sensitive admin token"), "{why}");
    let spike = compiled.rule("anomaly.log_error_spike").unwrap();
    assert_eq!(spike.tags, ["attack.impact", "vigilo.anomaly"]);
    assert_eq!(risk(spike).0, 95);
}

const BASE: &str = "title: Denied
id: 5b0c3e8e-51a4-4c1e-9d0a-3f1f0a8d9b21
name: t.base.denied
logsource: {product: vigilo}
detection:
  sel: {event_type: denied}
  condition: sel
level: informational
";

fn pair(reference: &str) -> String {
    format!(
        "{BASE}---
title: Three denials
name: t.denied_thrice
correlation:
  type: event_count
  rules: [{reference}]
  group-by: [user]
  timespan: 1m
  condition: {{gte: 3}}
level: high
"
    )
}

#[test]
fn a_correlation_finds_its_rule_by_name_or_by_id() {
    let events = [
        audit(1, 0, "denied", "ann", json!({})),
        audit(2, 10, "denied", "ann", json!({})),
        audit(3, 20, "denied", "ann", json!({})),
    ];
    for reference in ["t.base.denied", "5b0c3e8e-51a4-4c1e-9d0a-3f1f0a8d9b21"] {
        let mut d = detector(&[RuleSource::new("t.yml", pair(reference))]);
        let fs = run(&mut d, &events);
        let ids: Vec<(&str, i64)> = fs
            .iter()
            .map(|f| (f.rule_id.as_str(), f.event_count))
            .collect();
        assert_eq!(ids, [("t.denied_thrice", 3)], "reference {reference}");
    }
}

#[test]
fn hyphenated_privilege_escalation_tactic_raises_risk() {
    for (tags, expected) in [
        ("tags: [attack.privilege-escalation]", 85),
        ("tags: [attack.privilege_escalation]", 85),
        ("vigilo.tags: [vigilo.sensitive.payroll]", 85),
        ("tags: [attack.persistence]", 80),
    ] {
        let text = format!(
            "{}level: high\n{tags}\n",
            BASE.replace("level: informational\n", "")
        );
        let set = RuleSet::compile(&[RuleSource::new("t.yml", text)]).unwrap();
        assert_eq!(risk(&set.rules()[0]).0, expected, "{tags}");
    }
}

#[test]
fn vigilo_tags_must_be_a_list() {
    let text = BASE.replace("level:", "vigilo.tags: vigilo.oops\nlevel:");
    let errs = match RuleSet::compile(&[RuleSource::new("t.yml", text)]) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    };
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, Some(8), "{errs:?}");
    assert!(errs[0].message.contains("vigilo.tags"), "{errs:?}");
}

#[test]
fn admin_token_matches_the_literal_scope_in_any_case() {
    let scopes = [
        json!(["repo:read", "admin:*"]),
        json!(["ADMIN:*"]),
        json!(["admin:org"]),
        json!(["admin:**"]),
        json!(["xadmin:*"]),
        json!("admin:*"),
    ];
    let events: Vec<_> = scopes
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let user = format!("u{i}");
            audit(
                i as i64 + 1,
                i as i64,
                "api_token_created",
                &user,
                json!({"scopes": s, "has_expiry": true}),
            )
        })
        .collect();
    let mut d = detector(&identity());
    let users: Vec<String> = run(&mut d, &events)
        .iter()
        .filter(|f| f.rule_id == "identity.admin_token")
        .map(|f| f.group["user"].clone())
        .collect();
    assert_eq!(users, ["u0", "u1", "u5"]);
}
