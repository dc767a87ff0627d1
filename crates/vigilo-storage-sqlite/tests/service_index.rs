//! The by-service index of events, written in batches: listings merge the
//! written index with the rows past it, and a restart indexes those rows.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use sqlx::SqlitePool;
use vigilo_core::NewEvent;
use vigilo_storage::{EventQuery, Storage};
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap() + Duration::minutes(minute)
}

fn event(minute: i64, kind: &str, service: &str) -> NewEvent {
    let payload = json!({"minute": minute});
    NewEvent {
        logsource: Default::default(),
        timestamp: at(minute),
        received_at: at(minute),
        kind: kind.to_string(),
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

/// (written index entries, its `up_to`) read straight from the file.
async fn index_state(path: &std::path::Path) -> (i64, i64) {
    let pool = SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM event_service")
        .fetch_one(&pool)
        .await
        .unwrap();
    let up_to: i64 =
        sqlx::query_scalar("SELECT up_to FROM event_index_state WHERE name = 'service'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    (n, up_to)
}

#[tokio::test]
async fn listings_merge_the_written_index_with_the_rows_past_it() {
    // One event per insert, written every fourth: events 1-4 are in the
    // index, 5-7 past it. Their times interleave, so pages mix both.
    let minutes = [10, 30, 50, 70, 20, 60, 80];
    let kinds = ["log", "metric", "log", "log", "metric", "log", "log"];
    let store = SqliteStorage::open_in_memory_with(&opts(4)).await.unwrap();
    let all_at_once = SqliteStorage::open_in_memory_with(&opts(1)).await.unwrap();
    for s in [&store, &all_at_once] {
        s.migrate().await.unwrap();
        for (m, k) in minutes.iter().zip(kinds) {
            s.insert_events(vec![event(*m, k, "api")]).await.unwrap();
            s.insert_events(vec![event(*m, k, "web")]).await.unwrap();
        }
    }
    let cases = [
        EventQuery {
            service: Some("api".into()),
            ..EventQuery::default()
        },
        // Not on a minute: the total is counted, not read from rollups.
        EventQuery {
            service: Some("api".into()),
            from: Some(at(20) + Duration::seconds(1)),
            ..EventQuery::default()
        },
        // Kind needs the event row.
        EventQuery {
            service: Some("api".into()),
            kind: Some("log".into()),
            to: Some(at(75) + Duration::seconds(1)),
            ..EventQuery::default()
        },
    ];
    let want: [Vec<i64>; 3] = [
        vec![80, 70, 60, 50, 30, 20, 10],
        vec![80, 70, 60, 50, 30],
        vec![70, 60, 50, 10],
    ];
    for (q, want) in cases.iter().zip(want) {
        for s in [&store, &all_at_once] {
            let mut seen = Vec::new();
            for page in 1..=4 {
                let p = s
                    .list_events(&EventQuery {
                        page,
                        page_size: 2,
                        ..q.clone()
                    })
                    .await
                    .unwrap();
                assert_eq!(p.total, want.len() as u64, "{q:?}");
                for e in p.items {
                    assert_eq!(e.service.as_deref(), Some("api"));
                    seen.push((e.timestamp - at(0)).num_minutes());
                }
            }
            assert_eq!(seen, want, "{q:?}");
        }
    }
}

#[tokio::test]
async fn batches_are_written_when_due_and_a_restart_indexes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigilo.db");
    let store = SqliteStorage::open(&path, opts(5)).await.unwrap();
    store.migrate().await.unwrap();
    store
        .insert_events((0..3).map(|m| event(m, "log", "api")).collect())
        .await
        .unwrap();
    assert_eq!(index_state(&path).await, (0, 0), "three events: not due");
    store
        .insert_events((3..6).map(|m| event(m, "log", "api")).collect())
        .await
        .unwrap();
    assert_eq!(index_state(&path).await, (6, 6), "six events: written");
    store
        .insert_events((6..8).map(|m| event(m, "log", "web")).collect())
        .await
        .unwrap();
    assert_eq!(index_state(&path).await, (6, 6));
    store.close().await;

    let store = SqliteStorage::open(&path, opts(1_000)).await.unwrap();
    store.migrate().await.unwrap();
    assert_eq!(
        index_state(&path).await,
        (8, 8),
        "the tail indexed at start"
    );
    let web = store
        .list_events(&EventQuery {
            service: Some("web".into()),
            page_size: 50,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(web.items.iter().map(|e| e.id).collect::<Vec<_>>(), [8, 7]);
    store.close().await;
}

#[tokio::test]
async fn an_old_first_event_makes_the_batch_due() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vigilo.db");
    let store = SqliteStorage::open(
        &path,
        SqliteOptions {
            service_index_age: std::time::Duration::from_millis(50),
            ..opts(1_000)
        },
    )
    .await
    .unwrap();
    store.migrate().await.unwrap();
    store
        .insert_events(vec![event(0, "log", "api")])
        .await
        .unwrap();
    assert_eq!(index_state(&path).await, (0, 0));
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    store
        .insert_events(vec![event(1, "log", "api")])
        .await
        .unwrap();
    assert_eq!(index_state(&path).await, (2, 2));
    store.close().await;
}
