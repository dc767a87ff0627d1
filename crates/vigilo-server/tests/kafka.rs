//! The Kafka source and sink against a real Kafka-protocol broker (tansu)
//! and a real server.

#[path = "kafka/broker.rs"]
mod broker;
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use broker::Broker;
use common::{Resp, TestServer, start_with};
use rdkafka::Message;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::Headers;
use serde_json::{Value, json};
use vigilo_server::Config;
use vigilo_server::connectors::kafka::{KafkaSinkConfig, KafkaSourceConfig, stream_offset};

/// How long any wait on the broker lasts before the test fails.
const WAIT: Duration = Duration::from_secs(30);

fn source(broker: &Broker, group: &str, topics: &[(&str, &str)]) -> KafkaSourceConfig {
    KafkaSourceConfig {
        brokers: broker.addr.clone(),
        group_id: group.into(),
        topics: topics
            .iter()
            .map(|(t, k)| (t.to_string(), k.to_string()))
            .collect(),
        options: vigilo_server::connectors::kafka::ClientOptions(BTreeMap::from([(
            "session.timeout.ms".into(),
            "6000".into(),
        )])),
        ..KafkaSourceConfig::default()
    }
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_events(s: &TestServer, n: u64) {
    wait_until(&format!("{n} stored events"), || async {
        s.event_total().await >= n
    })
    .await;
}

async fn events(s: &TestServer, query: &str) -> Vec<Value> {
    let r = s
        .get(&format!("/api/v1/events?page_size=500&{query}"))
        .await;
    r.expect_status(200)["items"].as_array().unwrap().clone()
}

async fn wait_committed(broker: &Broker, group: &str, topic: &str, want: &[i64]) {
    let started = Instant::now();
    loop {
        let got = broker.committed(group, topic, want.len() as i32);
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < WAIT,
            "committed offsets of {topic}: {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every message on `topic` until `n` arrived, as (key, value, headers).
async fn read(
    consumer: &StreamConsumer,
    n: usize,
) -> Vec<(Option<String>, Value, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .expect("message in time")
            .expect("message");
        let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
        let value = serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null);
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_string(),
                            String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push((key, value, headers));
    }
    out
}

/// No further message arrives within `quiet`.
async fn nothing_more(consumer: &StreamConsumer, quiet: Duration) {
    if let Ok(Ok(m)) = tokio::time::timeout(quiet, consumer.recv()).await {
        panic!(
            "unexpected message: {}",
            String::from_utf8_lossy(m.payload().unwrap_or_default())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produced_events_are_stored_with_their_kind_and_kafka_metadata_and_offsets_committed() {
    let broker = Broker::start();
    broker.create_topic("logs", 1).await;
    broker.create_topic("metrics", 1).await;
    let cfg = source(
        &broker,
        "vigilo-t1",
        &[("logs", "log"), ("metrics", "metric")],
    );
    let mut s = start_with(|c, _| c.sources.kafka = Some(cfg)).await;
    let p = broker.producer();
    broker
        .produce(
            &p,
            "logs",
            0,
            Some("billing-1"),
            br#"{"timestamp":"2025-08-01T00:00:00Z","service":"billing","level":"ERROR","message":"charge failed","seq":1}"#,
            &[("trace", "abc"), ("source", "pod-7")],
        )
        .await;
    broker
        .produce(
            &p,
            "logs",
            0,
            None,
            br#"[{"service":"web","level":"INFO","message":"ok","seq":2},{"kind":"audit","service":"web","action":"login","seq":3}]"#,
            &[],
        )
        .await;
    broker
        .produce(
            &p,
            "metrics",
            0,
            None,
            br#"{"service":"api","cpu":12.5,"seq":4}"#,
            &[],
        )
        .await;
    wait_for_events(&s, 4).await;
    s.wait_for_detection().await;
    assert_eq!(s.event_total().await, 4);

    let by_seq: BTreeMap<i64, Value> = events(&s, "")
        .await
        .into_iter()
        .map(|e| (e["payload"]["seq"].as_i64().unwrap(), e))
        .collect();
    let kinds: Vec<&str> = by_seq
        .values()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // The topic's kind unless the event names its own.
    assert_eq!(kinds, ["log", "log", "audit", "metric"]);
    assert_eq!(
        by_seq[&1]["payload"]["_kafka"],
        json!({"topic": "logs", "partition": 0, "offset": 0, "key": "billing-1",
               "headers": {"trace": "abc", "source": "pod-7"}})
    );
    assert_eq!(
        by_seq[&3]["payload"]["_kafka"],
        json!({"topic": "logs", "partition": 0, "offset": 1, "key": null, "headers": {}})
    );
    assert_eq!(by_seq[&4]["payload"]["_kafka"]["topic"], "metrics");
    assert_eq!(by_seq[&1]["payload"]["message"], "charge failed");

    // The stream positions: the last event of each partition.
    let positions = s.state.storage.stream_positions("kafka:").await.unwrap();
    assert_eq!(
        positions,
        BTreeMap::from([
            ("kafka:logs:0".to_string(), stream_offset(1, 1)),
            ("kafka:metrics:0".to_string(), stream_offset(0, 0)),
        ])
    );

    // Detection ran over them.
    let fs = s.findings("rule_id=anomaly.log_failed_keyword").await;
    assert_eq!(fs.len(), 1, "{fs:?}");

    // Offsets committed: the next message to read on each partition.
    wait_committed(&broker, "vigilo-t1", "logs", &[2]).await;
    wait_committed(&broker, "vigilo-t1", "metrics", &[1]).await;

    // The status board shows the source.
    wait_until("a kafka status report", || async {
        let r = s.get("/api/v1/pipelines").await;
        r.text.contains("\"kafka\"")
    })
    .await;
    let m = s.get("/metrics").await;
    assert!(m.text.contains("vigilo_kafka_messages_total"), "{}", m.text);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_message_goes_to_the_dead_letters_and_its_partition_moves_on() {
    let broker = Broker::start();
    broker.create_topic("logs", 1).await;
    broker.create_topic("vigilo.dead", 1).await;
    let mut cfg = source(&broker, "vigilo-t2", &[("logs", "log")]);
    cfg.dead_letter_topic = Some("vigilo.dead".into());
    let mut s = start_with(|c, _| c.sources.kafka = Some(cfg)).await;
    let p = broker.producer();
    let bad: [&[u8]; 4] = [
        b"not json at all",
        b"[1, 2]",
        br#"{"kind": 5, "service": "x"}"#,
        b"\"a string\"",
    ];
    broker
        .produce(&p, "logs", 0, None, br#"{"service":"a","seq":1}"#, &[])
        .await;
    for (i, b) in bad.iter().enumerate() {
        let key = format!("bad-{i}");
        broker
            .produce(&p, "logs", 0, Some(&key), b, &[("origin", "test")])
            .await;
    }
    broker
        .produce(&p, "logs", 0, None, br#"{"service":"a","seq":2}"#, &[])
        .await;
    broker
        .produce(&p, "logs", 0, None, br#"[{"service":"a","seq":3}]"#, &[])
        .await;
    wait_for_events(&s, 3).await;
    wait_committed(&broker, "vigilo-t2", "logs", &[7]).await;
    assert_eq!(s.event_total().await, 3);

    let r: Resp = s
        .get("/api/v1/dead-letters?source=kafka&page_size=50")
        .await;
    let body = r.expect_status(200);
    assert_eq!(body["total"], 4, "{body}");
    let mut items = body["items"].as_array().unwrap().clone();
    items.sort_by_key(|d| d["location"].as_str().unwrap().to_string());
    let locations: Vec<&str> = items
        .iter()
        .map(|d| d["location"].as_str().unwrap())
        .collect();
    assert_eq!(locations, ["logs/0@1", "logs/0@2", "logs/0@3", "logs/0@4"]);
    assert_eq!(items[0]["preview"], "not json at all");
    assert_eq!(items[0]["meta"]["key"], "bad-0");
    assert_eq!(items[0]["meta"]["headers"]["origin"], "test");
    for d in &items {
        assert!(!d["reason"].as_str().unwrap().is_empty(), "{d}");
    }

    // The dead-letter topic holds the same messages, raw, with the reason.
    let reader = broker.reader("vigilo.dead");
    let got = read(&reader, 4).await;
    let keys: Vec<_> = got.iter().map(|(k, _, _)| k.clone().unwrap()).collect();
    assert_eq!(keys, ["bad-0", "bad-1", "bad-2", "bad-3"]);
    for (_, _, h) in &got {
        assert!(h.contains_key("vigilo-reason"), "{h:?}");
        assert_eq!(h["origin"], "test");
    }
    assert_eq!(got[1].1, json!([1, 2]));
    nothing_more(&reader, Duration::from_secs(1)).await;
    s.stop().await;
}

/// A server on an existing data directory (the same database), run until
/// the returned sender fires.
struct Restarted {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Restarted {
    async fn start(dir: &Path, config: Config, api_key: &str) -> Restarted {
        let server = common::bind(dir, config).await;
        let base = format!("http://{}", server.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Restarted {
            base,
            client: common::client_with_key(api_key),
            stop: Some(tx),
            task,
        }
    }

    async fn get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivered_message_stores_nothing_twice() {
    let broker = Broker::start();
    broker.create_topic("logs", 2).await;
    let cfg = source(&broker, "vigilo-t3", &[("logs", "log")]);
    let cfg2 = cfg.clone();
    let mut s = start_with(|c, _| c.sources.kafka = Some(cfg)).await;
    let p = broker.producer();
    let mut seq = 0;
    for partition in 0..2 {
        for _ in 0..3 {
            // Each message an array of three events.
            let batch: Vec<Value> = (0..3)
                .map(|_| {
                    seq += 1;
                    json!({"service": "svc", "seq": seq})
                })
                .collect();
            let body = serde_json::to_vec(&batch).unwrap();
            broker
                .produce(&p, "logs", partition, None, &body, &[])
                .await;
        }
    }
    wait_for_events(&s, 18).await;
    wait_committed(&broker, "vigilo-t3", "logs", &[3, 3]).await;
    s.stop().await;

    // Every message delivered again, plus one new message.
    broker.reset_group("vigilo-t3", "logs", 2, 0);
    assert_eq!(broker.committed("vigilo-t3", "logs", 2), [0, 0]);
    broker
        .produce(
            &p,
            "logs",
            1,
            None,
            br#"[{"service":"svc","seq":19},{"service":"svc","seq":20}]"#,
            &[],
        )
        .await;
    let dir = s.data_dir();
    let mut config = common::test_config(&dir);
    config.sources.kafka = Some(cfg2);
    let again = Restarted::start(&dir, config, &s.api_key).await;
    // The group reads everything again and moves past it ...
    wait_committed(&broker, "vigilo-t3", "logs", &[3, 4]).await;
    // ... storing only the new events.
    let started = Instant::now();
    loop {
        let total = again.get("/api/v1/events?page_size=1").await["total"]
            .as_u64()
            .unwrap();
        if total >= 20 {
            assert_eq!(total, 20);
            break;
        }
        assert!(started.elapsed() < WAIT, "events: {total}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = again.get("/api/v1/events?page_size=500").await;
    let mut seqs: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["payload"]["seq"].as_i64().unwrap())
        .collect();
    seqs.sort();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_publishes_a_created_finding_and_its_resolution_once_each() {
    let broker = Broker::start();
    broker.create_topic("vigilo.findings", 1).await;
    let sink = KafkaSinkConfig {
        brokers: broker.addr.clone(),
        ..KafkaSinkConfig::default()
    };
    let mut s = start_with(|c, _| c.sinks.kafka = Some(sink)).await;
    let reader = broker.reader("vigilo.findings");
    s.ingest(&json!({"timestamp": "2025-08-01T00:00:00Z", "service": "billing", "level": "ERROR", "message": "charge failed"}))
        .await;
    s.wait_for_detection().await;
    let fs = s.findings("rule_id=anomaly.log_failed_keyword").await;
    assert_eq!(fs.len(), 1);
    let id = fs[0]["id"].as_i64().unwrap();

    let got = read(&reader, 1).await;
    assert_eq!(got[0].0.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(got[0].1["event"], "created");
    assert_eq!(got[0].1["finding"]["id"], id);
    assert_eq!(got[0].1["finding"]["rule_id"], "anomaly.log_failed_keyword");
    assert_eq!(got[0].1["finding"]["status"], "open");

    let r = s
        .patch_json(
            &format!("/api/v1/findings/{id}"),
            &json!({"status": "resolved"}),
        )
        .await;
    r.expect_status(200);
    let got = read(&reader, 1).await;
    assert_eq!(got[0].1["event"], "status");
    assert_eq!(got[0].1["finding"]["id"], id);
    assert_eq!(got[0].1["finding"]["status"], "resolved");
    nothing_more(&reader, Duration::from_secs(2)).await;

    // The position moved past both, so a restart publishes nothing again.
    let pos = s
        .state
        .storage
        .consumer_position("sink.kafka")
        .await
        .unwrap();
    let changes = s.state.storage.finding_changes_after(0, 100).await.unwrap();
    assert_eq!(pos, changes.last().unwrap().seq);
    s.stop().await;
    let dir = s.data_dir();
    let mut config = common::test_config(&dir);
    config.sinks.kafka = Some(KafkaSinkConfig {
        brokers: broker.addr.clone(),
        ..KafkaSinkConfig::default()
    });
    let again = Restarted::start(&dir, config, &s.api_key).await;
    nothing_more(&reader, Duration::from_secs(2)).await;
    again.stop().await;
}

/// A group resuming inside a batch of records produced together: tansu
/// 0.6 answers a fetch from inside a batch with the batches after it, so
/// `resume_rewind` starts the partition earlier and the stored origins
/// skip what is already stored (see docs/connectors/kafka.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_resuming_inside_a_produced_batch_loses_nothing_with_resume_rewind() {
    let broker = Broker::start();
    broker.create_topic("logs", 1).await;
    let p: rdkafka::producer::FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &broker.addr)
        .set("linger.ms", "200")
        .create()
        .unwrap();
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let body = format!("{{\"service\":\"svc\",\"seq\":{i}}}");
            let p = p.clone();
            tokio::spawn(async move {
                p.send(
                    rdkafka::producer::FutureRecord::<(), _>::to("logs")
                        .partition(0)
                        .payload(body.as_bytes()),
                    Duration::from_secs(10),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap()
            })
        })
        .collect();
    for s in sends {
        s.await.unwrap();
    }
    // As after a crash: offset 7 (inside the batch) committed.
    broker.reset_group("resume", "logs", 1, 7);
    let mut cfg = source(&broker, "resume", &[("logs", "log")]);
    cfg.resume_rewind = 10_000;
    let mut s = start_with(|c, _| c.sources.kafka = Some(cfg)).await;
    wait_committed(&broker, "resume", "logs", &[20]).await;
    let seqs: std::collections::BTreeSet<i64> = events(&s, "")
        .await
        .iter()
        .map(|e| e["payload"]["seq"].as_i64().unwrap())
        .collect();
    for want in 7..20 {
        assert!(seqs.contains(&want), "event {want} missing: {seqs:?}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_publishes_each_iam_audit_summary_once_in_the_auditors_envelope() {
    let broker = Broker::start();
    broker.create_topic("vigilo.findings", 1).await;
    broker.create_topic("iam.pipeline", 1).await;
    let sink = || KafkaSinkConfig {
        brokers: broker.addr.clone(),
        iam_topic: Some("iam.pipeline".into()),
        ..KafkaSinkConfig::default()
    };
    let first = sink();
    let mut s = start_with(move |c, _| c.sinks.kafka = Some(first)).await;
    let reader = broker.reader("iam.pipeline");
    let doc = json!({"users": [
        {"username": "root", "mfa_enabled": false, "privileges": ["admin"], "permissions": "*"},
        {"username": "ok", "mfa_enabled": true, "privileges": [], "permissions": ["s3:GetObject"]}
    ]});
    let r = s.post_json("/api/v1/iam/audits", &doc).await;
    let audit_id = r.expect_status(201)["id"].as_i64().unwrap();

    let got = read(&reader, 1).await;
    assert_eq!(got[0].0.as_deref(), Some(audit_id.to_string().as_str()));
    let envelope = &got[0].1;
    assert_eq!(envelope["status"], "done");
    assert_eq!(envelope["pipeline"], "iam-audit");
    assert_eq!(envelope["audit_id"], audit_id);
    assert!(
        envelope["summary"]["high_risk"].as_u64().unwrap() >= 1,
        "{envelope}"
    );
    // The summary the audit API answers in the IAM auditor's shape.
    let seed = s.post_json("/audit-iam", &doc).await;
    assert_eq!(seed.expect_status(200), &envelope["summary"]);
    // That second audit is published too, once, and nothing more.
    let got = read(&reader, 1).await;
    assert!(got[0].1["audit_id"].as_i64().unwrap() > audit_id);
    nothing_more(&reader, Duration::from_secs(2)).await;

    // A restart publishes neither again.
    s.stop().await;
    let dir = s.data_dir();
    let mut config = common::test_config(&dir);
    config.sinks.kafka = Some(sink());
    let again = Restarted::start(&dir, config, &s.api_key).await;
    nothing_more(&reader, Duration::from_secs(2)).await;
    again.stop().await;
}
