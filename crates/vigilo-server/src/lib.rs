//! The Vigilo server: HTTP API, ingest pipeline, detection loop.
//!
//! Requests are decoded and validated in the handler, queued on a bounded
//! queue, written in group commits by one writer task, then evaluated by one
//! detection task whose results (findings) are committed together with the
//! detection watermark. See [`pipeline`].

pub mod alerts;
pub mod api;
pub mod auth;
pub mod compliance;
pub mod config;
pub mod connectors;
pub mod enrichment;
pub mod error;
pub mod hub;
pub mod ingest;
pub mod live;
pub mod openapi;
pub mod pipeline;
pub mod retention;
pub mod rules;
pub mod schema;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod web;

pub use config::Config;
pub use error::ApiError;
pub use server::{AppState, Server};
