//! Detection commit throughput: `commit_detection` updating known incidents.
//!
//! `cargo bench -p vigilo-storage-sqlite --bench commit`
//!
//! 10,000 incidents are stored first, each with a full evidence list;
//! each iteration is one commit of `n` writes to incidents among them, each
//! with one new evidence id (past the cap, so not attached) and a later
//! `last_seen`: the steady state of a busy stream (one write per busy
//! incident per commit interval, each incident a minute or two old).
//! `updates_growing` writes to incidents whose evidence is still under the
//! cap, the first minute or two of an incident.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use vigilo_core::finding::EVIDENCE_CAP;
use vigilo_core::{Finding, FindingStatus, Severity};
use vigilo_storage::{FindingWrite, Storage};

const INCIDENTS: usize = 10_000;
/// Incidents stored with no evidence, for `updates_growing`.
const EMPTY: usize = 30_000;

fn write(i: usize, round: i64, new_evidence: Vec<i64>) -> FindingWrite {
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
            assignee: None,
            workflow_tags: Vec::new(),
            close_reason: None,
            recommended_actions: Vec::new(),
            enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
            enriched_at: None,
            created_at: t,
            updated_at: t,
        },
        new_evidence,
        matches: 1,
    }
}

fn bench_commit(c: &mut Criterion) {
    let (rt, _dir, store) = common::runtime_and_store();
    // Incidents 0..INCIDENTS with full evidence lists, then EMPTY with none.
    let cap = EVIDENCE_CAP as i64;
    rt.block_on(async {
        let all: Vec<FindingWrite> = (0..INCIDENTS + EMPTY)
            .map(|i| {
                let full = i < INCIDENTS;
                let ids = (0..if full { cap } else { 0 }).map(|k| k * 1_000_000 + i as i64);
                write(i, 0, ids.collect())
            })
            .collect();
        store
            .commit_detection(&all, 1)
            .await
            .expect("seed incidents");
    });
    let fresh_id = |i: usize, round: i64| (cap + round) * 1_000_000 + i as i64;

    let mut group = c.benchmark_group("commit_detection");
    group.measurement_time(Duration::from_secs(8));
    group.sample_size(20);
    // (name, writes per commit, first incident written in a round).
    // `updates_growing`: each block of `n` empty incidents takes `cap - 1`
    // rounds, so every write finds its list under the cap and grows it.
    type FirstOf = fn(i64, usize) -> usize;
    let cases: [(&str, usize, FirstOf); 3] = [
        ("updates", 1_000, |_, _| 0),
        ("updates", 10_000, |_, _| 0),
        ("updates_growing", 1_000, |round, n| {
            INCIDENTS + ((round - 1) as usize / (EVIDENCE_CAP - 1) * n) % EMPTY
        }),
    ];
    for (name, n, first_of) in cases {
        group.throughput(Throughput::Elements(n as u64));
        let mut round = 0i64;
        group.bench_function(BenchmarkId::new(name, n), |b| {
            b.to_async(&rt).iter_batched(
                || {
                    round += 1;
                    let first = first_of(round, n);
                    (first..first + n)
                        .map(|i| write(i, round, vec![fresh_id(i, round)]))
                        .collect::<Vec<_>>()
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
