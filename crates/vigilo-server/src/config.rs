//! The one typed configuration. Loaded in layers by the binary: defaults <
//! TOML file < `VIGILO_*` environment variables (`__` for nesting) < flags.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on: `host:port`, where the host is an
    /// IP address or a name resolved when the server binds.
    pub listen: ListenAddr,
    /// Directory holding the SQLite database.
    pub data_dir: PathBuf,
    /// Rule files or directories; empty means the bundled packs.
    pub rules: Vec<PathBuf>,
    /// Browser origins allowed to call the API and the live channel from
    /// another site (`https://ops.example.com`; `*` for any). Empty: same
    /// origin only, as the embedded dashboard needs.
    pub cors_origins: Vec<String>,
    pub ingest: IngestConfig,
    pub detection: DetectionConfig,
    pub storage: StorageConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub pipelines: PipelinesConfig,
    pub live: LiveConfig,
    /// Accounts, sessions, API keys and single sign-on (`[auth]`).
    pub auth: crate::auth::AuthConfig,
    /// HTTPS (`[tls]`): serve TLS from a certificate and key.
    pub tls: crate::auth::TlsConfig,
    /// Message broker sources (`[sources.kafka]`, `[sources.amqp]`).
    pub sources: crate::connectors::SourcesConfig,
    /// Where findings and IAM audit summaries are published
    /// (`[sinks.kafka]`, `[sinks.amqp]`).
    pub sinks: crate::connectors::SinksConfig,
    /// The raw event archive in object storage (`[archive]`); none by default.
    pub archive: Option<crate::connectors::archive::ArchiveConfig>,
    /// Notifications to Discord, Slack and webhooks (`[alerts]`).
    pub alerts: crate::alerts::AlertsConfig,
    /// How events get their Sigma logsource (`[logsources]`).
    pub logsources: LogsourcesConfig,
    /// Risk scoring with an OpenAI-compatible model (`[enrichment]`); off by default.
    pub enrichment: crate::enrichment::EnrichmentConfig,
    /// The heuristics' asset criticality table (`[risk]`).
    pub risk: crate::enrichment::RiskConfig,
    /// Compliance mapping files added to the bundled one (`[compliance]`).
    pub compliance: crate::compliance::ComplianceConfig,
    /// How long events, findings and rollups are kept (`[retention]`);
    /// forever by default.
    pub retention: RetentionConfig,
}

/// `[logsources]`: derivation rules giving events logsource dimensions
/// from their fields (`[[logsources.rules]] when = { kind = "log" } set =
/// { category = "application" }`). They rank above the request's (or
/// topic's, or queue's) logsource and below an event's own `logsource`
/// object; for each dimension the first matching rule that names it wins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsourcesConfig {
    pub rules: vigilo_core::logsource::DeriveRules,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: ListenAddr::from(SocketAddr::from(([127, 0, 0, 1], 8080))),
            data_dir: PathBuf::from("./vigilo-data"),
            rules: Vec::new(),
            cors_origins: Vec::new(),
            ingest: IngestConfig::default(),
            detection: DetectionConfig::default(),
            storage: StorageConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            pipelines: PipelinesConfig::default(),
            live: LiveConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            tls: crate::auth::TlsConfig::default(),
            sources: Default::default(),
            sinks: Default::default(),
            archive: None,
            alerts: Default::default(),
            logsources: Default::default(),
            enrichment: Default::default(),
            risk: Default::default(),
            compliance: Default::default(),
            retention: RetentionConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest request body accepted, after decompression (bytes).
    pub max_body_bytes: usize,
    /// Largest single event accepted (bytes of JSON).
    pub max_event_bytes: usize,
    /// Events held in memory between acceptance and detection; past it,
    /// ingest answers 503 with `Retry-After`.
    pub queue_capacity: usize,
    /// Most events written in one group commit.
    pub max_batch_events: usize,
    /// Seconds advertised in `Retry-After` when the queue is full.
    pub retry_after_secs: u64,
    /// Most events one request may carry, whatever their size; past it the
    /// request is refused with 413 as soon as the count passes it, before
    /// any event is built. Never more than `queue_capacity` in effect.
    pub max_events_per_request: usize,
    /// Bytes of request bodies being decoded at once, across all requests
    /// (compressed plus decompressed); a request waits briefly for its share
    /// or answers 503 with `Retry-After`. Never less than `max_body_bytes`
    /// in effect, so the largest allowed body can always be decoded.
    pub decode_budget_bytes: usize,
    /// WebSocket ingest (`[ingest.ws]`).
    pub ws: IngestWsConfig,
}

