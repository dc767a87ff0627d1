//! Connecting: the schema option, per-connection settings, migrations run
//! at connect, and a password never shown by `Debug`.

mod common;

use std::time::Duration;

use vigilo_storage::Storage;
use vigilo_storage_postgres::{PostgresOptions, PostgresStorage, mask_password};

use common::{SchemaGuard, schema_name, url};

/// `url` with a password added to its user info (trust authentication
/// ignores it).
fn with_password(url: &str, password: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) if !user.contains(':') => {
                format!("{scheme}://{user}:{password}@{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

#[tokio::test]
async fn a_schema_is_created_migrated_and_set_on_every_connection() {
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let opts = PostgresOptions {
        max_connections: 3,
        statement_timeout: Some(Duration::from_secs(7)),
        schema: Some(schema.clone()),
    };
    let store = PostgresStorage::connect(&url(), opts.clone())
        .await
        .expect("connect");
    assert_eq!(store.backend(), "postgres");
    // Several connections at once: each has the settings.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(store.pool().acquire().await.expect("acquire"));
    }
    for conn in &mut conns {
        let (path, timeout, zone): (String, String, String) = sqlx::query_as(
            "SELECT current_setting('search_path'), current_setting('statement_timeout'), \
             current_setting('TimeZone')",
        )
        .fetch_one(&mut **conn)
        .await
        .expect("settings");
        assert_eq!(path.trim_matches('"'), schema);
        assert_eq!(timeout, "7s");
        assert_eq!(zone, "UTC");
    }
    drop(conns);
    let events: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(format!("\"{schema}\".events"))
        .fetch_one(store.pool())
        .await
        .expect("look up the events table");
    assert!(events.is_some(), "migrations ran in the schema");
    // Connecting again to the migrated schema, and migrating again, change nothing.
    let again = PostgresStorage::connect(&url(), opts)
        .await
        .expect("reconnect");
    again.migrate().await.expect("migrate again");
    assert_eq!(again.detection_watermark().await.expect("watermark"), 0);
    again.close().await;
    store.close().await;
}

#[tokio::test]
async fn debug_never_shows_the_password() {
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let secret = "s3cr3t-never-shown";
    let url = with_password(&url(), secret);
    let store = PostgresStorage::connect(
        &url,
        PostgresOptions {
            schema: Some(schema.clone()),
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("connect");
    let shown = format!("{store:?} {:?}", store.pool());
    if url.contains(secret) {
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
    store.close().await;
    assert!(!mask_password(&url).contains(secret));
}

#[tokio::test]
async fn a_bad_url_is_an_error_without_the_password() {
    let err = PostgresStorage::connect(
        "postgres://u:hunter2@127.0.0.1:1/nowhere",
        PostgresOptions::default(),
    )
    .await
    .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn corrupt_rows_are_reported_not_panicked_on() {
    use vigilo_storage::StorageError;
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let store = PostgresStorage::connect(
        &url(),
        PostgresOptions {
            schema: Some(schema.clone()),
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("connect");
    let now = chrono::DateTime::from_timestamp(1_714_557_600, 0).expect("time");
    let event = vigilo_core::NewEvent {
        timestamp: now,
        received_at: now,
        kind: "log".into(),
        service: None,
        user: None,
        payload: serde_json::Map::new(),
        origin: None,
        logsource: vigilo_core::Logsource::default(),
    };
    let stored = store.insert_events(vec![event]).await.expect("insert");
    store
        .execute_script("UPDATE events SET payload = '[1, 2]'")
        .await
        .expect("corrupt the payload");
    let err = store.get_event(stored[0].id).await.expect_err("corrupt");
    assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
    // A severity no version wrote, and a risk score out of range.
    for (severity, risk) in [("bogus", 50), ("low", 300)] {
        store
            .execute_script(&format!(
                "DELETE FROM findings; \
                 INSERT INTO findings (incident_key, rule_id, rule_title, severity, severity_rank, \
                 status, group_values, first_seen, last_seen, event_count, evidence, description, \
                 tags, risk_score, explanation, workflow_tags, recommended_actions, enriched_by, \
                 created_at, updated_at) VALUES ('k', 'r', 'R', '{severity}', 1, 'open', '{{}}', \
                 now(), now(), 1, '{{}}', '', '{{}}', {risk}, '', '{{}}', '{{}}', 'heuristic', \
                 now(), now())"
            ))
            .await
            .expect("store a corrupt finding");
        let id: i64 = sqlx::query_scalar("SELECT id FROM findings")
            .fetch_one(store.pool())
            .await
            .expect("finding id");
        let err = store.get_finding(id).await.expect_err("corrupt");
        assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
    }
    store.close().await;
}

/// `url` with `sslmode` set (the default URL names no query).
fn with_sslmode(url: &str, mode: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode={mode}")
}

/// The URL's `sslmode` reaches the connection: `require` connects over
/// TLS (this machine's server has a self-signed certificate, which
/// `require` does not check), `disable` in the clear, and `verify-full`
/// refuses a certificate no trusted authority signed.
#[tokio::test]
async fn sslmode_in_the_url_chooses_tls() {
    let plain = sqlx::PgPool::connect(&url()).await.expect("connect");
    let ssl_on: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&plain)
        .await
        .expect("show ssl");
    if ssl_on != "on" {
        eprintln!("skipped: the test server has ssl off");
        return;
    }
    let schema = schema_name();
    let _guard = SchemaGuard(schema.clone());
    let opts = PostgresOptions {
        max_connections: 1,
        statement_timeout: None,
        schema: Some(schema.clone()),
    };
    for (mode, want) in [("require", true), ("disable", false)] {
        let store = PostgresStorage::connect(&with_sslmode(&url(), mode), opts.clone())
            .await
            .unwrap_or_else(|e| panic!("connect with sslmode={mode}: {e}"));
        let tls: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(store.pool())
                .await
                .expect("read pg_stat_ssl");
        assert_eq!(tls, want, "sslmode={mode}");
        store.close().await;
    }
    let refused = PostgresStorage::connect(&with_sslmode(&url(), "verify-full"), opts).await;
    assert!(
        refused.is_err(),
        "verify-full accepted a certificate no trusted authority signed"
    );
}
