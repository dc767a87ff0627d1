//! The behaviour suite every [`Storage`] implementation must pass unchanged.
//!
//! A backend provides a [`Fixture`] (a fresh, empty store plus two fault
//! injectors used by the atomicity tests) and gets one test per behaviour:
//!
//! ```ignore
//! async fn fixture() -> MyFixture { /* a fresh store */ }
//! vigilo_storage::storage_behaviour_tests!(fixture);
//! ```
//!
//! or runs everything in one test with [`run_all`].
//!
//! Contract details pinned down here (beyond the trait's doc comments):
//! - `page` 0 means page 1; `page_size` is capped at [`MAX_PAGE_SIZE`] and the
//!   returned [`Page`] reports the effective values.
//! - Series contain only non-empty buckets, ordered by bucket then key; a
//!   bucket is labelled with its start, aligned to multiples of `bucket_secs`
//!   since the epoch; with whole-minute bounds, `from` is inclusive and `to`
//!   exclusive.
//! - A known incident key keeps its first finding's `first_seen`,
//!   `created_at`, status, note, group, service and user; `last_seen` and
//!   `event_count` never go backwards; evidence keeps the first
//!   [`EVIDENCE_CAP`] distinct ids in the order they were attached.
//! - `commit_detection` returns each finding as stored when the commit ends,
//!   without its evidence.
//! - [`Totals`] lists every severity and status, with zero counts.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use vigilo_core::finding::EVIDENCE_CAP;
use vigilo_core::finding::{CloseReason, FindingHistory, HistoryAction};
use vigilo_core::{Event, Finding, FindingStatus, NewEvent, Severity};

use crate::{
    Cursor, EventBreakdown, EventQuery, FindingBreakdown, FindingPatch, FindingQuery, FindingSort,
    FindingWrite, MAX_PAGE_SIZE, MetricAgg, MetricGroupBy, MetricGroups, MetricSeriesQuery,
    NewIamAudit, Page, PipelineRecord, PipelineUpdate, RuleIdFilter, RuleState, SeriesPoint,
    SeriesQuery, SortOrder, Storage,
};

/// A fresh, empty store plus the fault injection the atomicity tests need.
pub trait Fixture {
    type Store: Storage;

    fn store(&self) -> &Self::Store;

    /// From now on, make any write of an event whose kind is `kind` fail
    /// inside its transaction (for example with a trigger).
    fn poison_event_kind(&self, kind: &str) -> impl Future<Output = ()>;

    /// From now on, make any insert or update of a finding whose rule id is
    /// `rule_id` fail inside its transaction.
    fn poison_rule_id(&self, rule_id: &str) -> impl Future<Output = ()>;
}

/// Calls `$callback! { $($prefix)* name, name, ... }` with every behaviour.
#[doc(hidden)]
#[macro_export]
macro_rules! __vigilo_storage_behaviours {
    ([$($callback:tt)*] { $($prefix:tt)* }) => {
        $($callback)*! { $($prefix)*
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
            a_late_earlier_event_moves_first_seen_back,
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
            metric_series_aggregate_exactly_and_merge_buckets,
            metric_tiers_agree_with_the_values_and_cap_groups,
            metric_quantiles_are_within_the_sketch_accuracy,
            metric_groups_list_every_group_seen,
            pipeline_updates_keep_a_bounded_history_per_pipeline,
            open_findings_by_severity_counts_open_ones_only,
            users_round_trip_and_names_are_unique_ignoring_case,
            api_keys_are_created_found_by_prefix_and_revoked,
            sessions_rotate_once_and_revoke,
            audit_log_lists_newest_first_with_filters,
            preferences_round_trip_per_user,
            redelivered_offsets_are_stored_once,
            a_failed_batch_does_not_move_stream_positions,
            dead_letters_keep_raw_bytes_and_count_by_source,
            the_outbox_logs_detection_and_status_changes_in_order,
            consumer_positions_start_at_zero_and_persist,
            alert_commits_store_groups_notifications_and_position,
            notifications_are_searchable_by_every_filter,
            silences_are_created_announced_and_expired,
            logsources_round_trip_and_filter,
            enrichments_apply_to_the_finding_and_feed_the_cache,
            retention_purges_expired_evaluated_events_only,
            retention_steps_of_any_size_reach_the_same_end,
            retention_purges_findings_with_everything_attached,
            retention_keeps_rollups_past_events_and_purges_them_on_their_own,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vigilo_storage_one_test_each {
    ($make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $make().await;
                $crate::testsuite::$name(&fixture).await;
            }
        )*
    };
}

/// One `#[tokio::test]` per behaviour, in the module where it is invoked.
/// `$make` names an async fn taking no argument and returning a fresh
/// [`Fixture`]. The calling crate needs `tokio` with its `macros` feature.
#[macro_export]
macro_rules! storage_behaviour_tests {
    ($make:path) => {
        $crate::__vigilo_storage_behaviours!([$crate::__vigilo_storage_one_test_each] { $make; });
    };
}

/// Run every behaviour, each on a fresh fixture from `make`.
pub async fn run_all<X, F, Fut>(make: F)
where
    X: Fixture,
    F: Fn() -> Fut,
    Fut: Future<Output = X>,
{
    macro_rules! run {
        ($($name:ident),* $(,)?) => {
            $(
                {
                    let fixture = make().await;
                    $name(&fixture).await;
                }
            )*
        };
    }
    crate::__vigilo_storage_behaviours!([run] {});
}

mod accounts;
pub use accounts::*;
mod connectors;
pub use connectors::*;
mod alerts;
pub use alerts::*;
mod logsources;
pub use logsources::*;
mod enrichment;
pub use enrichment::*;
mod retention;
pub use retention::*;

// ---------------------------------------------------------------- helpers

async fn ready<X: Fixture>(x: &X) -> &X::Store {
    x.store().migrate().await.expect("migrate");
    x.store()
}

/// 2024-05-01 at `hh:mm:ss` UTC.
fn at(hms: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2024-05-01T{hms}Z"))
        .expect("test time")
        .with_timezone(&Utc)
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("test payload must be an object, got {other}"),
    }
}

fn ev(
    ts: DateTime<Utc>,
    kind: &str,
    service: Option<&str>,
    user: Option<&str>,
    payload: Value,
) -> NewEvent {
    NewEvent {
        // What ingest gives an event that names no logsource.
        logsource: vigilo_core::Logsource::vigilo(),
        timestamp: ts,
        received_at: ts + Duration::milliseconds(250),
        kind: kind.to_string(),
        service: service.map(str::to_string),
        user: user.map(str::to_string),
        payload: obj(payload),
        origin: None,
    }
}

fn simple(ts: DateTime<Utc>, n: usize) -> NewEvent {
    ev(ts, "log", Some("api"), Some("alice"), json!({ "n": n }))
}

fn ids(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.id).collect()
}

fn page_ids(p: &Page<Event>) -> Vec<i64> {
    ids(&p.items)
}

fn finding(
    rule_id: &str,
    severity: Severity,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Finding {
    Finding {
        id: 0,
        rule_id: rule_id.to_string(),
        rule_title: format!("Rule {rule_id}"),
        severity,
        status: FindingStatus::Open,
        group: BTreeMap::from([("user".to_string(), "alice".to_string())]),
        service: Some("api".to_string()),
        user: Some("alice".to_string()),
        first_seen: first,
        last_seen: last,
        event_count: 1,
        evidence: Vec::new(),
        description: format!("{rule_id} matched"),
        tags: vec!["attack.t1110".to_string(), "soc2.cc6.1".to_string()],
        risk_score: 50,
        explanation: "heuristic score".to_string(),
        note: None,
        assignee: None,
        workflow_tags: Vec::new(),
        close_reason: None,
        recommended_actions: Vec::new(),
        enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
        enriched_at: None,
        created_at: last + Duration::seconds(1),
        updated_at: last + Duration::seconds(1),
    }
}

fn write(key: &str, finding: Finding, evidence: Vec<i64>) -> FindingWrite {
    FindingWrite {
        incident_key: key.to_string(),
        finding,
        new_evidence: evidence,
        matches: 1,
    }
}

/// What storage returns for a newly inserted write.
fn as_stored(w: &FindingWrite, id: i64) -> Finding {
    let mut f = w.finding.clone();
    f.id = id;
    f.evidence = w.new_evidence.clone();
    f
}

/// `commit_detection`, then each finding it returned read back: the result
/// must be the finding as stored but for its evidence, which it leaves
/// empty. Returns the stored findings, evidence included.
async fn commit<S: Storage + ?Sized>(
    s: &S,
    writes: &[FindingWrite],
    watermark: i64,
) -> Vec<Finding> {
    let got = s
        .commit_detection(writes, watermark)
        .await
        .expect("detection commit");
    let mut stored = Vec::with_capacity(got.len());
    for f in got {
        assert!(
            f.evidence.is_empty(),
            "a commit's findings carry no evidence"
        );
        let full = s
            .get_finding(f.id)
            .await
            .unwrap()
            .expect("a committed finding is stored");
        let mut bare = full.clone();
        bare.evidence.clear();
        assert_eq!(f, bare, "a commit returns each finding as stored");
        stored.push(full);
    }
    stored
}

fn finding_ids(p: &Page<Finding>) -> Vec<i64> {
    p.items.iter().map(|f| f.id).collect()
}

fn eq_page() -> EventQuery {
    EventQuery {
        page: 1,
        page_size: 100,
        ..EventQuery::default()
    }
}

fn fq_page() -> FindingQuery {
    FindingQuery {
        page: 1,
        page_size: 100,
        ..FindingQuery::default()
    }
}

fn point(bucket: DateTime<Utc>, key: &str, count: u64) -> SeriesPoint {
    SeriesPoint {
        bucket,
        key: key.to_string(),
        count,
    }
}

fn sorted_event_breakdown(mut v: Vec<EventBreakdown>) -> Vec<EventBreakdown> {
    v.sort_by(|a, b| (&a.kind, &a.service).cmp(&(&b.kind, &b.service)));
    v
}

fn sorted_finding_breakdown(mut v: Vec<FindingBreakdown>) -> Vec<FindingBreakdown> {
    v.sort_by(|a, b| {
        (a.severity, &a.rule_id, &a.service).cmp(&(b.severity, &b.rule_id, &b.service))
    });
    v
}

// ------------------------------------------------------------- behaviours

pub async fn migrate_is_idempotent<X: Fixture>(x: &X) {
    let s = ready(x).await;
    s.migrate().await.expect("second migrate");
    assert!(!s.backend().is_empty());
    assert_eq!(s.detection_watermark().await.unwrap(), 0);
    let totals = s.totals().await.unwrap();
    assert_eq!((totals.events, totals.findings), (0, 0));
    assert_eq!(s.list_events(&eq_page()).await.unwrap().total, 0);
    assert!(s.rule_match_counts().await.unwrap().is_empty());
}

pub async fn insert_assigns_increasing_ids_in_input_order<X: Fixture>(x: &X) {
    let s = ready(x).await;
    // Input order deliberately differs from event-time order.
    let first = vec![
        simple(at("10:00:03"), 0),
        simple(at("10:00:01"), 1),
        simple(at("10:00:02"), 2),
    ];
    let second = vec![simple(at("09:00:00"), 3), simple(at("11:00:00"), 4)];
    let a = s.insert_events(first.clone()).await.unwrap();
    let b = s.insert_events(second.clone()).await.unwrap();
    let all: Vec<Event> = a.iter().chain(&b).cloned().collect();
    assert_eq!(all.len(), 5);
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase: {:?}",
        ids(&all)
    );
    assert!(all[0].id > 0);
    for (stored, input) in all.iter().zip(first.into_iter().chain(second)) {
        assert_eq!(*stored, Event::from_new(stored.id, input));
        assert_eq!(s.get_event(stored.id).await.unwrap().as_ref(), Some(stored));
    }
    let missing = all.last().unwrap().id + 1000;
    assert_eq!(s.get_event(missing).await.unwrap(), None);
}

pub async fn insert_empty_batch_is_a_no_op<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert!(s.insert_events(Vec::new()).await.unwrap().is_empty());
    assert_eq!(s.totals().await.unwrap().events, 0);
    let one = s
        .insert_events(vec![simple(at("10:00:00"), 0)])
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(s.totals().await.unwrap().events, 1);
}

pub async fn insert_round_trips_every_field<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let precise = at("10:00:00") + Duration::microseconds(123_456);
    let before_epoch = DateTime::from_timestamp_micros(-1).unwrap();
    let payload = json!({
        "zeta": 1,
        "alpha": {"nested": [1, 2.5, "three", null, true], "deep": {"k": "v"}},
        "mid": "héllo — 日本語 \"quoted\" \\ back",
        "big": 9_007_199_254_740_993_i64,
        "neg": -42,
        "none": null
    });
    let input = vec![
        NewEvent {
            logsource: vigilo_core::Logsource {
                product: Some("aws".into()),
                category: Some("iam".into()),
                service: Some("cloudtrail".into()),
            },
            timestamp: precise,
            received_at: precise + Duration::microseconds(1),
            kind: "audit".to_string(),
            service: None,
            user: None,
            payload: obj(payload.clone()),
            origin: None,
        },
        ev(before_epoch, "metric", Some(""), Some("u-1"), json!({})),
    ];
    let stored = s.insert_events(input.clone()).await.unwrap();
    for (st, inp) in stored.iter().zip(input) {
        let got = s.get_event(st.id).await.unwrap().expect("stored event");
        assert_eq!(got, Event::from_new(st.id, inp));
    }
    let got = s.get_event(stored[0].id).await.unwrap().unwrap();
    let keys: Vec<&str> = got.payload.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["zeta", "alpha", "mid", "big", "neg", "none"],
        "key order kept"
    );
    assert_eq!(Value::Object(got.payload), payload);
}

pub async fn large_batch_keeps_input_order<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let n = 12_345;
    let base = at("10:00:00");
    let input: Vec<NewEvent> = (0..n)
        .map(|i| simple(base + Duration::milliseconds(((i * 7919) % n) as i64), i))
        .collect();
    let stored = s.insert_events(input).await.unwrap();
    assert_eq!(stored.len(), n);
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    let replay = s.events_after(0, 20_000).await.unwrap();
    assert_eq!(ids(&replay), ids(&stored));
    for (i, e) in replay.iter().enumerate() {
        assert_eq!(
            e.payload.get("n"),
            Some(&json!(i)),
            "event {i} in input order"
        );
    }
    assert_eq!(s.totals().await.unwrap().events, n as u64);
    assert_eq!(s.list_events(&eq_page()).await.unwrap().total, n as u64);
}

