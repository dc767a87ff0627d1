//! The metric rollups, written in batches: series merge the written rows
//! with the ones still in memory, and a restart rolls up the events past
//! the written point.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::SqlitePool;
use vigilo_core::NewEvent;
use vigilo_storage::{MetricAgg, MetricGroupBy, MetricSeriesQuery, SeriesQuery, Storage};
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage};

fn at(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + Duration::seconds(second)
}

fn sample(second: i64, service: &str, cpu: f64) -> NewEvent {
    let payload = json!({"cpu": cpu, "latency_ms": cpu * 10.0});
    NewEvent {
        logsource: Default::default(),
        timestamp: at(second),
        received_at: at(second),
        kind: "metric".to_string(),
        service: Some(service.to_string()),
        user: None,
        payload: payload.as_object().cloned().unwrap(),
        origin: None,
    }
}

fn opts(every: usize) -> SqliteOptions {
    SqliteOptions {
        service_index_events: every,
        ..SqliteOptions::default()
    }
}

/// (service, value) of each point of a by-service series of `cpu`.
async fn series(s: &SqliteStorage, agg: MetricAgg) -> Vec<(Option<String>, f64, u64)> {
    let q = MetricSeriesQuery {
        field: "cpu".into(),
        group_by: MetricGroupBy::Service,
        agg,
        range: SeriesQuery {
            from: at(0),
            to: at(3600),
            bucket_secs: 3600,
        },
    };
    s.metric_series(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.key, p.value, p.count))
        .collect()
}

/// (rows in metric_rollup, the `metrics` up_to) read straight from the file.
async fn written(path: &std::path::Path) -> (i64, i64) {
    let pool = SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM metric_rollup")
        .fetch_one(&pool)
        .await
        .unwrap();
    let up_to: i64 =
        sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = 'metrics'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    (n, up_to)
}

fn batches() -> Vec<Vec<NewEvent>> {
    (0..7)
        .map(|b| {
            (0..5)
                .map(|i| {
                    let n = b * 5 + i;
                    sample(
                        n * 17 % 3600,
                        ["api", "db"][n as usize % 2],
                        (n * 3 % 100) as f64,
                    )
                })
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn series_merge_written_rows_with_pending_ones_and_restarts_catch_up() {
    // Written every insert, every third insert, and never (all in memory):
    // every series is the same.
    let at_once = SqliteStorage::open_in_memory_with(&opts(1)).await.unwrap();
    let in_threes = SqliteStorage::open_in_memory_with(&opts(15)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.db");
    let pending = SqliteStorage::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    for s in [&at_once, &in_threes, &pending] {
        s.migrate().await.unwrap();
        for b in batches() {
            s.insert_events(b).await.unwrap();
        }
    }
    let aggs = [
        MetricAgg::Count,
        MetricAgg::Sum,
        MetricAgg::Min,
        MetricAgg::Max,
        MetricAgg::P95,
    ];
    let mut want = Vec::new();
    for agg in aggs {
        let w = series(&at_once, agg).await;
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!(series(&in_threes, agg).await, w, "{agg:?}");
        assert_eq!(series(&pending, agg).await, w, "{agg:?}");
        want.push(w);
    }
    assert_eq!(
        want[0].iter().map(|p| p.2).sum::<u64>(),
        35,
        "every sample counted once"
    );
    // Nothing of the file's rollups is written yet: a crash now loses only
    // memory, and the next start rolls the events up again.
    pending.close().await;
    drop(pending);
    assert_eq!(
        written(&path).await,
        (0, 0),
        "nothing written, from event 0"
    );
    let reopened = SqliteStorage::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    reopened.migrate().await.unwrap();
    let (rows, up_to) = written(&path).await;
    assert!(
        rows > 0 && up_to == 35,
        "rolled up at start: {rows} rows to {up_to}"
    );
    for (agg, w) in aggs.iter().zip(&want) {
        assert_eq!(&series(&reopened, *agg).await, w, "{agg:?} after restart");
    }
    // And later batches merge into the written rows.
    reopened
        .insert_events(vec![sample(5, "api", 1000.0)])
        .await
        .unwrap();
    let max = series(&reopened, MetricAgg::Max).await;
    assert_eq!(max[0], (Some("api".into()), 1000.0, want[0][0].2 + 1));
    let groups = reopened.metric_groups(10).await.unwrap();
    assert_eq!(groups.service, vec!["api".to_string(), "db".to_string()]);
}
