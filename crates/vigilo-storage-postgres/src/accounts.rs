//! Users, API keys, sessions, the audit trail and preferences.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgRow;
use vigilo_storage::{
    ApiKeyRecord, AuditEntry, AuditQuery, NewApiKey, NewAuditEntry, NewUser, Page, Result,
    SessionRecord, StorageError, UserPatch, UserRecord,
};

use crate::codec::{col, count_col, json_col, paging, to_json};
use crate::db_err;

const USER_COLUMNS: &str = "id, username, role, email, source, oidc_subject, password_hash, \
     disabled, created_at, last_login_at";

const KEY_COLUMNS: &str =
    "id, name, prefix, hash, scopes, created_at, created_by, expires_at, last_used_at, revoked_at";

const SESSION_COLUMNS: &str =
    "id, user_id, refresh_hash, created_at, refreshed_at, expires_at, revoked_at, address";

fn user(row: &PgRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: col(row, "id")?,
        username: col(row, "username")?,
        role: col(row, "role")?,
        email: col(row, "email")?,
        source: col(row, "source")?,
        oidc_subject: col(row, "oidc_subject")?,
        password_hash: col(row, "password_hash")?,
        disabled: col(row, "disabled")?,
        created_at: col(row, "created_at")?,
        last_login_at: col(row, "last_login_at")?,
    })
}

fn api_key(row: &PgRow) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: col(row, "id")?,
        name: col(row, "name")?,
        prefix: col(row, "prefix")?,
        hash: col(row, "hash")?,
        scopes: col(row, "scopes")?,
        created_at: col(row, "created_at")?,
        created_by: col(row, "created_by")?,
        expires_at: col(row, "expires_at")?,
        last_used_at: col(row, "last_used_at")?,
        revoked_at: col(row, "revoked_at")?,
    })
}

fn session(row: &PgRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: col(row, "id")?,
        user_id: col(row, "user_id")?,
        refresh_hash: col(row, "refresh_hash")?,
        created_at: col(row, "created_at")?,
        refreshed_at: col(row, "refreshed_at")?,
        expires_at: col(row, "expires_at")?,
        revoked_at: col(row, "revoked_at")?,
        address: col(row, "address")?,
    })
}

/// A unique violation of one of `fields` ((constraint, field) pairs) as
/// [`StorageError::Conflict`], anything else as a database error.
fn conflict_or(
    fields: &'static [(&'static str, &'static str)],
    what: &'static str,
) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |e| {
        if let Some(d) = e.as_database_error()
            && d.is_unique_violation()
        {
            let constraint = d.constraint().unwrap_or("");
            if let Some((_, field)) = fields.iter().find(|(c, _)| *c == constraint) {
                return StorageError::Conflict { field };
            }
        }
        db_err(what)(e)
    }
}

pub(crate) async fn create_user(pool: &PgPool, u: NewUser) -> Result<UserRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO users (username, role, email, source, oidc_subject, password_hash, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USER_COLUMNS}"
    ))
    .bind(&u.username)
    .bind(&u.role)
    .bind(&u.email)
    .bind(&u.source)
    .bind(&u.oidc_subject)
    .bind(&u.password_hash)
    .bind(u.created_at)
    .fetch_one(pool)
    .await
    .map_err(conflict_or(
        &[
            ("users_username_lower", "username"),
            ("users_oidc_subject", "oidc_subject"),
        ],
        "create user",
    ))?;
    user(&row)
}

async fn user_where<T>(pool: &PgPool, cond: &str, value: T) -> Result<Option<UserRecord>>
where
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE {cond}"))
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(db_err("read user"))?;
    row.as_ref().map(user).transpose()
}

pub(crate) async fn get_user(pool: &PgPool, id: i64) -> Result<Option<UserRecord>> {
    user_where(pool, "id = $1", id).await
}

pub(crate) async fn get_user_by_name(pool: &PgPool, name: &str) -> Result<Option<UserRecord>> {
    user_where(pool, "lower(username) = lower($1)", name).await
}

