//! Who makes each request, and whether they may. Every route declares the
//! permission it needs ([`Permission`]); [`authorize`] is the one layer that
//! checks it against the principal's role or key scopes
//! (`vigilo_auth::matrix`). Credentials are, in order: `Authorization:
//! Bearer` (a session token or an API key), `X-API-Key`, the session cookie,
//! and `?api_key=` on the WebSocket ingest routes only. A credential that is
//! present but wrong is refused, never treated as anonymous.

pub mod admin;
pub mod audit;
pub mod config;
pub mod oidc;
pub mod routes;
pub mod session;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use vigilo_auth::lockout::{Lockout, LockoutPolicy};
use vigilo_auth::token::Signer;
use vigilo_auth::{Role, Scope};
use vigilo_core::ErrorCode;
use vigilo_storage::{ApiKeyRecord, Storage};

pub use vigilo_auth::{Permission, Principal};

use crate::error::ApiError;
use crate::server::SharedState;

pub use config::{AuthConfig, TlsConfig};

/// The browser's session token.
pub const SESSION_COOKIE: &str = "vigilo_session";
/// The browser's refresh token (sent to `/api/v1/auth` only).
pub const REFRESH_COOKIE: &str = "vigilo_refresh";
/// The CSRF token, readable by the page's scripts.
pub const CSRF_COOKIE: &str = "vigilo_csrf";
/// The header a cookie-authenticated write must echo the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// API keys in a header of their own.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The routes that accept `?api_key=` (WebSocket clients cannot always set
/// headers).
pub const QUERY_KEY_PATHS: [&str; 2] = ["/api/v1/ingest/ws", "/ws/ingest"];

/// How long a looked-up API key or session state is trusted before it is
/// read again (a revocation made on this node takes effect at once).
const CACHE_TTL: Duration = Duration::from_secs(5);
/// `last_used_at` is written at most this often per key.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
/// Most entries kept in each cache.
const CACHE_CAP: usize = 10_000;

/// How a request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Header,
    Cookie,
    Query,
    /// Authentication is disabled.
    Open,
}

/// The principal of a request, as the layer found it; handlers take it as
/// an extension.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub via: Via,
    pub address: Option<IpAddr>,
}

impl Caller {
    pub fn actor(&self) -> String {
        self.principal.actor()
    }
}

/// Shared authentication state: the signing key, caches, limiters and the
/// failed sign-in trackers.
pub struct Auth {
    pub config: AuthConfig,
    pub signer: Signer,
    pub storage: Arc<dyn Storage>,
    /// Cookies get `Secure` (served over TLS, or behind an https public URL).
    pub secure_cookies: bool,
    pub(crate) by_user: Mutex<Lockout>,
    pub(crate) by_address: Mutex<Lockout>,
    login_limiter: DefaultKeyedRateLimiter<IpAddr>,
    ingest_limiter: Option<DefaultKeyedRateLimiter<String>>,
    keys: Mutex<HashMap<String, (ApiKeyRecord, Instant)>>,
    touched: Mutex<HashMap<i64, Instant>>,
    sessions: Mutex<HashMap<String, (bool, Instant)>>,
    /// The one-time token that creates the first admin, while none exists.
    pub(crate) setup_token: Mutex<Option<String>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("enabled", &self.config.enabled)
            .finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

impl Auth {
    pub fn new(
        config: AuthConfig,
        key: &[u8],
        storage: Arc<dyn Storage>,
        secure_cookies: bool,
    ) -> Result<Auth, vigilo_auth::token::TokenError> {
        let signer = Signer::new(key)?;
        let ingest_limiter = NonZeroU32::new(config.ingest_requests_per_sec).map(|n| {
            let burst = n.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
            RateLimiter::keyed(Quota::per_second(n).allow_burst(burst))
        });
        Ok(Auth {
            login_limiter: RateLimiter::keyed(per_minute(config.login_per_minute)),
            ingest_limiter,
            config,
            signer,
            storage,
            secure_cookies,
            by_user: Mutex::new(Lockout::new(LockoutPolicy::default())),
            by_address: Mutex::new(Lockout::new(LockoutPolicy::default())),
            keys: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            setup_token: Mutex::new(None),
        })
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// End the first-admin setup (an admin now exists).
    pub fn close_setup(&self) {
        *lock(&self.setup_token) = None;
    }

    /// Drop limiter and cache entries nobody used lately (called every
    /// minute), so neither grows with the number of clients ever seen.
    pub fn housekeeping(&self) {
        self.login_limiter.retain_recent();
        self.login_limiter.shrink_to_fit();
        if let Some(l) = &self.ingest_limiter {
            l.retain_recent();
            l.shrink_to_fit();
        }
        let now = Instant::now();
        lock(&self.keys).retain(|_, (_, at)| now.duration_since(*at) < CACHE_TTL);
        lock(&self.sessions).retain(|_, (_, at)| now.duration_since(*at) < CACHE_TTL);
        lock(&self.touched).retain(|_, at| now.duration_since(*at) < TOUCH_EVERY);
    }

    /// `Err(retry after)` when `address` signs in too often.
    pub fn check_login_rate(&self, address: Option<IpAddr>) -> Result<(), ApiError> {
        let Some(addr) = address else { return Ok(()) };
        self.login_limiter.check_key(&addr).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            ApiError::new(
                ErrorCode::RateLimited,
                "too many sign-in requests from this address",
            )
            .retry_after(wait.as_secs().max(1))
        })
    }

