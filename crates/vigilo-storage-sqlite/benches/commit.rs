//! Detection commit throughput: `commit_detection` updating known incidents.
//!
//! `cargo bench -p vigilo-storage-sqlite --bench commit`
//!
//! 10,000 incidents are stored first; each iteration is one commit of
//! `n` writes to incidents among them, each with one new evidence id and a
//! later `last_seen`, the shape a busy stream gives (one write per busy
//! incident per commit interval).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{FindingWrite, Storage};

const INCIDENTS: usize = 10_000;

fn write(i: usize, round: i64) -> FindingWrite {
    let t = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap() + chrono::Duration::seconds(round);
    let user = format!("user-{i}");
    FindingWrite {
        incident_key: format!("identity.activity_burst|{{\"user\":\"{user}\"}}|1714557600000"),
        finding: Finding {
            id: 0,
            rule_id: "identity.activity_burst".into(),
            rule_title: "Activity burst".into(),
            severity: Severity::High,
            status: FindingStatus::Open,
            group: BTreeMap::from([("user".to_string(), user.clone())]),
            service: None,
            user: Some(user),
            first_seen: t,
            last_seen: t,
            event_count: 301 + round,
            evidence: Vec::new(),
            description: "more than 300 events from one user within 1 hour".into(),
            tags: vec!["attack.t1078".into()],
            risk_score: 80,
            explanation: "high severity rule identity.activity_burst".into(),
            note: None,
            created_at: t,
            updated_at: t,
        },
        new_evidence: vec![round * INCIDENTS as i64 + i as i64],
        matches: 1,
    }
}

fn bench_commit(c: &mut Criterion) {
    let (rt, _dir, store) = common::runtime_and_store();
    rt.block_on(async {
        let all: Vec<FindingWrite> = (0..INCIDENTS).map(|i| write(i, 0)).collect();
        store
            .commit_detection(&all, 1)
            .await
            .expect("seed incidents");
    });

    let mut group = c.benchmark_group("commit_detection");
    group.measurement_time(Duration::from_secs(8));
    group.sample_size(20);
    for n in [1_000usize, 10_000] {
        group.throughput(Throughput::Elements(n as u64));
        let mut round = 0i64;
        group.bench_function(BenchmarkId::new("updates", n), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    round += 1;
                    (0..n).map(|i| write(i, round)).collect::<Vec<_>>()
                },
                |writes| {
                    let store = &store;
                    async move { store.commit_detection(&writes, 2).await.expect("commit") }
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
    rt.block_on(store.close());
}

criterion_group!(benches, bench_commit);
criterion_main!(benches);
