//! Behaviours of retention: expired events, findings and rollups go, in
//! bounded steps that reach the same end however small; nothing detection
//! has not evaluated goes; rollups outlive the events and the dashboard's
//! counts stay right.

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::json;

use super::{Fixture, at, eq_page, ev, finding, ids, ready, write};
use crate::{
    EventQuery, FindingPatch, MetricAgg, MetricGroupBy, MetricSeriesQuery, NewEnrichment,
    PurgeReport, Retention, SeriesQuery, Storage,
};
use vigilo_core::{FindingStatus, Severity};

/// Most steps a purge of a few rows may take, whatever the backend.
const MAX_STEPS: usize = 200;

/// Steps of `r` until one says done; the summed report and the steps.
async fn purge_all<S: Storage>(s: &S, r: &Retention) -> (PurgeReport, usize) {
    let mut sum = PurgeReport::default();
    for step in 1..=MAX_STEPS {
        let one = s.purge_expired(r).await.expect("purge step");
        sum.add(one);
        if one.done {
            return (sum, step);
        }
    }
    panic!("retention did not finish in {MAX_STEPS} steps: {sum:?}");
}

fn keep_forever(batch: u32) -> Retention {
    Retention {
        events_before: None,
        findings_before: None,
        rollups_before: None,
        batch,
    }
}

fn all_events() -> EventQuery {
    EventQuery {
        page_size: 500,
        ..eq_page()
    }
}

async fn stored_ids<S: Storage>(s: &S, ids: &[i64]) -> Vec<i64> {
    super::ids(&s.get_events(ids).await.unwrap())
}

async fn event_total<S: Storage>(s: &S) -> u64 {
    let series = s
        .event_series(&SeriesQuery {
            from: at("00:00:00") - Duration::days(3650),
            to: Utc::now() + Duration::days(10),
            bucket_secs: 86_400,
        })
        .await
        .unwrap();
    series.iter().map(|p| p.count).sum()
}

pub async fn retention_purges_expired_evaluated_events_only<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let now = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    let cut = now - Duration::days(2) - Duration::minutes(30);
    // Far past, a whole day before the cutoff, the day of the cutoff and
    // after it, and the last hour.
    let old_times = [
        now - Duration::days(9),
        now - Duration::days(9) + Duration::seconds(1),
        now - Duration::days(5),
        now - Duration::days(5) + Duration::hours(1),
        now - Duration::days(4),
        cut - Duration::minutes(1),
        cut - Duration::seconds(1),
    ];
    let fresh_times = [cut, cut + Duration::minutes(1), now - Duration::hours(1)];
    let mut batch = Vec::new();
    for (i, t) in old_times.iter().chain(fresh_times.iter()).enumerate() {
        batch.push(ev(*t, "log", Some("api"), None, json!({ "n": i })));
    }
    let stored = s.insert_events(batch).await.unwrap();
    let (old, fresh) = stored.split_at(old_times.len());
    // Two old events detection has not evaluated yet: stored last.
    let late = s
        .insert_events(vec![
            ev(
                now - Duration::days(4),
                "log",
                None,
                None,
                json!({ "late": 1 }),
            ),
            ev(
                now - Duration::days(9),
                "log",
                None,
                None,
                json!({ "late": 2 }),
            ),
        ])
        .await
        .unwrap();
    s.commit_detection(&[], fresh.last().unwrap().id)
        .await
        .unwrap();
    let every: Vec<i64> = ids(&stored).into_iter().chain(ids(&late)).collect();
    let received = event_total(s).await;
    assert_eq!(received, every.len() as u64);

    // Nothing configured: nothing goes, in one step.
    let (none, steps) = purge_all(s, &keep_forever(2)).await;
    assert_eq!((none.events, steps), (0, 1));

    let r = Retention {
        events_before: Some(cut),
        batch: 2,
        ..keep_forever(2)
    };
    let (report, steps) = purge_all(s, &r).await;
    assert_eq!(report.events, old.len() as u64, "{report:?}");
    assert!(steps >= 2, "a batch of 2 takes several steps: {steps}");
    let mut kept: Vec<i64> = ids(fresh).into_iter().chain(ids(&late)).collect();
    kept.sort_unstable();
    assert_eq!(stored_ids(s, &every).await, kept);
    // Listings show exactly the events kept, and count them.
    let page = s.list_events(&all_events()).await.unwrap();
    let mut listed = ids(&page.items);
    listed.sort_unstable();
    assert_eq!(listed, kept);
    assert_eq!(page.total, kept.len() as u64);
    let by_service = s
        .list_events(&EventQuery {
            service: Some("api".into()),
            ..all_events()
        })
        .await
        .unwrap();
    assert_eq!(by_service.total, fresh.len() as u64);
    assert_eq!(by_service.items.len(), fresh.len());
    let since_cut = s
        .list_events(&EventQuery {
            from: Some(cut),
            ..all_events()
        })
        .await
        .unwrap();
    assert_eq!(since_cut.total, fresh.len() as u64);
    // The rollups still count every event received.
    assert_eq!(event_total(s).await, received);
    assert_eq!(s.totals().await.unwrap().events, received);

    // Again: nothing more, at once.
    let (again, steps) = purge_all(s, &r).await;
    assert_eq!((again.events, steps), (0, 1));

    // Once evaluated, the late ones expire too.
    s.commit_detection(&[], late.last().unwrap().id)
        .await
        .unwrap();
    let (last, _) = purge_all(s, &r).await;
    assert_eq!(last.events, 2);
    assert_eq!(stored_ids(s, &every).await, ids(fresh));
    let page = s.list_events(&all_events()).await.unwrap();
    assert_eq!(page.total, fresh.len() as u64);
    // New events keep arriving and are stored.
    let more = s
        .insert_events(vec![ev(now, "log", None, None, json!({}))])
        .await
        .unwrap();
    assert_eq!(stored_ids(s, &ids(&more)).await, ids(&more));
}