pub async fn failed_event_batch_leaves_nothing<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let good = s
        .insert_events(vec![simple(at("10:00:00"), 0), simple(at("10:01:00"), 1)])
        .await
        .unwrap();
    x.poison_event_kind("poison").await;
    // Long enough to span several multi-row statements before the failure.
    let mut bad: Vec<NewEvent> = (0..1500).map(|i| simple(at("10:02:00"), i)).collect();
    bad.push(ev(at("10:03:00"), "poison", None, None, json!({})));
    assert!(
        s.insert_events(bad).await.is_err(),
        "poisoned batch must fail"
    );

    assert_eq!(s.totals().await.unwrap().events, 2);
    let page = s.list_events(&eq_page()).await.unwrap();
    assert_eq!(
        (page.total, page_ids(&page)),
        (2, vec![good[1].id, good[0].id])
    );
    assert_eq!(ids(&s.events_after(0, 10_000).await.unwrap()), ids(&good));
    let series = s
        .event_series(&SeriesQuery {
            from: at("10:00:00"),
            to: at("11:00:00"),
            bucket_secs: 3600,
        })
        .await
        .unwrap();
    assert_eq!(series, vec![point(at("10:00:00"), "log", 2)]);

    let later = s
        .insert_events(vec![simple(at("10:05:00"), 2)])
        .await
        .unwrap();
    assert!(later[0].id > good[1].id);
    assert_eq!(s.totals().await.unwrap().events, 3);
}

pub async fn get_events_returns_existing_in_id_order<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let e = s
        .insert_events((0..5).map(|i| simple(at("10:00:00"), i)).collect())
        .await
        .unwrap();
    let missing = e[4].id + 1000;
    let got = s
        .get_events(&[e[4].id, missing, e[0].id, e[2].id, e[0].id])
        .await
        .unwrap();
    assert_eq!(got, vec![e[0].clone(), e[2].clone(), e[4].clone()]);
    assert!(s.get_events(&[]).await.unwrap().is_empty());
    assert!(s.get_events(&[missing]).await.unwrap().is_empty());
}

pub async fn list_events_filters_by_each_field<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let e = s
        .insert_events(vec![
            ev(
                at("10:00:00"),
                "log",
                Some("api"),
                Some("alice"),
                json!({"i": 1}),
            ),
            ev(
                at("10:01:00"),
                "log",
                Some("web"),
                Some("bob"),
                json!({"i": 2}),
            ),
            ev(
                at("10:02:00"),
                "metric",
                Some("api"),
                Some("bob"),
                json!({"i": 3}),
            ),
            ev(
                at("10:03:00"),
                "audit",
                None,
                Some("alice"),
                json!({"i": 4}),
            ),
            ev(at("10:04:00"), "log", Some("api"), None, json!({"i": 5})),
        ])
        .await
        .unwrap();
    let id = |i: usize| e[i - 1].id;
    let cases: Vec<(&str, EventQuery, Vec<i64>)> = vec![
        (
            "no filter",
            eq_page(),
            vec![id(5), id(4), id(3), id(2), id(1)],
        ),
        (
            "kind",
            EventQuery {
                kind: Some("log".into()),
                ..eq_page()
            },
            vec![id(5), id(2), id(1)],
        ),
        (
            "service",
            EventQuery {
                service: Some("api".into()),
                ..eq_page()
            },
            vec![id(5), id(3), id(1)],
        ),
        (
            "user",
            EventQuery {
                user: Some("bob".into()),
                ..eq_page()
            },
            vec![id(3), id(2)],
        ),
        (
            "from inclusive",
            EventQuery {
                from: Some(at("10:02:00")),
                ..eq_page()
            },
            vec![id(5), id(4), id(3)],
        ),
        (
            "to exclusive",
            EventQuery {
                to: Some(at("10:02:00")),
                ..eq_page()
            },
            vec![id(2), id(1)],
        ),
        (
            "from and to",
            EventQuery {
                from: Some(at("10:01:00")),
                to: Some(at("10:03:00")),
                ..eq_page()
            },
            vec![id(3), id(2)],
        ),
        (
            "from inside a minute",
            EventQuery {
                from: Some(at("10:00:30")),
                to: Some(at("10:03:59")),
                ..eq_page()
            },
            vec![id(4), id(3), id(2)],
        ),
        (
            "kind and service",
            EventQuery {
                kind: Some("log".into()),
                service: Some("api".into()),
                ..eq_page()
            },
            vec![id(5), id(1)],
        ),
        (
            "kind, service and user",
            EventQuery {
                kind: Some("log".into()),
                service: Some("api".into()),
                user: Some("alice".into()),
                ..eq_page()
            },
            vec![id(1)],
        ),
        (
            "service and time",
            EventQuery {
                service: Some("api".into()),
                from: Some(at("10:01:00")),
                ..eq_page()
            },
            vec![id(5), id(3)],
        ),
        (
            "unknown user",
            EventQuery {
                user: Some("nobody".into()),
                ..eq_page()
            },
            vec![],
        ),
        (
            "unknown kind",
            EventQuery {
                kind: Some("nope".into()),
                ..eq_page()
            },
            vec![],
        ),
    ];
    for (name, q, want) in cases {
        let page = s.list_events(&q).await.unwrap();
        assert_eq!(page_ids(&page), want, "{name}");
        assert_eq!(page.total, want.len() as u64, "{name}: total");
    }
}

pub async fn list_events_text_search_is_case_insensitive_substring<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let e = s
        .insert_events(vec![
            ev(
                at("10:00:00"),
                "log",
                Some("api"),
                None,
                json!({"msg": "Disk FULL on node-7"}),
            ),
            ev(
                at("10:01:00"),
                "log",
                Some("web"),
                None,
                json!({"msg": "ratio 50% used"}),
            ),
            ev(
                at("10:02:00"),
                "log",
                Some("api"),
                None,
                json!({"msg": "ratio 5000 used"}),
            ),
            ev(
                at("10:03:00"),
                "metric",
                Some("api"),
                None,
                json!({"msg": "a_b"}),
            ),
            ev(
                at("10:04:00"),
                "log",
                Some("api"),
                None,
                json!({"msg": "axb disk"}),
            ),
            ev(
                at("10:05:00"),
                "log",
                Some("gateway"),
                None,
                json!({"msg": "nul\u{0}here", "lines": "one\ntwo", "via": "gateway"}),
            ),
        ])
        .await
        .unwrap();
    let q = |text: &str| EventQuery {
        q: Some(text.to_string()),
        ..eq_page()
    };
    let cases: Vec<(EventQuery, Vec<i64>)> = vec![
        (q("disk full"), vec![e[0].id]),
        (q("DISK"), vec![e[4].id, e[0].id]),
        (q("node-7"), vec![e[0].id]),
        (q("50%"), vec![e[1].id]),
        (q("a_b"), vec![e[3].id]),
        (q("no such text"), vec![]),
        // Control characters match only themselves (as the JSON text
        // spells them), never everything or nothing.
        (q("nul\u{0}here"), vec![e[5].id]),
        (q("\u{0}"), vec![e[5].id]),
        (q("\u{0}zzzz"), vec![]),
        (q("gateway\u{0}zzzz"), vec![]),
        (q("gateway"), vec![e[5].id]),
        (q("one\ntwo"), vec![e[5].id]),
        (q("one\u{0}two"), vec![]),
        (
            EventQuery {
                kind: Some("log".into()),
                ..q("disk")
            },
            vec![e[4].id, e[0].id],
        ),
        (
            EventQuery {
                kind: Some("metric".into()),
                ..q("disk")
            },
            vec![],
        ),
    ];
    for (query, want) in cases {
        let page = s.list_events(&query).await.unwrap();
        assert_eq!(page_ids(&page), want, "q = {:?}", query.q);
        assert_eq!(page.total, want.len() as u64, "q = {:?}: total", query.q);
    }
}

pub async fn list_events_newest_first_with_ties_by_id<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let e = s
        .insert_events(vec![
            simple(at("10:00:00"), 0),
            simple(at("10:00:00"), 1),
            simple(at("10:00:01"), 2),
            simple(at("10:00:00"), 3),
        ])
        .await
        .unwrap();
    let older = s
        .insert_events(vec![simple(at("09:59:59"), 4)])
        .await
        .unwrap();
    let page = s.list_events(&eq_page()).await.unwrap();
    assert_eq!(
        page_ids(&page),
        vec![e[2].id, e[3].id, e[1].id, e[0].id, older[0].id]
    );
}

pub async fn list_events_paginates_with_totals<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let e = s
        .insert_events(
            (0..7)
                .map(|i| simple(at("10:00:00") + Duration::seconds(i), i as usize))
                .collect(),
        )
        .await
        .unwrap();
    let newest_first: Vec<i64> = e.iter().rev().map(|e| e.id).collect();
    let page = |n: u32| EventQuery {
        page: n,
        page_size: 3,
        ..EventQuery::default()
    };
    let mut seen = Vec::new();
    for (n, len) in [(1u32, 3usize), (2, 3), (3, 1), (4, 0)] {
        let p = s.list_events(&page(n)).await.unwrap();
        assert_eq!(
            (p.total, p.page, p.page_size, p.items.len()),
            (7, n, 3, len),
            "page {n}"
        );
        seen.extend(page_ids(&p));
    }
    assert_eq!(seen, newest_first);
    let zero = s.list_events(&page(0)).await.unwrap();
    assert_eq!(
        (zero.page, page_ids(&zero)),
        (1, newest_first[..3].to_vec()),
        "page 0 is page 1"
    );
    let filtered = s
        .list_events(&EventQuery {
            from: Some(at("10:00:02")),
            page: 2,
            page_size: 2,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.total, 5);
    assert_eq!(page_ids(&filtered), newest_first[2..4].to_vec());
}

pub async fn list_events_caps_page_size<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let n = MAX_PAGE_SIZE as usize + 20;
    s.insert_events((0..n).map(|i| simple(at("10:00:00"), i)).collect())
        .await
        .unwrap();
    let q = |page| EventQuery {
        page,
        page_size: 10_000,
        ..EventQuery::default()
    };
    let p1 = s.list_events(&q(1)).await.unwrap();
    assert_eq!(
        (p1.items.len(), p1.page_size, p1.total),
        (MAX_PAGE_SIZE as usize, MAX_PAGE_SIZE, n as u64)
    );
    let p2 = s.list_events(&q(2)).await.unwrap();
    assert_eq!(p2.items.len(), 20);
}

pub async fn events_after_returns_id_order_with_limit<X: Fixture>(x: &X) {
    let s = ready(x).await;
    // Event times run backwards so id order and time order differ.
    let e = s
        .insert_events(
            (0..5)
                .map(|i| simple(at("10:00:00") - Duration::seconds(i), i as usize))
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(ids(&s.events_after(0, 3).await.unwrap()), ids(&e[..3]));
    assert_eq!(
        ids(&s.events_after(e[2].id, 10).await.unwrap()),
        ids(&e[3..])
    );
    assert!(s.events_after(e[4].id, 10).await.unwrap().is_empty());
    assert!(s.events_after(0, 0).await.unwrap().is_empty());
    assert_eq!(
        s.events_after(e[0].id, 1).await.unwrap(),
        vec![e[1].clone()]
    );
}

pub async fn watermark_starts_at_zero_and_moves_with_commits<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(s.detection_watermark().await.unwrap(), 0);
    assert!(commit(s, &[], 42).await.is_empty());
    assert_eq!(s.detection_watermark().await.unwrap(), 42);
    let w = write(
        "k1",
        finding("r1", Severity::Low, at("10:00:00"), at("10:00:00")),
        vec![1],
    );
    commit(s, &[w], 50).await;
    assert_eq!(s.detection_watermark().await.unwrap(), 50);
}

pub async fn commit_detection_inserts_new_incidents<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mut f = finding(
        "brute-force",
        Severity::High,
        at("10:00:00"),
        at("10:04:59"),
    );
    f.group = BTreeMap::from([
        ("user".into(), "alice".into()),
        ("src_ip".into(), "10.0.0.9".into()),
    ]);
    f.user = None;
    f.event_count = 3;
    f.risk_score = 87;
    f.note = Some("seeded".into());
    f.id = 999_999; // ignored
    let w = write("brute-force|alice", f, vec![30, 10, 20]);
    let got = commit(s, std::slice::from_ref(&w), 30).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].id > 0);
    assert_eq!(got[0], as_stored(&w, got[0].id));
    assert_eq!(
        got[0].evidence,
        vec![30, 10, 20],
        "evidence in attach order"
    );
    assert_eq!(
        s.get_finding(got[0].id).await.unwrap().as_ref(),
        Some(&got[0])
    );
    assert_eq!(s.get_finding(got[0].id + 1000).await.unwrap(), None);
}

pub async fn commit_detection_updates_known_incident<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let key = "mfa|bob";
    let mut f = finding("mfa", Severity::Medium, at("10:00:00"), at("10:01:00"));
    f.event_count = 60;
    let first_ev: Vec<i64> = (1..=60).collect();
    let created = commit(s, &[write(key, f.clone(), first_ev.clone())], 60).await;
    let id = created[0].id;

    let analyst_time = at("10:30:00");
    s.update_finding(
        id,
        FindingPatch {
            status: Some(FindingStatus::Acknowledged),
            note: Some("looking".into()),
            ..FindingPatch::default()
        },
        analyst_time,
    )
    .await
    .unwrap()
    .expect("finding exists");

    let mut g = finding("mfa", Severity::High, at("10:02:00"), at("10:05:00"));
    g.rule_title = "MFA failures (v2)".into();
    g.event_count = 120;
    g.risk_score = 91;
    g.explanation = "more failures".into();
    g.description = "mfa matched again".into();
    g.tags = vec!["soc2.cc6.1".into()];
    g.status = FindingStatus::Open; // must not reset the analyst's status
    g.note = None; // must not clear the analyst's note
    g.group = BTreeMap::from([("user".into(), "changed".into())]);
    g.created_at = at("11:00:00");
    g.updated_at = at("11:00:00");
    // Two ids already attached, then 60 new ones: only 40 fit under the cap.
    let mut more = vec![5, 60];
    more.extend(61..=120);
    let updated = commit(s, &[write(key, g.clone(), more)], 120).await;
    let u = &updated[0];
    assert_eq!(u.id, id);
    assert_eq!(u.status, FindingStatus::Acknowledged);
    assert_eq!(u.note.as_deref(), Some("looking"));
    assert_eq!(u.first_seen, f.first_seen, "first_seen kept");
    assert_eq!(u.created_at, f.created_at, "created_at kept");
    assert_eq!(u.group, f.group, "group kept");
    assert_eq!(u.last_seen, g.last_seen);
    assert_eq!(u.event_count, 120);
    assert_eq!(u.severity, Severity::High);
    assert_eq!(u.risk_score, 91);
    assert_eq!(u.explanation, "more failures");
    assert_eq!(u.updated_at, g.updated_at);
    let want_evidence: Vec<i64> = (1..=EVIDENCE_CAP as i64).collect();
    assert_eq!(
        u.evidence, want_evidence,
        "first EVIDENCE_CAP distinct ids, in order"
    );
    assert_eq!(s.get_finding(id).await.unwrap().as_ref(), Some(u));

    // An out-of-order write does not move last_seen or event_count back.
    let mut late = g.clone();
    late.last_seen = at("10:03:00");
    late.event_count = 7;
    let again = commit(s, &[write(key, late, vec![500])], 121).await;
    assert_eq!(again[0].last_seen, g.last_seen);
    assert_eq!(again[0].event_count, 120);
    assert_eq!(
        again[0].evidence, want_evidence,
        "full evidence stays as is"
    );
    assert_eq!(s.list_findings(&fq_page()).await.unwrap().total, 1);
}

