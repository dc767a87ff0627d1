//! Users, API keys, sessions, the audit trail and preferences, as stored.
//! Roles and scopes are kept as their names; the server parses them.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A user as stored, password hash included.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub email: Option<String>,
    /// `password` or `oidc`.
    pub source: String,
    /// `<provider>:<subject>` for users from single sign-on.
    pub oidc_subject: Option<String>,
    /// An argon2id PHC string; none for single sign-on users.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    pub username: String,
    pub role: String,
    pub email: Option<String>,
    pub source: String,
    pub oidc_subject: Option<String>,
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserPatch {
    pub role: Option<String>,
    pub password_hash: Option<String>,
    pub disabled: Option<bool>,
    pub email: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub name: String,
    /// `vgl_<id>`: shown, and how a presented key is looked up.
    pub prefix: String,
    /// SHA-256 of the whole key.
    pub hash: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    pub name: String,
    pub prefix: String,
    pub hash: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A sign-in session: what a refresh token renews and logout revokes.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Random, public (it is in the session token).
    pub id: String,
    pub user_id: i64,
    /// SHA-256 of the current refresh token; rotated on each refresh.
    pub refresh_hash: String,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: DateTime<Utc>,
    /// Absolute end: no refresh past it.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub address: Option<String>,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub time: DateTime<Utc>,
    pub actor: String,
    /// `login`, `login_failed`, `logout`, `user_created`, `role_changed`,
    /// `api_key_created`, `api_key_revoked`, `finding_changed`,
    /// `rules_reloaded`, …
    pub action: String,
    pub target: Option<String>,
    pub address: Option<String>,
    pub details: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub time: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub address: Option<String>,
    pub details: Value,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<String>,
    /// 1-based.
    pub page: u32,
    pub page_size: u32,
}
