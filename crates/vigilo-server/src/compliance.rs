//! Compliance controls: which controls of SOC 2, ISO/IEC 27001:2022 Annex A,
//! NIST SP 800-53 rev. 5 and the CIS AWS Foundations Benchmark each rule and
//! IAM check gives evidence for, and a control's status from the findings.
//!
//! The mapping comes from the file shipped in the binary
//! (`compliance/bundled.yml`), from users' own mapping files (`[compliance]
//! mappings`) and from rule tags `compliance.<framework>.<control>`
//! (`compliance.soc2.cc6.1`, matched without regard to case). Everything here
//! is pure: the caller reads the files and the findings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The mapping file shipped with the bundled packs and the IAM checks.
pub const BUNDLED: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../compliance/bundled.yml"
));

/// Where rule tags name controls: `compliance.<framework>.<control>`.
pub const TAG_PREFIX: &str = "compliance.";

/// `[compliance]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceConfig {
    /// Mapping files read after the bundled one (same format; they add
    /// frameworks, controls and mappings).
    pub mappings: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MappingError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error(
        "{origin}: rule {rule}: unknown control {control} (expected <framework>:<control id> of a declared framework)"
    )]
    UnknownControl {
        origin: String,
        rule: String,
        control: String,
    },
    #[error("{origin}: framework {framework}: control {control} declared twice")]
    DuplicateControl {
        origin: String,
        framework: String,
        control: String,
    },
    #[error("{origin}: rule {rule}: control {control} has an empty reason")]
    EmptyReason {
        origin: String,
        rule: String,
        control: String,
    },
}

/// A mapping file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    #[serde(default)]
    pub frameworks: Vec<FrameworkDef>,
    #[serde(default)]
    pub mappings: Vec<MappingDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrameworkDef {
    pub id: String,
    /// Needed when the framework is new; may be left out to add controls to
    /// a framework declared before.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub controls: Vec<ControlDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlDef {
    pub id: String,
    pub title: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingDef {
    /// A rule_id (a rule's `name`) or an IAM check id (`iam.…`).
    pub rule: String,
    /// `<framework>:<control id>` to the one-line reason.
    pub controls: BTreeMap<String, String>,
}

/// Parse one mapping file; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<MappingFile, MappingError> {
    yaml_serde::from_str(text).map_err(|e| MappingError::Parse {
        origin: origin.to_string(),
        message: e.to_string(),
    })
}

/// How a rule came to be mapped to a control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Mapped {
    /// The rule_id or IAM check id.
    pub rule: String,
    /// Why this rule is evidence for the control.
    pub reason: String,
    /// The mapping file, or `tag` when a rule tag mapped it.
    pub origin: String,
}

#[derive(Debug, Clone)]
pub struct Control {
    /// `<framework>:<control id>`, e.g. `soc2:CC6.1`.
    pub key: String,
    pub framework: String,
    pub id: String,
    pub title: String,
    pub mapped: Vec<Mapped>,
}

#[derive(Debug, Clone)]
pub struct Framework {
    pub id: String,
    pub title: String,
    /// Indexes into [`Catalog::controls`], in declaration order.
    pub controls: Vec<usize>,
}

/// Every framework and control, with what maps to each.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub frameworks: Vec<Framework>,
    pub controls: Vec<Control>,
}

