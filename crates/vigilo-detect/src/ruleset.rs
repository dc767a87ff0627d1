//! Compiling Sigma rule sources into a [`RuleSet`]: one document at a time so
//! every error names its file, rule and line.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use rsigma_eval::{CorrelationConfig, CorrelationEngine, EvalError};
use rsigma_parser::{CorrelationRule, Level, SigmaCollection, SigmaRule, Timespan};
use serde::Serialize;
use vigilo_core::Severity;

use crate::error::RuleError;
use crate::pipeline::Pipelines;

/// Incident suppression window used when a rule sets no `vigilo.suppress`.
pub const DEFAULT_SUPPRESSION: Duration = Duration::from_secs(600);

/// Custom top-level attribute: group-by fields of a detection rule.
pub const ATTR_GROUP_BY: &str = "vigilo.group_by";
/// Custom top-level attribute: the rule's incident suppression window.
pub const ATTR_SUPPRESS: &str = "vigilo.suppress";
/// Custom top-level attribute: force findings on (`true`) or off (`false`).
pub const ATTR_EMIT: &str = "vigilo.emit";
/// Custom top-level attribute: Vigilo's own tags (pack, area, sensitive
/// marker, compliance controls), kept out of Sigma's `tags` because they are
/// not Sigma namespaces. [`RuleInfo::tags`] lists them after the Sigma tags.
pub const ATTR_TAGS: &str = "vigilo.tags";

/// One rule file: Sigma YAML, one or more documents separated by `---`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// Label used in errors and in [`RuleInfo::origin`], usually the file path.
    pub origin: String,
    pub text: String,
}

impl RuleSource {
    pub fn new(origin: impl Into<String>, text: impl Into<String>) -> Self {
        RuleSource {
            origin: origin.into(),
            text: text.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleKind {
    Detection,
    Correlation,
}

/// What the rest of the service needs to know about one compiled rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleInfo {
    /// Sigma `name`, else `id`, else `title`. Findings carry it as `rule_id`.
    pub rule_id: String,
    pub title: String,
    pub description: String,
    /// From the Sigma `level`; a rule without one is `medium`.
    pub severity: Severity,
    /// The Sigma `tags`, then the rule's `vigilo.tags`.
    pub tags: Vec<String>,
    pub kind: RuleKind,
    /// Correlation `group-by`, or the detection rule's `vigilo.group_by`.
    pub group_by: Vec<String>,
    /// Repeated matches for one group within this window of event time
    /// (measured from the incident's last match) update the same finding.
    pub suppression: Duration,
    /// False for rules that only feed correlations.
    pub emits_findings: bool,
    /// The [`RuleSource::origin`] the rule came from.
    pub origin: String,
    /// 1-based line where the rule's document starts.
    pub line: usize,
    /// Correlation window; `None` for detection rules.
    pub timespan: Option<Duration>,
    /// Rules a correlation refers to; empty for detection rules.
    pub references: Vec<String>,
    /// The Sigma `id` as written in the rule, if any.
    pub sigma_id: Option<String>,
    /// The detection rule's Sigma logsource; empty for correlations (they
    /// take the events of the rules they refer to).
    pub logsource: Logsource,
}

pub use vigilo_core::event::Logsource;

/// A compiled, validated set of rules. Cloning is cheap (one `Arc`).
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) inner: Arc<RuleSetInner>,
}

#[derive(Debug)]
pub(crate) struct RuleSetInner {
    pub(crate) infos: Vec<RuleInfo>,
    /// Every rule and correlation, with `id` filled in where it was missing.
    pub(crate) collection: SigmaCollection,
    /// Engine-visible id (the filled-in Sigma `id`) → index into `infos`.
    pub(crate) engine_ids: HashMap<String, usize>,
    /// Hash of a rule's own text and of every rule it depends on.
    pub(crate) fingerprints: Vec<u64>,
    /// For each rule, the indices of the correlations it refers to.
    pub(crate) child_correlations: Vec<Vec<usize>>,
}

/// One YAML document inside a source.
#[derive(Clone, Copy)]
struct Doc<'a> {
    text: &'a str,
    /// 1-based line of the document's first line.
    start_line: usize,
}

enum Parsed {
    Rule(Box<SigmaRule>),
    Correlation(Box<CorrelationRule>),
}

