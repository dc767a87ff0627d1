//! `[alerts]`: routes, receivers, inhibition, timings.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vigilo_core::Severity;

use crate::config::Secret;

/// `[alerts]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Base of the links in messages (`https://vigilo.example.com`); a
    /// finding's link is `<base_url>/findings/<id>`. Empty: no links.
    pub base_url: String,
    /// How long a new group waits for more findings before its first
    /// notification (`30s`).
    pub group_wait: DurationText,
    /// Least time between two notifications of a group that changed (new
    /// findings, counts grown) (`5m`).
    pub group_interval: DurationText,
    /// A group still firing, unchanged, is notified again after this (`4h`).
    pub repeat_interval: DurationText,
    /// Finding fields whose values make a group: `rule_id`, `service`,
    /// `severity`, `user`, or any group-by field of the rule.
    pub group_by: Vec<String>,
    /// `[[alerts.routes]]`, tried in order.
    pub routes: Vec<RouteConfig>,
    /// `[[alerts.receivers]]`
    pub receivers: Vec<ReceiverConfig>,
    /// `[[alerts.inhibit]]`
    pub inhibit: Vec<InhibitConfig>,
    /// Notifications waiting for delivery at most; the alerter waits when
    /// the queue is full.
    pub queue_capacity: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            base_url: String::new(),
            group_wait: DurationText::secs(30),
            group_interval: DurationText::secs(300),
            repeat_interval: DurationText::secs(4 * 3600),
            group_by: vec!["rule_id".into(), "service".into()],
            routes: Vec::new(),
            receivers: Vec::new(),
            inhibit: Vec::new(),
            queue_capacity: 1024,
        }
    }
}

/// `[[alerts.routes]]`: which findings go to which receivers. A finding
/// matches when every condition set matches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    pub name: String,
    /// Findings at this severity or above (default: any).
    pub min_severity: Option<Severity>,
    /// Rule ids, exact or globs (`iam.*`); empty: any rule.
    pub rules: Vec<String>,
    /// Services, exact or globs; empty: any service.
    pub services: Vec<String>,
    /// At least one of these tags (rule or workflow tags, globs allowed);
    /// empty: any.
    pub tags: Vec<String>,
    /// Receiver names.
    pub receivers: Vec<String>,
    /// Keep trying the next routes after this one matched (default: the
    /// first matching route wins).
    #[serde(rename = "continue")]
    pub continue_: bool,
    /// Overrides of `[alerts]` timings and grouping for this route.
    pub group_wait: Option<DurationText>,
    pub group_interval: Option<DurationText>,
    pub repeat_interval: Option<DurationText>,
    pub group_by: Option<Vec<String>>,
}

/// Receiver kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReceiverKind {
    /// A Discord channel webhook (embeds).
    Discord,
    /// A Slack incoming webhook (blocks).
    Slack,
    /// Any HTTP endpoint: Vigilo's JSON, signed with HMAC-SHA256.
    Webhook,
}

impl ReceiverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Discord => "discord",
            ReceiverKind::Slack => "slack",
            ReceiverKind::Webhook => "webhook",
        }
    }
}

/// `[[alerts.receivers]]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ReceiverKind,
    /// The webhook URL (a secret: Discord and Slack URLs carry a token).
    pub url: Option<Secret>,
    /// Name of an environment variable holding the URL; when set and
    /// present it wins over `url`.
    pub url_env: Option<String>,
    /// Webhook receivers: the HMAC-SHA256 key of `X-Vigilo-Signature`.
    pub secret: Option<Secret>,
    /// Name of an environment variable holding `secret`.
    pub secret_env: Option<String>,
    /// A minijinja template of the title (see the docs for its variables).
    pub title_template: Option<String>,
    /// A minijinja template of the message text.
    pub body_template: Option<String>,
    /// One request's time limit (`10s`).
    pub timeout: DurationText,
    /// Tries after the first before the notification is `failed`.
    pub max_retries: u32,
    /// Wait before the first retry; doubled each retry (`1s`).
    pub retry_backoff: DurationText,
    /// Longest wait between retries, also for a `Retry-After` (`1m`).
    pub max_backoff: DurationText,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            name: String::new(),
            kind: ReceiverKind::Webhook,
            url: None,
            url_env: None,
            secret: None,
            secret_env: None,
            title_template: None,
            body_template: None,
            timeout: DurationText::secs(10),
            max_retries: 5,
            retry_backoff: DurationText::secs(1),
            max_backoff: DurationText::secs(60),
        }
    }
}

