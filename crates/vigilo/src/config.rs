//! Layered configuration: defaults < TOML file < `VIGILO_*` environment
//! (`__` separates nesting levels) < command-line flags.
//!
//! Unknown keys in the file are errors. Unknown `VIGILO_*` variables are
//! ignored with a warning: the environment is shared with the platform
//! (Kubernetes sets `VIGILO_PORT`, `VIGILO_SERVICE_HOST`, ... beside a
//! Service named `vigilo`), so they cannot be refused. The known keys come
//! from the `Config` type itself.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::bail;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::Value;
use figment::{Figment, Source};
use vigilo_server::Config;

use crate::cli::ServerArgs;

const ENV_PREFIX: &str = "VIGILO_";
const ENV_SPLIT: &str = "__";

/// A configuration and what loading it found worth a warning.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub unknown_env: Vec<UnknownVar>,
}

/// A `VIGILO_*` variable that names no configuration key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVar {
    pub name: String,
    /// The closest known key, as a variable name and as a key.
    pub nearest: Option<(String, String)>,
}

impl fmt::Display for UnknownVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ignoring unknown environment variable {}", self.name)?;
        if let Some((var, key)) = &self.nearest {
            write!(f, "; did you mean {var} (config key {key})?")?;
        }
        Ok(())
    }
}

impl Loaded {
    /// Log the warnings; call once the subscriber is installed.
    pub fn log_warnings(&self) {
        for w in &self.unknown_env {
            let nearest = w.nearest.as_ref().map(|(var, _)| var.as_str());
            tracing::warn!(
                variable = %w.name,
                did_you_mean = nearest,
                "ignoring unknown environment variable"
            );
        }
    }
}

/// Every key of the configuration, dotted (`ingest.queue_capacity`), with
/// whether it holds a table of further keys.
fn known_keys() -> Vec<(String, bool)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, bool)>) {
        if let Value::Dict(_, dict) = value {
            for (k, v) in dict {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let table = matches!(v, Value::Dict(..));
                out.push((key.clone(), table));
                walk(&key, v, out);
            }
        }
    }
    let mut out = Vec::new();
    // Serializing the defaults cannot fail (plain structs, strings and
    // numbers); should it, every variable would merely be reported unknown.
    if let Ok(value) = Value::serialize(template()) {
        walk("", &value, &mut out);
    }
    out
}

/// The defaults with every optional section present, so the keys of
/// sections that are off by default (`[sources.kafka]`, `[archive]`, ...)
/// can be set from the environment too.
fn template() -> Config {
    let mut c = Config::default();
    c.sources.kafka.get_or_insert_with(Default::default);
    c.sources.amqp.get_or_insert_with(Default::default);
    c.sinks.kafka.get_or_insert_with(Default::default);
    c.sinks.amqp.get_or_insert_with(Default::default);
    c.archive.get_or_insert_with(Default::default);
    let day = vigilo_server::config::DurationText::secs(86_400);
    c.retention.events.get_or_insert(day);
    c.retention.findings.get_or_insert(day);
    c.retention.rollups.get_or_insert(day);
    c
}

fn env_var_for(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.replace('.', ENV_SPLIT).to_ascii_uppercase()
    )
}