struct Entry<'a> {
    parsed: Parsed,
    info: RuleInfo,
    doc: Doc<'a>,
    explicit_emit: Option<bool>,
}

impl RuleSet {
    /// Parse and compile every source. Returns all problems found, each with
    /// its origin, rule and line, or a rule set ready for a `Detector`.
    pub fn compile(sources: &[RuleSource]) -> Result<RuleSet, Vec<RuleError>> {
        RuleSet::compile_with(sources, &Pipelines::none())
    }

    /// [`RuleSet::compile`] after applying `pipelines` to every rule (see
    /// the `pipeline` module): the compiled rules, their logsources (as
    /// routing sees them) and their fingerprints are the rewritten ones.
    pub fn compile_with(
        sources: &[RuleSource],
        pipelines: &Pipelines,
    ) -> Result<RuleSet, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for source in sources {
            for doc in split_documents(&source.text) {
                match compile_doc(&source.origin, doc, pipelines) {
                    Ok(entry) => entries.push(entry),
                    Err(e) => {
                        let mut found = lint_errors(&source.origin, &doc, &e);
                        found.push(e);
                        found.sort_by_key(|e| e.line);
                        errors.extend(found);
                    }
                }
            }
        }

        // Identity: rule ids are unique; references resolve.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(&first) = seen.get(e.info.rule_id.as_str()) {
                let other = &entries[first].info;
                errors.push(err_at(
                    &e.info.origin,
                    Some(&e.info.rule_id),
                    Some(e.doc.start_line),
                    format!(
                        "duplicate rule id, first defined at {}:{}",
                        other.origin, other.line
                    ),
                ));
            } else {
                seen.insert(&e.info.rule_id, i);
            }
        }
        let mut lookup: HashMap<String, usize> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            for key in identities(&e.parsed) {
                lookup.entry(key).or_insert(i);
            }
        }
        let mut refs_resolved: Vec<Vec<usize>> = vec![Vec::new(); entries.len()];
        for (i, e) in entries.iter().enumerate() {
            let Parsed::Correlation(c) = &e.parsed else {
                continue;
            };
            for r in &c.rules {
                match lookup.get(r) {
                    Some(&target) => refs_resolved[i].push(target),
                    None => errors.push(err_at(
                        &e.info.origin,
                        Some(&e.info.rule_id),
                        Some(line_of(&e.doc, r).unwrap_or(e.doc.start_line)),
                        format!("correlation refers to unknown rule `{r}`"),
                    )),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        // Which rules produce findings of their own.
        let mut emits: Vec<bool> = vec![true; entries.len()];
        for (i, e) in entries.iter().enumerate() {
            if let Parsed::Correlation(c) = &e.parsed
                && !c.generate
            {
                for &t in &refs_resolved[i] {
                    emits[t] = false;
                }
            }
        }
        for (i, e) in entries.iter().enumerate() {
            if let Some(explicit) = e.explicit_emit {
                emits[i] = explicit;
            }
        }

        // Fingerprints: own text plus, recursively, the rules referred to.
        let own: Vec<u64> = entries
            .iter()
            .map(|e| {
                let own = hash_text(e.doc.text);
                if pipelines.is_empty() {
                    own
                } else {
                    let mut h = DefaultHasher::new();
                    (own, pipelines.fingerprint).hash(&mut h);
                    h.finish()
                }
            })
            .collect();
        let fingerprints: Vec<u64> = (0..entries.len())
            .map(|i| fingerprint(i, &own, &refs_resolved, &mut HashSet::new()))
            .collect();

        let mut collection = SigmaCollection::new();
        let mut infos = Vec::with_capacity(entries.len());
        let mut engine_ids = HashMap::new();
        let mut child_correlations = Vec::with_capacity(entries.len());
        for (i, e) in entries.into_iter().enumerate() {
            let mut info = e.info;
            info.emits_findings = emits[i];
            let engine_id = match e.parsed {
                Parsed::Rule(mut r) => {
                    let id = r.id.get_or_insert_with(|| info.rule_id.clone()).clone();
                    collection.rules.push(*r);
                    id
                }
                Parsed::Correlation(mut c) => {
                    let id = c.id.get_or_insert_with(|| info.rule_id.clone()).clone();
                    collection.correlations.push(*c);
                    id
                }
            };
            engine_ids.insert(engine_id, i);
            infos.push(info);
            child_correlations.push(Vec::new());
        }
        for (i, targets) in refs_resolved.iter().enumerate() {
            child_correlations[i] = targets
                .iter()
                .copied()
                .filter(|&t| infos[t].kind == RuleKind::Correlation)
                .collect();
        }

        // Whatever the engine still rejects (e.g. a correlation cycle).
        let mut trial = CorrelationEngine::new(CorrelationConfig::default());
        if let Err(e) = trial.add_collection(&collection) {
            let culprit = match &e {
                EvalError::CorrelationCycle(path) => path
                    .split(" -> ")
                    .find_map(|name| engine_ids.get(name.trim()).copied()),
                EvalError::UnknownRuleRef(name) => infos
                    .iter()
                    .position(|info| info.references.iter().any(|r| r == name)),
                _ => None,
            };
            let error = match culprit.map(|i| &infos[i]) {
                Some(info) => err_at(
                    &info.origin,
                    Some(&info.rule_id),
                    Some(info.line),
                    e.to_string(),
                ),
                None => err_at(
                    sources.first().map(|s| s.origin.as_str()).unwrap_or(""),
                    None,
                    None,
                    e.to_string(),
                ),
            };
            return Err(vec![error]);
        }

        Ok(RuleSet {
            inner: Arc::new(RuleSetInner {
                infos,
                collection,
                engine_ids,
                fingerprints,
                child_correlations,
            }),
        })
    }

    /// Every rule, in source order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.inner.infos
    }

    /// The rule with this `rule_id`.
    pub fn rule(&self, rule_id: &str) -> Option<&RuleInfo> {
        self.inner.infos.iter().find(|r| r.rule_id == rule_id)
    }

    /// An empty rule set: a detector built on it finds nothing.
    pub fn empty() -> RuleSet {
        RuleSet {
            inner: Arc::new(RuleSetInner {
                infos: Vec::new(),
                collection: SigmaCollection::new(),
                engine_ids: HashMap::new(),
                fingerprints: Vec::new(),
                child_correlations: Vec::new(),
            }),
        }
    }
}

