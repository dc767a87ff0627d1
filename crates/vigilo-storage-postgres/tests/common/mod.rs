//! What the PostgreSQL test binaries share: the database URL and the
//! schemas each test owns.

#![allow(dead_code)]

use std::time::Duration;

use sqlx::Connection;
use vigilo_storage_postgres::{PostgresOptions, PostgresStorage};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Test schemas older than this are left from a run that was killed
/// before it could drop them; a new fixture drops them.
const STALE_SECS: u64 = 6 * 3600;

pub fn url() -> String {
    std::env::var("VIGILO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A schema name no other test uses: `vigilo_t_<unix secs>_<random>`.
pub fn schema_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mix = u64::from(nanos) ^ (u64::from(std::process::id()) << 32) ^ (n << 20);
    format!("vigilo_t_{}_{mix:x}", now_secs())
}

/// Drop the test schemas a killed run left behind (by the time in their
/// names), once per test binary.
pub async fn sweep_stale() {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let Ok(mut conn) = sqlx::PgConnection::connect(&url()).await else {
                return;
            };
            let names: Vec<String> = sqlx::query_scalar(
                "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, 'vigilo_t_')",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            let cutoff = now_secs().saturating_sub(STALE_SECS);
            for name in names {
                let born = name
                    .strip_prefix("vigilo_t_")
                    .and_then(|rest| rest.split('_').next())
                    .and_then(|secs| secs.parse::<u64>().ok());
                if born.is_some_and(|b| b < cutoff) {
                    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .execute(&mut conn)
                        .await;
                }
            }
            let _ = conn.close().await;
        })
        .await;
}

/// Drop `schema` with everything in it, blocking: on a thread of its own
/// with its own runtime, since the test's runtime may be shutting down.
pub fn drop_schema_blocking(schema: &str) {
    let url = url();
    let name = schema.to_string();
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("cleanup runtime");
        rt.block_on(async move {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .expect("connect for cleanup");
            // The test is over, but a connection of its pool may still sit
            // in a transaction whose rollback the test's runtime (blocked
            // here) would send: end the sessions holding the schema's locks.
            let _ = sqlx::query(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l \
                 JOIN pg_class c ON c.oid = l.relation \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
            )
            .bind(&name)
            .execute(&mut conn)
            .await;
            sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                .execute(&mut conn)
                .await
                .expect("drop test schema");
            let _ = conn.close().await;
        });
    });
    if done.join().is_err() {
        eprintln!("could not drop test schema {schema}");
    }
}

/// Drops its schema when it goes, however the test ends.
pub struct SchemaGuard(pub String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        drop_schema_blocking(&self.0);
    }
}

/// A store on the test database with everything in `schema` (created when
/// missing, migrated): four connections, two minutes a statement.
pub async fn connect(schema: &str) -> PostgresStorage {
    PostgresStorage::connect(
        &url(),
        PostgresOptions {
            max_connections: 4,
            statement_timeout: Some(Duration::from_secs(120)),
            schema: Some(schema.to_string()),
        },
    )
    .await
    .expect("connect to the test database (scripts/postgres/ensure.sh starts one)")
}