impl ReceiverConfig {
    /// The URL to call: from `url_env` when that variable is set, else `url`.
    pub fn resolved_url(&self) -> Option<String> {
        if let Some(var) = &self.url_env
            && let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return Some(v);
        }
        self.url.as_ref().map(|s| s.expose().to_string())
    }

    pub fn resolved_secret(&self) -> Option<String> {
        if let Some(var) = &self.secret_env
            && let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return Some(v);
        }
        self.secret.as_ref().map(|s| s.expose().to_string())
    }
}

/// `[[alerts.inhibit]]`: while a source finding fires, targets with the
/// same values of `equal` are muted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InhibitConfig {
    /// Sources: open findings at this severity or above (`critical`).
    pub source_min_severity: Severity,
    /// Targets: findings at this severity or below (default: every
    /// severity below `source_min_severity`).
    pub target_max_severity: Option<Severity>,
    /// Fields that must be equal (and set) in source and target.
    pub equal: Vec<String>,
}

impl Default for InhibitConfig {
    fn default() -> Self {
        InhibitConfig {
            source_min_severity: Severity::Critical,
            target_max_severity: None,
            equal: vec!["service".into()],
        }
    }
}

/// A duration written as a number and a unit: `200ms`, `30s`, `5m`, `4h`,
/// `1d`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DurationText(pub Duration);

impl DurationText {
    pub const fn secs(s: u64) -> Self {
        DurationText(Duration::from_secs(s))
    }
}

impl fmt::Debug for DurationText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

/// `200ms`, `30s`, `5m`, `4h`, `1d`, `1w`; at most ten years.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "`{s}` is not a duration: a whole number and a unit (ms, s, m, h, d, w), e.g. `30s`"
        )
    };
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return Err(bad()),
    };
    let total = n
        .checked_mul(ms)
        .filter(|t| *t <= 10 * 366 * 86_400_000)
        .ok_or_else(bad)?;
    Ok(Duration::from_millis(total))
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

impl Serialize for DurationText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(DurationText)
            .map_err(serde::de::Error::custom)
    }
}

/// Fields a route, a group or a silence can name.
pub const FINDING_FIELDS: [&str; 5] = ["rule_id", "service", "severity", "user", "tag"];

