//! Enrichments: model (or heuristic) scores of findings, their
//! application to the finding, and the cache of answers by content.

use sqlx::PgPool;
use sqlx::postgres::PgRow;
use vigilo_storage::{Enrichment, NewEnrichment, Result, StorageError};

use crate::codec::col;
use crate::{PostgresStorage, db_err};

const COLUMNS: &str = "id, finding_id, content_hash, enriched_by, model, risk_score, explanation, \
     recommended_actions, confidence, prompt, answer, fallback_reason, cached, \
     prompt_tokens, completion_tokens, created_at";

fn decode(row: &PgRow) -> Result<Enrichment> {
    let score: i16 = col(row, "risk_score")?;
    let tokens = |name: &str| -> Result<u32> {
        let v: i64 = col(row, name)?;
        u32::try_from(v).map_err(|_| StorageError::Corrupt(format!("{name}: {v}")))
    };
    Ok(Enrichment {
        id: col(row, "id")?,
        finding_id: col(row, "finding_id")?,
        content_hash: col(row, "content_hash")?,
        enriched_by: col(row, "enriched_by")?,
        model: col(row, "model")?,
        risk_score: u8::try_from(score)
            .map_err(|_| StorageError::Corrupt(format!("risk_score: {score}")))?,
        explanation: col(row, "explanation")?,
        recommended_actions: col(row, "recommended_actions")?,
        confidence: col(row, "confidence")?,
        prompt: col(row, "prompt")?,
        answer: col(row, "answer")?,
        fallback_reason: col(row, "fallback_reason")?,
        cached: col(row, "cached")?,
        prompt_tokens: tokens("prompt_tokens")?,
        completion_tokens: tokens("completion_tokens")?,
        created_at: col(row, "created_at")?,
    })
}

pub(crate) async fn insert(
    store: &PostgresStorage,
    e: NewEnrichment,
) -> Result<Option<Enrichment>> {
    let mut tx = store.begin().await?;
    let changed = sqlx::query(
        "UPDATE findings SET risk_score = $1, enriched_by = $2, enriched_at = $3, \
         explanation = $4, recommended_actions = $5 WHERE id = $6",
    )
    .bind(i16::from(e.risk_score))
    .bind(&e.enriched_by)
    .bind(e.created_at)
    .bind(&e.explanation)
    .bind(&e.recommended_actions)
    .bind(e.finding_id)
    .execute(&mut *tx)
    .await
    .map_err(db_err("apply enrichment to finding"))?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    let row = sqlx::query(&format!(
        "INSERT INTO enrichments (finding_id, content_hash, enriched_by, model, risk_score, \
         explanation, recommended_actions, confidence, prompt, answer, fallback_reason, cached, \
         prompt_tokens, completion_tokens, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         RETURNING {COLUMNS}"
    ))
    .bind(e.finding_id)
    .bind(&e.content_hash)
    .bind(&e.enriched_by)
    .bind(&e.model)
    .bind(i16::from(e.risk_score))
    .bind(&e.explanation)
    .bind(&e.recommended_actions)
    .bind(e.confidence)
    .bind(&e.prompt)
    .bind(&e.answer)
    .bind(&e.fallback_reason)
    .bind(e.cached)
    .bind(i64::from(e.prompt_tokens))
    .bind(i64::from(e.completion_tokens))
    .bind(e.created_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("insert enrichment"))?;
    let stored = decode(&row)?;
    tx.commit().await.map_err(db_err("commit enrichment"))?;
    Ok(Some(stored))
}

pub(crate) async fn for_finding(pool: &PgPool, finding_id: i64) -> Result<Vec<Enrichment>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM enrichments WHERE finding_id = $1 ORDER BY id DESC"
    ))
    .bind(finding_id)
    .fetch_all(pool)
    .await
    .map_err(db_err("read enrichments"))?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn cached(pool: &PgPool, hash: &str, model: &str) -> Result<Option<Enrichment>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM enrichments WHERE content_hash = $1 AND model = $2 \
         AND fallback_reason IS NULL AND NOT cached ORDER BY id DESC LIMIT 1"
    ))
    .bind(hash)
    .bind(model)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read cached enrichment"))?;
    row.as_ref().map(decode).transpose()
}
