//! Incidents: short event sequences, each built to trip one bundled rule
//! (and the rules that necessarily come with it, such as the lower tiers of a
//! tiered rule). Every incident uses its own users and services, so two
//! incidents never add up to a third finding and normal traffic never tops an
//! incident up. Each one crosses its rule's threshold within
//! [`Incident::MAX_TRIP`] of its start (in event time), whatever the rate of
//! the traffic around it, so a demo shows every rule within minutes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration as TimeDelta, Utc};
use rand::Rng;
use serde_json::{Value, json};

use crate::events::{
    self, CITIES, REPOS, audit, error_message, failed_message, foreign_ip, log, metric, office_ip,
    pick_str, transaction,
};
use crate::population::SERVICES;

/// One kind of incident per bundled rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Incident {
    LogErrorSpike,
    LogFailedKeyword,
    LogUserBurst,
    CpuSustained,
    HighLatency,
    CpuAndLatency,
    LargeAmount,
    TxnBurst,
    FailedLoginsMedium,
    FailedLoginsHigh,
    FailedLoginsCritical,
    LoginAfterFailures,
    MfaFailuresMedium,
    MfaFailuresHigh,
    PrivilegeEscalationUnapproved,
    PrivilegeEscalationApproved,
    AdminToken,
    TokenWithoutExpiry,
    LargePr,
    ProdDeployFailed,
    PublicBucket,
    ActivityBurst,
}

/// The events of one injected incident and whom they are about.
#[derive(Debug, Clone)]
pub struct IncidentEvents {
    pub kind: Incident,
    /// Events in time order.
    pub events: Vec<(DateTime<Utc>, Value)>,
    /// Users (`user` or `user_id`) that occur in the events.
    pub users: Vec<String>,
    /// Services that occur in the events.
    pub services: Vec<String>,
}

const PERSONAS: [&str; 6] = [
    "contractor",
    "svc-build",
    "intern",
    "vendor",
    "tempops",
    "guest",
];

impl Incident {
    /// Longest time from an incident's start to the event that trips its
    /// own rule.
    pub const MAX_TRIP: TimeDelta = TimeDelta::seconds(40);

    pub const ALL: [Incident; 22] = [
        Incident::LogErrorSpike,
        Incident::LogFailedKeyword,
        Incident::LogUserBurst,
        Incident::CpuSustained,
        Incident::HighLatency,
        Incident::CpuAndLatency,
        Incident::LargeAmount,
        Incident::TxnBurst,
        Incident::FailedLoginsMedium,
        Incident::FailedLoginsHigh,
        Incident::FailedLoginsCritical,
        Incident::LoginAfterFailures,
        Incident::MfaFailuresMedium,
        Incident::MfaFailuresHigh,
        Incident::PrivilegeEscalationUnapproved,
        Incident::PrivilegeEscalationApproved,
        Incident::AdminToken,
        Incident::TokenWithoutExpiry,
        Incident::LargePr,
        Incident::ProdDeployFailed,
        Incident::PublicBucket,
        Incident::ActivityBurst,
    ];

