//! The ingest load driver: posts pre-built NDJSON bodies as fast as the
//! server accepts them and reports throughput and latency.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{Duration as TimeDelta, Utc};
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use tokio::task::JoinSet;

use crate::error::GenError;
use crate::generator::{GenConfig, Generator};
use crate::send::{Body, client, encode, events_url};

/// How to load a server.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Server base url, `http://host:port`.
    pub target: String,
    /// Events per request.
    pub batch_size: usize,
    /// Requests in flight at once (one connection each).
    pub concurrency: usize,
    pub duration: Duration,
    pub gzip: bool,
    /// Distinct bodies generated up front and posted round-robin.
    pub pool_bodies: usize,
    pub seed: Option<u64>,
    /// Send events without their `timestamp`, so the server stamps each with
    /// its receive time and event time advances as in live traffic. With
    /// `false` the pool's simulated times are sent, and a run longer than the
    /// pool repeats them.
    pub receive_time: bool,
    /// Rate (events/s) of the simulated traffic the pool is cut from. The
    /// generator sizes its user and service populations for this rate, so
    /// set it near the rate the server is driven at: replaying a pool built
    /// for a slower system makes every user a burst.
    pub pool_rate: f64,
    /// API key sent as `Authorization: Bearer` (scope `ingest`).
    pub api_key: Option<String>,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            target: "http://127.0.0.1:8080".into(),
            batch_size: 1000,
            concurrency: 4,
            duration: Duration::from_secs(10),
            gzip: false,
            pool_bodies: 64,
            seed: None,
            receive_time: true,
            pool_rate: 100_000.0,
            api_key: None,
        }
    }
}

/// Incidents per minute in the pool's simulated traffic, per 1,000 events/s
/// of `pool_rate`: about one incident per 4,000 events.
const POOL_INCIDENTS_PER_MINUTE_PER_KRATE: f64 = 15.0;

/// What [`load`] measured.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub target: String,
    pub batch_size: usize,
    pub concurrency: usize,
    pub gzip: bool,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Events the server acknowledged.
    pub events: u64,
    /// Successful requests.
    pub requests: u64,
    /// 503 (or 429) answers.
    pub throttled: u64,
    /// Requests that errored (5xx, connection).
    pub errors: u64,
    /// Body bytes of successful requests, as sent.
    pub bytes: u64,
    pub events_per_sec: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Time spent building the body pool, before the clock started.
    pub pool_build: Duration,
    pub pool_events: usize,
    /// Events acknowledged in each whole second of the run, by answer time.
    pub per_second: Vec<u64>,
}

/// Length of the windows [`LoadReport::window_extremes`] compares.
pub const WINDOW_SECS: usize = 10;

impl LoadReport {
    /// The slowest and the fastest of the run's whole 10-second windows
    /// (consecutive, from the start), as (start second, events/s); `None`
    /// for a run shorter than one window.
    pub fn window_extremes(&self) -> Option<((usize, f64), (usize, f64))> {
        let whole = (self.elapsed.as_secs() as usize).min(self.per_second.len()) / WINDOW_SECS;
        let mut rates = (0..whole).map(|w| {
            let start = w * WINDOW_SECS;
            let n: u64 = self.per_second[start..start + WINDOW_SECS].iter().sum();
            (start, n as f64 / WINDOW_SECS as f64)
        });
        let first = rates.next()?;
        Some(rates.fold((first, first), |(lo, hi), r| {
            (
                if r.1 < lo.1 { r } else { lo },
                if r.1 > hi.1 { r } else { hi },
            )
        }))
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(f, "target           {}", self.target)?;
        writeln!(
            f,
            "load             {} connections, {} events per request{}, {:.1} s",
            self.concurrency,
            self.batch_size,
            if self.gzip { ", gzip" } else { "" },
            secs
        )?;
        writeln!(
            f,
            "pool             {} events built in {} ms",
            self.pool_events,
            self.pool_build.as_millis()
        )?;
        writeln!(
            f,
            "throughput       {:.0} events/s ({} events, {:.0} requests/s, {:.1} MiB/s)",
            self.events_per_sec,
            self.events,
            self.requests as f64 / secs,
            self.bytes as f64 / (1024.0 * 1024.0) / secs
        )?;
        if let Some(((lo_at, lo), (hi_at, hi))) = self.window_extremes() {
            writeln!(
                f,
                "{WINDOW_SECS} s windows     slowest {lo:.0} events/s (from {lo_at} s), fastest {hi:.0} events/s (from {hi_at} s)"
            )?;
        }
        writeln!(
            f,
            "request latency  p50 {}  p90 {}  p99 {}  max {}",
            fmt_dur(self.p50),
            fmt_dur(self.p90),
            fmt_dur(self.p99),
            fmt_dur(self.max)
        )?;
        write!(
            f,
            "answers          {} accepted, {} throttled (503), {} errors",
            self.requests, self.throttled, self.errors
        )
    }
}

