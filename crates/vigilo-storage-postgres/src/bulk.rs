//! Bulk updates: one patch over many findings, in one transaction, with
//! each finding's history written as a single update would write it.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder};
use vigilo_storage::{BulkResult, BulkTarget, FindingPatch, MAX_BULK, Result, StorageError};

use crate::codec::count_col;
use crate::findings::push_finding_filters;
use crate::triage::apply_patch;
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
                .push_bind(to_limit(MAX_BULK + 1));
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
    let mut updated = 0;
    for id in ids {
        if apply_patch(&mut tx, id, &patch, now, false).await? == Some(true) {
            updated += 1;
        }
    }
    tx.commit().await.map_err(db_err("commit bulk update"))?;
    Ok(BulkResult { matched, updated })
}

fn to_limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
