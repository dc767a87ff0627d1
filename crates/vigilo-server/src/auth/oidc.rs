//! Single sign-on with OpenID Connect: the authorization code flow with
//! PKCE (S256), a nonce and a CSRF state.
//!
//! `GET /api/v1/auth/oidc/{provider}/login` sends the browser to the
//! provider; `…/callback` takes it back, exchanges the code (with the PKCE
//! verifier), verifies the ID token (signature by the provider's JWKS,
//! issuer, audience, expiry, nonce), maps the role from the configured
//! rules, finds or creates the user and signs them in.
//!
//! **Pending sign-ins are kept in memory**, in a bounded map with expiry,
//! keyed by a random handle that the browser holds in a short-lived
//! HttpOnly, SameSite=Lax cookie (`vigilo_oidc`, path
//! `/api/v1/auth/oidc`). The PKCE verifier and the nonce never leave the
//! server, so the cookie needs no encryption key and nothing in the
//! browser can be replayed; each pending sign-in is taken once, so a
//! callback URL works once. The cookie binds the callback to the browser
//! that started the sign-in: a callback URL someone else started (login
//! CSRF) finds no pending sign-in. The cost is that a restart between the
//! two steps loses the sign-in (the user clicks again), and several
//! replicas would need sticky sessions; Vigilo runs as one process.
//!
//! Providers are discovered lazily, on first use, and again after
//! [`METADATA_TTL`] (keys rotate), so a provider that is down when the
//! server starts only fails its own sign-ins until it is back. The server
//! may also warm them up at start ([`Oidc::spawn_discovery`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use vigilo_auth::oidc::{OidcRefusal, ProviderConfig, role_for};
use vigilo_core::ErrorCode;
use vigilo_storage::{NewUser, UserPatch, UserRecord};

use super::audit::{self, Entry};
use super::routes::Address;
use super::session;
use crate::config::Config;
use crate::error::ApiError;
use crate::server::AppState;

/// The cookie holding the handle of a pending sign-in.
pub const COOKIE: &str = "vigilo_oidc";
/// Where that cookie is sent: the login and callback routes only.
const COOKIE_PATH: &str = "/api/v1/auth/oidc";
/// How long a sign-in may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Most sign-ins pending at once; past it the oldest is dropped.
pub const MAX_PENDING: usize = 10_000;
/// Discovery documents and keys are fetched again after this long.
pub const METADATA_TTL: Duration = Duration::from_secs(60 * 60);
/// A failed discovery is not tried again sooner than this.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Timeout of each request to a provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Most groups read from the groups claim.
const MAX_GROUPS: usize = 1000;

/// A provider as the sign-in page lists it (`GET /api/v1/auth/config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SsoProvider {
    /// `google`
    pub id: String,
    /// The button's label.
    pub name: String,
    /// Where the button goes: `/api/v1/auth/oidc/{id}/login`.
    pub login_url: String,
}

/// The configured providers, in configuration order.
pub fn providers_for_ui(state: &AppState) -> Vec<SsoProvider> {
    oidc(state)
        .providers
        .iter()
        .map(|p| SsoProvider {
            id: p.config.id.clone(),
            name: p.config.name.clone(),
            login_url: format!("{COOKIE_PATH}/{}/login", p.config.id),
        })
        .collect()
}

/// Every claim of the ID token beyond the standard ones; the groups claim
/// is read from here, by its configured name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OtherClaims(HashMap<String, serde_json::Value>);
impl AdditionalClaims for OtherClaims {}

impl OtherClaims {
    /// The groups in claim `name`: a list of strings, or one string.
    fn groups(&self, name: &str) -> Vec<String> {
        match self.0.get(name) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .take(MAX_GROUPS)
                .collect(),
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        }
    }
}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type TokenAnswer = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenAnswer,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Discovered {
    client: Arc<OidcClient>,
    at: Instant,
}

#[derive(Default)]
struct Discovery {
    current: Option<Discovered>,
    last_failure: Option<Instant>,
}

struct Provider {
    config: ProviderConfig,
    /// Held across the fetch, so concurrent sign-ins discover once.
    discovery: tokio::sync::Mutex<Discovery>,
}

/// A sign-in between the redirect to the provider and the callback.
struct Pending {
    provider: String,
    state: String,
    nonce: Nonce,
    verifier: String,
    redirect_url: String,
    /// Where to go after signing in: a local path.
    next: String,
    created: Instant,
}

