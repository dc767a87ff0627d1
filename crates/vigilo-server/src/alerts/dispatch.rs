//! Delivery: one bounded queue and one worker per receiver (so a
//! receiver's notifications arrive in the order they were decided), tries
//! with exponential backoff, `Retry-After` honoured, every try recorded,
//! and `failed` (the dead-letter record) after the last.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use vigilo_storage::{Notification, NotificationAttempt, NotificationStatus, Storage};

use super::config::{ReceiverConfig, ReceiverKind};
use super::receivers::webhook;

/// Counters shown on the status board.
#[derive(Debug, Default)]
pub struct Stats {
    pub queued: AtomicI64,
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub retries: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl Stats {
    fn error(&self, receiver: &str, e: &str) {
        if let Ok(mut l) = self.last_error.lock() {
            *l = Some(format!("{receiver}: {e}"));
        }
    }
}

/// Why one try failed.
#[derive(Debug, Clone, PartialEq)]
pub struct TryError {
    /// Without the URL (it may hold a token).
    pub message: String,
    /// Another try may succeed (5xx, 408, 429, network).
    pub retryable: bool,
    /// The receiver's `Retry-After`.
    pub retry_after: Option<Duration>,
}

/// The HTTP client of every receiver (timeouts are per request).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("vigilo/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// One try: POST the body; 2xx is delivered.
pub async fn try_once(
    client: &reqwest::Client,
    rc: &ReceiverConfig,
    body: &Value,
) -> Result<(), TryError> {
    let Some(url) = rc.resolved_url() else {
        return Err(TryError {
            message: "receiver has no url".into(),
            retryable: false,
            retry_after: None,
        });
    };
    let bytes = serde_json::to_vec(body).map_err(|e| TryError {
        message: format!("cannot encode body: {e}"),
        retryable: false,
        retry_after: None,
    })?;
    let mut req = client
        .post(url)
        .timeout(rc.timeout.0)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    if rc.kind == ReceiverKind::Webhook {
        let ts = Utc::now().timestamp();
        req = req.header("X-Vigilo-Timestamp", ts.to_string());
        if let Some(secret) = rc.resolved_secret() {
            req = req.header(
                "X-Vigilo-Signature",
                webhook::signature(&secret, ts, &bytes),
            );
        }
    }
    let resp = req.body(bytes).send().await.map_err(|e| TryError {
        message: send_error(e),
        retryable: true,
        retry_after: None,
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    Err(TryError {
        message: format!("HTTP {}: {}", status.as_u16(), text.trim()),
        retryable: status.is_server_error()
            || status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT,
        retry_after,
    })
}

/// The wait before retry `n` (1-based): backoff × 2^(n-1), capped; a
/// `Retry-After` wins when longer, also capped.
pub fn backoff(rc: &ReceiverConfig, n: u32, retry_after: Option<Duration>) -> Duration {
    let base = rc.retry_backoff.0;
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(20));
    let wait = retry_after.map_or(exp, |r| r.max(exp));
    wait.min(rc.max_backoff.0)
}

/// Deliver one notification, resuming at its recorded tries; returns its
/// final state (or the last recorded one when stopped between tries).
pub async fn deliver(
    storage: &dyn Storage,
    client: &reqwest::Client,
    rc: &ReceiverConfig,
    mut n: Notification,
    stats: &Stats,
    stop: &mut watch::Receiver<bool>,
) -> Notification {
    let tries = rc.max_retries.saturating_add(1);
    loop {
        let attempt = n.attempts + 1;
        let result = try_once(client, rc, &n.body).await;
        let (status, error, done) = match &result {
            Ok(()) => (NotificationStatus::Sent, None, true),
            Err(e) => {
                let last = attempt >= tries || !e.retryable;
                let status = if last {
                    NotificationStatus::Failed
                } else {
                    NotificationStatus::Pending
                };
                (status, Some(e.message.clone()), last)
            }
        };
        let record = NotificationAttempt {
            status,
            attempts: attempt,
            last_error: error.clone().or(n.last_error.clone()),
            sent_at: (status == NotificationStatus::Sent).then(Utc::now),
        };
        match storage
            .record_notification_attempt(n.id, record.clone())
            .await
        {
            Ok(Some(stored)) => n = stored,
            Ok(None) => return n,
            Err(e) => {
                tracing::warn!(error = %e, id = n.id, "cannot record notification attempt");
                n.status = record.status;
                n.attempts = record.attempts;
                n.last_error = record.last_error;
            }
        }
        match (&result, done) {
            (Ok(()), _) => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("vigilo_alerts_sent_total", "receiver" => rc.name.clone())
                    .increment(1);
                tracing::info!(receiver = %rc.name, id = n.id, kind = n.kind.as_str(), attempts = n.attempts, "notification sent");
                return n;
            }
            (Err(e), true) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                stats.error(&rc.name, &e.message);
                metrics::counter!("vigilo_alerts_failed_total", "receiver" => rc.name.clone())
                    .increment(1);
                tracing::warn!(receiver = %rc.name, id = n.id, attempts = n.attempts, error = %e.message, "notification failed");
                return n;
            }
            (Err(e), false) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                stats.error(&rc.name, &e.message);
                let wait = backoff(rc, attempt, e.retry_after);
                tracing::debug!(receiver = %rc.name, id = n.id, attempt, wait_ms = wait.as_millis() as u64, "notification retry");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return n,
                }
            }
        }
    }
}