/// Event-time detection: an event older than an incident's first one
/// joins it in a later commit (it arrived late). The stored first_seen
/// moves back to it, and the finding counts at its new first minute.
pub async fn a_late_earlier_event_moves_first_seen_back<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let key = "latency|api";
    let f = finding("lat", Severity::High, at("10:05:00"), at("10:05:00"));
    let id = commit(s, &[write(key, f.clone(), vec![1])], 1).await[0].id;
    let mut late = f.clone();
    late.first_seen = at("10:01:30");
    late.event_count = 2;
    let again = commit(s, &[write(key, late.clone(), vec![2])], 2).await;
    assert_eq!(again[0].id, id);
    assert_eq!(again[0].first_seen, at("10:01:30"), "first_seen moved back");
    assert_eq!(again[0].last_seen, at("10:05:00"));
    assert_eq!(again[0].event_count, 2);
    let stored = s.get_finding(id).await.unwrap().expect("finding");
    assert_eq!(stored.first_seen, at("10:01:30"));
    let q = SeriesQuery {
        from: at("10:00:00"),
        to: at("10:10:00"),
        bucket_secs: 60,
    };
    assert_eq!(
        s.finding_series(&q).await.unwrap(),
        vec![point(at("10:01:00"), "high", 1)],
        "counted once, at its new first minute"
    );
    // A write that does not reach further back leaves it.
    let mut later = late;
    later.first_seen = at("10:03:00");
    later.last_seen = at("10:06:00");
    later.event_count = 3;
    let third = commit(s, &[write(key, later, vec![3])], 3).await;
    assert_eq!(third[0].first_seen, at("10:01:30"));
    assert_eq!(third[0].last_seen, at("10:06:00"));
    assert_eq!(
        s.finding_series(&q).await.unwrap(),
        vec![point(at("10:01:00"), "high", 1)]
    );
}

pub async fn commit_detection_returns_findings_in_input_order<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let known = commit(
        s,
        &[write(
            "c",
            finding("rc", Severity::Low, at("09:00:00"), at("09:00:00")),
            vec![1],
        )],
        1,
    )
    .await;
    let a1 = write(
        "a",
        finding("ra", Severity::High, at("10:00:00"), at("10:00:00")),
        vec![2],
    );
    let b = write(
        "b",
        finding("rb", Severity::Medium, at("10:00:00"), at("10:00:10")),
        vec![3],
    );
    let c = write(
        "c",
        finding("rc", Severity::Low, at("09:00:00"), at("10:00:20")),
        vec![4],
    );
    let mut a2 = write(
        "a",
        finding("ra", Severity::High, at("10:00:00"), at("10:00:30")),
        vec![5],
    );
    a2.finding.event_count = 2;
    let got = commit(s, &[a1, b, c, a2], 5).await;
    assert_eq!(got.len(), 4);
    let rules: Vec<&str> = got.iter().map(|f| f.rule_id.as_str()).collect();
    assert_eq!(rules, ["ra", "rb", "rc", "ra"]);
    assert_eq!(got[0].id, got[3].id, "same key, same finding");
    assert_eq!(got[2].id, known[0].id);
    assert!(got[1].id != got[0].id && got[1].id != got[2].id);
    assert_eq!(got[3].last_seen, at("10:00:30"));
    assert_eq!(got[3].event_count, 2);
    assert_eq!(got[3].evidence, vec![2, 5]);
    assert_eq!(got[2].evidence, vec![1, 4]);
    assert_eq!(
        s.get_finding(got[3].id).await.unwrap().as_ref(),
        Some(&got[3])
    );
    assert_eq!(s.list_findings(&fq_page()).await.unwrap().total, 3);
}

pub async fn failed_detection_commit_leaves_nothing<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let ok = write(
        "k",
        finding("r1", Severity::High, at("10:00:00"), at("10:00:00")),
        vec![1],
    );
    let first = commit(s, &[ok], 10).await;
    let before_breakdown = s.finding_breakdown(None, None).await.unwrap();
    let before_counts = s.rule_match_counts().await.unwrap();
    x.poison_rule_id("poison").await;

    let mut update = write(
        "k",
        finding("r1", Severity::Critical, at("10:00:00"), at("10:09:00")),
        vec![2],
    );
    update.finding.event_count = 9;
    let fresh = write(
        "new",
        finding("r2", Severity::Low, at("10:05:00"), at("10:05:00")),
        vec![3],
    );
    let bad = write(
        "bad",
        finding("poison", Severity::Low, at("10:06:00"), at("10:06:00")),
        vec![4],
    );
    assert!(
        s.commit_detection(&[update, fresh, bad], 20).await.is_err(),
        "poisoned commit must fail"
    );

    assert_eq!(s.detection_watermark().await.unwrap(), 10);
    let page = s.list_findings(&fq_page()).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items, first, "known finding untouched");
    assert_eq!(
        s.finding_breakdown(None, None).await.unwrap(),
        before_breakdown
    );
    assert_eq!(s.rule_match_counts().await.unwrap(), before_counts);
    let totals = s.totals().await.unwrap();
    assert_eq!(totals.findings, 1);
    assert_eq!(totals.findings_by_severity["high"], 1);
    assert_eq!(totals.findings_by_severity["critical"], 0);
}

pub async fn recent_incidents_since_is_inclusive<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let got = commit(
        s,
        &[
            write(
                "old",
                finding("r", Severity::Low, at("08:00:00"), at("09:00:00")),
                vec![1],
            ),
            write(
                "edge",
                finding("r", Severity::Low, at("09:30:00"), at("10:00:00")),
                vec![2],
            ),
            write(
                "new",
                finding("r", Severity::Low, at("10:30:00"), at("11:00:00")),
                vec![3],
            ),
        ],
        3,
    )
    .await;
    let mut recent = s.recent_incidents(at("10:00:00")).await.unwrap();
    recent.sort_by_key(|(_, f)| f.id);
    assert_eq!(
        recent,
        vec![
            ("edge".to_string(), got[1].clone()),
            ("new".to_string(), got[2].clone())
        ]
    );
    assert!(s.recent_incidents(at("11:00:01")).await.unwrap().is_empty());
    assert_eq!(s.recent_incidents(at("00:00:00")).await.unwrap().len(), 3);
}

pub async fn list_findings_filters_by_each_field<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mut f1 = finding("r1", Severity::High, at("10:00:00"), at("10:05:00"));
    f1.service = Some("api".into());
    f1.user = Some("alice".into());
    let mut f2 = finding("r2", Severity::Low, at("10:10:00"), at("10:20:00"));
    f2.service = Some("web".into());
    f2.user = Some("bob".into());
    let mut f3 = finding("r1", Severity::Critical, at("09:00:00"), at("09:30:00"));
    f3.service = None;
    f3.user = Some("bob".into());
    let mut f4 = finding("r3", Severity::Medium, at("10:30:00"), at("10:40:00"));
    f4.service = Some("api".into());
    f4.user = None;
    let got = commit(
        s,
        &[
            write("1", f1, vec![1]),
            write("2", f2, vec![2]),
            write("3", f3, vec![3]),
            write("4", f4, vec![4]),
        ],
        4,
    )
    .await;
    let id = |i: usize| got[i - 1].id;
    s.update_finding(
        id(3),
        FindingPatch {
            status: Some(FindingStatus::Acknowledged),
            note: None,
            ..FindingPatch::default()
        },
        at("12:00:00"),
    )
    .await
    .unwrap();
    let cases: Vec<(&str, FindingQuery, Vec<i64>)> = vec![
        ("none", fq_page(), vec![id(4), id(2), id(1), id(3)]),
        (
            "severity",
            FindingQuery {
                severity: vec![Severity::High],
                ..fq_page()
            },
            vec![id(1)],
        ),
        (
            "status acked",
            FindingQuery {
                status: vec![FindingStatus::Acknowledged],
                ..fq_page()
            },
            vec![id(3)],
        ),
        (
            "status open",
            FindingQuery {
                status: vec![FindingStatus::Open],
                ..fq_page()
            },
            vec![id(4), id(2), id(1)],
        ),
        (
            "status resolved",
            FindingQuery {
                status: vec![FindingStatus::Resolved],
                ..fq_page()
            },
            vec![],
        ),
        (
            "rule",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Exact("r1".into())),
                ..fq_page()
            },
            vec![id(1), id(3)],
        ),
        (
            "user",
            FindingQuery {
                user: Some("bob".into()),
                ..fq_page()
            },
            vec![id(2), id(3)],
        ),
        (
            "service",
            FindingQuery {
                service: Some("api".into()),
                ..fq_page()
            },
            vec![id(4), id(1)],
        ),
        (
            "from: last_seen >= from",
            FindingQuery {
                from: Some(at("10:05:00")),
                ..fq_page()
            },
            vec![id(4), id(2), id(1)],
        ),
        (
            "to: first_seen < to",
            FindingQuery {
                to: Some(at("10:10:00")),
                ..fq_page()
            },
            vec![id(1), id(3)],
        ),
        (
            "from and to",
            FindingQuery {
                from: Some(at("10:05:00")),
                to: Some(at("10:30:00")),
                ..fq_page()
            },
            vec![id(2), id(1)],
        ),
        (
            "severity list",
            FindingQuery {
                severity: vec![Severity::Critical, Severity::High],
                ..fq_page()
            },
            vec![id(1), id(3)],
        ),
        (
            "status list",
            FindingQuery {
                status: vec![FindingStatus::Acknowledged, FindingStatus::Open],
                ..fq_page()
            },
            vec![id(4), id(2), id(1), id(3)],
        ),
        (
            "rule prefix",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Prefix("r1".into())),
                ..fq_page()
            },
            vec![id(1), id(3)],
        ),
        (
            "rule prefix of all",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Prefix("r".into())),
                ..fq_page()
            },
            vec![id(4), id(2), id(1), id(3)],
        ),
        (
            "empty rule prefix",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Prefix(String::new())),
                ..fq_page()
            },
            vec![id(4), id(2), id(1), id(3)],
        ),
        (
            "rule prefix of none",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Prefix("r1x".into())),
                ..fq_page()
            },
            vec![],
        ),
        (
            "exact rule is not a prefix",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Exact("r".into())),
                ..fq_page()
            },
            vec![],
        ),
        (
            "rule and status",
            FindingQuery {
                rule_id: Some(RuleIdFilter::Exact("r1".into())),
                status: vec![FindingStatus::Open],
                ..fq_page()
            },
            vec![id(1)],
        ),
        (
            "service and user",
            FindingQuery {
                service: Some("api".into()),
                user: Some("alice".into()),
                ..fq_page()
            },
            vec![id(1)],
        ),
    ];
    for (name, q, want) in cases {
        let page = s.list_findings(&q).await.unwrap();
        assert_eq!(finding_ids(&page), want, "{name}");
        assert_eq!(page.total, want.len() as u64, "{name}: total");
    }
    // Listed findings carry their evidence.
    let page = s
        .list_findings(&FindingQuery {
            severity: vec![Severity::High],
            ..fq_page()
        })
        .await
        .unwrap();
    assert_eq!(page.items[0].evidence, vec![1]);
}

