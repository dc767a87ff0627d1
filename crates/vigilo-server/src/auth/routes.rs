//! Sign-in, sessions, the caller's identity and preferences:
//! `/api/v1/auth/*`.

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use vigilo_auth::{Permission, Principal, Role, Scope};
use vigilo_core::ErrorCode;
use vigilo_storage::NewUser;

use super::audit::{self, Entry};
use super::session::{self, Session};
use super::{Caller, lock, role_of};
use crate::api::{ApiJson, State};
use crate::error::{ApiError, ApiResult, ErrorResponse};

/// How the sign-in page offers to sign in.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthSettings {
    /// Password sign-in is available.
    pub password: bool,
    /// Single sign-on providers, one button each.
    pub sso: Vec<super::oidc::SsoProvider>,
    /// No admin exists yet: the first one is created with the setup token
    /// the server printed at start (`POST /api/v1/auth/setup`).
    pub setup_required: bool,
    /// False when authentication is disabled by configuration.
    pub auth_enabled: bool,
}

/// Sign-in methods, and whether the first admin is still to be created.
#[utoipa::path(get, path = "/api/v1/auth/config", tag = "auth", security(()),
    responses((status = 200, body = AuthSettings)))]
pub async fn settings(state: State) -> ApiResult<Json<AuthSettings>> {
    Ok(Json(AuthSettings {
        password: true,
        sso: super::oidc::providers_for_ui(&state),
        setup_required: state.auth.enabled() && lock(&state.auth.setup_token).is_some(),
        auth_enabled: state.auth.enabled(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

fn with_cookies(cookies: HeaderMap, status: StatusCode, body: impl Serialize) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().extend(cookies);
    resp
}

/// Sign in with a username and password. Answers the session (for API
/// clients: `token` as a bearer token) and sets the browser's cookies.
/// Each failure delays the answer a little more; five in a row lock the
/// account and the address for a minute, then longer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", security(()),
    request_body = LoginRequest,
    responses((status = 200, body = Session),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request"),
        (status = 401, body = ErrorResponse, description = "invalid_credentials"),
        (status = 429, body = ErrorResponse, description = "too_many_attempts (account or address locked), rate_limited; see Retry-After"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn login(
    state: State,
    address: Address,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let auth = &state.auth;
    let addr = address.0;
    auth.check_login_rate(addr)?;
    let name_key = body.username.trim().to_lowercase();
    let addr_key = addr.map(|a| a.to_string()).unwrap_or_default();
    let now = Utc::now();
    let locked = lock(&auth.by_user)
        .check(&name_key, now)
        .and(lock(&auth.by_address).check(&addr_key, now));
    if let Err(wait) = locked {
        audit::record(
            &state,
            Entry {
                actor: "anonymous",
                action: "login_locked",
                target: Some(body.username.trim()),
                address: addr,
                details: json!({}),
            },
        )
        .await;
        return Err(ApiError::new(
            ErrorCode::TooManyAttempts,
            "too many failed sign-ins; wait before trying again",
        )
        .retry_after(wait.as_secs().max(1)));
    }
    let user = state.storage.get_user_by_name(body.username.trim()).await?;
    let password = body.password.clone();
    let stored_hash = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| vigilo_auth::password::dummy_hash().to_string());
    // argon2 takes tens of milliseconds: off the async threads.
    let ok =
        tokio::task::spawn_blocking(move || vigilo_auth::password::verify(&password, &stored_hash))
            .await
            .unwrap_or(false);
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            let delay = {
                let d1 = lock(&auth.by_user).fail(&name_key, now);
                let d2 = lock(&auth.by_address).fail(&addr_key, now);
                d1.max(d2)
            };
            audit::record(
                &state,
                Entry {
                    actor: "anonymous",
                    action: "login_failed",
                    target: Some(body.username.trim()),
                    address: addr,
                    details: json!({"method": "password"}),
                },
            )
            .await;
            tokio::time::sleep(delay).await;
            return Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "wrong username or password",
            ));
        }
    };
    lock(&auth.by_user).succeed(&name_key);
    lock(&auth.by_address).succeed(&addr_key);
    let (cookies, session) = session::start(&state, &user, addr).await?;
    audit::record(
        &state,
        Entry {
            actor: &user.username,
            action: "login",
            target: Some(&user.username),
            address: addr,
            details: json!({"method": "password"}),
        },
    )
    .await;
    Ok(with_cookies(cookies, StatusCode::OK, session))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; browsers send the `vigilo_refresh` cookie instead.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

/// Renew a session: a new session token and refresh token (the old refresh
/// token stops working; used again, it ends the session).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", security(()),
    request_body(content = Option<RefreshRequest>, description = "Optional when the `vigilo_refresh` cookie is sent"),
    responses((status = 200, body = Session),
        (status = 400, body = ErrorResponse, description = "invalid_request: a body that is not `{\"refresh_token\"}`"),
        (status = 401, body = ErrorResponse, description = "invalid_token: no, an unknown, a used or an expired refresh token"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn refresh(
    state: State,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let parsed: RefreshRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RefreshRequest::default()
    } else if !headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "header `content-type` must be application/json",
        ));
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, format!("body: {e}")))?
    };
    let token = session::refresh_token_of(&headers, parsed.refresh_token.as_deref())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidToken,
                "no refresh token: send the `vigilo_refresh` cookie or `refresh_token`",
            )
        })?
        .to_string();
    let (cookies, session) = session::refresh(&state, &token).await?;
    Ok(with_cookies(cookies, StatusCode::OK, session))
}

