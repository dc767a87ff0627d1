//! Users, API keys and the audit log, for admins: `/api/v1/users`,
//! `/api/v1/api-keys`, `/api/v1/audit-log`.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use vigilo_auth::{Role, Scope};
use vigilo_core::ErrorCode;
use vigilo_storage::{ApiKeyRecord, AuditQuery, NewApiKey, NewUser, UserPatch};

use super::Caller;
use super::audit::{self, Entry};
use super::session::{User, parse_role};
use crate::api::{ApiJson, ApiQuery, State, path_id};
use crate::error::{ApiError, ApiResult, ErrorResponse};

/// A username: 1 to 64 letters, digits and `.`, `_`, `-`, `@`.
pub fn check_username(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let ok = (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if !ok {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`username` must be 1 to 64 letters, digits or . _ - @",
        ));
    }
    Ok(name.to_string())
}

/// Check `password` against the policy and hash it (off the async threads).
pub async fn hash_password(username: &str, password: &str) -> Result<String, ApiError> {
    vigilo_auth::password::check_policy(username, password)
        .map_err(|e| ApiError::new(ErrorCode::WeakPassword, format!("`password` {e}")))?;
    let pw = password.to_string();
    tokio::task::spawn_blocking(move || vigilo_auth::password::hash(&pw))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
        .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
    pub total: u64,
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = UserList),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden: needs users_manage")))]
pub async fn list_users(state: State) -> ApiResult<Json<UserList>> {
    let users = state.storage.list_users().await?;
    let items = users
        .iter()
        .map(User::from_record)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(UserList {
        total: items.len() as u64,
        items,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    /// Needed to sign in with a password; users without one sign in with
    /// single sign-on only.
    #[serde(default)]
    pub password: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub email: Option<String>,
}

fn check_email(e: Option<String>) -> Result<Option<String>, ApiError> {
    match e.map(|e| e.trim().to_string()).filter(|e| !e.is_empty()) {
        Some(e) if e.len() > 254 || !e.contains('@') => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`email` must be an email address",
        )),
        other => Ok(other),
    }
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = CreateUser,
    responses((status = 201, body = User),
        (status = 400, body = ErrorResponse, description = "invalid_request, weak_password"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden, csrf_failed"),
        (status = 409, body = ErrorResponse, description = "conflict: the username is taken"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn create_user(
    state: State,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUser>,
) -> ApiResult<Response> {
    let username = check_username(&body.username)?;
    let email = check_email(body.email)?;
    let hash = match &body.password {
        Some(p) => Some(hash_password(&username, p).await?),
        None => None,
    };
    let user = state
        .storage
        .create_user(NewUser {
            username: username.clone(),
            role: body.role.as_str().into(),
            email,
            source: "password".into(),
            oidc_subject: None,
            password_hash: hash,
            created_at: Utc::now(),
        })
        .await?;
    audit::record(
        &state,
        Entry {
            actor: &caller.actor(),
            action: "user_created",
            target: Some(&username),
            address: caller.address,
            details: json!({"role": body.role}),
        },
    )
    .await;
    Ok((StatusCode::CREATED, Json(User::from_record(&user)?)).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// Change a user's role, password or disabled flag. Each change ends the
/// user's sessions. The last admin cannot be demoted or disabled.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUser,
    responses((status = 200, body = User),
        (status = 400, body = ErrorResponse, description = "invalid_request, weak_password"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden, csrf_failed"),
        (status = 404, body = ErrorResponse, description = "not_found"),
        (status = 409, body = ErrorResponse, description = "conflict: the last admin"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn update_user(
    state: State,
    caller: Caller,
    Path(raw): Path<String>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> ApiResult<Json<User>> {
    let id = path_id("user", &raw)?;
    let current = state
        .storage
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    let was = parse_role(&current.role)?;
    let is_self =
        matches!(caller.principal, vigilo_auth::Principal::User { id: me, .. } if me == id);
    if is_self && (body.role.is_some_and(|r| r != was) || body.disabled == Some(true)) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot change your own role or disable yourself: ask another admin",
        ));
    }
    let demotes = body.role.is_some_and(|r| r != Role::Admin) || body.disabled == Some(true);
    if was == Role::Admin
        && !current.disabled
        && demotes
        && state.storage.count_admins().await? <= 1
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this is the last admin: make another user admin first",
        ));
    }
    let hash = match &body.password {
        Some(p) => Some(hash_password(&current.username, p).await?),
        None => None,
    };
    let updated = state
        .storage
        .update_user(
            id,
            UserPatch {
                role: body.role.map(|r| r.as_str().to_string()),
                password_hash: hash,
                disabled: body.disabled,
                email: None,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    state.storage.revoke_user_sessions(id, Utc::now()).await?;
    state.auth.forget_sessions();
    let actor = caller.actor();
    if let Some(role) = body.role.filter(|r| *r != was) {
        audit::record(
            &state,
            Entry {
                actor: &actor,
                action: "role_changed",
                target: Some(&updated.username),
                address: caller.address,
                details: json!({"from": was, "to": role}),
            },
        )
        .await;
    }
    if body.password.is_some() {
        audit::record(
            &state,
            Entry {
                actor: &actor,
                action: "password_changed",
                target: Some(&updated.username),
                address: caller.address,
                details: json!({}),
            },
        )
        .await;
    }
    if let Some(d) = body.disabled.filter(|d| *d != current.disabled) {
        audit::record(
            &state,
            Entry {
                actor: &actor,
                action: if d { "user_disabled" } else { "user_enabled" },
                target: Some(&updated.username),
                address: caller.address,
                details: json!({}),
            },
        )
        .await;
    }
    Ok(Json(User::from_record(&updated)?))
}

/// An API key, as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// `vgl_<8 hex>`: the start of the key, to recognise it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&ApiKeyRecord> for ApiKey {
    fn from(k: &ApiKeyRecord) -> Self {
        ApiKey {
            id: k.id,
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
            created_at: k.created_at,
            created_by: k.created_by.clone(),
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
    pub total: u64,
}

/// Every API key, newest first, revoked ones included.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "users",
    responses((status = 200, body = ApiKeyList),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden: needs users_manage")))]
pub async fn list_keys(state: State) -> ApiResult<Json<ApiKeyList>> {
    let keys = state.storage.list_api_keys().await?;
    Ok(Json(ApiKeyList {
        total: keys.len() as u64,
        items: keys.iter().map(ApiKey::from).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// 1 to 64 characters.
    pub name: String,
    /// One or more of ingest, read, admin.
    pub scopes: Vec<Scope>,
    /// Lifetime, e.g. `30d`, `12h`, `90m` (at most 10 years); none: no
    /// expiry.
    #[serde(default)]
    pub expires_in: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: ApiKey,
    /// The whole key. Shown this once: only its digest is stored.
    pub secret: String,
}

/// `30d`, `12h`, `90m`, `45s`, `2w`.
pub fn parse_lifetime(s: &str) -> Result<chrono::Duration, ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "`expires_in` must be a number and a unit (s, m, h, d, w), e.g. `30d`, at most 10 years",
        )
    };
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad()),
    };
    let total = n
        .checked_mul(secs)
        .filter(|t| *t > 0 && *t <= 10 * 366 * 86_400);
    total.map(chrono::Duration::seconds).ok_or_else(bad)
}

/// Create a key with its own name and scopes, and the key pair of lines
/// every tool needs: the record and, once, the secret.
pub async fn make_key(
    storage: &dyn vigilo_storage::Storage,
    name: &str,
    scopes: &[Scope],
    expires_in: Option<chrono::Duration>,
    created_by: &str,
) -> Result<(ApiKeyRecord, String), ApiError> {
    let name = name.trim();
    if !(1..=64).contains(&name.chars().count()) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`name` must be 1 to 64 characters",
        ));
    }
    if scopes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "`scopes` must name at least one of ingest, read, admin",
        ));
    }
    let mut scopes: Vec<Scope> = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let now = Utc::now();
    // A prefix collision (1 in 4 billion) is retried with a new key.
    for _ in 0..3 {
        let k = vigilo_auth::apikey::generate();
        let created = storage
            .create_api_key(NewApiKey {
                name: name.to_string(),
                prefix: k.prefix.clone(),
                hash: k.hash.clone(),
                scopes: scopes.iter().map(|s| s.as_str().to_string()).collect(),
                created_at: now,
                created_by: created_by.to_string(),
                expires_at: expires_in.map(|d| now + d),
            })
            .await;
        match created {
            Ok(rec) => return Ok((rec, k.secret)),
            Err(vigilo_storage::StorageError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        ErrorCode::Internal,
        "cannot make a unique key",
    ))
}

/// Create an API key. The answer holds the secret, shown this once.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "users",
    request_body = CreateKey,
    responses((status = 201, body = CreatedKey),
        (status = 400, body = ErrorResponse, description = "invalid_request"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden, csrf_failed"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn create_key(
    state: State,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKey>,
) -> ApiResult<Response> {
    let lifetime = body.expires_in.as_deref().map(parse_lifetime).transpose()?;
    let actor = caller.actor();
    let (rec, secret) = make_key(
        state.storage.as_ref(),
        &body.name,
        &body.scopes,
        lifetime,
        &actor,
    )
    .await?;
    audit::record(
        &state,
        Entry {
            actor: &actor,
            action: "api_key_created",
            target: Some(&rec.name),
            address: caller.address,
            details: json!({"prefix": rec.prefix, "scopes": rec.scopes, "expires_at": rec.expires_at}),
        },
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: ApiKey::from(&rec),
            secret,
        }),
    )
        .into_response())
}

