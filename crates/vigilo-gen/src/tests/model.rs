//! A plain model of the bundled rules, computed over whole event streams:
//! the largest count of each correlation in any window, and which rules
//! (and groups) would fire.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::DateTime;
use serde_json::Value;

/// (series, group field, window in seconds)
const SERIES: [(&str, u64); 7] = [
    ("log_error", 180),
    ("log_user_problem", 180),
    ("cpu_high", 300),
    ("txn", 300),
    ("login_failed", 3600),
    ("mfa_failed", 600),
    ("activity", 3600),
];

/// (rule id, series, threshold)
const CORRELATIONS: [(&str, &str, usize); 10] = [
    ("anomaly.log_error_spike", "log_error", 20),
    ("anomaly.log_user_burst", "log_user_problem", 10),
    ("anomaly.cpu_sustained", "cpu_high", 5),
    ("anomaly.txn_burst", "txn", 5),
    ("identity.failed_logins_medium", "login_failed", 3),
    ("identity.failed_logins_high", "login_failed", 5),
    ("identity.failed_logins_critical", "login_failed", 8),
    ("identity.mfa_failures_medium", "mfa_failed", 3),
    ("identity.mfa_failures_high", "mfa_failed", 5),
    ("identity.activity_burst", "activity", 301),
];

/// Largest count normal traffic may reach in a series' window: well below
/// the lowest threshold on it.
pub fn margin_limit(series: &str) -> usize {
    match series {
        "log_error" => 12,
        "log_user_problem" => 5,
        "cpu_high" => 0,
        "txn" => 3,
        "login_failed" => 2,
        "mfa_failed" => 2,
        "activity" => 150,
        _ => 0,
    }
}

