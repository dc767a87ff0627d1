//! What a notification says (the [`Message`]) and how each receiver kind
//! shapes it into a request body.

pub mod discord;
pub mod slack;
pub mod webhook;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;
use vigilo_core::Severity;
use vigilo_storage::{NotificationKind, Silence, SilenceMatcher};

use super::config::{ReceiverConfig, ReceiverKind};
use super::engine::Member;
use super::templates;

/// Findings listed in one message; the rest are counted in `more`.
pub const MAX_LISTED: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    pub id: i64,
    pub rule_id: String,
    pub rule_title: String,
    pub severity: Severity,
    pub status: String,
    pub service: Option<String>,
    pub user: Option<String>,
    pub event_count: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub risk_score: u8,
    pub description: String,
    /// `<base_url>/findings/<id>`, when `base_url` is set.
    pub link: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SilenceView {
    pub id: i64,
    pub matchers: Vec<SilenceMatcher>,
    /// `rule_id~"iam.*", service="api"` (`~` for a glob).
    pub matchers_text: String,
    pub starts_at: String,
    pub ends_at: String,
    pub created_by: String,
    pub comment: String,
}

/// Everything a template and a receiver body can use.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub kind: NotificationKind,
    /// `firing` or `resolved` (a silence's end and a resolved group).
    pub status: &'static str,
    /// The highest severity of the findings.
    pub severity: Severity,
    /// `<rule title> on <service>`, or `<n> findings on <service>`.
    pub summary: String,
    pub route: String,
    pub receiver: String,
    pub group_key: String,
    pub labels: BTreeMap<String, String>,
    pub findings: Vec<FindingView>,
    /// Findings beyond the first [`MAX_LISTED`].
    pub more: usize,
    /// How many findings the message is about.
    pub count: usize,
    /// Events over those findings.
    pub events: i64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    pub risk_score: u8,
    pub silence: Option<SilenceView>,
    /// The first finding's link, or the silences page for a silence.
    pub link: Option<String>,
    pub base_url: String,
    pub created_at: String,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn link(base: &str, path: &str) -> Option<String> {
    let base = base.trim_end_matches('/');
    (!base.is_empty()).then(|| format!("{base}{path}"))
}

