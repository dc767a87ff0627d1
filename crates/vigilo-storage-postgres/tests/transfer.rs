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
