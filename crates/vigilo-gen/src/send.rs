//! Writing generated events as NDJSON, to a file or to a server.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Duration as TimeDelta, DurationRound, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::error::GenError;
use crate::generator::{GenConfig, Generator};

/// How much to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Exactly this many events.
    Events(u64),
    /// Everything the simulated clock produces in this span.
    Duration(Duration),
}

/// What [`write_ndjson`] wrote.
#[derive(Debug, Clone)]
pub struct WriteReport {
    pub events: u64,
    pub seed: u64,
    /// Simulated clock at the start and at the end.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub incidents: BTreeMap<&'static str, u64>,
}

/// Writes generated events as NDJSON, one object per line, on a simulated
/// clock that starts at `cfg.start` (or now) and advances at `cfg.rate`.
/// With a seed and a start the output is the same byte for byte each time.
pub fn write_ndjson(
    out: &mut impl Write,
    cfg: GenConfig,
    limit: Limit,
) -> Result<WriteReport, GenError> {
    cfg.validate()?;
    let start = cfg.start.unwrap_or_else(Utc::now);
    let start = start
        .duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(start);
    let step = cfg.batch_interval;
    let rate = cfg.rate;
    let mut generator = Generator::new(cfg);
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut written: u64 = 0;
    let mut clock = start;
    let mut elapsed = Duration::ZERO;
    loop {
        let (next_elapsed, done) = match limit {
            Limit::Duration(d) => {
                let e = (elapsed + step).min(d);
                (e, e >= d)
            }
            Limit::Events(n) => (elapsed + step, written >= n),
        };
        if done && matches!(limit, Limit::Events(_)) {
            break;
        }
        let due = (rate * next_elapsed.as_secs_f64()).floor() as u64;
        let produced = generator.emitted();
        let n = due.saturating_sub(produced) as usize;
        clock = start + delta(next_elapsed);
        elapsed = next_elapsed;
        let mut batch = generator.next_batch(clock, n);
        if let Limit::Events(max) = limit {
            batch.truncate((max - written) as usize);
        }
        for v in &batch {
            serde_json::to_writer(&mut out, v)?;
            out.write_all(b"\n")?;
        }
        written += batch.len() as u64;
        if done {
            break;
        }
    }
    out.flush()?;
    Ok(WriteReport {
        events: written,
        seed: generator.seed(),
        start,
        end: clock,
        incidents: generator.incidents_emitted().clone(),
    })
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::milliseconds(d.as_millis().min(i64::MAX as u128) as i64)
}

/// The ingest url for a server base url (`http://host:port`); a url that
/// already names the endpoint is kept.
pub fn events_url(target: &str) -> Result<String, GenError> {
    let t = target.trim();
    if !(t.starts_with("http://") || t.starts_with("https://")) {
        return Err(GenError::Target {
            url: target.to_string(),
            reason: "must start with http:// or https://".into(),
        });
    }
    let t = t.trim_end_matches('/');
    if t.ends_with("/api/v1/events") {
        Ok(t.to_string())
    } else {
        Ok(format!("{t}/api/v1/events"))
    }
}

/// Encodes events as an NDJSON body, gzipped if asked.
pub(crate) fn encode(events: &[Value], gzip: bool) -> Result<Bytes, GenError> {
    let mut buf = Vec::with_capacity(events.len() * 200);
    for v in events {
        serde_json::to_writer(&mut buf, v)?;
        buf.push(b'\n');
    }
    if !gzip {
        return Ok(Bytes::from(buf));
    }
    let mut enc = GzEncoder::new(Vec::with_capacity(buf.len() / 4), Compression::fast());
    enc.write_all(&buf)?;
    Ok(Bytes::from(enc.finish()?))
}