pub async fn list_findings_orders_and_paginates<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let n = MAX_PAGE_SIZE as usize + 10;
    let writes: Vec<FindingWrite> = (0..n)
        .map(|i| {
            // Pairs share a last_seen, so ties are ordered by id.
            let last = at("10:00:00") + Duration::seconds((i / 2) as i64);
            write(
                &format!("k{i}"),
                finding("r", Severity::Low, at("09:00:00"), last),
                vec![i as i64],
            )
        })
        .collect();
    let got = commit(s, &writes, 1).await;
    let mut want: Vec<(DateTime<Utc>, i64)> = got.iter().map(|f| (f.last_seen, f.id)).collect();
    want.sort_by(|a, b| b.cmp(a));
    let want: Vec<i64> = want.into_iter().map(|(_, id)| id).collect();

    let p1 = s
        .list_findings(&FindingQuery {
            page: 1,
            page_size: 10_000,
            ..FindingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        (p1.total, p1.page_size, p1.items.len()),
        (n as u64, MAX_PAGE_SIZE, MAX_PAGE_SIZE as usize)
    );
    assert_eq!(finding_ids(&p1), want[..MAX_PAGE_SIZE as usize].to_vec());
    let p3 = s
        .list_findings(&FindingQuery {
            page: 3,
            page_size: 4,
            ..FindingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(finding_ids(&p3), want[8..12].to_vec());
    let past = s
        .list_findings(&FindingQuery {
            page: 1000,
            page_size: 4,
            ..FindingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((past.total, past.items.len()), (n as u64, 0));
}

pub async fn list_findings_sorts_by_each_key<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mk = |rule: &str, sev, first, last, risk| {
        let mut f = finding(rule, sev, at(first), at(last));
        f.risk_score = risk;
        f
    };
    let got = commit(
        s,
        &[
            write(
                "1",
                mk("r1", Severity::High, "10:00:00", "10:05:00", 80),
                vec![1],
            ),
            write(
                "2",
                mk("r2", Severity::Low, "10:10:00", "10:20:00", 20),
                vec![2],
            ),
            write(
                "3",
                mk("r3", Severity::Critical, "09:00:00", "09:30:00", 95),
                vec![3],
            ),
            write(
                "4",
                mk("r4", Severity::Medium, "10:30:00", "10:40:00", 50),
                vec![4],
            ),
            // Ties f1 on severity and risk; more recently active.
            write(
                "5",
                mk("r5", Severity::High, "08:00:00", "11:00:00", 80),
                vec![5],
            ),
        ],
        5,
    )
    .await;
    let id = |i: usize| got[i - 1].id;
    use FindingSort::{FirstSeen, LastSeen, Risk};
    use SortOrder::{Asc, Desc};
    let cases = [
        (LastSeen, Desc, [5, 4, 2, 1, 3]),
        (LastSeen, Asc, [3, 1, 2, 4, 5]),
        (FirstSeen, Desc, [4, 2, 1, 3, 5]),
        (FirstSeen, Asc, [5, 3, 1, 2, 4]),
        // Ties on the key: the most recently active first, either way.
        (FindingSort::Severity, Desc, [3, 5, 1, 4, 2]),
        (FindingSort::Severity, Asc, [2, 4, 5, 1, 3]),
        (Risk, Desc, [3, 5, 1, 4, 2]),
        (Risk, Asc, [2, 4, 5, 1, 3]),
    ];
    for (sort, order, want) in cases {
        let page = s
            .list_findings(&FindingQuery {
                sort,
                order,
                ..fq_page()
            })
            .await
            .unwrap();
        let want: Vec<i64> = want.iter().map(|&i| id(i)).collect();
        assert_eq!(finding_ids(&page), want, "{sort:?} {order:?}");
    }
    // Sorting combines with filters and paging.
    let page = s
        .list_findings(&FindingQuery {
            sort: Risk,
            order: Desc,
            severity: vec![Severity::High, Severity::Low],
            page: 2,
            page_size: 2,
            ..FindingQuery::default()
        })
        .await
        .unwrap();
    assert_eq!((finding_ids(&page), page.total), (vec![id(2)], 3));
}

pub async fn update_finding_patches_status_and_note<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(
        s.update_finding(12_345, FindingPatch::default(), at("12:00:00"))
            .await
            .unwrap(),
        None,
        "unknown id"
    );
    let w = write(
        "k",
        finding("r", Severity::Low, at("10:00:00"), at("10:00:00")),
        vec![1],
    );
    let f = commit(s, &[w], 1).await.remove(0);

    let a = s
        .update_finding(
            f.id,
            FindingPatch {
                status: Some(FindingStatus::Resolved),
                note: None,
                ..FindingPatch::default()
            },
            at("12:00:00"),
        )
        .await
        .unwrap()
        .unwrap();
    let mut want = f.clone();
    want.status = FindingStatus::Resolved;
    want.updated_at = at("12:00:00");
    assert_eq!(a, want);

    let b = s
        .update_finding(
            f.id,
            FindingPatch {
                status: None,
                note: Some("false positive".into()),
                ..FindingPatch::default()
            },
            at("12:05:00"),
        )
        .await
        .unwrap()
        .unwrap();
    want.note = Some("false positive".into());
    want.updated_at = at("12:05:00");
    assert_eq!(b, want);

    let c = s
        .update_finding(
            f.id,
            FindingPatch {
                status: Some(FindingStatus::Suppressed),
                note: Some("noise".into()),
                ..FindingPatch::default()
            },
            at("12:10:00"),
        )
        .await
        .unwrap()
        .unwrap();
    want.status = FindingStatus::Suppressed;
    want.note = Some("noise".into());
    want.updated_at = at("12:10:00");
    assert_eq!(c, want);
    assert_eq!(s.get_finding(f.id).await.unwrap(), Some(want.clone()));

    let d = s
        .update_finding(f.id, FindingPatch::default(), at("12:15:00"))
        .await
        .unwrap()
        .unwrap();
    want.updated_at = at("12:15:00");
    assert_eq!(d, want, "an empty patch only touches updated_at");

    let e = s
        .update_finding(
            f.id,
            FindingPatch {
                status: None,
                note: Some(String::new()),
                ..FindingPatch::default()
            },
            at("12:20:00"),
        )
        .await
        .unwrap()
        .unwrap();
    want.note = None;
    want.updated_at = at("12:20:00");
    assert_eq!(e, want, "an empty note clears it");
    let totals = s.totals().await.unwrap();
    assert_eq!(totals.findings_by_status["suppressed"], 1);
    assert_eq!(totals.findings_by_status["open"], 0);
}

pub async fn event_series_buckets_from_rollups<X: Fixture>(x: &X) {
    let s = ready(x).await;
    s.insert_events(vec![
        ev(at("09:59:59"), "log", None, None, json!({})),
        ev(at("10:00:10"), "log", Some("api"), None, json!({})),
        ev(at("10:01:30"), "metric", None, None, json!({})),
    ])
    .await
    .unwrap();
    // A second batch adds to the same minutes.
    s.insert_events(vec![
        ev(at("10:00:50"), "log", Some("web"), None, json!({})),
        ev(at("10:04:59"), "log", None, None, json!({})),
        ev(at("10:05:00"), "log", None, None, json!({})),
    ])
    .await
    .unwrap();
    let series = |from: &str, to: &str, bucket_secs: i64| SeriesQuery {
        from: at(from),
        to: at(to),
        bucket_secs,
    };

    assert_eq!(
        s.event_series(&series("10:00:00", "10:05:00", 60))
            .await
            .unwrap(),
        vec![
            point(at("10:00:00"), "log", 2),
            point(at("10:01:00"), "metric", 1),
            point(at("10:04:00"), "log", 1)
        ]
    );
    assert_eq!(
        s.event_series(&series("10:00:00", "10:05:00", 300))
            .await
            .unwrap(),
        vec![
            point(at("10:00:00"), "log", 3),
            point(at("10:00:00"), "metric", 1)
        ]
    );
    assert_eq!(
        s.event_series(&series("09:55:00", "10:10:00", 300))
            .await
            .unwrap(),
        vec![
            point(at("09:55:00"), "log", 1),
            point(at("10:00:00"), "log", 3),
            point(at("10:00:00"), "metric", 1),
            point(at("10:05:00"), "log", 1),
        ]
    );
    // Buckets align to multiples of bucket_secs since the epoch, not to `from`.
    assert_eq!(
        s.event_series(&series("10:05:00", "10:15:00", 600))
            .await
            .unwrap(),
        vec![point(at("10:00:00"), "log", 1)]
    );
    assert_eq!(
        s.event_series(&series("09:00:00", "11:00:00", 3600))
            .await
            .unwrap(),
        vec![
            point(at("09:00:00"), "log", 1),
            point(at("10:00:00"), "log", 4),
            point(at("10:00:00"), "metric", 1)
        ]
    );
    assert!(
        s.event_series(&series("11:00:00", "12:00:00", 60))
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn finding_series_counts_new_findings_at_first_seen<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let a = || finding("ra", Severity::High, at("10:00:30"), at("10:00:30"));
    commit(
        s,
        &[
            write("a", a(), vec![1]),
            write(
                "b",
                finding("rb", Severity::Low, at("10:02:00"), at("10:03:00")),
                vec![2],
            ),
            write(
                "old",
                finding("rb", Severity::Low, at("09:00:00"), at("10:01:00")),
                vec![3],
            ),
        ],
        3,
    )
    .await;
    // Updating a known incident does not count it again.
    let mut a2 = a();
    a2.last_seen = at("10:30:00");
    commit(s, &[write("a", a2, vec![4])], 4).await;
    let q = SeriesQuery {
        from: at("10:00:00"),
        to: at("10:05:00"),
        bucket_secs: 60,
    };
    assert_eq!(
        s.finding_series(&q).await.unwrap(),
        vec![
            point(at("10:00:00"), "high", 1),
            point(at("10:02:00"), "low", 1)
        ]
    );
    // A severity change moves the finding to its new severity.
    let mut a3 = a();
    a3.severity = Severity::Critical;
    a3.last_seen = at("10:31:00");
    commit(s, &[write("a", a3, vec![])], 5).await;
    assert_eq!(
        s.finding_series(&q).await.unwrap(),
        vec![
            point(at("10:00:00"), "critical", 1),
            point(at("10:02:00"), "low", 1)
        ]
    );
    let hourly = SeriesQuery {
        from: at("09:00:00"),
        to: at("11:00:00"),
        bucket_secs: 3600,
    };
    assert_eq!(
        s.finding_series(&hourly).await.unwrap(),
        vec![
            point(at("09:00:00"), "low", 1),
            point(at("10:00:00"), "critical", 1),
            point(at("10:00:00"), "low", 1)
        ]
    );
}

pub async fn event_breakdown_counts_by_kind_and_service<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mut batch = Vec::new();
    for _ in 0..3 {
        batch.push(ev(at("10:00:00"), "log", Some("api"), None, json!({})));
    }
    for _ in 0..2 {
        batch.push(ev(at("10:10:00"), "log", None, None, json!({})));
    }
    batch.push(ev(at("10:20:00"), "metric", Some("api"), None, json!({})));
    batch.push(ev(at("11:00:00"), "log", Some("web"), None, json!({})));
    s.insert_events(batch).await.unwrap();
    let b = |kind: &str, service: Option<&str>, count| EventBreakdown {
        kind: kind.to_string(),
        service: service.map(str::to_string),
        count,
    };
    assert_eq!(
        sorted_event_breakdown(s.event_breakdown(None, None).await.unwrap()),
        vec![
            b("log", None, 2),
            b("log", Some("api"), 3),
            b("log", Some("web"), 1),
            b("metric", Some("api"), 1)
        ]
    );
    assert_eq!(
        sorted_event_breakdown(
            s.event_breakdown(Some(at("10:00:00")), Some(at("11:00:00")))
                .await
                .unwrap()
        ),
        vec![
            b("log", None, 2),
            b("log", Some("api"), 3),
            b("metric", Some("api"), 1)
        ]
    );
    assert_eq!(
        s.event_breakdown(Some(at("11:00:00")), None).await.unwrap(),
        vec![b("log", Some("web"), 1)]
    );
    assert_eq!(
        sorted_event_breakdown(s.event_breakdown(None, Some(at("10:10:00"))).await.unwrap()),
        vec![b("log", Some("api"), 3)]
    );
    assert!(
        s.event_breakdown(Some(at("12:00:00")), None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Events spread over three days (every kind, some without a service) in
/// several batches; series, breakdowns and counts over ranges that start
/// and end inside an hour (and inside a minute), across hour and day
/// boundaries, must equal what the events themselves give under the
/// minute-overlap rule, whatever tiers a backend reads them from.
pub async fn rollup_tiers_agree_with_the_minute_rows<X: Fixture>(x: &X) {
    let s = ready(x).await;
    // Past days, then the hours around now (a backend may keep the latest
    // hours out of its hour tier).
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).expect("now");
    for (start, span) in [
        (at("00:00:00") - Duration::hours(5), 3 * 86_400),
        (
            now - Duration::hours(4) - Duration::seconds(1_234),
            6 * 3_600,
        ),
    ] {
        tiers_agree_from(s, start, span).await;
    }
}

async fn tiers_agree_from<S: Storage + ?Sized>(s: &S, start: DateTime<Utc>, span: u64) {
    let kinds = ["log", "metric", "transaction"];
    let services = [None, Some("api"), Some("web"), Some("db")];
    // (time, kind, service) of every event, from a small LCG.
    let mut seed: u64 = 7;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let mut all: Vec<(DateTime<Utc>, &str, Option<&str>)> = Vec::new();
    for _ in 0..12 {
        let mut batch = Vec::new();
        for _ in 0..250 {
            let t = start + Duration::seconds(next(span) as i64);
            let kind = kinds[next(3) as usize];
            let service = services[next(4) as usize];
            all.push((t, kind, service));
            batch.push(ev(t, kind, service, None, json!({})));
        }
        s.insert_events(batch).await.unwrap();
    }
    let minute = |t: DateTime<Utc>| t.timestamp().div_euclid(60) * 60;
    // A minute counts when it overlaps [from, to).
    let counts = |from: DateTime<Utc>, to: DateTime<Utc>, t: DateTime<Utc>| {
        minute(t) >= minute(from) && minute(t) * 1_000_000 < to.timestamp_micros()
    };
    let ranges = [
        (
            start + Duration::minutes(17),
            start + Duration::hours(30) + Duration::minutes(41),
        ),
        (
            start + Duration::seconds(3_725),
            start + Duration::hours(50) + Duration::seconds(59),
        ),
        (start, start + Duration::days(3)),
        (start + Duration::hours(2), start + Duration::hours(26)),
        (start + Duration::minutes(5), start + Duration::minutes(55)),
        (start + Duration::minutes(50), start + Duration::minutes(70)),
        (start - Duration::days(1), start + Duration::days(4)),
    ];
    for (from, to) in ranges {
        for bucket_secs in [60, 300, 3_600, 7_200, 86_400] {
            let mut want: BTreeMap<(i64, String), u64> = BTreeMap::new();
            for &(t, kind, _) in all.iter().filter(|(t, ..)| counts(from, to, *t)) {
                let b = minute(t) - minute(t).rem_euclid(bucket_secs);
                *want.entry((b, kind.to_string())).or_default() += 1;
            }
            let want: Vec<SeriesPoint> = want
                .into_iter()
                .map(|((b, kind), n)| {
                    point(DateTime::from_timestamp(b, 0).expect("bucket"), &kind, n)
                })
                .collect();
            let got = s
                .event_series(&SeriesQuery {
                    from,
                    to,
                    bucket_secs,
                })
                .await
                .unwrap();
            assert_eq!(got, want, "series {from}..{to} by {bucket_secs} s");
        }
        let mut want: BTreeMap<(String, Option<String>), u64> = BTreeMap::new();
        for &(_, kind, service) in all.iter().filter(|(t, ..)| counts(from, to, *t)) {
            *want
                .entry((kind.to_string(), service.map(str::to_string)))
                .or_default() += 1;
        }
        let want: Vec<EventBreakdown> = want
            .into_iter()
            .map(|((kind, service), count)| EventBreakdown {
                kind,
                service,
                count,
            })
            .collect();
        assert_eq!(
            sorted_event_breakdown(s.event_breakdown(Some(from), Some(to)).await.unwrap()),
            want,
            "breakdown {from}..{to}"
        );
        // Counts of listings on whole minutes, with each filter.
        let (mf, mt) = (
            DateTime::from_timestamp(minute(from), 0).expect("minute"),
            DateTime::from_timestamp(minute(to), 0).expect("minute"),
        );
        for (kind, service) in [
            (None, None),
            (Some("log"), None),
            (None, Some("api")),
            (Some("metric"), Some("web")),
        ] {
            let want = all
                .iter()
                .filter(|&&(t, k, sv)| {
                    t >= mf
                        && t < mt
                        && kind.is_none_or(|kind| kind == k)
                        && service.is_none_or(|service| sv == Some(service))
                })
                .count() as u64;
            let page = s
                .list_events(&EventQuery {
                    kind: kind.map(str::to_string),
                    service: service.map(str::to_string),
                    from: Some(mf),
                    to: Some(mt),
                    page: 1,
                    page_size: 1,
                    ..EventQuery::default()
                })
                .await
                .unwrap();
            assert_eq!(page.total, want, "count {mf}..{mt} {kind:?} {service:?}");
        }
    }
    // Everything from `start` on (this round's events only) and all time.
    let from_start: u64 = s
        .event_breakdown(Some(start), None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.count)
        .sum();
    assert_eq!(from_start, all.len() as u64, "from {start} on");
    let total: u64 = s
        .event_breakdown(None, None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.count)
        .sum();
    assert_eq!(s.totals().await.unwrap().events, total);
    let page = s
        .list_events(&EventQuery {
            service: Some("db".into()),
            from: Some(start),
            page: 1,
            page_size: 1,
            ..EventQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.total,
        all.iter().filter(|e| e.2 == Some("db")).count() as u64
    );
}

pub async fn finding_breakdown_counts_and_latest_last_seen<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mut f3 = finding("r2", Severity::Low, at("11:00:00"), at("11:30:00"));
    f3.service = None;
    commit(
        s,
        &[
            write(
                "1",
                finding("r1", Severity::High, at("10:00:00"), at("10:05:00")),
                vec![],
            ),
            write(
                "2",
                finding("r1", Severity::High, at("10:01:00"), at("10:20:00")),
                vec![],
            ),
            write("3", f3, vec![]),
        ],
        1,
    )
    .await;
    // A later update of finding 1 moves the latest last_seen.
    commit(
        s,
        &[write(
            "1",
            finding("r1", Severity::High, at("10:00:00"), at("10:45:00")),
            vec![],
        )],
        2,
    )
    .await;
    let b = |severity, rule: &str, service: Option<&str>, count, last: &str| FindingBreakdown {
        severity,
        rule_id: rule.to_string(),
        service: service.map(str::to_string),
        count,
        last_seen: Some(at(last)),
    };
    assert_eq!(
        sorted_finding_breakdown(s.finding_breakdown(None, None).await.unwrap()),
        vec![
            b(Severity::Low, "r2", None, 1, "11:30:00"),
            b(Severity::High, "r1", Some("api"), 2, "10:45:00")
        ]
    );
    assert_eq!(
        s.finding_breakdown(Some(at("10:00:00")), Some(at("11:00:00")))
            .await
            .unwrap(),
        vec![b(Severity::High, "r1", Some("api"), 2, "10:45:00")]
    );
    assert_eq!(
        s.finding_breakdown(Some(at("10:01:00")), Some(at("10:02:00")))
            .await
            .unwrap(),
        vec![b(Severity::High, "r1", Some("api"), 1, "10:20:00")]
    );
    assert!(
        s.finding_breakdown(Some(at("12:00:00")), None)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn totals_count_everything<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let empty = s.totals().await.unwrap();
    let sev_keys: BTreeSet<&str> = empty
        .findings_by_severity
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(sev_keys, Severity::ALL.iter().map(|s| s.as_str()).collect());
    let status_keys: BTreeSet<&str> = empty
        .findings_by_status
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        status_keys,
        BTreeSet::from(["open", "acknowledged", "resolved", "suppressed"])
    );
    assert!(
        empty
            .findings_by_severity
            .values()
            .chain(empty.findings_by_status.values())
            .all(|n| *n == 0)
    );

    s.insert_events(
        (0..5)
            .map(|i| simple(at("10:00:00") + Duration::hours(i as i64), i))
            .collect(),
    )
    .await
    .unwrap();
    let got = commit(
        s,
        &[
            write(
                "1",
                finding("r", Severity::High, at("10:00:00"), at("10:00:00")),
                vec![1],
            ),
            write(
                "2",
                finding("r", Severity::High, at("10:00:00"), at("10:00:00")),
                vec![2],
            ),
            write(
                "3",
                finding("r", Severity::Low, at("10:00:00"), at("10:00:00")),
                vec![3],
            ),
        ],
        3,
    )
    .await;
    s.update_finding(
        got[2].id,
        FindingPatch {
            status: Some(FindingStatus::Resolved),
            note: None,
            ..FindingPatch::default()
        },
        at("12:00:00"),
    )
    .await
    .unwrap();
    let t = s.totals().await.unwrap();
    assert_eq!((t.events, t.findings), (5, 3));
    assert_eq!(
        (
            t.findings_by_severity["high"],
            t.findings_by_severity["low"],
            t.findings_by_severity["critical"]
        ),
        (2, 1, 0)
    );
    assert_eq!(
        (
            t.findings_by_status["open"],
            t.findings_by_status["resolved"]
        ),
        (2, 1)
    );
}

pub async fn rule_match_counts_sum_the_writes_matches<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert!(s.rule_match_counts().await.unwrap().is_empty());
    let f = |rule: &str| finding(rule, Severity::Low, at("10:00:00"), at("10:00:00"));
    commit(
        s,
        &[write("a", f("r1"), vec![1]), write("b", f("r2"), vec![2])],
        2,
    )
    .await;
    commit(
        s,
        &[write("a", f("r1"), vec![3]), write("a", f("r1"), vec![4])],
        4,
    )
    .await;
    assert_eq!(
        s.rule_match_counts().await.unwrap(),
        BTreeMap::from([("r1".to_string(), 3), ("r2".to_string(), 1)])
    );
    let mut coalesced = write("b", f("r2"), vec![5, 6]);
    coalesced.matches = 4;
    commit(s, &[coalesced], 6).await;
    assert_eq!(
        s.rule_match_counts().await.unwrap(),
        BTreeMap::from([("r1".to_string(), 3), ("r2".to_string(), 5)])
    );
}

pub async fn iam_audits_round_trip_and_list_newest_first<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let audit = |created: &str, source: Option<&str>, n: u64| NewIamAudit {
        created_at: at(created),
        source: source.map(str::to_string),
        input_format: "aws-gaad".to_string(),
        summary: json!({"high": n, "medium": 0, "low": 1}),
        report: json!({"risks": [{"id": format!("risk-{n}"), "severity": "high"}], "n": n}),
    };
    let a = s
        .insert_iam_audit(audit("10:00:00", Some("account.json"), 1))
        .await
        .unwrap();
    let b = s
        .insert_iam_audit(audit("12:00:00", None, 2))
        .await
        .unwrap();
    let c = s
        .insert_iam_audit(audit("11:00:00", Some("upload"), 3))
        .await
        .unwrap();
    let d = s
        .insert_iam_audit(audit("12:00:00", None, 4))
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < c.id && c.id < d.id);
    assert_eq!(b.summary, json!({"high": 2, "medium": 0, "low": 1}));
    assert_eq!(s.get_iam_audit(c.id).await.unwrap().as_ref(), Some(&c));
    assert_eq!(s.get_iam_audit(a.id).await.unwrap().as_ref(), Some(&a));
    assert_eq!(s.get_iam_audit(d.id + 100).await.unwrap(), None);

    let p1 = s.list_iam_audits(1, 3).await.unwrap();
    assert_eq!((p1.total, p1.page, p1.page_size), (4, 1, 3));
    let order: Vec<i64> = p1.items.iter().map(|x| x.id).collect();
    assert_eq!(order, vec![d.id, b.id, c.id], "newest first, ties by id");
    for (listed, full) in p1.items.iter().zip([&d, &b, &c]) {
        assert_eq!(
            (listed.created_at, &listed.source, &listed.summary),
            (full.created_at, &full.source, &full.summary)
        );
        assert!(listed.report.is_null() || listed.report == full.report);
    }
    let p2 = s.list_iam_audits(2, 3).await.unwrap();
    assert_eq!(
        p2.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![a.id]
    );
    let capped = s.list_iam_audits(1, 10_000).await.unwrap();
    assert_eq!((capped.page_size, capped.items.len()), (MAX_PAGE_SIZE, 4));
}

pub async fn rule_states_persist_and_the_latest_wins<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(s.rule_states().await.unwrap(), vec![]);
    let off = s
        .set_rule_enabled("anomaly.high_latency", false, at("10:00:00"))
        .await
        .unwrap();
    assert_eq!(
        off,
        RuleState {
            rule_id: "anomaly.high_latency".into(),
            enabled: false,
            changed_at: at("10:00:00"),
        }
    );
    s.set_rule_enabled("identity.admin_token", false, at("10:01:00"))
        .await
        .unwrap();
    s.set_rule_enabled("anomaly.high_latency", true, at("10:02:00"))
        .await
        .unwrap();
    assert_eq!(
        s.rule_states().await.unwrap(),
        vec![
            RuleState {
                rule_id: "anomaly.high_latency".into(),
                enabled: true,
                changed_at: at("10:02:00"),
            },
            RuleState {
                rule_id: "identity.admin_token".into(),
                enabled: false,
                changed_at: at("10:01:00"),
            },
        ]
    );
}

