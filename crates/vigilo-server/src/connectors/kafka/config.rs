//! `[sources.kafka]` and `[sinks.kafka]`.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::connectors::ConnectorError;

/// Extra librdkafka client properties, as written in the config. Values of
/// properties that hold credentials (`sasl.password`, `ssl.key.password`,
/// `ssl.key.pem`, `sasl.oauthbearer.client.secret`, …) are masked in
/// `Debug`, so they never reach a log line.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOptions(pub BTreeMap<String, String>);

impl ClientOptions {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    /// True for a property whose value is a credential.
    pub fn is_credential(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        [
            "password",
            "secret",
            ".pem",
            "sasl.oauthbearer.config",
            "jaas",
        ]
        .iter()
        .any(|part| k.contains(part))
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in &self.0 {
            if Self::is_credential(k) {
                m.entry(k, &"***");
            } else {
                m.entry(k, v);
            }
        }
        m.finish()
    }
}

impl<'a> IntoIterator for &'a ClientOptions {
    type Item = (&'a String, &'a String);
    type IntoIter = std::collections::btree_map::Iter<'a, String, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Apply the options, then the SASL password (kept out of `options` so it
/// can come from `VIGILO_SOURCES__KAFKA__SASL_PASSWORD` and stays masked).
fn apply(c: &mut ClientConfig, options: &ClientOptions, sasl_password: Option<&Secret>) {
    for (k, v) in options {
        c.set(k, v);
    }
    if let Some(p) = sasl_password {
        c.set("sasl.password", p.expose());
    }
}

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
    /// The logsource of each topic's events (`{ product = "aws", service =
    /// "cloudtrail" }`), under the derivation rules and each event's own
    /// `logsource` object.
    pub logsources: BTreeMap<String, vigilo_core::Logsource>,
    /// A topic that also receives every message that could not be
    /// ingested (raw value, key and headers, plus a `vigilo-reason`
    /// header), besides the dead-letter table.
    pub dead_letter_topic: Option<String>,
    /// Where the group starts on a partition without a committed offset.
    pub auto_offset_reset: OffsetReset,
    /// Extra librdkafka client properties (`"session.timeout.ms" =
    /// "6000"`); they override Vigilo's defaults, except the ones delivery
    /// depends on (automatic offset commits stay off). TLS and SASL are
    /// set here (`"security.protocol" = "sasl_ssl"`, `"sasl.mechanism" =
    /// "SCRAM-SHA-512"`, `"sasl.username"`, `"ssl.ca.location"`);
    /// credential values are masked in logs.
    pub options: ClientOptions,
    /// The SASL password (`sasl.password`), masked everywhere; it can come
    /// from `VIGILO_SOURCES__KAFKA__SASL_PASSWORD`.
    pub sasl_password: Option<Secret>,
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
            logsources: BTreeMap::new(),
            dead_letter_topic: None,
            auto_offset_reset: OffsetReset::Earliest,
            options: ClientOptions::default(),
            sasl_password: None,
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
        for (topic, ls) in &self.logsources {
            if !self.topics.contains_key(topic) {
                return Err(ConnectorError::new(
                    "kafka",
                    format!("sources.kafka.logsources.{topic} is not one of sources.kafka.topics"),
                ));
            }
            if ls.is_empty() {
                return Err(ConnectorError::new(
                    "kafka",
                    format!(
                        "sources.kafka.logsources.{topic} names no dimension (product, category, service)"
                    ),
                ));
            }
            ls.check(&format!("sources.kafka.logsources.{topic}."))
                .map_err(|e| ConnectorError::new("kafka", e))?;
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
        apply(&mut c, &self.options, self.sasl_password.as_ref());
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
    /// Extra librdkafka client properties, TLS and SASL included (see
    /// `[sources.kafka] options`); `acks` stays `all`.
    pub options: ClientOptions,
    /// The SASL password, masked; `VIGILO_SINKS__KAFKA__SASL_PASSWORD`.
    pub sasl_password: Option<Secret>,
}

impl Default for KafkaSinkConfig {
    fn default() -> Self {
        KafkaSinkConfig {
            brokers: "127.0.0.1:9092".into(),
            findings_topic: "vigilo.findings".into(),
            iam_topic: None,
            options: ClientOptions::default(),
            sasl_password: None,
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
        apply(&mut c, &self.options, self.sasl_password.as_ref());
        c.set("acks", "all");
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_reach_librdkafka_but_never_debug() {
        let mut options = BTreeMap::new();
        options.insert("security.protocol".to_string(), "sasl_ssl".to_string());
        options.insert("sasl.username".to_string(), "vigilo".to_string());
        options.insert("ssl.key.password".to_string(), "k3ypass".to_string());
        let source = KafkaSourceConfig {
            options: ClientOptions(options.clone()),
            sasl_password: Some(Secret::new("s4slpass")),
            ..KafkaSourceConfig::default()
        };
        let sink = KafkaSinkConfig {
            options: ClientOptions(options),
            sasl_password: Some(Secret::new("s4slpass")),
            ..KafkaSinkConfig::default()
        };
        let shown = format!("{source:?} {sink:?}");
        assert!(
            !shown.contains("s4slpass") && !shown.contains("k3ypass"),
            "{shown}"
        );
        assert!(
            shown.contains("sasl_ssl") && shown.contains("vigilo"),
            "{shown}"
        );
        for c in [source.consumer_config(), sink.producer_config()] {
            assert_eq!(c.get("sasl.password"), Some("s4slpass"));
            assert_eq!(c.get("ssl.key.password"), Some("k3ypass"));
            assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
        }
    }

    /// TLS and SCRAM are compiled in: librdkafka refuses these properties
    /// when it was built without OpenSSL.
    #[test]
    fn tls_and_scram_are_available() {
        let mut options = BTreeMap::new();
        for (k, v) in [
            ("security.protocol", "sasl_ssl"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "vigilo"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ] {
            options.insert(k.to_string(), v.to_string());
        }
        let source = KafkaSourceConfig {
            options: ClientOptions(options),
            sasl_password: Some(Secret::new("s4slpass")),
            ..KafkaSourceConfig::default()
        };
        let consumer: Result<rdkafka::consumer::BaseConsumer, _> =
            source.consumer_config().create();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
    }

    #[test]
    fn credential_properties_are_recognised() {
        for k in [
            "sasl.password",
            "ssl.key.password",
            "ssl.key.pem",
            "sasl.oauthbearer.client.secret",
            "ssl.keystore.password",
        ] {
            assert!(ClientOptions::is_credential(k), "{k}");
        }
        for k in [
            "sasl.username",
            "ssl.key.location",
            "security.protocol",
            "session.timeout.ms",
        ] {
            assert!(!ClientOptions::is_credential(k), "{k}");
        }
    }
}
