//! Sign-in sessions: a session row (revocable), a short-lived session token
//! (JWT), a refresh token that rotates on each use, and the cookies the
//! browser keeps them in.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use vigilo_auth::Role;
use vigilo_core::ErrorCode;
use vigilo_storage::{SessionRecord, UserRecord};

use super::{Auth, CSRF_COOKIE, REFRESH_COOKIE, SESSION_COOKIE};
use crate::error::ApiError;
use crate::server::AppState;

/// A user, as the API shows one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub email: Option<String>,
    /// `password` or `oidc`.
    pub source: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    pub fn from_record(u: &UserRecord) -> Result<User, ApiError> {
        Ok(User {
            id: u.id,
            username: u.username.clone(),
            role: parse_role(&u.role)?,
            email: u.email.clone(),
            source: u.source.clone(),
            disabled: u.disabled,
            created_at: u.created_at,
            last_login_at: u.last_login_at,
        })
    }
}

pub fn parse_role(s: &str) -> Result<Role, ApiError> {
    Role::parse(s).ok_or_else(|| {
        ApiError::new(
            ErrorCode::StorageError,
            format!("stored role `{s}` is unknown"),
        )
    })
}

/// What sign-in, refresh and setup answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Session {
    /// The session token, for `Authorization: Bearer`.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until `token` expires.
    pub expires_in: u64,
    /// Renews the session (`POST /api/v1/auth/refresh`); used once.
    pub refresh_token: String,
    /// Echo in `X-CSRF-Token` on writes authenticated by the cookie.
    pub csrf_token: String,
    pub user: User,
}

/// Refresh tokens are `<session id>.<secret>`.
fn split_refresh(token: &str) -> Option<(&str, &str)> {
    token.split_once('.').filter(|(sid, secret)| {
        !sid.is_empty() && !secret.is_empty() && sid.len() <= 64 && secret.len() <= 128
    })
}

fn set_cookie(
    headers: &mut HeaderMap,
    auth: &Auth,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
    http_only: bool,
) {
    let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Strict");
    if http_only {
        c.push_str("; HttpOnly");
    }
    if auth.secure_cookies {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        headers.append(header::SET_COOKIE, v);
    }
}

/// `Set-Cookie` headers that end the browser's session.
pub fn clear_cookies(auth: &Auth) -> HeaderMap {
    let mut h = HeaderMap::new();
    set_cookie(&mut h, auth, SESSION_COOKIE, "", "/", 0, true);
    set_cookie(&mut h, auth, REFRESH_COOKIE, "", "/api/v1/auth", 0, true);
    set_cookie(&mut h, auth, CSRF_COOKIE, "", "/", 0, false);
    h
}

fn cookies_for(auth: &Auth, s: &Session) -> HeaderMap {
    let mut h = HeaderMap::new();
    let session_age = i64::try_from(auth.config.session_ttl_secs).unwrap_or(i64::MAX);
    let refresh_age = i64::try_from(auth.config.refresh_ttl_secs).unwrap_or(i64::MAX);
    set_cookie(
        &mut h,
        auth,
        SESSION_COOKIE,
        &s.token,
        "/",
        session_age,
        true,
    );
    set_cookie(
        &mut h,
        auth,
        REFRESH_COOKIE,
        &s.refresh_token,
        "/api/v1/auth",
        refresh_age,
        true,
    );
    set_cookie(
        &mut h,
        auth,
        CSRF_COOKIE,
        &s.csrf_token,
        "/",
        refresh_age,
        false,
    );
    h
}

fn issue(auth: &Auth, user: &UserRecord, sid: &str, refresh: String) -> Result<Session, ApiError> {
    let role = parse_role(&user.role)?;
    let ttl = chrono::Duration::seconds(i64::try_from(auth.config.session_ttl_secs).unwrap_or(900));
    let token = auth
        .signer
        .issue(user.id, &user.username, role, sid, Utc::now(), ttl)
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?;
    Ok(Session {
        token,
        token_type: "Bearer",
        expires_in: auth.config.session_ttl_secs,
        refresh_token: refresh,
        csrf_token: auth.signer.csrf_token(sid),
        user: User::from_record(user)?,
    })
}

/// Sign `user` in: a new session, its tokens, and the cookies that carry
/// them. Records the login time.
pub async fn start(
    state: &AppState,
    user: &UserRecord,
    address: Option<std::net::IpAddr>,
) -> Result<(HeaderMap, Session), ApiError> {
    let auth = &state.auth;
    if user.disabled {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "this account is disabled",
        ));
    }
    let now = Utc::now();
    let sid = vigilo_auth::random_token(18);
    let secret = vigilo_auth::random_token(32);
    let refresh = format!("{sid}.{secret}");
    let absolute =
        chrono::Duration::seconds(i64::try_from(auth.config.refresh_ttl_secs).unwrap_or(604_800));
    state
        .storage
        .create_session(&SessionRecord {
            id: sid.clone(),
            user_id: user.id,
            refresh_hash: vigilo_auth::sha256_hex(&refresh),
            created_at: now,
            refreshed_at: now,
            expires_at: now + absolute,
            revoked_at: None,
            address: address.map(|a| a.to_string()),
        })
        .await?;
    state.storage.record_login(user.id, now).await?;
    let session = issue(auth, user, &sid, refresh)?;
    Ok((cookies_for(auth, &session), session))
}

/// Renew a session from its refresh token, which rotates: a token used
/// twice ends the session (it was stolen, or replayed).
pub async fn refresh(state: &AppState, token: &str) -> Result<(HeaderMap, Session), ApiError> {
    let auth = &state.auth;
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the refresh token is invalid or expired; sign in again",
        )
    };
    let (sid, _) = split_refresh(token).ok_or_else(invalid)?;
    let stored = state.storage.get_session(sid).await?.ok_or_else(invalid)?;
    let now = Utc::now();
    if stored.revoked_at.is_some() || stored.expires_at <= now {
        return Err(invalid());
    }
    let presented = vigilo_auth::sha256_hex(token);
    if !vigilo_auth::constant_time_eq(&presented, &stored.refresh_hash) {
        // Reuse of a rotated token: end the session for everyone holding it.
        state.storage.revoke_session(sid, now).await?;
        auth.forget_sessions();
        tracing::warn!(
            user = stored.user_id,
            "refresh token reused; session revoked"
        );
        return Err(invalid());
    }
    let user = state
        .storage
        .get_user(stored.user_id)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(invalid)?;
    let next = format!("{sid}.{}", vigilo_auth::random_token(32));
    if !state
        .storage
        .rotate_session(sid, &presented, &vigilo_auth::sha256_hex(&next), now)
        .await?
    {
        return Err(invalid());
    }
    let session = issue(auth, &user, sid, next)?;
    Ok((cookies_for(auth, &session), session))
}

/// The refresh token of a request: the cookie, or the body's.
pub fn refresh_token_of<'a>(headers: &'a HeaderMap, body: Option<&'a str>) -> Option<&'a str> {
    body.or_else(|| super::cookie(headers, REFRESH_COOKIE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_split_at_the_first_dot() {
        assert_eq!(split_refresh("sid.secret"), Some(("sid", "secret")));
        assert_eq!(split_refresh(".secret"), None);
        assert_eq!(split_refresh("nodot"), None);
    }
}
