//! `vigilo bench ingest`: the end-to-end load figure, measured through HTTP.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigilo_server::{Config, Server};

use crate::cli::BenchIngestArgs;
use crate::cmd::serve::open_storage;

/// Peak and current resident memory of this process, in MiB (Linux).
fn rss_mib() -> (Option<f64>, Option<f64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

pub async fn ingest(args: BenchIngestArgs) -> anyhow::Result<ExitCode> {
    let mut _tmp = None;
    let mut local = None;
    let mut api_key = args.key.api_key.clone();
    let target = match args.target.clone() {
        Some(t) => t,
        None => {
            let dir = match &args.data_dir {
                Some(d) => d.clone(),
                None => {
                    let t = tempfile::tempdir()?;
                    let p = t.path().to_path_buf();
                    _tmp = Some(t);
                    p
                }
            };
            let cfg = Config {
                listen: "127.0.0.1:0".parse()?,
                data_dir: dir,
                ..Config::default()
            };
            let storage = open_storage(&cfg).await?;
            let server = Server::start(cfg, storage).await?;
            let url = format!("http://{}", server.local_addr());
            let state = server.state();
            let (_, secret) = vigilo_server::auth::admin::make_key(
                state.storage.as_ref(),
                "bench",
                &[vigilo_auth::Scope::Ingest],
                None,
                "bench",
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
            api_key = Some(secret);
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let handle = tokio::spawn(server.run(async move {
                let _ = stop_rx.await;
            }));
            local = Some((state, stop_tx, handle));
            url
        }
    };
    crate::out::outln!(
        "driving {target} for {:?}: batches of {} events, {} connections{}",
        args.duration,
        args.batch_size,
        args.concurrency,
        if args.gzip { ", gzip" } else { "" }
    )?;
    let report = vigilo_gen::load(vigilo_gen::LoadConfig {
        target: target.clone(),
        api_key,
        batch_size: args.batch_size,
        concurrency: args.concurrency,
        duration: args.duration,
        gzip: args.gzip,
        receive_time: !args.pool_times,
        pool_rate: args.pool_rate,
        ..vigilo_gen::LoadConfig::default()
    })
    .await?;
    crate::out::outln!("{report}")?;
    if let Some((state, stop, handle)) = local {
        let (peak, _) = rss_mib();
        let drain_started = Instant::now();
        while state.pipeline.queue_depth() > 0 && drain_started.elapsed() < Duration::from_secs(120)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let totals = state.storage.totals().await?;
        crate::out::outln!(
            "detection caught up {:.0} ms after the load ended; stored {} events, {} findings",
            drain_started.elapsed().as_secs_f64() * 1e3,
            totals.events,
            totals.findings
        )?;
        if let Some(peak) = peak {
            crate::out::outln!("peak RSS of the process (server + load generator): {peak:.0} MiB")?;
        }
        let _ = stop.send(());
        handle.await??;
        drop(Arc::clone(&state));
    }
    Ok(ExitCode::SUCCESS)
}
