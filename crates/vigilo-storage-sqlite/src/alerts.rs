//! Alert state: notification groups, notifications and silences.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use vigilo_storage::{
    AlertCommit, AlertGroup, NewSilence, Notification, NotificationAttempt, NotificationKind,
    NotificationQuery, NotificationStatus, Page, Result, Silence, StorageError,
};

use crate::codec::{
    col, count_col, like_pattern, micros, paging, parse_json, time_col, time_from_micros, to_json,
};
use crate::{SqliteStorage, db_err};

const NOTIFICATION_COLUMNS: &str = "id, receiver, route, group_key, kind, finding_ids, status, \
     attempts, last_error, created_at, sent_at, title, body, silence_id";

fn opt_time(row: &SqliteRow, name: &str) -> Result<Option<DateTime<Utc>>> {
    col::<Option<i64>>(row, name)?
        .map(|v| time_from_micros(v, name))
        .transpose()
}

fn notification(row: &SqliteRow) -> Result<Notification> {
    let kind: String = col(row, "kind")?;
    let status: String = col(row, "status")?;
    let ids: String = col(row, "finding_ids")?;
    let body: String = col(row, "body")?;
    let attempts: i64 = col(row, "attempts")?;
    Ok(Notification {
        id: col(row, "id")?,
        receiver: col(row, "receiver")?,
        route: col(row, "route")?,
        group_key: col(row, "group_key")?,
        kind: NotificationKind::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("notification kind {kind:?}")))?,
        finding_ids: parse_json(&ids, "finding_ids")?,
        status: NotificationStatus::parse(&status)
            .ok_or_else(|| StorageError::Corrupt(format!("notification status {status:?}")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StorageError::Corrupt(format!("attempts {attempts}")))?,
        last_error: col(row, "last_error")?,
        created_at: time_col(row, "created_at")?,
        sent_at: opt_time(row, "sent_at")?,
        title: col(row, "title")?,
        body: parse_json(&body, "body")?,
        silence_id: col(row, "silence_id")?,
    })
}

fn silence(row: &SqliteRow) -> Result<Silence> {
    let matchers: String = col(row, "matchers")?;
    Ok(Silence {
        id: col(row, "id")?,
        matchers: parse_json(&matchers, "matchers")?,
        starts_at: time_col(row, "starts_at")?,
        ends_at: time_col(row, "ends_at")?,
        created_by: col(row, "created_by")?,
        comment: col(row, "comment")?,
        created_at: time_col(row, "created_at")?,
        expired_at: opt_time(row, "expired_at")?,
        start_announced: col::<i64>(row, "start_announced")? != 0,
        end_announced: col::<i64>(row, "end_announced")? != 0,
    })
}

pub(crate) async fn alert_groups(pool: &SqlitePool) -> Result<Vec<AlertGroup>> {
    let rows = sqlx::query("SELECT key, state, updated_at FROM alert_groups ORDER BY key")
        .fetch_all(pool)
        .await
        .map_err(db_err("read alert groups"))?;
    rows.iter()
        .map(|r| {
            let state: String = col(r, "state")?;
            Ok(AlertGroup {
                key: col(r, "key")?,
                state: parse_json(&state, "state")?,
                updated_at: time_col(r, "updated_at")?,
            })
        })
        .collect()
}

