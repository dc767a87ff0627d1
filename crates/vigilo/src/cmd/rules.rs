use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{Deserializer as _, SeqAccess, Visitor};
use vigilo_core::{Event, Finding};
use vigilo_detect::{Evaluation, Pipelines, RuleSet};
use vigilo_server::rules::{LoadError, read_pipelines, read_sources};

use crate::cli::OutputFormat;
use crate::out::outln;
use crate::table::{self, Column};

/// The pipelines named by `--pipeline` (shipped names or files); `None`
/// after printing every pipeline error.
fn load_pipelines(names: &[String]) -> anyhow::Result<Option<Pipelines>> {
    match read_pipelines(names) {
        Ok(p) => Ok(Some(p)),
        Err(LoadError::Pipeline(errors)) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} pipeline error(s)", errors.len());
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn validate(paths: &[PathBuf], pipelines: &[String]) -> anyhow::Result<ExitCode> {
    let sources = read_sources(paths)?;
    let Some(pipelines) = load_pipelines(pipelines)? else {
        return Ok(ExitCode::FAILURE);
    };
    match RuleSet::compile_with(&sources, &pipelines) {
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

/// Events per detector call: a busy incident costs one upsert per call,
/// and the batch is all the events held at once.
const BATCH: usize = 1024;

/// Normalized events on their way to the detector, a batch at a time.
struct Sink {
    evaluation: Evaluation,
    batch: Vec<Event>,
    /// Receive time given to every event.
    now: DateTime<Utc>,
    /// Events seen so far; the next one gets this plus one as its id.
    count: i64,
    /// The logsource the flags give every event (see
    /// [`vigilo_core::logsource`]: the event's own object overrides it).
    logsource: vigilo_core::Logsource,
}

impl Sink {
    fn new(rules: RuleSet, logsource: vigilo_core::Logsource) -> Self {
        Sink {
            evaluation: Evaluation::new(rules),
            batch: Vec::with_capacity(BATCH),
            now: Utc::now(),
            count: 0,
            logsource,
        }
    }

    /// Normalize the next event and queue it; the normalizer's message
    /// when it is not a valid event. A native cloud audit log value is read
    /// as ingest reads it (see [`vigilo_core::cloud`]): a CloudTrail file
    /// `{"Records": [...]}` queues its records.
    fn push(&mut self, value: serde_json::Value) -> Result<(), String> {
        let mut events = Vec::with_capacity(1);
        let unpacked = vigilo_core::cloud::unpack_assigned(
            value,
            &self.logsource,
            &Default::default(),
            self.now,
            &mut events,
        );
        if let Err(e) = unpacked {
            self.count += 1;
            return Err(e.message);
        }
        for event in events {
            self.count += 1;
            self.batch.push(Event::from_new(self.count, event));
            if self.batch.len() >= BATCH {
                self.evaluation.feed(&self.batch);
                self.batch.clear();
            }
        }
        Ok(())
    }

    /// The number of events and the final findings.
    fn finish(mut self) -> (i64, Vec<Finding>) {
        self.evaluation.feed(&self.batch);
        (self.count, self.evaluation.finish())
    }
}

/// Run the events of `path` (`-`: stdin) through `rules`: NDJSON is read
/// line by line, a JSON array element by element, so only the findings
/// and the current batch are held. The number of events and the findings.
fn run_events(
    path: &Path,
    rules: RuleSet,
    logsource: vigilo_core::Logsource,
) -> anyhow::Result<(i64, Vec<Finding>)> {
    let mut sink = Sink::new(rules, logsource);
    if path.as_os_str() == "-" {
        read_events(std::io::stdin().lock(), "stdin", &mut sink)?;
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let reader = std::io::BufReader::with_capacity(1 << 16, file);
        read_events(reader, &path.display().to_string(), &mut sink)?;
    }
    Ok(sink.finish())
}

/// Feed `sink` the events of `input` (named `name` in errors): a JSON
/// array when its first non-blank character is `[`, NDJSON otherwise.
fn read_events(mut input: impl BufRead, name: &str, sink: &mut Sink) -> anyhow::Result<()> {
    // Blank lines before the first event, counted for NDJSON line numbers.
    let mut line = 0;
    let starts_array = loop {
        let buf = input
            .fill_buf()
            .with_context(|| format!("reading {name}"))?;
        let Some(&first) = buf.first() else {
            return Ok(());
        };
        if !first.is_ascii_whitespace() {
            break first == b'[';
        }
        if first == b'\n' {
            line += 1;
        }
        input.consume(1);
    };
    if starts_array {
        read_array(input, name, sink)
    } else {
        read_lines(input, name, line, sink)
    }
}

/// NDJSON: one event per non-blank line; errors name the line.
fn read_lines(
    mut input: impl BufRead,
    name: &str,
    mut line: usize,
    sink: &mut Sink,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let read = input
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {name}"))?;
        if read == 0 {
            return Ok(());
        }
        line += 1;
        if buf.trim_ascii().is_empty() {
            continue;
        }
        // A value written over several lines (a pretty-printed CloudTrail
        // file) is read on to its end; errors name its first line. The
        // lines are scanned once for the end of the value, so a large file
        // is not parsed again for every line.
        let first = line;
        let mut nesting = Nesting::default();
        nesting.scan(&buf);
        while !nesting.closed() {
            let start = buf.len();
            let more = input
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("reading {name}"))?;
            if more == 0 {
                break;
            }
            line += 1;
            nesting.scan(&buf[start..]);
        }
        let value: serde_json::Value = serde_json::from_slice(&buf)
            .with_context(|| format!("{name}:{first}: invalid JSON"))?;
        sink.push(value)
            .map_err(|e| anyhow::anyhow!("{name}:{first}: event {}: {e}", sink.count))?;
    }
}

/// Where a JSON text stands after the bytes seen so far: how many objects
/// and arrays are open, and whether inside a string. A value is closed once
/// it opened something and the count is back to zero (or never opened one:
/// a scalar fits its line).
#[derive(Default)]
struct Nesting {
    depth: usize,
    opened: bool,
    in_string: bool,
    escaped: bool,
}

impl Nesting {
    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    self.opened = true;
                }
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
    }

    fn closed(&self) -> bool {
        !self.in_string && (self.depth == 0 || !self.opened)
    }
}