/// The single sign-on side of the server: providers and pending sign-ins.
pub struct Oidc {
    providers: Vec<Provider>,
    pending: Mutex<HashMap<String, Pending>>,
    max_pending: usize,
    http: openidconnect::reqwest::Client,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.config.id.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why the providers' settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OidcSetupError {
    #[error(transparent)]
    Config(#[from] vigilo_auth::oidc::ConfigError),
    #[error("auth.oidc: provider id `{0}` is used twice")]
    DuplicateId(String),
    #[error("auth.oidc: cannot build the HTTP client: {0}")]
    Http(String),
}

impl Oidc {
    /// Check the providers' settings; nothing is fetched yet.
    pub fn new(configs: &[ProviderConfig]) -> Result<Oidc, OidcSetupError> {
        let mut providers: Vec<Provider> = Vec::with_capacity(configs.len());
        for c in configs {
            c.validate()?;
            if providers.iter().any(|p| p.config.id == c.id) {
                return Err(OidcSetupError::DuplicateId(c.id.clone()));
            }
            providers.push(Provider {
                config: c.clone(),
                discovery: tokio::sync::Mutex::new(Discovery::default()),
            });
        }
        // No redirects: a provider's endpoints answer themselves, and an
        // endpoint that redirects elsewhere is not followed (SSRF).
        let http = openidconnect::reqwest::Client::builder()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| OidcSetupError::Http(e.to_string()))?;
        Ok(Oidc {
            providers,
            pending: Mutex::new(HashMap::new()),
            max_pending: MAX_PENDING,
            http,
        })
    }

    /// No providers.
    fn empty() -> Oidc {
        Oidc {
            providers: Vec::new(),
            pending: Mutex::new(HashMap::new()),
            max_pending: MAX_PENDING,
            http: openidconnect::reqwest::Client::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Discover every provider in the background, logging the ones that
    /// fail (they are tried again at their first sign-in).
    pub fn spawn_discovery(self: &Arc<Self>) {
        for i in 0..self.providers.len() {
            let me = self.clone();
            tokio::spawn(async move {
                let p = &me.providers[i];
                if me.client(p).await.is_ok() {
                    tracing::info!(provider = %p.config.id, "oidc provider discovered");
                }
            });
        }
    }

    fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.config.id == id)
    }

    /// The provider's client, discovered now if not yet or long ago. A
    /// stale client is kept when rediscovery fails.
    async fn client(&self, p: &Provider) -> Result<Arc<OidcClient>, ErrorCode> {
        self.client_fresher_than(p, METADATA_TTL).await
    }

