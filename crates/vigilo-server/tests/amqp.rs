//! The RabbitMQ source and sink against the broker on 127.0.0.1:5672
//! (guest/guest). Every test uses queues of its own (a random suffix) and
//! deletes them at the end.

mod common;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicGetOptions, BasicPublishOptions,
    ConfirmSelectOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};
use vigilo_server::config::Secret;
use vigilo_server::connectors::amqp::{AmqpSinkConfig, AmqpSourceConfig};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// Ten times the slowest wait seen here (a reconnect takes under a second
/// after the broker closes the connection; a sink message under 300 ms).
const WAIT: Duration = Duration::from_secs(30);

/// Every test holds this shared; the broker restart holds it alone, so
/// no other test sees the broker go away under it.
static BROKER: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

fn suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

struct Broker {
    conn: Connection,
    ch: Channel,
}

impl Broker {
    async fn connect() -> Broker {
        let conn = Connection::connect(URL, ConnectionProperties::default())
            .await
            .expect("RabbitMQ on 127.0.0.1:5672");
        let ch = conn.create_channel().await.unwrap();
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .unwrap();
        Broker { conn, ch }
    }

    /// Publish to the default exchange with the queue name as routing key,
    /// as the pipeline dashboard's agents do; wait for the confirm.
    async fn publish(&self, queue: &str, body: &[u8]) {
        let c = self
            .ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_content_type("application/json".into()),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert!(c.is_ack(), "broker refused the message");
    }

    async fn get(&self, queue: &str) -> Option<lapin::message::BasicGetMessage> {
        self.ch
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
    }

