//! Users, API keys, sessions, the audit trail and preferences.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use vigilo_storage::{
    ApiKeyRecord, AuditEntry, AuditQuery, NewApiKey, NewAuditEntry, NewUser, Page, Result,
    SessionRecord, StorageError, UserPatch, UserRecord,
};

use crate::codec::{
    col, count_col, micros, paging, parse_json, time_col, time_from_micros, to_json,
};
use crate::{SqliteStorage, db_err};

const USER_COLUMNS: &str = "id, username, role, email, source, oidc_subject, password_hash, \
                            disabled, created_at, last_login_at";

fn opt_time(row: &SqliteRow, name: &str) -> Result<Option<DateTime<Utc>>> {
    col::<Option<i64>>(row, name)?
        .map(|v| time_from_micros(v, name))
        .transpose()
}

fn user(row: &SqliteRow) -> Result<UserRecord> {
    Ok(UserRecord {
        id: col(row, "id")?,
        username: col(row, "username")?,
        role: col(row, "role")?,
        email: col(row, "email")?,
        source: col(row, "source")?,
        oidc_subject: col(row, "oidc_subject")?,
        password_hash: col(row, "password_hash")?,
        disabled: col::<i64>(row, "disabled")? != 0,
        created_at: time_col(row, "created_at")?,
        last_login_at: opt_time(row, "last_login_at")?,
    })
}

/// A uniqueness failure of rusqlite as [`StorageError::Conflict`].
fn conflict_or(
    field: &'static str,
    what: &'static str,
) -> impl Fn(rusqlite::Error) -> StorageError {
    move |e| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StorageError::Conflict { field }
        }
        _ => db_err(what)(e),
    }
}

pub(crate) async fn create_user(store: &SqliteStorage, u: NewUser) -> Result<UserRecord> {
    let key = u.username.to_lowercase();
    let subject_taken = match &u.oidc_subject {
        Some(s) => get_user_by_subject(&store.read, s).await?.is_some(),
        None => false,
    };
    if subject_taken {
        return Err(StorageError::Conflict {
            field: "oidc_subject",
        });
    }
    let id = store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO users (username, username_key, role, email, source, oidc_subject, \
                 password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    u.username,
                    key,
                    u.role,
                    u.email,
                    u.source,
                    u.oidc_subject,
                    u.password_hash,
                    micros(u.created_at)
                ],
            )
            .map_err(conflict_or("username", "create user"))?;
            Ok(db.last_insert_rowid())
        })
        .await?;
    Ok(UserRecord {
        id,
        username: u.username,
        role: u.role,
        email: u.email,
        source: u.source,
        oidc_subject: u.oidc_subject,
        password_hash: u.password_hash,
        disabled: false,
        created_at: u.created_at,
        last_login_at: None,
    })
}

/// A value a lookup binds: an id or a text key.
trait Key: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + 'static {}
impl Key for i64 {}
impl Key for String {}

/// The one row of `table` whose `column` is `value`, read by `map`.
async fn row_where<T>(
    pool: &SqlitePool,
    columns: &str,
    table: &str,
    column: &str,
    value: impl Key,
    map: fn(&SqliteRow) -> Result<T>,
) -> Result<Option<T>> {
    let sql = format!("SELECT {columns} FROM {table} WHERE {column} = ?1");
    sqlx::query(&sql)
        .bind(value)
        .fetch_optional(pool)
        .await
        .map_err(db_err("read by key"))?
        .as_ref()
        .map(map)
        .transpose()
}

pub(crate) async fn get_user(pool: &SqlitePool, id: i64) -> Result<Option<UserRecord>> {
    row_where(pool, USER_COLUMNS, "users", "id", id, user).await
}

pub(crate) async fn get_user_by_name(pool: &SqlitePool, name: &str) -> Result<Option<UserRecord>> {
    row_where(
        pool,
        USER_COLUMNS,
        "users",
        "username_key",
        name.to_lowercase(),
        user,
    )
    .await
}

pub(crate) async fn get_user_by_subject(
    pool: &SqlitePool,
    subject: &str,
) -> Result<Option<UserRecord>> {
    row_where(
        pool,
        USER_COLUMNS,
        "users",
        "oidc_subject",
        subject.to_string(),
        user,
    )
    .await
}

pub(crate) async fn list_users(pool: &SqlitePool) -> Result<Vec<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY id");
    sqlx::query(&sql)
        .fetch_all(pool)
        .await
        .map_err(db_err("list users"))?
        .iter()
        .map(user)
        .collect()
}