    /// Short name: the rule id without its pack, e.g. `log_error_spike`.
    pub fn name(self) -> &'static str {
        let id = self.rule_id();
        id.split_once('.').map_or(id, |(_, n)| n)
    }

    /// Id of the bundled rule this incident is built to trip.
    pub fn rule_id(self) -> &'static str {
        self.rule_ids()[0]
    }

    /// Every bundled rule id the incident trips, its own first.
    pub fn rule_ids(self) -> &'static [&'static str] {
        use Incident::*;
        match self {
            LogErrorSpike => &["anomaly.log_error_spike"],
            LogFailedKeyword => &["anomaly.log_failed_keyword"],
            LogUserBurst => &["anomaly.log_user_burst"],
            CpuSustained => &["anomaly.cpu_sustained"],
            HighLatency => &["anomaly.high_latency"],
            CpuAndLatency => &["anomaly.cpu_and_latency", "anomaly.high_latency"],
            LargeAmount => &["anomaly.large_amount"],
            TxnBurst => &["anomaly.txn_burst"],
            FailedLoginsMedium => &["identity.failed_logins_medium"],
            FailedLoginsHigh => &[
                "identity.failed_logins_high",
                "identity.failed_logins_medium",
            ],
            FailedLoginsCritical => &[
                "identity.failed_logins_critical",
                "identity.failed_logins_high",
                "identity.failed_logins_medium",
            ],
            LoginAfterFailures => &[
                "identity.login_after_failures",
                "identity.failed_logins_medium",
            ],
            MfaFailuresMedium => &["identity.mfa_failures_medium"],
            MfaFailuresHigh => &["identity.mfa_failures_high", "identity.mfa_failures_medium"],
            PrivilegeEscalationUnapproved => &["identity.privilege_escalation_unapproved"],
            PrivilegeEscalationApproved => &["identity.privilege_escalation_approved"],
            AdminToken => &["identity.admin_token"],
            TokenWithoutExpiry => &["identity.token_without_expiry"],
            LargePr => &["identity.large_pr"],
            ProdDeployFailed => &["identity.prod_deploy_failed"],
            PublicBucket => &["identity.public_bucket"],
            ActivityBurst => &["identity.activity_burst"],
        }
    }

    /// Builds incident number `seq` starting at `start`. `seq` makes the
    /// incident's users and services unique.
    pub fn build<R: Rng>(self, seq: u64, start: DateTime<Utc>, rng: &mut R) -> IncidentEvents {
        use Incident::*;
        let persona = PERSONAS[(seq % PERSONAS.len() as u64) as usize];
        let user = format!("{persona}{seq:04}");
        let service = format!("{}-canary{seq}", SERVICES[(seq % 12) as usize]);
        let at = |secs: f64| start + TimeDelta::milliseconds((secs * 1000.0).round() as i64);
        let mut ev: Vec<(DateTime<Utc>, Value)> = Vec::new();
        let mut users = vec![user.clone()];
        let mut services = Vec::new();
        match self {
            LogErrorSpike => {
                // 24 errors in 35 s, each from a different user so that no
                // per-user rule sees more than one.
                users.clear();
                for i in 0..24 {
                    let u = format!("{user}.{i}");
                    let t = at(i as f64 * 1.5);
                    ev.push((t, log(t, &service, "ERROR", error_message(rng), &u)));
                    users.push(u);
                }
                services.push(service);
            }
            LogFailedKeyword => {
                let t = at(0.0);
                ev.push((t, log(t, &service, "ERROR", failed_message(rng), &user)));
                services.push(service);
            }
            LogUserBurst => {
                // 12 warnings and errors from one user in 33 s; 5 errors stay
                // far below the per-service spike.
                for i in 0..12 {
                    let t = at(i as f64 * 3.0);
                    let (level, msg) = if i % 5 == 2 || i % 5 == 4 {
                        ("ERROR", error_message(rng))
                    } else {
                        ("WARNING", events::message(rng, "WARNING", &user))
                    };
                    ev.push((t, log(t, &service, level, msg, &user)));
                }
                services.push(service);
            }
            CpuSustained => {
                // A sample every 10 s, the fifth hot one 40 s in.
                for i in 0..6 {
                    let t = at(i as f64 * 10.0);
                    let cpu = rng.gen_range(82.0..97.0);
                    let lat = rng.gen_range(150..700);
                    ev.push((t, metric(t, &service, cpu, lat)));
                }
                users.clear();
                services.push(service);
            }
            HighLatency => {
                let t = at(0.0);
                let cpu = rng.gen_range(20.0..60.0);
                ev.push((t, metric(t, &service, cpu, rng.gen_range(1_200..4_500))));
                users.clear();
                services.push(service);
            }
            CpuAndLatency => {
                let t = at(0.0);
                let cpu = rng.gen_range(85.0..99.0);
                ev.push((t, metric(t, &service, cpu, rng.gen_range(1_500..6_000))));
                users.clear();
                services.push(service);
            }
            LargeAmount => {
                let t = at(0.0);
                let amount = rng.gen_range(12_000.0..95_000.0);
                ev.push((t, transaction(rng, t, &user, amount, "success")));
            }
            TxnBurst => {
                for i in 0..6 {
                    let t = at(i as f64 * 5.0);
                    let amount = rng.gen_range(5.0..900.0);
                    ev.push((t, transaction(rng, t, &user, amount, "success")));
                }
            }
            FailedLoginsMedium => failed_logins(rng, &mut ev, &user, 3, 10.0, &at),
            FailedLoginsHigh => failed_logins(rng, &mut ev, &user, 6, 6.0, &at),
            FailedLoginsCritical => failed_logins(rng, &mut ev, &user, 9, 4.0, &at),
            LoginAfterFailures => {
                failed_logins(rng, &mut ev, &user, 4, 6.0, &at);
                let t = at(30.0);
                let (ip, location) = match ev.first() {
                    Some((_, v)) => (v["ip"].clone(), v["location"].clone()),
                    None => (Value::Null, Value::Null),
                };
                ev.push((
                    t,
                    audit(
                        t,
                        "login_success",
                        &user,
                        json!({"ip": ip, "location": location, "method": "password"}),
                    ),
                ));
            }
            MfaFailuresMedium => mfa_failures(rng, &mut ev, &user, 3, 10.0, &at),
            MfaFailuresHigh => mfa_failures(rng, &mut ev, &user, 6, 6.0, &at),
            PrivilegeEscalationUnapproved | PrivilegeEscalationApproved => {
                let t = at(0.0);
                let old = pick_str(rng, &["developer", "viewer", "analyst", "support"]);
                let mut f = json!({"old_role": old, "new_role": "admin", "ip": office_ip(rng)});
                if self == PrivilegeEscalationApproved {
                    f["approved_by"] =
                        json!(pick_str(rng, &["ciso", "it.manager", "security.lead"]));
                }
                ev.push((t, audit(t, "permission_changed", &user, f)));
            }
            AdminToken => {
                let t = at(0.0);
                let f = json!({"scopes": ["repo:read", "admin:*"], "has_expiry": true, "ip": office_ip(rng)});
                ev.push((t, audit(t, "api_token_created", &user, f)));
            }
            TokenWithoutExpiry => {
                let t = at(0.0);
                let f = json!({"scopes": ["repo:read", "ci:trigger"], "has_expiry": false, "ip": office_ip(rng)});
                ev.push((t, audit(t, "api_token_created", &user, f)));
            }
            LargePr => {
                let t = at(0.0);
                let f = json!({"repo": pick_str(rng, &REPOS), "lines_changed": rng.gen_range(450..5_000)});
                ev.push((t, audit(t, "pull_request_merged", &user, f)));
            }
            ProdDeployFailed => {
                let t = at(0.0);
                let svc = SERVICES[rng.gen_range(0..SERVICES.len())];
                let f = json!({"service": svc, "environment": "prod"});
                ev.push((t, audit(t, "deployment_failed", &user, f)));
            }
            PublicBucket => {
                let t = at(0.0);
                let event_type = if seq.is_multiple_of(2) {
                    "storage_bucket_created"
                } else {
                    "storage_bucket_permission_changed"
                };
                let f = json!({"bucket_name": format!("exports-{seq}-share"), "public": true});
                ev.push((t, audit(t, event_type, &user, f)));
            }
            ActivityBurst => {
                // 320 reads in 32 s, ten a second: a script bulk-downloading
                // documents. The 301st comes 30 s in, whatever the rate of
                // the traffic around it.
                for i in 0..320 {
                    let t = at(i as f64 * 0.1);
                    let f = if i % 8 == 0 {
                        json!({"repo": pick_str(rng, &REPOS), "ip": office_ip(rng)})
                    } else {
                        json!({"path": format!("/shared/finance/report-{}.pdf", rng.gen_range(1..9999)), "ip": office_ip(rng)})
                    };
                    let event_type = if i % 8 == 0 {
                        "repo_cloned"
                    } else {
                        "file_accessed"
                    };
                    ev.push((t, audit(t, event_type, &user, f)));
                }
            }
        }
        ev.sort_by_key(|(t, _)| *t);
        IncidentEvents {
            kind: self,
            events: ev,
            users,
            services,
        }
    }
}

