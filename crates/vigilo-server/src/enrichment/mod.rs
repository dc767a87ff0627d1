//! Risk enrichment: an OpenAI-compatible model asked for a risk score, an
//! explanation, recommended actions and its confidence, from a redacted
//! prompt built from the finding, its rule and a bounded sample of its
//! evidence. Nothing here runs on the ingest or detection path: new
//! findings at or above `min_severity` (and incidents that grew past the
//! configured event counts) are picked from the finding outbox (consumer
//! `enrichment`) into a bounded queue; the API enriches on demand and in
//! bulk. Answers are cached by the prompt's content hash, so the same
//! content never asks twice. A timeout, a 429, a 5xx, a malformed answer or
//! a spent budget fall back to the heuristic score, with the reason stored.
//!
//! The heuristic score itself ([`vigilo_detect::heuristics`]) is applied by
//! the pipeline with [`context::RiskTracker`] before a finding is stored.

pub mod budget;
pub mod client;
pub mod config;
pub mod context;
pub mod redact;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use vigilo_core::Finding;
use vigilo_storage::{Enrichment, FindingChangeKind, NewEnrichment, Storage, StorageError};

pub use config::{EnrichmentConfig, RiskConfig};

use budget::Budget;
use client::Client;
use redact::Redactor;

/// The enrichment worker's name in the outbox.
pub const CONSUMER: &str = "enrichment";

/// Outbox entries read per step, and how often it is polled.
const BATCH: u32 = 200;
const POLL: Duration = Duration::from_millis(500);

/// Findings remembered for the regrowth thresholds.
const TRACKED: usize = 100_000;

const SYSTEM_PROMPT: &str = "You are a security analyst scoring findings of a compliance and \
anomaly monitoring system. Given a finding, its rule and a sample of its evidence events \
(sensitive values are replaced by [redacted]), answer with one JSON object: risk_score \
(integer 0-100, how urgently a human should act), explanation (two or three sentences an \
on-call engineer can act on, naming the values that matter), recommended_actions (a short \
list of concrete next steps) and confidence (0 to 1). Answer with the JSON object only.";

#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("enrichment is off: set [enrichment] base_url (or enabled = true) to use a model")]
    Disabled,
    #[error("finding `{0}` does not exist")]
    NotFound(i64),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

