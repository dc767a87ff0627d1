//! Kafka source and sink (librdkafka through `rdkafka`).
//!
//! The source consumes JSON events from the configured topics in a
//! consumer group and commits a partition's offset only after the events
//! read up to it are durably stored; every event carries its topic,
//! partition and offset as its [`vigilo_core::Origin`], so a redelivery
//! stores nothing twice. The sink publishes the finding outbox (and IAM
//! audit summaries) with `acks=all`, moving its stored position only after
//! the broker acknowledged.

mod config;
mod sink;
mod source;

pub use config::{ClientOptions, KafkaSinkConfig, KafkaSourceConfig, OffsetReset};
pub use sink::start_sink;
pub use source::{MAX_EVENTS_PER_MESSAGE, start_source, stream_offset};