fn fmt_dur(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{:.2} ms", us as f64 / 1000.0)
    }
}

struct WorkerResult {
    hist: Histogram<u64>,
    events: u64,
    requests: u64,
    throttled: u64,
    errors: u64,
    bytes: u64,
    per_second: Vec<u64>,
}

/// Builds the body pool: consecutive slices of realistic traffic with
/// incidents, serialized (and compressed) once.
fn build_pool(cfg: &LoadConfig) -> Result<Vec<Body>, GenError> {
    let bodies = cfg.pool_bodies.max(1);
    let total = bodies * cfg.batch_size;
    let rate = cfg.pool_rate.max(1.0);
    let span_ms = (total as f64 / rate * 1000.0).ceil() as i64;
    let start = Utc::now() - TimeDelta::milliseconds(span_ms);
    let mut generator = Generator::new(GenConfig {
        rate,
        incident_rate: POOL_INCIDENTS_PER_MINUTE_PER_KRATE * rate / 1000.0,
        seed: cfg.seed,
        start: Some(start),
        ..GenConfig::default()
    });
    let mut pool = Vec::with_capacity(bodies);
    let mut now = start;
    let step = TimeDelta::microseconds((cfg.batch_size as f64 / rate * 1e6).round() as i64);
    while pool.len() < bodies {
        now += step;
        let mut events = generator.next_batch(now, cfg.batch_size);
        if events.is_empty() {
            continue;
        }
        if cfg.receive_time {
            for e in &mut events {
                if let Some(obj) = e.as_object_mut() {
                    obj.remove("timestamp");
                }
            }
        }
        pool.push(Body {
            bytes: encode(&events, cfg.gzip)?,
            events: events.len(),
        });
    }
    Ok(pool)
}