pub struct Enricher {
    config: EnrichmentConfig,
    storage: Arc<dyn Storage>,
    /// `None` when enrichment is off.
    client: Option<Client>,
    budget: Budget,
    redactor: Redactor,
    permits: Semaphore,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Enricher {
    pub fn new(config: EnrichmentConfig, storage: Arc<dyn Storage>) -> Result<Arc<Self>, String> {
        config.validate()?;
        let client = if config.is_enabled() {
            Some(Client::new(
                config.base_url(),
                config.api_key(),
                Duration::from_millis(config.timeout_ms.max(1)),
                config.retries,
                Duration::from_millis(config.backoff_ms),
            )?)
        } else {
            None
        };
        Ok(Arc::new(Enricher {
            budget: Budget::new(config.requests_per_hour, config.tokens_per_hour),
            redactor: Redactor::new(&config.drop_fields, config.redact_ips),
            permits: Semaphore::new(config.concurrency.max(1)),
            client,
            storage,
            config,
        }))
    }

    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    pub fn config(&self) -> &EnrichmentConfig {
        &self.config
    }

    /// The chat-completions request for `f` and the hash of its content.
    pub async fn prompt(&self, f: &Finding) -> Result<(Value, String), StorageError> {
        let n = self.config.max_evidence;
        let mut ids: Vec<i64> = f.evidence.iter().copied().take(n).collect();
        if let Some(last) = f.evidence.last()
            && !ids.contains(last)
            && n > 0
        {
            ids.pop();
            ids.push(*last);
        }
        let events = self.storage.get_events(&ids).await?;
        let r = &self.redactor;
        let text = |s: &Option<String>| s.as_deref().map(|s| r.text(s));
        let evidence: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "timestamp": e.timestamp,
                    "kind": r.text(&e.kind),
                    "service": text(&e.service),
                    "user": text(&e.user),
                    "payload": Value::Object(r.object(&e.payload)),
                })
            })
            .collect();
        let group: serde_json::Map<String, Value> = f
            .group
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let content = json!({
            "finding": {
                "rule_id": f.rule_id,
                "rule_title": r.text(&f.rule_title),
                "rule_description": r.text(&f.description),
                "severity": f.severity,
                "tags": f.tags,
                "group": Value::Object(r.object(&group)),
                "service": text(&f.service),
                "user": text(&f.user),
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
                "event_count": f.event_count,
            },
            "evidence_sample": evidence,
        });
        // The cache key: the incident's content (not the score it carries now).
        let hash = {
            let mut h = Sha256::new();
            h.update(SYSTEM_PROMPT.as_bytes());
            h.update([0]);
            h.update(content.to_string().as_bytes());
            h.finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let mut content = content;
        if f.enriched_by == vigilo_core::finding::ENRICHED_BY_HEURISTIC {
            // The heuristic's reading (what triggered the rule, each factor).
            content["finding"]["heuristic_score"] = json!(f.risk_score);
            content["finding"]["heuristic_explanation"] = json!(r.text(&f.explanation));
        }
        let content = content.to_string();
        let mut body = json!({
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content},
            ],
        });
        if self.config.json_schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "risk_assessment", "strict": true, "schema": client::answer_schema()},
            });
        }
        Ok((body, hash))
    }

    /// Enrich one finding now: from the cache, from the model, or (with the
    /// reason) from the heuristics.
    pub async fn enrich(&self, id: i64) -> Result<(Finding, Enrichment), EnrichError> {
        let Some(client) = &self.client else {
            return Err(EnrichError::Disabled);
        };
        let f = self
            .storage
            .get_finding(id)
            .await?
            .ok_or(EnrichError::NotFound(id))?;
        let (body, hash) = self.prompt(&f).await?;
        let prompt = serde_json::to_string_pretty(&body).unwrap_or_default();
        let model = self.config.model.clone();
        let record = |enriched_by: String,
                      score: u8,
                      explanation: String,
                      actions: Vec<String>,
                      confidence: Option<f64>| NewEnrichment {
            finding_id: id,
            content_hash: hash.clone(),
            enriched_by,
            model: model.clone(),
            risk_score: score,
            explanation,
            recommended_actions: actions,
            confidence,
            prompt: prompt.clone(),
            answer: None,
            fallback_reason: None,
            cached: false,
            prompt_tokens: 0,
            completion_tokens: 0,
            created_at: Utc::now(),
        };
        let fallback = |reason: String, answer: Option<String>| {
            tracing::info!(finding = id, reason = %reason, "enrichment fell back to the heuristics");
            metrics::counter!("vigilo_enrichment_fallbacks_total").increment(1);
            NewEnrichment {
                answer,
                fallback_reason: Some(reason),
                ..record(
                    f.enriched_by.clone(),
                    f.risk_score,
                    f.explanation.clone(),
                    f.recommended_actions.clone(),
                    None,
                )
            }
        };
        let new = if let Some(c) = self.storage.cached_enrichment(&hash, &model).await? {
            metrics::counter!("vigilo_enrichment_cache_hits_total").increment(1);
            NewEnrichment {
                answer: c.answer,
                cached: true,
                ..record(
                    c.enriched_by,
                    c.risk_score,
                    c.explanation,
                    c.recommended_actions,
                    c.confidence,
                )
            }
        } else if let Err(reason) = self.budget.reserve() {
            fallback(reason, None)
        } else {
            let asked = {
                let _permit = self.permits.acquire().await;
                metrics::counter!("vigilo_enrichment_requests_total").increment(1);
                client.ask(&body).await
            };
            let tokens = u64::from(asked.prompt_tokens) + u64::from(asked.completion_tokens);
            self.budget.charge(if tokens > 0 {
                tokens
            } else {
                (prompt.len() / 4) as u64
            });
            match asked.result {
                Ok(a) => NewEnrichment {
                    answer: asked.raw,
                    prompt_tokens: asked.prompt_tokens,
                    completion_tokens: asked.completion_tokens,
                    ..record(
                        model.clone(),
                        a.risk_score,
                        a.explanation,
                        a.recommended_actions,
                        a.confidence,
                    )
                },
                Err(reason) => fallback(reason, asked.raw),
            }
        };
        let stored = self
            .storage
            .insert_enrichment(new)
            .await?
            .ok_or(EnrichError::NotFound(id))?;
        let f = self
            .storage
            .get_finding(id)
            .await?
            .ok_or(EnrichError::NotFound(id))?;
        Ok((f, stored))
    }
}