/// What [`send`] did.
#[derive(Debug, Clone, Default)]
pub struct SendReport {
    /// Events generated and handed to the sender.
    pub generated: u64,
    /// Events the server acknowledged.
    pub accepted: u64,
    /// Successful requests.
    pub requests: u64,
    /// Answers of 503 (or 429) honoured by waiting and retrying.
    pub throttled: u64,
    /// Transient errors (5xx, connection) retried.
    pub retried_errors: u64,
    /// Body bytes of successful requests, as sent.
    pub bytes: u64,
    pub elapsed: Duration,
    pub seed: u64,
    /// Completed incidents by name.
    pub incidents: BTreeMap<&'static str, u64>,
}

impl fmt::Display for SendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "sent {} events ({} accepted) in {} requests over {:.1} s: {:.0} events/s, {:.1} MiB",
            self.generated,
            self.accepted,
            self.requests,
            secs,
            self.accepted as f64 / secs,
            self.bytes as f64 / (1024.0 * 1024.0)
        )?;
        writeln!(
            f,
            "throttled (503) {} times, retried {} transient errors, seed {}",
            self.throttled, self.retried_errors, self.seed
        )?;
        let total: u64 = self.incidents.values().sum();
        write!(f, "incidents injected: {total}")?;
        for (name, n) in &self.incidents {
            write!(f, "\n  {name:<32} {n}")?;
        }
        Ok(())
    }
}

pub(crate) struct Body {
    pub(crate) bytes: Bytes,
    pub(crate) events: usize,
}

#[derive(Debug, Default)]
pub(crate) struct PostOutcome {
    pub(crate) accepted: u64,
    pub(crate) throttled: u64,
    pub(crate) retried_errors: u64,
}

const MAX_ATTEMPTS: u32 = 8;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Posts one body until the server takes it. 503/429 are retried after the
/// server's `Retry-After`; 5xx and connection errors with backoff up to
/// [`MAX_ATTEMPTS`]; other 4xx end with [`GenError::Rejected`].
pub(crate) async fn post_body(
    client: &reqwest::Client,
    url: &str,
    gzip: bool,
    body: &Body,
) -> Result<PostOutcome, GenError> {
    let mut outcome = PostOutcome::default();
    let mut attempts = 0u32;
    let mut backoff = Duration::from_millis(250);
    loop {
        let mut req = client
            .post(url)
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body.bytes.clone());
        if gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    let raw = resp.bytes().await.map_err(|source| GenError::Http {
                        url: url.to_string(),
                        source,
                    })?;
                    outcome.accepted = accepted_count(&raw).unwrap_or(body.events as u64);
                    if outcome.accepted != body.events as u64 {
                        tracing::warn!(
                            sent = body.events,
                            accepted = outcome.accepted,
                            "server accepted a different number of events than sent"
                        );
                    }
                    return Ok(outcome);
                }
                if status == StatusCode::SERVICE_UNAVAILABLE
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    let wait = retry_after(resp.headers()).unwrap_or(Duration::from_secs(1));
                    outcome.throttled += 1;
                    tracing::debug!(
                        status = status.as_u16(),
                        wait_ms = wait.as_millis() as u64,
                        "server busy, retrying batch"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                let text = resp.text().await.unwrap_or_default();
                let text: String = text.chars().take(500).collect();
                if status.is_client_error() {
                    return Err(GenError::Rejected {
                        status: status.as_u16(),
                        body: text,
                    });
                }
                attempts += 1;
                if attempts >= MAX_ATTEMPTS {
                    return Err(GenError::ServerError {
                        status: status.as_u16(),
                        attempts,
                        body: text,
                    });
                }
                tracing::warn!(
                    status = status.as_u16(),
                    attempt = attempts,
                    "server error, retrying batch"
                );
            }
            Err(source) => {
                attempts += 1;
                if attempts >= MAX_ATTEMPTS || source.is_builder() {
                    return Err(GenError::Unreachable {
                        url: url.to_string(),
                        attempts,
                        source,
                    });
                }
                tracing::warn!(error = %source, attempt = attempts, "request errored, retrying batch");
            }
        }
        outcome.retried_errors += 1;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn accepted_count(raw: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(raw).ok()?;
    v.get("accepted")?.as_u64()
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let s = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = s.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
}

