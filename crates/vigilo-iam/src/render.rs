//! Renderers: terminal table, JSON, SARIF 2.1.0, and the IAM audit service's summary.

use serde_json::{Value, json};

use crate::{IamFinding, Report, Severity};

/// The width of [`render_table`].
const WIDTH: usize = 80;

/// Narrowest width a table is laid out for.
const MIN_WIDTH: usize = 40;

fn colour(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "\x1b[1;35m",
        Severity::High => "\x1b[1;31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
        Severity::Informational => "\x1b[2m",
    }
}

/// Greedy word wrap; words longer than the width (ARNs) are split.
fn wrap(text: &str, indent: usize, width: usize, out: &mut String) {
    let width = width.saturating_sub(indent).max(20);
    let pad = " ".repeat(indent);
    let mut line = String::new();
    let mut line_len = 0usize;
    let flush = |line: &mut String, line_len: &mut usize, out: &mut String| {
        if *line_len > 0 {
            out.push_str(&pad);
            out.push_str(line);
            out.push('\n');
        }
        line.clear();
        *line_len = 0;
    };
    for word in text.split_whitespace() {
        let mut chars: Vec<char> = word.chars().collect();
        while chars.len() > width {
            flush(&mut line, &mut line_len, out);
            let head: String = chars.drain(..width).collect();
            out.push_str(&pad);
            out.push_str(&head);
            out.push('\n');
        }
        let w = chars.len();
        if line_len > 0 && line_len + 1 + w > width {
            flush(&mut line, &mut line_len, out);
        }
        if line_len > 0 {
            line.push(' ');
            line_len += 1;
        }
        line.extend(chars);
        line_len += w;
    }
    flush(&mut line, &mut line_len, out);
}

/// A human-readable report in 80 columns; ANSI colours by severity when
/// `color` is set. See [`Report::table`].
pub fn render_table(report: &Report, color: bool) -> String {
    report.table(color, WIDTH)
}

/// The summary lines: counts by severity, principals, warnings.
fn summary(report: &Report, width: usize, out: &mut String) {
    let s = &report.summary;
    let input = serde_json::to_value(report.input_format)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    wrap(
        &format!(
            "IAM audit of {input}: {} finding{} (critical {}, high {}, medium {}, low {}, informational {}).",
            s.total,
            if s.total == 1 { "" } else { "s" },
            s.critical,
            s.high,
            s.medium,
            s.low,
            s.informational
        ),
        0,
        width,
        out,
    );
    wrap(
        &format!(
            "Principals audited: {}; with findings: {}; able to escalate: {}.{}",
            s.principals_audited,
            s.principals_with_findings,
            s.principals_with_escalation,
            if s.excluded > 0 {
                format!(" Excluded findings: {}.", s.excluded)
            } else {
                String::new()
            }
        ),
        0,
        width,
        out,
    );
}

impl Report {
    /// A human-readable report whose lines fit `width` columns (40 at
    /// least); ANSI colours by severity when `color` is set. The summary
    /// comes first and, after a list of findings, again at the end, where
    /// the reader of a long report is.
    pub fn table(&self, color: bool, width: usize) -> String {
        let width = width.max(MIN_WIDTH);
        let mut out = String::new();
        let paint = |sev: Severity, text: &str| -> String {
            if color {
                format!("{}{text}\x1b[0m", colour(sev))
            } else {
                text.to_string()
            }
        };
        summary(self, width, &mut out);
        for w in &self.warnings {
            wrap(&format!("warning: {w}"), 0, width, &mut out);
        }
        for f in &self.findings {
            out.push_str(&"-".repeat(width));
            out.push('\n');
            let tag = format!("[{}]", f.severity.as_str().to_ascii_uppercase());
            let head = match &f.method {
                Some(m) => format!("{} ({m})", f.check_id),
                None => f.check_id.clone(),
            };
            let conditional = if f.confidence == crate::Confidence::Conditional {
                " [conditional]"
            } else {
                ""
            };
            let mut rest = String::new();
            wrap(
                &format!("{head}{conditional}"),
                0,
                width.saturating_sub(tag.len() + 1),
                &mut rest,
            );
            let mut lines = rest.lines();
            out.push_str(&paint(f.severity, &tag));
            out.push(' ');
            out.push_str(lines.next().unwrap_or(""));
            out.push('\n');
            for l in lines {
                out.push_str(&" ".repeat(tag.len() + 1));
                out.push_str(l);
                out.push('\n');
            }
            wrap(
                &format!("{} {}: {}", f.principal_type.as_str(), f.principal, f.title),
                2,
                width,
                &mut out,
            );
            wrap(&f.explanation, 4, width, &mut out);
            for e in f.evidence.iter().take(4) {
                let mut line = format!("evidence: {}", e.policy);
                if let Some(g) = &e.via_group {
                    line.push_str(&format!(" (via group {g})"));
                }
                if let Some(st) = &e.statement {
                    line.push_str(&format!(", statement {st}"));
                }
                if !e.actions.is_empty() {
                    let shown: Vec<&str> = e.actions.iter().take(6).map(String::as_str).collect();
                    line.push_str(&format!(": {}", shown.join(", ")));
                    if e.actions.len() > 6 {
                        line.push_str(&format!(" (+{} more)", e.actions.len() - 6));
                    }
                }
                if let Some(d) = &e.detail {
                    line.push_str(&format!(" [{d}]"));
                }
                wrap(&line, 4, width, &mut out);
            }
            if f.evidence.len() > 4 {
                wrap(
                    &format!("(+{} more evidence)", f.evidence.len() - 4),
                    4,
                    width,
                    &mut out,
                );
            }
            wrap(&format!("fix: {}", f.remediation), 4, width, &mut out);
            if !f.references.is_empty() {
                wrap(
                    &format!("refs: {}", f.references.join("; ")),
                    4,
                    width,
                    &mut out,
                );
            }
        }
        if !self.findings.is_empty() {
            out.push_str(&"-".repeat(width));
            out.push('\n');
            summary(self, width, &mut out);
        }
        out
    }
}

