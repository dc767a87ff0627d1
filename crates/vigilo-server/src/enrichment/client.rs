//! An OpenAI-compatible chat-completions client: one request with retries
//! and doubling backoff after a timeout, a 429 or a 5xx; the answer is
//! validated into a [`ModelAnswer`].

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::Secret;

/// What a model answered, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelAnswer {
    pub risk_score: u8,
    pub explanation: String,
    pub recommended_actions: Vec<String>,
    pub confidence: Option<f64>,
}

/// The outcome of asking: the raw answer text (if any) and either the
/// validated answer or why the heuristics are used.
#[derive(Debug, Clone)]
pub struct Asked {
    pub raw: Option<String>,
    pub result: Result<ModelAnswer, String>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

pub struct Client {
    http: reqwest::Client,
    url: String,
    api_key: Option<Secret>,
    retries: u32,
    backoff: Duration,
}

/// The JSON schema the answer must follow.
pub fn answer_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["risk_score", "explanation", "recommended_actions", "confidence"],
        "properties": {
            "risk_score": {"type": "integer", "minimum": 0, "maximum": 100},
            "explanation": {"type": "string"},
            "recommended_actions": {"type": "array", "items": {"type": "string"}},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1}
        }
    })
}

impl Client {
    pub fn new(
        base_url: &str,
        api_key: Option<Secret>,
        timeout: Duration,
        retries: u32,
        backoff: Duration,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("enrichment client: {e}"))?;
        Ok(Client {
            http,
            url: format!("{base_url}/chat/completions"),
            api_key,
            retries,
            backoff,
        })
    }

    /// Send `body` (a chat-completions request) and validate the answer.
    pub async fn ask(&self, body: &Value) -> Asked {
        let mut attempt = 0u32;
        loop {
            let failure = match self.once(body).await {
                Ok(asked) => return asked,
                Err(f) => f,
            };
            if !failure.retryable || attempt >= self.retries {
                let reason = if attempt > 0 {
                    format!("{} (after {} attempts)", failure.reason, attempt + 1)
                } else {
                    failure.reason
                };
                return Asked {
                    raw: failure.raw,
                    result: Err(reason),
                    prompt_tokens: 0,
                    completion_tokens: 0,
                };
            }
            tokio::time::sleep(self.backoff * 2u32.saturating_pow(attempt)).await;
            attempt += 1;
        }
    }

    async fn once(&self, body: &Value) -> Result<Asked, Failure> {
        let mut req = self.http.post(&self.url).json(body);
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k.expose()).header("api-key", k.expose());
        }
        let resp = req.send().await.map_err(|e| Failure {
            retryable: true,
            reason: if e.is_timeout() {
                "timeout: the model did not answer in time".to_string()
            } else if e.is_connect() {
                "the model endpoint refused the connection".to_string()
            } else {
                "the request to the model failed".to_string()
            },
            raw: None,
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| Failure {
            retryable: true,
            reason: if e.is_timeout() {
                "timeout: the model did not answer in time".to_string()
            } else {
                "the model's answer could not be read".to_string()
            },
            raw: None,
        })?;
        if !status.is_success() {
            return Err(Failure {
                retryable: status.as_u16() == 429 || status.is_server_error(),
                reason: format!("the model endpoint answered HTTP {}", status.as_u16()),
                raw: Some(truncate(&text, 2000)),
            });
        }
        let envelope: Value = serde_json::from_str(&text).map_err(|_| Failure {
            retryable: false,
            reason: "malformed answer: not a chat-completions JSON response".into(),
            raw: Some(truncate(&text, 2000)),
        })?;
        let usage = |k: &str| {
            envelope["usage"][k]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0)
        };
        let content = envelope["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Asked {
            result: parse_answer(&content),
            raw: Some(content),
            prompt_tokens: usage("prompt_tokens"),
            completion_tokens: usage("completion_tokens"),
        })
    }
}

struct Failure {
    retryable: bool,
    reason: String,
    raw: Option<String>,
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Validate a model's answer text: a JSON object (a ```json fence is
/// tolerated) with a numeric `risk_score` (clamped to 0–100) and a
/// non-empty `explanation`; `recommended_actions` a list of strings and
/// `confidence` 0–1 when given.
pub fn parse_answer(content: &str) -> Result<ModelAnswer, String> {
    let t = content.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .map(|s| s.trim_end().trim_end_matches("```"))
        .unwrap_or(t)
        .trim();
    let v: Value =
        serde_json::from_str(t).map_err(|_| "malformed answer: not a JSON object".to_string())?;
    let Some(obj) = v.as_object() else {
        return Err("malformed answer: not a JSON object".into());
    };
    let score = obj
        .get("risk_score")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite())
        .ok_or("malformed answer: risk_score is missing or not a number")?;
    let explanation = obj
        .get("explanation")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or("malformed answer: explanation is missing or empty")?;
    let recommended_actions = match obj.get("recommended_actions") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(|s| truncate(s.trim(), 500)))
            .collect::<Option<Vec<_>>>()
            .ok_or("malformed answer: recommended_actions must be strings")?
            .into_iter()
            .filter(|s| !s.is_empty())
            .take(10)
            .collect(),
        Some(_) => return Err("malformed answer: recommended_actions must be a list".into()),
    };
    let confidence = obj
        .get("confidence")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite())
        .map(|c| c.clamp(0.0, 1.0));
    Ok(ModelAnswer {
        risk_score: score.round().clamp(0.0, 100.0) as u8,
        explanation: truncate(explanation, 4000),
        recommended_actions,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_validated_and_clamped() {
        let a = parse_answer(
            "```json\n{\"risk_score\": 140, \"explanation\": \"x\", \"recommended_actions\": [\"a\"], \"confidence\": 2}\n```",
        )
        .unwrap();
        assert_eq!((a.risk_score, a.confidence), (100, Some(1.0)));
        assert_eq!(
            parse_answer("{\"risk_score\": -3, \"explanation\": \"y\"}")
                .unwrap()
                .risk_score,
            0
        );
        assert!(parse_answer("not json").is_err());
        assert!(parse_answer("{\"explanation\": \"y\"}").is_err());
        assert!(parse_answer("{\"risk_score\": 5, \"explanation\": \"\"}").is_err());
        assert!(
            parse_answer("{\"risk_score\": 5, \"explanation\": \"y\", \"recommended_actions\": 3}")
                .is_err()
        );
    }
}