pub async fn retention_steps_of_any_size_reach_the_same_end<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let now = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    let cut = now - Duration::hours(30);
    let mut batch = Vec::new();
    for i in 0..40i64 {
        batch.push(ev(
            now - Duration::hours(i * 2),
            if i % 3 == 0 { "metric" } else { "log" },
            Some("api"),
            None,
            json!({ "cpu": i }),
        ));
    }
    let stored = s.insert_events(batch).await.unwrap();
    s.commit_detection(&[], stored.last().unwrap().id)
        .await
        .unwrap();
    let want: Vec<i64> = stored
        .iter()
        .filter(|e| e.timestamp >= cut)
        .map(|e| e.id)
        .collect();
    let r = Retention {
        events_before: Some(cut),
        batch: 3,
        ..keep_forever(3)
    };
    let (report, steps) = purge_all(s, &r).await;
    assert_eq!(report.events, (stored.len() - want.len()) as u64);
    assert!(steps > 1, "{steps}");
    assert_eq!(stored_ids(s, &ids(&stored)).await, want);
    let one_big = Retention {
        batch: 10_000,
        ..r.clone()
    };
    let (again, steps) = purge_all(s, &one_big).await;
    assert_eq!((again.events, steps), (0, 1));
    assert_eq!(
        s.list_events(&all_events()).await.unwrap().total,
        want.len() as u64
    );
}

pub async fn retention_purges_findings_with_everything_attached<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let t = at("10:00:00");
    let cut = at("12:00:00");
    let later = at("13:00:00");
    let ev_ids = ids(&s
        .insert_events(vec![ev(t, "log", None, None, json!({}))])
        .await
        .unwrap());
    let stored = s
        .commit_detection(
            &[
                write(
                    "old",
                    finding("r.old", Severity::High, t, t),
                    ev_ids.clone(),
                ),
                write("touched", finding("r.touched", Severity::Low, t, t), vec![]),
                write(
                    "fresh",
                    finding("r.fresh", Severity::Low, t, later),
                    ev_ids.clone(),
                ),
            ],
            ev_ids[0],
        )
        .await
        .unwrap();
    let (old, touched, fresh) = (stored[0].id, stored[1].id, stored[2].id);
    // History, a note and an enrichment on the old one, all before the cutoff.
    s.update_finding(
        old,
        FindingPatch {
            status: Some(FindingStatus::Acknowledged),
            actor: "ana".into(),
            ..FindingPatch::default()
        },
        t + Duration::minutes(5),
    )
    .await
    .unwrap()
    .expect("old finding");
    s.add_finding_note(old, "looked at it", "ana", t + Duration::minutes(6))
        .await
        .unwrap()
        .expect("old finding");
    s.insert_enrichment(NewEnrichment {
        finding_id: old,
        content_hash: "h-old".into(),
        enriched_by: "m1".into(),
        model: "m1".into(),
        risk_score: 70,
        explanation: "old".into(),
        recommended_actions: vec![],
        confidence: None,
        prompt: "{}".into(),
        answer: Some("{}".into()),
        fallback_reason: None,
        cached: false,
        prompt_tokens: 1,
        completion_tokens: 1,
        created_at: t + Duration::minutes(7),
    })
    .await
    .unwrap()
    .expect("old finding");
    // An analyst touched this one after the cutoff: it stays.
    s.add_finding_note(touched, "still open", "ana", later)
        .await
        .unwrap()
        .expect("touched finding");

    let r = Retention {
        findings_before: Some(cut),
        batch: 1,
        ..keep_forever(1)
    };
    // A reader that has not read the outbox holds the old finding back.
    s.set_consumer_position("sink", 0).await.unwrap();
    let (held, _) = purge_all(s, &r).await;
    assert_eq!(held.findings, 0);
    assert!(s.get_finding(old).await.unwrap().is_some());
    let changes = s.finding_changes_after(0, 1000).await.unwrap();
    let last_seq = changes.iter().map(|c| c.seq).max().expect("outbox entries");
    s.set_consumer_position("sink", last_seq).await.unwrap();

    let (report, _) = purge_all(s, &r).await;
    assert_eq!(report.findings, 1, "{report:?}");
    assert_eq!(s.get_finding(old).await.unwrap(), None);
    assert_eq!(s.finding_history(old).await.unwrap(), None);
    assert!(s.finding_enrichments(old).await.unwrap().is_empty());
    assert_eq!(s.cached_enrichment("h-old", "m1").await.unwrap(), None);
    let left = s.finding_changes_after(0, 1000).await.unwrap();
    assert!(
        left.iter().all(|c| c.finding_id != old),
        "no outbox entry of an expired finding: {left:?}"
    );
    assert!(left.iter().any(|c| c.finding_id == fresh));
    for id in [touched, fresh] {
        let f = s.get_finding(id).await.unwrap().expect("kept finding");
        assert_eq!(f.id, id);
        assert!(!s.finding_history(id).await.unwrap().unwrap().is_empty());
    }
    let totals = s.totals().await.unwrap();
    assert_eq!(totals.findings, 2);
    assert_eq!(totals.findings_by_severity["high"], 0);
    assert_eq!(totals.findings_by_status["acknowledged"], 0);
    // The events are not the findings' to remove.
    assert_eq!(stored_ids(s, &ev_ids).await, ev_ids);
}

