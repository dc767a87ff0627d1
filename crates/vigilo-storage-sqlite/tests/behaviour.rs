//! The storage behaviour suite, on an in-memory database and on a file, and
//! with the by-service index of events written at every insert and every
//! second insert (by default the small test batches all stay in its
//! unwritten tail, so these cover the written index and the merge of both).

use vigilo_storage::testsuite::Fixture;
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage};

pub struct SqliteFixture {
    store: SqliteStorage,
    // Keeps the directory (and the database file) alive for the test.
    _dir: Option<tempfile::TempDir>,
}

impl Fixture for SqliteFixture {
    type Store = SqliteStorage;

    fn store(&self) -> &SqliteStorage {
        &self.store
    }

    async fn poison_event_kind(&self, kind: &str) {
        let kind = kind.replace('\'', "''");
        self.store
            .execute_script(&format!(
                "CREATE TRIGGER poison_event_kind BEFORE INSERT ON events \
                 WHEN NEW.kind = '{kind}' BEGIN SELECT RAISE(ABORT, 'poisoned event kind'); END;"
            ))
            .await
            .expect("create trigger");
    }

    async fn poison_rule_id(&self, rule_id: &str) {
        let rule = rule_id.replace('\'', "''");
        self.store
            .execute_script(&format!(
                "CREATE TRIGGER poison_rule_insert BEFORE INSERT ON findings \
                 WHEN NEW.rule_id = '{rule}' BEGIN SELECT RAISE(ABORT, 'poisoned rule'); END; \
                 CREATE TRIGGER poison_rule_update BEFORE UPDATE ON findings \
                 WHEN NEW.rule_id = '{rule}' BEGIN SELECT RAISE(ABORT, 'poisoned rule'); END;"
            ))
            .await
            .expect("create triggers");
    }
}

async fn in_memory() -> SqliteFixture {
    SqliteFixture {
        store: SqliteStorage::open_in_memory()
            .await
            .expect("open in memory"),
        _dir: None,
    }
}

async fn on_disk() -> SqliteFixture {
    let dir = tempfile::tempdir().expect("temp dir");
    // A nested path: open creates the parent directories.
    let path = dir.path().join("nested").join("vigilo.db");
    let store = SqliteStorage::open(&path, SqliteOptions::default())
        .await
        .expect("open file database");
    SqliteFixture {
        store,
        _dir: Some(dir),
    }
}

async fn service_index_every(events: usize) -> SqliteFixture {
    let opts = SqliteOptions {
        service_index_events: events,
        ..SqliteOptions::default()
    };
    SqliteFixture {
        store: SqliteStorage::open_in_memory_with(&opts)
            .await
            .expect("open in memory"),
        _dir: None,
    }
}

async fn service_index_at_once() -> SqliteFixture {
    service_index_every(1).await
}

async fn service_index_in_pairs() -> SqliteFixture {
    service_index_every(2).await
}

mod memory {
    vigilo_storage::storage_behaviour_tests!(super::in_memory);
}

mod service_index_at_once {
    vigilo_storage::storage_behaviour_tests!(super::service_index_at_once);
}

mod service_index_in_pairs {
    vigilo_storage::storage_behaviour_tests!(super::service_index_in_pairs);
}

mod file {
    vigilo_storage::storage_behaviour_tests!(super::on_disk);
}

#[tokio::test]
async fn run_all_on_memory() {
    vigilo_storage::testsuite::run_all(in_memory).await;
}
