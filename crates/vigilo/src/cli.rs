use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vigilo_core::Severity;
use vigilo_server::config::ListenAddr;

#[derive(Parser, Debug)]
#[command(
    name = "vigilo",
    version,
    about = "Real-time compliance and anomaly monitoring"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server.
    Serve(ServerArgs),
    /// Run the server with generated live traffic, and print the URL.
    Demo(DemoArgs),
    /// Send generated traffic to a server, or write it as NDJSON.
    Generate(GenerateArgs),
    /// Apply database migrations and exit.
    Migrate(ServerArgs),
    /// Check and try out Sigma rules.
    #[command(subcommand, after_help = RULES_EXIT_STATUS)]
    Rules(RulesCommand),
    /// Benchmarks driven through the real interface.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// IAM audits.
    #[command(subcommand, after_help = IAM_EXIT_STATUS)]
    Iam(IamCommand),
    /// Print the HTTP API's OpenAPI 3.1 document (what `/api/openapi.json` serves).
    Openapi,
    /// Users and their roles, on the data directory (no server needed).
    #[command(subcommand)]
    User(UserCommand),
    /// API keys, on the data directory (no server needed).
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// The raw event archive in object storage: list it, replay a range.
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// The database itself: move it to another backend.
    #[command(subcommand)]
    Storage(StorageCommand),
}

#[derive(Subcommand, Debug)]
pub enum StorageCommand {
    /// Copy everything a database holds into another one (SQLite to
    /// PostgreSQL), ids kept, then compare both by counts and checksums.
    /// Stop the server first. Running it again after an interruption
    /// continues where the copy stopped.
    Copy(StorageCopyArgs),
}