/// Every page of a keyset scan of `q`, `limit` rows at a time.
async fn scan_all<S: Storage + ?Sized>(s: &S, q: &EventQuery, limit: u32) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let mut after = None;
    loop {
        let page = s.scan_events(q, after, limit).await.expect("scan events");
        assert!(page.len() <= limit as usize, "a page holds at most `limit`");
        let Some(last) = page.last() else { break };
        after = Some(Cursor {
            time: last.timestamp,
            id: last.id,
        });
        out.extend(page);
    }
    out
}

pub async fn scan_events_reads_every_page_in_list_order<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mut batch = Vec::new();
    // Runs of equal times (a page boundary falls inside each), two
    // services and none, three kinds, out-of-order times.
    for i in 0..40usize {
        let t = at("10:00:00") + Duration::seconds(((i * 7) % 13) as i64);
        let service = match i % 3 {
            0 => Some("api"),
            1 => Some("db"),
            _ => None,
        };
        let kind = ["log", "metric", "audit"][i % 3 / 2 + i % 2];
        let text = if i % 4 == 0 { "Needle" } else { "hay" };
        batch.push(ev(
            t,
            kind,
            service,
            Some("alice"),
            json!({ "i": i, "t": text }),
        ));
    }
    s.insert_events(batch[..25].to_vec()).await.unwrap();
    s.insert_events(batch[25..].to_vec()).await.unwrap();

    let queries = [
        EventQuery::default(),
        EventQuery {
            service: Some("api".into()),
            ..EventQuery::default()
        },
        EventQuery {
            service: Some("db".into()),
            kind: Some("metric".into()),
            ..EventQuery::default()
        },
        EventQuery {
            q: Some("needle".into()),
            from: Some(at("10:00:03")),
            to: Some(at("10:00:10")),
            ..EventQuery::default()
        },
        EventQuery {
            service: Some("api".into()),
            from: Some(at("10:00:02")),
            ..EventQuery::default()
        },
        EventQuery {
            service: Some("nowhere".into()),
            ..EventQuery::default()
        },
    ];
    for q in queries {
        let listed = s
            .list_events(&EventQuery {
                page: 1,
                page_size: MAX_PAGE_SIZE,
                ..q.clone()
            })
            .await
            .unwrap();
        for limit in [1, 3, 7, 1000] {
            let scanned = scan_all(s, &q, limit).await;
            assert_eq!(
                ids(&scanned),
                page_ids(&listed),
                "scan of {q:?} by {limit} is the listing"
            );
            assert_eq!(scanned.len() as u64, listed.total, "{q:?}");
        }
        // The paging fields of the query play no part.
        let scanned = scan_all(
            s,
            &EventQuery {
                page: 3,
                page_size: 2,
                ..q.clone()
            },
            5,
        )
        .await;
        assert_eq!(ids(&scanned), page_ids(&listed), "{q:?} with paging");
    }
    let full = scan_all(s, &EventQuery::default(), 1000).await;
    let one = s.get_event(full[5].id).await.unwrap().unwrap();
    assert_eq!(full[5], one, "scanned events are whole");
    assert_eq!(
        s.scan_events(&EventQuery::default(), None, 0)
            .await
            .unwrap()
            .len(),
        1,
        "a limit of 0 reads one row"
    );
}

pub async fn scan_iam_audits_reads_every_page_newest_first<X: Fixture>(x: &X) {
    let s = ready(x).await;
    for (i, t) in [
        "10:00:00", "12:00:00", "11:00:00", "12:00:00", "12:00:00", "09:00:00",
    ]
    .iter()
    .enumerate()
    {
        s.insert_iam_audit(NewIamAudit {
            created_at: at(t),
            source: Some(format!("upload-{i}")),
            input_format: "simple".into(),
            summary: json!({"high": i}),
            report: json!({"findings": [], "i": i}),
        })
        .await
        .unwrap();
    }
    let listed = s.list_iam_audits(1, MAX_PAGE_SIZE).await.unwrap();
    let want: Vec<i64> = listed.items.iter().map(|a| a.id).collect();
    for limit in [1, 2, 4, 1000] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let page = s.scan_iam_audits(after, limit).await.unwrap();
            assert!(page.len() <= limit as usize);
            let Some(last) = page.last() else { break };
            after = Some(Cursor {
                time: last.created_at,
                id: last.id,
            });
            for a in &page {
                assert!(a.report.is_null(), "scans leave the report out");
                assert_eq!(a.summary["high"], json!(a.id - 1));
            }
            got.extend(page.iter().map(|a| a.id));
        }
        assert_eq!(got, want, "scan by {limit} is the listing");
    }
}

fn metric_query(
    field: &str,
    group_by: MetricGroupBy,
    agg: MetricAgg,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket_secs: i64,
) -> MetricSeriesQuery {
    MetricSeriesQuery {
        field: field.to_string(),
        group_by,
        agg,
        range: SeriesQuery {
            from,
            to,
            bucket_secs,
        },
    }
}

/// (bucket, key, value, count) of each point.
async fn metric_points<S: Storage + ?Sized>(
    s: &S,
    q: &MetricSeriesQuery,
) -> Vec<(DateTime<Utc>, Option<String>, f64, u64)> {
    s.metric_series(q)
        .await
        .expect("metric series")
        .into_iter()
        .map(|p| (p.bucket, p.key, p.value, p.count))
        .collect()
}

/// Metric values over two days in several batches; series over ranges
/// that start and end inside an hour, by minute, 5 minutes, hour and day,
/// must give exactly the values' count, sum, extremes and quantile sketch
/// (integer values, so sums are exact in any order), and
/// `metric_series_top` the groups with the most values.
pub async fn metric_tiers_agree_with_the_values_and_cap_groups<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let start = at("00:00:00") - Duration::hours(3);
    let services = [None, Some("api"), Some("web"), Some("db")];
    let names = [None, Some("m1"), Some("m2")];
    let mut seed: u64 = 11;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    // (time, service, metric name, value) of every event.
    type Value4<'a> = (DateTime<Utc>, Option<&'a str>, Option<&'a str>, f64);
    let mut all: Vec<Value4<'_>> = Vec::new();
    for _ in 0..8 {
        let mut batch = Vec::new();
        for _ in 0..150 {
            let t = start + Duration::seconds(next(2 * 86_400) as i64);
            // Skewed, so the groups rank by their number of values.
            let service = services[(next(4) * next(4) / 3) as usize];
            let name = names[next(3) as usize];
            let v = (1 + next(100)) as f64;
            all.push((t, service, name, v));
            let mut payload = json!({ "cpu": v });
            if let Some(n) = name {
                payload["metric_name"] = json!(n);
            }
            batch.push(ev(t, "metric", service, None, payload));
        }
        s.insert_events(batch).await.unwrap();
    }
    let minute = |t: DateTime<Utc>| t.timestamp().div_euclid(60) * 60;
    let counts = |from: DateTime<Utc>, to: DateTime<Utc>, t: DateTime<Utc>| {
        minute(t) >= minute(from) && minute(t) * 1_000_000 < to.timestamp_micros()
    };
    let ranges = [
        (
            start + Duration::minutes(13),
            start + Duration::hours(29) + Duration::minutes(7),
        ),
        (
            start + Duration::seconds(7_261),
            start + Duration::hours(47) + Duration::seconds(30),
        ),
        (start - Duration::days(1), start + Duration::days(3)),
        (start + Duration::minutes(10), start + Duration::minutes(50)),
    ];
    type Want =
        BTreeMap<(DateTime<Utc>, Option<String>), (u64, f64, f64, f64, crate::sketch::Sketch)>;
    for (from, to) in ranges {
        for group_by in [
            MetricGroupBy::None,
            MetricGroupBy::Service,
            MetricGroupBy::MetricName,
        ] {
            for bucket_secs in [60, 300, 3_600, 86_400] {
                let mut want: Want = BTreeMap::new();
                for &(t, service, name, v) in all.iter().filter(|e| counts(from, to, e.0)) {
                    let key = match group_by {
                        MetricGroupBy::None => None,
                        MetricGroupBy::Service => service.map(str::to_string),
                        _ => match name {
                            Some(n) => Some(n.to_string()),
                            None => continue,
                        },
                    };
                    let b = minute(t) - minute(t).rem_euclid(bucket_secs);
                    let b = DateTime::from_timestamp(b, 0).expect("bucket");
                    let e = want.entry((b, key)).or_insert_with(|| {
                        (
                            0,
                            0.0,
                            f64::INFINITY,
                            f64::NEG_INFINITY,
                            crate::sketch::Sketch::new(),
                        )
                    });
                    e.0 += 1;
                    e.1 += v;
                    e.2 = e.2.min(v);
                    e.3 = e.3.max(v);
                    e.4.add(v);
                }
                let what = format!("{group_by:?} {from}..{to} by {bucket_secs} s");
                for (agg, pick) in [
                    (MetricAgg::Count, 0),
                    (MetricAgg::Sum, 1),
                    (MetricAgg::Min, 2),
                    (MetricAgg::Max, 3),
                    (MetricAgg::P95, 4),
                ] {
                    let got = metric_points(
                        s,
                        &metric_query("cpu", group_by, agg, from, to, bucket_secs),
                    )
                    .await;
                    let expect: Vec<(DateTime<Utc>, Option<String>, f64, u64)> = want
                        .iter()
                        .map(|((b, k), (n, sum, lo, hi, sk))| {
                            let value = match pick {
                                0 => *n as f64,
                                1 => *sum,
                                2 => *lo,
                                3 => *hi,
                                _ => sk.quantile(0.95).expect("values").clamp(*lo, *hi),
                            };
                            (*b, k.clone(), value, *n)
                        })
                        .collect();
                    assert_eq!(got, expect, "{agg:?} {what}");
                }
                if group_by == MetricGroupBy::None {
                    continue;
                }
                // The cap: the groups with the most values in the range.
                let mut per_group: BTreeMap<Option<String>, u64> = BTreeMap::new();
                for ((_, k), (n, ..)) in &want {
                    *per_group.entry(k.clone()).or_default() += n;
                }
                let mut ranked: Vec<(Option<String>, u64)> = per_group.into_iter().collect();
                ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                for limit in [1_u32, 2, 10] {
                    let keep: BTreeSet<Option<String>> = ranked
                        .iter()
                        .take(limit as usize)
                        .map(|(k, _)| k.clone())
                        .collect();
                    let q = metric_query("cpu", group_by, MetricAgg::P95, from, to, bucket_secs);
                    let (points, total) = s.metric_series_top(&q, limit).await.unwrap();
                    assert_eq!(total, ranked.len() as u64, "groups of {what}");
                    let full: Vec<_> = s
                        .metric_series(&q)
                        .await
                        .unwrap()
                        .into_iter()
                        .filter(|p| keep.contains(&p.key))
                        .collect();
                    assert_eq!(points, full, "top {limit} of {what}");
                }
            }
        }
    }
}

