//! Setup shared by the storage benches.

use tokio::runtime::Runtime;
use vigilo_storage::Storage;
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage};

/// A two-worker runtime (the machine the figures come from has two cores)
/// and a migrated file database with default options in a temp dir, which
/// lives as long as the returned guard.
pub fn runtime_and_store() -> (Runtime, tempfile::TempDir, SqliteStorage) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt.block_on(async {
        let s = SqliteStorage::open(&dir.path().join("bench.db"), SqliteOptions::default())
            .await
            .expect("open");
        s.migrate().await.expect("migrate");
        s
    });
    (rt, dir, store)
}