impl IngestConfig {
    /// The effective events-per-request cap and the config key that sets it:
    /// the smaller of `max_events_per_request` and `queue_capacity`.
    pub fn events_per_request(&self) -> (usize, &'static str) {
        let cap = self.max_events_per_request.max(1);
        let queue = self.queue_capacity.max(1);
        if cap <= queue {
            (cap, "ingest.max_events_per_request")
        } else {
            (queue, "ingest.queue_capacity")
        }
    }

    /// The effective decode budget in bytes (at least `max_body_bytes`).
    pub fn decode_budget(&self) -> usize {
        self.decode_budget_bytes.max(self.max_body_bytes).max(1)
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 16 * 1024 * 1024,
            max_event_bytes: 256 * 1024,
            queue_capacity: 200_000,
            max_batch_events: 10_000,
            retry_after_secs: 1,
            max_events_per_request: 10_000,
            decode_budget_bytes: 64 * 1024 * 1024,
            ws: IngestWsConfig::default(),
        }
    }
}

/// WebSocket ingest at `/api/v1/ingest/ws` and `/ws/ingest`: each text
/// message is a batch, answered once it is stored. A message larger than
/// `ingest.max_body_bytes` closes the connection with 1009; the other
/// ingest limits apply per message as they do per request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestWsConfig {
    /// Seconds between the server's pings (default 20); 0 sends none.
    pub ping_interval_secs: u64,
    /// Pings in a row a client may leave unanswered (default 2, at least
    /// 1); at the next ping time after that it is closed (1008). Any frame
    /// from the client counts as an answer.
    pub max_missed_pongs: u32,
    /// Seconds a connection may go without a text or binary message from
    /// the client before the server closes it (1000; default 300); 0: no
    /// limit.
    pub idle_timeout_secs: u64,
    /// Messages a second one connection may send, in bursts of up to as
    /// many (default 1000); past it a message is answered `rate_limited`
    /// and dropped, and the connection stays open. 0: no limit.
    pub max_messages_per_sec: u32,
    /// Events a second one connection may send (default 50000): a message
    /// is taken while the connection's allowance is not overdrawn and then
    /// draws all its events (so one large message can overdraw it); else it
    /// is answered `rate_limited` and dropped. 0: no limit.
    pub max_events_per_sec: u32,
}

