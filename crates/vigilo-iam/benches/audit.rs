//! Audit speed on the public corpora (read from `../shared` beside the repository).
//!
//! `cargo bench -p vigilo-iam --bench audit`

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const LAB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/iam/cloudsplaining/example.json"
);
const CRED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/iam/cloudmapper/iam-get-credential-report.json"
);

fn bench(c: &mut Criterion) {
    let now = "2024-06-01T00:00:00Z".parse().expect("date");
    let opts = vigilo_iam::AuditOptions::new(now);
    let mut group = c.benchmark_group("audit");
    group.sample_size(20);
    if let Ok(lab) = std::fs::read(LAB) {
        group.bench_function("iam_vulnerable_lab_824KB", |b| {
            b.iter(|| vigilo_iam::audit(black_box(&lab), &opts).map(|r| r.findings.len()))
        });
    }
    if let Ok(cred) = std::fs::read(CRED) {
        group.bench_function("credential_report", |b| {
            b.iter(|| vigilo_iam::audit(black_box(&cred), &opts).map(|r| r.findings.len()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