pub async fn metric_series_aggregate_exactly_and_merge_buckets<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let m = |hms: &str, service: Option<&str>, payload: Value| {
        ev(at(hms), "metric", service, None, payload)
    };
    // Two minutes of 10:00 and one of 11:30, over two batches (the second
    // adds to rows the first wrote).
    s.insert_events(vec![
        m(
            "10:00:05",
            Some("api"),
            json!({"cpu": 10, "latency_ms": 100}),
        ),
        m("10:00:40", Some("api"), json!({"cpu": 30.5})),
        m("10:00:50", Some("db"), json!({"cpu": 50})),
        m("10:00:59", None, json!({"cpu": 2})),
        m("10:01:10", Some("api"), json!({"cpu": -4})),
        // Not numbers: text, a bool, null, an array, nested.
        m("10:00:30", Some("api"), json!({"cpu": "99"})),
        m(
            "10:00:31",
            Some("api"),
            json!({"cpu": true, "latency_ms": null}),
        ),
        m(
            "10:00:32",
            Some("api"),
            json!({"cpu": [1], "x": {"cpu": 7}}),
        ),
    ])
    .await
    .unwrap();
    s.insert_events(vec![
        m(
            "10:00:20",
            Some("db"),
            json!({"cpu": 70, "metric_name": "load", "source_id": 17}),
        ),
        m("11:30:00", Some("api"), json!({"cpu": 100})),
        ev(
            at("10:00:21"),
            "metric",
            None,
            None,
            json!({"source_id": "s-1", "metric_name": "load", "value": 3.25}),
        ),
        ev(
            at("10:00:22"),
            "metric",
            None,
            None,
            json!({"source_id": "s-2", "metric_name": "temp", "value": 20}),
        ),
    ])
    .await
    .unwrap();

    let day = (at("00:00:00"), at("23:59:00"));
    let by_service = |agg| metric_query("cpu", MetricGroupBy::Service, agg, day.0, day.1, 60);
    let api = Some("api".to_string());
    let db = Some("db".to_string());
    assert_eq!(
        metric_points(s, &by_service(MetricAgg::Count)).await,
        vec![
            (at("10:00:00"), None, 1.0, 1),
            (at("10:00:00"), api.clone(), 2.0, 2),
            (at("10:00:00"), db.clone(), 2.0, 2),
            (at("10:01:00"), api.clone(), 1.0, 1),
            (at("11:30:00"), api.clone(), 1.0, 1),
        ],
        "JSON numbers only, by minute and service (none first)"
    );
    let value_of = |pts: Vec<(DateTime<Utc>, Option<String>, f64, u64)>| -> Vec<f64> {
        pts.into_iter().map(|p| p.2).collect()
    };
    assert_eq!(
        value_of(metric_points(s, &by_service(MetricAgg::Sum)).await),
        vec![2.0, 40.5, 120.0, -4.0, 100.0]
    );
    assert_eq!(
        value_of(metric_points(s, &by_service(MetricAgg::Avg)).await),
        vec![2.0, 20.25, 60.0, -4.0, 100.0]
    );
    assert_eq!(
        value_of(metric_points(s, &by_service(MetricAgg::Min)).await),
        vec![2.0, 10.0, 50.0, -4.0, 100.0]
    );
    assert_eq!(
        value_of(metric_points(s, &by_service(MetricAgg::Max)).await),
        vec![2.0, 30.5, 70.0, -4.0, 100.0]
    );

    // Hours merge their minutes; `none` merges every group.
    let hourly = |agg, group_by| metric_query("cpu", group_by, agg, day.0, day.1, 3600);
    assert_eq!(
        metric_points(s, &hourly(MetricAgg::Sum, MetricGroupBy::None)).await,
        vec![
            (at("10:00:00"), None, 158.5, 6),
            (at("11:00:00"), None, 100.0, 1),
        ]
    );
    assert_eq!(
        metric_points(s, &hourly(MetricAgg::Avg, MetricGroupBy::Service)).await,
        vec![
            (at("10:00:00"), None, 2.0, 1),
            (at("10:00:00"), api.clone(), 36.5 / 3.0, 3),
            (at("10:00:00"), db.clone(), 60.0, 2),
            (at("11:00:00"), api.clone(), 100.0, 1),
        ]
    );
    assert_eq!(
        metric_points(s, &hourly(MetricAgg::Min, MetricGroupBy::None)).await,
        vec![
            (at("10:00:00"), None, -4.0, 6),
            (at("11:00:00"), None, 100.0, 1)
        ]
    );
    let daily = metric_query(
        "cpu",
        MetricGroupBy::None,
        MetricAgg::Max,
        day.0,
        day.1,
        86_400,
    );
    assert_eq!(
        metric_points(s, &daily).await,
        vec![(at("00:00:00"), None, 100.0, 7)]
    );
    // A bound inside a minute takes the whole minute, `to` is exclusive.
    let narrow = metric_query(
        "cpu",
        MetricGroupBy::None,
        MetricAgg::Count,
        at("10:00:30"),
        at("10:01:00"),
        60,
    );
    assert_eq!(
        metric_points(s, &narrow).await,
        vec![(at("10:00:00"), None, 5.0, 5)]
    );

    // metric_name and source_id groups hold only events that have one.
    let values = |group_by| metric_query("value", group_by, MetricAgg::Sum, day.0, day.1, 3600);
    assert_eq!(
        metric_points(s, &values(MetricGroupBy::MetricName)).await,
        vec![
            (at("10:00:00"), Some("load".into()), 3.25, 1),
            (at("10:00:00"), Some("temp".into()), 20.0, 1),
        ]
    );
    assert_eq!(
        metric_points(s, &values(MetricGroupBy::SourceId)).await,
        vec![
            (at("10:00:00"), Some("s-1".into()), 3.25, 1),
            (at("10:00:00"), Some("s-2".into()), 20.0, 1),
        ]
    );
    assert_eq!(
        metric_points(s, &values(MetricGroupBy::Service)).await,
        vec![(at("10:00:00"), None, 23.25, 2)]
    );
    let cpu_sources = metric_query(
        "cpu",
        MetricGroupBy::SourceId,
        MetricAgg::Max,
        day.0,
        day.1,
        60,
    );
    assert_eq!(
        metric_points(s, &cpu_sources).await,
        vec![(at("10:00:00"), Some("17".into()), 70.0, 1)],
        "a numeric source id is grouped by its text"
    );
    let latency = metric_query(
        "latency_ms",
        MetricGroupBy::None,
        MetricAgg::P99,
        day.0,
        day.1,
        60,
    );
    assert_eq!(
        metric_points(s, &latency).await,
        vec![(at("10:00:00"), None, 100.0, 1)],
        "one value is its own quantile"
    );
    let unknown = metric_query(
        "nope",
        MetricGroupBy::None,
        MetricAgg::Avg,
        day.0,
        day.1,
        60,
    );
    assert_eq!(metric_points(s, &unknown).await, vec![]);
}

pub async fn metric_quantiles_are_within_the_sketch_accuracy<X: Fixture>(x: &X) {
    let s = ready(x).await;
    // Latencies 1..=2000 ms spread over 20 minutes and two services, in
    // four batches: every quantile of the merged hour is within the
    // sketch's relative accuracy of the exact one.
    let mut values: Vec<f64> = Vec::new();
    for batch in 0..4 {
        let mut events = Vec::new();
        for i in 0..500 {
            let v = f64::from(batch * 500 + i + 1);
            values.push(v);
            let t = at("10:00:00") + Duration::seconds(i64::from((i * 7 + batch) % 1200));
            let service = if i % 2 == 0 { "api" } else { "db" };
            events.push(ev(
                t,
                "metric",
                Some(service),
                None,
                json!({"latency_ms": v}),
            ));
        }
        s.insert_events(events).await.unwrap();
    }
    values.sort_by(f64::total_cmp);
    let exact = |q: f64| values[(q * (values.len() - 1) as f64).floor() as usize];
    let bound = crate::sketch::RELATIVE_ACCURACY;
    for (agg, q) in [
        (MetricAgg::P50, 0.5),
        (MetricAgg::P95, 0.95),
        (MetricAgg::P99, 0.99),
    ] {
        let pts = metric_points(
            s,
            &metric_query(
                "latency_ms",
                MetricGroupBy::None,
                agg,
                at("10:00:00"),
                at("11:00:00"),
                3600,
            ),
        )
        .await;
        assert_eq!(pts.len(), 1, "{pts:?}");
        let (bucket, key, got, count) = pts[0].clone();
        assert_eq!((bucket, key, count), (at("10:00:00"), None, 2000));
        let want = exact(q);
        assert!(
            (got - want).abs() <= bound * want,
            "{agg:?}: {got} vs exact {want}"
        );
    }
    let max = metric_points(
        s,
        &metric_query(
            "latency_ms",
            MetricGroupBy::Service,
            MetricAgg::Max,
            at("10:00:00"),
            at("11:00:00"),
            3600,
        ),
    )
    .await;
    assert_eq!(
        max.iter().map(|p| (p.1.clone(), p.2)).collect::<Vec<_>>(),
        vec![(Some("api".into()), 1999.0), (Some("db".into()), 2000.0)]
    );
}

pub async fn metric_groups_list_every_group_seen<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(s.metric_groups(100).await.unwrap(), MetricGroups::default());
    let m = |service: Option<&str>, payload: Value| {
        ev(at("10:00:00"), "metric", service, None, payload)
    };
    s.insert_events(vec![
        m(Some("web"), json!({"cpu": 1})),
        m(Some("api"), json!({"latency_ms": 1, "source_id": "b"})),
        m(
            None,
            json!({"value": 1, "metric_name": "temp", "source_id": "a"}),
        ),
        // Without a rolled-up number, no groups.
        m(
            Some("quiet"),
            json!({"metric_name": "silent", "value": "1"}),
        ),
    ])
    .await
    .unwrap();
    s.insert_events(vec![m(
        Some("api"),
        json!({"cpu": 2, "metric_name": "load"}),
    )])
    .await
    .unwrap();
    assert_eq!(
        s.metric_groups(100).await.unwrap(),
        MetricGroups {
            service: vec!["api".into(), "web".into()],
            metric_name: vec!["load".into(), "temp".into()],
            source_id: vec!["a".into(), "b".into()],
        }
    );
    let one = s.metric_groups(1).await.unwrap();
    assert_eq!(
        (one.service, one.metric_name, one.source_id),
        (vec!["api".into()], vec!["load".into()], vec!["a".into()])
    );
}

fn pipeline_update(name: &str, status: &str, at_: DateTime<Utc>, n: u64) -> PipelineUpdate {
    PipelineUpdate {
        pipeline: name.into(),
        status: status.into(),
        received_at: at_,
        payload: json!({"status": status, "pipeline": name, "n": n, "nested": {"ok": true}}),
    }
}

pub async fn pipeline_updates_keep_a_bounded_history_per_pipeline<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(s.pipeline_records(5).await.unwrap(), vec![]);
    assert_eq!(s.pipeline_history("iam.pipeline", 5).await.unwrap(), vec![]);
    let mut sent = Vec::new();
    for n in 0..7u64 {
        let status = if n % 2 == 0 { "running" } else { "done" };
        let u = pipeline_update(
            "iam.pipeline",
            status,
            at("10:00:00") + Duration::seconds(n as i64),
            n,
        );
        s.insert_pipeline_update(&u, 4).await.unwrap();
        sent.push(u);
    }
    let other = pipeline_update("delta.pipeline", "error", at("11:00:00"), 99);
    s.insert_pipeline_update(&other, 4).await.unwrap();

    // The 4 newest of iam.pipeline remain, newest first, payloads intact.
    let want: Vec<PipelineUpdate> = sent.iter().rev().take(4).cloned().collect();
    assert_eq!(s.pipeline_history("iam.pipeline", 10).await.unwrap(), want);
    assert_eq!(
        s.pipeline_history("iam.pipeline", 2).await.unwrap(),
        want[..2].to_vec()
    );
    assert_eq!(
        s.pipeline_records(1).await.unwrap(),
        vec![
            PipelineRecord {
                name: "delta.pipeline".into(),
                updates_total: 1,
                recent: vec![other.clone()],
            },
            PipelineRecord {
                name: "iam.pipeline".into(),
                updates_total: 7,
                recent: vec![want[0].clone()],
            },
        ]
    );
}