pub(crate) fn client(pool: usize, api_key: Option<&str>) -> Result<reqwest::Client, GenError> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = api_key {
        let mut v =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                GenError::Config("the API key holds characters a header cannot carry".into())
            })?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(pool.max(1))
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|source| GenError::Http {
            url: String::new(),
            source,
        })
}

/// Sends generated events to the server at `target` (`http://host:port`)
/// for `duration` (zero: until `shutdown`), paced at `cfg.rate` with a batch
/// every `cfg.batch_interval`. Event times are the real clock. Generation
/// runs ahead of the network by a few batches; when the server is slow the
/// backlog is sent in bigger batches, split at `cfg.max_batch`.
///
/// A 503 or 429 is honoured by waiting `Retry-After` and resending the same
/// batch; a 4xx ends with [`GenError::Rejected`]. When `shutdown` completes,
/// batches already generated are still delivered.
pub async fn send(
    target: &str,
    cfg: GenConfig,
    duration: Duration,
    shutdown: impl Future,
) -> Result<SendReport, GenError> {
    cfg.validate()?;
    let url = events_url(target)?;
    let client = client(2, cfg.api_key.as_deref())?;
    let gzip = cfg.gzip;
    let rate = cfg.rate;
    let interval = cfg.batch_interval;
    let max_batch = cfg.max_batch;
    let mut generator = Generator::new(cfg);
    let seed = generator.seed();
    tracing::info!(target = %url, rate, seed, gzip, "sending generated events");

    let (tx, rx) = mpsc::channel::<Body>(4);
    let started = Instant::now();
    let started_wall = Utc::now();

    // The producer owns the only sender and the consumer the receiver: when
    // either ends, the other notices (a closed channel).
    let producer = async {
        let tx = tx;
        let mut shutdown = std::pin::pin!(shutdown);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last = Duration::ZERO;
        loop {
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutdown requested, stopping generation");
                    break;
                }
                _ = ticker.tick() => {}
            }
            let mut now = started.elapsed();
            let finished = !duration.is_zero() && now >= duration;
            if finished {
                now = duration;
            }
            let due = (rate * now.as_secs_f64()).floor() as u64;
            let n = due.saturating_sub(generator.emitted()) as usize;
            let chunks = n.div_ceil(max_batch).max(1);
            for k in 0..chunks {
                let part = if k + 1 == chunks {
                    n - max_batch * (chunks - 1)
                } else {
                    max_batch
                };
                let at = last + (now.saturating_sub(last)) * (k as u32 + 1) / chunks as u32;
                let events = generator.next_batch(started_wall + delta(at), part);
                if events.is_empty() {
                    continue;
                }
                let body = Body {
                    bytes: encode(&events, gzip)?,
                    events: events.len(),
                };
                if tx.send(body).await.is_err() {
                    return Ok::<_, GenError>(());
                }
            }
            last = now;
            if finished {
                break;
            }
        }
        Ok(())
    };

    let consumer = async {
        let mut rx = rx;
        let mut report = SendReport::default();
        while let Some(body) = rx.recv().await {
            let outcome = post_body(&client, &url, gzip, &body).await?;
            report.accepted += outcome.accepted;
            report.throttled += outcome.throttled;
            report.retried_errors += outcome.retried_errors;
            report.requests += 1;
            report.bytes += body.bytes.len() as u64;
        }
        Ok::<_, GenError>(report)
    };

    let (produced, sent) = tokio::join!(producer, consumer);
    let mut report = sent?;
    produced?;
    report.generated = generator.emitted();
    report.elapsed = started.elapsed();
    report.seed = seed;
    report.incidents = generator.incidents_emitted().clone();
    tracing::info!(
        generated = report.generated,
        accepted = report.accepted,
        requests = report.requests,
        throttled = report.throttled,
        "sending finished"
    );
    Ok(report)
}