/// A JSON array, parsed one element at a time; errors name the element
/// (1-based).
fn read_array(input: impl BufRead, name: &str, sink: &mut Sink) -> anyhow::Result<()> {
    let mut failed = None;
    let mut de = serde_json::Deserializer::from_reader(input);
    let parsed = de.deserialize_seq(ArrayVisitor {
        sink,
        failed: &mut failed,
    });
    if let Some((index, message)) = failed {
        anyhow::bail!("{name}: event {index}: {message}");
    }
    let at = sink.count + 1;
    parsed.with_context(|| format!("{name}: event {at}: invalid JSON"))?;
    de.end()
        .with_context(|| format!("{name}: trailing characters after the array"))
}

/// Hands each element of an array to the sink as soon as it is parsed.
struct ArrayVisitor<'a> {
    sink: &'a mut Sink,
    /// The element the sink rejected and why.
    failed: &'a mut Option<(i64, String)>,
}

impl<'de> Visitor<'de> for ArrayVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of events")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            if let Err(message) = self.sink.push(value) {
                *self.failed = Some((self.sink.count, message));
                return Err(serde::de::Error::custom("invalid event"));
            }
        }
        Ok(())
    }
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
    logsource: vigilo_core::Logsource,
    pipelines: &[String],
) -> anyhow::Result<ExitCode> {
    let sources = read_sources(rules)?;
    let Some(pipelines) = load_pipelines(pipelines)? else {
        return Ok(ExitCode::FAILURE);
    };
    let rules = match RuleSet::compile_with(&sources, &pipelines) {
        Ok(set) => set,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let (count, findings) = run_events(events, rules, logsource)?;
    match format {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&findings)?)?,
        OutputFormat::Table => {
            outln!("{count} events, {} findings", findings.len())?;
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

#[cfg(test)]
mod nesting_tests {
    use super::Nesting;

    fn closed_after(lines: &[&str]) -> Vec<bool> {
        let mut n = Nesting::default();
        lines
            .iter()
            .map(|l| {
                n.scan(l.as_bytes());
                n.closed()
            })
            .collect()
    }

    #[test]
    fn a_value_ends_where_its_brackets_close_outside_strings() {
        assert_eq!(closed_after(&[r#"{"a": 1}"#]), [true]);
        assert_eq!(
            closed_after(&["{", r#"  "Records": ["#, r#"    {"x": "}]"}"#, "  ]", "}"]),
            [false, false, false, false, true]
        );
        assert_eq!(
            closed_after(&[r#"{"s": "a \" { "#, r#"still \\"#, r#"" }"#]),
            [false, false, true]
        );
        assert_eq!(closed_after(&["42"]), [true]);
    }
}
