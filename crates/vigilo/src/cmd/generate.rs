use std::process::ExitCode;

use anyhow::Context;
use chrono::{DateTime, Utc};
use vigilo_gen::{GenConfig, Limit};

use crate::cli::GenerateArgs;

pub async fn run(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let start = args
        .start
        .as_deref()
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .with_context(|| format!("--start `{s}` is not an RFC 3339 time"))
        })
        .transpose()?;
    let cfg = GenConfig {
        rate: args.rate,
        incident_rate: args.incident_rate,
        seed: args.seed,
        start,
        gzip: args.gzip,
        ..GenConfig::default()
    };
    if let Some(out) = &args.out {
        let limit = match args.count {
            Some(n) => Limit::Events(n),
            None => Limit::Duration(args.duration),
        };
        let report = if out.as_os_str() == "-" {
            vigilo_gen::write_ndjson(&mut std::io::stdout().lock(), cfg, limit)?
        } else {
            let mut f = std::fs::File::create(out)
                .with_context(|| format!("creating {}", out.display()))?;
            vigilo_gen::write_ndjson(&mut f, cfg, limit)?
        };
        eprintln!(
            "wrote {} events (seed {}, {} .. {}), incidents: {:?}",
            report.events, report.seed, report.start, report.end, report.incidents
        );
        return Ok(ExitCode::SUCCESS);
    }
    let target = args.target.context("--target or --out is required")?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init()
        .ok();
    let report = vigilo_gen::send(
        &target,
        cfg,
        args.duration,
        crate::cmd::serve::shutdown_signal(),
    )
    .await?;
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