/// Posts pre-built bodies to `cfg.target` with `cfg.concurrency` requests
/// in flight for `cfg.duration`, and reports what the server sustained.
/// 503 answers are honoured (the worker waits `Retry-After` and resends);
/// a 4xx answer stops the run with [`GenError::Rejected`].
///
/// The pool is replayed round-robin, so a long run sends the same events
/// (same times, same users) more than once.
pub async fn load(cfg: LoadConfig) -> Result<LoadReport, GenError> {
    if cfg.batch_size == 0 || cfg.concurrency == 0 {
        return Err(GenError::Config(
            "batch size and concurrency must be at least 1".into(),
        ));
    }
    let url = Arc::new(events_url(&cfg.target)?);
    let built = Instant::now();
    let pool = Arc::new(build_pool(&cfg)?);
    let pool_build = built.elapsed();
    let pool_events = pool.iter().map(|b| b.events).sum();
    tracing::info!(
        target = %url,
        bodies = pool.len(),
        events = pool_events,
        build_ms = pool_build.as_millis() as u64,
        "load pool ready"
    );
    let client = client(cfg.concurrency, cfg.api_key.as_deref())?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + cfg.duration;
    let mut workers = JoinSet::new();
    for _ in 0..cfg.concurrency {
        let client = client.clone();
        let url = Arc::clone(&url);
        let pool = Arc::clone(&pool);
        let next = Arc::clone(&next);
        let gzip = cfg.gzip;
        workers
            .spawn(async move { worker(client, url, pool, next, started, deadline, gzip).await });
    }
    let mut hist = new_hist();
    let mut report = LoadReport {
        target: url.to_string(),
        batch_size: cfg.batch_size,
        concurrency: cfg.concurrency,
        gzip: cfg.gzip,
        pool_build,
        pool_events,
        ..LoadReport::default()
    };
    let mut failure = None;
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(Ok(w)) => {
                // Both histograms share bounds, so adding cannot fail.
                let _ = hist.add(&w.hist);
                report.events += w.events;
                report.requests += w.requests;
                report.throttled += w.throttled;
                report.errors += w.errors;
                report.bytes += w.bytes;
                if report.per_second.len() < w.per_second.len() {
                    report.per_second.resize(w.per_second.len(), 0);
                }
                for (total, n) in report.per_second.iter_mut().zip(&w.per_second) {
                    *total += n;
                }
            }
            Ok(Err(e)) => {
                workers.abort_all();
                failure.get_or_insert(e);
            }
            Err(join) if join.is_cancelled() => {}
            Err(join) => {
                failure.get_or_insert(GenError::Config(format!("load worker panicked: {join}")));
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    report.elapsed = started.elapsed();
    report.events_per_sec = report.events as f64 / report.elapsed.as_secs_f64().max(1e-9);
    let q = |p: f64| Duration::from_micros(hist.value_at_quantile(p));
    report.p50 = q(0.50);
    report.p90 = q(0.90);
    report.p99 = q(0.99);
    report.max = Duration::from_micros(hist.max());
    tracing::info!(
        events_per_sec = report.events_per_sec as u64,
        requests = report.requests,
        throttled = report.throttled,
        errors = report.errors,
        "load finished"
    );
    Ok(report)
}

fn new_hist() -> Histogram<u64> {
    // 1 µs .. 10 min at three significant digits; these bounds are valid.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("constant histogram bounds are valid")
}

async fn worker(
    client: reqwest::Client,
    url: Arc<String>,
    pool: Arc<Vec<Body>>,
    next: Arc<AtomicUsize>,
    started: Instant,
    deadline: Instant,
    gzip: bool,
) -> Result<WorkerResult, GenError> {
    let mut r = WorkerResult {
        hist: new_hist(),
        events: 0,
        requests: 0,
        throttled: 0,
        errors: 0,
        bytes: 0,
        per_second: Vec::new(),
    };
    let mut i = next.fetch_add(1, Ordering::Relaxed) % pool.len();
    while Instant::now() < deadline {
        let body = &pool[i];
        let mut req = client
            .post(url.as_str())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body.bytes.clone());
        if gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let t0 = Instant::now();
        match req.send().await {
            Ok(resp) => {
                let status = resp.status();
                let retry = resp
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0);
                let raw = resp.bytes().await;
                if status.is_success() {
                    let raw = raw.map_err(|source| GenError::Http {
                        url: url.to_string(),
                        source,
                    })?;
                    let us = t0.elapsed().as_micros().max(1) as u64;
                    let _ = r.hist.record(us.min(600_000_000));
                    r.requests += 1;
                    r.bytes += body.bytes.len() as u64;
                    let n = accepted(&raw).unwrap_or(body.events as u64);
                    r.events += n;
                    let second = started.elapsed().as_secs() as usize;
                    if r.per_second.len() <= second {
                        r.per_second.resize(second + 1, 0);
                    }
                    r.per_second[second] += n;
                    i = next.fetch_add(1, Ordering::Relaxed) % pool.len();
                } else if status == StatusCode::SERVICE_UNAVAILABLE
                    || status == StatusCode::TOO_MANY_REQUESTS
                {
                    r.throttled += 1;
                    let wait = Duration::from_secs_f64(retry.unwrap_or(0.05).min(60.0));
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(wait.min(left)).await;
                } else if status.is_client_error() {
                    let text = raw
                        .map(|b| String::from_utf8_lossy(&b[..b.len().min(500)]).into_owned())
                        .unwrap_or_default();
                    return Err(GenError::Rejected {
                        status: status.as_u16(),
                        body: text,
                    });
                } else {
                    r.errors += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Err(e) => {
                r.errors += 1;
                tracing::debug!(error = %e, "load request errored");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Ok(r)
}

fn accepted(raw: &[u8]) -> Option<u64> {
    // {"accepted":N}: find the number without building a JSON tree.
    let s = std::str::from_utf8(raw).ok()?;
    let rest = &s[s.find("\"accepted\"")? + 10..];
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}
