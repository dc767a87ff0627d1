//! `[auth]` and `[tls]`: who may sign in, for how long, and how the server
//! is reached.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Require a session or an API key on every route but health,
    /// readiness and sign-in (default true). `false` makes every request
    /// an admin, for deployments behind an authenticating proxy; the
    /// server logs a warning at start.
    pub enabled: bool,
    /// Lifetime of a session token, seconds (default 900). The browser
    /// renews it with its refresh token.
    pub session_ttl_secs: u64,
    /// Absolute lifetime of a sign-in, seconds (default 7 days): no
    /// refresh past it.
    pub refresh_ttl_secs: u64,
    /// Key that signs session tokens (32 bytes or more). Unset: generated
    /// on first start and kept in `<data_dir>/auth.key` (mode 0600).
    pub signing_key: Option<Secret>,
    /// Serve `/metrics` without credentials (default true); otherwise it
    /// needs `read`.
    pub public_metrics: bool,
    /// Serve `/docs` and `/api/openapi.json` without credentials (default
    /// true); otherwise they need `read`.
    pub public_docs: bool,
    /// Allow serving a non-loopback address without TLS, or with
    /// authentication disabled (default false: the server refuses to
    /// start). Either way it logs a warning.
    pub allow_insecure: bool,
    /// The URL users reach the server at (`https://vigilo.example.com`),
    /// for the setup link and single sign-on redirects. Default: the
    /// listen address.
    pub public_url: Option<String>,
    /// Sign-in attempts a minute from one client address, in bursts of as
    /// many (default 20).
    pub login_per_minute: u32,
    /// Requests a second on the ingest routes (HTTP and WebSocket
    /// handshakes) from one API key, or from one address without a key,
    /// in bursts of twice as many (default 500); 0: no limit.
    pub ingest_requests_per_sec: u32,
    /// Let live clients without credentials receive `pipeline_update` (the
    /// `pipelines` room only), so a pipeline dashboard hub's existing
    /// clients work unchanged (default false: every live client signs in).
    pub public_pipeline_feed: bool,
    /// Single sign-on providers (`[[auth.oidc]]`).
    pub oidc: Vec<vigilo_auth::oidc::ProviderConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            enabled: true,
            session_ttl_secs: 900,
            refresh_ttl_secs: 7 * 24 * 3600,
            signing_key: None,
            public_metrics: true,
            public_docs: true,
            allow_insecure: false,
            public_url: None,
            login_per_minute: 20,
            ingest_requests_per_sec: 500,
            public_pipeline_feed: false,
            oidc: Vec::new(),
        }
    }
}

/// TLS for the HTTP server (rustls), from PEM files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, PEM.
    pub cert_file: Option<PathBuf>,
    /// Private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }
}