pub(crate) async fn commit_alerts(
    store: &SqliteStorage,
    c: AlertCommit,
) -> Result<Vec<Notification>> {
    let mut encoded = Vec::with_capacity(c.groups.len());
    for g in &c.groups {
        encoded.push((
            g.key.clone(),
            to_json(&g.state, "alert group")?,
            micros(g.updated_at),
        ));
    }
    let mut bodies = Vec::with_capacity(c.notifications.len());
    for n in &c.notifications {
        bodies.push((
            to_json(&n.finding_ids, "finding ids")?,
            to_json(&n.body, "notification body")?,
        ));
    }
    let ids = store
        .write_tx(|db| {
            {
                let mut up = db
                    .prepare_cached(
                        "INSERT INTO alert_groups (key, state, updated_at) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (key) DO UPDATE SET state = excluded.state, \
                         updated_at = excluded.updated_at",
                    )
                    .map_err(db_err("prepare alert group write"))?;
                for (k, s, t) in &encoded {
                    up.execute(rusqlite::params![k, s, t])
                        .map_err(db_err("write alert group"))?;
                }
            }
            for k in &c.removed_groups {
                db.execute("DELETE FROM alert_groups WHERE key = ?1", [k])
                    .map_err(db_err("remove alert group"))?;
            }
            let mut ids = Vec::with_capacity(c.notifications.len());
            for (n, (fids, body)) in c.notifications.iter().zip(&bodies) {
                db.execute(
                    "INSERT INTO alert_notifications (receiver, route, group_key, kind, \
                     finding_ids, status, attempts, created_at, title, body, silence_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?8, ?9, ?10)",
                    rusqlite::params![
                        n.receiver,
                        n.route,
                        n.group_key,
                        n.kind.as_str(),
                        fids,
                        n.status.as_str(),
                        micros(n.created_at),
                        n.title,
                        body,
                        n.silence_id
                    ],
                )
                .map_err(db_err("insert notification"))?;
                let id = db.last_insert_rowid();
                for f in &n.finding_ids {
                    db.execute(
                        "INSERT OR IGNORE INTO alert_notification_findings \
                         (finding_id, notification_id) VALUES (?1, ?2)",
                        rusqlite::params![f, id],
                    )
                    .map_err(db_err("index notification finding"))?;
                }
                ids.push(id);
            }
            for (id, start, end) in &c.silences_announced {
                db.execute(
                    "UPDATE alert_silences SET start_announced = MAX(start_announced, ?2), \
                     end_announced = MAX(end_announced, ?3) WHERE id = ?1",
                    rusqlite::params![id, i64::from(*start), i64::from(*end)],
                )
                .map_err(db_err("mark silence announced"))?;
            }
            if let Some((consumer, pos)) = &c.position {
                db.execute(
                    "INSERT INTO consumer_positions (consumer, position) VALUES (?1, ?2) \
                     ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
                    rusqlite::params![consumer, pos],
                )
                .map_err(db_err("write consumer position"))?;
            }
            Ok(ids)
        })
        .await?;
    c.notifications
        .into_iter()
        .zip(ids)
        .map(|(n, id)| {
            Ok(Notification {
                id,
                receiver: n.receiver,
                route: n.route,
                group_key: n.group_key,
                kind: n.kind,
                finding_ids: n.finding_ids,
                status: n.status,
                attempts: 0,
                last_error: None,
                created_at: time_from_micros(micros(n.created_at), "created_at")?,
                sent_at: None,
                title: n.title,
                body: n.body,
                silence_id: n.silence_id,
            })
        })
        .collect()
}

pub(crate) async fn record_attempt(
    store: &SqliteStorage,
    id: i64,
    a: NotificationAttempt,
) -> Result<Option<Notification>> {
    let changed = store
        .write_tx(|db| {
            db.execute(
                "UPDATE alert_notifications SET status = ?2, attempts = ?3, last_error = ?4, \
                 sent_at = COALESCE(?5, sent_at) WHERE id = ?1",
                rusqlite::params![
                    id,
                    a.status.as_str(),
                    i64::from(a.attempts),
                    a.last_error,
                    a.sent_at.map(micros)
                ],
            )
            .map_err(db_err("record notification attempt"))
        })
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    get_notification(&store.read, id).await
}

pub(crate) async fn get_notification(pool: &SqlitePool, id: i64) -> Result<Option<Notification>> {
    let row = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read notification"))?;
    row.as_ref().map(notification).transpose()
}

