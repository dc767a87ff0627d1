//! The storage behaviour suite on PostgreSQL: each test gets a schema of
//! its own (`vigilo_t_<random>`) in the test database, dropped with
//! everything in it when the fixture drops.
//!
//! The database is `postgres://postgres@127.0.0.1:5432/test` unless
//! `VIGILO_TEST_POSTGRES_URL` names another.

use std::time::Duration;

use vigilo_storage::testsuite::Fixture;
use vigilo_storage_postgres::{PostgresOptions, PostgresStorage};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn url() -> String {
    std::env::var("VIGILO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// A schema name no other test uses: the time, the process and a counter.
fn schema_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mix = (nanos as u64) ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9);
    format!("vigilo_t_{mix:016x}{n}")
}

pub struct PostgresFixture {
    store: PostgresStorage,
    schema: String,
}

impl Fixture for PostgresFixture {
    type Store = PostgresStorage;

    fn store(&self) -> &PostgresStorage {
        &self.store
    }

    async fn poison_event_kind(&self, kind: &str) {
        let kind = kind.replace('\'', "''");
        self.store
            .execute_script(&format!(
                "CREATE FUNCTION poison_event_kind() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.kind = '{kind}' THEN RAISE EXCEPTION 'poisoned event kind'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER poison_event_kind BEFORE INSERT ON events \
                 FOR EACH ROW EXECUTE FUNCTION poison_event_kind();"
            ))
            .await
            .expect("create trigger");
    }

    async fn poison_rule_id(&self, rule_id: &str) {
        let rule = rule_id.replace('\'', "''");
        self.store
            .execute_script(&format!(
                "CREATE FUNCTION poison_rule_id() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF NEW.rule_id = '{rule}' THEN RAISE EXCEPTION 'poisoned rule'; END IF; \
                 RETURN NEW; END $$; \
                 CREATE TRIGGER poison_rule_id BEFORE INSERT OR UPDATE ON findings \
                 FOR EACH ROW EXECUTE FUNCTION poison_rule_id();"
            ))
            .await
            .expect("create trigger");
    }
}

impl Drop for PostgresFixture {
    fn drop(&mut self) {
        // Blocking, on a thread of its own with its own runtime: the test's
        // runtime may be shutting down, and the schema must be gone before
        // the test returns.
        let url = url();
        let schema = self.schema.clone();
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            rt.block_on(async move {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url)
                    .await
                    .expect("connect for cleanup");
                sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .execute(&mut conn)
                    .await
                    .expect("drop test schema");
                let _ = conn.close().await;
            });
        });
        if done.join().is_err() {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}

async fn fixture() -> PostgresFixture {
    let schema = schema_name();
    let store = PostgresStorage::connect(
        &url(),
        PostgresOptions {
            max_connections: 4,
            statement_timeout: Some(Duration::from_secs(120)),
            schema: Some(schema.clone()),
        },
    )
    .await
    .expect("connect to the test database");
    PostgresFixture { store, schema }
}

vigilo_storage::storage_behaviour_tests!(fixture);