    async fn client_fresher_than(
        &self,
        p: &Provider,
        max_age: Duration,
    ) -> Result<Arc<OidcClient>, ErrorCode> {
        let mut d = p.discovery.lock().await;
        if let Some(cur) = &d.current
            && cur.at.elapsed() < max_age
        {
            return Ok(cur.client.clone());
        }
        let recently_failed = d
            .last_failure
            .is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE);
        if !recently_failed {
            match self.discover(&p.config).await {
                Ok(client) => {
                    let client = Arc::new(client);
                    d.current = Some(Discovered {
                        client: client.clone(),
                        at: Instant::now(),
                    });
                    d.last_failure = None;
                    return Ok(client);
                }
                Err(reason) => {
                    tracing::warn!(
                        provider = %p.config.id,
                        issuer = %p.config.issuer_url,
                        reason = %reason,
                        "oidc provider discovery failed"
                    );
                    d.last_failure = Some(Instant::now());
                }
            }
        }
        match &d.current {
            Some(cur) => Ok(cur.client.clone()),
            None => Err(ErrorCode::OidcProviderUnavailable),
        }
    }

    async fn discover(&self, c: &ProviderConfig) -> Result<OidcClient, String> {
        let issuer = IssuerUrl::new(c.issuer_url.clone()).map_err(|e| e.to_string())?;
        let meta = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| discovery_reason(&e))?;
        let client = OidcClient::from_provider_metadata(
            meta,
            ClientId::new(c.client_id.clone()),
            c.client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose().to_string())),
        );
        Ok(client)
    }

    /// Remember a sign-in; returns the cookie's handle.
    fn remember(&self, pending: Pending) -> String {
        let handle = vigilo_auth::random_token(32);
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, p| p.created.elapsed() < PENDING_TTL);
        while map.len() >= self.max_pending {
            let oldest = map
                .iter()
                .min_by_key(|(_, p)| p.created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(handle.clone(), pending);
        handle
    }

    /// Take (once) the sign-in this handle names, if it has not expired.
    fn take(&self, handle: &str) -> Option<Pending> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(handle)
            .filter(|p| p.created.elapsed() < PENDING_TTL)
    }

    /// Sign-ins pending now (expired ones included until the next login).
    pub fn pending_len(&self) -> usize {
        self.pending.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// The discovery error, without the bodies it may carry.
fn discovery_reason<E: std::error::Error>(e: &openidconnect::DiscoveryError<E>) -> String {
    use openidconnect::DiscoveryError as D;
    match e {
        D::Request(inner) => format!("request failed: {inner}"),
        D::Response(status, _, _) => format!("answered http {status}"),
        D::Parse(inner) => format!("unreadable document: {inner}"),
        D::Validation(msg) => format!("invalid document: {msg}"),
        D::UrlParse(inner) => format!("bad url: {inner}"),
        D::Other(msg) => msg.clone(),
        _ => "unknown failure".into(),
    }
}

/// Where an error sends the browser: the sign-in page, with the code.
fn to_login(code: ErrorCode) -> Response {
    let mut resp = Redirect::to(&format!("/login?error={}", code.code())).into_response();
    clear_cookie(resp.headers_mut());
    resp
}

fn clear_cookie(headers: &mut HeaderMap) {
    let v = format!("{COOKIE}=; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&v) {
        headers.append(header::SET_COOKIE, v);
    }
}

/// A `next` that stays on this site: a path, not `//host` or `/\host`.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2048
                && !n.chars().any(|c| c.is_control()) =>
        {
            n.to_string()
        }
        _ => "/".into(),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// Where to go once signed in: a path on this site (default `/`).
    pub next: Option<String>,
}

/// Start single sign-on with a provider.
///
/// Redirects (303) to the provider's authorization endpoint with a PKCE
/// S256 challenge, a nonce and a state, and sets the short-lived
/// `vigilo_oidc` cookie that the callback needs. On failure redirects to
/// `/login?error=unknown_provider` or `/login?error=oidc_provider_unavailable`.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oidc/{provider}/login",
    tag = "auth",
    security(()),
    params(("provider" = String, Path, description = "The provider's id, as `GET /api/v1/auth/config` lists it."), LoginQuery),
    responses(
        (status = 303, description = "To the provider, or to `/login?error=<code>`"),
    ),
)]
pub async fn login(
    state: crate::api::State,
    Path(provider): Path<String>,
    q: Result<Query<LoginQuery>, QueryRejection>,
    address: Address,
    headers: HeaderMap,
) -> Response {
    // A query that does not parse (a repeated `next`) only loses `next`.
    let next = q.ok().and_then(|Query(q)| q.next);
    // Each sign-in holds a little memory until it ends: as many a minute
    // from one address as password sign-ins.
    if let Err(e) = state.auth.check_login_rate(address.0) {
        return to_login(e.code);
    }
    let o = oidc(&state);
    let Some(p) = o.provider(&provider) else {
        tracing::info!(provider = %provider, "oidc sign-in with an unknown provider");
        return to_login(ErrorCode::UnknownProvider);
    };
    let client = match o.client(p).await {
        Ok(c) => c,
        Err(code) => return to_login(code),
    };
    let redirect_url = p.config.redirect_url_for(&public_url(&state, &headers));
    let redirect = match RedirectUrl::new(redirect_url.clone()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(provider = %p.config.id, error = %e, "oidc redirect url is not a url");
            return to_login(ErrorCode::OidcProviderUnavailable);
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_redirect_uri(std::borrow::Cow::Owned(redirect))
        .set_pkce_challenge(challenge);
    for s in p.config.scopes_to_request() {
        if s != "openid" {
            req = req.add_scope(Scope::new(s));
        }
    }
    let (url, csrf, nonce) = req.url();
    let secure = state.auth.secure_cookies || redirect_url.starts_with("https://");
    let handle = o.remember(Pending {
        provider: p.config.id.clone(),
        state: csrf.secret().clone(),
        nonce,
        verifier: verifier.secret().clone(),
        redirect_url,
        next: local_path(next.as_deref()),
        created: Instant::now(),
    });
    let mut resp = Redirect::to(url.as_str()).into_response();
    let cookie = format!(
        "{COOKIE}={handle}; Path={COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age={}{}",
        PENDING_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    tracing::debug!(provider = %p.config.id, "oidc sign-in started");
    resp
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state sent with the sign-in.
    pub state: Option<String>,
    /// Set by the provider when it did not sign the person in.
    pub error: Option<String>,
}

/// Finish single sign-on: the provider sends the browser back here.
///
/// Checks the state against the sign-in this browser started, exchanges
/// the code with the PKCE verifier, verifies the ID token (signature,
/// issuer, audience, expiry, nonce), maps the role from the provider's
/// rules, finds or creates the user and signs them in: sets the session
/// cookies and redirects (303) to `/` (or the login's `next`). On refusal
/// redirects to `/login?error=<code>`: `oidc_state_mismatch`,
/// `oidc_token_invalid`, `oidc_role_denied`, `oidc_provider_unavailable`
/// or `unknown_provider`.
#[utoipa::path(
    get,
    path = "/api/v1/auth/oidc/{provider}/callback",
    tag = "auth",
    security(()),
    params(("provider" = String, Path, description = "The provider's id."), CallbackQuery),
    responses(
        (status = 303, description = "Signed in, to `/`; or to `/login?error=<code>`"),
    ),
)]
pub async fn callback(
    state: crate::api::State,
    Path(provider): Path<String>,
    q: Result<Query<CallbackQuery>, QueryRejection>,
    address: Address,
    headers: HeaderMap,
) -> Response {
    // Not what a provider sends (a repeated parameter): nothing to check.
    let Ok(Query(q)) = q else {
        return to_login(ErrorCode::OidcStateMismatch);
    };
    match finish(&state, &provider, q, address.0, &headers).await {
        Ok(resp) => resp,
        Err(code) => to_login(code),
    }
}