pub async fn retention_keeps_rollups_past_events_and_purges_them_on_their_own<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let day = |d: i64, hms: &str| -> DateTime<Utc> { at(hms) + Duration::days(d) };
    let times = [
        day(0, "10:00:00"),
        day(0, "10:30:10"),
        day(0, "12:00:00"),
        day(1, "09:00:00"),
        day(3, "08:00:00"),
    ];
    let batch: Vec<_> = times
        .iter()
        .map(|t| ev(*t, "metric", Some("api"), None, json!({ "cpu": 2.0 })))
        .collect();
    let stored = s.insert_events(batch).await.unwrap();
    let last = stored.last().unwrap().id;
    s.commit_detection(
        &[write(
            "k",
            finding("r.one", Severity::Medium, times[0], times[0]),
            vec![],
        )],
        last,
    )
    .await
    .unwrap();
    let range = SeriesQuery {
        from: day(0, "00:00:00"),
        to: day(4, "00:00:00"),
        bucket_secs: 3600,
    };
    let metric = MetricSeriesQuery {
        field: "cpu".into(),
        group_by: MetricGroupBy::None,
        agg: MetricAgg::Count,
        range: range.clone(),
    };
    let series_before = s.event_series(&range).await.unwrap();
    let metric_before = s.metric_series(&metric).await.unwrap();
    assert_eq!(metric_before.iter().map(|p| p.count).sum::<u64>(), 5);

    // Rollups alone cannot expire before the events they count.
    let rollups_only = Retention {
        rollups_before: Some(day(2, "00:00:00")),
        ..keep_forever(2)
    };
    let (r0, _) = purge_all(s, &rollups_only).await;
    assert_eq!(r0.rollups, 0);
    assert_eq!(s.event_series(&range).await.unwrap(), series_before);

    // Events of the first two days go; their rollups stay.
    let events_only = Retention {
        events_before: Some(day(2, "00:00:00")),
        ..keep_forever(2)
    };
    let (r1, _) = purge_all(s, &events_only).await;
    assert_eq!((r1.events, r1.rollups), (4, 0));
    assert_eq!(s.event_series(&range).await.unwrap(), series_before);
    assert_eq!(s.metric_series(&metric).await.unwrap(), metric_before);
    assert_eq!(s.totals().await.unwrap().events, 5);
    assert_eq!(s.finding_series(&range).await.unwrap().len(), 1);
    assert_eq!(s.list_events(&all_events()).await.unwrap().total, 1);

    // Rollups of the hours ending by 11:00 on the first day go, in steps.
    let r = Retention {
        rollups_before: Some(day(0, "11:00:00")),
        batch: 1,
        ..events_only.clone()
    };
    let (r2, steps) = purge_all(s, &r).await;
    assert!(r2.rollups > 0 && steps > 1, "{r2:?} in {steps}");
    let series = s.event_series(&range).await.unwrap();
    let kept: Vec<_> = series_before
        .iter()
        .filter(|p| p.bucket >= day(0, "11:00:00"))
        .cloned()
        .collect();
    assert_eq!(series, kept);
    assert_eq!(s.totals().await.unwrap().events, 3);
    let metric_after = s.metric_series(&metric).await.unwrap();
    assert_eq!(metric_after.iter().map(|p| p.count).sum::<u64>(), 3);
    assert!(metric_after.iter().all(|p| p.bucket >= day(0, "11:00:00")));
    assert!(s.finding_series(&range).await.unwrap().is_empty());
    assert_eq!(s.list_events(&all_events()).await.unwrap().total, 1);

    // A rollups cutoff past the events' horizon stops at the horizon.
    let far = Retention {
        rollups_before: Some(day(10, "00:00:00")),
        batch: 100,
        ..events_only
    };
    purge_all(s, &far).await;
    let series = s.event_series(&range).await.unwrap();
    assert_eq!(series.iter().map(|p| p.count).sum::<u64>(), 1);
    assert_eq!(s.totals().await.unwrap().events, 1);
    assert_eq!(s.list_events(&all_events()).await.unwrap().total, 1);
}