#[derive(Args, Debug)]
pub struct StorageCopyArgs {
    /// The database to read: `sqlite://PATH` (a data directory or its
    /// `vigilo.db`) or `postgres://user:password@host/db`.
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to write (migrated first): empty, or a previous copy
    /// of the same source.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Records per batch; each batch is one transaction on the destination.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
    /// Only compare the two databases; copy nothing.
    #[arg(long)]
    pub verify_only: bool,
    /// TOML configuration file (for `metrics.fields` and logging).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Stop after this many batches (for testing a resumed copy).
    #[arg(long, hide = true)]
    pub max_batches: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// List the archived files (key, size, first event id, hour received),
    /// read from the store the configuration's `[archive]` names.
    Ls {
        #[command(flatten)]
        server: ServerArgs,
        /// The archive to list instead of the configured one
        /// (`file:///…`, `s3://bucket/prefix`).
        #[arg(long)]
        url: Option<String>,
        /// Only files of this hour or later (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        from: Option<chrono::DateTime<chrono::Utc>>,
        /// Only files of hours before this (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        to: Option<chrono::DateTime<chrono::Utc>>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Re-ingest the events a server received in [--from, --to) from its
    /// archive, through its pipeline, so detection runs over them again.
    /// Whole hours are replayed; replaying a range twice stores nothing
    /// twice. Needs an admin API key.
    Replay {
        /// The server, e.g. http://127.0.0.1:8080.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        server: String,
        /// Start (RFC 3339 or YYYY-MM-DD), widened to its hour.
        #[arg(long, value_parser = parse_time)]
        from: chrono::DateTime<chrono::Utc>,
        /// End, exclusive (RFC 3339 or YYYY-MM-DD).
        #[arg(long, value_parser = parse_time)]
        to: chrono::DateTime<chrono::Utc>,
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// An RFC 3339 time, or a date (its midnight, UTC).
fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("`{s}` is not an RFC 3339 time or a YYYY-MM-DD date"))
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin a strong password is
    /// generated and printed once.
    Create {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        username: String,
        /// admin, analyst or viewer (an analytics dashboard's developer = analyst,
        /// client = viewer).
        #[arg(long, value_parser = parse_role)]
        role: vigilo_auth::Role,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Change a user's role (ends their sessions).
    SetRole {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: vigilo_auth::Role,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApikeyCommand {
    /// Create a key; its secret is printed once, alone on the last line.
    Create {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long)]
        name: String,
        /// Comma-separated: ingest, read, admin.
        #[arg(long, value_delimiter = ',', value_parser = parse_scope, required = true)]
        scopes: Vec<vigilo_auth::Scope>,
        /// Lifetime, e.g. 30d, 12h (default: no expiry).
        #[arg(long)]
        expires_in: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
    },
    /// Revoke a key, by id or prefix (`vgl_…`).
    Revoke {
        #[command(flatten)]
        server: ServerArgs,
        key: String,
    },
}

fn parse_role(s: &str) -> Result<vigilo_auth::Role, String> {
    vigilo_auth::Role::parse(s)
        .ok_or_else(|| format!("`{s}` is not a role: admin, analyst or viewer"))
}

fn parse_scope(s: &str) -> Result<vigilo_auth::Scope, String> {
    vigilo_auth::Scope::parse(s)
        .ok_or_else(|| format!("`{s}` is not a scope: ingest, read or admin"))
}

/// `--api-key`, for commands that talk to a server.
#[derive(Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// API key for the server (scope `ingest` to send events, `read` to
    /// query); also read from VIGILO_API_KEY.
    #[arg(long, env = "VIGILO_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

/// Exit status of `iam audit`, shown in its help.
pub const IAM_EXIT_STATUS: &str = "Exit status:
  0  no finding at or above --fail-on (or no --fail-on given)
  1  a finding at or above --fail-on
  2  usage or input error (bad flag, unreadable or invalid document)";

/// Exit status of the `rules` commands, shown in their help.
pub const RULES_EXIT_STATUS: &str = "Exit status:
  0  the rules compile; with --expect, the findings match it
  1  a rule does not compile, or the findings differ from --expect
  2  usage or input error (bad flag, unreadable rule or event file)";

/// Flags shared by everything that runs a server. Each overrides the
/// config file and `VIGILO_*` environment variables.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (default ./vigilo-data).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Listen address, `host:port` (default 127.0.0.1:8080); the host may
    /// be a name such as `localhost`, resolved at bind time.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<ListenAddr>,
    /// Rule file or directory; repeatable (default: the bundled packs).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Generated events per second.
    #[arg(long, default_value_t = vigilo_gen::DEMO_RATE)]
    pub rate: f64,
    /// Injected incidents per minute (0 disables them). The first minute
    /// brings one incident of every kind, so every bundled rule fires
    /// within the first two minutes; later incidents come at this rate, in
    /// rounds of every kind in a random order.
    #[arg(long, default_value_t = vigilo_gen::DEMO_INCIDENT_RATE)]
    pub incident_rate: f64,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Server to send to, e.g. http://127.0.0.1:8080.
    #[arg(long, required_unless_present = "out", conflicts_with = "out")]
    pub target: Option<String>,
    /// Write NDJSON to this file (`-` for stdout) instead of sending.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Events per second.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// How long to run (e.g. 30s, 5m); 0 runs until interrupted. With
    /// --out it is simulated time.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub duration: Duration,
    /// With --out: write exactly this many events instead.
    #[arg(long)]
    pub count: Option<u64>,
    /// Injected incidents per minute (0 disables).
    #[arg(long, default_value_t = 2.0)]
    pub incident_rate: f64,
    /// Random seed, for reproducible output.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Start of the simulated clock for --out (RFC 3339).
    #[arg(long)]
    pub start: Option<String>,
    /// Gzip request bodies.
    #[arg(long)]
    pub gzip: bool,
    /// Traffic to generate: `vigilo` (logs, metrics, transactions, audit
    /// events) or a cloud audit log in its native shape with incidents that
    /// SigmaHQ rules catch: `cloudtrail` (AWS CloudTrail), `okta` (Okta
    /// System Log), `github` (GitHub audit log), `azure` (Azure activity
    /// logs and Entra ID sign-in logs), `gcp` (Google Cloud audit logs and
    /// Google Workspace login events).
    #[arg(long, default_value = "vigilo")]
    pub source: vigilo_gen::Source,
    #[command(flatten)]
    pub key: KeyArgs,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Parse and compile rules; report every error with file, rule and line.
    #[command(after_help = RULES_EXIT_STATUS)]
    Validate {
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// A pySigma processing pipeline applied to every rule before it is
        /// compiled: a YAML file or a shipped one (`windows`,
        /// `windows-winlogbeat`, `ecs`). Repeatable; applied by priority.
        #[arg(long = "pipeline", value_name = "FILE|NAME")]
        pipelines: Vec<String>,
    },
    /// Run rules over sample events (NDJSON or a JSON array) and print the
    /// findings they produce. The events are streamed: memory follows the
    /// findings, not the size of the input.
    #[command(after_help = RULES_EXIT_STATUS)]
    Test {
        /// Rule files or directories.
        #[arg(required = true, value_name = "RULES")]
        rules: Vec<PathBuf>,
        /// Sample events, `-` for stdin: NDJSON, read line by line (errors
        /// name the line), or a JSON array, read element by element (errors
        /// name the element, from 1).
        #[arg(long, value_name = "FILE")]
        events: PathBuf,
        /// JSON file with the expected findings, `[{"rule_id", "group"?, "event_count"?}]`;
        /// exit 1 unless the findings match exactly.
        #[arg(long, value_name = "FILE")]
        expect: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        format: OutputFormat,
        #[command(flatten)]
        logsource: LogsourceArgs,
        /// A pySigma processing pipeline applied to every rule before it is
        /// compiled: a YAML file or a shipped one (`windows`,
        /// `windows-winlogbeat`, `ecs`). Repeatable; applied by priority.
        #[arg(long = "pipeline", value_name = "FILE|NAME")]
        pipelines: Vec<String>,
    },
}

/// The logsource of events read from a file, as a request's query
/// parameters give it to ingested events: an event's own `logsource`
/// object overrides it, and the product is `vigilo` when nothing names one.
#[derive(Args, Debug, Default)]
pub struct LogsourceArgs {
    /// The events' product (`aws`, `windows`).
    #[arg(long, value_name = "NAME", conflicts_with = "logsource")]
    pub product: Option<String>,
    /// The events' category (`process_creation`).
    #[arg(long, value_name = "NAME", conflicts_with = "logsource")]
    pub category: Option<String>,
    /// The events' service (`cloudtrail`, `security`).
    #[arg(long, value_name = "NAME", conflicts_with = "logsource")]
    pub service: Option<String>,
    /// All three at once: `product=aws,service=cloudtrail`.
    #[arg(long, value_name = "PAIRS")]
    pub logsource: Option<String>,
}

impl LogsourceArgs {
    /// The logsource the flags name; the error names the flag.
    pub fn resolve(&self) -> Result<vigilo_core::Logsource, String> {
        if let Some(pairs) = &self.logsource {
            return vigilo_core::Logsource::parse_pairs(pairs)
                .map_err(|e| format!("--logsource {e}"));
        }
        let l = vigilo_core::Logsource {
            product: self.product.clone(),
            category: self.category.clone(),
            service: self.service.clone(),
        };
        l.check("--")?;
        Ok(l)
    }
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Drive a server over HTTP with NDJSON batches and report sustained
    /// events/s and request latency. Without --target, starts a server in
    /// process on a temporary SQLite database with the bundled rules.
    Ingest(BenchIngestArgs),
    /// Fill a data directory with generated history quickly, straight into
    /// storage (the same group commits and rollups as ingest, without HTTP).
    /// A server started on it then evaluates every event (detection catches
    /// up from its watermark) before it reports ready.
    Seed(BenchSeedArgs),
    /// Measure the latency of the dashboard's API calls against a running
    /// server: each call in turn, from several clients at once, with
    /// p50/p95/p99 per call.
    Api(BenchApiArgs),
}

#[derive(Args, Debug)]
pub struct BenchSeedArgs {
    /// Data directory to fill (created if missing; events are added to what
    /// is there).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Events to write.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Event time span, ending now.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "7d")]
    pub span: Duration,
    /// Injected incidents per minute of event time.
    #[arg(long, default_value_t = 0.5)]
    pub incident_rate: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seed PostgreSQL at this URL instead of SQLite in `--data-dir` (the
    /// tables go into the first schema of the URL's `search_path`, e.g.
    /// `?options=-csearch_path%3Dbench`; it must exist).
    #[arg(long)]
    pub postgres_url: Option<String>,
}

#[derive(Args, Debug)]
pub struct BenchApiArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    pub duration: Duration,
    /// Clients calling at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Exit 1 when a call's p95 is above this many milliseconds.
    #[arg(long)]
    pub max_p95_ms: Option<f64>,
    #[command(flatten)]
    pub key: KeyArgs,
}

#[derive(Args, Debug)]
pub struct BenchIngestArgs {
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    pub duration: Duration,
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    #[arg(long)]
    pub gzip: bool,
    /// Send the pool's simulated event times instead of letting the server
    /// stamp events with their receive time (times then repeat when the pool
    /// is replayed).
    #[arg(long)]
    pub pool_times: bool,
    /// Rate (events/s) the pool's simulated traffic is generated for; its
    /// user and service populations are sized for it.
    #[arg(long, default_value_t = 100_000.0)]
    pub pool_rate: f64,
    /// Data directory for the in-process server (default: a temporary one).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// With --target: the server's API key (scope `ingest`).
    #[command(flatten)]
    pub key: KeyArgs,
}

#[derive(Subcommand, Debug)]
pub enum IamCommand {
    /// Audit an IAM document: seed format, get-account-authorization-details,
    /// a policy document, or a credential report (CSV or JSON).
    #[command(after_help = IAM_EXIT_STATUS)]
    Audit(IamAuditArgs),
}

#[derive(Args, Debug)]
pub struct IamAuditArgs {
    /// The document (`-` for stdin).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value_t = IamFormat::Table)]
    pub format: IamFormat,
    /// Exit 1 when a finding at or above this severity exists:
    /// informational, low, medium, high or critical.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Exclusions file (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub exclusions: Option<PathBuf>,
    /// Colour the table (default: when stdout is a terminal).
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum IamFormat {
    Table,
    Json,
    Sarif,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

fn parse_severity(s: &str) -> Result<Severity, String> {
    s.parse::<Severity>().map_err(|e| e.to_string())
}
