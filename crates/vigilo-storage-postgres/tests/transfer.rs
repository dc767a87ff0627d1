//! The copy between stores (`vigilo_storage::transfer`) into PostgreSQL:
//! from another PostgreSQL store and from SQLite, each test with schemas
//! of its own.

mod common;

use vigilo_storage::Storage;
use vigilo_storage_postgres::PostgresStorage;
use vigilo_storage_sqlite::SqliteStorage;

async fn store() -> (PostgresStorage, common::SchemaGuard) {
    common::sweep_stale().await;
    let schema = common::schema_name();
    let guard = common::SchemaGuard(schema.clone());
    let store = common::connect(&schema).await;
    (store, guard)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_to_postgres_round_trip() {
    let (src, _g1) = store().await;
    let (dst, _g2) = store().await;
    let (other, _g3) = store().await;
    vigilo_storage::transfer::suite::copy_round_trip(&src, &dst, &other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_round_trip() {
    let src = SqliteStorage::open_in_memory().await.expect("sqlite");
    src.migrate().await.expect("migrate sqlite");
    let (dst, _g2) = store().await;
    let (other, _g3) = store().await;
    vigilo_storage::transfer::suite::copy_round_trip(&src, &dst, &other).await;
}

/// A whole copy leaves the destination's tables analyzed (so its first
/// dashboard queries are planned for the rows they hold) and leaves the
/// tables of other schemas alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_copy_analyzes_the_destination_schema_only() {
    let src = SqliteStorage::open_in_memory().await.expect("sqlite");
    src.migrate().await.expect("migrate sqlite");
    // Both schemas are migrated when their stores connect.
    let (dst, g2) = store().await;
    let (_bystander, g3) = store().await;
    vigilo_storage::transfer::copy(
        &src,
        &dst,
        vigilo_storage::transfer::CopyOptions {
            batch_size: 100,
            max_batches: None,
        },
        &mut |_| {},
    )
    .await
    .expect("copy");
    let pool = dst.pool();
    let analyzed = |schema: String| async move {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_user_tables \
             WHERE schemaname = $1 AND relname IN ('vigilo_events_default', 'findings', 'event_rollup_minute') \
               AND last_analyze IS NOT NULL",
        )
        .bind(schema)
        .fetch_one(pool)
        .await
        .expect("read statistics");
        n
    };
    assert_eq!(analyzed(g2.0.clone()).await, 3, "the destination's tables");
    assert_eq!(analyzed(g3.0.clone()).await, 0, "another schema's tables");
}