async fn finish(
    state: &AppState,
    provider: &str,
    q: CallbackQuery,
    address: Option<IpAddr>,
    headers: &HeaderMap,
) -> Result<Response, ErrorCode> {
    let o = oidc(state);
    let Some(p) = o.provider(provider) else {
        return Err(ErrorCode::UnknownProvider);
    };
    let id = p.config.id.as_str();
    // The pending sign-in goes whatever happens next: a callback works once.
    let pending = super::cookie(headers, COOKIE).and_then(|h| o.take(h));
    let Some(pending) = pending else {
        tracing::info!(provider = id, "oidc callback without a pending sign-in");
        return Err(ErrorCode::OidcStateMismatch);
    };
    let state_ok = q
        .state
        .as_deref()
        .is_some_and(|s| vigilo_auth::constant_time_eq(s, &pending.state));
    if pending.provider != id || !state_ok {
        tracing::info!(provider = id, "oidc callback state does not match");
        return Err(ErrorCode::OidcStateMismatch);
    }
    if let Some(err) = q.error.as_deref() {
        // The provider's own code, not anything secret.
        let err: String = err.chars().take(64).collect();
        tracing::info!(provider = id, error = %err, "oidc provider refused the sign-in");
        return Err(if err == "access_denied" {
            ErrorCode::OidcRoleDenied
        } else {
            ErrorCode::OidcTokenInvalid
        });
    }
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(ErrorCode::OidcTokenInvalid);
    };
    let client = o.client(p).await?;
    let redirect = RedirectUrl::new(pending.redirect_url.clone())
        .map_err(|_| ErrorCode::OidcProviderUnavailable)?;
    let answer = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|_| ErrorCode::OidcProviderUnavailable)?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
        .set_redirect_uri(std::borrow::Cow::Owned(redirect))
        .request_async(&o.http)
        .await
        .map_err(|e| {
            let (reason, code) = match &e {
                RequestTokenError::ServerResponse(r) => {
                    (r.error().as_ref().to_string(), ErrorCode::OidcTokenInvalid)
                }
                RequestTokenError::Request(_) => (
                    "request failed".to_string(),
                    ErrorCode::OidcProviderUnavailable,
                ),
                RequestTokenError::Parse(_, _) => {
                    ("unreadable answer".to_string(), ErrorCode::OidcTokenInvalid)
                }
                RequestTokenError::Other(_) => {
                    ("unexpected answer".to_string(), ErrorCode::OidcTokenInvalid)
                }
            };
            tracing::warn!(provider = id, reason = %reason, "oidc code exchange failed");
            code
        })?;
    let Some(id_token) = answer.id_token() else {
        tracing::warn!(provider = id, "oidc token answer has no id token");
        return Err(ErrorCode::OidcTokenInvalid);
    };
    let verified = {
        let first = id_token
            .claims(&client.id_token_verifier(), &pending.nonce)
            .cloned();
        match first {
            // The provider may have rotated its keys since discovery: fetch
            // them again (at most once a minute) and check once more.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                match o.client_fresher_than(p, Duration::from_secs(60)).await {
                    Ok(fresh) if !Arc::ptr_eq(&fresh, &client) => id_token
                        .claims(&fresh.id_token_verifier(), &pending.nonce)
                        .cloned(),
                    _ => first,
                }
            }
            other => other,
        }
    };
    let claims = verified.map_err(|e| {
        tracing::warn!(
            provider = id,
            reason = verification_reason(&e),
            "oidc id token refused"
        );
        ErrorCode::OidcTokenInvalid
    })?;
    let subject = claims.subject().as_str().to_string();
    let email = claims.email().map(|e| e.as_str().to_string());
    let groups = claims.additional_claims().groups(&p.config.groups_claim);
    let role = match role_for(
        &p.config,
        email.as_deref(),
        claims.email_verified(),
        &groups,
    ) {
        Ok(role) => role,
        Err(r) => {
            let reason = match r {
                OidcRefusal::EmailNotVerified => "email not verified",
                OidcRefusal::NoMatchingRule => "no matching rule",
            };
            tracing::info!(provider = id, subject = %subject, reason, "oidc sign-in refused");
            let who = email.as_deref().unwrap_or(&subject);
            audit_refusal(state, id, who, address, reason).await;
            return Err(ErrorCode::OidcRoleDenied);
        }
    };
    sign_in(state, p, &subject, email, role, &pending.next, address).await
}

