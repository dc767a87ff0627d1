//! `[sources.kafka]` and `[sinks.kafka]`.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::connectors::ConnectorError;

/// Where a consumer group without a committed offset starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    /// The oldest message still on the partition.
    #[default]
    Earliest,
    /// Only messages produced after the group joined.
    Latest,
}

impl OffsetReset {
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetReset::Earliest => "earliest",
            OffsetReset::Latest => "latest",
        }
    }
}

/// `[sources.kafka]`: consume JSON events from Kafka topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap brokers, comma-separated `host:port`.
    pub brokers: String,
    /// Consumer group; offsets are committed under it.
    pub group_id: String,
    /// Topics to consume, each with the event kind given to its events
    /// that carry no `kind` of their own.
    pub topics: BTreeMap<String, String>,
    /// A topic that also receives every message that could not be
    /// ingested (raw value, key and headers, plus a `vigilo-reason`
    /// header), besides the dead-letter table.
    pub dead_letter_topic: Option<String>,
    /// Where the group starts on a partition without a committed offset.
    pub auto_offset_reset: OffsetReset,
    /// Extra librdkafka client properties (`"session.timeout.ms" =
    /// "6000"`); they override Vigilo's defaults, except the ones delivery
    /// depends on (automatic offset commits stay off).
    pub options: BTreeMap<String, String>,
    /// Most events handed to the pipeline in one batch.
    pub max_batch_events: usize,
    /// Longest a batch waits for more messages, in milliseconds.
    pub max_batch_wait_ms: u64,
    /// Messages re-read before the committed offset when a partition is
    /// assigned (already stored ones are skipped). 0 for Kafka; set it to
    /// at least the producers' batch size (librdkafka's
    /// `batch.num.messages`, 10000) on a broker that cannot resume inside a
    /// batch of records produced together, such as tansu 0.6.
    pub resume_rewind: i64,
}

impl Default for KafkaSourceConfig {
    fn default() -> Self {
        KafkaSourceConfig {
            brokers: "127.0.0.1:9092".into(),
            group_id: "vigilo".into(),
            topics: BTreeMap::new(),
            dead_letter_topic: None,
            auto_offset_reset: OffsetReset::Earliest,
            options: BTreeMap::new(),
            max_batch_events: 5_000,
            max_batch_wait_ms: 50,
            resume_rewind: 0,
        }
    }
}

impl KafkaSourceConfig {
    /// Check what can be checked without a broker.
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.brokers.trim().is_empty() {
            return Err(ConnectorError::new(
                "kafka",
                "sources.kafka.brokers must name at least one broker",
            ));
        }
        if self.group_id.trim().is_empty() {
            return Err(ConnectorError::new(
                "kafka",
                "sources.kafka.group_id must not be empty",
            ));
        }
        if self.topics.is_empty() {
            return Err(ConnectorError::new(
                "kafka",
                "sources.kafka.topics must name at least one topic",
            ));
        }
        if let Some((topic, _)) = self.topics.iter().find(|(_, kind)| kind.trim().is_empty()) {
            return Err(ConnectorError::new(
                "kafka",
                format!("sources.kafka.topics.{topic} must name a non-empty kind"),
            ));
        }
        if self.resume_rewind < 0 {
            return Err(ConnectorError::new(
                "kafka",
                "sources.kafka.resume_rewind must not be negative",
            ));
        }
        if self.max_batch_events == 0 {
            return Err(ConnectorError::new(
                "kafka",
                "sources.kafka.max_batch_events must be at least 1",
            ));
        }
        Ok(())
    }

    /// The consumer's client properties.
    pub fn consumer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", &self.group_id)
            .set("client.id", "vigilo")
            .set("auto.offset.reset", self.auto_offset_reset.as_str())
            .set("session.timeout.ms", "10000")
            .set("queued.max.messages.kbytes", "16384");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        // Offsets move only after the events are stored.
        c.set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        c
    }
}

/// `[sinks.kafka]`: publish findings (and IAM audit summaries) to Kafka.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap brokers, comma-separated `host:port`.
    pub brokers: String,
    /// Topic receiving every finding change (created, updated, status).
    pub findings_topic: String,
    /// Topic receiving IAM audit summaries; none are published when unset.
    pub iam_topic: Option<String>,
    /// Extra librdkafka client properties; `acks` stays `all`.
    pub options: BTreeMap<String, String>,
}

impl Default for KafkaSinkConfig {
    fn default() -> Self {
        KafkaSinkConfig {
            brokers: "127.0.0.1:9092".into(),
            findings_topic: "vigilo.findings".into(),
            iam_topic: None,
            options: BTreeMap::new(),
        }
    }
}

impl KafkaSinkConfig {
    pub fn validate(&self) -> Result<(), ConnectorError> {
        if self.brokers.trim().is_empty() {
            return Err(ConnectorError::new(
                "kafka-sink",
                "sinks.kafka.brokers must name at least one broker",
            ));
        }
        if self.findings_topic.trim().is_empty() {
            return Err(ConnectorError::new(
                "kafka-sink",
                "sinks.kafka.findings_topic must not be empty",
            ));
        }
        Ok(())
    }

    /// The producer's client properties.
    pub fn producer_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", "vigilo-sink")
            .set("enable.idempotence", "true")
            .set("message.timeout.ms", "30000")
            .set("linger.ms", "5");
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c.set("acks", "all");
        c
    }
}
