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

// The behaviours implemented so far (alerts and enrichment are not
// yet).
vigilo_storage::__vigilo_storage_one_test_each!(
    fixture;
    users_round_trip_and_names_are_unique_ignoring_case,
    api_keys_are_created_found_by_prefix_and_revoked,
    sessions_rotate_once_and_revoke,
    audit_log_lists_newest_first_with_filters,
    preferences_round_trip_per_user,
    metric_groups_list_every_group_seen,
    metric_series_aggregate_exactly_and_merge_buckets,
    metric_quantiles_are_within_the_sketch_accuracy,
    metric_tiers_agree_with_the_values_and_cap_groups,
    migrate_is_idempotent,
    insert_assigns_increasing_ids_in_input_order,
    insert_empty_batch_is_a_no_op,
    insert_round_trips_every_field,
    large_batch_keeps_input_order,
    failed_event_batch_leaves_nothing,
    get_events_returns_existing_in_id_order,
    list_events_filters_by_each_field,
    list_events_text_search_is_case_insensitive_substring,
    list_events_newest_first_with_ties_by_id,
    list_events_paginates_with_totals,
    list_events_caps_page_size,
    events_after_returns_id_order_with_limit,
    watermark_starts_at_zero_and_moves_with_commits,
    commit_detection_inserts_new_incidents,
    commit_detection_updates_known_incident,
    commit_detection_returns_findings_in_input_order,
    failed_detection_commit_leaves_nothing,
    recent_incidents_since_is_inclusive,
    list_findings_filters_by_each_field,
    list_findings_orders_and_paginates,
    list_findings_sorts_by_each_key,
    update_finding_patches_status_and_note,
    event_series_buckets_from_rollups,
    finding_series_counts_new_findings_at_first_seen,
    event_breakdown_counts_by_kind_and_service,
    rollup_tiers_agree_with_the_minute_rows,
    finding_breakdown_counts_and_latest_last_seen,
    totals_count_everything,
    rule_match_counts_sum_the_writes_matches,
    iam_audits_round_trip_and_list_newest_first,
    rule_states_persist_and_the_latest_wins,
    refired_incident_keeps_triage,
    finding_history_records_who_and_when,
    close_reason_goes_with_closed_statuses_only,
    finding_notes_append_history_and_set_the_note,
    bulk_updates_by_ids_and_by_filter,
    bulk_update_refuses_more_than_max_bulk,
    finding_groups_count_by_each_key,
    list_findings_filters_by_assignee_tag_and_text,
    scan_findings_reads_every_selected_finding,
    scan_events_reads_every_page_in_list_order,
    scan_iam_audits_reads_every_page_newest_first,
    pipeline_updates_keep_a_bounded_history_per_pipeline,
    open_findings_by_severity_counts_open_ones_only,
    redelivered_offsets_are_stored_once,
    a_failed_batch_does_not_move_stream_positions,
    dead_letters_keep_raw_bytes_and_count_by_source,
    the_outbox_logs_detection_and_status_changes_in_order,
    consumer_positions_start_at_zero_and_persist,
    logsources_round_trip_and_filter,
);
