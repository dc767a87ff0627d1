//! The generator: normal traffic sized to stay under every rule threshold,
//! plus incidents injected on a schedule.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::cloud::{CloudTraffic, Source};
use crate::error::GenError;
use crate::events::{
    self, CITIES, REPOS, audit, log, metric, normal_amount, normal_cpu, normal_latency, office_ip,
    pick_str, source_metric, transaction, txn_status,
};
use crate::incident::Incident;
use crate::population::{Cycle, SERVICES, service_name, subkey, user_name};

/// Share of each kind in normal traffic.
pub const LOG_SHARE: f64 = 0.45;
pub const METRIC_SHARE: f64 = 0.25;
pub const TRANSACTION_SHARE: f64 = 0.12;
pub const AUDIT_SHARE: f64 = 0.18;
/// Of the metrics, samples of external sources (`source_id`,
/// `metric_name`, `value`) rather than service CPU and latency.
pub const SOURCE_METRIC_SHARE: f64 = 0.2;
/// External sources the samples come from.
const SOURCES: u64 = 40;

/// Log level weights (ERROR is lowered at high rates, see [`Populations`]).
const WARNING_SHARE: f64 = 0.11;
const DEBUG_SHARE: f64 = 0.17;
const MAX_ERROR_SHARE: f64 = 0.04;
/// Share of audit events that are a single failed login or MFA prompt.
const AUTH_FAILURE_SHARE: f64 = 0.015;

/// Users per event/s of configured rate, and the floor.
const USERS_PER_RATE: f64 = 30.0;
const MIN_USERS: u64 = 500;
/// Services per event/s (in multiples of the 12 families), capped.
const SERVICES_PER_RATE: f64 = 0.4;
const MAX_SERVICES: u64 = 12 * 40;
/// ERROR logs a service may receive per 180 s cycle of its population.
const ERRORS_PER_SERVICE_WINDOW: f64 = 8.0;

/// The demo's rate of events per second (`vigilo demo --rate`).
pub const DEMO_RATE: f64 = 50.0;
/// The demo's incidents per minute after its first round
/// (`vigilo demo --incident-rate`).
pub const DEMO_INCIDENT_RATE: f64 = 10.0;
/// The span in which the demo injects its first round: one incident of
/// every kind.
pub const DEMO_FIRST_ROUND: Duration = Duration::from_secs(60);

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Events per second.
    pub rate: f64,
    /// Incidents per minute; 0 disables injection.
    pub incident_rate: f64,
    /// Inject the first round of incidents (one of every kind, in the
    /// order of `incidents`) within this span from the start, faster than
    /// `incident_rate` when that is slower; later rounds come at
    /// `incident_rate`. `None`: every incident at `incident_rate`.
    pub first_round: Option<Duration>,
    /// Seed of the random generator; `None` draws one.
    pub seed: Option<u64>,
    /// Start of a simulated clock (files); `None` means now.
    pub start: Option<DateTime<Utc>>,
    /// Incident kinds to cycle through; empty means all of them.
    pub incidents: Vec<Incident>,
    /// Gzip request bodies (sending only).
    pub gzip: bool,
    /// How often the sender posts a batch.
    pub batch_interval: Duration,
    /// Largest batch in one request; bigger backlogs are split.
    pub max_batch: usize,
    /// API key sent as `Authorization: Bearer` (scope `ingest`).
    pub api_key: Option<String>,
    /// Which traffic: Vigilo's own events or a cloud audit log.
    pub source: Source,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            rate: 100.0,
            incident_rate: 2.0,
            first_round: None,
            seed: None,
            start: None,
            incidents: Vec::new(),
            gzip: false,
            batch_interval: Duration::from_millis(200),
            max_batch: 10_000,
            api_key: None,
            source: Source::Vigilo,
        }
    }
}