/// The key a `VIGILO_*` variable sets, the way figment's `Env` provider
/// reads it (prefix matched case-insensitively, `__` to `.`, lowercased);
/// `None` for other variables.
fn env_key(name: &str) -> Option<String> {
    let name = name.trim();
    let head = name.get(..ENV_PREFIX.len())?;
    if !head.eq_ignore_ascii_case(ENV_PREFIX) {
        return None;
    }
    let rest = &name[ENV_PREFIX.len()..];
    Some(rest.replace(ENV_SPLIT, ".").trim().to_ascii_lowercase())
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if close enough to be a likely typo:
/// at most a third of the word's length in edits (and at least one). A
/// nested key also matches by its last part (`level` for `log.level`).
fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            let last = c.rsplit('.').next().unwrap_or(c);
            (distance(word, c).min(distance(word, last)), c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The unknown `VIGILO_*` variables among `vars`.
fn unknown_vars<'a>(
    vars: impl IntoIterator<Item = &'a str>,
    known: &[(String, bool)],
) -> Vec<UnknownVar> {
    let leaves: Vec<&str> = known
        .iter()
        .filter(|(_, table)| !table)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut out: Vec<UnknownVar> = vars
        .into_iter()
        .filter_map(|name| {
            let key = env_key(name)?;
            if known.iter().any(|(k, _)| *k == key) {
                return None;
            }
            let nearest =
                nearest(&key, leaves.iter().copied()).map(|k| (env_var_for(k), k.to_string()));
            Some(UnknownVar {
                name: name.trim().to_string(),
                nearest,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// One figment error as a sentence that names where the value came from.
fn describe(err: &figment::Error, known: &[(String, bool)]) -> String {
    let key = err.path.join(".");
    let from_env = err
        .metadata
        .as_ref()
        .is_some_and(|md| md.name.contains("environment"));
    let origin = match err.metadata.as_ref() {
        Some(md) => match &md.source {
            Some(Source::File(path)) => format!("config file {}", path.display()),
            _ if from_env && !key.is_empty() => {
                format!("environment variable {}", env_var_for(&key))
            }
            _ => md.name.to_string(),
        },
        None => "configuration".to_string(),
    };
    match &err.kind {
        figment::error::Kind::UnknownField(field, expected) => {
            // The path ends with the unknown field itself.
            let mut parent = err.path.clone();
            if parent.last() == Some(field) {
                parent.pop();
            }
            let parent = parent.join(".");
            let qualify = |name: &str| {
                if parent.is_empty() {
                    name.to_string()
                } else {
                    format!("{parent}.{name}")
                }
            };
            let hint = match nearest(field, expected.iter().copied()) {
                Some(near) => format!("did you mean `{}`?", qualify(near)),
                None => {
                    let here: Vec<String> = known
                        .iter()
                        .filter(|(k, _)| match k.rsplit_once('.') {
                            Some((p, _)) => p == parent,
                            None => parent.is_empty(),
                        })
                        .map(|(k, _)| format!("`{k}`"))
                        .collect();
                    format!("known keys: {}", here.join(", "))
                }
            };
            format!("{origin}: unknown key `{}`; {hint}", qualify(field))
        }
        figment::error::Kind::UnknownVariant(value, expected) => {
            let allowed: Vec<String> = expected.iter().map(|v| format!("`{v}`")).collect();
            let at = if from_env || key.is_empty() {
                String::new()
            } else {
                format!("`{key}`: ")
            };
            format!(
                "{origin}: {at}unknown value `{value}`; use {}",
                allowed.join(" or ")
            )
        }
        kind if key.is_empty() || from_env => format!("{origin}: {kind}"),
        kind => format!("{origin}: `{key}`: {kind}"),
    }
}

pub fn load(args: &ServerArgs) -> anyhow::Result<Loaded> {
    let env: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    load_from(args, env.iter().map(String::as_str))
}

fn load_from<'a>(
    args: &ServerArgs,
    env: impl IntoIterator<Item = &'a str>,
) -> anyhow::Result<Loaded> {
    let known = known_keys();
    let unknown_env = unknown_vars(env, &known);
    let keys: BTreeSet<String> = known.iter().map(|(k, _)| k.clone()).collect();
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = &args.config {
        if !file.is_file() {
            bail!("config file {} does not exist", file.display());
        }
        fig = fig.merge(Toml::file(file));
    }
    fig = fig.merge(
        Env::prefixed(ENV_PREFIX)
            .split(ENV_SPLIT)
            .filter(move |k| keys.contains(&k.as_str().trim().to_ascii_lowercase())),
    );
    if let Some(d) = &args.data_dir {
        fig = fig.merge(Serialized::default("data_dir", d));
    }
    if let Some(l) = &args.listen {
        fig = fig.merge(Serialized::default("listen", l));
    }
    if !args.rules.is_empty() {
        fig = fig.merge(Serialized::default("rules", &args.rules));
    }
    let config = match fig.extract::<Config>() {
        Ok(c) => c,
        Err(e) => {
            warn_on_stderr(&unknown_env);
            let all: Vec<String> = e.into_iter().map(|e| describe(&e, &known)).collect();
            bail!("invalid configuration: {}", all.join("; "));
        }
    };
    if let Err(why) = crate::logging::validate_level(&config.log.level) {
        warn_on_stderr(&unknown_env);
        bail!(
            "invalid configuration: log.level `{}` is not valid: {why}",
            config.log.level
        );
    }
    if let Err(why) = config.storage.validate() {
        warn_on_stderr(&unknown_env);
        bail!("invalid configuration: {why}");
    }
    if let Err(why) = config.retention.validate() {
        warn_on_stderr(&unknown_env);
        bail!("invalid configuration: {why}");
    }
    Ok(Loaded {
        config,
        unknown_env,
    })
}

/// Before the subscriber exists (the configuration did not load).
fn warn_on_stderr(unknown: &[UnknownVar]) {
    for w in unknown {
        eprintln!("warning: {w}");
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// The error of loading with `file` as the config file; panics if
    /// loading succeeds.
    fn load_error(file: &str) -> String {
        let args = ServerArgs {
            config: Some(PathBuf::from(file)),
            ..ServerArgs::default()
        };
        format!("{:#}", load(&args).unwrap_err())
    }

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "vigilo.toml",
                "listen = \"127.0.0.1:9000\"\ndata_dir = \"/from/file\"\n[ingest]\nmax_body_bytes = 1000\nqueue_capacity = 7\n",
            )?;
            jail.set_env("VIGILO_DATA_DIR", "/from/env");
            jail.set_env("VIGILO_INGEST__QUEUE_CAPACITY", "9");
            let args = ServerArgs {
                config: Some(PathBuf::from("vigilo.toml")),
                listen: Some("127.0.0.1:9100".parse().map_err(|e| format!("{e}"))?),
                ..ServerArgs::default()
            };
            let c = load(&args).map_err(|e| e.to_string())?.config;
            assert_eq!(c.listen.port(), 9100, "flag beats file");
            assert_eq!(c.data_dir, PathBuf::from("/from/env"), "env beats file");
            assert_eq!(c.ingest.queue_capacity, 9, "nested env beats file");
            assert_eq!(c.ingest.max_body_bytes, 1000, "file beats default");
            assert_eq!(
                c.ingest.max_event_bytes,
                Config::default().ingest.max_event_bytes
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lissen = \"x\"\n")?;
            let err = load_error("bad.toml");
            assert!(err.contains("unknown key `lissen`"), "{err}");
            assert!(err.contains("did you mean `listen`?"), "{err}");
            jail.create_file("nested.toml", "[ingest]\nqueue_capasity = 1\n")?;
            let err = load_error("nested.toml");
            assert!(
                err.contains("did you mean `ingest.queue_capacity`?"),
                "{err}"
            );
            load_error("missing.toml"); // an error too
            Ok(())
        });
    }

    #[test]
    fn known_keys_come_from_the_config_type() {
        let keys: Vec<String> = known_keys().into_iter().map(|(k, _)| k).collect();
        for k in [
            "listen",
            "data_dir",
            "rules",
            "ingest",
            "ingest.queue_capacity",
            "storage.url",
            "log.level",
            "log.format",
            // Sections that are off by default are known too.
            "sources.kafka",
            "sources.amqp",
            "sinks.kafka",
            "sinks.amqp",
            "archive",
            "alerts",
            "retention.events",
            "retention.findings",
            "retention.rollups",
            "retention.interval",
            "retention.batch",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k} missing from {keys:?}");
        }
    }

    #[test]
    fn unknown_variables_are_named_with_the_nearest_key() {
        let known = known_keys();
        let found = unknown_vars(
            [
                "PATH",
                "VIGILO_LISTEN",
                "VIGILO_INGEST__QUEUE_CAPACITY",
                "VIGILO_PORT",
                "VIGILO_LOG_LEVEL",
                "VIGILO_DATADIR",
            ],
            &known,
        );
        let names: Vec<&str> = found.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["VIGILO_DATADIR", "VIGILO_LOG_LEVEL", "VIGILO_PORT"]);
        assert_eq!(
            found[0].nearest,
            Some(("VIGILO_DATA_DIR".into(), "data_dir".into()))
        );
        assert_eq!(
            found[1].nearest,
            Some(("VIGILO_LOG__LEVEL".into(), "log.level".into()))
        );
        assert_eq!(found[2].nearest, None);
    }

    #[test]
    fn listen_takes_host_names_and_names_the_field_when_wrong() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("VIGILO_LISTEN", "localhost:8081");
            let c = load(&ServerArgs::default())
                .map_err(|e| e.to_string())?
                .config;
            assert_eq!(c.listen.as_str(), "localhost:8081");
            jail.set_env("VIGILO_LISTEN", "localhost");
            let err = format!("{:#}", load(&ServerArgs::default()).unwrap_err());
            assert!(err.contains("VIGILO_LISTEN"), "{err}");
            assert!(err.contains("host:port"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_log_settings_name_the_allowed_values() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[log]\nformat = \"jsn\"\n")?;
            let err = load_error("a.toml");
            assert!(err.contains("log.format"), "{err}");
            assert!(
                err.contains("unknown value `jsn`; use `text` or `json`"),
                "{err}"
            );
            jail.create_file("b.toml", "[log]\nlevel = \"verbose\"\n")?;
            let err = load_error("b.toml");
            assert!(err.contains("log.level `verbose`"), "{err}");
            assert!(
                err.contains("trace, debug, info, warn, error, off"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_storage_backends_name_both_backends() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("a.toml", "[storage]\nbackend = \"mysql\"\n")?;
            let err = load_error("a.toml");
            assert!(err.contains("storage.backend `mysql`"), "{err}");
            assert!(err.contains("`sqlite` or `postgres`"), "{err}");
            jail.create_file(
                "b.toml",
                "[storage]\nbackend = \"postgres\"\nmax_connections = 4\nstatement_timeout_secs = 5\n",
            )?;
            let args = ServerArgs {
                config: Some(PathBuf::from("b.toml")),
                ..ServerArgs::default()
            };
            let c = load(&args).map_err(|e| e.to_string())?.config;
            assert_eq!(c.storage.max_connections, 4);
            assert_eq!(c.storage.statement_timeout_secs, 5);
            Ok(())
        });
    }
}