/// Revoke an API key: refused from now on, kept in the list.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "users",
    params(("id" = i64, Path, description = "API key id")),
    responses((status = 204, description = "Revoked"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden, csrf_failed"),
        (status = 404, body = ErrorResponse, description = "not_found")))]
pub async fn revoke_key(
    state: State,
    caller: Caller,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id("api key", &raw)?;
    let rec = state
        .storage
        .revoke_api_key(id, Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found("api key", id))?;
    state.auth.forget_key(&rec.prefix);
    audit::record(
        &state,
        Entry {
            actor: &caller.actor(),
            action: "api_key_revoked",
            target: Some(&rec.name),
            address: caller.address,
            details: json!({"prefix": rec.prefix}),
        },
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action (`login_failed`, `api_key_created`, …).
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// 1-based page (default 1).
    #[param(schema_with = crate::api::params::page_schema)]
    pub page: Option<u32>,
    /// Entries per page (default 50, at most 500).
    #[param(schema_with = crate::api::params::page_size_schema)]
    pub page_size: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditLogEntry {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub address: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

#[derive(Serialize, ToSchema)]
pub struct AuditLogPage {
    pub items: Vec<AuditLogEntry>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// The audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "users",
    params(AuditParams),
    responses((status = 200, body = AuditLogPage),
        (status = 400, body = ErrorResponse, description = "invalid_query"),
        (status = 401, body = ErrorResponse, description = "unauthenticated, invalid_token"),
        (status = 403, body = ErrorResponse, description = "forbidden: needs audit_read")))]
pub async fn audit_log(
    state: State,
    ApiQuery(q): ApiQuery<AuditParams>,
) -> ApiResult<Json<AuditLogPage>> {
    let (page, page_size) = crate::api::params::paging(q.page, q.page_size)?;
    let page = state
        .storage
        .list_audit(&AuditQuery {
            action: q.action.filter(|s| !s.is_empty()),
            actor: q.actor.filter(|s| !s.is_empty()),
            page,
            page_size,
        })
        .await?;
    Ok(Json(AuditLogPage {
        items: page
            .items
            .into_iter()
            .map(|e| AuditLogEntry {
                id: e.id,
                time: e.time,
                actor: e.actor,
                action: e.action,
                target: e.target,
                address: e.address,
                details: e.details,
            })
            .collect(),
        total: page.total,
        page: page.page,
        page_size: page.page_size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes() {
        assert_eq!(parse_lifetime("30d").ok(), Some(chrono::Duration::days(30)));
        assert_eq!(
            parse_lifetime("90m").ok(),
            Some(chrono::Duration::minutes(90))
        );
        for bad in ["", "d", "30", "0d", "-1d", "30y", "99999999999999w"] {
            assert!(parse_lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(check_username(" ana.b@x ").ok().as_deref(), Some("ana.b@x"));
        assert!(check_username("").is_err());
        assert!(check_username("a b").is_err());
        assert!(check_username(&"a".repeat(65)).is_err());
    }
}
