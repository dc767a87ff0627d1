//! The storage behaviour suite on PostgreSQL: each test gets a schema of
//! its own (`vigilo_t_<unix secs>_<random>`) in the test database, dropped
//! with everything in it when the fixture drops (a blocking drop, on a
//! thread of its own). Schemas a killed run left behind are dropped by the
//! first fixture of a later run once they are a few hours old.
//!
//! The database is `postgres://postgres@127.0.0.1:5432/test` unless
//! `VIGILO_TEST_POSTGRES_URL` names another.

mod common;

use vigilo_storage::testsuite::Fixture;
use vigilo_storage_postgres::PostgresStorage;

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
        common::drop_schema_blocking(&self.schema);
    }
}

async fn fixture() -> PostgresFixture {
    common::sweep_stale().await;
    let schema = common::schema_name();
    let store = common::connect(&schema).await;
    PostgresFixture { store, schema }
}

vigilo_storage::storage_behaviour_tests!(fixture);