/// The report as pretty-printed JSON: `{"summary", "findings", "input_format", ...}`.
pub fn render_json(report: &Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn sarif_level(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Informational => "note",
    }
}

fn security_severity(sev: Severity) -> &'static str {
    match sev {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Informational => "0.0",
    }
}

/// The report as SARIF 2.1.0.
pub fn render_sarif(report: &Report) -> String {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: Vec<(String, Severity)> = Vec::new();
    for f in &report.findings {
        match rule_index.iter_mut().find(|(id, _)| *id == f.check_id) {
            Some((_, sev)) => *sev = (*sev).max(f.severity),
            None => rule_index.push((f.check_id.clone(), f.severity)),
        }
    }
    for (id, sev) in &rule_index {
        let Some(example) = report.findings.iter().find(|f| &f.check_id == id) else {
            continue;
        };
        let short = if id == crate::checks::PRIVESC {
            "Principal can escalate its privileges".to_string()
        } else {
            example.title.clone()
        };
        rules.push(json!({
            "id": id,
            "name": id.trim_start_matches("iam.").split('_').map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            }).collect::<String>(),
            "shortDescription": {"text": short},
            "help": {"text": example.remediation},
            "defaultConfiguration": {"level": sarif_level(*sev)},
            "properties": {
                "security-severity": security_severity(*sev),
                "tags": ["security", "iam"],
            }
        }));
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f: &IamFinding| {
            let idx = rule_index.iter().position(|(id, _)| *id == f.check_id).unwrap_or(0);
            let fqn = f
                .principal_arn
                .clone()
                .unwrap_or_else(|| format!("{}/{}", f.principal_type.as_str(), f.principal));
            let mut props = json!({
                "principal": f.principal,
                "principal_type": f.principal_type,
                "severity": f.severity,
                "confidence": f.confidence,
                "evidence": f.evidence,
                "references": f.references,
            });
            if let (Some(m), Some(o)) = (&f.method, props.as_object_mut()) {
                o.insert("method".into(), json!(m));
            }
            json!({
                "ruleId": f.check_id,
                "ruleIndex": idx,
                "level": sarif_level(f.severity),
                "message": {"text": format!("{}: {}", f.title, f.explanation)},
                "locations": [{
                    "logicalLocations": [{
                        "name": f.principal,
                        "fullyQualifiedName": fqn,
                        "kind": f.principal_type.as_str(),
                    }]
                }],
                "partialFingerprints": {
                    "vigiloIamFinding/v1": format!("{}|{}|{}|{}", f.check_id, f.principal_type.as_str(), f.principal, f.method.as_deref().unwrap_or("")),
                },
                "properties": props,
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "vigilo-iam",
                "informationUri": "https://github.com/vigilo-dev/vigilo",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The IAM audit service's summary shape: `{high_risk, medium_risk, low_risk, details: [{risk, issue}]}`.
/// Critical counts as high and informational as low.
pub fn seed_summary(report: &Report) -> Value {
    let tier = |s: Severity| match s {
        Severity::Critical | Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low | Severity::Informational => "low",
    };
    let count = |t: &str| {
        report
            .findings
            .iter()
            .filter(|f| tier(f.severity) == t)
            .count()
    };
    let details: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            json!({
                "risk": tier(f.severity),
                "issue": format!("{} {}: {}", f.principal_type.as_str(), f.principal, f.title),
            })
        })
        .collect();
    json!({
        "high_risk": count("high"),
        "medium_risk": count("medium"),
        "low_risk": count("low"),
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use crate::{AuditOptions, audit};

    fn report() -> crate::Report {
        let doc = json!({"UserDetailList": [{
            "UserName": "a-user-with-a-rather-long-name-that-must-wrap-somewhere",
            "Arn": "arn:aws:iam::123456789012:user/a-user-with-a-rather-long-name-that-must-wrap-somewhere",
            "CreateDate": "2023-03-09 10:41:45+00:00",
            "GroupList": [],
            "AttachedManagedPolicies": [],
            "UserPolicyList": [{"PolicyName": "all", "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
            }}],
        }], "GroupDetailList": [], "RoleDetailList": [], "Policies": []});
        let now = Utc
            .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
            .single()
            .expect("a time");
        audit(doc.to_string().as_bytes(), &AuditOptions::new(now)).expect("audit")
    }

    #[test]
    fn table_fits_the_width_and_repeats_the_summary_at_the_end() {
        let r = report();
        assert!(!r.findings.is_empty());
        for width in [40, 60, 100, 160] {
            let t = r.table(false, width);
            assert!(
                t.lines().all(|l| l.chars().count() <= width),
                "{width}:\n{t}"
            );
            let lines: Vec<&str> = t.lines().collect();
            let last_rule = lines
                .iter()
                .rposition(|l| !l.is_empty() && l.chars().all(|c| c == '-'))
                .expect("a separator");
            let tail = lines[last_rule + 1..].join(" ");
            assert!(tail.starts_with("IAM audit of"), "{width}: {tail}");
            assert!(tail.contains("Principals audited"), "{width}: {tail}");
        }
        assert!(r.table(false, 10).lines().all(|l| l.chars().count() <= 40));
    }
}
