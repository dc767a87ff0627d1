//! `[sources.amqp]` and `[sinks.amqp]`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::connectors::ConnectorError;

/// The broker a fresh install talks to: RabbitMQ's own defaults.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Unacknowledged messages the broker hands one queue's consumer at most.
pub const DEFAULT_PREFETCH: u16 = 500;
/// Largest `prefetch` accepted: past it, memory is no longer bounded by
/// anything sensible.
pub const MAX_PREFETCH: u16 = 10_000;

/// `[sources.amqp]`: consume RabbitMQ queues. A message is either a
/// pipeline status report (for the status board) or events (for
/// detection); see the connector's documentation for how they are told
/// apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSourceConfig {
    /// The broker: `amqp://user:password@host:port/vhost` (the vhost
    /// percent-encoded, `%2f` is `/`), or `amqps://` for TLS. A secret:
    /// masked in logs; settable as `VIGILO_SOURCES__AMQP__URL`.
    pub url: Secret,
    /// Queues consumed; each is declared durable when it does not exist.
    pub queues: Vec<String>,
    /// Queues (among `queues`) whose messages are always events, never
    /// pipeline status reports.
    pub event_queues: Vec<String>,
    /// Default `kind` per queue for events that carry none (instead of
    /// the kind inferred from their fields).
    pub kinds: BTreeMap<String, String>,
    /// The logsource of each queue's events (`{ product = "aws", service =
    /// "cloudtrail" }`), under the derivation rules and each event's own
    /// `logsource` object.
    pub logsources: BTreeMap<String, vigilo_core::Logsource>,
    /// A topic exchange to bind the queues to (declared durable when
    /// missing). None: producers publish to the default exchange with the
    /// queue name as routing key, and nothing is bound.
    pub exchange: Option<String>,
    /// Binding keys per queue on `exchange` (`*` one word, `#` any);
    /// a queue without an entry is bound with its own name.
    pub bindings: BTreeMap<String, Vec<String>>,
    /// Unacknowledged messages per queue at most (1 to 10000): what bounds
    /// the memory a slow pipeline can make the source hold.
    pub prefetch: u16,
    /// Where a bad message is dead-lettered by the broker: queues Vigilo
    /// declares get `x-dead-letter-exchange` set to this exchange and
    /// `x-dead-letter-routing-key` set to `<queue><dead_letter_suffix>`;
    /// "" is the default exchange, which routes straight to that queue.
    pub dead_letter_exchange: String,
    /// Suffix of each queue's dead-letter queue, declared durable.
    pub dead_letter_suffix: String,
    /// Connection name shown by the broker (`rabbitmqctl list_connections
    /// client_properties`).
    pub connection_name: String,
}

impl Default for AmqpSourceConfig {
    fn default() -> Self {
        AmqpSourceConfig {
            url: Secret::new(DEFAULT_URL),
            queues: Vec::new(),
            event_queues: Vec::new(),
            kinds: BTreeMap::new(),
            logsources: BTreeMap::new(),
            exchange: None,
            bindings: BTreeMap::new(),
            prefetch: DEFAULT_PREFETCH,
            dead_letter_exchange: String::new(),
            dead_letter_suffix: ".dead".into(),
            connection_name: "vigilo".into(),
        }
    }
}