pub(crate) async fn get_user_by_subject(pool: &PgPool, s: &str) -> Result<Option<UserRecord>> {
    user_where(pool, "oidc_subject = $1", s).await
}

pub(crate) async fn list_users(pool: &PgPool) -> Result<Vec<UserRecord>> {
    let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
        .fetch_all(pool)
        .await
        .map_err(db_err("list users"))?;
    rows.iter().map(user).collect()
}

pub(crate) async fn update_user(
    pool: &PgPool,
    id: i64,
    p: UserPatch,
) -> Result<Option<UserRecord>> {
    let row = sqlx::query(&format!(
        "UPDATE users SET role = COALESCE($2, role), \
         password_hash = COALESCE($3, password_hash), \
         disabled = COALESCE($4, disabled), \
         email = CASE WHEN $5 THEN $6 ELSE email END WHERE id = $1 RETURNING {USER_COLUMNS}"
    ))
    .bind(id)
    .bind(&p.role)
    .bind(&p.password_hash)
    .bind(p.disabled)
    .bind(p.email.is_some())
    .bind(p.email.clone().flatten())
    .fetch_optional(pool)
    .await
    .map_err(db_err("update user"))?;
    row.as_ref().map(user).transpose()
}

pub(crate) async fn record_login(pool: &PgPool, id: i64, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE users SET last_login_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map_err(db_err("record login"))?;
    Ok(())
}

pub(crate) async fn count_admins(pool: &PgPool) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND NOT disabled")
        .fetch_one(pool)
        .await
        .map_err(db_err("count admins"))?;
    count_col(&row, "n")
}

pub(crate) async fn create_api_key(pool: &PgPool, k: NewApiKey) -> Result<ApiKeyRecord> {
    let row = sqlx::query(&format!(
        "INSERT INTO api_keys (name, prefix, hash, scopes, created_at, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
    ))
    .bind(&k.name)
    .bind(&k.prefix)
    .bind(&k.hash)
    .bind(&k.scopes)
    .bind(k.created_at)
    .bind(&k.created_by)
    .bind(k.expires_at)
    .fetch_one(pool)
    .await
    .map_err(conflict_or(
        &[("api_keys_prefix", "prefix")],
        "create api key",
    ))?;
    api_key(&row)
}

pub(crate) async fn api_key_by_prefix(pool: &PgPool, p: &str) -> Result<Option<ApiKeyRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE prefix = $1"
    ))
    .bind(p)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read api key"))?;
    row.as_ref().map(api_key).transpose()
}

pub(crate) async fn list_api_keys(pool: &PgPool) -> Result<Vec<ApiKeyRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC"
    ))
    .fetch_all(pool)
    .await
    .map_err(db_err("list api keys"))?;
    rows.iter().map(api_key).collect()
}

pub(crate) async fn revoke_api_key(
    pool: &PgPool,
    id: i64,
    at: DateTime<Utc>,
) -> Result<Option<ApiKeyRecord>> {
    let row = sqlx::query(&format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
         RETURNING {KEY_COLUMNS}"
    ))
    .bind(id)
    .bind(at)
    .fetch_optional(pool)
    .await
    .map_err(db_err("revoke api key"))?;
    row.as_ref().map(api_key).transpose()
}

pub(crate) async fn touch_api_key(pool: &PgPool, id: i64, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map_err(db_err("touch api key"))?;
    Ok(())
}

pub(crate) async fn create_session(pool: &PgPool, s: &SessionRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, \
         revoked_at, address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&s.id)
    .bind(s.user_id)
    .bind(&s.refresh_hash)
    .bind(s.created_at)
    .bind(s.refreshed_at)
    .bind(s.expires_at)
    .bind(s.revoked_at)
    .bind(&s.address)
    .execute(pool)
    .await
    .map_err(conflict_or(&[("sessions_id", "session")], "create session"))?;
    Ok(())
}