fn failed_logins<R: Rng>(
    rng: &mut R,
    ev: &mut Vec<(DateTime<Utc>, Value)>,
    user: &str,
    n: usize,
    every: f64,
    at: &dyn Fn(f64) -> DateTime<Utc>,
) {
    let ip = foreign_ip(rng);
    let location = pick_str(rng, &CITIES);
    for i in 0..n {
        let t = at(i as f64 * every);
        let f = json!({"ip": ip, "location": location, "method": "password"});
        ev.push((t, audit(t, "login_failed", user, f)));
    }
}

fn mfa_failures<R: Rng>(
    rng: &mut R,
    ev: &mut Vec<(DateTime<Utc>, Value)>,
    user: &str,
    n: usize,
    every: f64,
    at: &dyn Fn(f64) -> DateTime<Utc>,
) {
    let ip = foreign_ip(rng);
    let location = pick_str(rng, &CITIES);
    for i in 0..n {
        let t = at(i as f64 * every);
        let f = json!({"ip": ip, "location": location, "method": "totp"});
        ev.push((t, audit(t, "mfa_failed", user, f)));
    }
}

impl fmt::Display for Incident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown incident name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown incident `{0}`")]
pub struct UnknownIncident(pub String);

impl FromStr for Incident {
    type Err = UnknownIncident;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Incident::ALL
            .iter()
            .copied()
            .find(|i| {
                let s = s.trim();
                i.name().eq_ignore_ascii_case(s) || i.rule_id().eq_ignore_ascii_case(s)
            })
            .ok_or_else(|| UnknownIncident(s.to_string()))
    }
}
