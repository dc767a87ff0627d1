//! `vigilo bench api`: the latency of every call the dashboard makes, against
//! a running server, from several clients at once.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::cli::BenchApiArgs;
use crate::out::outln;
use crate::table::{self, Column};

/// (label, path and query) of each call, as the dashboard's pages make them.
const CALLS: &[(&str, &str)] = &[
    ("overview 24h", "/api/v1/dashboard/overview"),
    ("timeline 24h/minute", "/api/v1/dashboard/timeline"),
    (
        "timeline 7d/hour",
        "/api/v1/dashboard/timeline?from=now-7d&bucket=hour",
    ),
    ("services 24h", "/api/v1/dashboard/services"),
    ("stats summary", "/api/v1/stats/summary"),
    (
        "metrics p95 cpu by service",
        "/api/v1/metrics/series?field=cpu&group_by=service&agg=p95&bucket=minute",
    ),
    (
        "metrics avg latency 7d",
        "/api/v1/metrics/series?field=latency_ms&group_by=none&agg=avg&from=now-7d&bucket=hour",
    ),
    (
        "findings open high+",
        "/api/v1/findings?status=open&severity=high,critical",
    ),
    ("findings by risk", "/api/v1/findings?sort=risk_score"),
    ("findings text search", "/api/v1/findings?q=admin"),
    ("findings groups by rule", "/api/v1/findings/groups?by=rule"),
    ("events page 1", "/api/v1/events"),
    ("events by service", "/api/v1/events?service=checkout"),
    ("pipelines", "/api/v1/pipelines"),
    ("rules", "/api/v1/rules"),
];

/// Relative times in the table above (`now-7d`) are filled in at start.
fn resolve(path: &str) -> String {
    let week_ago = (chrono::Utc::now() - chrono::TimeDelta::days(7))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    path.replace("now-7d", &week_ago)
}

pub async fn run(args: BenchApiArgs) -> anyhow::Result<ExitCode> {
    let base = args.target.trim_end_matches('/').to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = &args.key.api_key {
        let mut v = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| anyhow::anyhow!("--api-key holds characters a header cannot carry"))?;
        v.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, v);
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()?;
    let calls: Arc<Vec<(&str, String)>> =
        Arc::new(CALLS.iter().map(|(l, p)| (*l, resolve(p))).collect());
    // Warm up: each call once, and stop on the first that fails.
    for (label, path) in calls.iter() {
        let r = client.get(format!("{base}{path}")).send().await?;
        anyhow::ensure!(
            r.status().is_success(),
            "{label}: GET {path} answered {}",
            r.status()
        );
        r.bytes().await?;
    }
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + args.duration;
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, calls, next, base) =
            (client.clone(), calls.clone(), next.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); calls.len()];
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % calls.len();
                let started = Instant::now();
                let ok = match client.get(format!("{base}{}", calls[i].1)).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    samples[i].push(started.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        }));
    }
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); calls.len()];
    let mut errors = 0;
    for t in tasks {
        let (samples, e) = t.await?;
        errors += e;
        for (a, s) in all.iter_mut().zip(samples) {
            a.extend(s);
        }
    }
    let columns = [
        Column::text("call", 16),
        Column::number("calls"),
        Column::number("p50 ms"),
        Column::number("p95 ms"),
        Column::number("p99 ms"),
        Column::number("max ms"),
    ];
    let mut rows = Vec::new();
    let mut worst_p95 = 0.0f64;
    for ((label, _), s) in calls.iter().zip(all.iter_mut()) {
        s.sort_by(f64::total_cmp);
        let q = |p: f64| -> f64 {
            if s.is_empty() {
                return f64::NAN;
            }
            s[((s.len() as f64 - 1.0) * p).round() as usize]
        };
        worst_p95 = worst_p95.max(q(0.95));
        rows.push(vec![
            label.to_string(),
            s.len().to_string(),
            format!("{:.1}", q(0.50)),
            format!("{:.1}", q(0.95)),
            format!("{:.1}", q(0.99)),
            format!("{:.1}", s.last().copied().unwrap_or(f64::NAN)),
        ]);
    }
    crate::out::print(&table::render(&columns, &rows, crate::out::width()))?;
    outln!(
        "{} calls in {:?} from {} clients, {errors} failed; slowest p95 {worst_p95:.1} ms",
        all.iter().map(Vec::len).sum::<usize>(),
        args.duration,
        args.concurrency
    )?;
    if errors > 0 {
        return Ok(ExitCode::from(1));
    }
    if let Some(max) = args.max_p95_ms
        && worst_p95 > max
    {
        outln!("a p95 is above --max-p95-ms {max}")?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
