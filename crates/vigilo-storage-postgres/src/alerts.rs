//! The alerter's state: notification groups, notifications and silences.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use vigilo_storage::{
    AlertCommit, AlertGroup, NewSilence, Notification, NotificationAttempt, NotificationQuery,
    Page, Result, Silence,
};

use crate::{PostgresStorage, not_implemented};

pub(crate) async fn groups(_pool: &PgPool) -> Result<Vec<AlertGroup>> {
    Err(not_implemented("alert_groups"))
}
pub(crate) async fn commit(_s: &PostgresStorage, _c: AlertCommit) -> Result<Vec<Notification>> {
    Err(not_implemented("commit_alerts"))
}
pub(crate) async fn record_attempt(
    _s: &PostgresStorage,
    _id: i64,
    _a: NotificationAttempt,
) -> Result<Option<Notification>> {
    Err(not_implemented("record_notification_attempt"))
}
pub(crate) async fn get(_pool: &PgPool, _id: i64) -> Result<Option<Notification>> {
    Err(not_implemented("get_notification"))
}
pub(crate) async fn list(_pool: &PgPool, _q: &NotificationQuery) -> Result<Page<Notification>> {
    Err(not_implemented("list_notifications"))
}
pub(crate) async fn pending(_pool: &PgPool, _limit: u32) -> Result<Vec<Notification>> {
    Err(not_implemented("pending_notifications"))
}
pub(crate) async fn create_silence(_pool: &PgPool, _s: NewSilence) -> Result<Silence> {
    Err(not_implemented("create_silence"))
}
pub(crate) async fn get_silence(_pool: &PgPool, _id: i64) -> Result<Option<Silence>> {
    Err(not_implemented("get_silence"))
}
pub(crate) async fn list_silences(_pool: &PgPool) -> Result<Vec<Silence>> {
    Err(not_implemented("list_silences"))
}
pub(crate) async fn expire_silence(
    _pool: &PgPool,
    _id: i64,
    _at: DateTime<Utc>,
) -> Result<Option<Silence>> {
    Err(not_implemented("expire_silence"))
}
