//! Native cloud audit log traffic: AWS CloudTrail records, Okta System Log
//! events, GitHub audit log entries, Azure activity and Entra ID sign-in
//! logs, and Google Cloud audit logs (with Google Workspace login events),
//! in the shapes those services write them, with injected incidents that
//! named SigmaHQ rules catch.
//!
//! Normal traffic is the everyday activity of an organisation (reads,
//! deployments, sign-ins with MFA, clones and merges) and trips none of
//! SigmaHQ's rules for the logsource; each incident is one event that
//! exactly one of them catches (see [`CloudIncident`] and each source's
//! `INCIDENTS`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration as TimeDelta, DurationRound, SecondsFormat, Utc};
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

mod azure;
mod cloudtrail;
mod gcp;
mod github;
mod okta;

/// The traffic `vigilo generate` produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Source {
    /// Vigilo's own logs, metrics, transactions and audit events.
    #[default]
    Vigilo,
    /// AWS CloudTrail records (logsource aws / cloudtrail).
    CloudTrail,
    /// Okta System Log events (okta / okta).
    Okta,
    /// GitHub audit log entries (github / audit).
    GitHub,
    /// Azure activity log records (azure / activitylogs) and Entra ID
    /// sign-in log records (azure / signinlogs).
    Azure,
    /// Google Cloud audit log entries (gcp / gcp.audit) and Google
    /// Workspace login events exported to Cloud Logging (gcp /
    /// google_workspace.login).
    Gcp,
}

impl Source {
    pub const ALL: [Source; 6] = [
        Source::Vigilo,
        Source::CloudTrail,
        Source::Okta,
        Source::GitHub,
        Source::Azure,
        Source::Gcp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::Vigilo => "vigilo",
            Source::CloudTrail => "cloudtrail",
            Source::Okta => "okta",
            Source::GitHub => "github",
            Source::Azure => "azure",
            Source::Gcp => "gcp",
        }
    }

    /// The incidents injected into this source's traffic (none for
    /// [`Source::Vigilo`], whose incidents are [`crate::Incident`]s).
    pub fn incidents(self) -> &'static [CloudIncident] {
        match self {
            Source::Vigilo => &[],
            Source::CloudTrail => &cloudtrail::INCIDENTS,
            Source::Okta => &okta::INCIDENTS,
            Source::GitHub => &github::INCIDENTS,
            Source::Azure => &azure::INCIDENTS,
            Source::Gcp => &gcp::INCIDENTS,
        }
    }

    /// The Sigma logsource (product, service) of this source's events. The
    /// service is `None` where each record's own shape gives it: Azure's
    /// `activitylogs` and `signinlogs`, Google Cloud's `gcp.audit` and
    /// `google_workspace.login`.
    pub fn logsource(self) -> (&'static str, Option<&'static str>) {
        match self {
            Source::Vigilo => ("vigilo", None),
            Source::CloudTrail => ("aws", Some("cloudtrail")),
            Source::Okta => ("okta", Some("okta")),
            Source::GitHub => ("github", Some("audit")),
            Source::Azure => ("azure", None),
            Source::Gcp => ("gcp", None),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Source::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Source::ALL.iter().map(|x| x.name()).collect();
                format!("unknown source `{s}`; one of {}", names.join(", "))
            })
    }
}

/// An incident injected into cloud traffic and the SigmaHQ rule that must
/// catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloudIncident {
    /// Our name for it, as reported by the generator.
    pub name: &'static str,
    /// The SigmaHQ rule's title and id.
    pub rule_title: &'static str,
    pub rule_id: &'static str,
}

/// One source's event builders.
pub(crate) struct Builders {
    normal: fn(&mut ChaCha8Rng, DateTime<Utc>) -> Value,
    incident: fn(usize, &mut ChaCha8Rng, DateTime<Utc>) -> Value,
}

fn builders(source: Source) -> Option<Builders> {
    Some(match source {
        Source::Vigilo => return None,
        Source::CloudTrail => Builders {
            normal: cloudtrail::normal,
            incident: cloudtrail::incident,
        },
        Source::Okta => Builders {
            normal: okta::normal,
            incident: okta::incident,
        },
        Source::GitHub => Builders {
            normal: github::normal,
            incident: github::incident,
        },
        Source::Azure => Builders {
            normal: azure::normal,
            incident: azure::incident,
        },
        Source::Gcp => Builders {
            normal: gcp::normal,
            incident: gcp::incident,
        },
    })
}

