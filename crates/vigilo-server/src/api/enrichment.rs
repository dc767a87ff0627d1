//! Risk enrichment on demand: one finding, a list of findings, and the
//! stored prompts and answers of a finding.

use axum::Json;
use axum::extract::Path;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vigilo_core::{ErrorCode, Finding};

use super::findings::publish;
use super::{ApiJson, State, path_id};
use crate::enrichment::EnrichError;
use crate::error::{ApiError, ApiResult, ErrorResponse};

/// Most findings one bulk enrichment takes.
pub const MAX_BULK_ENRICH: usize = 100;

/// One enrichment attempt, as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrichmentView {
    pub id: i64,
    pub finding_id: i64,
    /// `heuristic` when the model could not be used, else the model.
    pub enriched_by: String,
    /// The model that was (or would have been) asked.
    pub model: String,
    #[schema(minimum = 0, maximum = 100)]
    pub risk_score: u8,
    pub explanation: String,
    pub recommended_actions: Vec<String>,
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: Option<f64>,
    /// The exact request body sent to the model, redacted.
    pub prompt: String,
    /// The model's answer as received.
    pub answer: Option<String>,
    /// Why the heuristic score was kept (a timeout, an HTTP status, a
    /// malformed answer, a spent budget).
    pub fallback_reason: Option<String>,
    /// Answered from the cache: no request was made.
    pub cached: bool,
    /// SHA-256 of the prompt's content, the cache key with the model.
    pub content_hash: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub created_at: DateTime<Utc>,
}

impl From<vigilo_storage::Enrichment> for EnrichmentView {
    fn from(e: vigilo_storage::Enrichment) -> Self {
        EnrichmentView {
            id: e.id,
            finding_id: e.finding_id,
            enriched_by: e.enriched_by,
            model: e.model,
            risk_score: e.risk_score,
            explanation: e.explanation,
            recommended_actions: e.recommended_actions,
            confidence: e.confidence,
            prompt: e.prompt,
            answer: e.answer,
            fallback_reason: e.fallback_reason,
            cached: e.cached,
            content_hash: e.content_hash,
            prompt_tokens: e.prompt_tokens,
            completion_tokens: e.completion_tokens,
            created_at: e.created_at,
        }
    }
}

/// The finding after enrichment and the attempt's record.
#[derive(Serialize, ToSchema)]
pub struct EnrichResult {
    pub finding: Finding,
    pub enrichment: EnrichmentView,
}

#[derive(Serialize, ToSchema)]
pub struct EnrichmentList {
    /// Newest first.
    pub items: Vec<EnrichmentView>,
}

fn api_error(e: EnrichError) -> ApiError {
    match e {
        EnrichError::Disabled => ApiError::new(ErrorCode::Conflict, e.to_string()),
        EnrichError::NotFound(id) => ApiError::not_found("finding", id),
        EnrichError::Storage(s) => s.into(),
    }
}

/// Ask the configured model for this finding's risk score, explanation and
/// recommended actions now. The same content is answered from the cache;
/// a timeout, a 429, a 5xx, a malformed answer or a spent budget keep the
/// heuristic score and record why.
#[utoipa::path(post, path = "/api/v1/findings/{id}/enrich", tag = "findings",
    params(("id" = i64, Path, description = "Finding id")),
    responses((status = 200, body = EnrichResult, description = "The finding as enriched (or kept), and the attempt"),
        (status = 404, body = ErrorResponse, description = "not_found"),
        (status = 409, body = ErrorResponse, description = "conflict: enrichment is not configured")))]
pub async fn enrich_one(state: State, Path(id): Path<String>) -> ApiResult<Json<EnrichResult>> {
    let id = path_id("finding", &id)?;
    let (finding, e) = state.enrichment.enrich(id).await.map_err(api_error)?;
    publish(&state, &finding);
    Ok(Json(EnrichResult {
        finding,
        enrichment: e.into(),
    }))
}

