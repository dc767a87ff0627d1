//! Rule errors name the file, the rule and the line.
use vigilo_detect::{RuleError, RuleSet, RuleSource};

const GOOD: &str = "title: Good
name: t.good
logsource: {product: vigilo}
detection:
  sel: {kind: log}
  condition: sel
level: low
";

fn compile(sources: &[(&str, &str)]) -> Vec<RuleError> {
    let sources: Vec<RuleSource> = sources
        .iter()
        .map(|(o, t)| RuleSource::new(*o, *t))
        .collect();
    match RuleSet::compile(&sources) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e,
    }
}

#[test]
fn yaml_syntax_error_has_line() {
    let text = format!(
        "{GOOD}---\ntitle: Broken\nname: t.broken\ndetection:\n  sel: {{kind: log\n  condition: sel\n"
    );
    let errs = compile(&[("rules/x.yml", &text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e.origin, "rules/x.yml");
    assert_eq!(e.rule.as_deref(), Some("t.broken"));
    let line = e.line.expect("line");
    assert!((12..=14).contains(&line), "line {line}: {e}");
    assert!(
        e.to_string()
            .starts_with(&format!("rules/x.yml:{line}: rule `t.broken`: ")),
        "{e}"
    );
}

#[test]
fn unknown_condition_identifier() {
    let text = "title: Bad cond
name: t.badcond
logsource: {product: vigilo}
detection:
  sel: {kind: log}
  condition: sel and missing_one
level: low
";
    let errs = compile(&[("a.yml", text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].rule.as_deref(), Some("t.badcond"));
    assert_eq!(errs[0].line, Some(6));
    assert!(errs[0].message.contains("missing_one"), "{}", errs[0]);
}

#[test]
fn bad_modifier() {
    let text = "title: Bad modifier
name: t.badmod
logsource: {product: vigilo}
detection:
  sel:
    kind: log
    message|containz: x
  condition: sel
level: low
";
    let errs = compile(&[("b.yml", text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].rule.as_deref(), Some("t.badmod"));
    assert_eq!(errs[0].line, Some(7));
    assert!(errs[0].message.contains("containz"), "{}", errs[0]);
}

#[test]
fn correlation_referencing_unknown_rule() {
    let text = format!(
        "{GOOD}---
title: Corr
name: t.corr
correlation:
  type: event_count
  rules:
    - t.good
    - t.nowhere
  group-by: [service]
  timespan: 5m
  condition: {{gte: 2}}
level: high
"
    );
    let errs = compile(&[("c.yml", &text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].rule.as_deref(), Some("t.corr"));
    assert_eq!(errs[0].line, Some(15));
    assert!(errs[0].message.contains("t.nowhere"), "{}", errs[0]);
}

#[test]
fn all_errors_across_files_are_reported() {
    let bad_cond = "title: A\nname: t.a\nlogsource: {product: v}\ndetection:\n  sel: {kind: log}\n  condition: nope\n";
    let bad_attr = "title: B\nname: t.b\nlogsource: {product: v}\ndetection:\n  sel: {kind: log}\n  condition: sel\nvigilo.suppress: soon\n";
    let dup = GOOD;
    let errs = compile(&[
        ("one.yml", bad_cond),
        ("two.yml", bad_attr),
        ("three.yml", GOOD),
        ("four.yml", dup),
    ]);
    let summary: Vec<(String, Option<String>, Option<usize>)> = errs
        .iter()
        .map(|e| (e.origin.clone(), e.rule.clone(), e.line))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("one.yml".into(), Some("t.a".into()), Some(6)),
            ("two.yml".into(), Some("t.b".into()), Some(7)),
            ("four.yml".into(), Some("t.good".into()), Some(1)),
        ],
        "{errs:?}"
    );
    assert!(errs[2].message.contains("duplicate"), "{}", errs[2]);
}

#[test]
fn correlation_cycle_is_an_error_not_a_panic() {
    let text = "title: X\nname: t.x\ncorrelation:\n  type: event_count\n  rules: [t.y]\n  group-by: [user]\n  timespan: 5m\n  condition: {gte: 2}\n---\ntitle: Y\nname: t.y\ncorrelation:\n  type: event_count\n  rules: [t.x]\n  group-by: [user]\n  timespan: 5m\n  condition: {gte: 2}\n";
    let errs = compile(&[("cyc.yml", text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].message.contains("cycle"), "{}", errs[0]);
    assert_eq!(errs[0].origin, "cyc.yml");
}

#[test]
fn garbage_does_not_panic() {
    for text in [
        "",
        "---\n---\n",
        "just a string",
        "- a\n- b\n",
        "title: [unclosed",
        "\u{0}\u{1}",
        "title: x\ndetection: 5\n",
    ] {
        let sources = [RuleSource::new("g.yml", text)];
        let _ = RuleSet::compile(&sources);
    }
}

#[test]
fn every_error_of_a_rule_is_reported_at_its_keys_line() {
    // Three mistakes in one rule: a misspelt modifier (line 7), a condition
    // naming a selection that does not exist (line 9), an unknown level
    // (line 10). The compiler stops at the first; the rest come too.
    let text = "title: Three mistakes
name: t.three
logsource:
  product: vigilo
detection:
  sel:
    message|contans: failed
    level: ERROR
  condition: sel and other
level: extreme
";
    let errs = compile(&[("rules/three.yml", text)]);
    let lines: Vec<Option<usize>> = errs.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![Some(7), Some(9), Some(10)], "{errs:?}");
    assert!(errs[0].message.contains("contans"), "{}", errs[0]);
    assert!(errs[1].message.contains("other"), "{}", errs[1]);
    assert!(errs[2].message.contains("extreme"), "{}", errs[2]);
    assert!(errs.iter().all(|e| e.rule.as_deref() == Some("t.three")));
}

#[test]
fn an_invalid_level_alone_points_at_the_level_key() {
    let text = format!(
        "{GOOD}---\ntitle: Bad level\nname: t.level\nlogsource: {{product: vigilo}}\ndetection:\n  sel: {{kind: log}}\n  condition: sel\nlevel: extreme\n"
    );
    let errs = compile(&[("rules/level.yml", &text)]);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].line, Some(15), "{}", errs[0]);
}