fn identities(parsed: &Parsed) -> Vec<String> {
    let (id, name, title) = match parsed {
        Parsed::Rule(r) => (&r.id, &r.name, &r.title),
        Parsed::Correlation(c) => (&c.id, &c.name, &c.title),
    };
    let mut out = Vec::new();
    out.extend(name.clone());
    out.extend(id.clone());
    if id.is_none() && name.is_none() {
        out.push(title.clone());
    }
    out
}

fn fingerprint(i: usize, own: &[u64], refs: &[Vec<usize>], visiting: &mut HashSet<usize>) -> u64 {
    let mut h = DefaultHasher::new();
    own[i].hash(&mut h);
    if visiting.insert(i) {
        for &t in &refs[i] {
            fingerprint(t, own, refs, visiting).hash(&mut h);
        }
        visiting.remove(&i);
    }
    h.finish()
}

fn hash_text(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.trim().hash(&mut h);
    h.finish()
}

fn err_at(origin: &str, rule: Option<&str>, line: Option<usize>, message: String) -> RuleError {
    RuleError {
        origin: origin.to_string(),
        rule: rule.map(str::to_string),
        line,
        message,
    }
}

/// Split a YAML stream at `---` separator lines, skipping documents that
/// hold only blank lines and comments.
fn split_documents(text: &str) -> Vec<Doc<'_>> {
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1usize;
    let mut offset = 0usize;
    for (line_no, line) in (1usize..).zip(text.split_inclusive('\n')) {
        let bare = line.trim_end();
        if bare == "---" || bare.starts_with("--- ") || bare == "..." {
            docs.push(Doc {
                text: &text[start..offset],
                start_line,
            });
            start = offset + line.len();
            start_line = line_no + 1;
        }
        offset += line.len();
    }
    docs.push(Doc {
        text: &text[start..],
        start_line,
    });
    docs.into_iter()
        .filter(|d| {
            d.text.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .collect()
}

/// The line (absolute, 1-based) of the first line in `doc` containing `needle`.
fn line_of(doc: &Doc<'_>, needle: &str) -> Option<usize> {
    doc.text
        .lines()
        .position(|l| !l.trim_start().starts_with('#') && l.contains(needle))
        .map(|i| doc.start_line + i)
}

/// First non-blank, non-comment line of the document.
fn first_content_line(doc: &Doc<'_>) -> usize {
    doc.text
        .lines()
        .position(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|i| doc.start_line + i)
        .unwrap_or(doc.start_line)
}

/// Best-effort rule label read from the raw text, for documents that do not parse.
fn raw_label(doc: &Doc<'_>) -> Option<String> {
    let top = |key: &str| {
        doc.text.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            let v = rest.trim().trim_matches(|c| c == '\'' || c == '"').trim();
            (!v.is_empty()).then(|| v.to_string())
        })
    };
    top("name").or_else(|| top("id")).or_else(|| top("title"))
}