    fn check_ingest_rate(&self, key: &str) -> Result<(), ApiError> {
        let Some(l) = &self.ingest_limiter else {
            return Ok(());
        };
        l.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "more than auth.ingest_requests_per_sec ({}) ingest requests a second",
                    self.config.ingest_requests_per_sec
                ),
            )
            .retry_after(wait.as_secs().max(1))
        })
    }

    /// Forget what is cached about a key (after a revocation).
    pub fn forget_key(&self, prefix: &str) {
        lock(&self.keys).remove(prefix);
    }

    /// Forget cached session states (after a logout, a role change, a
    /// disabled user).
    pub fn forget_sessions(&self) {
        lock(&self.sessions).clear();
    }

    /// The principal an API key stands for.
    pub async fn principal_for_key(&self, presented: &str) -> Result<Principal, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidToken, "the API key is not valid");
        let prefix = vigilo_auth::apikey::prefix_of(presented).ok_or_else(invalid)?;
        let cached = {
            let keys = lock(&self.keys);
            keys.get(prefix)
                .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                .map(|(k, _)| k.clone())
        };
        let key = match cached {
            Some(k) => k,
            None => {
                let k = self
                    .storage
                    .api_key_by_prefix(prefix)
                    .await
                    .map_err(ApiError::from)?
                    .ok_or_else(invalid)?;
                let mut keys = lock(&self.keys);
                if keys.len() >= CACHE_CAP {
                    keys.clear();
                }
                keys.insert(prefix.to_string(), (k.clone(), Instant::now()));
                k
            }
        };
        if !vigilo_auth::apikey::matches(presented, &key.hash) {
            return Err(invalid());
        }
        let now = Utc::now();
        if key.revoked_at.is_some() {
            return Err(ApiError::new(
                ErrorCode::InvalidToken,
                "the API key was revoked",
            ));
        }
        if key.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiError::new(
                ErrorCode::InvalidToken,
                "the API key has expired",
            ));
        }
        self.touch(&key);
        let scopes = key.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
        Ok(Principal::Key {
            id: key.id,
            name: key.name,
            scopes,
        })
    }

    /// Record the key's last use, at most once a minute, off the request.
    fn touch(&self, key: &ApiKeyRecord) {
        {
            let mut touched = lock(&self.touched);
            if touched
                .get(&key.id)
                .is_some_and(|at| at.elapsed() < TOUCH_EVERY)
            {
                return;
            }
            if touched.len() >= CACHE_CAP {
                touched.clear();
            }
            touched.insert(key.id, Instant::now());
        }
        let storage = self.storage.clone();
        let id = key.id;
        tokio::spawn(async move {
            if let Err(e) = storage.touch_api_key(id, Utc::now()).await {
                tracing::warn!(key = id, error = %e, "cannot record api key use");
            }
        });
    }

    /// The principal a session token stands for, if its session is live.
    pub async fn principal_for_token(&self, token: &str) -> Result<Principal, ApiError> {
        let claims = self.signer.verify(token).map_err(|_| {
            ApiError::new(
                ErrorCode::InvalidToken,
                "the session token is invalid or expired; sign in again",
            )
        })?;
        let id: i64 = claims
            .sub
            .parse()
            .map_err(|_| ApiError::new(ErrorCode::InvalidToken, "the session token is invalid"))?;
        if !self.session_live(&claims.sid).await? {
            return Err(ApiError::new(
                ErrorCode::InvalidToken,
                "the session has ended; sign in again",
            ));
        }
        Ok(Principal::User {
            id,
            name: claims.name,
            role: claims.role,
            session: claims.sid,
        })
    }

    async fn session_live(&self, sid: &str) -> Result<bool, ApiError> {
        let cached = lock(&self.sessions)
            .get(sid)
            .filter(|(_, at)| at.elapsed() < CACHE_TTL)
            .map(|(live, _)| *live);
        if let Some(live) = cached {
            return Ok(live);
        }
        let now = Utc::now();
        let live = self
            .storage
            .get_session(sid)
            .await
            .map_err(ApiError::from)?
            .is_some_and(|s| s.revoked_at.is_none() && s.expires_at > now);
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= CACHE_CAP {
            sessions.clear();
        }
        sessions.insert(sid.to_string(), (live, Instant::now()));
        Ok(live)
    }

    /// Who presents these credentials, or `None` when there are none.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query_key: Option<&str>,
    ) -> Result<Option<(Principal, Via)>, ApiError> {
        if !self.enabled() {
            return Ok(Some((Principal::Open, Via::Open)));
        }
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let v = v.to_str().unwrap_or("");
            let token = v
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidToken,
                        "the Authorization header must be `Bearer <token or API key>`",
                    )
                })?;
            return self.credential(token, Via::Bearer).await.map(Some);
        }
        if let Some(v) = headers.get(API_KEY_HEADER) {
            let key = v.to_str().unwrap_or("").trim();
            return self
                .principal_for_key(key)
                .await
                .map(|p| Some((p, Via::Header)));
        }
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            return self
                .principal_for_token(token)
                .await
                .map(|p| Some((p, Via::Cookie)));
        }
        if let Some(key) = query_key {
            return self
                .principal_for_key(key)
                .await
                .map(|p| Some((p, Via::Query)));
        }
        Ok(None)
    }

    async fn credential(&self, token: &str, via: Via) -> Result<(Principal, Via), ApiError> {
        let p = if token.starts_with(vigilo_auth::apikey::PREFIX) {
            self.principal_for_key(token).await?
        } else {
            self.principal_for_token(token).await?
        };
        Ok((p, via))
    }

    /// Whether `perm` needs no credentials under this configuration.
    pub fn is_public(&self, perm: Permission) -> bool {
        match perm {
            Permission::Public => true,
            Permission::Metrics => self.config.public_metrics,
            Permission::Docs => self.config.public_docs,
            _ => false,
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The client's address, when the server was reached over TCP.
pub fn client_address(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

fn query_api_key(req: &Request) -> Option<String> {
    if !QUERY_KEY_PATHS.contains(&req.uri().path()) {
        return None;
    }
    let q = req.uri().query()?;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "api_key")
        .map(|(_, v)| percent_decode(v))
}

/// `%XX` and `+` decoding of one query value (API keys are URL-safe, but
/// clients may still encode them).
fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The permission a matched route requires, set as a request extension.
#[derive(Debug, Clone, Copy)]
pub struct Required(pub Permission);

/// The one check of every route: find the principal, refuse what it may
/// not do, and hand it to the handler as a [`Caller`] extension.
pub async fn authorize(perm: Permission, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(Required(perm));
    let Some(state) = req.extensions().get::<SharedState>().cloned() else {
        return ApiError::new(ErrorCode::Internal, "authorization is not wired").into_response();
    };
    let auth = &state.auth;
    let address = client_address(req.extensions());
    if auth.is_public(perm) {
        return next.run(req).await;
    }
    let query_key = query_api_key(&req);
    let found = match auth.authenticate(req.headers(), query_key.as_deref()).await {
        Ok(f) => f,
        Err(e) => return e.into_response(),
    };
    let Some((principal, via)) = found else {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "sign in, or send an API key (`Authorization: Bearer <key>` or `X-API-Key`)",
        )
        .into_response();
    };
    if !principal.allows(perm) {
        let who = match &principal {
            Principal::User { role, .. } => format!("role `{role}`"),
            Principal::Key { scopes, .. } => format!(
                "an API key with scopes `{}`",
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Principal::Open => "anonymous".to_string(),
        };
        return ApiError::new(
            ErrorCode::Forbidden,
            format!("{who} does not have the `{perm}` permission"),
        )
        .into_response();
    }
    if via == Via::Cookie
        && is_unsafe(req.method())
        && let Principal::User { session, .. } = &principal
    {
        let presented = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !auth.signer.csrf_matches(session, presented) {
            return ApiError::new(
                ErrorCode::CsrfFailed,
                "a signed-in browser must send the `X-CSRF-Token` header with the value of the `vigilo_csrf` cookie",
            )
            .into_response();
        }
    }
    if perm == Permission::EventsWrite {
        let key = match &principal {
            Principal::Key { id, .. } => format!("key:{id}"),
            Principal::User { id, .. } => format!("user:{id}"),
            Principal::Open => address.map(|a| a.to_string()).unwrap_or_default(),
        };
        if let Err(e) = auth.check_ingest_rate(&key) {
            return e.into_response();
        }
    }
    req.extensions_mut().insert(Caller {
        principal,
        via,
        address,
    });
    next.run(req).await
}

/// The caller of a request that went through [`authorize`]; public routes
/// have none.
pub fn caller(parts: &Parts) -> Option<&Caller> {
    parts.extensions.get::<Caller>()
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthenticated, "sign in, or send an API key"))
    }
}