pub async fn open_findings_by_severity_counts_open_ones_only<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let zeros: BTreeMap<String, u64> = Severity::ALL
        .iter()
        .map(|v| (v.as_str().to_string(), 0))
        .collect();
    assert_eq!(s.open_findings_by_severity().await.unwrap(), zeros);
    let stored = commit(
        s,
        &[
            write(
                "a",
                finding("r1", Severity::High, at("10:00:00"), at("10:00:00")),
                vec![1],
            ),
            write(
                "b",
                finding("r1", Severity::High, at("10:00:00"), at("10:00:00")),
                vec![1],
            ),
            write(
                "c",
                finding("r2", Severity::Low, at("10:00:00"), at("10:00:00")),
                vec![1],
            ),
        ],
        1,
    )
    .await;
    s.update_finding(
        stored[1].id,
        FindingPatch {
            status: Some(FindingStatus::Resolved),
            ..FindingPatch::default()
        },
        at("12:00:00"),
    )
    .await
    .unwrap();
    let mut want = zeros;
    want.insert("high".into(), 1);
    want.insert("low".into(), 1);
    assert_eq!(s.open_findings_by_severity().await.unwrap(), want);
}

// ---------------------------------------------------------------- triage

/// A patch by `actor`.
fn by(actor: &str, patch: FindingPatch) -> FindingPatch {
    FindingPatch {
        actor: actor.to_string(),
        ..patch
    }
}

fn tags(list: &[&str]) -> Vec<String> {
    list.iter().map(|t| t.to_string()).collect()
}

/// The (action, actor, from, to) of each history entry after `created`.
fn changes(h: &[FindingHistory]) -> Vec<(HistoryAction, String, Option<String>, Option<String>)> {
    h.iter()
        .skip(1)
        .map(|e| (e.action, e.actor.clone(), e.from.clone(), e.to.clone()))
        .collect()
}