pub(crate) async fn update_user(
    store: &SqliteStorage,
    id: i64,
    p: UserPatch,
) -> Result<Option<UserRecord>> {
    let changed = store
        .write_tx(|db| {
            let n = db
                .execute(
                    "UPDATE users SET role = COALESCE(?2, role), \
                     password_hash = COALESCE(?3, password_hash), \
                     disabled = COALESCE(?4, disabled), \
                     email = CASE WHEN ?5 THEN ?6 ELSE email END WHERE id = ?1",
                    rusqlite::params![
                        id,
                        p.role,
                        p.password_hash,
                        p.disabled.map(i64::from),
                        p.email.is_some(),
                        p.email.clone().flatten()
                    ],
                )
                .map_err(db_err("update user"))?;
            Ok(n > 0)
        })
        .await?;
    if !changed {
        return Ok(None);
    }
    get_user(&store.write, id).await
}

pub(crate) async fn record_login(store: &SqliteStorage, id: i64, at: DateTime<Utc>) -> Result<()> {
    store
        .write_tx(|db| {
            db.execute(
                "UPDATE users SET last_login_at = ?2 WHERE id = ?1",
                rusqlite::params![id, micros(at)],
            )
            .map_err(db_err("record login"))?;
            Ok(())
        })
        .await
}

pub(crate) async fn count_admins(pool: &SqlitePool) -> Result<u64> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")
        .fetch_one(pool)
        .await
        .map_err(db_err("count admins"))?;
    count_col(&row, "n")
}

fn api_key(row: &SqliteRow) -> Result<ApiKeyRecord> {
    let scopes: String = col(row, "scopes")?;
    Ok(ApiKeyRecord {
        id: col(row, "id")?,
        name: col(row, "name")?,
        prefix: col(row, "prefix")?,
        hash: col(row, "hash")?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: time_col(row, "created_at")?,
        created_by: col(row, "created_by")?,
        expires_at: opt_time(row, "expires_at")?,
        last_used_at: opt_time(row, "last_used_at")?,
        revoked_at: opt_time(row, "revoked_at")?,
    })
}

const KEY_COLUMNS: &str =
    "id, name, prefix, hash, scopes, created_at, created_by, expires_at, last_used_at, revoked_at";

pub(crate) async fn create_api_key(store: &SqliteStorage, k: NewApiKey) -> Result<ApiKeyRecord> {
    let scopes = k.scopes.join(",");
    let id = store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO api_keys (name, prefix, hash, scopes, created_at, created_by, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![
                    k.name,
                    k.prefix,
                    k.hash,
                    scopes,
                    micros(k.created_at),
                    k.created_by,
                    k.expires_at.map(micros)
                ],
            )
            .map_err(conflict_or("prefix", "create api key"))?;
            Ok(db.last_insert_rowid())
        })
        .await?;
    Ok(ApiKeyRecord {
        id,
        name: k.name,
        prefix: k.prefix,
        hash: k.hash,
        scopes: k.scopes,
        created_at: k.created_at,
        created_by: k.created_by,
        expires_at: k.expires_at,
        last_used_at: None,
        revoked_at: None,
    })
}

pub(crate) async fn api_key_by_prefix(
    pool: &SqlitePool,
    prefix: &str,
) -> Result<Option<ApiKeyRecord>> {
    row_where(
        pool,
        KEY_COLUMNS,
        "api_keys",
        "prefix",
        prefix.to_string(),
        api_key,
    )
    .await
}

pub(crate) async fn list_api_keys(pool: &SqlitePool) -> Result<Vec<ApiKeyRecord>> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY id DESC");
    sqlx::query(&sql)
        .fetch_all(pool)
        .await
        .map_err(db_err("list api keys"))?
        .iter()
        .map(api_key)
        .collect()
}

pub(crate) async fn revoke_api_key(
    store: &SqliteStorage,
    id: i64,
    at: DateTime<Utc>,
) -> Result<Option<ApiKeyRecord>> {
    store
        .write_tx(|db| {
            db.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                rusqlite::params![id, micros(at)],
            )
            .map_err(db_err("revoke api key"))?;
            Ok(())
        })
        .await?;
    row_where(&store.write, KEY_COLUMNS, "api_keys", "id", id, api_key).await
}

pub(crate) async fn touch_api_key(store: &SqliteStorage, id: i64, at: DateTime<Utc>) -> Result<()> {
    store
        .write_tx(|db| {
            db.execute(
                "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                rusqlite::params![id, micros(at)],
            )
            .map_err(db_err("touch api key"))?;
            Ok(())
        })
        .await
}

pub(crate) async fn create_session(store: &SqliteStorage, s: &SessionRecord) -> Result<()> {
    store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, \
                 expires_at, revoked_at, address) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    s.id,
                    s.user_id,
                    s.refresh_hash,
                    micros(s.created_at),
                    micros(s.refreshed_at),
                    micros(s.expires_at),
                    s.revoked_at.map(micros),
                    s.address
                ],
            )
            .map_err(conflict_or("session", "create session"))?;
            Ok(())
        })
        .await
}