impl GenConfig {
    /// What `vigilo demo` generates at its defaults: [`DEMO_RATE`] events/s
    /// and [`DEMO_INCIDENT_RATE`] incidents/min, after a first round of
    /// every incident kind within [`DEMO_FIRST_ROUND`], so that every
    /// bundled rule fires within the demo's first two minutes.
    pub fn demo() -> Self {
        GenConfig {
            rate: DEMO_RATE,
            incident_rate: DEMO_INCIDENT_RATE,
            first_round: Some(DEMO_FIRST_ROUND),
            ..GenConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), GenError> {
        if !(self.rate.is_finite() && self.rate > 0.0) {
            return Err(GenError::Config(format!(
                "rate must be a positive number of events per second, got {}",
                self.rate
            )));
        }
        if !(self.incident_rate.is_finite() && self.incident_rate >= 0.0) {
            return Err(GenError::Config(format!(
                "incident rate must be zero or a positive number per minute, got {}",
                self.incident_rate
            )));
        }
        if self.batch_interval.is_zero() {
            return Err(GenError::Config("batch interval must not be zero".into()));
        }
        if self.max_batch == 0 {
            return Err(GenError::Config("max batch must not be zero".into()));
        }
        Ok(())
    }
}

/// Population sizes derived from the rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Populations {
    pub users: u64,
    pub services: u64,
    /// Share of ERROR among normal logs.
    pub error_share: f64,
}

impl Populations {
    pub fn for_rate(rate: f64) -> Self {
        let users = ((USERS_PER_RATE * rate).ceil() as u64).max(MIN_USERS);
        let families =
            ((SERVICES_PER_RATE * rate / 12.0).ceil() as u64).clamp(1, MAX_SERVICES / 12);
        let services = 12 * families;
        let error_budget = ERRORS_PER_SERVICE_WINDOW * services as f64 / 180.0;
        let error_share = (error_budget / (LOG_SHARE * rate)).min(MAX_ERROR_SHARE);
        Populations {
            users,
            services,
            error_share,
        }
    }
}

/// An incident that has been injected.
#[derive(Debug, Clone)]
pub struct InjectedIncident {
    pub seq: u64,
    pub kind: Incident,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub users: Vec<String>,
    pub services: Vec<String>,
}

#[derive(Debug)]
struct Pending {
    value: Value,
    kind: Incident,
    last: bool,
}

/// Longest time between two incidents: a year.
const MAX_INCIDENT_GAP_MS: f64 = 365.0 * 86_400_000.0;

/// How many injected incidents are remembered.
const INJECTED_KEPT: usize = 10_000;

// Categories walking their own cycle over a population.
const CAT_QUIET_LOG: u64 = 0;
const CAT_LOUD_LOG: u64 = 1;
const CAT_TXN: u64 = 2;
const CAT_AUDIT: u64 = 3;
const CAT_AUTH_FAILURE: u64 = 4;
const CAT_ERROR_SERVICE: u64 = 5;

/// Realistic event source. Normal traffic is spread so that, when batches
/// are requested at the configured rate, no user or service reaches the
/// threshold of any bundled rule; incidents are injected every
/// `60 / incident_rate` seconds (the first round faster when
/// [`GenConfig::first_round`] asks), in rounds of every configured kind:
/// the first in the configured order, each later one shuffled.
pub struct Generator {
    cfg: GenConfig,
    seed: u64,
    rng: ChaCha8Rng,
    /// The external sources' samples.
    source_rng: ChaCha8Rng,
    pops: Populations,
    quiet_log_users: Cycle,
    loud_log_users: Cycle,
    txn_users: Cycle,
    audit_users: Cycle,
    auth_failure_users: Cycle,
    error_services: Cycle,
    kinds: Vec<Incident>,
    /// Kinds still to inject in the current round, next first.
    round: VecDeque<Incident>,
    last_now: Option<DateTime<Utc>>,
    next_incident_at: Option<DateTime<Utc>>,
    incident_seq: u64,
    pending: BTreeMap<(DateTime<Utc>, u64), Pending>,
    pending_order: u64,
    emitted: u64,
    incidents_emitted: BTreeMap<&'static str, u64>,
    injected: VecDeque<InjectedIncident>,
    /// Cloud audit log traffic, when the source is one.
    cloud: Option<CloudTraffic>,
}

