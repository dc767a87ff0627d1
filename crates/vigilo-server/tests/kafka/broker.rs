//! A real Kafka-protocol broker for the tests: `tansu` with in-memory
//! storage on a free port, killed when dropped. A missing `tansu` fails
//! the test (install it with `scripts/kafka/broker.sh install`).
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

pub struct Broker {
    child: Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

/// The tansu binary: on the PATH or in ~/.cargo/bin.
fn tansu() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("tansu");
            if p.is_file() {
                return p;
            }
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cargo/bin/tansu");
        if p.is_file() {
            return p;
        }
    }
    panic!("the Kafka tests need the tansu broker: run scripts/kafka/broker.sh install");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    pub fn start() -> Broker {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let url = format!("tcp://{addr}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let started = Instant::now();
        while TcpStream::connect(&addr).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tansu did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker { child, addr }
    }

    fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.addr);
        c
    }

    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = self.config().create().unwrap();
        let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
        let res = admin
            .create_topics([&topic], &AdminOptions::new())
            .await
            .expect("create topics");
        for r in res {
            r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
        }
    }

    pub fn producer(&self) -> FutureProducer {
        self.config()
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()
            .unwrap()
    }

    /// Produce one message to a partition and wait for its acknowledgement.
    pub async fn produce(
        &self,
        producer: &FutureProducer,
        topic: &str,
        partition: i32,
        key: Option<&str>,
        value: &[u8],
        headers: &[(&str, &str)],
    ) {
        let mut h = OwnedHeaders::new();
        for (k, v) in headers {
            h = h.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        let mut rec: FutureRecord<'_, str, [u8]> = FutureRecord::to(topic)
            .partition(partition)
            .payload(value)
            .headers(h);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        producer
            .send(rec, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }

    /// The committed offsets of `group` for each partition of `topic`
    /// (-1001, "invalid", where none is committed).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
        let consumer: BaseConsumer = self.config().set("group.id", group).create().unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("committed offsets");
        (0..partitions)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1001,
            })
            .collect()
    }

    /// Commit `offset` for every partition of `topic` in `group` (the
    /// group must have no live member).
    pub fn reset_group(&self, group: &str, topic: &str, partitions: i32, offset: i64) {
        let consumer: BaseConsumer = self.config().set("group.id", group).create().unwrap();
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Offset(offset))
                .unwrap();
        }
        consumer
            .commit(&tpl, CommitMode::Sync)
            .expect("reset the group's offsets");
    }

    /// A consumer of `topic` from its start, in a group of its own.
    pub fn reader(&self, topic: &str) -> StreamConsumer {
        let c: StreamConsumer = self
            .config()
            .set("group.id", format!("reader-{}", free_port()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        c.subscribe(&[topic]).unwrap();
        c
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