/// Check the configuration at start; the message names the field.
pub fn validate(c: &AlertsConfig) -> Result<(), String> {
    let mut names = std::collections::BTreeSet::new();
    for (i, r) in c.receivers.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err(format!("alerts.receivers[{i}].name must not be empty"));
        }
        if !names.insert(r.name.as_str()) {
            return Err(format!(
                "alerts.receivers[{i}].name: receiver `{}` is defined twice",
                r.name
            ));
        }
        let Some(url) = r.resolved_url() else {
            return Err(format!(
                "alerts.receivers[{i}].url: receiver `{}` has no url (set `url` or `url_env`)",
                r.name
            ));
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "alerts.receivers[{i}].url: receiver `{}` needs an http:// or https:// URL",
                r.name
            ));
        }
        for (field, t) in [
            ("title_template", &r.title_template),
            ("body_template", &r.body_template),
        ] {
            if let Some(t) = t {
                super::templates::check(t).map_err(|e| {
                    format!("alerts.receivers[{i}].{field}: receiver `{}`: {e}", r.name)
                })?;
            }
        }
        if r.timeout.0.is_zero() {
            return Err(format!("alerts.receivers[{i}].timeout must be above 0"));
        }
    }
    let mut routes = std::collections::BTreeSet::new();
    for (i, r) in c.routes.iter().enumerate() {
        if r.name.trim().is_empty() {
            return Err(format!("alerts.routes[{i}].name must not be empty"));
        }
        if !routes.insert(r.name.as_str()) {
            return Err(format!(
                "alerts.routes[{i}].name: route `{}` is defined twice",
                r.name
            ));
        }
        if r.receivers.is_empty() {
            return Err(format!(
                "alerts.routes[{i}].receivers: route `{}` names no receiver",
                r.name
            ));
        }
        for name in &r.receivers {
            if !names.contains(name.as_str()) {
                return Err(format!(
                    "alerts.routes[{i}].receivers: route `{}` names unknown receiver `{name}`",
                    r.name
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(14_400)));
        for bad in ["", "5", "m", "5 minutes", "-1s", "99999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn unknown_receivers_fail_naming_the_field() {
        let mut c = AlertsConfig::default();
        c.receivers.push(ReceiverConfig {
            name: "hook".into(),
            url: Some(Secret::new("http://127.0.0.1:9/x")),
            ..ReceiverConfig::default()
        });
        c.routes.push(RouteConfig {
            name: "ops".into(),
            receivers: vec!["hook".into(), "nope".into()],
            ..RouteConfig::default()
        });
        let e = validate(&c).unwrap_err();
        assert!(e.contains("alerts.routes[0].receivers"), "{e}");
        assert!(e.contains("`nope`"), "{e}");
        c.routes[0].receivers.pop();
        assert_eq!(validate(&c), Ok(()));
        c.receivers[0].title_template = Some("{{ oops".into());
        let e = validate(&c).unwrap_err();
        assert!(e.contains("alerts.receivers[0].title_template"), "{e}");
    }

    #[test]
    fn the_documented_shape_deserializes() {
        let c: AlertsConfig = serde_json::from_value(serde_json::json!({
            "base_url": "https://v.example.com",
            "group_wait": "10s",
            "routes": [{"name": "ops", "min_severity": "high", "rules": ["iam.*"],
                        "receivers": ["hook"], "continue": true, "repeat_interval": "1h"}],
            "receivers": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h",
                           "secret": "k", "max_retries": 2}],
            "inhibit": [{"equal": ["service", "user"]}],
        }))
        .unwrap();
        assert_eq!(c.group_wait.0, Duration::from_secs(10));
        assert_eq!(c.group_interval.0, Duration::from_secs(300));
        assert!(c.routes[0].continue_);
        assert_eq!(c.routes[0].min_severity, Some(Severity::High));
        assert_eq!(c.receivers[0].max_retries, 2);
        assert_eq!(c.receivers[0].timeout.0, Duration::from_secs(10));
        assert_eq!(c.inhibit[0].source_min_severity, Severity::Critical);
        assert_eq!(validate(&c), Ok(()));
        let bad = serde_json::from_value::<AlertsConfig>(serde_json::json!({
            "routes": [{"name": "ops", "receiver": ["hook"]}]
        }));
        assert!(bad.unwrap_err().to_string().contains("receiver"));
        let bad = serde_json::from_value::<AlertsConfig>(serde_json::json!({"group_wait": "soon"}));
        assert!(bad.unwrap_err().to_string().contains("not a duration"));
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let r = ReceiverConfig {
            name: "d".into(),
            url: Some(Secret::new("https://discord.com/api/webhooks/1/tok3n")),
            secret: Some(Secret::new("hunter2")),
            ..ReceiverConfig::default()
        };
        let shown = format!("{r:?}");
        assert!(
            !shown.contains("tok3n") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