/// Where a parser message points: an explicit `line N`, the modifier it
/// names, the condition, or the start of the document.
fn locate_parse_error(doc: &Doc<'_>, message: &str) -> usize {
    if let Some(n) = yaml_line(message) {
        return doc.start_line + n.saturating_sub(1);
    }
    if let Some(m) = quoted_after(message, "Unknown modifier '")
        && let Some(l) = line_of(doc, &format!("|{m}"))
    {
        return l;
    }
    if message.to_ascii_lowercase().contains("condition")
        && let Some(l) = line_of(doc, "condition:")
    {
        return l;
    }
    // "invalid level: 'extreme'", "invalid status: ...": the top-level key.
    if let Some(key) = message
        .strip_prefix("invalid ")
        .and_then(|rest| rest.split(':').next())
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        && let Some(i) = doc
            .text
            .lines()
            .position(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))
    {
        return doc.start_line + i;
    }
    first_content_line(doc)
}

/// The linter's errors in a document that does not compile, each at the
/// line of its key, beside the compiler's own (which stops at the first):
/// so one run names every error of every rule. Lines the compiler's error
/// already names are left to it.
fn lint_errors(origin: &str, doc: &Doc<'_>, first: &RuleError) -> Vec<RuleError> {
    let mut out: Vec<RuleError> = Vec::new();
    for w in rsigma_parser::lint_yaml_str(doc.text) {
        if w.severity != rsigma_parser::Severity::Error {
            continue;
        }
        let line = line_of_path(doc, &w.path)
            .or_else(|| w.span.map(|s| doc.start_line + s.start_line as usize))
            .unwrap_or_else(|| first_content_line(doc));
        if Some(line) == first.line || out.iter().any(|e| e.line == Some(line)) {
            continue;
        }
        out.push(err_at(origin, first.rule.as_deref(), Some(line), w.message));
    }
    out
}

/// The line of the key at a lint path (`/detection/condition`): each
/// segment is looked for below its parent, deeper than the parent's
/// indentation and before the parent's block ends. An array index stops the
/// walk at the array's key.
fn line_of_path(doc: &Doc<'_>, path: &str) -> Option<usize> {
    let lines: Vec<&str> = doc.text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let (mut from, mut parent_indent, mut found) = (0usize, None::<usize>, None::<usize>);
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if segment.parse::<usize>().is_ok() {
            break;
        }
        let mut hit = None;
        for (i, l) in lines.iter().enumerate().skip(from) {
            let t = l.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let d = indent(l);
            if parent_indent.is_some_and(|p| d <= p) {
                break; // the parent's block ended
            }
            let at_depth = parent_indent.is_some() || d == 0;
            if at_depth && t.strip_prefix(segment).is_some_and(|r| r.starts_with(':')) {
                hit = Some((i, d));
                break;
            }
        }
        let (i, d) = hit?;
        found = Some(i);
        from = i + 1;
        parent_indent = Some(d);
    }
    found.map(|i| doc.start_line + i)
}

fn yaml_line(message: &str) -> Option<usize> {
    let at = message.find(" line ")?;
    let digits: String = message[at + 6..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

fn quoted_after<'m>(message: &'m str, prefix: &str) -> Option<&'m str> {
    let start = message.find(prefix)? + prefix.len();
    let rest = &message[start..];
    let end = rest.find('\'')?;
    Some(&rest[..end])
}

fn severity_of(level: Option<Level>) -> Severity {
    match level {
        Some(Level::Informational) => Severity::Informational,
        Some(Level::Low) => Severity::Low,
        Some(Level::Medium) | None => Severity::Medium,
        Some(Level::High) => Severity::High,
        Some(Level::Critical) => Severity::Critical,
    }
}