/// The role of a principal, for display; keys have none.
pub fn role_of(p: &Principal) -> Option<Role> {
    match p {
        Principal::User { role, .. } => Some(*role),
        Principal::Open => Some(Role::Admin),
        Principal::Key { .. } => None,
    }
}

/// Load the session signing key: the configured one, else
/// `<data_dir>/auth.key`, created (mode 0600) with 32 random bytes on first
/// start.
pub fn load_signing_key(
    config: &AuthConfig,
    data_dir: &std::path::Path,
) -> std::io::Result<Vec<u8>> {
    use base64::Engine;
    if let Some(k) = &config.signing_key {
        return Ok(k.expose().as_bytes().to_vec());
    }
    let path = data_dir.join("auth.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| std::io::Error::other(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir)?;
            let mut raw = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut raw);
            let text = base64::engine::general_purpose::STANDARD.encode(raw);
            write_private(&path, text.as_bytes())?;
            Ok(raw.to_vec())
        }
        Err(e) => Err(e),
    }
}

/// Create `path` readable by its owner only, failing if it exists.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_query_values() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; vigilo_session=tok.en.x; vigilo_csrf=c"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("tok.en.x"));
        assert_eq!(cookie(&h, "missing"), None);
        assert_eq!(percent_decode("vgl_ab%5Fcd+x"), "vgl_ab_cd x");
        assert_eq!(percent_decode("%zz%"), "%zz%");
    }
}
