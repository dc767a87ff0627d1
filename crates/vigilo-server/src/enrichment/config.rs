//! `[enrichment]` and `[risk]`: the model endpoint, its limits, what the
//! prompt may carry, and the asset criticality table of the heuristics.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vigilo_core::Severity;
use vigilo_detect::heuristics::Criticality;

use crate::config::Secret;

/// The endpoint used when enrichment is on and names no `base_url`.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// `[enrichment]`: an OpenAI-compatible chat-completions endpoint asked for
/// a risk score and explanation. Off unless `enabled = true` or a
/// `base_url` is set.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// Explicitly on or off; unset: on when `base_url` is set.
    pub enabled: Option<bool>,
    /// Only `openai` (any OpenAI-compatible chat-completions endpoint).
    pub provider: String,
    /// `…/v1` of OpenAI, Azure OpenAI, Ollama, vLLM, llama.cpp.
    pub base_url: Option<String>,
    pub model: String,
    /// Sent as a bearer token; `OPENAI_API_KEY` is used when unset.
    pub api_key: Option<Secret>,
    /// New findings at or above this severity are enriched automatically.
    pub min_severity: Severity,
    /// An incident is enriched again when its event count reaches each of these.
    pub regrow_event_counts: Vec<i64>,
    pub timeout_ms: u64,
    /// Retries after a timeout, a 429 or a 5xx, with doubling backoff.
    pub retries: u32,
    pub backoff_ms: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Findings waiting for automatic enrichment; more are skipped.
    pub queue_capacity: usize,
    /// Budget: requests and tokens in any hour.
    pub requests_per_hour: u32,
    pub tokens_per_hour: u64,
    /// Ask for a JSON-schema `response_format` (off for servers that reject it).
    pub json_schema: bool,
    /// Evidence events sampled into the prompt.
    pub max_evidence: usize,
    /// More payload keys to drop (case-insensitive, exact).
    pub drop_fields: Vec<String>,
    /// Redact IPv4 and IPv6 addresses too.
    pub redact_ips: bool,
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        EnrichmentConfig {
            enabled: None,
            provider: "openai".into(),
            base_url: None,
            model: "gpt-4o-mini".into(),
            api_key: None,
            min_severity: Severity::High,
            regrow_event_counts: vec![10, 100, 1000],
            timeout_ms: 30_000,
            retries: 2,
            backoff_ms: 500,
            concurrency: 2,
            queue_capacity: 1000,
            requests_per_hour: 600,
            tokens_per_hour: 1_000_000,
            json_schema: true,
            max_evidence: 5,
            drop_fields: Vec::new(),
            redact_ips: false,
        }
    }
}

impl std::fmt::Debug for EnrichmentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrichmentConfig")
            .field("enabled", &self.is_enabled())
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key)
            .field("min_severity", &self.min_severity)
            .finish_non_exhaustive()
    }
}

impl EnrichmentConfig {
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(self.base_url.is_some())
    }

    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(OPENAI_BASE_URL)
            .trim_end_matches('/')
    }

    /// The configured key, else `OPENAI_API_KEY`.
    pub fn api_key(&self) -> Option<Secret> {
        self.api_key.clone().or_else(|| {
            std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty())
                .map(Secret::new)
        })
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.provider != "openai" {
            return Err(format!(
                "enrichment.provider: unknown provider `{}`, expected openai",
                self.provider
            ));
        }
        if let Some(u) = &self.base_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err("enrichment.base_url: must start with http:// or https://".into());
        }
        if self.model.trim().is_empty() {
            return Err("enrichment.model: must not be empty".into());
        }
        if self.concurrency == 0 || self.queue_capacity == 0 {
            return Err("enrichment.concurrency and queue_capacity: must be at least 1".into());
        }
        Ok(())
    }
}

/// `[risk]`: the heuristics' asset criticality table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// Service name → criticality (`payments = "critical"`).
    pub services: BTreeMap<String, Criticality>,
}