impl Catalog {
    /// Build from mapping files (`(origin, file)`, the bundled one first)
    /// and the loaded rules' tags (`(rule_id, tags)`). A file naming an
    /// undeclared control is an error; a tag naming one is ignored (a rule
    /// may carry tags for frameworks this installation does not track).
    pub fn build<'a>(
        files: &[(String, MappingFile)],
        rule_tags: impl IntoIterator<Item = (&'a str, &'a [String])>,
    ) -> Result<Catalog, MappingError> {
        let mut cat = Catalog::default();
        for (origin, file) in files {
            for f in &file.frameworks {
                let fi = match cat.frameworks.iter().position(|x| x.id == f.id) {
                    Some(i) => {
                        if let Some(t) = &f.title {
                            cat.frameworks[i].title = t.clone();
                        }
                        i
                    }
                    None => {
                        cat.frameworks.push(Framework {
                            id: f.id.clone(),
                            title: f.title.clone().unwrap_or_else(|| f.id.clone()),
                            controls: Vec::new(),
                        });
                        cat.frameworks.len() - 1
                    }
                };
                for c in &f.controls {
                    let key = format!("{}:{}", f.id, c.id);
                    if cat.find(&key).is_some() {
                        return Err(MappingError::DuplicateControl {
                            origin: origin.clone(),
                            framework: f.id.clone(),
                            control: c.id.clone(),
                        });
                    }
                    cat.controls.push(Control {
                        key,
                        framework: f.id.clone(),
                        id: c.id.clone(),
                        title: c.title.clone(),
                        mapped: Vec::new(),
                    });
                    let ci = cat.controls.len() - 1;
                    cat.frameworks[fi].controls.push(ci);
                }
            }
        }
        for (origin, file) in files {
            for m in &file.mappings {
                for (control, reason) in &m.controls {
                    let Some(ci) = cat.find(control) else {
                        return Err(MappingError::UnknownControl {
                            origin: origin.clone(),
                            rule: m.rule.clone(),
                            control: control.clone(),
                        });
                    };
                    if reason.trim().is_empty() {
                        return Err(MappingError::EmptyReason {
                            origin: origin.clone(),
                            rule: m.rule.clone(),
                            control: control.clone(),
                        });
                    }
                    cat.add(ci, &m.rule, reason.trim(), origin);
                }
            }
        }
        for (rule, tags) in rule_tags {
            for tag in tags {
                let Some(ci) = cat.find_tag(tag) else {
                    continue;
                };
                cat.add(ci, rule, &format!("rule tag {tag}"), "tag");
            }
        }
        Ok(cat)
    }

    /// The bundled mapping alone, no tags.
    pub fn bundled() -> Result<Catalog, MappingError> {
        let file = parse(BUNDLED, "compliance/bundled.yml")?;
        Catalog::build(&[("compliance/bundled.yml".to_string(), file)], [])
    }

    fn add(&mut self, ci: usize, rule: &str, reason: &str, origin: &str) {
        let mapped = &mut self.controls[ci].mapped;
        if mapped.iter().any(|m| m.rule == rule) {
            return;
        }
        mapped.push(Mapped {
            rule: rule.to_string(),
            reason: reason.to_string(),
            origin: origin.to_string(),
        });
    }

    /// The control with this key (`soc2:CC6.1`), ASCII case-insensitive.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.controls
            .iter()
            .position(|c| c.key.eq_ignore_ascii_case(key))
    }

    /// The control a `compliance.<framework>.<control>` tag names.
    fn find_tag(&self, tag: &str) -> Option<usize> {
        let rest = tag.get(..TAG_PREFIX.len()).and_then(|head| {
            head.eq_ignore_ascii_case(TAG_PREFIX)
                .then(|| &tag[TAG_PREFIX.len()..])
        })?;
        let (framework, control) = rest.split_once('.')?;
        self.find(&format!("{framework}:{control}"))
    }

    pub fn framework(&self, id: &str) -> Option<&Framework> {
        self.frameworks
            .iter()
            .find(|f| f.id.eq_ignore_ascii_case(id))
    }

    /// Every rule or check some control maps, sorted.
    pub fn mapped_rules(&self) -> BTreeSet<&str> {
        self.controls
            .iter()
            .flat_map(|c| c.mapped.iter().map(|m| m.rule.as_str()))
            .collect()
    }
}

/// A control's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    /// An open (not resolved, not suppressed) finding of a mapped rule or
    /// check exists.
    Failing,
    /// Mapped rules or checks are loaded and none has an open finding.
    Passing,
    /// Nothing mapped is loaded: no evidence either way.
    NotMonitored,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Failing => "failing",
            ControlStatus::Passing => "passing",
            ControlStatus::NotMonitored => "not_monitored",
        }
    }
}

