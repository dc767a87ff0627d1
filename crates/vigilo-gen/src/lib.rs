//! Event generation for Vigilo.
//!
//! - [`Generator`] produces realistic logs, metrics, transactions and audit
//!   events, and injects [`Incident`]s that each trip a bundled rule, while
//!   normal traffic stays below every rule threshold.
//! - [`send`] paces a generator at its rate and posts NDJSON batches to a
//!   Vigilo server; [`write_ndjson`] writes the same stream to a file on a
//!   simulated clock.
//! - With [`GenConfig::source`] set, the generator writes a cloud audit
//!   log instead ([`Source`]: CloudTrail, Okta, GitHub, Azure, Google
//!   Cloud), in its native shape, with incidents that named SigmaHQ rules
//!   catch ([`Source::incidents`]).
//! - [`load`] drives a server's ingest endpoint as hard as it accepts and
//!   reports throughput and latency.
//!
//! # Normal traffic and the bundled rules
//!
//! Normal traffic never carries a single-event signal (no "failed" in log
//! messages, cpu at most 70, latency at most 600 ms, amounts below 4,500,
//! no admin grants, admin-scoped or non-expiring tokens, large PRs, failed
//! prod deploys or public buckets). The windowed rules are kept quiet by
//! spreading each category of event (ERROR/WARNING logs, transactions, audit
//! events, the rare single failed login or MFA prompt, ERROR logs per
//! service) over populations whose size grows with the rate: 30 users per
//! event/s (at least 500) and up to 480 services, walked in shuffled cycles
//! so that a member's share of any window is bounded, not just expected.
//! Above about 1,200 events/s the ERROR share of logs shrinks so that no
//! service gets more than about 10 ERROR lines in 3 minutes. The bounds
//! hold when batches are requested at the configured rate, as [`send`] and
//! [`write_ndjson`] do.

mod cloud;
mod error;
mod events;
mod generator;
mod incident;
mod load;
mod population;
mod send;

pub use cloud::{CloudIncident, Source};
pub use error::GenError;
pub use generator::{
    AUDIT_SHARE, DEMO_FIRST_ROUND, DEMO_INCIDENT_RATE, DEMO_RATE, GenConfig, Generator,
    InjectedIncident, LOG_SHARE, METRIC_SHARE, Populations, TRANSACTION_SHARE,
};
pub use incident::{Incident, IncidentEvents, UnknownIncident};
pub use load::{LoadConfig, LoadReport, load};
pub use send::{Limit, SendReport, WriteReport, events_url, send, write_ndjson};

#[cfg(test)]
mod tests;