impl AmqpSourceConfig {
    /// Refuse a configuration that cannot work, naming the key.
    pub fn check(&self) -> Result<(), ConnectorError> {
        let bad = |m: String| Err(ConnectorError::new("amqp", m));
        check_url(self.url.expose(), "sources.amqp.url")?;
        if self.queues.is_empty() {
            return bad("sources.amqp.queues: name at least one queue".into());
        }
        for q in &self.queues {
            if q.is_empty() || q.len() > 255 - self.dead_letter_suffix.len() {
                return bad(format!(
                    "sources.amqp.queues: `{q}` must be 1 to {} bytes",
                    255 - self.dead_letter_suffix.len()
                ));
            }
            if q.starts_with("amq.") {
                return bad(format!(
                    "sources.amqp.queues: `{q}`: names starting with `amq.` belong to the broker"
                ));
            }
        }
        for (key, list) in [
            ("event_queues", &self.event_queues),
            ("kinds", &self.kinds.keys().cloned().collect()),
            ("logsources", &self.logsources.keys().cloned().collect()),
            ("bindings", &self.bindings.keys().cloned().collect()),
        ] {
            if let Some(q) = list.iter().find(|q| !self.queues.contains(q)) {
                return bad(format!(
                    "sources.amqp.{key}: `{q}` is not one of sources.amqp.queues"
                ));
            }
        }
        for (q, ls) in &self.logsources {
            if ls.is_empty() {
                return bad(format!(
                    "sources.amqp.logsources.{q} names no dimension (product, category, service)"
                ));
            }
            ls.check(&format!("sources.amqp.logsources.{q}."))
                .or_else(bad)?;
        }
        if let Some((q, _)) = self.kinds.iter().find(|(_, k)| k.is_empty()) {
            return bad(format!("sources.amqp.kinds: the kind for `{q}` is empty"));
        }
        if !(1..=MAX_PREFETCH).contains(&self.prefetch) {
            return bad(format!(
                "sources.amqp.prefetch: {} is outside 1 to {MAX_PREFETCH}",
                self.prefetch
            ));
        }
        if self.dead_letter_suffix.is_empty() {
            return bad("sources.amqp.dead_letter_suffix must not be empty".into());
        }
        if self.exchange.as_deref() == Some("") {
            return bad("sources.amqp.exchange: leave it out to use the default exchange".into());
        }
        Ok(())
    }
}

/// `[sinks.amqp]`: publish finding changes and IAM audit summaries, with
/// publisher confirms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpSinkConfig {
    /// The broker, as for the source. A secret: masked in logs; settable as
    /// `VIGILO_SINKS__AMQP__URL`.
    pub url: Secret,
    /// The exchange published to; "" is the default exchange, where the
    /// routing key names the queue (the sink then declares both queues).
    pub exchange: String,
    /// Routing key of finding changes (created, updated, status).
    pub findings_routing_key: String,
    /// Routing key of IAM audit summaries (the IAM auditor's envelope).
    pub iam_routing_key: String,
    /// Messages published before waiting for the broker's confirms.
    pub batch: u32,
    /// Connection name shown by the broker.
    pub connection_name: String,
}

impl Default for AmqpSinkConfig {
    fn default() -> Self {
        AmqpSinkConfig {
            url: Secret::new(DEFAULT_URL),
            exchange: String::new(),
            findings_routing_key: "vigilo.findings".into(),
            iam_routing_key: "iam.pipeline".into(),
            batch: 500,
            connection_name: "vigilo-sink".into(),
        }
    }
}

impl AmqpSinkConfig {
    /// Refuse a configuration that cannot work, naming the key.
    pub fn check(&self) -> Result<(), ConnectorError> {
        let bad = |m: &str| Err(ConnectorError::new("amqp-sink", m));
        check_url(self.url.expose(), "sinks.amqp.url")
            .map_err(|e| ConnectorError::new("amqp-sink", e.message))?;
        if self.findings_routing_key.is_empty() || self.iam_routing_key.is_empty() {
            return bad("sinks.amqp.findings_routing_key and iam_routing_key must not be empty");
        }
        if !(1..=10_000).contains(&self.batch) {
            return bad("sinks.amqp.batch must be 1 to 10000");
        }
        Ok(())
    }
}

/// Parse the URL without ever echoing it (it may hold a password).
fn check_url(url: &str, key: &str) -> Result<(), ConnectorError> {
    match url.parse::<lapin::uri::AMQPUri>() {
        Ok(_) => Ok(()),
        Err(_) => Err(ConnectorError::new(
            "amqp",
            format!("{key} is not an amqp:// or amqps:// URL"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let mut c = AmqpSourceConfig {
            queues: vec!["rule.ingestion".into()],
            ..Default::default()
        };
        assert!(c.check().is_ok());
        c.prefetch = 0;
        assert!(c.check().unwrap_err().message.contains("prefetch"));
        c.prefetch = 10;
        c.event_queues = vec!["other".into()];
        assert!(c.check().unwrap_err().message.contains("event_queues"));
        c.event_queues.clear();
        c.url = Secret::new("http://u:hunter2@x");
        let e = c.check().unwrap_err().message;
        assert!(e.contains("url") && !e.contains("hunter2"), "{e}");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(AmqpSinkConfig::default().check().is_ok());
    }
}