/// End the caller's session (its refresh token stops working, its session
/// token is refused from now on) and clear the browser's cookies.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token")))]
pub async fn logout(state: State, caller: Caller) -> ApiResult<Response> {
    if let Principal::User { session, name, .. } = &caller.principal {
        state.storage.revoke_session(session, Utc::now()).await?;
        state.auth.forget_sessions();
        audit::record(
            &state,
            Entry {
                actor: name,
                action: "logout",
                target: Some(name),
                address: caller.address,
                details: json!({}),
            },
        )
        .await;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .extend(session::clear_cookies(&state.auth));
    Ok(resp)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The one-time token the server printed at its first start.
    pub token: String,
    pub username: String,
    pub password: String,
}

/// Create the first admin with the one-time setup token, and sign in.
/// Refused once an admin exists.
#[utoipa::path(post, path = "/api/v1/auth/setup", tag = "auth", security(()),
    request_body = SetupRequest,
    responses((status = 201, body = Session),
        (status = 400, body = ErrorResponse, description = "weak_password, invalid_request"),
        (status = 401, body = ErrorResponse, description = "invalid_token: wrong setup token"),
        (status = 403, body = ErrorResponse, description = "forbidden: an admin already exists"),
        (status = 429, body = ErrorResponse, description = "rate_limited: too many attempts from this address; see Retry-After"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn setup(
    state: State,
    address: Address,
    ApiJson(body): ApiJson<SetupRequest>,
) -> ApiResult<Response> {
    state.auth.check_login_rate(address.0)?;
    let expected = lock(&state.auth.setup_token).clone();
    let Some(expected) = expected else {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "setup is closed: an admin exists",
        ));
    };
    if !vigilo_auth::constant_time_eq(&expected, body.token.trim()) {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "the setup token is wrong",
        ));
    }
    let username = super::admin::check_username(&body.username)?;
    let hash = super::admin::hash_password(&username, &body.password).await?;
    if state.storage.count_admins().await? > 0 {
        *lock(&state.auth.setup_token) = None;
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "setup is closed: an admin exists",
        ));
    }
    let user = state
        .storage
        .create_user(NewUser {
            username: username.clone(),
            role: Role::Admin.as_str().into(),
            email: None,
            source: "password".into(),
            oidc_subject: None,
            password_hash: Some(hash),
            created_at: Utc::now(),
        })
        .await?;
    *lock(&state.auth.setup_token) = None;
    audit::record(
        &state,
        Entry {
            actor: &username,
            action: "user_created",
            target: Some(&username),
            address: address.0,
            details: json!({"role": "admin", "via": "setup"}),
        },
    )
    .await;
    let (cookies, session) = session::start(&state, &user, address.0).await?;
    Ok(with_cookies(cookies, StatusCode::CREATED, session))
}

/// Who the caller is and what it may do.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `user`, `api_key`, or `anonymous` when authentication is disabled.
    pub principal: &'static str,
    pub id: Option<i64>,
    pub name: String,
    pub role: Option<Role>,
    /// An API key's scopes.
    pub scopes: Option<Vec<Scope>>,
    /// Every permission held (what the UI may offer).
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
    pub auth_enabled: bool,
}

