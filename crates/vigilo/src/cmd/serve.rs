use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use vigilo_server::{Config, Server};
use vigilo_storage::Storage;
use vigilo_storage_postgres::{PostgresOptions, PostgresStorage, mask_password};
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
        "postgres" => {
            let url = postgres_url(cfg)?;
            let opts = PostgresOptions {
                max_connections: cfg.storage.max_connections.max(1),
                statement_timeout: match cfg.storage.statement_timeout_secs {
                    0 => None,
                    secs => Some(Duration::from_secs(secs)),
                },
                schema: None,
            };
            let masked = mask_password(url);
            tracing::info!(url = %masked, "opening postgres storage");
            let s = PostgresStorage::connect(url, opts)
                .await
                .with_context(|| format!("opening postgres storage at {masked}"))?
                .with_metric_fields(&cfg.metrics.fields);
            Ok(Arc::new(s))
        }
        other => {
            anyhow::bail!("storage.backend `{other}` is not a backend: use `sqlite` or `postgres`")
        }
    }
}

/// `storage.url`, which the `postgres` backend requires.
fn postgres_url(cfg: &Config) -> anyhow::Result<&str> {
    match cfg.storage.url.as_ref().map(|u| u.expose().trim()) {
        Some(u) if !u.is_empty() => Ok(u),
        _ => anyhow::bail!(
            "storage.backend `postgres` needs storage.url (VIGILO_STORAGE__URL), e.g. postgres://user:password@host:5432/vigilo"
        ),
    }
}

/// Where the configured storage lives, for messages: the SQLite file, or
/// the PostgreSQL URL with its password masked.
pub fn storage_location(cfg: &Config) -> String {
    match cfg.storage.backend.as_str() {
        "postgres" => match postgres_url(cfg) {
            Ok(u) => format!("postgres database {}", mask_password(u)),
            Err(_) => "postgres database (no storage.url)".to_string(),
        },
        _ => format!("database at {}", cfg.data_dir.join("vigilo.db").display()),
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
pub type OnReady =
    Box<dyn FnOnce(String, vigilo_server::server::SharedState, watch::Receiver<bool>) + Send>;

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
    let scheme = if server.state().config.tls.enabled() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{}", server.local_addr());
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
    let setup_link = server.setup_link();
    let demo = on_ready.is_some();
    if let Some(f) = on_ready {
        f(url.clone(), state.clone(), stop_rx);
    }
    if vigilo_server::web::dashboard_built() {
        crate::out::outln!("vigilo listening on {url} (dashboard: {url}/, API docs: {url}/docs/)")?;
    } else {
        crate::out::outln!(
            "vigilo listening on {url} (API docs: {url}/docs/; this build has no dashboard: `cd web && npm ci && npm run build`, or build with --release)"
        )?;
    }
    if let Some(link) = setup_link.filter(|_| !demo) {
        crate::out::outln!(
            "no admin account yet: create the first at {link} (one-time link), or run `vigilo user create --role admin`"
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
        Some(Box::new(move |url, state, mut stop| {
            tokio::spawn(async move {
                let key = match demo_accounts(&state, &url).await {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot create the demo accounts");
                        return;
                    }
                };
                let cfg = vigilo_gen::GenConfig {
                    rate,
                    incident_rate,
                    api_key: Some(key),
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

/// The demo's admin, `demo`, with a new password at each start (printed),
/// and a fresh ingest key for its traffic (the previous ones revoked).
async fn demo_accounts(
    state: &vigilo_server::server::SharedState,
    url: &str,
) -> anyhow::Result<String> {
    use vigilo_storage::{NewUser, UserPatch};
    let storage = state.storage.as_ref();
    let password = vigilo_auth::random_token(12);
    let hash = vigilo_server::auth::admin::hash_password("demo", &password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    match storage.get_user_by_name("demo").await? {
        Some(u) => {
            storage
                .update_user(
                    u.id,
                    UserPatch {
                        role: Some("admin".into()),
                        password_hash: Some(hash),
                        disabled: Some(false),
                        email: None,
                    },
                )
                .await?;
        }
        None => {
            storage
                .create_user(NewUser {
                    username: "demo".into(),
                    role: "admin".into(),
                    email: None,
                    source: "password".into(),
                    oidc_subject: None,
                    password_hash: Some(hash),
                    created_at: chrono::Utc::now(),
                })
                .await?;
        }
    }
    state.auth.close_setup();
    let now = chrono::Utc::now();
    for k in storage.list_api_keys().await? {
        if k.name == "demo traffic" && k.revoked_at.is_none() {
            storage.revoke_api_key(k.id, now).await?;
        }
    }
    let (_, secret) = vigilo_server::auth::admin::make_key(
        storage,
        "demo traffic",
        &[vigilo_auth::Scope::Ingest],
        None,
        "demo",
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.message))?;
    crate::out::outln!("sign in at {url}/login as `demo` with password `{password}`")?;
    Ok(secret)
}

pub async fn migrate(args: &ServerArgs) -> anyhow::Result<ExitCode> {
    let cfg = configure(args)?;
    let storage = open_storage(&cfg).await?;
    storage.migrate().await?;
    crate::out::outln!(
        "{} ({}): migrations applied, schema up to date",
        storage_location(&cfg),
        storage.backend()
    )?;
    Ok(ExitCode::SUCCESS)
}
