//! The tracing subscriber: one place for every command that logs.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use vigilo_server::config::{LogConfig, LogFormat};

/// The level names a filter directive may use.
pub const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Whether log lines may carry ANSI colours: only on a terminal, and not
/// when `NO_COLOR` is set to anything but the empty string.
pub fn ansi_on_stderr() -> bool {
    std::io::stderr().is_terminal() && !no_color()
}

/// `NO_COLOR` (https://no-color.org): set and not empty.
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Install the subscriber for a configuration: `RUST_LOG` when it is set
/// and valid, else `log.level`, validated at load.
pub fn init(cfg: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi_on_stderr())
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// The position of the `=` that separates a directive's target (and span
/// filter) from its level: the last one outside `[...]` and `{...}`.
fn level_separator(directive: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut found = None;
    for (i, c) in directive.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' => depth = depth.saturating_sub(1),
            '=' if depth == 0 => found = Some(i),
            _ => {}
        }
    }
    found
}

/// Check a `log.level` value: comma-separated directives, each a level name
/// or `target=level`, in `tracing`'s filter syntax. A bare word that is not
/// a level (`verbose`) would be read by `tracing` as a target and turn every
/// other log off, so it is refused here.
pub fn validate_level(filter: &str) -> Result<(), String> {
    let allowed = LEVELS.join(", ");
    let mut directives = 0;
    for directive in filter.split(',').map(str::trim) {
        if directive.is_empty() {
            continue;
        }
        directives += 1;
        let level = match level_separator(directive) {
            Some(0) => {
                return Err(format!("`{directive}` has no target before `=`"));
            }
            Some(i) => &directive[i + 1..],
            None => directive,
        };
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "`{level}` is not a level; use one of {allowed}, alone or per target as `target=level` (e.g. `vigilo_server=debug,info`)"
            ));
        }
    }
    if directives == 0 {
        return Err(format!("it is empty; use one of {allowed}"));
    }
    EnvFilter::builder()
        .parse(filter)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::validate_level;

    #[test]
    fn levels_and_target_directives_pass() {
        for ok in [
            "info",
            "WARN",
            "vigilo_server=debug,info",
            "off",
            "tower_http=trace, warn",
            "vigilo_server[ingest{source=kafka}]=debug",
        ] {
            assert_eq!(validate_level(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn unknown_level_names_are_refused_with_the_allowed_ones() {
        for bad in ["verbose", "vigilo_server=loud", "info,chatty", "", "=info"] {
            let err = validate_level(bad).expect_err(bad);
            if !bad.starts_with('=') {
                assert!(
                    err.contains("trace, debug, info, warn, error, off"),
                    "{bad}: {err}"
                );
            }
        }
    }
}