fn change(
    action: HistoryAction,
    actor: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> (HistoryAction, String, Option<String>, Option<String>) {
    (
        action,
        actor.to_string(),
        from.map(str::to_string),
        to.map(str::to_string),
    )
}

/// Every finding `q` selects, through `scan_findings` pages of `limit`.
async fn scan_all_findings<S: Storage + ?Sized>(
    s: &S,
    q: &FindingQuery,
    limit: u32,
) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    loop {
        let page = s
            .scan_findings(q, out.last().map(|f| f.id), limit)
            .await
            .expect("scan findings");
        assert!(page.len() <= limit as usize);
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

pub async fn refired_incident_keeps_triage<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let key = "burst|carol";
    let created = commit(
        s,
        &[write(
            key,
            finding("burst", Severity::Medium, at("10:00:00"), at("10:01:00")),
            vec![1],
        )],
        1,
    )
    .await;
    let id = created[0].id;
    assert_eq!(
        (
            &created[0].assignee,
            &created[0].workflow_tags,
            created[0].close_reason
        ),
        (&None, &Vec::new(), None),
        "a new finding has no triage"
    );
    let triaged = s
        .update_finding(
            id,
            by(
                "dana",
                FindingPatch {
                    status: Some(FindingStatus::Resolved),
                    note: Some("handled".into()),
                    assignee: Some("dana".into()),
                    workflow_tags: Some(tags(&["wip", "customer"])),
                    close_reason: Some(CloseReason::Benign),
                    ..FindingPatch::default()
                },
            ),
            at("11:00:00"),
        )
        .await
        .unwrap()
        .expect("finding exists");
    assert_eq!(
        triaged.workflow_tags,
        tags(&["customer", "wip"]),
        "a sorted set"
    );
    let history_before = s.finding_history(id).await.unwrap().unwrap();

    // Re-fired twice: at the same severity (the quick path) and at another
    // one (the full update); then written again within one commit.
    let mut same = finding("burst", Severity::Medium, at("10:00:00"), at("10:05:00"));
    same.event_count = 5;
    let mut higher = finding("burst", Severity::High, at("10:00:00"), at("10:09:00"));
    higher.event_count = 9;
    for (n, w) in [
        vec![write(key, same, vec![2])],
        vec![
            write(key, higher.clone(), vec![3]),
            write(key, higher, vec![4]),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let got = commit(s, &w, 10 + n as i64).await;
        for f in &got {
            assert_eq!(f.id, id);
            assert_eq!(f.status, FindingStatus::Resolved, "status kept");
            assert_eq!(f.assignee.as_deref(), Some("dana"), "assignee kept");
            assert_eq!(f.workflow_tags, tags(&["customer", "wip"]), "tags kept");
            assert_eq!(f.close_reason, Some(CloseReason::Benign), "reason kept");
            assert_eq!(f.note.as_deref(), Some("handled"), "note kept");
        }
    }
    let now = s.get_finding(id).await.unwrap().unwrap();
    assert_eq!(now.severity, Severity::High);
    assert_eq!(now.event_count, 9);
    assert_eq!(now.assignee.as_deref(), Some("dana"));
    assert_eq!(now.close_reason, Some(CloseReason::Benign));
    assert_eq!(
        s.finding_history(id).await.unwrap().unwrap(),
        history_before,
        "detection writes no history"
    );
}

pub async fn finding_history_records_who_and_when<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(s.finding_history(4242).await.unwrap(), None, "unknown id");
    let f = commit(
        s,
        &[write(
            "k",
            finding("r", Severity::Low, at("10:00:00"), at("10:00:00")),
            vec![1],
        )],
        1,
    )
    .await
    .remove(0);
    let h = s.finding_history(f.id).await.unwrap().unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        (h[0].action, h[0].at, h[0].finding_id),
        (HistoryAction::Created, f.created_at, f.id),
        "history starts with the finding's creation"
    );

    s.update_finding(
        f.id,
        by(
            "erin",
            FindingPatch {
                status: Some(FindingStatus::Acknowledged),
                assignee: Some("erin".into()),
                add_tags: tags(&["b", "a", "a", ""]),
                ..FindingPatch::default()
            },
        ),
        at("11:00:00"),
    )
    .await
    .unwrap()
    .unwrap();
    // Values it already holds write nothing; an empty actor is anonymous.
    let g = s
        .update_finding(
            f.id,
            FindingPatch {
                status: Some(FindingStatus::Acknowledged),
                assignee: Some("erin".into()),
                workflow_tags: Some(tags(&["a", "b", "c"])),
                remove_tags: tags(&["b"]),
                note: Some("first look".into()),
                ..FindingPatch::default()
            },
            at("11:30:00"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(g.assignee.as_deref(), Some("erin"));
    assert_eq!(g.workflow_tags, tags(&["a", "c"]));
    assert_eq!(g.updated_at, at("11:30:00"));
    s.update_finding(
        f.id,
        by(
            "frank",
            FindingPatch {
                assignee: Some(String::new()),
                workflow_tags: Some(Vec::new()),
                note: Some(String::new()),
                ..FindingPatch::default()
            },
        ),
        at("12:00:00"),
    )
    .await
    .unwrap()
    .unwrap();

    let h = s.finding_history(f.id).await.unwrap().unwrap();
    use HistoryAction::{Assignee, Note, Status, Tags};
    assert_eq!(
        changes(&h),
        vec![
            change(Status, "erin", Some("open"), Some("acknowledged")),
            change(Assignee, "erin", None, Some("erin")),
            change(Tags, "erin", None, Some("a,b")),
            change(Tags, "anonymous", Some("a,b"), Some("a,c")),
            change(Note, "anonymous", None, Some("first look")),
            change(Assignee, "frank", Some("erin"), None),
            change(Tags, "frank", Some("a,c"), None),
            change(Note, "frank", Some("first look"), None),
        ]
    );
    let times: Vec<DateTime<Utc>> = h.iter().skip(1).map(|e| e.at).collect();
    assert_eq!(
        times,
        [
            vec![at("11:00:00"); 3],
            vec![at("11:30:00"); 2],
            vec![at("12:00:00"); 3]
        ]
        .concat()
    );
    let ids: Vec<i64> = h.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    assert!(h.iter().all(|e| e.finding_id == f.id));
    let cleared = s.get_finding(f.id).await.unwrap().unwrap();
    assert_eq!(
        (cleared.assignee, cleared.workflow_tags, cleared.note),
        (None, Vec::new(), None)
    );
}

pub async fn close_reason_goes_with_closed_statuses_only<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let f = commit(
        s,
        &[write(
            "k",
            finding("r", Severity::Low, at("10:00:00"), at("10:00:00")),
            vec![1],
        )],
        1,
    )
    .await
    .remove(0);
    let reason = |r| FindingPatch {
        close_reason: Some(r),
        ..FindingPatch::default()
    };
    // On an open finding, alone or with a status that keeps it open: refused,
    // and nothing of the patch is written.
    for status in [
        None,
        Some(FindingStatus::Open),
        Some(FindingStatus::Acknowledged),
    ] {
        let err = s
            .update_finding(
                f.id,
                FindingPatch {
                    status,
                    assignee: Some("gil".into()),
                    ..reason(CloseReason::Fixed)
                },
                at("11:00:00"),
            )
            .await
            .expect_err("a close reason on an open finding is refused");
        assert!(
            matches!(
                err,
                crate::StorageError::InvalidPatch {
                    field: "close_reason",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert_eq!(s.get_finding(f.id).await.unwrap().as_ref(), Some(&f));
    assert_eq!(s.finding_history(f.id).await.unwrap().unwrap().len(), 1);

    let closed = s
        .update_finding(
            f.id,
            by(
                "hal",
                FindingPatch {
                    status: Some(FindingStatus::Resolved),
                    ..reason(CloseReason::FalsePositive)
                },
            ),
            at("11:00:00"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed.close_reason, Some(CloseReason::FalsePositive));
    // Closed stays closed: the reason changes alone, and survives a move
    // between the closed statuses.
    let changed = s
        .update_finding(
            f.id,
            by("hal", reason(CloseReason::Duplicate)),
            at("11:10:00"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.close_reason, Some(CloseReason::Duplicate));
    let suppressed = s
        .update_finding(
            f.id,
            by(
                "hal",
                FindingPatch {
                    status: Some(FindingStatus::Suppressed),
                    ..FindingPatch::default()
                },
            ),
            at("11:20:00"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(suppressed.close_reason, Some(CloseReason::Duplicate));
    // Reopening clears it.
    let reopened = s
        .update_finding(
            f.id,
            by(
                "ivy",
                FindingPatch {
                    status: Some(FindingStatus::Acknowledged),
                    ..FindingPatch::default()
                },
            ),
            at("12:00:00"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reopened.close_reason, None);
    let h = s.finding_history(f.id).await.unwrap().unwrap();
    use HistoryAction::{CloseReason as Reason, Status};
    assert_eq!(
        changes(&h),
        vec![
            change(Status, "hal", Some("open"), Some("resolved")),
            change(Reason, "hal", None, Some("false_positive")),
            change(Reason, "hal", Some("false_positive"), Some("duplicate")),
            change(Status, "hal", Some("resolved"), Some("suppressed")),
            change(Status, "ivy", Some("suppressed"), Some("acknowledged")),
            change(Reason, "ivy", Some("duplicate"), None),
        ]
    );
}

pub async fn finding_notes_append_history_and_set_the_note<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert_eq!(
        s.add_finding_note(999, "x", "jo", at("11:00:00"))
            .await
            .unwrap(),
        None
    );
    let f = commit(
        s,
        &[write(
            "k",
            finding("r", Severity::Low, at("10:00:00"), at("10:00:00")),
            vec![1],
        )],
        1,
    )
    .await
    .remove(0);
    let first = s
        .add_finding_note(f.id, "called the owner", "jo", at("11:00:00"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            first.finding_id,
            first.at,
            first.actor.as_str(),
            first.action,
            first.from.as_deref(),
            first.to.as_deref()
        ),
        (
            f.id,
            at("11:00:00"),
            "jo",
            HistoryAction::Note,
            None,
            Some("called the owner")
        )
    );
    let second = s
        .add_finding_note(f.id, "owner confirmed", "", at("11:05:00"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.actor, "anonymous");
    assert_eq!(second.from.as_deref(), Some("called the owner"));
    assert!(second.id > first.id);
    let now = s.get_finding(f.id).await.unwrap().unwrap();
    assert_eq!(now.note.as_deref(), Some("owner confirmed"));
    assert_eq!(now.updated_at, at("11:05:00"));
    let h = s.finding_history(f.id).await.unwrap().unwrap();
    assert_eq!(&h[1..], &[first, second], "the entries as returned");
}

pub async fn bulk_updates_by_ids_and_by_filter<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mk = |rule: &str, sev| finding(rule, sev, at("10:00:00"), at("10:00:00"));
    let got = commit(
        s,
        &[
            write("1", mk("r1", Severity::High), vec![1]),
            write("2", mk("r1", Severity::Low), vec![2]),
            write("3", mk("r2", Severity::High), vec![3]),
            write("4", mk("r3", Severity::Low), vec![4]),
        ],
        4,
    )
    .await;
    let id = |i: usize| got[i - 1].id;
    let assign = |who: &str| FindingPatch {
        assignee: Some(who.to_string()),
        add_tags: tags(&["batch"]),
        actor: "kim".into(),
        ..FindingPatch::default()
    };

    // By ids: unknown and repeated ids are skipped.
    let r = s
        .bulk_update_findings(
            crate::BulkTarget::Ids(vec![id(1), id(3), id(3), 987_654]),
            assign("kim"),
            at("11:00:00"),
        )
        .await
        .unwrap();
    assert_eq!((r.matched, r.updated), (2, 2));
    // Again: matched, but nothing to change.
    let r = s
        .bulk_update_findings(
            crate::BulkTarget::Ids(vec![id(1), id(3)]),
            assign("kim"),
            at("11:05:00"),
        )
        .await
        .unwrap();
    assert_eq!((r.matched, r.updated), (2, 0));
    for i in [1, 3] {
        let f = s.get_finding(id(i)).await.unwrap().unwrap();
        assert_eq!(f.assignee.as_deref(), Some("kim"));
        assert_eq!(f.workflow_tags, tags(&["batch"]));
        assert_eq!(
            f.updated_at,
            at("11:00:00"),
            "an unchanged finding keeps updated_at"
        );
        let h = s.finding_history(id(i)).await.unwrap().unwrap();
        assert_eq!(
            changes(&h),
            vec![
                change(HistoryAction::Assignee, "kim", None, Some("kim")),
                change(HistoryAction::Tags, "kim", None, Some("batch")),
            ]
        );
    }
    assert_eq!(s.get_finding(id(2)).await.unwrap().unwrap().assignee, None);

    // By filter: the list's filters, paging ignored.
    let r = s
        .bulk_update_findings(
            crate::BulkTarget::Filter(Box::new(FindingQuery {
                rule_id: Some(RuleIdFilter::Exact("r1".into())),
                page: 1,
                page_size: 1,
                ..FindingQuery::default()
            })),
            FindingPatch {
                status: Some(FindingStatus::Resolved),
                close_reason: Some(CloseReason::Fixed),
                note: Some("patched".into()),
                actor: "lee".into(),
                ..FindingPatch::default()
            },
            at("12:00:00"),
        )
        .await
        .unwrap();
    assert_eq!((r.matched, r.updated), (2, 2));
    for i in [1, 2] {
        let f = s.get_finding(id(i)).await.unwrap().unwrap();
        assert_eq!(
            (f.status, f.close_reason, f.note.as_deref()),
            (
                FindingStatus::Resolved,
                Some(CloseReason::Fixed),
                Some("patched")
            )
        );
        let h = s.finding_history(id(i)).await.unwrap().unwrap();
        assert!(
            h.iter()
                .any(|e| e.action == HistoryAction::Status && e.actor == "lee"),
            "{h:?}"
        );
    }
    // A filter on the triage fields.
    let r = s
        .bulk_update_findings(
            crate::BulkTarget::Filter(Box::new(FindingQuery {
                assignee: Some(crate::AssigneeFilter::Unassigned),
                ..FindingQuery::default()
            })),
            assign("max"),
            at("12:30:00"),
        )
        .await
        .unwrap();
    assert_eq!((r.matched, r.updated), (2, 2), "findings 2 and 4");
    assert_eq!(
        s.get_finding(id(4))
            .await
            .unwrap()
            .unwrap()
            .assignee
            .as_deref(),
        Some("max")
    );

    // A patch that cannot apply to one of them changes none.
    let before = s.list_findings(&fq_page()).await.unwrap();
    let err = s
        .bulk_update_findings(
            crate::BulkTarget::Ids(vec![id(1), id(3)]),
            FindingPatch {
                close_reason: Some(CloseReason::Other),
                assignee: Some("nope".into()),
                ..FindingPatch::default()
            },
            at("13:00:00"),
        )
        .await
        .expect_err("finding 3 is open");
    assert!(
        matches!(err, crate::StorageError::InvalidPatch { .. }),
        "{err:?}"
    );
    assert_eq!(s.list_findings(&fq_page()).await.unwrap(), before);
    assert_eq!(
        s.bulk_update_findings(
            crate::BulkTarget::Ids(Vec::new()),
            assign("x"),
            at("13:00:00")
        )
        .await
        .unwrap(),
        crate::BulkResult::default()
    );
}

pub async fn bulk_update_refuses_more_than_max_bulk<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let n = crate::MAX_BULK as usize + 1;
    let writes: Vec<FindingWrite> = (0..n)
        .map(|i| {
            write(
                &format!("k{i}"),
                finding("many", Severity::Low, at("10:00:00"), at("10:00:00")),
                Vec::new(),
            )
        })
        .collect();
    s.commit_detection(&writes, 1).await.unwrap();
    let patch = FindingPatch {
        assignee: Some("olga".into()),
        ..FindingPatch::default()
    };
    let err = s
        .bulk_update_findings(
            crate::BulkTarget::Filter(Box::default()),
            patch.clone(),
            at("11:00:00"),
        )
        .await
        .expect_err("too many");
    assert!(
        matches!(
            err,
            crate::StorageError::TooManyFindings { matched, limit }
                if matched == n as u64 && limit == crate::MAX_BULK
        ),
        "{err:?}"
    );
    let assigned = s
        .list_findings(&FindingQuery {
            assignee: Some(crate::AssigneeFilter::Name("olga".into())),
            ..fq_page()
        })
        .await
        .unwrap();
    assert_eq!(assigned.total, 0, "nothing changed");
    // Exactly the limit is fine.
    let r = s
        .bulk_update_findings(
            crate::BulkTarget::Filter(Box::new(FindingQuery {
                to: Some(at("10:00:00")),
                ..FindingQuery::default()
            })),
            patch.clone(),
            at("11:00:00"),
        )
        .await
        .unwrap();
    assert_eq!(r.matched, 0, "`to` is exclusive of first_seen");
    let all = s.list_findings(&fq_page()).await.unwrap();
    let last = all.items[0].id;
    let ids: Vec<i64> = (0..n as i64).map(|i| last - i).collect();
    let r = s
        .bulk_update_findings(
            crate::BulkTarget::Ids(ids[..crate::MAX_BULK as usize].to_vec()),
            patch,
            at("11:00:00"),
        )
        .await
        .unwrap();
    assert_eq!((r.matched, r.updated), (crate::MAX_BULK, crate::MAX_BULK));
}

pub async fn finding_groups_count_by_each_key<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mk = |rule: &str, sev, last: &str, service: Option<&str>, user: Option<&str>| {
        let mut f = finding(rule, sev, at("10:00:00"), at(last));
        f.service = service.map(str::to_string);
        f.user = user.map(str::to_string);
        f
    };
    let got = commit(
        s,
        &[
            write(
                "1",
                mk("r1", Severity::Low, "10:01:00", Some("api"), Some("ann")),
                vec![1],
            ),
            write(
                "2",
                mk("r1", Severity::High, "10:02:00", Some("web"), Some("ann")),
                vec![2],
            ),
            write(
                "3",
                mk("r1", Severity::Medium, "10:03:00", None, Some("bob")),
                vec![3],
            ),
            write(
                "4",
                mk("r2", Severity::Critical, "10:04:00", Some("api"), None),
                vec![4],
            ),
            write(
                "5",
                mk("r3", Severity::Low, "10:05:00", Some("api"), None),
                vec![5],
            ),
        ],
        5,
    )
    .await;
    let id = |i: usize| got[i - 1].id;
    s.update_finding(
        id(2),
        FindingPatch {
            status: Some(FindingStatus::Resolved),
            assignee: Some("zed".into()),
            ..FindingPatch::default()
        },
        at("11:00:00"),
    )
    .await
    .unwrap();
    s.update_finding(
        id(4),
        FindingPatch {
            assignee: Some("zed".into()),
            ..FindingPatch::default()
        },
        at("11:00:00"),
    )
    .await
    .unwrap();
    type Row = (
        Option<&'static str>,
        Option<&'static str>,
        u64,
        u64,
        Severity,
        &'static str,
    );
    type Got = (
        Option<String>,
        Option<String>,
        u64,
        u64,
        Severity,
        DateTime<Utc>,
    );
    let shape = |p: &Page<crate::FindingGroup>| -> Vec<Got> {
        p.items
            .iter()
            .map(|g| {
                (
                    g.key.clone(),
                    g.title.clone(),
                    g.count,
                    g.open,
                    g.max_severity,
                    g.last_seen,
                )
            })
            .collect()
    };
    let want = |rows: Vec<Row>| -> Vec<Got> {
        rows.into_iter()
            .map(|(k, t, c, o, sev, last)| {
                (
                    k.map(str::to_string),
                    t.map(str::to_string),
                    c,
                    o,
                    sev,
                    at(last),
                )
            })
            .collect()
    };
    use crate::GroupBy;
    use Severity::{Critical, High, Low};
    let cases: Vec<(GroupBy, Vec<Row>)> = vec![
        (
            GroupBy::Rule,
            vec![
                (Some("r1"), Some("Rule r1"), 3, 2, High, "10:03:00"),
                (Some("r2"), Some("Rule r2"), 1, 1, Critical, "10:04:00"),
                (Some("r3"), Some("Rule r3"), 1, 1, Low, "10:05:00"),
            ],
        ),
        (
            GroupBy::Service,
            vec![
                (Some("api"), None, 3, 3, Critical, "10:05:00"),
                (Some("web"), None, 1, 0, High, "10:02:00"),
                (None, None, 1, 1, Severity::Medium, "10:03:00"),
            ],
        ),
        (
            GroupBy::User,
            vec![
                (Some("ann"), None, 2, 1, High, "10:02:00"),
                (None, None, 2, 2, Critical, "10:05:00"),
                (Some("bob"), None, 1, 1, Severity::Medium, "10:03:00"),
            ],
        ),
        (
            GroupBy::Assignee,
            vec![
                (None, None, 3, 3, Severity::Medium, "10:05:00"),
                (Some("zed"), None, 2, 1, Critical, "10:04:00"),
            ],
        ),
    ];
    for (by, rows) in cases {
        let n = rows.len() as u64;
        let page = s.finding_groups(by, &fq_page()).await.unwrap();
        assert_eq!(shape(&page), want(rows), "{by:?}");
        assert_eq!(page.total, n, "{by:?}: total");
    }
    // With the list's filters, and paged.
    let page = s
        .finding_groups(
            GroupBy::Rule,
            &FindingQuery {
                status: vec![FindingStatus::Open],
                page: 2,
                page_size: 1,
                ..FindingQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(
        shape(&page),
        want(vec![(
            Some("r2"),
            Some("Rule r2"),
            1,
            1,
            Critical,
            "10:04:00"
        )]),
        "r1 (2 open) first, then r2 before r3 by key"
    );
    let none = s
        .finding_groups(
            GroupBy::Service,
            &FindingQuery {
                q: Some("no such text".into()),
                ..fq_page()
            },
        )
        .await
        .unwrap();
    assert_eq!((none.total, none.items.len()), (0, 0));
}

pub async fn list_findings_filters_by_assignee_tag_and_text<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let mut f1 = finding(
        "identity.mfa",
        Severity::High,
        at("10:00:00"),
        at("10:01:00"),
    );
    f1.rule_title = "MFA Failures".into();
    f1.description = "Repeated MFA denials".into();
    f1.group = BTreeMap::from([("src_ip".into(), "10.9.8.7".into())]);
    f1.tags = tags(&["attack.t1110"]);
    let mut f2 = finding("anomaly.cpu", Severity::Low, at("10:00:00"), at("10:02:00"));
    f2.service = Some("Payments".into());
    f2.user = Some("svc_batch".into());
    f2.group = BTreeMap::from([("service".into(), "payments".into())]);
    f2.tags = Vec::new();
    let mut f3 = finding(
        "iam.admin",
        Severity::Critical,
        at("10:00:00"),
        at("10:03:00"),
    );
    f3.description = "100% admin_access".into();
    f3.tags = tags(&["soc2.cc6.1"]);
    let got = commit(
        s,
        &[
            write("1", f1, vec![1]),
            write("2", f2, vec![2]),
            write("3", f3, vec![3]),
        ],
        3,
    )
    .await;
    let id = |i: usize| got[i - 1].id;
    s.update_finding(
        id(1),
        FindingPatch {
            assignee: Some("pat".into()),
            workflow_tags: Some(tags(&["escalated"])),
            ..FindingPatch::default()
        },
        at("11:00:00"),
    )
    .await
    .unwrap();
    s.update_finding(
        id(2),
        FindingPatch {
            assignee: Some("quinn".into()),
            note: Some("Ticket OPS-77".into()),
            workflow_tags: Some(tags(&["soc2.cc6.1"])),
            ..FindingPatch::default()
        },
        at("11:00:00"),
    )
    .await
    .unwrap();
    let with = |f: fn(&mut FindingQuery)| {
        let mut q = fq_page();
        f(&mut q);
        q
    };
    use crate::AssigneeFilter::{Name, Unassigned};
    let cases: Vec<(&str, FindingQuery, Vec<i64>)> = vec![
        (
            "assignee",
            with(|q| q.assignee = Some(Name("pat".into()))),
            vec![id(1)],
        ),
        (
            "assignee is exact",
            with(|q| q.assignee = Some(Name("Pat".into()))),
            vec![],
        ),
        (
            "unassigned",
            with(|q| q.assignee = Some(Unassigned)),
            vec![id(3)],
        ),
        (
            "workflow tag",
            with(|q| q.tag = Some("escalated".into())),
            vec![id(1)],
        ),
        (
            "rule tag",
            with(|q| q.tag = Some("attack.t1110".into())),
            vec![id(1)],
        ),
        (
            "either kind of tag",
            with(|q| q.tag = Some("soc2.cc6.1".into())),
            vec![id(3), id(2)],
        ),
        (
            "tag is exact",
            with(|q| q.tag = Some("soc2".into())),
            vec![],
        ),
        (
            "q in title, any case",
            with(|q| q.q = Some("mfa fail".into())),
            vec![id(1)],
        ),
        (
            "q in description",
            with(|q| q.q = Some("DENIALS".into())),
            vec![id(1)],
        ),
        (
            "q in rule id",
            with(|q| q.q = Some("iam.ad".into())),
            vec![id(3)],
        ),
        (
            "q in group values",
            with(|q| q.q = Some("9.8.7".into())),
            vec![id(1)],
        ),
        (
            "q not in group keys",
            with(|q| q.q = Some("src_ip".into())),
            vec![],
        ),
        (
            "q in user",
            with(|q| q.q = Some("svc_b".into())),
            vec![id(2)],
        ),
        (
            "q in service",
            with(|q| q.q = Some("payMENTS".into())),
            vec![id(2)],
        ),
        (
            "q in note",
            with(|q| q.q = Some("ops-77".into())),
            vec![id(2)],
        ),
        (
            "q wildcards are literal",
            with(|q| q.q = Some("100%".into())),
            vec![id(3)],
        ),
        (
            "q underscore is literal",
            with(|q| q.q = Some("repeated_mfa".into())),
            vec![],
        ),
        (
            "combined",
            with(|q| {
                q.tag = Some("soc2.cc6.1".into());
                q.assignee = Some(Unassigned);
                q.severity = vec![Severity::Critical];
            }),
            vec![id(3)],
        ),
    ];
    for (name, q, want) in cases {
        let page = s.list_findings(&q).await.unwrap();
        assert_eq!(finding_ids(&page), want, "{name}");
        assert_eq!(page.total, want.len() as u64, "{name}: total");
    }
}

pub async fn scan_findings_reads_every_selected_finding<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert!(
        scan_all_findings(s, &FindingQuery::default(), 10)
            .await
            .is_empty()
    );
    let n = 1_234;
    let writes: Vec<FindingWrite> = (0..n)
        .map(|i| {
            let sev = if i % 3 == 0 {
                Severity::High
            } else {
                Severity::Low
            };
            write(
                &format!("k{i}"),
                finding(
                    "r",
                    sev,
                    at("09:00:00"),
                    at("10:00:00") + Duration::seconds(i),
                ),
                vec![i],
            )
        })
        .collect();
    s.commit_detection(&writes, 1).await.unwrap();
    let q = FindingQuery {
        page: 3,
        page_size: 7,
        ..FindingQuery::default()
    };
    let all = scan_all_findings(s, &q, 500).await;
    assert_eq!(all.len(), n as usize, "paging is ignored");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "id order");
    assert_eq!(all[5].evidence, vec![5], "evidence included");
    assert_eq!(all[5], s.get_finding(all[5].id).await.unwrap().unwrap());
    let capped = s
        .scan_findings(&q, None, crate::MAX_SCAN_PAGE + 1)
        .await
        .unwrap();
    assert_eq!(capped.len(), crate::MAX_SCAN_PAGE as usize, "limit capped");
    let high = scan_all_findings(
        s,
        &FindingQuery {
            severity: vec![Severity::High],
            ..FindingQuery::default()
        },
        100,
    )
    .await;
    assert_eq!(high.len(), (0..n).filter(|i| i % 3 == 0).count());
    assert!(high.iter().all(|f| f.severity == Severity::High));
}
