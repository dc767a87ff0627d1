//! Layered configuration: defaults < TOML file < `VIGILO_*` environment
//! (`__` separates nesting levels) < command-line flags.

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use vigilo_server::Config;

use crate::cli::ServerArgs;

pub fn load(args: &ServerArgs) -> anyhow::Result<Config> {
    let mut fig = Figment::from(Serialized::defaults(Config::default()));
    if let Some(file) = &args.config {
        if !file.is_file() {
            bail!("config file {} does not exist", file.display());
        }
        fig = fig.merge(Toml::file(file));
    }
    fig = fig.merge(Env::prefixed("VIGILO_").split("__"));
    if let Some(d) = &args.data_dir {
        fig = fig.merge(Serialized::default("data_dir", d));
    }
    if let Some(l) = &args.listen {
        fig = fig.merge(Serialized::default("listen", l));
    }
    if !args.rules.is_empty() {
        fig = fig.merge(Serialized::default("rules", &args.rules));
    }
    fig.extract::<Config>().context("invalid configuration")
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;
    use std::path::PathBuf;

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
                listen: Some("127.0.0.1:9100".parse().unwrap()),
                ..ServerArgs::default()
            };
            let c = load(&args).map_err(|e| e.to_string())?;
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
            let args = ServerArgs {
                config: Some(PathBuf::from("bad.toml")),
                ..ServerArgs::default()
            };
            let err = load(&args).unwrap_err();
            assert!(format!("{err:#}").contains("lissen"), "{err:#}");
            let args = ServerArgs {
                config: Some(PathBuf::from("missing.toml")),
                ..ServerArgs::default()
            };
            assert!(load(&args).is_err());
            Ok(())
        });
    }
}