fn compile_doc<'a>(
    origin: &str,
    doc: Doc<'a>,
    pipelines: &Pipelines,
) -> Result<Entry<'a>, RuleError> {
    let label = raw_label(&doc);
    let fail = |line: usize, message: String| err_at(origin, label.as_deref(), Some(line), message);

    let collection = match rsigma_parser::parse_sigma_yaml(doc.text) {
        Ok(c) => c,
        Err(e) => {
            let message = e.to_string();
            return Err(fail(locate_parse_error(&doc, &message), message));
        }
    };
    if let Some(message) = collection.errors.first() {
        return Err(fail(locate_parse_error(&doc, message), message.clone()));
    }
    if !collection.filters.is_empty() {
        return Err(fail(
            first_content_line(&doc),
            "filter documents are not supported".into(),
        ));
    }
    if collection.rules.len() + collection.correlations.len() != 1 {
        return Err(fail(
            first_content_line(&doc),
            "expected one rule or correlation per document".into(),
        ));
    }

    let mut collection = collection;
    let (parsed, attrs_ok) = if let Some(mut rule) = collection.rules.pop() {
        let rule_id = rule
            .name
            .clone()
            .or_else(|| rule.id.clone())
            .unwrap_or_else(|| rule.title.clone());
        if !pipelines.is_empty()
            && let Err(e) = rsigma_eval::pipeline::apply_pipelines(&pipelines.list, &mut rule)
        {
            return Err(err_at(
                origin,
                Some(&rule_id),
                Some(first_content_line(&doc)),
                format!("pipeline: {e}"),
            ));
        }
        if let Err(e) = rsigma_eval::compile_rule(&rule) {
            let line = match &e {
                EvalError::UnknownDetection(_) => line_of(&doc, "condition:"),
                EvalError::InvalidModifiers(_)
                | EvalError::IncompatibleValue(_)
                | EvalError::ExpectedNumeric(_)
                | EvalError::InvalidRegex(_)
                | EvalError::InvalidCidr(_) => line_of(&doc, "|").or(line_of(&doc, "detection:")),
                _ => line_of(&doc, "detection:"),
            }
            .unwrap_or_else(|| first_content_line(&doc));
            return Err(err_at(origin, Some(&rule_id), Some(line), e.to_string()));
        }
        let attrs = read_attributes(&rule.custom_attributes, true);
        (Parsed::Rule(Box::new(rule)), attrs)
    } else if let Some(mut corr) = collection.correlations.pop() {
        let rule_id = corr
            .name
            .clone()
            .or_else(|| corr.id.clone())
            .unwrap_or_else(|| corr.title.clone());
        if !pipelines.is_empty()
            && let Err(e) =
                rsigma_eval::pipeline::apply_pipelines_to_correlation(&pipelines.list, &mut corr)
        {
            return Err(err_at(
                origin,
                Some(&rule_id),
                Some(first_content_line(&doc)),
                format!("pipeline: {e}"),
            ));
        }
        if let Err(e) = rsigma_eval::correlation::compile_correlation(&corr) {
            let line = line_of(&doc, "correlation:").unwrap_or_else(|| first_content_line(&doc));
            return Err(err_at(origin, Some(&rule_id), Some(line), e.to_string()));
        }
        let attrs = read_attributes(&corr.custom_attributes, false);
        (Parsed::Correlation(Box::new(corr)), attrs)
    } else {
        return Err(fail(
            first_content_line(&doc),
            "expected one rule or correlation per document".into(),
        ));
    };

    let (rule_id, title, description, level, tags, kind, corr_group, timespan, references) =
        match &parsed {
            Parsed::Rule(r) => (
                r.name
                    .clone()
                    .or_else(|| r.id.clone())
                    .unwrap_or_else(|| r.title.clone()),
                r.title.clone(),
                r.description.clone().unwrap_or_default(),
                r.level,
                r.tags.clone(),
                RuleKind::Detection,
                Vec::new(),
                None,
                Vec::new(),
            ),
            Parsed::Correlation(c) => (
                c.name
                    .clone()
                    .or_else(|| c.id.clone())
                    .unwrap_or_else(|| c.title.clone()),
                c.title.clone(),
                c.description.clone().unwrap_or_default(),
                c.level,
                c.tags.clone(),
                RuleKind::Correlation,
                c.group_by.clone(),
                Some(Duration::from_secs(c.timespan.seconds)),
                c.rules.clone(),
            ),
        };
    let (sigma_id, logsource) = match &parsed {
        Parsed::Rule(r) => (
            r.id.clone(),
            Logsource {
                product: r.logsource.product.clone(),
                category: r.logsource.category.clone(),
                service: r.logsource.service.clone(),
            },
        ),
        Parsed::Correlation(c) => (c.id.clone(), Logsource::default()),
    };
    let attrs = match attrs_ok {
        Ok(a) => a,
        Err((attr, message)) => {
            let line = line_of(&doc, attr).unwrap_or_else(|| first_content_line(&doc));
            return Err(err_at(origin, Some(&rule_id), Some(line), message));
        }
    };
    let mut tags = tags;
    tags.extend(attrs.tags);
    let group_by = match kind {
        RuleKind::Detection => attrs.group_by.unwrap_or_default(),
        RuleKind::Correlation => corr_group,
    };
    let info = RuleInfo {
        rule_id,
        title,
        description,
        severity: severity_of(level),
        tags,
        kind,
        group_by,
        suppression: attrs.suppress.unwrap_or(DEFAULT_SUPPRESSION),
        emits_findings: true,
        origin: origin.to_string(),
        line: first_content_line(&doc),
        timespan,
        references,
        sigma_id,
        logsource,
    };
    Ok(Entry {
        parsed,
        info,
        doc,
        explicit_emit: attrs.emit,
    })
}

