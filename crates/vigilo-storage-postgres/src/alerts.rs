//! The alerter's state: notification groups, notifications and silences.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::PgRow;
use vigilo_storage::{
    AlertCommit, AlertGroup, NewSilence, Notification, NotificationAttempt, NotificationKind,
    NotificationQuery, NotificationStatus, Page, Result, Silence, StorageError,
};

use crate::codec::{col, count_col, json_col, like_pattern, paging, parse_json, to_json};
use crate::{PostgresStorage, db_err};

const NOTIFICATION_COLUMNS: &str = "id, receiver, route, group_key, kind, finding_ids, status, \
     attempts, last_error, created_at, sent_at, title, body::text AS body, silence_id";

const SILENCE_COLUMNS: &str = "id, matchers::text AS matchers, starts_at, ends_at, created_by, \
     comment, created_at, expired_at, start_announced, end_announced";

fn notification(row: &PgRow) -> Result<Notification> {
    let kind: String = col(row, "kind")?;
    let status: String = col(row, "status")?;
    let attempts: i64 = col(row, "attempts")?;
    Ok(Notification {
        id: col(row, "id")?,
        receiver: col(row, "receiver")?,
        route: col(row, "route")?,
        group_key: col(row, "group_key")?,
        kind: NotificationKind::parse(&kind)
            .ok_or_else(|| StorageError::Corrupt(format!("notification kind {kind:?}")))?,
        finding_ids: col(row, "finding_ids")?,
        status: NotificationStatus::parse(&status)
            .ok_or_else(|| StorageError::Corrupt(format!("notification status {status:?}")))?,
        attempts: u32::try_from(attempts)
            .map_err(|_| StorageError::Corrupt(format!("attempts {attempts}")))?,
        last_error: col(row, "last_error")?,
        created_at: col(row, "created_at")?,
        sent_at: col(row, "sent_at")?,
        title: col(row, "title")?,
        body: json_col(row, "body")?,
        silence_id: col(row, "silence_id")?,
    })
}

fn silence(row: &PgRow) -> Result<Silence> {
    let matchers: String = col(row, "matchers")?;
    Ok(Silence {
        id: col(row, "id")?,
        matchers: parse_json(&matchers, "matchers")?,
        starts_at: col(row, "starts_at")?,
        ends_at: col(row, "ends_at")?,
        created_by: col(row, "created_by")?,
        comment: col(row, "comment")?,
        created_at: col(row, "created_at")?,
        expired_at: col(row, "expired_at")?,
        start_announced: col(row, "start_announced")?,
        end_announced: col(row, "end_announced")?,
    })
}

pub(crate) async fn groups(pool: &PgPool) -> Result<Vec<AlertGroup>> {
    let rows = sqlx::query(
        "SELECT key, state::text AS state, updated_at FROM alert_groups \
         ORDER BY key COLLATE \"C\"",
    )
    .fetch_all(pool)
    .await
    .map_err(db_err("read alert groups"))?;
    rows.iter()
        .map(|r| {
            Ok(AlertGroup {
                key: col(r, "key")?,
                state: json_col(r, "state")?,
                updated_at: col(r, "updated_at")?,
            })
        })
        .collect()
}