#[derive(Default)]
pub struct RuleModel {
    pub kinds: BTreeSet<String>,
    series: HashMap<(&'static str, String), Vec<i64>>,
    singles: Vec<(&'static str, String)>,
    logins: HashMap<String, Vec<i64>>,
}

#[derive(Debug, Default)]
pub struct ModelReport {
    pub tripped: BTreeSet<String>,
    /// (rule id, group value) for every firing.
    pub groups: Vec<(String, String)>,
    /// Largest windowed count per series.
    pub maxima: BTreeMap<String, usize>,
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

impl RuleModel {
    pub fn observe(&mut self, v: &Value) {
        let t = s(v, "timestamp")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
            .expect("every event has an RFC 3339 timestamp");
        let kind = s(v, "kind").expect("every event has a kind").to_string();
        let mut add = |series: &'static str, group: Option<&str>| {
            let group = group.expect("grouped field present").to_string();
            self.series.entry((series, group)).or_default().push(t);
        };
        match kind.as_str() {
            "log" => {
                let level = s(v, "level").unwrap_or("");
                if level == "ERROR" {
                    add("log_error", s(v, "service"));
                    if s(v, "message")
                        .unwrap_or("")
                        .to_lowercase()
                        .contains("failed")
                    {
                        self.singles.push((
                            "anomaly.log_failed_keyword",
                            s(v, "service").unwrap_or("").into(),
                        ));
                    }
                }
                if level == "ERROR" || level == "WARNING" {
                    add("log_user_problem", s(v, "user_id"));
                }
            }
            // A source's sample (`source_id`, `metric_name`, `value`)
            // carries no cpu or latency: no metric rule looks at it.
            "metric" if f(v, "cpu").is_none() => {
                assert!(
                    s(v, "metric_name").is_some() && f(v, "value").is_some(),
                    "a metric without cpu is a source sample: {v}"
                );
            }
            "metric" => {
                let cpu = f(v, "cpu").expect("cpu");
                let lat = f(v, "latency_ms").expect("latency");
                let svc = s(v, "service").unwrap_or("").to_string();
                if cpu >= 80.0 {
                    add("cpu_high", Some(&svc));
                }
                if lat > 1000.0 {
                    self.singles.push(("anomaly.high_latency", svc.clone()));
                    if cpu >= 80.0 {
                        self.singles.push(("anomaly.cpu_and_latency", svc));
                    }
                }
            }
            "transaction" => {
                add("txn", s(v, "user_id"));
                if f(v, "amount").expect("amount") > 10_000.0 {
                    self.singles
                        .push(("anomaly.large_amount", s(v, "user_id").unwrap_or("").into()));
                }
            }
            "audit" => {
                let user = s(v, "user").expect("audit user").to_string();
                add("activity", Some(&user));
                let single = match s(v, "event_type").expect("event_type") {
                    "login_failed" => {
                        add("login_failed", Some(&user));
                        None
                    }
                    "mfa_failed" => {
                        add("mfa_failed", Some(&user));
                        None
                    }
                    "login_success" => {
                        self.logins.entry(user.clone()).or_default().push(t);
                        None
                    }
                    "permission_changed" => {
                        let approved = s(v, "approved_by").is_some_and(|a| !a.is_empty());
                        if s(v, "new_role") == Some("admin") && s(v, "old_role") != Some("admin") {
                            Some(if approved {
                                "identity.privilege_escalation_approved"
                            } else {
                                "identity.privilege_escalation_unapproved"
                            })
                        } else {
                            None
                        }
                    }
                    "api_token_created" => {
                        let admin = v["scopes"]
                            .as_array()
                            .expect("scopes array")
                            .iter()
                            .any(|x| x.as_str() == Some("admin:*"));
                        if admin {
                            self.singles.push(("identity.admin_token", user.clone()));
                        }
                        (v["has_expiry"].as_bool() == Some(false))
                            .then_some("identity.token_without_expiry")
                    }
                    "pull_request_merged" => (f(v, "lines_changed").expect("lines") > 400.0)
                        .then_some("identity.large_pr"),
                    "deployment_failed" => (s(v, "environment") == Some("prod"))
                        .then_some("identity.prod_deploy_failed"),
                    "storage_bucket_created" | "storage_bucket_permission_changed" => {
                        (v["public"].as_bool() == Some(true)).then_some("identity.public_bucket")
                    }
                    _ => None,
                };
                if let Some(rule) = single {
                    self.singles.push((rule, user));
                }
            }
            other => panic!("unexpected kind {other}"),
        }
        self.kinds.insert(kind);
    }

    pub fn evaluate(&mut self) -> ModelReport {
        let mut r = ModelReport::default();
        for (series, _) in SERIES {
            r.maxima.insert(series.to_string(), 0);
        }
        for ((series, group), times) in &mut self.series {
            times.sort_unstable();
            let window = SERIES
                .iter()
                .find(|(n, _)| n == series)
                .map(|(_, w)| *w as i64 * 1000)
                .expect("known series");
            let mut best = 0;
            let mut lo = 0;
            for hi in 0..times.len() {
                while times[hi] - times[lo] > window {
                    lo += 1;
                }
                best = best.max(hi - lo + 1);
            }
            let m = r.maxima.entry(series.to_string()).or_insert(0);
            *m = (*m).max(best);
            for (rule, s, threshold) in CORRELATIONS {
                if s == *series && best >= threshold {
                    r.tripped.insert(rule.to_string());
                    r.groups.push((rule.to_string(), group.clone()));
                }
            }
        }
        for (user, successes) in &self.logins {
            let Some(fails) = self.series.get(&("login_failed", user.clone())) else {
                continue;
            };
            let hit = successes.iter().any(|&s| {
                fails
                    .iter()
                    .filter(|&&f| f <= s && s - f <= 1_800_000)
                    .count()
                    >= 3
            });
            if hit {
                r.tripped.insert("identity.login_after_failures".into());
                r.groups
                    .push(("identity.login_after_failures".into(), user.clone()));
            }
        }
        for (rule, group) in &self.singles {
            r.tripped.insert(rule.to_string());
            r.groups.push((rule.to_string(), group.clone()));
        }
        r
    }
}