/// Cloud traffic for [`crate::Generator`]: normal events spread evenly in
/// each interval, one incident event every `60 / incident_rate` seconds,
/// the source's incidents in turn.
pub(crate) struct CloudTraffic {
    source: Source,
    builders: Builders,
    rng: ChaCha8Rng,
    rate: f64,
    incident_rate: f64,
    last_now: Option<DateTime<Utc>>,
    next_incident_at: Option<DateTime<Utc>>,
    next_kind: usize,
    incidents: BTreeMap<&'static str, u64>,
}

impl CloudTraffic {
    pub(crate) fn new(source: Source, seed: u64, rate: f64, incident_rate: f64) -> Option<Self> {
        Some(CloudTraffic {
            source,
            builders: builders(source)?,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0xc10d_0000),
            rate,
            incident_rate,
            last_now: None,
            next_incident_at: None,
            next_kind: 0,
            incidents: BTreeMap::new(),
        })
    }

    pub(crate) fn incidents_emitted(&self) -> &BTreeMap<&'static str, u64> {
        &self.incidents
    }

    /// About `n` events of the interval that ends at `now`, in time order;
    /// an incident event takes the place of a normal one.
    pub(crate) fn next_batch(&mut self, now: DateTime<Utc>, n: usize) -> Vec<Value> {
        let now = now
            .duration_trunc(TimeDelta::milliseconds(1))
            .unwrap_or(now);
        let span_ms = ((n as f64 / self.rate) * 1000.0).round() as i64;
        let prev = match self.last_now {
            Some(p) if p <= now => p,
            Some(_) => now,
            None => now - TimeDelta::milliseconds(span_ms),
        };
        self.last_now = Some(now);
        let width = (now - prev).num_milliseconds().max(0);
        let kinds = self.source.incidents();
        let gap = (self.incident_rate > 0.0 && !kinds.is_empty()).then(|| {
            TimeDelta::milliseconds((60_000.0 / self.incident_rate).round().max(1.0) as i64)
        });
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = prev + TimeDelta::milliseconds(width * (i as i64 + 1) / n as i64);
            if let Some(gap) = gap {
                let due = *self.next_incident_at.get_or_insert(prev + gap / 2);
                if due <= t {
                    self.next_incident_at = Some(due + gap);
                    let k = self.next_kind % kinds.len();
                    self.next_kind += 1;
                    *self.incidents.entry(kinds[k].name).or_insert(0) += 1;
                    out.push((self.builders.incident)(k, &mut self.rng, t));
                    continue;
                }
            }
            out.push((self.builders.normal)(&mut self.rng, t));
        }
        out
    }
}

// Helpers shared by the sources.

pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(crate) fn rfc3339_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn uuid<R: Rng>(rng: &mut R) -> String {
    let a: u128 = rng.r#gen();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Random characters from `alphabet`, vowels left out: a random id never
/// spells a word that keyword rules look for ("drop", "dump" and the like
/// in SigmaHQ's rules of category `database`, which name no product and so
/// apply to every event).
pub(crate) fn token<R: Rng>(rng: &mut R, alphabet: &[u8], len: usize) -> String {
    let usable: Vec<u8> = alphabet
        .iter()
        .copied()
        .filter(|c| !b"aeiouAEIOU".contains(c))
        .collect();
    (0..len)
        .map(|_| usable[rng.gen_range(0..usable.len())] as char)
        .collect()
}

pub(crate) fn pick<'a, R: Rng, T>(rng: &mut R, xs: &'a [T]) -> &'a T {
    &xs[rng.gen_range(0..xs.len())]
}

/// People of the organisation the traffic is about, `first.last`.
pub(crate) fn person<R: Rng>(rng: &mut R) -> String {
    crate::population::user_name(rng.gen_range(0..400))
}

/// A documentation-range public address (RFC 5737), as a corporate egress.
pub(crate) fn egress_ip<R: Rng>(rng: &mut R) -> String {
    let net = pick(rng, &["192.0.2", "198.51.100", "203.0.113"]);
    format!("{net}.{}", rng.gen_range(1..255))
}
