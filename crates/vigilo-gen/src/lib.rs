//! Event generation for Vigilo.
//!
//! - [`Generator`] produces realistic logs, metrics, transactions and audit
//!   events, and injects [`Incident`]s that each trip a bundled rule, while
//!   normal traffic stays below every rule threshold.
//! - [`send`] paces a generator at its rate and posts NDJSON batches to a
//!   Vigilo server; [`write_ndjson`] writes the same stream to a file on a
//!   simulated clock.
//! - [`load`] drives a server's ingest endpoint as hard as it accepts and
//!   reports throughput and latency.

mod error;
mod events;
mod generator;
mod incident;
mod load;
mod population;
mod send;

pub use error::GenError;
pub use generator::{
    AUDIT_SHARE, GenConfig, Generator, InjectedIncident, LOG_SHARE, METRIC_SHARE, Populations,
    TRANSACTION_SHARE,
};
pub use incident::{Incident, IncidentEvents, UnknownIncident};
pub use load::{LoadConfig, LoadReport, load};
pub use send::{Limit, SendReport, WriteReport, events_url, send, write_ndjson};

#[cfg(test)]
mod tests;