/// Start the automatic enrichment: a reader of the finding outbox (from its
/// stored position) that queues findings at or above `min_severity` and
/// incidents that grew past a configured event count, and `concurrency`
/// workers enriching from that bounded queue. Nothing runs when enrichment
/// is off. The reader starts once this process leads detection (`leading`),
/// so processes sharing one database ask the model about each finding once;
/// the next leader resumes from the stored position.
pub fn start(
    enricher: Arc<Enricher>,
    mut leading: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if !enricher.enabled() {
        return None;
    }
    let cap = enricher.config.queue_capacity.max(1);
    let (tx, rx) = mpsc::channel::<i64>(cap);
    let rx = Arc::new(Mutex::new(rx));
    for _ in 0..enricher.config.concurrency.max(1) {
        let rx = rx.clone();
        let e = enricher.clone();
        tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some(id) = next else { break };
                if let Err(err) = e.enrich(id).await {
                    tracing::warn!(finding = id, error = %err, "automatic enrichment failed");
                }
            }
        });
    }
    Some(tokio::spawn(async move {
        if leading.wait_for(|l| *l).await.is_err() {
            return;
        }
        let storage = enricher.storage.clone();
        let mut position = match storage.consumer_position(CONSUMER).await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "enrichment cannot read its outbox position; not running");
                return;
            }
        };
        // Event count of each finding when it was last queued.
        let mut queued: HashMap<i64, i64> = HashMap::new();
        loop {
            let changes = match storage.finding_changes_after(position, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "enrichment cannot read the outbox; retrying");
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            };
            if changes.is_empty() {
                tokio::time::sleep(POLL).await;
                continue;
            }
            for c in &changes {
                if c.kind == FindingChangeKind::Status {
                    continue;
                }
                let Ok(Some(f)) = storage.get_finding(c.finding_id).await else {
                    continue;
                };
                if f.severity < enricher.config.min_severity || f.status.is_closed() {
                    continue;
                }
                let due = match queued.get(&f.id) {
                    None => c.kind == FindingChangeKind::Created || f.enriched_by == "heuristic",
                    Some(&before) => enricher
                        .config
                        .regrow_event_counts
                        .iter()
                        .any(|&t| before < t && f.event_count >= t),
                };
                if !due {
                    continue;
                }
                if queued.len() >= TRACKED {
                    queued.clear();
                }
                queued.insert(f.id, f.event_count);
                if tx.try_send(f.id).is_err() {
                    metrics::counter!("vigilo_enrichment_skipped_total").increment(1);
                    tracing::warn!(finding = f.id, "enrichment queue full; finding skipped");
                }
            }
            if let Some(last) = changes.last() {
                position = last.seq;
                if let Err(e) = storage.set_consumer_position(CONSUMER, position).await {
                    tracing::warn!(error = %e, "enrichment cannot store its outbox position");
                }
            }
        }
    }))
}
