//! Enrichments: model (or heuristic) scores of findings, and the cache.

use sqlx::PgPool;
use vigilo_storage::{Enrichment, NewEnrichment, Result};

use crate::{PostgresStorage, not_implemented};

pub(crate) async fn insert(_s: &PostgresStorage, _e: NewEnrichment) -> Result<Option<Enrichment>> {
    Err(not_implemented("insert_enrichment"))
}
pub(crate) async fn for_finding(_pool: &PgPool, _id: i64) -> Result<Vec<Enrichment>> {
    Err(not_implemented("finding_enrichments"))
}
pub(crate) async fn cached(
    _pool: &PgPool,
    _hash: &str,
    _model: &str,
) -> Result<Option<Enrichment>> {
    Err(not_implemented("cached_enrichment"))
}