impl Default for IngestWsConfig {
    fn default() -> Self {
        IngestWsConfig {
            ping_interval_secs: 20,
            max_missed_pongs: 2,
            idle_timeout_secs: 300,
            max_messages_per_sec: 1000,
            max_events_per_sec: 50_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectionConfig {
    /// Shortest time between two commits of detection results while events
    /// keep coming (milliseconds). Results evaluated meanwhile wait in
    /// memory, one write per incident; after a quiet spell they commit at
    /// once. Lower: findings are stored sooner; higher: a busy incident is
    /// rewritten less often and ingest keeps more of the write connection.
    pub commit_interval_ms: u64,
    /// pySigma processing pipelines applied to every rule before it is
    /// compiled, in `priority` order: a shipped name (`windows`,
    /// `windows-winlogbeat`, `windows-security`, `winlogbeat-fields`, `gcp`,
    /// `ecs`) or a YAML file, the same files sigma-cli takes with `-p`.
    /// Re-read when rules reload.
    pub pipelines: Vec<String>,
    /// Several processes on one PostgreSQL database: how often the process
    /// that leads detection looks for events the others stored while its
    /// own ingest is quiet (milliseconds).
    pub shared_poll_ms: u64,
    /// Several processes on one PostgreSQL database: how often a process
    /// that does not lead detection tries to take over, and the leader
    /// checks it still leads (milliseconds). A leader that dies is replaced
    /// within about this long.
    pub lead_retry_ms: u64,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            commit_interval_ms: 1000,
            pipelines: Vec::new(),
            shared_poll_ms: 250,
            lead_retry_ms: 1000,
        }
    }
}

impl DetectionConfig {
    /// The polling periods, each at least a millisecond.
    pub fn poll(&self) -> crate::pipeline::PollConfig {
        crate::pipeline::PollConfig {
            others: std::time::Duration::from_millis(self.shared_poll_ms.max(1)),
            lead_retry: std::time::Duration::from_millis(self.lead_retry_ms.max(1)),
        }
    }
}

/// The pipeline hub: a live status board for pipelines (the topics of a
/// pipeline dashboard hub, agents that report themselves, Vigilo's own
/// stages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelinesConfig {
    /// Pipelines listed from the start, before their first report.
    pub names: Vec<String>,
    /// Accept reports only for `names` (and Vigilo's own stages); others
    /// get 404. Off: a pipeline is created by its first report.
    pub restrict: bool,
    /// Reports kept per pipeline (the oldest go).
    pub history: u32,
    /// Seconds between the status reports of Vigilo's own stages
    /// (`ingest`, `detection`, `storage`); 0 turns them off.
    pub report_interval_secs: u64,
}

/// The topics a pipeline dashboard hub monitors by default.
pub const DEFAULT_PIPELINES: [&str; 5] = [
    "rule.ingestion",
    "validation.pipeline",
    "remediation.pipeline",
    "iam.pipeline",
    "delta.pipeline",
];

impl Default for PipelinesConfig {
    fn default() -> Self {
        PipelinesConfig {
            names: DEFAULT_PIPELINES.iter().map(|s| s.to_string()).collect(),
            restrict: false,
            history: 1000,
            report_interval_secs: 5,
        }
    }
}

/// The live channel (Socket.IO at `/socket.io`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Messages queued per client; a client that falls this far behind is
    /// disconnected (it reconnects and refetches), so a stalled browser
    /// never grows the server's memory.
    pub client_buffer: usize,
    /// Most bytes of `finding` messages sent for one detection commit; a
    /// larger commit is sent as one `findings_summary` instead.
    pub max_commit_bytes: usize,
    /// Most raw events a second sent to the `events` room.
    pub event_sample_per_sec: u32,
    /// Seconds between Engine.IO pings; a client whose queue is full
    /// cannot take the ping and is closed at the next one.
    pub ping_interval_secs: u64,
    /// Seconds a client has to answer a ping.
    pub ping_timeout_secs: u64,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            client_buffer: 256,
            max_commit_bytes: 256 * 1024,
            event_sample_per_sec: 20,
            ping_interval_secs: 25,
            ping_timeout_secs: 20,
        }
    }
}

/// The metrics explorer's numeric rollups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Top-level numeric payload fields rolled up per minute (count, sum,
    /// min, max and a quantile sketch), by service, `metric_name` and
    /// `source_id`, in the same transaction as the events; the fields
    /// `/api/v1/metrics/series` answers for. Only JSON numbers count
    /// (`"42"` is text).
    pub fields: Vec<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            fields: vigilo_storage::DEFAULT_METRIC_FIELDS
                .iter()
                .map(|f| f.to_string())
                .collect(),
        }
    }
}

