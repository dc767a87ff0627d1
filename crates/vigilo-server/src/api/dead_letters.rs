//! Messages a connector could not ingest, kept with the reason and their
//! raw bytes.

use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use super::{ApiQuery, State, paging};
use crate::error::ApiResult;

/// Longest text preview of a message's bytes.
const PREVIEW_CHARS: usize = 2_000;

#[derive(Serialize, ToSchema)]
pub struct DeadLetterView {
    pub id: i64,
    /// The connector: `kafka`, `amqp`.
    pub source: String,
    /// Where in it: `topic/partition@offset`, a queue name.
    pub location: String,
    pub reason: String,
    /// The message's bytes, base64.
    pub raw_base64: String,
    /// The first characters of the message as text (invalid UTF-8 replaced).
    pub preview: String,
    /// The message's size in bytes.
    pub size: usize,
    /// Key, headers and whatever else the connector knew.
    #[schema(value_type = Object)]
    pub meta: serde_json::Value,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetterView>,
    /// Dead letters matching the query.
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
    /// Dead letters per source, whatever the query.
    pub counts: BTreeMap<String, u64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterParams {
    /// Only this connector's (`kafka`, `amqp`).
    pub source: Option<String>,
    #[param(schema_with = crate::api::params::page_schema)]
    pub page: Option<u32>,
    #[param(schema_with = crate::api::params::page_size_schema)]
    pub page_size: Option<u32>,
}

/// Messages the broker sources could not ingest, newest first, with the
/// count per source (the dashboard shows it on the status board).
#[utoipa::path(get, path = "/api/v1/dead-letters", tag = "connectors",
    params(DeadLetterParams),
    responses((status = 200, body = DeadLetterPage),
        (status = 400, body = crate::error::ErrorResponse, description = "invalid_query: paging out of range")))]
pub async fn list(
    state: State,
    ApiQuery(p): ApiQuery<DeadLetterParams>,
) -> ApiResult<Json<DeadLetterPage>> {
    let (page, page_size) = paging(p.page, p.page_size)?;
    let found = state
        .storage
        .list_dead_letters(p.source.as_deref(), page, page_size)
        .await?;
    let counts = state.storage.dead_letter_counts().await?;
    let items = found
        .items
        .into_iter()
        .map(|d| {
            let preview: String = String::from_utf8_lossy(&d.raw)
                .chars()
                .take(PREVIEW_CHARS)
                .collect();
            DeadLetterView {
                id: d.id,
                source: d.source,
                location: d.location,
                reason: d.reason,
                raw_base64: base64::engine::general_purpose::STANDARD.encode(&d.raw),
                preview,
                size: d.raw.len(),
                meta: d.meta,
                received_at: d.received_at,
            }
        })
        .collect();
    Ok(Json(DeadLetterPage {
        items,
        total: found.total,
        page: found.page,
        page_size: found.page_size,
        counts,
    }))
}