pub(crate) async fn get_session(pool: &PgPool, id: &str) -> Result<Option<SessionRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read session"))?;
    row.as_ref().map(session).transpose()
}

pub(crate) async fn rotate_session(
    pool: &PgPool,
    id: &str,
    old: &str,
    new: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE sessions SET refresh_hash = $3, refreshed_at = $4 WHERE id = $1 \
         AND refresh_hash = $2 AND revoked_at IS NULL AND expires_at > $4",
    )
    .bind(id)
    .bind(old)
    .bind(new)
    .bind(at)
    .execute(pool)
    .await
    .map_err(db_err("rotate session"))?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn revoke_session(pool: &PgPool, id: &str, at: DateTime<Utc>) -> Result<bool> {
    let r = sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .map_err(db_err("revoke session"))?;
    Ok(r.rows_affected() == 1)
}

pub(crate) async fn revoke_user_sessions(
    pool: &PgPool,
    user: i64,
    at: DateTime<Utc>,
) -> Result<u64> {
    let r = sqlx::query(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .bind(at)
    .execute(pool)
    .await
    .map_err(db_err("revoke user sessions"))?;
    Ok(r.rows_affected())
}

pub(crate) async fn insert_audit(pool: &PgPool, e: NewAuditEntry) -> Result<AuditEntry> {
    let details = to_json(&e.details, "audit details")?;
    let (id, time): (i64, DateTime<Utc>) = sqlx::query_as(
        "INSERT INTO audit_log (time, actor, action, target, address, details) \
         VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id, time",
    )
    .bind(e.time)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.address)
    .bind(details)
    .fetch_one(pool)
    .await
    .map_err(db_err("insert audit entry"))?;
    Ok(AuditEntry {
        id,
        time,
        actor: e.actor,
        action: e.action,
        target: e.target,
        address: e.address,
        details: e.details,
    })
}

pub(crate) async fn list_audit(pool: &PgPool, q: &AuditQuery) -> Result<Page<AuditEntry>> {
    let (page, size, offset) = paging(q.page, q.page_size);
    let cond = "($1::text IS NULL OR action = $1) AND ($2::text IS NULL OR actor = $2)";
    let total = sqlx::query(&format!("SELECT COUNT(*) AS n FROM audit_log WHERE {cond}"))
        .bind(&q.action)
        .bind(&q.actor)
        .fetch_one(pool)
        .await
        .map_err(db_err("count audit entries"))?;
    let rows = sqlx::query(&format!(
        "SELECT id, time, actor, action, target, address, details::text AS details \
         FROM audit_log WHERE {cond} ORDER BY id DESC LIMIT $3 OFFSET $4"
    ))
    .bind(&q.action)
    .bind(&q.actor)
    .bind(i64::from(size))
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(db_err("list audit entries"))?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                id: col(r, "id")?,
                time: col(r, "time")?,
                actor: col(r, "actor")?,
                action: col(r, "action")?,
                target: col(r, "target")?,
                address: col(r, "address")?,
                details: json_col(r, "details")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: count_col(&total, "n")?,
        page,
        page_size: size,
    })
}

pub(crate) async fn get_preferences(pool: &PgPool, user: i64) -> Result<Option<serde_json::Value>> {
    let prefs: Option<Option<String>> =
        sqlx::query_scalar("SELECT preferences::text FROM users WHERE id = $1")
            .bind(user)
            .fetch_optional(pool)
            .await
            .map_err(db_err("read preferences"))?;
    prefs
        .flatten()
        .map(|s| crate::codec::parse_json(&s, "preferences"))
        .transpose()
}

pub(crate) async fn set_preferences(
    pool: &PgPool,
    user: i64,
    prefs: &serde_json::Value,
) -> Result<()> {
    let text = to_json(prefs, "preferences")?;
    sqlx::query("UPDATE users SET preferences = $2::jsonb WHERE id = $1")
        .bind(user)
        .bind(text)
        .execute(pool)
        .await
        .map_err(db_err("write preferences"))?;
    Ok(())
}
