//! Users, API keys, sessions, the audit trail and preferences.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use vigilo_storage::{
    ApiKeyRecord, AuditEntry, AuditQuery, NewApiKey, NewAuditEntry, NewUser, Page, Result,
    SessionRecord, UserPatch, UserRecord,
};

use crate::not_implemented;

pub(crate) async fn create_user(_pool: &PgPool, _user: NewUser) -> Result<UserRecord> {
    Err(not_implemented("create_user"))
}
pub(crate) async fn get_user(_pool: &PgPool, _id: i64) -> Result<Option<UserRecord>> {
    Err(not_implemented("get_user"))
}
pub(crate) async fn get_user_by_name(_pool: &PgPool, _name: &str) -> Result<Option<UserRecord>> {
    Err(not_implemented("get_user_by_name"))
}
pub(crate) async fn get_user_by_subject(_pool: &PgPool, _s: &str) -> Result<Option<UserRecord>> {
    Err(not_implemented("get_user_by_subject"))
}
pub(crate) async fn list_users(_pool: &PgPool) -> Result<Vec<UserRecord>> {
    Err(not_implemented("list_users"))
}
pub(crate) async fn update_user(
    _pool: &PgPool,
    _id: i64,
    _patch: UserPatch,
) -> Result<Option<UserRecord>> {
    Err(not_implemented("update_user"))
}
pub(crate) async fn record_login(_pool: &PgPool, _id: i64, _at: DateTime<Utc>) -> Result<()> {
    Err(not_implemented("record_login"))
}
pub(crate) async fn count_admins(_pool: &PgPool) -> Result<u64> {
    Err(not_implemented("count_admins"))
}
pub(crate) async fn create_api_key(_pool: &PgPool, _key: NewApiKey) -> Result<ApiKeyRecord> {
    Err(not_implemented("create_api_key"))
}
pub(crate) async fn api_key_by_prefix(_pool: &PgPool, _p: &str) -> Result<Option<ApiKeyRecord>> {
    Err(not_implemented("api_key_by_prefix"))
}
pub(crate) async fn list_api_keys(_pool: &PgPool) -> Result<Vec<ApiKeyRecord>> {
    Err(not_implemented("list_api_keys"))
}
pub(crate) async fn revoke_api_key(
    _pool: &PgPool,
    _id: i64,
    _at: DateTime<Utc>,
) -> Result<Option<ApiKeyRecord>> {
    Err(not_implemented("revoke_api_key"))
}
pub(crate) async fn touch_api_key(_pool: &PgPool, _id: i64, _at: DateTime<Utc>) -> Result<()> {
    Err(not_implemented("touch_api_key"))
}
pub(crate) async fn create_session(_pool: &PgPool, _s: &SessionRecord) -> Result<()> {
    Err(not_implemented("create_session"))
}
pub(crate) async fn get_session(_pool: &PgPool, _id: &str) -> Result<Option<SessionRecord>> {
    Err(not_implemented("get_session"))
}
pub(crate) async fn rotate_session(
    _pool: &PgPool,
    _id: &str,
    _old: &str,
    _new: &str,
    _at: DateTime<Utc>,
) -> Result<bool> {
    Err(not_implemented("rotate_session"))
}
pub(crate) async fn revoke_session(_pool: &PgPool, _id: &str, _at: DateTime<Utc>) -> Result<bool> {
    Err(not_implemented("revoke_session"))
}
pub(crate) async fn revoke_user_sessions(
    _pool: &PgPool,
    _user: i64,
    _at: DateTime<Utc>,
) -> Result<u64> {
    Err(not_implemented("revoke_user_sessions"))
}
pub(crate) async fn insert_audit(_pool: &PgPool, _e: NewAuditEntry) -> Result<AuditEntry> {
    Err(not_implemented("insert_audit"))
}
pub(crate) async fn list_audit(_pool: &PgPool, _q: &AuditQuery) -> Result<Page<AuditEntry>> {
    Err(not_implemented("list_audit"))
}
pub(crate) async fn get_preferences(
    _pool: &PgPool,
    _user: i64,
) -> Result<Option<serde_json::Value>> {
    Err(not_implemented("get_preferences"))
}
pub(crate) async fn set_preferences(
    _pool: &PgPool,
    _user: i64,
    _prefs: &serde_json::Value,
) -> Result<()> {
    Err(not_implemented("set_preferences"))
}