/// The caller: user or key, role or scopes, and its permissions.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, body = Me),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token")))]
pub async fn me(state: State, caller: Caller) -> ApiResult<Json<Me>> {
    let p = &caller.principal;
    let (kind, id, scopes) = match p {
        Principal::User { id, .. } => ("user", Some(*id), None),
        Principal::Key { id, scopes, .. } => ("api_key", Some(*id), Some(scopes.clone())),
        Principal::Open => ("anonymous", None, None),
    };
    Ok(Json(Me {
        principal: kind,
        id,
        name: match p {
            Principal::User { name, .. } | Principal::Key { name, .. } => name.clone(),
            Principal::Open => "anonymous".into(),
        },
        role: role_of(p),
        scopes,
        permissions: p.permissions(),
        auth_enabled: state.auth.enabled(),
    }))
}

/// A saved filter of the findings or events page.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SavedFilter {
    /// 1 to 64 characters.
    pub name: String,
    /// `findings` or `events`.
    pub page: String,
    /// The page's query string, at most 2,000 characters.
    pub query: String,
}

/// A user's preferences, applied by the UI.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Default time range: 15m, 1h, 6h, 24h, 7d or 30d.
    pub time_range: String,
    /// system, light or dark.
    pub theme: String,
    /// At most 50.
    pub saved_filters: Vec<SavedFilter>,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            time_range: "24h".into(),
            theme: "system".into(),
            saved_filters: Vec::new(),
        }
    }
}

impl Preferences {
    fn check(&self) -> Result<(), ApiError> {
        let bad = |field: &str, msg: &str| {
            Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("`{field}` {msg}"),
            ))
        };
        if !["15m", "1h", "6h", "24h", "7d", "30d"].contains(&self.time_range.as_str()) {
            return bad("time_range", "must be one of 15m, 1h, 6h, 24h, 7d, 30d");
        }
        if !["system", "light", "dark"].contains(&self.theme.as_str()) {
            return bad("theme", "must be system, light or dark");
        }
        if self.saved_filters.len() > 50 {
            return bad("saved_filters", "holds at most 50 filters");
        }
        for (i, f) in self.saved_filters.iter().enumerate() {
            let n = f.name.trim().chars().count();
            if n == 0 || n > 64 {
                return bad(
                    &format!("saved_filters[{i}].name"),
                    "must be 1 to 64 characters",
                );
            }
            if f.page != "findings" && f.page != "events" {
                return bad(
                    &format!("saved_filters[{i}].page"),
                    "must be findings or events",
                );
            }
            if f.query.chars().count() > 2000 {
                return bad(
                    &format!("saved_filters[{i}].query"),
                    "must be at most 2000 characters",
                );
            }
        }
        Ok(())
    }
}

fn user_id(caller: &Caller) -> Result<i64, ApiError> {
    match caller.principal {
        Principal::User { id, .. } => Ok(id),
        _ => Err(ApiError::new(
            ErrorCode::Forbidden,
            "preferences belong to signed-in users, not API keys",
        )),
    }
}

/// The signed-in user's preferences (defaults until saved).
#[utoipa::path(get, path = "/api/v1/auth/me/preferences", tag = "auth",
    responses((status = 200, body = Preferences),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden: not a signed-in user")))]
pub async fn get_preferences(state: State, caller: Caller) -> ApiResult<Json<Preferences>> {
    let id = user_id(&caller)?;
    let stored = state.storage.get_preferences(id).await?;
    Ok(Json(
        stored
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default(),
    ))
}

/// Replace the signed-in user's preferences.
#[utoipa::path(put, path = "/api/v1/auth/me/preferences", tag = "auth",
    request_body = Preferences,
    responses((status = 200, body = Preferences),
        (status = 400, body = ErrorResponse, description = "invalid_request, malformed_body"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden, csrf_failed"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn put_preferences(
    state: State,
    caller: Caller,
    ApiJson(body): ApiJson<Preferences>,
) -> ApiResult<Json<Preferences>> {
    let id = user_id(&caller)?;
    body.check()?;
    let value = serde_json::to_value(&body)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    state.storage.set_preferences(id, &value).await?;
    Ok(Json(body))
}

/// The client's address (none in in-process tests).
pub struct Address(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Address {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Address(super::client_address(&parts.extensions)))
    }
}
