use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context;
use chrono::Utc;

use crate::cli::{Color, IamAuditArgs, IamFormat};

pub fn audit(args: &IamAuditArgs) -> anyhow::Result<ExitCode> {
    let input = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .context("reading stdin")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    let exclusions = match &args.exclusions {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            vigilo_iam::Exclusions::parse(&text)
                .with_context(|| format!("exclusions file {}", p.display()))?
        }
        None => vigilo_iam::Exclusions::default(),
    };
    let opts = vigilo_iam::AuditOptions {
        now: Utc::now(),
        exclusions,
    };
    let report = vigilo_iam::audit(&input, &opts)
        .with_context(|| format!("auditing {}", args.file.display()))?;
    let out = match args.format {
        IamFormat::Json => vigilo_iam::render_json(&report),
        IamFormat::Sarif => vigilo_iam::render_sarif(&report),
        IamFormat::Table => {
            let color = match args.color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => std::io::stdout().is_terminal() && !crate::logging::no_color(),
            };
            report.table(color, crate::out::width())
        }
    };
    crate::out::line(out.trim_end_matches('\n'))?;
    if let Some(level) = args.fail_on
        && vigilo_iam::exceeds(&report, level)
    {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