pub fn matchers_text(ms: &[SilenceMatcher]) -> String {
    if ms.is_empty() {
        return "every finding".into();
    }
    ms.iter()
        .map(|m| format!("{}{}{:?}", m.field, if m.glob { "~" } else { "=" }, m.value))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Message {
    /// A message about findings of a group.
    #[allow(clippy::too_many_arguments)]
    pub fn about(
        kind: NotificationKind,
        route: &str,
        receiver: &str,
        group_key: &str,
        labels: &BTreeMap<String, String>,
        members: &[&Member],
        base_url: &str,
        now: DateTime<Utc>,
    ) -> Message {
        let severity = members
            .iter()
            .map(|m| m.severity)
            .max()
            .unwrap_or(Severity::Informational);
        let services: std::collections::BTreeSet<&str> = members
            .iter()
            .filter_map(|m| m.service.as_deref())
            .collect();
        let on = match services.len() {
            0 => String::new(),
            1 => format!(
                " on {}",
                services.iter().next().copied().unwrap_or_default()
            ),
            n => format!(" on {n} services"),
        };
        let summary = match members {
            [] => "no findings".to_string(),
            [m] => format!("{}{on}", m.rule_title),
            ms if ms.iter().all(|m| m.rule_id == ms[0].rule_id) => {
                format!("{} ({} findings){on}", ms[0].rule_title, ms.len())
            }
            ms => format!("{} findings{on}", ms.len()),
        };
        let findings: Vec<FindingView> = members
            .iter()
            .take(MAX_LISTED)
            .map(|m| FindingView {
                id: m.id,
                rule_id: m.rule_id.clone(),
                rule_title: m.rule_title.clone(),
                severity: m.severity,
                status: m.status.as_str().to_string(),
                service: m.service.clone(),
                user: m.user.clone(),
                event_count: m.event_count,
                first_seen: rfc3339(m.first_seen),
                last_seen: rfc3339(m.last_seen),
                risk_score: m.risk_score,
                description: m.description.clone(),
                link: link(base_url, &format!("/findings/{}", m.id)),
            })
            .collect();
        let resolved = kind == NotificationKind::Resolved;
        Message {
            kind,
            status: if resolved { "resolved" } else { "firing" },
            severity,
            summary,
            route: route.to_string(),
            receiver: receiver.to_string(),
            group_key: group_key.to_string(),
            labels: labels.clone(),
            link: findings.first().and_then(|f| f.link.clone()),
            findings,
            more: members.len().saturating_sub(MAX_LISTED),
            count: members.len(),
            events: members.iter().map(|m| m.event_count).sum(),
            first_seen: members.iter().map(|m| m.first_seen).min().map(rfc3339),
            last_seen: members.iter().map(|m| m.last_seen).max().map(rfc3339),
            risk_score: members.iter().map(|m| m.risk_score).max().unwrap_or(0),
            silence: None,
            base_url: base_url.to_string(),
            created_at: rfc3339(now),
        }
    }

    /// A message that a silence started or ended.
    pub fn silence(
        kind: NotificationKind,
        receiver: &str,
        s: &Silence,
        base_url: &str,
        now: DateTime<Utc>,
    ) -> Message {
        let mut m = Message::about(kind, "", receiver, "", &BTreeMap::new(), &[], base_url, now);
        m.status = if kind == NotificationKind::SilenceEnded {
            "resolved"
        } else {
            "firing"
        };
        m.group_key = format!("silence:{}", s.id);
        let text = matchers_text(&s.matchers);
        m.summary = format!("#{} ({text})", s.id);
        m.link = link(base_url, "/alerts/silences");
        m.silence = Some(SilenceView {
            id: s.id,
            matchers: s.matchers.clone(),
            matchers_text: text,
            starts_at: rfc3339(s.starts_at),
            ends_at: rfc3339(s.ends_at),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
        });
        m
    }

    /// The test-send message.
    pub fn test(receiver: &str, base_url: &str, now: DateTime<Utc>) -> Message {
        let mut m = Message::about(
            NotificationKind::Test,
            "",
            receiver,
            "test",
            &BTreeMap::new(),
            &[],
            base_url,
            now,
        );
        m.summary = format!("Vigilo can reach receiver `{receiver}`");
        m.link = link(base_url, "/");
        m
    }
}

/// The rendered title and text, and the request body of `rc`'s kind.
pub fn render(rc: &ReceiverConfig, m: &Message) -> (String, Value) {
    let title = templates::render(
        rc.title_template
            .as_deref()
            .unwrap_or(templates::DEFAULT_TITLE),
        m,
    );
    let text = if m.kind == NotificationKind::Test && rc.body_template.is_none() {
        "A test message from Vigilo: this receiver is configured right.".to_string()
    } else {
        templates::render(
            rc.body_template
                .as_deref()
                .unwrap_or(templates::DEFAULT_BODY),
            m,
        )
    };
    let body = match rc.kind {
        ReceiverKind::Discord => discord::body(m, &title, &text),
        ReceiverKind::Slack => slack::body(m, &title, &text),
        ReceiverKind::Webhook => webhook::body(m, &title, &text),
    };
    (title, body)
}

/// Colour of a message: by severity while firing, green once resolved,
/// purple for silences, grey for tests.
pub fn colour(m: &Message) -> u32 {
    match m.kind {
        NotificationKind::Resolved | NotificationKind::SilenceEnded => 0x2E7D32,
        NotificationKind::SilenceStarted => 0x7E57C2,
        NotificationKind::Test => 0x607D8B,
        NotificationKind::Firing | NotificationKind::Repeat => match m.severity {
            Severity::Critical => 0xD32F2F,
            Severity::High => 0xF57C00,
            Severity::Medium => 0xFBC02D,
            Severity::Low => 0x1976D2,
            Severity::Informational => 0x90A4AE,
        },
    }
}

/// At most `max` characters, with an ellipsis when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The facts shown as fields (Discord) or a field section (Slack).
pub fn facts(m: &Message) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(s) = &m.silence {
        out.push(("Matchers", s.matchers_text.clone()));
        out.push(("Starts", s.starts_at.clone()));
        out.push(("Ends", s.ends_at.clone()));
        out.push(("Created by", s.created_by.clone()));
        return out;
    }
    if m.count == 0 {
        return out;
    }
    let rules: std::collections::BTreeSet<&str> =
        m.findings.iter().map(|f| f.rule_id.as_str()).collect();
    let rule = if rules.len() == 1 {
        rules.iter().next().copied().unwrap_or_default().to_string()
    } else {
        format!("{} rules", rules.len())
    };
    out.push(("Rule", rule));
    out.push(("Severity", m.severity.as_str().to_string()));
    let services: std::collections::BTreeSet<&str> = m
        .findings
        .iter()
        .filter_map(|f| f.service.as_deref())
        .collect();
    if !services.is_empty() {
        out.push((
            "Service",
            services.into_iter().collect::<Vec<_>>().join(", "),
        ));
    }
    out.push((
        "Count",
        format!("{} findings, {} events", m.count, m.events),
    ));
    if let Some(f) = &m.first_seen {
        out.push(("First seen", f.clone()));
    }
    if let Some(l) = &m.last_seen {
        out.push(("Last seen", l.clone()));
    }
    out.push(("Risk score", m.risk_score.to_string()));
    if let Some(l) = &m.link {
        out.push(("Link", l.clone()));
    }
    out
}
