//! The storage the tests run on, chosen by `VIGILO_TEST_STORAGE`.
//!
//! `postgres`: the database is `VIGILO_TEST_POSTGRES_URL`
//! (`postgres://postgres@127.0.0.1:5432/test` by default, trust auth), and
//! each data dir gets the schema `vigilo_s_<hash of the dir's path>`, so a
//! server restarted on the same dir finds its data. The schema's comment
//! holds its creation time and the dir; the first open of each test
//! binary drops the schemas whose dir is gone (their test ended) or that
//! are more than a few hours old (a killed run), and a [`TestServer`]
//! drops its own when it goes.
//!
//! [`TestServer`]: super::TestServer

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use vigilo_storage::Storage;
use vigilo_storage_postgres::{PostgresOptions, PostgresStorage};
use vigilo_storage_sqlite::{SqliteOptions, SqliteStorage};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Schemas older than this were left by a killed run.
const STALE_SECS: u64 = 6 * 3600;

/// The prefix of the server tests' schemas (the storage crate's own
/// behaviour suite uses `vigilo_t_`).
const PREFIX: &str = "vigilo_s_";

/// The backend `VIGILO_TEST_STORAGE` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("VIGILO_TEST_STORAGE").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("VIGILO_TEST_STORAGE `{other}` is not `sqlite` or `postgres`"),
    }
}

pub fn is_postgres() -> bool {
    backend() == Backend::Postgres
}

pub fn postgres_url() -> String {
    std::env::var("VIGILO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The schema of `dir`: FNV-1a of its path, so the same dir always maps
/// to the same schema.
pub fn schema_for(dir: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{PREFIX}{h:016x}")
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Open the test backend's database for `dir`.
pub async fn open(dir: &Path) -> Arc<dyn Storage> {
    match backend() {
        Backend::Sqlite => Arc::new(
            SqliteStorage::open(&dir.join("vigilo.db"), SqliteOptions::default())
                .await
                .expect("open sqlite"),
        ),
        Backend::Postgres => Arc::new(open_postgres(dir).await),
    }
}

async fn open_postgres(dir: &Path) -> PostgresStorage {
    sweep().await;
    let schema = schema_for(dir);
    let store = PostgresStorage::connect(
        &postgres_url(),
        PostgresOptions {
            max_connections: 8,
            statement_timeout: Some(Duration::from_secs(120)),
            schema: Some(schema.clone()),
        },
    )
    .await
    .expect("connect to the test database");
    // Set once: a restart keeps the first creation time.
    let commented: Option<String> =
        sqlx::query_scalar("SELECT obj_description($1::regnamespace, 'pg_namespace')")
            .bind(quote_ident(&schema))
            .fetch_one(store.pool())
            .await
            .expect("read the test schema's comment");
    if commented.is_none() {
        let comment = format!("{} {}", now_secs(), dir.display());
        store
            .execute_script(&format!(
                "COMMENT ON SCHEMA {} IS {}",
                quote_ident(&schema),
                quote_literal(&comment)
            ))
            .await
            .expect("comment on the test schema");
    }
    store
}

/// Drop the schemas whose test is over (its dir is gone) or that a killed
/// run left (older than [`STALE_SECS`]), once per test binary.
async fn sweep() {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_url()).await else {
                return;
            };
            let _ = sqlx::raw_sql("SET lock_timeout = '5s'")
                .execute(&mut conn)
                .await;
            let rows: Vec<(String, Option<String>)> = sqlx::query_as(
                "SELECT nspname::text, obj_description(oid, 'pg_namespace') \
                 FROM pg_namespace WHERE starts_with(nspname, $1)",
            )
            .bind(PREFIX)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
            let cutoff = now_secs().saturating_sub(STALE_SECS);
            for (name, comment) in rows {
                let Some((born, dir)) = comment.as_deref().and_then(|c| c.split_once(' ')) else {
                    continue;
                };
                let old = born.parse::<u64>().is_ok_and(|b| b < cutoff);
                if old || !Path::new(dir).exists() {
                    let _ = sqlx::raw_sql(&format!(
                        "DROP SCHEMA IF EXISTS {} CASCADE",
                        quote_ident(&name)
                    ))
                    .execute(&mut conn)
                    .await;
                }
            }
            let _ = conn.close().await;
        })
        .await;
}

/// Drops a postgres test schema when it goes (on a thread of its own with
/// its own runtime; gives up after a few seconds of waiting for locks, and
/// then a later sweep drops it).
pub struct SchemaGuard(String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let url = postgres_url();
        let name = self.0.clone();
        let done = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
                    return;
                };
                let _ = sqlx::raw_sql(&format!(
                    "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                    quote_ident(&name)
                ))
                .execute(&mut conn)
                .await;
                let _ = conn.close().await;
            });
        });
        let _ = done.join();
    }
}

/// On postgres, the guard of `dir`'s schema.
pub fn guard(dir: &Path) -> Option<SchemaGuard> {
    is_postgres().then(|| SchemaGuard(schema_for(dir)))
}
