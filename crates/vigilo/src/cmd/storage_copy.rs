//! `vigilo storage copy`: everything one database holds into another,
//! resumable, verified by counts and checksums at the end.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use vigilo_storage::Storage;
use vigilo_storage::transfer::{self, CopyOptions, Entity, Progress, Shape, Transfer};
use vigilo_storage_postgres::{PostgresOptions, PostgresStorage, mask_password};
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage};

use crate::cli::{ServerArgs, StorageCopyArgs};
use crate::out::outln;
use crate::table::{self, Column};

/// Where a database is, from `sqlite://…` or `postgres://…`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Location {
    /// The database file.
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    fn parse(url: &str, flag: &str) -> anyhow::Result<Location> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("--{flag}: `sqlite://` needs a path, e.g. sqlite://./vigilo-data");
            }
            let path = PathBuf::from(path);
            let file = if path.is_dir() {
                path.join("vigilo.db")
            } else {
                path
            };
            return Ok(Location::Sqlite(file));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        bail!(
            "--{flag}: `{}` is not a database URL: use sqlite://PATH or postgres://user:password@host/db",
            mask_password(url)
        )
    }

    /// For messages: never the password.
    fn describe(&self) -> String {
        match self {
            Location::Sqlite(p) => format!("sqlite database {}", p.display()),
            Location::Postgres(u) => format!("postgres database {}", mask_password(u)),
        }
    }
}

/// An opened, migrated store.
enum Opened {
    Sqlite(SqliteStorage),
    Postgres(PostgresStorage),
}

impl Opened {
    fn store(&self) -> &dyn Transfer {
        match self {
            Opened::Sqlite(s) => s,
            Opened::Postgres(s) => s,
        }
    }

    async fn close(&self) {
        match self {
            Opened::Sqlite(s) => s.close().await,
            Opened::Postgres(s) => s.close().await,
        }
    }
}

async fn open(at: &Location, source: bool, metric_fields: &[String]) -> anyhow::Result<Opened> {
    let what = at.describe();
    match at {
        Location::Sqlite(path) => {
            if source && !path.is_file() {
                bail!("there is no {what}");
            }
            let opts = SqliteOptions {
                metric_fields: metric_fields.to_vec(),
                ..SqliteOptions::default()
            };
            let s = SqliteStorage::open(path, opts)
                .await
                .with_context(|| format!("opening the {what}"))?;
            s.migrate()
                .await
                .with_context(|| format!("migrating the {what}"))?;
            Ok(Opened::Sqlite(s))
        }
        Location::Postgres(url) => {
            // Connecting applies the migrations.
            let s = PostgresStorage::connect(url, PostgresOptions::default())
                .await
                .with_context(|| format!("opening the {what}"))?
                .with_metric_fields(metric_fields);
            Ok(Opened::Postgres(s))
        }
    }
}

pub async fn run(args: StorageCopyArgs) -> anyhow::Result<ExitCode> {
    let loaded = crate::config::load(&ServerArgs {
        config: args.config.clone(),
        data_dir: None,
        listen: None,
        rules: Vec::new(),
    })?;
    crate::logging::init(&loaded.config.log);
    let fields = loaded.config.metrics.fields.clone();
    let from = Location::parse(&args.from, "from")?;
    let to = Location::parse(&args.to, "to")?;
    if from == to {
        bail!("--from and --to name the same database");
    }
    if matches!(to, Location::Sqlite(_)) && !args.verify_only {
        bail!("copying into sqlite is not supported yet: the destination must be postgres://…");
    }
    let src = open(&from, true, &fields).await?;
    let dst = open(&to, false, &fields).await?;
    let result = copy_and_verify(&args, &from, &to, src.store(), dst.store()).await;
    src.close().await;
    dst.close().await;
    result
}

async fn copy_and_verify(
    args: &StorageCopyArgs,
    from: &Location,
    to: &Location,
    src: &dyn Transfer,
    dst: &dyn Transfer,
) -> anyhow::Result<ExitCode> {
    outln!("from: {}", from.describe())?;
    outln!("to:   {}", to.describe())?;
    let last_event = src.last_key(Entity::Events).await?.unwrap_or(0);
    let watermark = src.detection_watermark().await?;
    outln!(
        "the source holds events up to id {last_event}, detection evaluated up to {watermark}; \
         nothing may write to it while the copy runs"
    )?;
    if !args.verify_only {
        transfer::check_destination(src, dst).await?;
        let opts = CopyOptions {
            batch_size: args.batch_size,
            max_batches: args.max_batches,
        };
        let started = Instant::now();
        let mut last_report = Instant::now();
        let mut report = |p: &Progress| {
            let line = match p {
                Progress::Start {
                    entity,
                    resumed_after: Some(key),
                } => Some(match entity.shape() {
                    Shape::Buckets => {
                        let at = chrono::DateTime::from_timestamp(*key, 0)
                            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                            .unwrap_or_else(|| key.to_string());
                        format!("{entity}: resuming after the bucket of {at}")
                    }
                    _ => format!("{entity}: resuming after id {key}"),
                }),
                Progress::Start { .. } => None,
                Progress::Batch { entity, read, .. } => {
                    if last_report.elapsed() >= Duration::from_secs(2) {
                        last_report = Instant::now();
                        Some(format!("{entity}: {read} records so far"))
                    } else {
                        None
                    }
                }
                Progress::Done {
                    entity,
                    read,
                    written,
                } => Some(format!("{entity}: {read} read, {written} written")),
            };
            if let Some(line) = line {
                // Progress is best effort: a closed stdout stops it, not the copy.
                let _ = crate::out::line(&format!("  {line}"));
            }
        };
        let outcome = transfer::copy(src, dst, opts, &mut report).await?;
        tracing::info!(
            batches = outcome.batches,
            written = outcome.written,
            secs = started.elapsed().as_secs_f64(),
            "copy finished"
        );
        if !outcome.complete {
            outln!(
                "stopped after {} batches as asked; run the same command again to continue",
                outcome.batches
            )?;
            return Ok(ExitCode::SUCCESS);
        }
        outln!(
            "copied {} new records in {:.1}s; verifying",
            outcome.written,
            started.elapsed().as_secs_f64()
        )?;
    }
    let checks = transfer::verify(src, dst, args.batch_size).await?;
    let columns = [
        Column::text("ENTITY", 12),
        Column::number("SOURCE"),
        Column::number("DESTINATION"),
        Column::fixed("CHECKSUM"),
    ];
    let rows: Vec<Vec<String>> = checks
        .iter()
        .map(|c| {
            vec![
                c.entity.name().to_string(),
                c.source.count.to_string(),
                c.destination.count.to_string(),
                if c.ok() {
                    format!("ok {}", &c.source.checksum[..12])
                } else if c.source.count != c.destination.count {
                    "DIFFERS (count)".to_string()
                } else {
                    "DIFFERS".to_string()
                },
            ]
        })
        .collect();
    crate::out::print(&table::render(&columns, &rows, crate::out::width()))?;
    let differ: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok())
        .map(|c| c.entity.name())
        .collect();
    if !differ.is_empty() {
        bail!(
            "verification failed: {} differ between the source and the destination (did something write to either while copying?)",
            differ.join(", ")
        );
    }
    outln!("verified: every entity has the same count and checksum in both databases")?;
    Ok(ExitCode::SUCCESS)
}