/// Which check an ID token failed, in words safe to log.
fn verification_reason(e: &ClaimsVerificationError) -> &'static str {
    match e {
        ClaimsVerificationError::Expired(_) => "expired",
        ClaimsVerificationError::InvalidAudience(_) => "wrong audience",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong issuer",
        ClaimsVerificationError::InvalidNonce(_) => "wrong nonce",
        ClaimsVerificationError::InvalidSubject(_) => "bad subject",
        ClaimsVerificationError::SignatureVerification(_) => "bad signature",
        ClaimsVerificationError::Unsupported(_) => "unsupported",
        _ => "invalid",
    }
}

/// The single sign-on side of a server: built from its configuration on
/// first use and kept for as long as the server's configuration lives.
///
/// It lives here rather than as a field of the server's state so that this
/// module owns it whole; [`check_config`] is what a start-up check calls.
pub fn oidc(state: &AppState) -> Arc<Oidc> {
    static SERVERS: Mutex<Vec<(Weak<Config>, Arc<Oidc>)>> = Mutex::new(Vec::new());
    let mut servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
    servers.retain(|(config, _)| config.strong_count() > 0);
    if let Some((_, o)) = servers
        .iter()
        .find(|(config, _)| std::ptr::eq(config.as_ptr(), Arc::as_ptr(&state.config)))
    {
        return o.clone();
    }
    let o = Arc::new(Oidc::new(&state.config.auth.oidc).unwrap_or_else(|e| {
        tracing::error!(error = %e, "single sign-on is off: its settings are invalid");
        Oidc::empty()
    }));
    if !o.is_empty() && tokio::runtime::Handle::try_current().is_ok() {
        o.spawn_discovery();
    }
    servers.push((Arc::downgrade(&state.config), o.clone()));
    o
}

/// Whether the providers' settings can be used (for a check at start).
pub fn check_config(providers: &[ProviderConfig]) -> Result<(), OidcSetupError> {
    Oidc::new(providers).map(|_| ())
}

/// The server's public base URL (`https://vigilo.example.com`), for the
/// default redirect URL: `auth.public_url`, else what the request says
/// (its `Host`, and `X-Forwarded-Proto: https` behind a proxy). A host the
/// provider does not have registered makes the provider refuse the
/// sign-in, so a forged `Host` gains nothing.
fn public_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.config.auth.public_url {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ => "http",
    };
    format!("{scheme}://{host}")
}

