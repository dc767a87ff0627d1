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
        api_key: args.key.api_key.clone(),
        start,
        gzip: args.gzip,
        source: args.source,
        ..GenConfig::default()
    };
    if let Some(out) = &args.out {
        let limit = match args.count {
            Some(n) => Limit::Events(n),
            None => Limit::Duration(args.duration),
        };
        let report = if out.as_os_str() == "-" {
            match vigilo_gen::write_ndjson(&mut std::io::stdout().lock(), cfg, limit) {
                Ok(r) => r,
                // The reader has all it wanted (`| head`).
                Err(e) if reader_gone(&e) => return Ok(ExitCode::SUCCESS),
                Err(e) => return Err(e.into()),
            }
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
    crate::logging::init(&vigilo_server::config::LogConfig::default());
    let report = vigilo_gen::send(
        &target,
        cfg,
        args.duration,
        crate::cmd::serve::shutdown_signal(),
    )
    .await?;
    crate::out::line(&report.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Whether writing failed because the reader closed the pipe.
fn reader_gone(e: &vigilo_gen::GenError) -> bool {
    let kind = match e {
        vigilo_gen::GenError::Io(e) => Some(e.kind()),
        vigilo_gen::GenError::Json(e) => e.io_error_kind(),
        _ => None,
    };
    kind == Some(std::io::ErrorKind::BrokenPipe)
}