pub(crate) async fn list_notifications(
    pool: &SqlitePool,
    q: &NotificationQuery,
) -> Result<Page<Notification>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    let filter = "(?1 IS NULL OR receiver = ?1) AND (?2 IS NULL OR route = ?2) \
         AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR kind = ?4) \
         AND (?5 IS NULL OR id IN (SELECT notification_id FROM alert_notification_findings \
              WHERE finding_id = ?5)) \
         AND (?6 IS NULL OR title LIKE ?6 ESCAPE '\\' OR body LIKE ?6 ESCAPE '\\' \
              OR group_key LIKE ?6 ESCAPE '\\' OR COALESCE(last_error, '') LIKE ?6 ESCAPE '\\')";
    let like = q.q.as_deref().filter(|s| !s.is_empty()).map(like_pattern);
    let status = q.status.map(|s| s.as_str());
    let kind = q.kind.map(|k| k.as_str());
    let total = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM alert_notifications WHERE {filter}"
    ))
    .bind(q.receiver.as_deref())
    .bind(q.route.as_deref())
    .bind(status)
    .bind(kind)
    .bind(q.finding_id)
    .bind(like.as_deref())
    .fetch_one(pool)
    .await
    .map_err(db_err("count notifications"))?;
    let total = count_col(&total, "n")?;
    let rows = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE {filter} \
         ORDER BY id DESC LIMIT ?7 OFFSET ?8"
    ))
    .bind(q.receiver.as_deref())
    .bind(q.route.as_deref())
    .bind(status)
    .bind(kind)
    .bind(q.finding_id)
    .bind(like.as_deref())
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(pool)
    .await
    .map_err(db_err("list notifications"))?;
    Ok(Page {
        items: rows.iter().map(notification).collect::<Result<_>>()?,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn pending_notifications(
    pool: &SqlitePool,
    limit: u32,
) -> Result<Vec<Notification>> {
    let rows = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE status = 'pending' \
         ORDER BY id LIMIT ?1"
    ))
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(pool)
    .await
    .map_err(db_err("read pending notifications"))?;
    rows.iter().map(notification).collect()
}

pub(crate) async fn create_silence(store: &SqliteStorage, s: NewSilence) -> Result<Silence> {
    let matchers = to_json(&s.matchers, "silence matchers")?;
    let id = store
        .write_tx(|db| {
            db.execute(
                "INSERT INTO alert_silences (matchers, starts_at, ends_at, created_by, comment, \
                 created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    matchers,
                    micros(s.starts_at),
                    micros(s.ends_at),
                    s.created_by,
                    s.comment,
                    micros(s.created_at)
                ],
            )
            .map_err(db_err("insert silence"))?;
            Ok(db.last_insert_rowid())
        })
        .await?;
    get_silence(&store.read, id)
        .await?
        .ok_or_else(|| StorageError::Database(format!("silence {id} vanished after insert")))
}

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, created_by, comment, \
     created_at, expired_at, start_announced, end_announced";

pub(crate) async fn get_silence(pool: &SqlitePool, id: i64) -> Result<Option<Silence>> {
    let row = sqlx::query(&format!(
        "SELECT {SILENCE_COLUMNS} FROM alert_silences WHERE id = ?1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read silence"))?;
    row.as_ref().map(silence).transpose()
}

pub(crate) async fn list_silences(pool: &SqlitePool) -> Result<Vec<Silence>> {
    let rows = sqlx::query(&format!(
        "SELECT {SILENCE_COLUMNS} FROM alert_silences ORDER BY id DESC"
    ))
    .fetch_all(pool)
    .await
    .map_err(db_err("list silences"))?;
    rows.iter().map(silence).collect()
}

pub(crate) async fn expire_silence(
    store: &SqliteStorage,
    id: i64,
    at: DateTime<Utc>,
) -> Result<Option<Silence>> {
    let changed = store
        .write_tx(|db| {
            db.execute(
                "UPDATE alert_silences SET ends_at = MIN(ends_at, ?2), \
                 expired_at = COALESCE(expired_at, ?2) WHERE id = ?1",
                rusqlite::params![id, micros(at)],
            )
            .map_err(db_err("expire silence"))
        })
        .await?;
    if changed == 0 {
        return Ok(None);
    }
    get_silence(&store.read, id).await
}
