//! `vigilo bench seed`: generated history written straight into storage.
//!
//! The generator runs on a blocking thread a few batches ahead of the
//! writer, which stores each batch with the same `insert_events` group
//! commit (rollups included) that ingest uses. Detection is left to the
//! server: started on the directory, it evaluates everything from its
//! watermark before it reports ready.

use std::process::ExitCode;
use std::time::Instant;

use chrono::{TimeDelta, Utc};
use vigilo_gen::{GenConfig, Generator};
use vigilo_server::Config;

use crate::cli::BenchSeedArgs;
use crate::cmd::serve::open_storage;
use crate::out::outln;

/// Events per group commit.
const BATCH: usize = 10_000;

pub async fn run(args: BenchSeedArgs) -> anyhow::Result<ExitCode> {
    let span_secs = args.span.as_secs_f64();
    anyhow::ensure!(span_secs >= 60.0, "--span must be at least a minute");
    anyhow::ensure!(args.events > 0, "--events must be at least 1");
    std::fs::create_dir_all(&args.data_dir)?;
    let mut cfg = Config {
        data_dir: args.data_dir.clone(),
        ..Config::default()
    };
    if let Some(url) = &args.postgres_url {
        cfg.storage.backend = "postgres".into();
        cfg.storage.url = Some(vigilo_server::config::Secret::new(url.clone()));
    }
    let storage = open_storage(&cfg).await?;
    storage.migrate().await?;

    let rate = args.events as f64 / span_secs;
    let end = Utc::now();
    let start = end - TimeDelta::milliseconds((span_secs * 1000.0) as i64);
    let gen_cfg = GenConfig {
        rate,
        incident_rate: args.incident_rate,
        seed: Some(args.seed),
        start: Some(start),
        ..GenConfig::default()
    };
    gen_cfg.validate()?;
    let total = args.events;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<vigilo_core::NewEvent>>(4);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut generator = Generator::new(gen_cfg);
        let mut made = 0u64;
        let step_ms = (BATCH as f64 / rate * 1000.0).max(1.0);
        let mut i = 0u64;
        while made < total {
            i += 1;
            let now = start + TimeDelta::milliseconds((step_ms * i as f64) as i64);
            let want = BATCH.min((total - made) as usize);
            let mut batch = Vec::with_capacity(want);
            for v in generator.next_batch(now.min(end), want) {
                if batch.len() == want {
                    break;
                }
                let received = vigilo_core::normalize::parse_timestamp(
                    v.get("timestamp").unwrap_or(&serde_json::Value::Null),
                )
                .unwrap_or(now);
                batch.push(vigilo_core::normalize::normalize(v, received)?);
            }
            made += batch.len() as u64;
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
        Ok(())
    });

    let started = Instant::now();
    let mut written = 0u64;
    let mut next_report = 1_000_000u64;
    while let Some(batch) = rx.recv().await {
        written += storage.insert_events(batch).await?.len() as u64;
        if written >= next_report {
            outln!(
                "{written:>12} events  {:>8.0} events/s",
                written as f64 / started.elapsed().as_secs_f64()
            )?;
            next_report += 1_000_000;
        }
    }
    producer.await??;
    let secs = started.elapsed().as_secs_f64();
    outln!(
        "seeded {written} events over {} in {secs:.1} s ({:.0} events/s) into {}",
        humantime::format_duration(std::time::Duration::from_secs(args.span.as_secs())),
        written as f64 / secs,
        args.data_dir.display()
    )?;
    outln!(
        "start a server on it (`vigilo serve --data-dir {}`): detection evaluates the new events before /readyz answers 200",
        args.data_dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}