pub(crate) async fn commit(store: &PostgresStorage, c: AlertCommit) -> Result<Vec<Notification>> {
    let mut tx = store.begin().await?;
    if !c.groups.is_empty() {
        let keys: Vec<&str> = c.groups.iter().map(|g| g.key.as_str()).collect();
        let states = c
            .groups
            .iter()
            .map(|g| to_json(&g.state, "alert group"))
            .collect::<Result<Vec<_>>>()?;
        let times: Vec<DateTime<Utc>> = c.groups.iter().map(|g| g.updated_at).collect();
        // The last write of a key in the commit wins.
        sqlx::query(
            "INSERT INTO alert_groups (key, state, updated_at) \
             SELECT DISTINCT ON (g.key) g.key, g.state::jsonb, g.updated_at \
             FROM UNNEST($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY \
               AS g (key, state, updated_at, ord) \
             ORDER BY g.key, g.ord DESC \
             ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, \
             updated_at = EXCLUDED.updated_at",
        )
        .bind(&keys)
        .bind(&states)
        .bind(&times)
        .execute(&mut *tx)
        .await
        .map_err(db_err("write alert groups"))?;
    }
    if !c.removed_groups.is_empty() {
        sqlx::query("DELETE FROM alert_groups WHERE key = ANY($1)")
            .bind(&c.removed_groups)
            .execute(&mut *tx)
            .await
            .map_err(db_err("remove alert groups"))?;
    }
    let mut out = Vec::with_capacity(c.notifications.len());
    for n in c.notifications {
        let row = sqlx::query(&format!(
            "INSERT INTO alert_notifications (receiver, route, group_key, kind, finding_ids, \
             status, attempts, created_at, title, body, silence_id) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9::jsonb, $10) \
             RETURNING {NOTIFICATION_COLUMNS}"
        ))
        .bind(&n.receiver)
        .bind(&n.route)
        .bind(&n.group_key)
        .bind(n.kind.as_str())
        .bind(&n.finding_ids)
        .bind(n.status.as_str())
        .bind(n.created_at)
        .bind(&n.title)
        .bind(to_json(&n.body, "notification body")?)
        .bind(n.silence_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("insert notification"))?;
        let stored = notification(&row)?;
        // The body as given (JSONB may reorder an object's keys).
        out.push(Notification {
            body: n.body,
            ..stored
        });
    }
    for (id, start, end) in &c.silences_announced {
        sqlx::query(
            "UPDATE alert_silences SET start_announced = start_announced OR $2, \
             end_announced = end_announced OR $3 WHERE id = $1",
        )
        .bind(id)
        .bind(start)
        .bind(end)
        .execute(&mut *tx)
        .await
        .map_err(db_err("mark silence announced"))?;
    }
    if let Some((consumer, pos)) = &c.position {
        sqlx::query(
            "INSERT INTO consumer_positions (consumer, position) VALUES ($1, $2) \
             ON CONFLICT (consumer) DO UPDATE SET position = EXCLUDED.position",
        )
        .bind(consumer)
        .bind(pos)
        .execute(&mut *tx)
        .await
        .map_err(db_err("write consumer position"))?;
    }
    tx.commit().await.map_err(db_err("commit alerts"))?;
    Ok(out)
}

pub(crate) async fn record_attempt(
    store: &PostgresStorage,
    id: i64,
    a: NotificationAttempt,
) -> Result<Option<Notification>> {
    let row = sqlx::query(&format!(
        "UPDATE alert_notifications SET status = $2, attempts = $3, last_error = $4, \
         sent_at = COALESCE($5, sent_at) WHERE id = $1 RETURNING {NOTIFICATION_COLUMNS}"
    ))
    .bind(id)
    .bind(a.status.as_str())
    .bind(i64::from(a.attempts))
    .bind(&a.last_error)
    .bind(a.sent_at)
    .fetch_optional(&store.pool)
    .await
    .map_err(db_err("record notification attempt"))?;
    row.as_ref().map(notification).transpose()
}

pub(crate) async fn get(pool: &PgPool, id: i64) -> Result<Option<Notification>> {
    let row = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read notification"))?;
    row.as_ref().map(notification).transpose()
}