/// The queues of every receiver.
#[derive(Clone)]
pub struct Dispatch {
    queues: HashMap<String, mpsc::Sender<Notification>>,
    pub stats: Arc<Stats>,
    storage: Arc<dyn Storage>,
}

impl Dispatch {
    /// Start one worker per receiver.
    pub fn start(
        receivers: &[ReceiverConfig],
        capacity: usize,
        storage: Arc<dyn Storage>,
        stop: watch::Receiver<bool>,
    ) -> Dispatch {
        let stats = Arc::new(Stats::default());
        let client = client();
        let mut queues = HashMap::new();
        for rc in receivers {
            let (tx, mut rx) = mpsc::channel::<Notification>(capacity.max(1));
            queues.insert(rc.name.clone(), tx);
            let rc = rc.clone();
            let storage = storage.clone();
            let stats = stats.clone();
            let client = client.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    let n = tokio::select! {
                        n = rx.recv() => n,
                        _ = stop.wait_for(|s| *s) => None,
                    };
                    let Some(n) = n else { return };
                    stats.queued.fetch_sub(1, Ordering::Relaxed);
                    deliver(storage.as_ref(), &client, &rc, n, &stats, &mut stop).await;
                }
            });
        }
        Dispatch {
            queues,
            stats,
            storage,
        }
    }

    /// Queue a stored notification; waits while its receiver's queue is
    /// full. One for a receiver no longer configured is marked
    /// `suppressed` with the reason.
    pub async fn enqueue(&self, n: Notification) {
        match self.queues.get(&n.receiver) {
            Some(q) => {
                self.stats.queued.fetch_add(1, Ordering::Relaxed);
                if q.send(n).await.is_err() {
                    self.stats.queued.fetch_sub(1, Ordering::Relaxed);
                }
            }
            None => {
                let r = self
                    .storage
                    .record_notification_attempt(
                        n.id,
                        NotificationAttempt {
                            status: NotificationStatus::Suppressed,
                            attempts: n.attempts,
                            last_error: Some(format!(
                                "receiver `{}` is no longer configured",
                                n.receiver
                            )),
                            sent_at: None,
                        },
                    )
                    .await;
                if let Err(e) = r {
                    tracing::warn!(error = %e, id = n.id, "cannot record notification");
                }
            }
        }
    }

    pub fn depth(&self) -> i64 {
        self.stats.queued.load(Ordering::Relaxed).max(0)
    }
}

/// A failed request as a sentence with its causes ("error sending request:
/// client error (Connect): tcp connect error: Connection refused"), without
/// the URL, which can carry a token.
fn send_error(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::config::DurationText;

    #[test]
    fn backoff_doubles_and_is_capped_retry_after_wins() {
        let rc = ReceiverConfig {
            retry_backoff: DurationText::secs(1),
            max_backoff: DurationText::secs(10),
            ..ReceiverConfig::default()
        };
        let s = |n, ra| backoff(&rc, n, ra).as_secs();
        assert_eq!(
            [s(1, None), s(2, None), s(3, None), s(4, None), s(5, None)],
            [1, 2, 4, 8, 10]
        );
        assert_eq!(s(1, Some(Duration::from_secs(7))), 7);
        assert_eq!(s(1, Some(Duration::from_secs(70))), 10);
        assert_eq!(s(40, None), 10);
    }
}
