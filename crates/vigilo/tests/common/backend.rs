//! The storage backends a binary test runs on, from one definition: SQLite
//! in the data directory, or PostgreSQL in a schema of the test's own
//! (created now, dropped when the backend goes).

use std::path::Path;
use std::sync::Arc;

use sqlx::Connection;
use vigilo_storage::Storage;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The test database: `VIGILO_TEST_POSTGRES_URL`, or the local one.
pub fn postgres_url() -> String {
    std::env::var("VIGILO_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_string())
}

/// `url` with `schema` as the search path of every connection.
pub fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-csearch_path%3D{schema}")
}

/// A schema of its own, created now and dropped when it goes. Named
/// `vigilo_t_<secs>_…`: the storage crate's tests sweep these when a killed
/// run leaves one behind.
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub async fn create(test: &str) -> Schema {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let name = format!("vigilo_t_{secs}_cli_{test}_{:x}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&postgres_url())
            .await
            .expect("connect to the test database (scripts/postgres/ensure.sh starts one)");
        sqlx::raw_sql(&format!("CREATE SCHEMA \"{name}\""))
            .execute(&mut conn)
            .await
            .expect("create schema");
        let _ = conn.close().await;
        Schema { name }
    }

    /// The test database with this schema as its search path.
    pub fn url(&self) -> String {
        with_schema(&postgres_url(), &self.name)
    }

    /// [`Schema::url`] with `password` as its user's password (trust
    /// authentication ignores it; tests check it never shows).
    pub fn url_with_password(&self, password: &str) -> String {
        with_password(&self.url(), password)
    }
}

/// `url` with `password` as the password of its user.
pub fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let (user, host) = rest.split_once('@').expect("a URL with a user");
    let user = user.split(':').next().unwrap_or(user);
    format!("{scheme}://{user}:{password}@{host}")
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        let url = postgres_url();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&url).await {
                    let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Where a test's server keeps its data.
pub enum Backend {
    Sqlite,
    Postgres(Schema),
}

impl Backend {
    pub async fn postgres(test: &str) -> Backend {
        Backend::Postgres(Schema::create(test).await)
    }

    /// The environment that points the binary at this backend.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Backend::Sqlite => vec![("VIGILO_STORAGE__BACKEND", "sqlite".to_string())],
            Backend::Postgres(schema) => vec![
                ("VIGILO_STORAGE__BACKEND", "postgres".to_string()),
                ("VIGILO_STORAGE__URL", schema.url()),
            ],
        }
    }

    /// [`Backend::env`] borrowed, as the process helpers take it.
    pub fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'a str, &'a str)> {
        env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// The storage the server of `data_dir` wrote, opened by the test.
    pub async fn open(&self, data_dir: &Path) -> Arc<dyn Storage> {
        match self {
            Backend::Sqlite => {
                let s = vigilo_storage_sqlite::SqliteStorage::open(
                    &data_dir.join("vigilo.db"),
                    vigilo_storage_sqlite::SqliteOptions::default(),
                )
                .await
                .expect("open the SQLite database");
                s.migrate().await.expect("migrate");
                Arc::new(s)
            }
            Backend::Postgres(schema) => Arc::new(
                vigilo_storage_postgres::PostgresStorage::connect(
                    &postgres_url(),
                    vigilo_storage_postgres::PostgresOptions {
                        max_connections: 2,
                        schema: Some(schema.name.clone()),
                        ..Default::default()
                    },
                )
                .await
                .expect("connect to the test schema"),
            ),
        }
    }
}
