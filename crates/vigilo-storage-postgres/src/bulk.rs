//! Bulk updates: one patch over many findings, in one transaction and one
//! statement, with each finding's history (and outbox entry, for a status
//! change) written as a single update would write it.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use vigilo_core::FindingStatus;
use vigilo_core::finding::CloseReason;
use vigilo_storage::{BulkResult, BulkTarget, FindingPatch, MAX_BULK, Result, StorageError};

use crate::codec::count_col;
use crate::findings::push_finding_filters;
use crate::triage::actor_of;
use crate::{PostgresStorage, db_err};

pub(crate) async fn bulk_update(
    store: &PostgresStorage,
    target: BulkTarget,
    patch: FindingPatch,
    now: DateTime<Utc>,
) -> Result<BulkResult> {
    let mut tx = store.begin().await?;
    let ids: Vec<i64> = match &target {
        BulkTarget::Ids(ids) => {
            sqlx::query_scalar("SELECT id FROM findings WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                .bind(ids)
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err("select findings"))?
        }
        BulkTarget::Filter(q) => {
            let mut qb = QueryBuilder::<Postgres>::new("SELECT f.id FROM findings f WHERE TRUE");
            push_finding_filters(&mut qb, q);
            qb.push(" ORDER BY f.id LIMIT ")
                .push_bind(to_limit(MAX_BULK + 1))
                .push(" FOR UPDATE");
            let ids: Vec<i64> = qb
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err("select findings"))?;
            if ids.len() as u64 > MAX_BULK {
                let mut qb = QueryBuilder::<Postgres>::new(
                    "SELECT COUNT(*) AS n FROM findings f WHERE TRUE",
                );
                push_finding_filters(&mut qb, q);
                let row = qb
                    .build()
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err("count findings"))?;
                return Err(StorageError::TooManyFindings {
                    matched: count_col(&row, "n")?,
                    limit: MAX_BULK,
                });
            }
            ids
        }
    };
    let matched = ids.len() as u64;
    if matched > MAX_BULK {
        return Err(StorageError::TooManyFindings {
            matched,
            limit: MAX_BULK,
        });
    }
    if let Some(reason) = patch.close_reason {
        check_close_reason(&mut tx, &ids, patch.status, reason).await?;
    }
    let tags = |t: &[String]| -> Vec<String> { crate::findings::tag_list(t) };
    let updated: i64 = sqlx::query_scalar(BULK_SQL)
        .bind(&ids)
        .bind(patch.status.map(|s| s.as_str()))
        .bind(patch.note.as_deref())
        .bind(patch.assignee.as_deref())
        .bind(patch.workflow_tags.as_deref().map(tags))
        .bind(tags(&patch.add_tags))
        .bind(tags(&patch.remove_tags))
        .bind(patch.close_reason.map(|r| r.as_str()))
        .bind(actor_of(&patch.actor))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("bulk update findings"))?;
    let updated = crate::codec::to_count(updated, "updated")?;
    tx.commit().await.map_err(db_err("commit bulk update"))?;
    Ok(BulkResult { matched, updated })
}

fn to_limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The patch over the locked findings `$1`: the new values of each (as
/// [`crate::triage::apply_patch`] computes them), the findings it changes
/// updated, one history entry per changed field (in the order status,
/// assignee, tags, close reason, note), an outbox entry per status
/// change. Returns how many findings changed.
const BULK_SQL: &str = "WITH old AS ( \
        SELECT id, status, note, assignee, workflow_tags, close_reason \
        FROM findings WHERE id = ANY($1) \
    ), patched AS ( \
        SELECT o.*, \
            COALESCE($2::text, o.status) AS n_status, \
            CASE WHEN $3::text IS NULL THEN o.note WHEN $3 = '' THEN NULL ELSE $3 END AS n_note, \
            CASE WHEN $4::text IS NULL THEN o.assignee WHEN $4 = '' THEN NULL ELSE $4 END \
                AS n_assignee, \
            ARRAY(SELECT t FROM unnest(COALESCE($5::text[], o.workflow_tags) || $6::text[]) AS t \
                WHERE t <> '' AND NOT (t = ANY($7::text[])) \
                GROUP BY t ORDER BY t COLLATE \"C\") AS n_tags \
        FROM old o \
    ), closed AS ( \
        SELECT p.*, CASE WHEN p.n_status IN ('resolved', 'suppressed') \
            THEN COALESCE($8::text, p.close_reason) END AS n_close \
        FROM patched p \
    ), changed AS ( \
        SELECT * FROM closed c \
        WHERE c.status IS DISTINCT FROM c.n_status OR c.note IS DISTINCT FROM c.n_note \
           OR c.assignee IS DISTINCT FROM c.n_assignee OR c.workflow_tags <> c.n_tags \
           OR c.close_reason IS DISTINCT FROM c.n_close \
    ), updated AS ( \
        UPDATE findings f SET status = c.n_status, note = c.n_note, assignee = c.n_assignee, \
            workflow_tags = c.n_tags, close_reason = c.n_close, updated_at = $10 \
        FROM changed c WHERE f.id = c.id \
    ), history AS ( \
        INSERT INTO finding_history (finding_id, at, actor, action, from_value, to_value) \
        SELECT c.id, $10, $9, e.action, e.from_value, e.to_value \
        FROM changed c CROSS JOIN LATERAL (VALUES \
            (1, 'status', c.status, c.n_status, c.status IS DISTINCT FROM c.n_status), \
            (2, 'assignee', c.assignee, c.n_assignee, c.assignee IS DISTINCT FROM c.n_assignee), \
            (3, 'tags', NULLIF(array_to_string(c.workflow_tags, ','), ''), \
                NULLIF(array_to_string(c.n_tags, ','), ''), c.workflow_tags <> c.n_tags), \
            (4, 'close_reason', c.close_reason, c.n_close, \
                c.close_reason IS DISTINCT FROM c.n_close), \
            (5, 'note', c.note, c.n_note, c.note IS DISTINCT FROM c.n_note) \
        ) AS e (ord, action, from_value, to_value, differs) \
        WHERE e.differs ORDER BY c.id, e.ord \
    ), outbox AS ( \
        INSERT INTO finding_changes (finding_id, kind, status, at) \
        SELECT c.id, 'status', c.n_status, $10 FROM changed c \
        WHERE c.status IS DISTINCT FROM c.n_status ORDER BY c.id \
    ) \
    SELECT COUNT(*) FROM changed";

/// A close reason applies only to findings that are (or become) resolved
/// or suppressed: otherwise [`StorageError::InvalidPatch`], naming the
/// first finding it cannot apply to.
async fn check_close_reason(
    conn: &mut sqlx::PgConnection,
    ids: &[i64],
    status: Option<FindingStatus>,
    _reason: CloseReason,
) -> Result<()> {
    let open: Option<(i64, String)> = match status {
        Some(s) if s.is_closed() => None,
        Some(s) => ids.first().map(|id| (*id, s.as_str().to_string())),
        None => sqlx::query_as(
            "SELECT id, status FROM findings WHERE id = ANY($1) \
             AND status NOT IN ('resolved', 'suppressed') ORDER BY id LIMIT 1",
        )
        .bind(ids)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err("read finding statuses"))?,
    };
    match open {
        None => Ok(()),
        Some((id, status)) => Err(StorageError::InvalidPatch {
            field: "close_reason",
            message: format!(
                "a close reason needs status resolved or suppressed; finding {id} is {status}"
            ),
        }),
    }
}