/// Findings to enrich.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkEnrich {
    /// 1 to 100 finding ids (an id no finding has is answered `found: false`).
    #[schema(min_items = 1, max_items = 100)]
    #[serde(deserialize_with = "ids")]
    pub ids: Vec<i64>,
}

/// Finding ids written as JSON Schema allows integers (`12` or `12.0`).
fn ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    super::findings::whole_ids(d).map(Option::unwrap_or_default)
}

/// One finding's outcome in a bulk enrichment.
#[derive(Serialize, ToSchema)]
pub struct BulkEnrichItem {
    pub id: i64,
    /// Whether the finding exists (missing ones are skipped).
    pub found: bool,
    pub enrichment: Option<EnrichmentView>,
}

#[derive(Serialize, ToSchema)]
pub struct BulkEnrichResult {
    pub items: Vec<BulkEnrichItem>,
}

/// Enrich several findings, in the order given (requests run up to the
/// configured concurrency; the budget applies to each).
#[utoipa::path(post, path = "/api/v1/findings/enrich", tag = "findings",
    request_body = BulkEnrich,
    responses((status = 200, body = BulkEnrichResult, description = "Each finding's attempt"),
        (status = 400, body = ErrorResponse, description = "malformed_body, invalid_request (`ids` empty, more than 100, or not positive)"),
        (status = 409, body = ErrorResponse, description = "conflict: enrichment is not configured"),
        (status = 413, body = ErrorResponse, description = "payload_too_large"),
        (status = 415, body = ErrorResponse, description = "unsupported_media_type: the body must be application/json")))]
pub async fn enrich_bulk(
    state: State,
    ApiJson(body): ApiJson<BulkEnrich>,
) -> ApiResult<Json<BulkEnrichResult>> {
    if body.ids.is_empty() || body.ids.len() > MAX_BULK_ENRICH {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("field `ids` must list 1 to {MAX_BULK_ENRICH} finding ids"),
        ));
    }
    if !state.enrichment.enabled() {
        return Err(api_error(EnrichError::Disabled));
    }
    let mut ids = body.ids;
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    let mut set = tokio::task::JoinSet::new();
    for (i, &id) in ids.iter().enumerate() {
        let enricher = state.enrichment.clone();
        set.spawn(async move { (i, id, enricher.enrich(id).await) });
    }
    let mut done = Vec::with_capacity(ids.len());
    while let Some(r) = set.join_next().await {
        done.push(r.map_err(|e| ApiError::internal(format!("enrichment task failed: {e}")))?);
    }
    done.sort_by_key(|(i, _, _)| *i);
    let done = done.into_iter().map(|(_, id, r)| (id, r));
    let mut items = Vec::with_capacity(done.len());
    for (id, r) in done {
        match r {
            Ok((finding, e)) => {
                publish(&state, &finding);
                items.push(BulkEnrichItem {
                    id,
                    found: true,
                    enrichment: Some(e.into()),
                });
            }
            Err(EnrichError::NotFound(_)) => items.push(BulkEnrichItem {
                id,
                found: false,
                enrichment: None,
            }),
            Err(e) => return Err(api_error(e)),
        }
    }
    Ok(Json(BulkEnrichResult { items }))
}

/// The finding's enrichment attempts, newest first, each with the exact
/// redacted prompt sent and the answer received.
#[utoipa::path(get, path = "/api/v1/findings/{id}/enrichments", tag = "findings",
    params(("id" = i64, Path, description = "Finding id")),
    responses((status = 200, body = EnrichmentList, description = "Newest first"),
        (status = 404, body = ErrorResponse, description = "not_found")))]
pub async fn list(state: State, Path(id): Path<String>) -> ApiResult<Json<EnrichmentList>> {
    let id = path_id("finding", &id)?;
    if state.storage.get_finding(id).await?.is_none() {
        return Err(ApiError::not_found("finding", id));
    }
    let items = state
        .storage
        .finding_enrichments(id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(EnrichmentList { items }))
}