/// Record a refused single sign-on in the audit trail.
async fn audit_refusal(
    state: &AppState,
    provider: &str,
    who: &str,
    address: Option<IpAddr>,
    reason: &str,
) {
    audit::record(
        state,
        Entry {
            actor: who,
            action: "login_failed",
            target: Some(who),
            address,
            details: json!({"method": "oidc", "provider": provider, "reason": reason}),
        },
    )
    .await;
}

/// A username for someone new: their email, else `<provider>-<subject>`;
/// the `n`th try adds `-<provider>` and then a number.
fn username_candidate(provider: &str, subject: &str, email: Option<&str>, n: usize) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    let base = match email {
        Some(e) if !e.is_empty() => clean(&e.to_lowercase()),
        _ => clean(&format!("{provider}-{subject}")),
    };
    let suffix = match n {
        0 => String::new(),
        1 => format!("-{}", clean(provider)),
        n => format!("-{}-{n}", clean(provider)),
    };
    let keep = 64usize.saturating_sub(suffix.chars().count());
    let mut name: String = base.chars().take(keep).collect();
    name.push_str(&suffix);
    name
}

/// Find the user this provider knows by `subject`, or create them (source
/// `oidc`); bring their role and email in line with the provider; start
/// their session.
async fn sign_in(
    state: &AppState,
    p: &Provider,
    subject: &str,
    email: Option<String>,
    role: vigilo_auth::Role,
    next: &str,
    address: Option<IpAddr>,
) -> Result<Response, ErrorCode> {
    let id = p.config.id.as_str();
    let key = format!("{id}:{subject}");
    let storage = &state.storage;
    let fail = |e: vigilo_storage::StorageError| ApiError::from(e).code;
    let actor = format!("oidc:{id}");
    let user = match storage.get_user_by_subject(&key).await.map_err(fail)? {
        Some(u) => u,
        None => create_user(state, &key, id, subject, email.clone(), role, &actor).await?,
    };
    if user.disabled {
        tracing::info!(
            provider = id,
            user = user.id,
            "oidc sign-in of a disabled user"
        );
        audit_refusal(state, id, &user.username, address, "disabled").await;
        return Err(ErrorCode::OidcRoleDenied);
    }
    let was = vigilo_auth::Role::parse(&user.role);
    let patch = UserPatch {
        role: (was != Some(role)).then(|| role.as_str().to_string()),
        email: (email.is_some() && email != user.email).then(|| email.clone()),
        ..UserPatch::default()
    };
    let user = if patch.role.is_some() || patch.email.is_some() {
        let changed_role = patch.role.is_some();
        let updated = storage
            .update_user(user.id, patch)
            .await
            .map_err(fail)?
            .ok_or(ErrorCode::Internal)?;
        if changed_role {
            // Sessions carry the role: end the ones made with the old one.
            storage
                .revoke_user_sessions(user.id, Utc::now())
                .await
                .map_err(fail)?;
            state.auth.forget_sessions();
            tracing::info!(provider = id, user = user.id, role = %role, "oidc role changed by the provider's rules");
            audit::record(
                state,
                Entry {
                    actor: &actor,
                    action: "role_changed",
                    target: Some(&updated.username),
                    address,
                    details: json!({"from": was, "to": role}),
                },
            )
            .await;
        }
        updated
    } else {
        user
    };
    let (cookies, _session) = session::start(state, &user, address)
        .await
        .map_err(|e| e.code)?;
    audit::record(
        state,
        Entry {
            actor: &user.username,
            action: "login",
            target: Some(&user.username),
            address,
            details: json!({"method": "oidc", "provider": id}),
        },
    )
    .await;
    tracing::info!(provider = id, user = user.id, "oidc sign-in");
    let mut resp = Redirect::to(next).into_response();
    resp.headers_mut().extend(cookies);
    clear_cookie(resp.headers_mut());
    Ok(resp)
}