#[derive(Default)]
struct Attributes {
    group_by: Option<Vec<String>>,
    suppress: Option<Duration>,
    emit: Option<bool>,
    tags: Vec<String>,
}

/// Read the `vigilo.*` attributes. The value type is the parser's YAML value;
/// only its accessors are used here.
fn read_attributes<V: YamlLike>(
    attrs: &HashMap<String, V>,
    is_detection: bool,
) -> Result<Attributes, (&'static str, String)> {
    let mut out = Attributes::default();
    if let Some(v) = attrs.get(ATTR_GROUP_BY) {
        if !is_detection {
            return Err((
                ATTR_GROUP_BY,
                format!(
                    "`{ATTR_GROUP_BY}` applies to detection rules; correlations use `group-by`"
                ),
            ));
        }
        let fields = if let Some(s) = v.str_value() {
            vec![s.to_string()]
        } else if let Some(items) = v.string_items() {
            items
        } else {
            return Err((
                ATTR_GROUP_BY,
                format!("`{ATTR_GROUP_BY}` must be a field name or a list of field names"),
            ));
        };
        out.group_by = Some(fields);
    }
    if let Some(v) = attrs.get(ATTR_SUPPRESS) {
        let secs = if let Some(n) = v.u64_value() {
            n
        } else if let Some(s) = v.str_value() {
            Timespan::parse(s)
                .map_err(|e| (ATTR_SUPPRESS, format!("`{ATTR_SUPPRESS}`: {e}")))?
                .seconds
        } else {
            return Err((
                ATTR_SUPPRESS,
                format!(
                    "`{ATTR_SUPPRESS}` must be a timespan such as `10m` or a number of seconds"
                ),
            ));
        };
        out.suppress = Some(Duration::from_secs(secs));
    }
    if let Some(v) = attrs.get(ATTR_EMIT) {
        out.emit = Some(
            v.bool_value()
                .ok_or((ATTR_EMIT, format!("`{ATTR_EMIT}` must be true or false")))?,
        );
    }
    if let Some(v) = attrs.get(ATTR_TAGS) {
        out.tags = v
            .string_items()
            .ok_or((ATTR_TAGS, format!("`{ATTR_TAGS}` must be a list of tags")))?;
    }
    Ok(out)
}

/// The few YAML accessors the attribute reader needs.
trait YamlLike {
    fn str_value(&self) -> Option<&str>;
    fn u64_value(&self) -> Option<u64>;
    fn bool_value(&self) -> Option<bool>;
    fn string_items(&self) -> Option<Vec<String>>;
}

impl YamlLike for yaml_serde::Value {
    fn str_value(&self) -> Option<&str> {
        self.as_str()
    }
    fn u64_value(&self) -> Option<u64> {
        self.as_u64()
    }
    fn bool_value(&self) -> Option<bool> {
        self.as_bool()
    }
    fn string_items(&self) -> Option<Vec<String>> {
        self.as_sequence()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}