    async fn delete(&self, queues: &[String]) {
        for q in queues {
            let _ = self
                .ch
                .queue_delete(q.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
        let _ = self.conn.close(200, "OK".into()).await;
    }
}

async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(started.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn source_config(name: &str, queues: &[String]) -> AmqpSourceConfig {
    AmqpSourceConfig {
        url: Secret::new(URL),
        queues: queues.to_vec(),
        connection_name: name.to_string(),
        ..AmqpSourceConfig::default()
    }
}

async fn start_source(cfg: AmqpSourceConfig) -> TestServer {
    let s = start_with(move |c, _| c.sources.amqp = Some(cfg)).await;
    wait_connected(&s, "amqp", 0).await;
    s
}

/// Wait until the connector reports itself connected after at least
/// `reconnects` reconnections.
async fn wait_connected(s: &TestServer, name: &str, reconnects: u64) {
    eventually(&format!("{name} connected"), || async {
        let r = s.get(&format!("/api/v1/pipelines/{name}")).await;
        let p = &r.body["last_payload"];
        (r.status == 200
            && p["connected"] == json!(true)
            && p["reconnects_total"].as_u64().unwrap_or(0) >= reconnects)
            .then_some(())
    })
    .await
}

async fn wait_events(s: &TestServer, n: u64) {
    let started = Instant::now();
    while s.event_total().await < n {
        if started.elapsed() > WAIT {
            let r = s.get("/api/v1/pipelines/amqp").await;
            panic!(
                "timed out waiting for {n} stored events ({} stored); source: {}",
                s.event_total().await,
                r.body["last_payload"]
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.event_total().await, n);
}

#[tokio::test]
async fn a_pipeline_status_message_changes_the_status_board() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.pipeline");
    let mut s = start_source(source_config(
        &format!("vigilo-test-{sfx}"),
        std::slice::from_ref(&queue),
    ))
    .await;
    let broker = Broker::connect().await;

    broker
        .publish(
            &queue,
            br#"{"status": "running", "stage": "validation", "message": "validating 42 rules"}"#,
        )
        .await;
    let view = eventually("the status board to show the report", || async {
        let r = s.get(&format!("/api/v1/pipelines/{queue}")).await;
        (r.status == 200 && r.body["status"] == json!("running")).then_some(r.body)
    })
    .await;
    assert_eq!(view["last_payload"]["message"], "validating 42 rules");
    assert_eq!(view["last_payload"]["pipeline"], json!(queue));

    // A report naming its pipeline goes to that pipeline; a later report
    // moves the status on.
    let other = format!("vigilo-test-{sfx}.delta");
    broker
        .publish(
            &queue,
            json!({"pipeline": other, "status": "success", "changed": 3})
                .to_string()
                .as_bytes(),
        )
        .await;
    broker.publish(&queue, br#"{"status": "done"}"#).await;
    eventually("the second report", || async {
        let r = s.get(&format!("/api/v1/pipelines/{queue}")).await;
        (r.body["status"] == json!("done")).then_some(())
    })
    .await;
    let r = s.get(&format!("/api/v1/pipelines/{other}")).await;
    assert_eq!(r.expect_status(200)["status"], "success", "{}", r.text);
    assert_eq!(r.body["last_payload"]["changed"], 3);
    // Nothing was taken for an event, and the source counts the reports.
    assert_eq!(s.event_total().await, 0);
    eventually("the source's counts", || async {
        let r = s.get("/api/v1/pipelines/amqp").await;
        (r.body["last_payload"]["pipeline_reports_total"] == json!(3)).then_some(())
    })
    .await;

    s.stop().await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

#[tokio::test]
async fn an_event_message_is_stored_and_evaluated() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.metrics");
    let mut cfg = source_config(&format!("vigilo-test-{sfx}"), std::slice::from_ref(&queue));
    cfg.kinds.insert(queue.clone(), "metric".into());
    let mut s = start_source(cfg).await;
    let broker = Broker::connect().await;

    let service = format!("api-{sfx}");
    // No `kind`: the queue's default kind makes it a metric.
    let event = json!({"timestamp": chrono::Utc::now().to_rfc3339(), "service": service,
        "cpu": 20, "latency_ms": 1500});
    broker.publish(&queue, event.to_string().as_bytes()).await;
    wait_events(&s, 1).await;
    s.wait_for_detection().await;
    let findings = eventually("a finding", || async {
        let f = s.findings("").await;
        (!f.is_empty()).then_some(f)
    })
    .await;
    let f = only(&findings, "anomaly.high_latency");
    assert_eq!(f["group"]["service"], json!(service), "{f}");

    let r = s.get("/api/v1/events?page_size=10").await;
    let stored = &r.expect_status(200)["items"][0];
    assert_eq!(stored["kind"], "metric", "{stored}");

    s.stop().await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

#[tokio::test]
async fn a_bad_message_is_dead_lettered_and_the_next_one_is_stored() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.events");
    let dead = format!("{queue}.dead");
    let mut s = start_source(source_config(
        &format!("vigilo-test-{sfx}"),
        std::slice::from_ref(&queue),
    ))
    .await;
    let broker = Broker::connect().await;

    let bad = br#"{"service": "api", "latency_ms": 12"#;
    let refused = br#"{"status": "exploded", "note": "not a hub status"}"#;
    broker.publish(&queue, bad).await;
    broker.publish(&queue, refused).await;
    broker
        .publish(
            &queue,
            br#"{"service": "api", "kind": "log", "level": "info"}"#,
        )
        .await;
    wait_events(&s, 1).await;

    // Both bad ones are in the dead-letter table, with their bytes ...
    let letters = eventually("two dead letters", || async {
        let r = s.get("/api/v1/dead-letters?source=amqp").await;
        (r.body["total"] == json!(2)).then_some(r.body)
    })
    .await;
    let items = letters["items"].as_array().unwrap();
    let by_preview: BTreeMap<String, &Value> = items
        .iter()
        .map(|d| (d["preview"].as_str().unwrap().to_string(), d))
        .collect();
    let first = by_preview[&String::from_utf8_lossy(bad).to_string()];
    assert_eq!(first["location"], json!(queue));
    assert!(
        first["reason"].as_str().unwrap().contains("malformed_body"),
        "{first}"
    );
    assert_eq!(first["meta"]["routing_key"], json!(queue));
    let second = by_preview[&String::from_utf8_lossy(refused).to_string()];
    assert!(
        second["reason"]
            .as_str()
            .unwrap()
            .contains("unknown status"),
        "{second}"
    );

    // ... and the broker moved them to the dead-letter queue, nacked.
    let mut moved = Vec::new();
    for _ in 0..2 {
        let m = eventually("a message on the dead-letter queue", || async {
            broker.get(&dead).await
        })
        .await;
        let death = m
            .properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get("x-death").cloned());
        assert!(
            matches!(death, Some(AMQPValue::FieldArray(_))),
            "no x-death header: {:?}",
            m.properties.headers()
        );
        moved.push(m.delivery.data.clone());
    }
    assert_eq!(moved, vec![bad.to_vec(), refused.to_vec()]);
    // The queue itself is drained: everything was settled.
    assert!(broker.get(&queue).await.is_none());

    s.stop().await;
    broker.delete(&[queue.clone(), dead]).await;
}

/// Close the broker side of the connection named `name`.
fn close_connection(name: &str) -> usize {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["-q", "list_connections", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl on PATH");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut closed = 0;
    for line in text.lines().filter(|l| l.contains(&format!("\"{name}\""))) {
        let pid = line.split('\t').next().unwrap();
        let st = std::process::Command::new("rabbitmqctl")
            .args(["-q", "close_connection", pid, "test: broker went away"])
            .status()
            .unwrap();
        assert!(st.success());
        closed += 1;
    }
    closed
}

/// Stops RabbitMQ's application (its listeners close, every connection is
/// dropped, new ones are refused) and starts it again when dropped, so a
/// failing test never leaves the broker down.
struct BrokerDown;

impl BrokerDown {
    fn stop() -> BrokerDown {
        rabbitmqctl(&["stop_app"]);
        BrokerDown
    }
}

impl Drop for BrokerDown {
    fn drop(&mut self) {
        rabbitmqctl(&["start_app"]);
        rabbitmqctl(&["await_startup"]);
    }
}

fn rabbitmqctl(args: &[&str]) {
    let st = std::process::Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .status()
        .expect("rabbitmqctl on PATH");
    assert!(st.success(), "rabbitmqctl {args:?}");
}

/// How the broker goes away under the source.
enum Outage {
    /// The broker closes the source's connection.
    ConnectionClosed,
    /// RabbitMQ stops and starts again: connections refused meanwhile.
    Restart,
}

#[tokio::test]
async fn a_broker_restarted_under_the_consumer_is_survived() {
    let _alone = BROKER.write().await;
    outage_is_survived(Outage::Restart).await;
}

#[tokio::test]
async fn a_connection_closed_by_the_broker_is_survived() {
    let _broker = BROKER.read().await;
    outage_is_survived(Outage::ConnectionClosed).await;
}

/// One event before the outage, one sent while the source is away (or
/// right after the broker is back), one after it reconnected: all three
/// are stored, and no credential shows on the status board.
async fn outage_is_survived(outage: Outage) {
    let sfx = suffix();
    let name = format!("vigilo-test-{sfx}");
    let queue = format!("vigilo-test-{sfx}.events");
    let mut s = start_source(source_config(&name, std::slice::from_ref(&queue))).await;
    let event = |n: u32| format!(r#"{{"service": "api", "n": {n}}}"#);
    let mut broker = Broker::connect().await;
    broker.publish(&queue, event(1).as_bytes()).await;
    wait_events(&s, 1).await;

    let started = Instant::now();
    match outage {
        Outage::ConnectionClosed => {
            assert_eq!(
                close_connection(&name),
                1,
                "the source's connection is listed"
            );
            // Published while the source is away: kept by the broker.
            broker.publish(&queue, event(2).as_bytes()).await;
        }
        Outage::Restart => {
            drop(broker);
            let down = BrokerDown::stop();
            eventually("the source to report the broker gone", || async {
                let r = s.get("/api/v1/pipelines/amqp").await;
                (r.body["last_payload"]["connected"] == json!(false)).then_some(())
            })
            .await;
            // Down for a while: the source keeps retrying a refused port.
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(down);
            broker = Broker::connect().await;
            broker.publish(&queue, event(2).as_bytes()).await;
        }
    }
    wait_connected(&s, "amqp", 1).await;
    println!(
        "amqp source: reconnected {:.2}s after the outage began",
        started.elapsed().as_secs_f64()
    );
    broker.publish(&queue, event(3).as_bytes()).await;
    wait_events(&s, 3).await;
    let r = s.get("/api/v1/pipelines/amqp").await;
    assert_eq!(r.status, 200);
    assert!(!r.body.to_string().contains("guest:guest"), "{}", r.body);

    s.stop().await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

#[tokio::test]
async fn the_sink_publishes_finding_changes_and_iam_audits_once_each() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let findings_q = format!("vigilo-test-{sfx}.findings");
    let iam_q = format!("vigilo-test-{sfx}.iam");
    let sink_name = format!("vigilo-test-{sfx}-sink");
    let sink = AmqpSinkConfig {
        url: Secret::new(URL),
        findings_routing_key: findings_q.clone(),
        iam_routing_key: iam_q.clone(),
        connection_name: sink_name.clone(),
        ..AmqpSinkConfig::default()
    };
    let mut s = start_with(move |c, _| c.sinks.amqp = Some(sink)).await;
    wait_connected(&s, "amqp-sink", 0).await;
    let broker = Broker::connect().await;
    let mut consumer = broker
        .ch
        .basic_consume(
            findings_q.as_str().into(),
            "test".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();

    let service = format!("api-{sfx}");
    s.ingest(&json!({"kind": "metric", "service": service, "cpu": 10, "latency_ms": 2500}))
        .await;
    s.wait_for_detection().await;
    let findings = s.findings("").await;
    let f = only(&findings, "anomaly.high_latency");
    let id = f["id"].as_i64().unwrap();

    // Collect until both arrived, then a while longer: nothing repeats.
    // Between the two, the broker closes the sink's connection: the
    // resolution still goes out, once.
    let mut seen: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let started = Instant::now();
    let mut settled = None;
    let mut patched = false;
    while started.elapsed() < WAIT {
        let has_created = seen.values().flatten().any(|m| m["event"] == "created");
        if has_created && !patched {
            assert_eq!(close_connection(&sink_name), 1, "the sink's connection");
            s.patch_json(
                &format!("/api/v1/findings/{id}"),
                &json!({"status": "resolved"}),
            )
            .await
            .expect_status(200);
            patched = true;
        }
        let next = tokio::time::timeout(Duration::from_millis(100), consumer.next()).await;
        if let Ok(Some(Ok(d))) = next {
            let mid = d.properties.message_id().as_ref().unwrap().to_string();
            assert_eq!(
                d.properties.delivery_mode(),
                &Some(2),
                "findings are persistent"
            );
            seen.entry(mid)
                .or_default()
                .push(serde_json::from_slice(&d.data).unwrap());
            d.ack(BasicAckOptions::default()).await.unwrap();
        }
        let events: Vec<&str> = seen
            .values()
            .flatten()
            .map(|m| m["event"].as_str().unwrap())
            .collect();
        if events.contains(&"created") && events.contains(&"status") && settled.is_none() {
            settled = Some(Instant::now());
        }
        if settled.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            break;
        }
    }
    assert!(settled.is_some(), "not both messages arrived: {seen:?}");
    wait_connected(&s, "amqp-sink", 1).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (mid, msgs) in &seen {
        assert_eq!(msgs.len(), 1, "{mid} delivered {} times", msgs.len());
        let m = &msgs[0];
        assert_eq!(m["finding"]["id"], id);
        assert_eq!(mid, &format!("finding-{id}-{}", m["seq"]));
    }
    let status = seen
        .values()
        .flatten()
        .find(|m| m["event"] == "status")
        .unwrap();
    assert_eq!(status["status"], "resolved");
    assert_eq!(status["finding"]["status"], "resolved");
    let created = seen
        .values()
        .flatten()
        .find(|m| m["event"] == "created")
        .unwrap();
    assert_eq!(created["finding"]["rule_id"], "anomaly.high_latency");
    assert_eq!(created["finding"]["group"]["service"], json!(service));

    // An IAM audit: its summary goes to the IAM routing key, in the IAM
    // auditor's envelope.
    let doc = json!({"users": [
        {"username": "root", "mfa_enabled": false, "privileges": ["admin"], "permissions": "*"},
        {"username": "ok", "mfa_enabled": true, "privileges": [], "permissions": ["s3:GetObject"]}
    ]});
    let r = s.post_json("/api/v1/iam/audits", &doc).await;
    let audit_id = r.expect_status(201)["id"].as_i64().unwrap();
    let m = eventually("the audit summary", || async { broker.get(&iam_q).await }).await;
    assert_eq!(
        m.properties.message_id().as_ref().unwrap().as_str(),
        format!("iam-audit-{audit_id}")
    );
    let envelope: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(envelope["status"], "done");
    assert_eq!(envelope["pipeline"], "iam-audit");
    assert_eq!(envelope["audit_id"], audit_id);
    let summary = &envelope["summary"];
    assert!(summary["high_risk"].as_u64().unwrap() >= 1, "{envelope}");
    assert!(
        summary["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["issue"].as_str().unwrap().contains("root"))
    );
    // The same summary the audit API answers for the seed's shape.
    let seed = s.post_json("/audit-iam", &doc).await;
    assert_eq!(seed.expect_status(200), summary);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let again = broker.get(&iam_q).await;
    let again_ids: Vec<String> = again
        .iter()
        .map(|m| m.properties.message_id().as_ref().unwrap().to_string())
        .collect();
    assert!(
        !again_ids.contains(&format!("iam-audit-{audit_id}")),
        "audit published twice"
    );

    s.stop().await;
    broker.delete(&[findings_q, iam_q]).await;
}

/// Messages/s of the source end to end: publish N event messages, time
/// until all are stored. `AMQP_BENCH_N` sets N (default 2000).
#[tokio::test]
async fn source_throughput() {
    let _broker = BROKER.read().await;
    let n: u64 = std::env::var("AMQP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.bench");
    let mut s = start_source(source_config(
        &format!("vigilo-test-{sfx}"),
        std::slice::from_ref(&queue),
    ))
    .await;
    let broker = Broker::connect().await;

    let started = Instant::now();
    let mut confirms = Vec::new();
    for i in 0..n {
        let body = json!({"kind": "metric", "service": format!("svc-{}", i % 20), "cpu": i % 100,
            "latency_ms": 20 + i % 50, "seq": i});
        let c = broker
            .ch
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap();
        confirms.push(c);
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let published = started.elapsed();
    wait_events(&s, n).await;
    let stored = started.elapsed();
    let rate = n as f64 / stored.as_secs_f64();
    println!(
        "amqp source: {n} messages published in {:.2}s, all stored in {:.2}s: {rate:.0} messages/s",
        published.as_secs_f64(),
        stored.as_secs_f64()
    );
    assert!(
        broker.get(&queue).await.is_none(),
        "every message was acked"
    );

    s.stop().await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

/// A backlog far past the ingest queue's capacity: the source waits while
/// the queue is full (nothing dropped, nothing acked early) and stores
/// every message once.
#[tokio::test]
async fn a_backlog_past_the_queue_capacity_is_stored_without_loss() {
    let _broker = BROKER.read().await;
    let n: u64 = std::env::var("AMQP_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.backlog");
    let broker = Broker::connect().await;
    broker
        .ch
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let mut confirms = Vec::new();
    for i in 0..n {
        let body = json!({"kind": "log", "service": "batch", "level": "info", "seq": i});
        let c = broker
            .ch
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap();
        confirms.push(c);
    }
    for c in confirms {
        assert!(c.await.unwrap().is_ack());
    }
    let cfg = source_config(&format!("vigilo-test-{sfx}"), std::slice::from_ref(&queue));
    let started = Instant::now();
    let mut s = start_with(move |c, _| {
        c.sources.amqp = Some(cfg);
        // A queue far smaller than the backlog, freed once a detection
        // commit is stored (every 50 ms here).
        c.ingest.queue_capacity = 200;
        c.ingest.max_batch_events = 16;
        c.detection.commit_interval_ms = 50;
    })
    .await;
    wait_events(&s, n).await;
    let took = started.elapsed();
    println!(
        "amqp source backlog: {n} messages stored in {:.2}s: {:.0} messages/s (queue capacity 200)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        broker.get(&queue).await.is_none(),
        "every message was acked"
    );
    assert_eq!(s.event_total().await, n);

    s.stop().await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

/// A stop while messages are waiting: what was handed over is stored and
/// acked, the rest stays on the queue for the next start, and nothing is
/// lost or stored twice across the restart.
#[tokio::test]
async fn a_restart_loses_and_repeats_nothing() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.restart");
    let cfg = source_config(&format!("vigilo-test-{sfx}"), std::slice::from_ref(&queue));
    let s = start_source(cfg.clone()).await;
    let broker = Broker::connect().await;
    let n = 1500u64;
    for i in 0..n {
        let body = json!({"kind": "log", "service": "r", "level": "info", "seq": i});
        broker
            .ch
            .basic_publish(
                "".into(),
                queue.as_str().into(),
                BasicPublishOptions::default(),
                body.to_string().as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap();
    }
    // Stop mid-stream, then start again on the same data directory.
    let mut s = s;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let dir = s.dir.path().to_path_buf();
    s.stop().await;
    let stored_before = {
        let server = bind(&dir, {
            let mut c = test_config(&dir);
            c.sources.amqp = Some(cfg.clone());
            c
        })
        .await;
        let state = server.state();
        let key = make_key(&state, "again", &[vigilo_auth::Scope::Admin]).await;
        let client = client_with_key(&key);
        let addr = server.local_addr();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let base = format!("http://{addr}");
        let total = || async {
            let v: Value = client
                .get(format!("{base}/api/v1/events?page_size=1"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["total"].as_u64().unwrap()
        };
        eventually("every message stored after the restart", || async {
            (total().await >= n).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t = total().await;
        let _ = tx.send(());
        handle.await.unwrap().unwrap();
        t
    };
    assert_eq!(stored_before, n, "stored exactly once across the restart");
    assert!(broker.get(&queue).await.is_none());
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

#[tokio::test]
async fn queues_bound_to_a_topic_exchange_are_consumed() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let exchange = format!("vigilo-test-{sfx}.x");
    let queue = format!("vigilo-test-{sfx}.bound");
    let mut cfg = source_config(&format!("vigilo-test-{sfx}"), std::slice::from_ref(&queue));
    cfg.exchange = Some(exchange.clone());
    cfg.bindings
        .insert(queue.clone(), vec!["metrics.#".into(), "logs.api".into()]);
    let mut s = start_source(cfg).await;
    let broker = Broker::connect().await;
    let publish = |key: &'static str, body: Value| {
        let ch = broker.ch.clone();
        let exchange = exchange.clone();
        async move {
            let c = ch
                .basic_publish(
                    exchange.as_str().into(),
                    key.into(),
                    BasicPublishOptions::default(),
                    body.to_string().as_bytes(),
                    BasicProperties::default(),
                )
                .await
                .unwrap()
                .await
                .unwrap();
            assert!(c.is_ack());
        }
    };
    publish(
        "metrics.cpu.api",
        json!({"kind": "metric", "service": "api", "cpu": 5}),
    )
    .await;
    publish(
        "logs.api",
        json!({"kind": "log", "service": "api", "level": "info"}),
    )
    .await;
    // Not bound: the exchange drops it.
    publish(
        "logs.db",
        json!({"kind": "log", "service": "db", "level": "info"}),
    )
    .await;
    wait_events(&s, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.event_total().await, 2);

    s.stop().await;
    let _ = broker
        .ch
        .exchange_delete(
            exchange.as_str().into(),
            lapin::options::ExchangeDeleteOptions::default(),
        )
        .await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}

/// A finding committed by the pipeline's last flush at shutdown is still
/// published before the sink stops.
#[tokio::test]
async fn the_sink_publishes_the_last_findings_at_shutdown() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let findings_q = format!("vigilo-test-{sfx}.findings");
    let iam_q = format!("vigilo-test-{sfx}.iam");
    let sink = AmqpSinkConfig {
        url: Secret::new(URL),
        findings_routing_key: findings_q.clone(),
        iam_routing_key: iam_q.clone(),
        connection_name: format!("vigilo-test-{sfx}-sink"),
        ..AmqpSinkConfig::default()
    };
    let mut s = start_with(move |c, _| {
        c.sinks.amqp = Some(sink);
        // Detection commits once a minute: only the shutdown flush
        // stores the finding.
        c.detection.commit_interval_ms = 60_000;
    })
    .await;
    wait_connected(&s, "amqp-sink", 0).await;
    let broker = Broker::connect().await;
    // The first commit happens at once and starts the minute.
    s.ingest(&json!({"kind": "log", "service": "early", "level": "info"}))
        .await;
    s.wait_for_detection().await;
    s.ingest(&json!({"kind": "metric", "service": "late", "cpu": 1, "latency_ms": 5000}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.finding_total().await, 0, "not committed before the stop");
    s.stop().await;
    let m = broker
        .get(&findings_q)
        .await
        .expect("the finding was published at shutdown");
    let body: Value = serde_json::from_slice(&m.delivery.data).unwrap();
    assert_eq!(body["event"], "created");
    assert_eq!(body["finding"]["rule_id"], "anomaly.high_latency");
    broker.delete(&[findings_q, iam_q]).await;
}

/// Messages Vigilo's own sink published (`app_id` `vigilo`) are acked and
/// skipped: a queue both consumed and published to does not echo.
#[tokio::test]
async fn the_sinks_own_messages_are_skipped() {
    let _broker = BROKER.read().await;
    let sfx = suffix();
    let queue = format!("vigilo-test-{sfx}.echo");
    let mut s = start_source(source_config(
        &format!("vigilo-test-{sfx}"),
        std::slice::from_ref(&queue),
    ))
    .await;
    let broker = Broker::connect().await;
    let own =
        json!({"status": "done", "pipeline": format!("vigilo-test-{sfx}.own"), "audit_id": 1});
    broker
        .ch
        .basic_publish(
            "".into(),
            queue.as_str().into(),
            BasicPublishOptions::default(),
            own.to_string().as_bytes(),
            BasicProperties::default().with_app_id("vigilo".into()),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    broker
        .publish(
            &queue,
            br#"{"service": "api", "kind": "log", "level": "warn"}"#,
        )
        .await;
    wait_events(&s, 1).await;
    eventually("the skip counted", || async {
        let r = s.get("/api/v1/pipelines/amqp").await;
        (r.body["last_payload"]["skipped_total"] == json!(1)).then_some(())
    })
    .await;
    let r = s
        .get(&format!("/api/v1/pipelines/vigilo-test-{sfx}.own"))
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(broker.get(&queue).await.is_none());

    s.stop().await;
    broker
        .delete(&[queue.clone(), format!("{queue}.dead")])
        .await;
}
