//! The real binary consuming Kafka (a real tansu broker): killed with
//! SIGKILL mid-stream and restarted, it holds every produced event exactly
//! once. Also the ingest throughput figure (ignored by default):
//! `cargo test --release -p vigilo --test kafka_crash -- --ignored --nocapture`.

#[path = "../../vigilo-server/tests/kafka/broker.rs"]
mod broker;
mod common;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use broker::Broker;
use common::{ServerProcess, api_key, client_with_key, get_json, wait_for_detection};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::json;

const PARTITIONS: i32 = 2;

/// A `[sources.kafka]` config over `topic` in `dir`.
fn write_config(dir: &Path, broker: &Broker, group: &str) -> std::path::PathBuf {
    let path = dir.join("vigilo.toml");
    let text = format!(
        "[sources.kafka]\nbrokers = \"{}\"\ngroup_id = \"{group}\"\ntopics = {{ logs = \"log\" }}\n\
         options = {{ \"session.timeout.ms\" = \"6000\" }}\nresume_rewind = 10000\n",
        broker.addr
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// Produce `n` events numbered 0..n to `logs`, in messages of 1 to 5
/// events (a single object or an array), spread over the partitions.
async fn produce(producer: FutureProducer, n: usize) -> Vec<i64> {
    let mut per_partition = vec![0i64; PARTITIONS as usize];
    let mut seq = 0usize;
    let mut msg = 0usize;
    let mut inflight = Vec::new();
    while seq < n {
        let size = (msg % 5 + 1).min(n - seq);
        let events: Vec<_> = (seq..seq + size)
            .map(|s| json!({"service": "svc", "level": "INFO", "message": "ok", "seq": s}))
            .collect();
        let body = if size == 1 {
            events[0].to_string()
        } else {
            serde_json::Value::Array(events).to_string()
        };
        seq += size;
        let partition = (msg % PARTITIONS as usize) as i32;
        per_partition[partition as usize] += 1;
        msg += 1;
        let p = producer.clone();
        inflight.push(tokio::spawn(async move {
            p.send(
                FutureRecord::<(), _>::to("logs")
                    .partition(partition)
                    .payload(body.as_bytes()),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
        }));
        if inflight.len() >= 500 {
            for t in inflight.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in inflight {
        t.await.unwrap();
    }
    per_partition
}

/// The `seq` of every stored event.
async fn stored_seqs(client: &reqwest::Client, url: &str) -> HashSet<u64> {
    let text = client
        .get(format!("{url}/api/v1/events?format=ndjson"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["payload"]["seq"].as_u64().expect("seq")
        })
        .collect()
}

async fn total(client: &reqwest::Client, url: &str) -> u64 {
    get_json(client, &format!("{url}/api/v1/events?page_size=1")).await["total"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_and_restart_stores_every_kafka_event_exactly_once() {
    const N: usize = 20_000;
    let broker = Broker::start();
    broker.create_topic("logs", PARTITIONS).await;
    let dir = tempfile::tempdir().unwrap();
    let key = api_key(dir.path(), "admin");
    let client = client_with_key(&key);
    let config = write_config(dir.path(), &broker, "vigilo-crash");
    let cfg = config.to_str().unwrap();

    let server = ServerProcess::start(dir.path(), &["--config", cfg]);
    let producer = tokio::spawn(produce(broker.producer(), N));
    // Mid-stream: some events stored, not all.
    let started = Instant::now();
    loop {
        let t = total(&client, &server.url).await;
        if t >= (N / 5) as u64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "events: {t}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal(libc::SIGKILL);
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(30)))
        .await
        .unwrap();
    assert!(!status.success());
    let messages = producer.await.unwrap();
    let committed = broker.committed("vigilo-crash", "logs", PARTITIONS);
    eprintln!("offsets committed at the kill: {committed:?}");

    let server = ServerProcess::start(dir.path(), &["--config", cfg]);
    let started = Instant::now();
    loop {
        let t = total(&client, &server.url).await;
        if t >= N as u64 {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let missing: Vec<u64> = {
                let have = stored_seqs(&client, &server.url).await;
                (0..N as u64).filter(|s| !have.contains(s)).collect()
            };
            let report = get_json(&client, &format!("{}/api/v1/pipelines", server.url)).await;
            panic!("events after restart: {t}; missing {missing:?}; status {report}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_detection(&client, &server.url).await;
    // The group's offsets reach the end of each partition.
    let started = Instant::now();
    loop {
        let committed = broker.committed("vigilo-crash", "logs", PARTITIONS);
        if committed == messages {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "committed {committed:?}, produced {messages:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Give a duplicate time to show up.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(total(&client, &server.url).await, N as u64);
    let text = client
        .get(format!("{}/api/v1/events?format=ndjson", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut seen = HashSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let seq = v["payload"]["seq"].as_u64().expect("seq");
        assert!(seen.insert(seq), "event {seq} stored twice");
    }
    assert_eq!(seen.len(), N);
    assert_eq!(seen, (0..N as u64).collect::<HashSet<_>>());
}

/// Produce N events (`KAFKA_BENCH_EVENTS`, default 200,000) before the
/// server starts, then time until every one is stored and evaluated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --release --ignored --nocapture"]
async fn kafka_ingest_throughput() {
    let n: usize = std::env::var("KAFKA_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let broker = Broker::start();
    broker.create_topic("logs", PARTITIONS).await;
    let t = Instant::now();
    let _ = produce(broker.producer(), n).await;
    eprintln!("produced {n} events in {:.2?}", t.elapsed());
    let dir = tempfile::tempdir().unwrap();
    let key = api_key(dir.path(), "admin");
    let client = client_with_key(&key);
    let config = write_config(dir.path(), &broker, "vigilo-bench");
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()]);
    let started = Instant::now();
    loop {
        if total(&client, &server.url).await >= n as u64 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = started.elapsed();
    wait_for_detection(&client, &server.url).await;
    let evaluated = started.elapsed();
    eprintln!(
        "kafka ingest: {n} events stored in {stored:.2?} ({:.0} events/s), \
         stored and evaluated in {evaluated:.2?} ({:.0} events/s)",
        n as f64 / stored.as_secs_f64(),
        n as f64 / evaluated.as_secs_f64()
    );
}