pub(crate) async fn list(pool: &PgPool, q: &NotificationQuery) -> Result<Page<Notification>> {
    let (page, page_size, offset) = paging(q.page, q.page_size);
    let filter = "($1::text IS NULL OR receiver = $1) AND ($2::text IS NULL OR route = $2) \
         AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR kind = $4) \
         AND ($5::bigint IS NULL OR $5 = ANY(finding_ids)) \
         AND ($6::text IS NULL OR title ILIKE $6 ESCAPE '\\' OR body::text ILIKE $6 ESCAPE '\\' \
              OR group_key ILIKE $6 ESCAPE '\\' OR COALESCE(last_error, '') ILIKE $6 ESCAPE '\\')";
    let like = q.q.as_deref().filter(|s| !s.is_empty()).map(like_pattern);
    let status = q.status.map(|s| s.as_str());
    let kind = q.kind.map(|k| k.as_str());
    let mut tx = crate::codec::snapshot(pool).await?;
    let total = sqlx::query(&format!(
        "SELECT COUNT(*) AS n FROM alert_notifications WHERE {filter}"
    ))
    .bind(q.receiver.as_deref())
    .bind(q.route.as_deref())
    .bind(status)
    .bind(kind)
    .bind(q.finding_id)
    .bind(like.as_deref())
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("count notifications"))?;
    let total = count_col(&total, "n")?;
    let rows = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE {filter} \
         ORDER BY id DESC LIMIT $7 OFFSET $8"
    ))
    .bind(q.receiver.as_deref())
    .bind(q.route.as_deref())
    .bind(status)
    .bind(kind)
    .bind(q.finding_id)
    .bind(like.as_deref())
    .bind(i64::from(page_size))
    .bind(offset)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err("list notifications"))?;
    tx.commit().await.map_err(db_err("end read"))?;
    Ok(Page {
        items: rows.iter().map(notification).collect::<Result<_>>()?,
        total,
        page,
        page_size,
    })
}

pub(crate) async fn pending(pool: &PgPool, limit: u32) -> Result<Vec<Notification>> {
    let rows = sqlx::query(&format!(
        "SELECT {NOTIFICATION_COLUMNS} FROM alert_notifications WHERE status = 'pending' \
         ORDER BY id LIMIT $1"
    ))
    .bind(i64::from(limit.clamp(1, 10_000)))
    .fetch_all(pool)
    .await
    .map_err(db_err("read pending notifications"))?;
    rows.iter().map(notification).collect()
}

pub(crate) async fn create_silence(pool: &PgPool, s: NewSilence) -> Result<Silence> {
    let row = sqlx::query(&format!(
        "INSERT INTO alert_silences (matchers, starts_at, ends_at, created_by, comment, \
         created_at) VALUES ($1::jsonb, $2, $3, $4, $5, $6) RETURNING {SILENCE_COLUMNS}"
    ))
    .bind(to_json(&s.matchers, "silence matchers")?)
    .bind(s.starts_at)
    .bind(s.ends_at)
    .bind(&s.created_by)
    .bind(&s.comment)
    .bind(s.created_at)
    .fetch_one(pool)
    .await
    .map_err(db_err("insert silence"))?;
    silence(&row)
}

pub(crate) async fn get_silence(pool: &PgPool, id: i64) -> Result<Option<Silence>> {
    let row = sqlx::query(&format!(
        "SELECT {SILENCE_COLUMNS} FROM alert_silences WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read silence"))?;
    row.as_ref().map(silence).transpose()
}

pub(crate) async fn list_silences(pool: &PgPool) -> Result<Vec<Silence>> {
    let rows = sqlx::query(&format!(
        "SELECT {SILENCE_COLUMNS} FROM alert_silences ORDER BY id DESC"
    ))
    .fetch_all(pool)
    .await
    .map_err(db_err("list silences"))?;
    rows.iter().map(silence).collect()
}

pub(crate) async fn expire_silence(
    pool: &PgPool,
    id: i64,
    at: DateTime<Utc>,
) -> Result<Option<Silence>> {
    let row = sqlx::query(&format!(
        "UPDATE alert_silences SET ends_at = LEAST(ends_at, $2), \
         expired_at = COALESCE(expired_at, $2) WHERE id = $1 RETURNING {SILENCE_COLUMNS}"
    ))
    .bind(id)
    .bind(at)
    .fetch_optional(pool)
    .await
    .map_err(db_err("expire silence"))?;
    row.as_ref().map(silence).transpose()
}
