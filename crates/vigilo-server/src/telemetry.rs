//! Prometheus metrics. One recorder per process (the `metrics` facade is
//! global); every server in the process renders from it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the recorder once; later calls return the same handle. `None` if
/// another recorder was installed first by the embedding program.
pub fn prometheus() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let latency = [
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ];
            let sizes = [
                1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 50000.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_batch_events".into()), &sizes)
                })
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "vigilo_events_ingested_total",
        Unit::Count,
        "events durably stored"
    );
    describe_counter!(
        "vigilo_events_rejected_total",
        Unit::Count,
        "events refused, by reason"
    );
    describe_gauge!(
        "vigilo_ingest_queue_depth",
        Unit::Count,
        "events accepted and not yet evaluated"
    );
    describe_gauge!(
        "vigilo_ingest_queue_capacity",
        Unit::Count,
        "ingest queue capacity in events"
    );
    describe_counter!(
        "vigilo_findings_total",
        Unit::Count,
        "findings created, by severity"
    );
    describe_histogram!(
        "vigilo_detection_seconds",
        Unit::Seconds,
        "detection time per batch"
    );
    describe_counter!(
        "vigilo_detection_events_total",
        Unit::Count,
        "events evaluated by detection"
    );
    describe_histogram!(
        "vigilo_commit_seconds",
        Unit::Seconds,
        "group commit latency"
    );
    describe_histogram!(
        "vigilo_commit_batch_events",
        Unit::Count,
        "events per group commit"
    );
    describe_counter!(
        "vigilo_retention_purged_total",
        Unit::Count,
        "rows retention removed, by kind (events, findings, rollups)"
    );
    describe_histogram!(
        "vigilo_retention_sweep_seconds",
        Unit::Seconds,
        "time of one retention sweep"
    );
    describe_counter!(
        "vigilo_http_requests_total",
        Unit::Count,
        "HTTP requests by route and status"
    );
}