/// `[retention]`: how long each kind of data is kept, as durations
/// (`12h`, `30d`, `2w`); a key left unset keeps that data forever.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Raw events, by event time. Events detection has not evaluated yet
    /// are kept whatever their time.
    pub events: Option<DurationText>,
    /// Findings, by last activity (last seen, or changed by an analyst),
    /// whatever their status, with their history, notes and enrichments.
    pub findings: Option<DurationText>,
    /// The per-minute and per-hour rollups behind the dashboard's series
    /// and totals; at least `events` (needs `events`).
    pub rollups: Option<DurationText>,
    /// Time between sweeps (default `5m`).
    pub interval: DurationText,
    /// Rows one step deletes at most of each kind (default 5000).
    pub batch: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            events: None,
            findings: None,
            rollups: None,
            interval: DurationText::secs(300),
            batch: 5000,
        }
    }
}

impl RetentionConfig {
    /// Check the periods; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval.0.is_zero() {
            return Err("retention.interval must be longer than 0s".into());
        }
        if self.batch == 0 {
            return Err("retention.batch must be at least 1".into());
        }
        for (name, d) in [
            ("events", self.events),
            ("findings", self.findings),
            ("rollups", self.rollups),
        ] {
            if d.is_some_and(|d| d.0.is_zero()) {
                return Err(format!("retention.{name} must be longer than 0s"));
            }
        }
        match (self.rollups, self.events) {
            (Some(r), None) => Err(format!(
                "retention.rollups ({r:?}) is shorter than retention.events (unset: kept forever): \
                 rollups must outlive the events they count"
            )),
            (Some(r), Some(e)) if r.0 < e.0 => Err(format!(
                "retention.rollups ({r:?}) is shorter than retention.events ({e:?}): \
                 rollups must outlive the events they count"
            )),
            _ => Ok(()),
        }
    }

    /// Whether any kind of data expires.
    pub fn enabled(&self) -> bool {
        self.events.is_some() || self.findings.is_some() || self.rollups.is_some()
    }
}

/// A duration in the configuration: `200ms`, `30s`, `5m`, `4h`, `1d`, `1w`.
pub use crate::alerts::config::DurationText;

/// The storage backends `storage.backend` accepts.
pub const STORAGE_BACKENDS: [&str; 2] = ["sqlite", "postgres"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite` (default: a file in `data_dir`) or `postgres` (the server
    /// `url` names).
    pub backend: String,
    /// SQLite `synchronous` pragma: `normal` (durable across process
    /// crashes, the default) or `full` (also across power loss).
    pub sqlite_synchronous: String,
    /// Connection URL for server backends
    /// (`postgres://user:password@host:5432/db?sslmode=require`); required
    /// by `postgres`; masked in logs.
    pub url: Option<Secret>,
    /// PostgreSQL: most connections the pool opens (default 16).
    pub max_connections: u32,
    /// PostgreSQL: seconds a statement may run before the server cancels
    /// it (default 30); 0 leaves the server's own `statement_timeout`.
    pub statement_timeout_secs: u64,
}

