//! `vigilo archive ls` and `vigilo archive replay`.

use std::process::ExitCode;

use anyhow::Context;
use vigilo_server::config::Secret;
use vigilo_server::connectors::archive::{Archive, ArchiveConfig, ReplayReport};

use crate::cli::{ArchiveCommand, OutputFormat};
use crate::table::{Column, render};

pub async fn run(cmd: ArchiveCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ArchiveCommand::Ls {
            server,
            url,
            from,
            to,
            format,
        } => {
            let loaded = crate::config::load(&server)?;
            let mut cfg: ArchiveConfig = loaded.config.archive.clone().unwrap_or_default();
            if let Some(u) = url {
                cfg.url = Some(Secret::new(u));
            }
            if cfg.url.is_none() {
                anyhow::bail!("no archive: give --url or set `archive.url` in the configuration");
            }
            let archive = Archive::open(&cfg)?;
            let files = archive
                .list(from, to)
                .await
                .with_context(|| format!("listing {}", archive.display_url()))?;
            if format == OutputFormat::Json {
                crate::out::line(&serde_json::to_string_pretty(&files)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let columns = [
                Column::text("KEY", 20),
                Column::number("SIZE"),
                Column::number("FIRST ID"),
                Column::fixed("HOUR (UTC)"),
                Column::fixed("WRITTEN").optional(),
            ];
            let rows: Vec<Vec<String>> = files
                .iter()
                .map(|f| {
                    vec![
                        f.key.clone(),
                        f.size.to_string(),
                        f.first_id.to_string(),
                        f.hour.format("%Y-%m-%d %H:00").to_string(),
                        f.last_modified.format("%Y-%m-%d %H:%M:%S").to_string(),
                    ]
                })
                .collect();
            crate::out::print(&render(&columns, &rows, crate::out::width()))?;
            let total: u64 = files.iter().map(|f| f.size).sum();
            crate::out::outln!("{} files, {total} bytes", files.len())?;
            Ok(ExitCode::SUCCESS)
        }
        ArchiveCommand::Replay {
            server,
            from,
            to,
            key,
        } => {
            let client = reqwest::Client::builder()
                .build()
                .context("building the HTTP client")?;
            let url = format!("{}/api/v1/archive/replay", server.trim_end_matches('/'));
            let mut req = client
                .post(&url)
                .json(&serde_json::json!({"from": from, "to": to}));
            if let Some(k) = &key.api_key {
                req = req.bearer_auth(k);
            }
            let resp = req.send().await.with_context(|| format!("POST {url}"))?;
            let status = resp.status();
            let body = resp.text().await.context("reading the answer")?;
            if !status.is_success() {
                let message = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                    .unwrap_or(body);
                anyhow::bail!("replay refused ({status}): {message}");
            }
            let report: ReplayReport =
                serde_json::from_str(&body).context("reading the replay report")?;
            crate::out::outln!(
                "replayed {} files: {} events read, {} stored, {} already stored before",
                report.files,
                report.events_read,
                report.events_submitted,
                report.events_skipped
            )?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