async fn create_user(
    state: &AppState,
    key: &str,
    provider: &str,
    subject: &str,
    email: Option<String>,
    role: vigilo_auth::Role,
    actor: &str,
) -> Result<UserRecord, ErrorCode> {
    let storage = &state.storage;
    let fail = |e: vigilo_storage::StorageError| ApiError::from(e).code;
    for n in 0..20 {
        let username = username_candidate(provider, subject, email.as_deref(), n);
        let made = storage
            .create_user(NewUser {
                username: username.clone(),
                role: role.as_str().to_string(),
                email: email.clone(),
                source: "oidc".into(),
                oidc_subject: Some(key.to_string()),
                password_hash: None,
                created_at: Utc::now(),
            })
            .await;
        match made {
            Ok(u) => {
                tracing::info!(provider, user = u.id, role = %role, "oidc user created");
                audit::record(
                    state,
                    Entry {
                        actor,
                        action: "user_created",
                        target: Some(&u.username),
                        address: None,
                        details: json!({"role": role, "source": "oidc", "provider": provider}),
                    },
                )
                .await;
                return Ok(u);
            }
            Err(vigilo_storage::StorageError::Conflict { .. }) => {
                // The same person signing in twice at once, or the name is
                // someone else's: look again, then try another name.
                if let Some(u) = storage.get_user_by_subject(key).await.map_err(fail)? {
                    return Ok(u);
                }
            }
            Err(e) => return Err(fail(e)),
        }
    }
    tracing::warn!(provider, "oidc user cannot be given a free username");
    Err(ErrorCode::Conflict)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(created: Instant) -> Pending {
        Pending {
            provider: "p".into(),
            state: "s".into(),
            nonce: Nonce::new("n".into()),
            verifier: "v".into(),
            redirect_url: "http://localhost/cb".into(),
            next: "/".into(),
            created,
        }
    }

    #[test]
    fn pending_sign_ins_are_taken_once_and_expire() {
        let o = Oidc::new(&[]).expect("no providers");
        let h = o.remember(pending(Instant::now()));
        assert!(o.take(&h).is_some());
        assert!(o.take(&h).is_none(), "taken once");
        if let Some(old) = Instant::now().checked_sub(PENDING_TTL + Duration::from_secs(1)) {
            let h = o.remember(pending(old));
            assert!(o.take(&h).is_none(), "expired");
        }
        assert!(o.take("unknown").is_none());
    }

    #[test]
    fn pending_sign_ins_are_bounded() {
        let mut o = Oidc::new(&[]).expect("no providers");
        o.max_pending = 50;
        let older = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        let first = o.remember(pending(older));
        for _ in 0..50 {
            o.remember(pending(Instant::now()));
        }
        assert_eq!(o.pending_len(), 50);
        assert!(o.take(&first).is_none(), "the oldest went");
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(local_path(Some("/findings?x=1")), "/findings?x=1");
        for bad in [
            None,
            Some(""),
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil.example"),
            Some("/a\nb"),
        ] {
            assert_eq!(local_path(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn usernames_for_new_users() {
        assert_eq!(
            username_candidate("google", "123", Some("Ana@Example.com"), 0),
            "ana@example.com"
        );
        assert_eq!(
            username_candidate("google", "123", Some("ana@example.com"), 1),
            "ana@example.com-google"
        );
        assert_eq!(
            username_candidate("google", "123", Some("ana@example.com"), 3),
            "ana@example.com-google-3"
        );
        assert_eq!(username_candidate("okta", "a b/c", None, 0), "okta-a-b-c");
        let long = "x".repeat(100);
        let name = username_candidate("google", &long, None, 2);
        assert_eq!(name.chars().count(), 64);
        assert!(name.ends_with("-google-2"));
    }

    #[test]
    fn groups_claim_is_a_list_or_one_string() {
        let claims: OtherClaims = serde_json::from_value(serde_json::json!({
            "groups": ["a", 3, "b"], "team": "secops", "n": 1
        }))
        .expect("claims");
        assert_eq!(claims.groups("groups"), vec!["a", "b"]);
        assert_eq!(claims.groups("team"), vec!["secops"]);
        assert!(claims.groups("n").is_empty() && claims.groups("none").is_empty());
    }

    #[test]
    fn providers_are_checked() {
        let mut p = ProviderConfig::new("g", "G", "https://accounts.google.com", "cid");
        p.default_role = Some(vigilo_auth::Role::Viewer);
        assert!(check_config(std::slice::from_ref(&p)).is_ok());
        assert!(matches!(
            check_config(&[p.clone(), p.clone()]),
            Err(OidcSetupError::DuplicateId(_))
        ));
        p.id = "a/b".into();
        assert!(check_config(&[p]).is_err());
    }
}
