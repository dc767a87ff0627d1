use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;
use serde::Deserialize;
use vigilo_core::{Event, Finding};
use vigilo_detect::RuleSet;
use vigilo_server::rules::read_sources;

use crate::cli::OutputFormat;
use crate::out::outln;
use crate::table::{self, Column};

pub fn validate(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let sources = read_sources(paths)?;
    match RuleSet::compile(&sources) {
        Ok(set) => {
            let shown = set.rules().iter().filter(|r| r.emits_findings).count();
            outln!(
                "{} rules OK ({} producing findings) in {} file(s)",
                set.rules().len(),
                shown,
                sources.len()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            Ok(ExitCode::FAILURE)
        }
    }
}

fn read_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let values: Vec<serde_json::Value> = if text.trim_start().starts_with('[') {
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array", path.display()))?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .with_context(|| format!("{}:{}: invalid JSON", path.display(), i + 1))
            })
            .collect::<anyhow::Result<_>>()?
    };
    let now = Utc::now();
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            vigilo_core::normalize::normalize(v, now)
                .map(|e| Event::from_new(i as i64 + 1, e))
                .map_err(|e| anyhow::anyhow!("{}: event {}: {}", path.display(), i + 1, e.message))
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    rule_id: String,
    #[serde(default)]
    group: Option<BTreeMap<String, String>>,
    #[serde(default)]
    event_count: Option<i64>,
}

fn matches(f: &Finding, e: &Expected) -> bool {
    f.rule_id == e.rule_id
        && e.group.as_ref().is_none_or(|g| g == &f.group)
        && e.event_count.is_none_or(|c| c == f.event_count)
}

/// Findings as a table fitting `width` columns.
fn findings_table(findings: &[Finding], width: usize) -> String {
    let columns = [
        Column::fixed("SEVERITY"),
        Column::text("RULE", 32),
        Column::text("GROUP", 20),
        Column::number("EVENTS"),
        Column::fixed("FIRST SEEN"),
        Column::fixed("LAST SEEN").optional(),
    ];
    let time = "%Y-%m-%dT%H:%M:%SZ";
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            let group: Vec<String> = f.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            vec![
                f.severity.as_str().to_string(),
                f.rule_id.clone(),
                group.join(","),
                f.event_count.to_string(),
                f.first_seen.format(time).to_string(),
                f.last_seen.format(time).to_string(),
            ]
        })
        .collect();
    table::render(&columns, &rows, width)
}

pub fn test(
    rules: &[PathBuf],
    events: &Path,
    expect: Option<&Path>,
    format: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let sources = read_sources(rules)?;
    let events = read_events(events)?;
    let findings = match vigilo_detect::evaluate_once(&sources, &events) {
        Ok(f) => f,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&findings)?)?,
        OutputFormat::Table => {
            outln!("{} events, {} findings", events.len(), findings.len())?;
            if !findings.is_empty() {
                crate::out::print(&findings_table(&findings, crate::out::width()))?;
            }
        }
    }
    let Some(expect) = expect else {
        return Ok(ExitCode::SUCCESS);
    };
    let text =
        std::fs::read_to_string(expect).with_context(|| format!("reading {}", expect.display()))?;
    let expected: Vec<Expected> = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a list of expected findings", expect.display()))?;
    let mut unmatched: Vec<&Finding> = findings.iter().collect();
    let mut missing = Vec::new();
    for e in &expected {
        match unmatched.iter().position(|f| matches(f, e)) {
            Some(i) => {
                unmatched.remove(i);
            }
            None => missing.push(e),
        }
    }
    for e in &missing {
        eprintln!(
            "missing: {} {:?} event_count={:?}",
            e.rule_id, e.group, e.event_count
        );
    }
    for f in &unmatched {
        eprintln!(
            "unexpected: {} {:?} event_count={}",
            f.rule_id, f.group, f.event_count
        );
    }
    if missing.is_empty() && unmatched.is_empty() {
        eprintln!("findings match {}", expect.display());
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}
