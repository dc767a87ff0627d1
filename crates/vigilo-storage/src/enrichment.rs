//! Risk enrichment records: every attempt to score a finding with a model
//! (or its fallback to the heuristics), with the exact redacted prompt sent
//! and the answer received, and the cache of answers by content.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// An enrichment to store; storing it also sets the finding's
/// `risk_score`, `explanation`, `recommended_actions`, `enriched_by` and
/// `enriched_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEnrichment {
    pub finding_id: i64,
    /// Hash of the prompt's content: the same content is answered from the cache.
    pub content_hash: String,
    /// The model's name, or `heuristic` when the answer fell back.
    pub enriched_by: String,
    /// The model that was asked.
    pub model: String,
    pub risk_score: u8,
    pub explanation: String,
    pub recommended_actions: Vec<String>,
    /// The model's confidence 0–1, when it gave one.
    pub confidence: Option<f64>,
    /// The request body sent (redacted), or that would have been sent.
    pub prompt: String,
    /// The model's answer as received, if any.
    pub answer: Option<String>,
    /// Why the heuristics were used instead of the model.
    pub fallback_reason: Option<String>,
    /// Whether the answer came from the cache (no request was made).
    pub cached: bool,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub created_at: DateTime<Utc>,
}

/// A stored enrichment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub id: i64,
    pub finding_id: i64,
    pub content_hash: String,
    pub enriched_by: String,
    pub model: String,
    pub risk_score: u8,
    pub explanation: String,
    pub recommended_actions: Vec<String>,
    pub confidence: Option<f64>,
    /// The exact request body sent to the model, redacted.
    pub prompt: String,
    pub answer: Option<String>,
    pub fallback_reason: Option<String>,
    pub cached: bool,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub created_at: DateTime<Utc>,
}