/// What is known about one rule or check, for status evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleFacts {
    /// The rule is loaded, enabled and emits findings (an IAM check: an
    /// audit has been stored).
    pub monitored: bool,
    /// Open findings (open or acknowledged) by severity name.
    pub open_by_severity: BTreeMap<String, u64>,
    /// Latest `last_seen` of any of its findings.
    pub last_seen: Option<DateTime<Utc>>,
}

/// A control's status and evidence summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub status: ControlStatus,
    pub open_by_severity: BTreeMap<String, u64>,
    pub open: u64,
    pub last_evidence: Option<DateTime<Utc>>,
    /// Mapped rules or checks that are monitored.
    pub monitored: Vec<String>,
}

/// Evaluate `control` from what is known of each rule (`facts`; a rule
/// missing there is neither loaded nor found). An open finding makes the
/// control failing even when its rule is no longer loaded.
pub fn evaluate(control: &Control, facts: &BTreeMap<String, RuleFacts>) -> Evaluation {
    let mut open_by_severity = BTreeMap::new();
    let mut open = 0;
    let mut last_evidence: Option<DateTime<Utc>> = None;
    let mut monitored = Vec::new();
    for m in &control.mapped {
        let Some(f) = facts.get(&m.rule) else {
            continue;
        };
        if f.monitored {
            monitored.push(m.rule.clone());
        }
        for (sev, n) in &f.open_by_severity {
            *open_by_severity.entry(sev.clone()).or_insert(0) += n;
            open += n;
        }
        last_evidence = last_evidence.max(f.last_seen);
    }
    let status = if open > 0 {
        ControlStatus::Failing
    } else if monitored.is_empty() {
        ControlStatus::NotMonitored
    } else {
        ControlStatus::Passing
    };
    Evaluation {
        status,
        open_by_severity,
        open,
        last_evidence,
        monitored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (String, MappingFile) {
        (
            "test.yml".to_string(),
            parse(text, "test.yml").expect("parses"),
        )
    }

    const SMALL: &str = "
frameworks:
  - id: fw
    title: A framework
    controls:
      - {id: C-1, title: One}
      - {id: C-2, title: Two}
mappings:
  - rule: r.one
    controls:
      fw:C-1: because
";

    #[test]
    fn bundled_maps_every_bundled_rule() {
        let cat = Catalog::bundled().expect("bundled mapping is valid");
        let rules = vigilo_detect::RuleSet::compile(&vigilo_detect::bundled())
            .expect("bundled rules compile");
        let mapped = cat.mapped_rules();
        let missing: Vec<&str> = rules
            .rules()
            .iter()
            .map(|r| r.rule_id.as_str())
            .filter(|r| !mapped.contains(r))
            .collect();
        assert!(
            missing.is_empty(),
            "bundled rules without a control: {missing:?}"
        );
        assert!(rules.rules().len() >= 30);
    }

    /// Every check id the IAM engine can report (its `"iam.…"` literals)
    /// maps to a control.
    #[test]
    fn bundled_maps_every_iam_check() {
        let cat = Catalog::bundled().expect("bundled mapping is valid");
        let mapped = cat.mapped_rules();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../vigilo-iam/src");
        let mut checks = BTreeSet::new();
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("iam sources") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).expect("read");
                    for (i, _) in text.match_indices("\"iam.") {
                        let id: String = text[i + 1..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                            .collect();
                        if text[i + 1 + id.len()..].starts_with('"') && id.len() > 4 {
                            checks.insert(id);
                        }
                    }
                }
            }
        }
        assert!(checks.len() >= 20, "found only {checks:?}");
        let missing: Vec<&String> = checks
            .iter()
            .filter(|c| !mapped.contains(c.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "IAM checks without a control: {missing:?}"
        );
    }

    #[test]
    fn bundled_frameworks_and_reasons() {
        let cat = Catalog::bundled().expect("valid");
        let ids: Vec<&str> = cat.frameworks.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["soc2", "iso27001", "nist_800_53", "cis_aws"]);
        for c in &cat.controls {
            assert!(!c.title.is_empty());
            for m in &c.mapped {
                assert!(m.reason.len() > 10, "{} {} reason too short", c.key, m.rule);
            }
        }
        let ac7 = &cat.controls[cat.find("nist_800_53:AC-7").expect("AC-7")];
        assert!(
            ac7.mapped
                .iter()
                .any(|m| m.rule == "identity.failed_logins_high")
        );
        let root = &cat.controls[cat.find("cis_aws:1.5").expect("1.5")];
        assert_eq!(root.mapped[0].rule, "iam.root_mfa_disabled");
    }

    #[test]
    fn tags_map_rules_case_insensitively() {
        let tags = vec![
            "compliance.FW.c-2".to_string(),
            "compliance.fw.nope".to_string(),
            "attack.t1110".to_string(),
        ];
        let cat = Catalog::build(&[file(SMALL)], [("my.rule", tags.as_slice())]).expect("ok");
        let c2 = &cat.controls[cat.find("fw:C-2").expect("c2")];
        assert_eq!(c2.mapped.len(), 1);
        assert_eq!(c2.mapped[0].rule, "my.rule");
        assert_eq!(c2.mapped[0].origin, "tag");
        let c1 = &cat.controls[cat.find("fw:c-1").expect("c1")];
        assert_eq!(c1.mapped.len(), 1);
        assert_eq!(c1.mapped[0].rule, "r.one");
    }

    #[test]
    fn user_file_adds_controls_and_mappings() {
        let user = file(
            "
frameworks:
  - id: fw
    controls: [{id: C-3, title: Three}]
  - id: internal
    title: Internal policy
    controls: [{id: P1, title: Tokens}]
mappings:
  - rule: r.two
    controls: {fw:C-3: extra, internal:P1: ours}
",
        );
        let cat = Catalog::build(&[file(SMALL), user], []).expect("ok");
        assert_eq!(cat.frameworks.len(), 2);
        assert_eq!(cat.frameworks[0].title, "A framework");
        assert_eq!(cat.frameworks[0].controls.len(), 3);
        assert!(cat.find("internal:P1").is_some());
    }

    #[test]
    fn file_errors_are_named() {
        let bad = file("mappings:\n  - rule: x\n    controls: {fw:C-9: why}\n");
        let e = Catalog::build(&[file(SMALL), bad], []).unwrap_err();
        assert!(
            matches!(e, MappingError::UnknownControl { ref control, .. } if control == "fw:C-9")
        );
        let e = Catalog::build(&[file(SMALL), file(SMALL)], []).unwrap_err();
        assert!(matches!(e, MappingError::DuplicateControl { .. }));
        let empty = file("mappings:\n  - rule: x\n    controls: {fw:C-1: ' '}\n");
        let e = Catalog::build(&[file(SMALL), empty], []).unwrap_err();
        assert!(matches!(e, MappingError::EmptyReason { .. }));
        assert!(parse("frameworks: [{id: 1, oops: 2}]", "u.yml").is_err());
    }

    #[test]
    fn status_follows_facts() {
        let cat = Catalog::build(&[file(SMALL)], []).expect("ok");
        let c1 = &cat.controls[cat.find("fw:C-1").expect("c1")];
        let mut facts = BTreeMap::new();
        assert_eq!(evaluate(c1, &facts).status, ControlStatus::NotMonitored);
        facts.insert(
            "r.one".to_string(),
            RuleFacts {
                monitored: true,
                ..Default::default()
            },
        );
        assert_eq!(evaluate(c1, &facts).status, ControlStatus::Passing);
        let t = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let f = facts.get_mut("r.one").expect("r.one");
        f.open_by_severity.insert("high".into(), 2);
        f.last_seen = Some(t);
        let e = evaluate(c1, &facts);
        assert_eq!(e.status, ControlStatus::Failing);
        assert_eq!(e.open, 2);
        assert_eq!(e.last_evidence, Some(t));
        // An open finding of an unloaded rule still fails the control.
        facts.get_mut("r.one").expect("r.one").monitored = false;
        assert_eq!(evaluate(c1, &facts).status, ControlStatus::Failing);
        let c2 = &cat.controls[cat.find("fw:C-2").expect("c2")];
        assert_eq!(evaluate(c2, &facts).status, ControlStatus::NotMonitored);
    }
}