pub(crate) async fn get_session(pool: &SqlitePool, id: &str) -> Result<Option<SessionRecord>> {
    let row = sqlx::query(
        "SELECT id, user_id, refresh_hash, created_at, refreshed_at, expires_at, revoked_at, \
         address FROM sessions WHERE id = ?1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read session"))?;
    row.map(|r| {
        Ok(SessionRecord {
            id: col(&r, "id")?,
            user_id: col(&r, "user_id")?,
            refresh_hash: col(&r, "refresh_hash")?,
            created_at: time_col(&r, "created_at")?,
            refreshed_at: time_col(&r, "refreshed_at")?,
            expires_at: time_col(&r, "expires_at")?,
            revoked_at: opt_time(&r, "revoked_at")?,
            address: col(&r, "address")?,
        })
    })
    .transpose()
}

pub(crate) async fn rotate_session(
    store: &SqliteStorage,
    id: &str,
    old_hash: &str,
    new_hash: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    store
        .write_tx(|db| {
            let n = db
                .execute(
                    "UPDATE sessions SET refresh_hash = ?3, refreshed_at = ?4 WHERE id = ?1 \
                     AND refresh_hash = ?2 AND revoked_at IS NULL AND expires_at > ?4",
                    rusqlite::params![id, old_hash, new_hash, micros(at)],
                )
                .map_err(db_err("rotate session"))?;
            Ok(n == 1)
        })
        .await
}

pub(crate) async fn revoke_session(
    store: &SqliteStorage,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    store
        .write_tx(|db| {
            let n = db
                .execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                    rusqlite::params![id, micros(at)],
                )
                .map_err(db_err("revoke session"))?;
            Ok(n == 1)
        })
        .await
}

pub(crate) async fn revoke_user_sessions(
    store: &SqliteStorage,
    user_id: i64,
    at: DateTime<Utc>,
) -> Result<u64> {
    store
        .write_tx(|db| {
            let n = db
                .execute(
                    "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
                    rusqlite::params![user_id, micros(at)],
                )
                .map_err(db_err("revoke sessions"))?;
            Ok(n as u64)
        })
        .await
}

pub(crate) async fn insert_audit(store: &SqliteStorage, e: NewAuditEntry) -> Result<AuditEntry> {
    let details = to_json(&e.details, "audit details")?;
    let id = store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO audit_log (time, actor, action, target, address, details) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    micros(e.time),
                    e.actor,
                    e.action,
                    e.target,
                    e.address,
                    details
                ],
            )
            .map_err(db_err("insert audit entry"))?;
            Ok(db.last_insert_rowid())
        })
        .await?;
    Ok(AuditEntry {
        id,
        time: e.time,
        actor: e.actor,
        action: e.action,
        target: e.target,
        address: e.address,
        details: e.details,
    })
}

pub(crate) async fn list_audit(pool: &SqlitePool, q: &AuditQuery) -> Result<Page<AuditEntry>> {
    let (page, size, offset) = paging(q.page, q.page_size);
    let cond = "(?1 IS NULL OR action = ?1) AND (?2 IS NULL OR actor = ?2)";
    let total = sqlx::query(&format!("SELECT COUNT(*) AS n FROM audit_log WHERE {cond}"))
        .bind(&q.action)
        .bind(&q.actor)
        .fetch_one(pool)
        .await
        .map_err(db_err("count audit entries"))?;
    let rows = sqlx::query(&format!(
        "SELECT id, time, actor, action, target, address, details FROM audit_log \
         WHERE {cond} ORDER BY id DESC LIMIT ?3 OFFSET ?4"
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
            let details: String = col(r, "details")?;
            Ok(AuditEntry {
                id: col(r, "id")?,
                time: time_col(r, "time")?,
                actor: col(r, "actor")?,
                action: col(r, "action")?,
                target: col(r, "target")?,
                address: col(r, "address")?,
                details: parse_json(&details, "details")?,
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

pub(crate) async fn get_preferences(
    pool: &SqlitePool,
    user_id: i64,
) -> Result<Option<serde_json::Value>> {
    let row = sqlx::query("SELECT preferences FROM users WHERE id = ?1")
        .bind(user_id)
        .fetch_optional(pool)
        .await
        .map_err(db_err("read preferences"))?;
    match row {
        Some(r) => col::<Option<String>>(&r, "preferences")?
            .map(|s| parse_json(&s, "preferences"))
            .transpose(),
        None => Ok(None),
    }
}

pub(crate) async fn set_preferences(
    store: &SqliteStorage,
    user_id: i64,
    prefs: &serde_json::Value,
) -> Result<()> {
    let text = to_json(prefs, "preferences")?;
    store
        .write_tx(|db| {
            db.execute(
                "UPDATE users SET preferences = ?2 WHERE id = ?1",
                rusqlite::params![user_id, text],
            )
            .map_err(db_err("write preferences"))?;
            Ok(())
        })
        .await
}