impl StorageConfig {
    /// Check the backend name; the error names the allowed ones.
    pub fn validate(&self) -> Result<(), String> {
        if STORAGE_BACKENDS.contains(&self.backend.as_str()) {
            Ok(())
        } else {
            Err(format!(
                "storage.backend `{}` is not a backend: use `sqlite` or `postgres`",
                self.backend
            ))
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: "sqlite".into(),
            sqlite_synchronous: "normal".into(),
            url: None,
            max_connections: 16,
            statement_timeout_secs: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter: a level (`trace`, `debug`, `info`, `warn`,
    /// `error` or `off`) and `target=level` directives, comma-separated,
    /// e.g. `info` or `vigilo_server=debug,info`.
    pub level: String,
    /// `text` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// A `host:port` address to listen on. The host is an IP address (IPv6 in
/// brackets, `[::1]:8080`) or a host name such as `localhost`, resolved when
/// the server binds.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ListenAddr {
    text: String,
    port: u16,
}

impl ListenAddr {
    /// The address as given, e.g. `localhost:8080`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// Why a string is not a `host:port` listen address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a `host:port` address ({reason}), e.g. `127.0.0.1:8080`, `localhost:8080` or `[::1]:8080`"
)]
pub struct ListenAddrError {
    input: String,
    reason: &'static str,
}

impl FromStr for ListenAddr {
    type Err = ListenAddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ListenAddrError {
            input: s.to_string(),
            reason,
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(|| fail("no port"))?;
        let port = port
            .parse::<u16>()
            .map_err(|_| fail("the port is not a number from 0 to 65535"))?;
        if let Some(inner) = host.strip_prefix('[') {
            let ip = inner
                .strip_suffix(']')
                .ok_or_else(|| fail("unclosed `[`"))?;
            ip.parse::<Ipv6Addr>()
                .map_err(|_| fail("not an IPv6 address in brackets"))?;
        } else if host.is_empty() {
            return Err(fail("no host"));
        } else if host.contains(':') {
            return Err(fail("IPv6 addresses go in brackets"));
        } else if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(fail("the host is not an IP address or a host name"));
        }
        Ok(ListenAddr {
            text: s.to_string(),
            port,
        })
    }
}

impl TryFrom<String> for ListenAddr {
    type Error = ListenAddrError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<ListenAddr> for String {
    fn from(a: ListenAddr) -> String {
        a.text
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(a: SocketAddr) -> Self {
        ListenAddr {
            text: a.to_string(),
            port: a.port(),
        }
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ListenAddr({})", self.text)
    }
}

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retention(events: Option<&str>, rollups: Option<&str>) -> RetentionConfig {
        let d = |s: &str| DurationText(crate::alerts::config::parse_duration(s).unwrap());
        RetentionConfig {
            events: events.map(d),
            rollups: rollups.map(d),
            ..RetentionConfig::default()
        }
    }

    #[test]
    fn retention_refuses_rollups_shorter_than_events() {
        assert_eq!(RetentionConfig::default().validate(), Ok(()));
        assert!(!RetentionConfig::default().enabled());
        assert_eq!(retention(Some("30d"), None).validate(), Ok(()));
        assert_eq!(retention(Some("30d"), Some("30d")).validate(), Ok(()));
        assert_eq!(retention(Some("30d"), Some("90d")).validate(), Ok(()));
        let short = retention(Some("30d"), Some("7d")).validate().unwrap_err();
        assert!(
            short.contains("retention.rollups (7d)") && short.contains("retention.events (30d)"),
            "{short}"
        );
        let alone = retention(None, Some("7d")).validate().unwrap_err();
        assert!(alone.contains("retention.rollups"), "{alone}");
        let zero = RetentionConfig {
            batch: 0,
            ..RetentionConfig::default()
        };
        assert!(zero.validate().unwrap_err().contains("retention.batch"));
    }

    #[test]
    fn retention_reads_durations_and_refuses_unknown_keys() {
        let read = |v: serde_json::Value| serde_json::from_value::<Config>(v);
        let c = read(serde_json::json!({
            "retention": { "events": "30d", "findings": "12h", "interval": "1m" }
        }))
        .unwrap();
        assert_eq!(c.retention.events.map(|d| d.0.as_secs()), Some(30 * 86_400));
        assert_eq!(c.retention.findings.map(|d| d.0.as_secs()), Some(12 * 3600));
        assert_eq!(c.retention.interval.0.as_secs(), 60);
        assert_eq!(c.retention.batch, 5000);
        let bad = read(serde_json::json!({ "retention": { "event": "30d" } })).unwrap_err();
        assert!(bad.to_string().contains("event"), "{bad}");
        let bad = read(serde_json::json!({ "retention": { "events": "30 days" } })).unwrap_err();
        assert!(bad.to_string().contains("not a duration"), "{bad}");
    }

    #[test]
    fn secrets_are_masked_in_debug() {
        let mut c = Config::default();
        c.storage.url = Some(Secret::new("postgres://u:hunter2@db/v"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(***)"));
    }
}
