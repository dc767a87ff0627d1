//! Wiring: state, router, listener, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::MethodRouter;
use chrono::{DateTime, Utc};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use vigilo_core::ErrorCode;
use vigilo_storage::Storage;

use crate::api;
use crate::auth::{Auth, Permission, authorize};
use crate::config::Config;
use crate::error::ApiError;
use crate::hub::Hub;
use crate::live::Live;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::rules;

pub struct AppState {
    pub storage: Arc<dyn Storage>,
    pub pipeline: Arc<Pipeline>,
    pub config: Arc<Config>,
    pub metrics: Option<PrometheusHandle>,
    pub started_at: DateTime<Utc>,
    /// Serializes rule reloads (HTTP and SIGHUP).
    pub reload_lock: tokio::sync::Mutex<()>,
    /// The pipeline hub.
    pub hub: Arc<Hub>,
    /// The live channel (Socket.IO).
    pub live: Live,
    /// Sessions, keys, limits and sign-in tracking.
    pub auth: Arc<Auth>,
    /// Risk enrichment with a model (off unless configured).
    pub enrichment: Arc<crate::enrichment::Enricher>,
}

pub type SharedState = Arc<AppState>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting that cannot work; the message names the field.
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("storage: {0}")]
    Storage(#[from] vigilo_storage::StorageError),
    #[error("rules: {0}")]
    Rules(#[from] rules::LoadError),
    #[error("auth: {0}")]
    Auth(String),
    #[error("connector {0}")]
    Connector(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: crate::config::ListenAddr,
        source: std::io::Error,
    },
}

/// A bound, ready server.
pub struct Server {
    state: SharedState,
    listener: TcpListener,
    local_addr: SocketAddr,
    /// `[tls]` loaded at start; `None` serves plain HTTP.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Broker sources, sinks, the archive and the alerter.
    connectors: crate::connectors::Running,
}

impl Server {
    /// Migrate storage, load rules, start the pipeline and bind the listener.
    pub async fn start(config: Config, storage: Arc<dyn Storage>) -> Result<Server, StartError> {
        // First, so a bad certificate or key fails the start before anything runs.
        let tls = crate::tls::load(&config.tls).map_err(|e| StartError::Auth(e.to_string()))?;
        config.retention.validate().map_err(StartError::Config)?;
        storage.migrate().await?;
        crate::retention::spawn(Arc::downgrade(&storage), config.retention.clone());
        let auth = start_auth(&config, storage.clone()).await?;
        let rules = rules::load(&config.rules, &config.detection.pipelines)?;
        tracing::info!(
            rules = rules.rules().len(),
            pipelines = config.detection.pipelines.len(),
            backend = storage.backend(),
            "rules loaded"
        );
        let pipeline = Pipeline::start(
            storage.clone(),
            rules,
            PipelineConfig {
                queue_capacity: config.ingest.queue_capacity,
                max_batch_events: config.ingest.max_batch_events,
                commit_every: std::time::Duration::from_millis(config.detection.commit_interval_ms),
                disabled_rules: storage
                    .rule_states()
                    .await?
                    .into_iter()
                    .filter(|r| !r.enabled)
                    .map(|r| r.rule_id)
                    .collect(),
                risk: config.risk.clone(),
                poll: config.detection.poll(),
            },
        );
        let hub =
            Arc::new(Hub::load(storage.clone(), pipeline.clone(), config.pipelines.clone()).await?);
        crate::hub::spawn_stage_reports(
            Arc::downgrade(&hub),
            std::time::Duration::from_secs(config.pipelines.report_interval_secs),
        );
        let live = Live::start(
            &pipeline,
            storage.clone(),
            config.live.clone(),
            auth.clone(),
        );
        let listener = TcpListener::bind(config.listen.as_str())
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen.clone(),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen.clone(),
            source,
        })?;
        check_exposure(&config, local_addr)?;
        let enrichment =
            crate::enrichment::Enricher::new(config.enrichment.clone(), storage.clone())
                .map_err(StartError::Connector)?;
        crate::enrichment::start(enrichment.clone(), pipeline.leading());
        crate::live::relay::start(
            storage.clone(),
            pipeline.live_sender(),
            pipeline.leading(),
            std::time::Duration::from_millis(config.detection.shared_poll_ms.max(1)),
        );
        let state = Arc::new(AppState {
            storage,
            pipeline,
            config: Arc::new(config),
            metrics: crate::telemetry::prometheus(),
            started_at: Utc::now(),
            reload_lock: tokio::sync::Mutex::new(()),
            hub,
            live,
            auth,
            enrichment,
        });
        let connectors = crate::connectors::start(
            state.storage.clone(),
            state.pipeline.clone(),
            state.hub.clone(),
            state.config.clone(),
        )
        .map_err(|e| StartError::Connector(e.to_string()))?;
        Ok(Server {
            state,
            listener,
            local_addr,
            tls,
            connectors,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn state(&self) -> SharedState {
        self.state.clone()
    }

    /// While no admin exists: the one-time link that creates the first.
    pub fn setup_link(&self) -> Option<String> {
        let token = crate::auth::lock(&self.state.auth.setup_token).clone()?;
        let base = self
            .state
            .config
            .auth
            .public_url
            .clone()
            .unwrap_or_else(|| {
                let scheme = if self.state.config.tls.enabled() {
                    "https"
                } else {
                    "http"
                };
                format!("{scheme}://{}", self.local_addr)
            });
        Some(format!(
            "{}/login?setup={token}",
            base.trim_end_matches('/')
        ))
    }

    /// Serve until `shutdown` resolves, then stop accepting, finish
    /// in-flight requests, write and evaluate everything accepted.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = router(self.state.clone());
        tracing::info!(addr = %self.local_addr, tls = self.tls.is_some(), "listening");
        let live = self.state.live.clone();
        // Live clients hold their connections open: close them once the
        // shutdown begins, or the graceful drain would wait for them.
        let shutdown = async move {
            shutdown.await;
            live.close().await;
        };
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = match self.tls {
            None => {
                axum::serve(self.listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some(tls) => {
                // The no-op tap: axum gives handlers the peer `SocketAddr`
                // of a tapped listener whose address is a `SocketAddr`.
                let listener = axum::serve::ListenerExt::tap_io(
                    crate::tls::TlsListener::new(self.listener, self.local_addr, tls),
                    |_| {},
                );
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        let mut connectors = self.connectors;
        tracing::info!("http stopped; stopping sources");
        connectors.stop_sources().await;
        tracing::info!("flushing the pipeline");
        self.state.pipeline.shutdown().await;
        tracing::info!("pipeline flushed");
        connectors.stop_all().await;
        served
    }
}

/// The signing key, the auth state, and the setup token while no admin
/// exists.
async fn start_auth(config: &Config, storage: Arc<dyn Storage>) -> Result<Arc<Auth>, StartError> {
    crate::auth::oidc::check_config(&config.auth.oidc)
        .map_err(|e| StartError::Auth(e.to_string()))?;
    let key = crate::auth::load_signing_key(&config.auth, &config.data_dir)
        .map_err(|e| StartError::Auth(format!("session signing key: {e}")))?;
    let secure = config.tls.enabled()
        || config
            .auth
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
    let auth = Arc::new(
        Auth::new(config.auth.clone(), &key, storage.clone(), secure)
            .map_err(|e| StartError::Auth(e.to_string()))?,
    );
    if auth.enabled() && storage.count_admins().await? == 0 {
        *crate::auth::lock(&auth.setup_token) = Some(vigilo_auth::random_token(24));
        tracing::warn!(
            "no admin account yet: open the setup link printed at start, or run `vigilo user create --role admin`"
        );
    }
    if !auth.enabled() {
        tracing::warn!(
            "authentication is disabled (auth.enabled = false): every request acts as an admin"
        );
    }
    let weak = Arc::downgrade(&auth);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            match weak.upgrade() {
                Some(a) => a.housekeeping(),
                None => break,
            }
        }
    });
    Ok(auth)
}

/// A server reachable beyond this machine must use TLS and authentication,
/// unless `auth.allow_insecure` says otherwise (then it warns).
fn check_exposure(config: &Config, addr: SocketAddr) -> Result<(), StartError> {
    let exposed = !addr.ip().is_loopback();
    let problem = if exposed && !config.tls.enabled() {
        Some("serves a non-loopback address without TLS")
    } else if exposed && !config.auth.enabled {
        Some("serves a non-loopback address with authentication disabled")
    } else {
        None
    };
    match problem {
        Some(p) if !config.auth.allow_insecure => Err(StartError::Auth(format!(
            "the server {p} ({addr}); configure [tls] cert_file and key_file, or set auth.allow_insecure = true"
        ))),
        Some(p) => {
            tracing::warn!(addr = %addr, "the server {p}: traffic and credentials can be read on the network");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Reload rules from the configured paths; on error the old rules stay.
pub async fn reload_rules(state: &AppState) -> Result<usize, rules::LoadError> {
    let _guard = state.reload_lock.lock().await;
    let paths: Vec<PathBuf> = state.config.rules.clone();
    let pipelines = state.config.detection.pipelines.clone();
    let set = tokio::task::spawn_blocking(move || rules::load(&paths, &pipelines))
        .await
        .map_err(|e| rules::LoadError::Io {
            path: PathBuf::from("<reload>"),
            source: std::io::Error::other(e.to_string()),
        })??;
    let n = set.rules().len();
    // A closed pipeline means shutdown is under way; nothing left to reload.
    let _ = state.pipeline.reload(set).await;
    tracing::info!(rules = n, "rules reloaded");
    Ok(n)
}

/// Collects routes with the permission each requires.
pub struct Routes {
    router: Router<SharedState>,
    table: Vec<(&'static str, &'static str, Permission)>,
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    /// Add `method` on `path`, requiring `perm`.
    pub fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        perm: Permission,
        handler: MethodRouter<SharedState>,
    ) -> Self {
        self.table.push((method, path, perm));
        let guarded = handler.layer(middleware::from_fn(move |req: Request, next: Next| {
            authorize(perm, req, next)
        }));
        self.router = self.router.route(path, guarded);
        self
    }

    /// (method, path, permission) of every route.
    pub fn table(&self) -> &[(&'static str, &'static str, Permission)] {
        &self.table
    }

    pub fn into_router(self) -> Router<SharedState> {
        self.router
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

/// Cross-origin access for the configured origins (none: same origin
/// only). Listed origins may send credentials (cookies); `*` allows any
/// origin without credentials, never both.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderName, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let any = origins.iter().any(|o| o == "*");
    let allow = if any {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_credentials(!any)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers([
                axum::http::header::CONTENT_TYPE,
                axum::http::header::CONTENT_ENCODING,
                axum::http::header::ACCEPT,
                axum::http::header::AUTHORIZATION,
                HeaderName::from_static(crate::auth::CSRF_HEADER),
                HeaderName::from_static(crate::auth::API_KEY_HEADER),
            ])
            .expose_headers([
                axum::http::header::CONTENT_DISPOSITION,
                axum::http::header::RETRY_AFTER,
            ])
            .max_age(std::time::Duration::from_secs(3600)),
    )
}

pub fn router(state: SharedState) -> Router {
    let cors = cors(&state.config.cors_origins);
    api::routes()
        .into_router()
        .fallback(crate::web::fallback)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(state.live.layer())
        .layer(axum::Extension(state.clone()))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .layer(middleware::from_fn(count_requests))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(tower::util::option_layer(cors))
        .with_state(state)
}

/// The page's content security policy: everything from this origin only,
/// inline styles (the charts set them), no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";
/// The API documentation page runs the bundled Swagger UI, which starts
/// itself with an inline script.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
    object-src 'none'; base-uri 'self'; frame-ancestors 'none'";

async fn security_headers(
    axum::extract::State(state): axum::extract::State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    use axum::http::{HeaderValue, header};
    let docs = req.uri().path().starts_with("/docs");
    let auth_route = req.uri().path().starts_with("/api/v1/auth");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let csp = if docs { DOCS_CSP } else { CSP };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(
        axum::http::HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if state.config.tls.enabled() {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if auth_route {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
    )
}

async fn count_requests(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    metrics::counter!(
        "vigilo_http_requests_total",
        "method" => method.to_string(),
        "route" => route,
        "status" => resp.status().as_u16().to_string()
    )
    .increment(1);
    resp
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    tracing::error!("handler panicked");
    ApiError::internal("internal error").into_response()
}
