//! pySigma processing pipelines: YAML files that rewrite rules before they
//! are compiled (field names mapped onto the event's own names, conditions
//! added per logsource, values transformed), the same files sigma-cli takes
//! with `-p`.
//!
//! Parsing and application are rsigma's (`rsigma_eval::pipeline`); this
//! module loads the files, refuses what has no meaning when rules are
//! evaluated rather than converted to queries, and orders the pipelines by
//! `priority` (lower first, ties in the order given).

use rsigma_eval::pipeline::{Pipeline, Transformation, TransformationItem, parse_pipeline};

use crate::ruleset::RuleSource;

/// Transformation types a pipeline may use (pySigma's names).
pub const SUPPORTED_TRANSFORMATIONS: &[&str] = &[
    "field_name_mapping",
    "field_name_prefix_mapping",
    "field_name_prefix",
    "field_name_suffix",
    "field_name_transform",
    "drop_detection_item",
    "add_condition",
    "change_logsource",
    "replace_string",
    "map_string",
    "set_value",
    "convert_type",
    "regex",
    "case_transformation",
    "hashes_fields",
    "value_placeholders",
    "wildcard_placeholders",
    "set_state",
    "set_custom_attribute",
    "rule_failure",
    "detection_item_failure",
    "add_field",
    "remove_field",
    "set_field",
    "nest",
];

/// Pipelines shipped with Vigilo, by builtin name.
const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "windows",
        "pipelines/windows.yml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/windows.yml"
        )),
    ),
    (
        "windows-winlogbeat",
        "pipelines/windows-winlogbeat.yml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/windows-winlogbeat.yml"
        )),
    ),
    (
        "windows-security",
        "pipelines/windows-security.yml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/windows-security.yml"
        )),
    ),
    (
        "winlogbeat-fields",
        "pipelines/winlogbeat-fields.yml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/winlogbeat-fields.yml"
        )),
    ),
    (
        "gcp",
        "pipelines/gcp.yml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/gcp.yml"
        )),
    ),
    (
        "ecs",
        "pipelines/ecs.yml",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../pipelines/ecs.yml"
        )),
    ),
];

/// The names of the builtin pipelines.
pub fn builtin_names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _, _)| *n).collect()
}

/// A builtin pipeline's text by name (`windows`, `windows-winlogbeat`,
/// `windows-security`, `winlogbeat-fields`, `gcp`, `ecs`).
pub fn builtin_pipeline(name: &str) -> Option<RuleSource> {
    BUILTIN
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, path, text)| RuleSource::new(*path, *text))
}

/// A pipeline file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: pipeline: {message}")]
pub struct PipelineError {
    pub origin: String,
    pub message: String,
}

/// Loaded pipelines, in the order they apply.
#[derive(Debug, Clone, Default)]
pub struct Pipelines {
    pub(crate) list: Vec<Pipeline>,
    /// Hash of every pipeline's text, part of each rule's fingerprint.
    pub(crate) fingerprint: u64,
    names: Vec<String>,
}

impl Pipelines {
    /// No pipeline: rules compile as written.
    pub fn none() -> Pipelines {
        Pipelines::default()
    }