impl Generator {
    /// A generator for `cfg`. An invalid rate is clamped; use
    /// [`GenConfig::validate`] to reject it instead.
    pub fn new(mut cfg: GenConfig) -> Self {
        if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
            cfg.rate = 1.0;
        }
        if !(cfg.incident_rate.is_finite() && cfg.incident_rate >= 0.0) {
            cfg.incident_rate = 0.0;
        }
        let seed = cfg.seed.unwrap_or_else(rand::random);
        let pops = Populations::for_rate(cfg.rate);
        let key = subkey(seed, 0x5eed, 1);
        let cycle = |cat: u64, size: u64| Cycle::new(size, subkey(key, cat, 7));
        let kinds = if cfg.incidents.is_empty() {
            Incident::ALL.to_vec()
        } else {
            cfg.incidents.clone()
        };
        let cloud = CloudTraffic::new(cfg.source, seed, cfg.rate, cfg.incident_rate);
        Generator {
            cloud,
            seed,
            rng: ChaCha8Rng::seed_from_u64(seed),
            source_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x005e_ed50_u64),
            quiet_log_users: cycle(CAT_QUIET_LOG, pops.users),
            loud_log_users: cycle(CAT_LOUD_LOG, pops.users),
            txn_users: cycle(CAT_TXN, pops.users),
            audit_users: cycle(CAT_AUDIT, pops.users),
            auth_failure_users: cycle(CAT_AUTH_FAILURE, pops.users),
            error_services: cycle(CAT_ERROR_SERVICE, pops.services),
            pops,
            round: kinds.iter().copied().collect(),
            kinds,
            cfg,
            last_now: None,
            next_incident_at: None,
            incident_seq: 0,
            pending: BTreeMap::new(),
            pending_order: 0,
            emitted: 0,
            incidents_emitted: BTreeMap::new(),
            injected: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// The seed in use (drawn when the configuration had none).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn populations(&self) -> Populations {
        self.pops
    }

    /// Events handed out so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Completed incidents (all of their events handed out) by name.
    pub fn incidents_emitted(&self) -> &BTreeMap<&'static str, u64> {
        if let Some(c) = &self.cloud {
            return c.incidents_emitted();
        }
        &self.incidents_emitted
    }

    /// The most recent injected incidents (started, maybe not complete).
    pub fn injected(&self) -> &VecDeque<InjectedIncident> {
        &self.injected
    }

    /// Incident events scheduled but not yet handed out.
    pub fn pending_incident_events(&self) -> usize {
        self.pending.len()
    }

    /// The events of the interval that ends at `now`: about `n` normal
    /// events with times spread evenly since the previous call, plus the
    /// incident events that fell due, all in time order. Incident events
    /// take the place of normal ones so the total stays near `n`.
    pub fn next_batch(&mut self, now: DateTime<Utc>, n: usize) -> Vec<Value> {
        if let Some(c) = &mut self.cloud {
            let out = c.next_batch(now, n);
            self.emitted += out.len() as u64;
            return out;
        }
        let now = now
            .duration_trunc(TimeDelta::milliseconds(1))
            .unwrap_or(now);
        let span_ms = ((n as f64 / self.cfg.rate) * 1000.0).round() as i64;
        let prev = match self.last_now {
            Some(p) if p <= now => p,
            Some(_) => now,
            None => now - TimeDelta::milliseconds(span_ms),
        };
        self.last_now = Some(now);
        self.schedule_incidents(prev, now);

        let mut due: Vec<(DateTime<Utc>, Value)> = Vec::new();
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((t, _), p) = entry.remove_entry();
            if p.last {
                *self.incidents_emitted.entry(p.kind.name()).or_insert(0) += 1;
            }
            due.push((t, p.value));
        }

        let normal = n.saturating_sub(due.len());
        let width = (now - prev).num_milliseconds().max(0);
        let mut out = Vec::with_capacity(normal + due.len());
        let mut due = due.into_iter().peekable();
        for i in 0..normal {
            let offset = if normal == 0 {
                0
            } else {
                width * (i as i64 + 1) / normal as i64
            };
            let t = prev + TimeDelta::milliseconds(offset);
            while let Some((_, v)) = due.next_if(|(dt, _)| *dt <= t) {
                out.push(v);
            }
            out.push(self.normal_event(t));
        }
        out.extend(due.map(|(_, v)| v));
        self.emitted += out.len() as u64;
        out
    }

    fn schedule_incidents(&mut self, prev: DateTime<Utc>, now: DateTime<Utc>) {
        if self.cfg.incident_rate <= 0.0 || self.kinds.is_empty() {
            return;
        }
        let mut at = self
            .next_incident_at
            .unwrap_or(prev + self.incident_gap(0) / 2);
        while at <= now {
            self.inject(at);
            at += self.incident_gap(self.incident_seq);
        }
        self.next_incident_at = Some(at);
    }

    /// Time from incident number `seq` to the next (from the start to the
    /// first is half of it, `seq` 0): `60 / incident_rate` seconds, or less
    /// within the first round when that has to fit its span.
    fn incident_gap(&self, seq: u64) -> TimeDelta {
        let kinds = self.kinds.len().max(1) as f64;
        let mut ms = 60_000.0 / self.cfg.incident_rate;
        if let Some(span) = self.cfg.first_round
            && seq < self.kinds.len() as u64
        {
            ms = ms.min(span.as_secs_f64() * 1000.0 / kinds);
        }
        // At most a year apart, so that a tiny rate cannot overflow the clock.
        TimeDelta::milliseconds(ms.round().clamp(1.0, MAX_INCIDENT_GAP_MS) as i64)
    }

    /// The kind of the next incident: the configured kinds in order, then
    /// rounds of all of them in a random order.
    fn next_kind(&mut self) -> Incident {
        if self.round.is_empty() {
            let mut next = self.kinds.clone();
            next.shuffle(&mut self.rng);
            self.round = next.into();
        }
        self.round.pop_front().unwrap_or(Incident::ALL[0])
    }

    fn inject(&mut self, start: DateTime<Utc>) {
        self.incident_seq += 1;
        let seq = self.incident_seq;
        let kind = self.next_kind();
        let built = kind.build(seq, start, &mut self.rng);
        let count = built.events.len();
        let end = built.events.last().map_or(start, |(t, _)| *t);
        for (i, (t, value)) in built.events.into_iter().enumerate() {
            self.pending_order += 1;
            self.pending.insert(
                (t, self.pending_order),
                Pending {
                    value,
                    kind,
                    last: i + 1 == count,
                },
            );
        }
        if self.injected.len() == INJECTED_KEPT {
            self.injected.pop_front();
        }
        self.injected.push_back(InjectedIncident {
            seq,
            kind,
            start,
            end,
            users: built.users,
            services: built.services,
        });
    }

    fn random_service(&mut self) -> String {
        let i = self.rng.gen_range(0..self.pops.services);
        service_name(i, self.pops.services)
    }

    fn normal_event(&mut self, t: DateTime<Utc>) -> Value {
        let u: f64 = self.rng.r#gen();
        if u < LOG_SHARE {
            self.normal_log(t)
        } else if u < LOG_SHARE + METRIC_SHARE {
            let service = self.random_service();
            let cpu = normal_cpu(&mut self.rng);
            let lat = normal_latency(&mut self.rng);
            // Sources draw from their own stream, so the rest of the
            // traffic (and every incident) is the same with or without them.
            if self.source_rng.gen_bool(SOURCE_METRIC_SHARE) {
                source_metric(&mut self.source_rng, t, SOURCES)
            } else {
                metric(t, &service, cpu, lat)
            }
        } else if u < LOG_SHARE + METRIC_SHARE + TRANSACTION_SHARE {
            let user = user_name(self.txn_users.next());
            let amount = normal_amount(&mut self.rng);
            let status = txn_status(&mut self.rng);
            transaction(&mut self.rng, t, &user, amount, status)
        } else {
            self.normal_audit(t)
        }
    }

    fn normal_log(&mut self, t: DateTime<Utc>) -> Value {
        let u: f64 = self.rng.r#gen();
        let e = self.pops.error_share;
        let level = if u < e {
            "ERROR"
        } else if u < e + WARNING_SHARE {
            "WARNING"
        } else if u < e + WARNING_SHARE + DEBUG_SHARE {
            "DEBUG"
        } else {
            "INFO"
        };
        let user = match level {
            "ERROR" | "WARNING" => user_name(self.loud_log_users.next()),
            _ => user_name(self.quiet_log_users.next()),
        };
        let service = if level == "ERROR" {
            service_name(self.error_services.next(), self.pops.services)
        } else {
            self.random_service()
        };
        let msg = events::message(&mut self.rng, level, &user);
        log(t, &service, level, msg, &user)
    }

    fn normal_audit(&mut self, t: DateTime<Utc>) -> Value {
        let rng = &mut self.rng;
        if rng.gen_bool(AUTH_FAILURE_SHARE) {
            let user = user_name(self.auth_failure_users.next());
            let rng = &mut self.rng;
            let event_type = if rng.gen_bool(0.7) {
                "login_failed"
            } else {
                "mfa_failed"
            };
            let method = if event_type == "mfa_failed" {
                "totp"
            } else {
                "password"
            };
            let f =
                json!({"ip": office_ip(rng), "location": pick_str(rng, &CITIES), "method": method});
            return audit(t, event_type, &user, f);
        }
        let user = user_name(self.audit_users.next());
        let rng = &mut self.rng;
        let (event_type, fields) = match rng.gen_range(0..100) {
            0..=29 => (
                "login_success",
                json!({"ip": office_ip(rng), "location": pick_str(rng, &CITIES), "method": pick_str(rng, &["password", "sso", "sso", "passkey"])}),
            ),
            30..=39 => ("logout", json!({"ip": office_ip(rng)})),
            40..=51 => (
                "file_accessed",
                json!({"path": format!("/shared/{}/doc-{}.pdf", pick_str(rng, &["hr", "eng", "sales", "legal"]), rng.gen_range(1..5000)), "ip": office_ip(rng)}),
            ),
            52..=61 => (
                "repo_cloned",
                json!({"repo": pick_str(rng, &REPOS), "ip": office_ip(rng)}),
            ),
            62..=73 => (
                "pull_request_merged",
                json!({"repo": pick_str(rng, &REPOS), "lines_changed": pr_size(rng)}),
            ),
            74..=82 => (
                "deployment_succeeded",
                json!({"service": pick_str(rng, &SERVICES), "environment": pick_str(rng, &["prod", "staging", "staging", "dev"])}),
            ),
            83..=85 => (
                "deployment_failed",
                json!({"service": pick_str(rng, &SERVICES), "environment": pick_str(rng, &["staging", "dev"])}),
            ),
            86..=88 => {
                let (old, new) = pick_str_pair(rng);
                let mut f = json!({"old_role": old, "new_role": new});
                if rng.gen_bool(0.6) {
                    f["approved_by"] = json!(pick_str(rng, &["it.manager", "team.lead"]));
                }
                ("permission_changed", f)
            }
            89..=91 => {
                let all = [
                    "repo:read",
                    "repo:write",
                    "packages:read",
                    "ci:trigger",
                    "metrics:read",
                ];
                let k = rng.gen_range(1..=3);
                let start = rng.gen_range(0..all.len());
                let scopes: Vec<&str> = (0..k).map(|i| all[(start + i) % all.len()]).collect();
                (
                    "api_token_created",
                    json!({"scopes": scopes, "has_expiry": true}),
                )
            }
            92..=94 => (
                "storage_bucket_created",
                json!({"bucket_name": format!("{}-{}-{}", pick_str(rng, &["analytics", "backups", "logs", "ml"]), pick_str(rng, &["eu", "us"]), rng.gen_range(1..999)), "public": false}),
            ),
            95..=96 => (
                "storage_bucket_permission_changed",
                json!({"bucket_name": format!("{}-{}", pick_str(rng, &["backups", "logs"]), rng.gen_range(1..999)), "public": false}),
            ),
            _ => ("password_changed", json!({"ip": office_ip(rng)})),
        };
        audit(t, event_type, &user, fields)
    }
}

fn pr_size<R: Rng>(rng: &mut R) -> u64 {
    let a: f64 = rng.gen_range(0.0..1.0);
    (1.0 + 379.0 * a * a * a).round() as u64
}

/// A benign role change: never to an admin role.
fn pick_str_pair<R: Rng>(rng: &mut R) -> (&'static str, &'static str) {
    const PAIRS: [(&str, &str); 6] = [
        ("viewer", "developer"),
        ("developer", "maintainer"),
        ("analyst", "viewer"),
        ("developer", "viewer"),
        ("admin", "developer"),
        ("support", "analyst"),
    ];
    PAIRS[rng.gen_range(0..PAIRS.len())]
}
