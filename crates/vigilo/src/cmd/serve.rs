use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use vigilo_server::{Config, Server};
use vigilo_storage::Storage;
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage, Synchronous};

use crate::cli::{DemoArgs, ServerArgs};
use crate::config;

pub async fn open_storage(cfg: &Config) -> anyhow::Result<Arc<dyn Storage>> {
    match cfg.storage.backend.as_str() {
        "sqlite" => {
            let synchronous = match cfg.storage.sqlite_synchronous.as_str() {
                "normal" => Synchronous::Normal,
                "full" => Synchronous::Full,
                other => anyhow::bail!(
                    "storage.sqlite_synchronous must be `normal` or `full`, got `{other}`"
                ),
            };
            let path = cfg.data_dir.join("vigilo.db");
            let opts = SqliteOptions {
                synchronous,
                metric_fields: cfg.metrics.fields.clone(),
                ..SqliteOptions::default()
            };
            let s = SqliteStorage::open(&path, opts)
                .await
                .with_context(|| format!("opening {}", path.display()))?;
            Ok(Arc::new(s))
        }
        other => anyhow::bail!("storage.backend `{other}` is not supported (use `sqlite`)"),
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown requested");
}

/// Runs once the server is bound: gets its URL and a receiver that flips to
/// true at shutdown.
pub type OnReady = Box<dyn FnOnce(String, watch::Receiver<bool>) + Send>;

/// Load the configuration, install the log subscriber it asks for, and
/// log what loading found worth a warning.
fn configure(args: &ServerArgs) -> anyhow::Result<Config> {
    let loaded = config::load(args)?;
    crate::logging::init(&loaded.config.log);
    loaded.log_warnings();
    Ok(loaded.config)
}

/// Start a server from flags; `on_ready` runs with its address once bound
/// and gets a receiver that flips to true at shutdown.
pub async fn serve(args: &ServerArgs, on_ready: Option<OnReady>) -> anyhow::Result<ExitCode> {
    let cfg = configure(args)?;
    tracing::debug!(config = ?cfg, "configuration");
    let storage = open_storage(&cfg).await?;
    let server = Server::start(cfg, storage).await?;
    let url = format!("http://{}", server.local_addr());
    let state = server.state();

    #[cfg(unix)]
    {
        let state = state.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                match vigilo_server::server::reload_rules(&state).await {
                    Ok(n) => tracing::info!(rules = n, "reloaded on sighup"),
                    Err(e) => {
                        tracing::error!(error = %e, "reload on sighup failed; old rules kept")
                    }
                }
            }
        });
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    if let Some(f) = on_ready {
        f(url.clone(), stop_rx);
    }
    if vigilo_server::web::dashboard_built() {
        crate::out::outln!("vigilo listening on {url} (dashboard: {url}/, API docs: {url}/docs/)")?;
    } else {
        crate::out::outln!(
            "vigilo listening on {url} (API docs: {url}/docs/; this build has no dashboard: `cd web && npm ci && npm run build`, or build with --release)"
        )?;
    }
    server
        .run(async move {
            shutdown_signal().await;
            let _ = stop_tx.send(true);
        })
        .await?;
    // Give background senders a moment to notice.
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let rate = args.rate;
    let incident_rate = args.incident_rate;
    serve(
        &args.server,
        Some(Box::new(move |url, mut stop| {
            tokio::spawn(async move {
                let cfg = vigilo_gen::GenConfig {
                    rate,
                    incident_rate,
                    ..vigilo_gen::GenConfig::demo()
                };
                let until = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                if incident_rate > 0.0 {
                    let _ = crate::out::outln!(
                        "demo traffic: {rate} events/s; one incident of every kind within the first {} s, then {incident_rate} incidents/min",
                        vigilo_gen::DEMO_FIRST_ROUND.as_secs()
                    );
                } else {
                    let _ = crate::out::outln!("demo traffic: {rate} events/s without incidents");
                }
                if let Err(e) = vigilo_gen::send(&url, cfg, Duration::ZERO, until).await {
                    tracing::error!(error = %e, "demo generator stopped");
                }
            });
        })),
    )
    .await
}

pub async fn migrate(args: &ServerArgs) -> anyhow::Result<ExitCode> {
    let cfg = configure(args)?;
    let storage = open_storage(&cfg).await?;
    storage.migrate().await?;
    crate::out::outln!(
        "database at {} is up to date",
        cfg.data_dir.join("vigilo.db").display()
    )?;
    Ok(ExitCode::SUCCESS)
}