    /// Parse pipeline files. Every file's problems are reported.
    pub fn parse(sources: &[RuleSource]) -> Result<Pipelines, Vec<PipelineError>> {
        use std::hash::{Hash, Hasher};
        let mut errors = Vec::new();
        let mut list: Vec<(i32, usize, Pipeline)> = Vec::new();
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (i, source) in sources.iter().enumerate() {
            source.text.hash(&mut h);
            let fail = |message: String| PipelineError {
                origin: source.origin.clone(),
                message,
            };
            let pipeline = match parse_pipeline(&source.text) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(fail(e.to_string()));
                    continue;
                }
            };
            if let Err(message) = check(&pipeline) {
                errors.push(fail(message));
                continue;
            }
            list.push((pipeline.priority, i, pipeline));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        list.sort_by_key(|(priority, i, _)| (*priority, *i));
        let names = list.iter().map(|(_, _, p)| p.name.clone()).collect();
        Ok(Pipelines {
            list: list.into_iter().map(|(_, _, p)| p).collect(),
            fingerprint: h.finish(),
            names,
        })
    }

    /// True when no pipeline is loaded.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The pipelines' names, in the order they apply.
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Refuse what evaluation would silently ignore.
fn check(pipeline: &Pipeline) -> Result<(), String> {
    if !pipeline.finalizers.is_empty() {
        return Err(
            "finalizers are not supported (they shape backend queries; rules are evaluated)".into(),
        );
    }
    if pipeline.is_dynamic() {
        return Err("dynamic sources (`${source.*}`) are not supported".into());
    }
    check_items(&pipeline.transformations)
}

fn check_items(items: &[TransformationItem]) -> Result<(), String> {
    for item in items {
        let unsupported = match &item.transformation {
            Transformation::QueryExpressionPlaceholders { .. } => {
                Some("query_expression_placeholders")
            }
            Transformation::Include { .. } => Some("include"),
            Transformation::Nest { items } => {
                check_items(items)?;
                None
            }
            _ => None,
        };
        if let Some(name) = unsupported {
            let id = item
                .id
                .as_deref()
                .map(|id| format!(" (item `{id}`)"))
                .unwrap_or_default();
            return Err(format!(
                "unsupported transformation type: {name}{id}; supported: {}",
                SUPPORTED_TRANSFORMATIONS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::RuleSet;

    const RULE: &str = "title: Whoami\nid: r1\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel:\n    CommandLine|contains: whoami\n  condition: sel\n";

    fn pipes(text: &str) -> Result<Pipelines, Vec<PipelineError>> {
        Pipelines::parse(&[RuleSource::new("p.yml", text)])
    }

    #[test]
    fn field_mapping_and_condition_apply_by_logsource() {
        let p = pipes(
            "name: t\ntransformations:\n  - type: add_condition\n    conditions: {EventID: 1}\n    rule_conditions:\n      - type: logsource\n        category: process_creation\n  - type: field_name_prefix\n    prefix: data.\n",
        )
        .expect("parses");
        let rules = RuleSet::compile_with(&[RuleSource::new("r.yml", RULE)], &p).expect("compiles");
        assert_eq!(rules.rules().len(), 1);
        let other = RULE.replace("process_creation", "file_event");
        assert!(RuleSet::compile_with(&[RuleSource::new("r.yml", other)], &p).is_ok());
    }

    #[test]
    fn unsupported_transformation_is_named() {
        let e = pipes("name: t\ntransformations:\n  - type: query_expression_placeholders\n    expression: x\n")
            .expect_err("refused");
        assert!(
            e[0].message.contains("query_expression_placeholders"),
            "{}",
            e[0]
        );
        let e = pipes("name: t\ntransformations:\n  - type: no_such_thing\n").expect_err("refused");
        assert!(e[0].message.contains("no_such_thing"), "{}", e[0]);
    }

    #[test]
    fn rule_failure_under_rule_conditions() {
        let p = pipes(
            "name: t\ntransformations:\n  - type: rule_failure\n    message: linux only\n    rule_conditions:\n      - type: logsource\n        product: windows\n",
        )
        .expect("parses");
        let e = RuleSet::compile_with(&[RuleSource::new("r.yml", RULE)], &p).expect_err("fails");
        assert!(e[0].message.contains("linux only"), "{}", e[0]);
        let linux = RULE.replace("windows", "linux");
        assert!(RuleSet::compile_with(&[RuleSource::new("r.yml", linux)], &p).is_ok());
    }

    #[test]
    fn builtins_parse() {
        for name in builtin_names() {
            Pipelines::parse(&[builtin_pipeline(name).expect("builtin")]).expect(name);
        }
    }
}
