//! Enrichment records (migration 0015) and their application to findings.

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteRow;
use vigilo_storage::{Enrichment, NewEnrichment, Result, StorageError};

use crate::codec::{col, micros, parse_json, time_col, to_json};
use crate::{SqliteStorage, db_err};

const COLUMNS: &str = "id, finding_id, content_hash, enriched_by, model, risk_score, explanation, \
     recommended_actions_json, confidence, prompt, answer, fallback_reason, cached, \
     prompt_tokens, completion_tokens, created_at";

fn decode(row: &SqliteRow) -> Result<Enrichment> {
    let score: i64 = col(row, "risk_score")?;
    let actions: String = col(row, "recommended_actions_json")?;
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
        recommended_actions: parse_json(&actions, "recommended_actions_json")?,
        confidence: col(row, "confidence")?,
        prompt: col(row, "prompt")?,
        answer: col(row, "answer")?,
        fallback_reason: col(row, "fallback_reason")?,
        cached: col::<i64>(row, "cached")? != 0,
        prompt_tokens: tokens("prompt_tokens")?,
        completion_tokens: tokens("completion_tokens")?,
        created_at: time_col(row, "created_at")?,
    })
}

pub(crate) async fn insert(store: &SqliteStorage, e: NewEnrichment) -> Result<Option<Enrichment>> {
    let actions = to_json(&e.recommended_actions, "recommended actions")?;
    let id = store
        .write_tx(|db| {
            let at = micros(e.created_at);
            let changed = db
                .prepare_cached(
                    "UPDATE findings SET risk_score = ?1, enriched_by = ?2, enriched_at = ?3 \
                     WHERE id = ?4",
                )
                .and_then(|mut st| {
                    st.execute(rusqlite::params![
                        i64::from(e.risk_score),
                        e.enriched_by,
                        at,
                        e.finding_id
                    ])
                })
                .map_err(db_err("apply enrichment to finding"))?;
            if changed == 0 {
                return Ok(None);
            }
            db.prepare_cached(
                "UPDATE finding_details SET explanation = ?1, recommended_actions_json = ?2 \
                 WHERE finding_id = ?3",
            )
            .and_then(|mut st| st.execute(rusqlite::params![e.explanation, actions, e.finding_id]))
            .map_err(db_err("apply enrichment to finding details"))?;
            db.prepare_cached(
                "INSERT INTO enrichments (finding_id, content_hash, enriched_by, model, risk_score, \
                 explanation, recommended_actions_json, confidence, prompt, answer, \
                 fallback_reason, cached, prompt_tokens, completion_tokens, created_at) \
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
            )
            .and_then(|mut st| {
                st.execute(rusqlite::params![
                    e.finding_id,
                    e.content_hash,
                    e.enriched_by,
                    e.model,
                    i64::from(e.risk_score),
                    e.explanation,
                    actions,
                    e.confidence,
                    e.prompt,
                    e.answer,
                    e.fallback_reason,
                    e.cached,
                    i64::from(e.prompt_tokens),
                    i64::from(e.completion_tokens),
                    at,
                ])
            })
            .map_err(db_err("insert enrichment"))?;
            Ok(Some(db.last_insert_rowid()))
        })
        .await?;
    let Some(id) = id else { return Ok(None) };
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM enrichments WHERE id = ?1"))
        .bind(id)
        .fetch_one(&store.read)
        .await
        .map_err(db_err("read enrichment"))?;
    decode(&row).map(Some)
}

pub(crate) async fn for_finding(pool: &SqlitePool, finding_id: i64) -> Result<Vec<Enrichment>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM enrichments WHERE finding_id = ?1 ORDER BY id DESC"
    ))
    .bind(finding_id)
    .fetch_all(pool)
    .await
    .map_err(db_err("read enrichments"))?;
    rows.iter().map(decode).collect()
}

pub(crate) async fn cached(
    pool: &SqlitePool,
    content_hash: &str,
    model: &str,
) -> Result<Option<Enrichment>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM enrichments WHERE content_hash = ?1 AND model = ?2 \
         AND fallback_reason IS NULL AND cached = 0 ORDER BY id DESC LIMIT 1"
    ))
    .bind(content_hash)
    .bind(model)
    .fetch_optional(pool)
    .await
    .map_err(db_err("read cached enrichment"))?;
    row.as_ref().map(decode).transpose()
}
