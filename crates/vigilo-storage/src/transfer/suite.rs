//! The copy's behaviour, for any source and destination backends: a store
//! holding every entity, copied in small batches, stopped early and
//! resumed, then compared record by record and through the storage API.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use vigilo_core::finding::CloseReason;
use vigilo_core::{Finding, FindingStatus, Logsource, NewEvent, Origin, Severity};

use super::{CopyOptions, Entity, Shape, Transfer, TransferError, check_destination, copy, verify};
use crate::{
    AlertCommit, AlertGroup, AuditQuery, EventQuery, FindingPatch, FindingQuery, FindingWrite,
    MetricAgg, MetricGroupBy, MetricSeriesQuery, NewApiKey, NewAuditEntry, NewDeadLetter,
    NewEnrichment, NewIamAudit, NewNotification, NewSilence, NewUser, NotificationKind,
    NotificationQuery, NotificationStatus, PipelineUpdate, SeriesQuery, SessionRecord,
    SilenceMatcher, Storage,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00.123456Z")
        .expect("test time")
        .with_timezone(&Utc)
}

fn event(i: i64) -> NewEvent {
    let ts = t0() + Duration::seconds(i * 7);
    let payload = json!({
        "n": i,
        "message": format!("login failed {i}"),
        "latency_ms": 100 + i,
        "metric_name": if i % 2 == 0 { "cpu" } else { "mem" },
        "nested": {"z": 1, "a": [1, 2, {"k": "v"}]},
    });
    NewEvent {
        logsource: if i % 3 == 0 {
            Logsource {
                product: Some("aws".into()),
                category: None,
                service: Some("cloudtrail".into()),
            }
        } else {
            Logsource::vigilo()
        },
        timestamp: ts,
        received_at: ts + Duration::milliseconds(250),
        kind: if i % 4 == 0 { "metric" } else { "log" }.to_string(),
        service: if i % 5 == 0 {
            None
        } else {
            Some(format!("svc{}", i % 3))
        },
        user: Some(format!("user{}", i % 2)),
        payload: match payload {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("an object literal"),
        },
        origin: Some(Origin {
            stream: format!("kafka:logs:{}", i % 2),
            offset: i,
        }),
    }
}

fn finding(rule: &str, severity: Severity, at: DateTime<Utc>) -> Finding {
    Finding {
        id: 0,
        rule_id: rule.to_string(),
        rule_title: format!("Rule {rule}"),
        severity,
        status: FindingStatus::Open,
        group: [("user".to_string(), "user0".to_string())].into(),
        service: Some("svc1".to_string()),
        user: Some("user0".to_string()),
        first_seen: at,
        last_seen: at + Duration::seconds(30),
        event_count: 3,
        evidence: Vec::new(),
        description: format!("{rule} matched"),
        tags: vec!["attack.t1110".to_string()],
        risk_score: 61,
        explanation: "heuristic".to_string(),
        note: None,
        assignee: None,
        workflow_tags: Vec::new(),
        close_reason: None,
        recommended_actions: vec!["look".to_string()],
        enriched_by: vigilo_core::finding::ENRICHED_BY_HEURISTIC.to_string(),
        enriched_at: None,
        created_at: at + Duration::seconds(31),
        updated_at: at + Duration::seconds(31),
    }
}

/// Fill `s` (migrated) with records of every entity, through the storage API.
pub async fn populate(s: &dyn Storage) {
    let events = s
        .insert_events((1..=23).map(event).collect())
        .await
        .expect("insert events");
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let writes: Vec<FindingWrite> = [
        ("brute_force", Severity::High),
        ("mfa_failure", Severity::Medium),
        ("public_bucket", Severity::Critical),
        ("burst", Severity::Low),
    ]
    .iter()
    .enumerate()
    .map(|(i, (rule, sev))| FindingWrite {
        incident_key: format!("{rule}|user0"),
        finding: finding(rule, *sev, t0() + Duration::minutes(i as i64 * 70)),
        new_evidence: ids[i..i + 3].to_vec(),
        matches: 2,
    })
    .collect();
    let found = s
        .commit_detection(&writes, *ids.last().expect("events"))
        .await
        .expect("commit detection");
    let f0 = found[0].id;
    let now = t0() + Duration::hours(5);
    s.update_finding(
        f0,
        FindingPatch {
            status: Some(FindingStatus::Resolved),
            assignee: Some("alice".into()),
            add_tags: vec!["triaged".into()],
            close_reason: Some(CloseReason::FalsePositive),
            actor: "alice".into(),
            ..Default::default()
        },
        now,
    )
    .await
    .expect("patch")
    .expect("finding");
    s.add_finding_note(found[1].id, "looked at it", "bob", now)
        .await
        .expect("note")
        .expect("finding");
    s.insert_enrichment(NewEnrichment {
        finding_id: found[1].id,
        content_hash: "abc".into(),
        enriched_by: "model-x".into(),
        model: "model-x".into(),
        risk_score: 77,
        explanation: "because".into(),
        recommended_actions: vec!["rotate keys".into()],
        confidence: Some(0.75),
        prompt: "prompt".into(),
        answer: Some("answer".into()),
        fallback_reason: None,
        cached: false,
        prompt_tokens: 10,
        completion_tokens: 20,
        created_at: now,
    })
    .await
    .expect("enrichment")
    .expect("finding");
    s.insert_iam_audit(NewIamAudit {
        created_at: now,
        source: Some("iam.json".into()),
        input_format: "json".into(),
        summary: json!({"high": 1, "low": 0}),
        report: json!({"risks": [{"id": "root_without_mfa", "level": "high"}]}),
    })
    .await
    .expect("iam audit");
    s.set_rule_enabled("burst", false, now)
        .await
        .expect("rule state");
    for n in 0..3 {
        s.insert_pipeline_update(
            &PipelineUpdate {
                pipeline: "iam.pipeline".into(),
                status: "done".into(),
                received_at: now + Duration::seconds(n),
                payload: json!({"status": "done", "pipeline": "iam.pipeline", "n": n}),
            },
            10,
        )
        .await
        .expect("pipeline update");
    }
    let user = s
        .create_user(NewUser {
            username: "Alice".into(),
            role: "admin".into(),
            email: Some("alice@example.com".into()),
            source: "local".into(),
            oidc_subject: None,
            password_hash: Some("$argon2id$hash".into()),
            created_at: now,
        })
        .await
        .expect("user");
    s.set_preferences(user.id, &json!({"theme": "dark"}))
        .await
        .expect("preferences");
    s.record_login(user.id, now).await.expect("login");
    let key = s
        .create_api_key(NewApiKey {
            name: "ingest".into(),
            prefix: "vk_abc".into(),
            hash: "hash".into(),
            scopes: vec!["ingest".into(), "read".into()],
            created_at: now,
            created_by: "Alice".into(),
            expires_at: None,
        })
        .await
        .expect("api key");
    s.revoke_api_key(key.id, now + Duration::minutes(1))
        .await
        .expect("revoke")
        .expect("key");
    s.create_session(&SessionRecord {
        id: "sess-1".into(),
        user_id: user.id,
        refresh_hash: "rh".into(),
        created_at: now,
        refreshed_at: now,
        expires_at: now + Duration::days(1),
        revoked_at: None,
        address: Some("127.0.0.1".into()),
    })
    .await
    .expect("session");
    s.insert_audit(NewAuditEntry {
        time: now,
        actor: "Alice".into(),
        action: "user.login".into(),
        target: None,
        address: Some("127.0.0.1".into()),
        details: json!({"ok": true}),
    })
    .await
    .expect("audit");
    s.insert_dead_letter(NewDeadLetter {
        source: "kafka".into(),
        location: "logs:0:17".into(),
        reason: "not json".into(),
        raw: vec![0, 159, 146, 150, 255],
        meta: json!({"partition": 0}),
        received_at: now,
    })
    .await
    .expect("dead letter");
    s.set_consumer_position("alerts", 2)
        .await
        .expect("consumer position");
    let silence = s
        .create_silence(NewSilence {
            matchers: vec![SilenceMatcher {
                field: "rule_id".into(),
                value: "burst*".into(),
                glob: true,
            }],
            starts_at: now,
            ends_at: now + Duration::hours(2),
            created_by: "Alice".into(),
            comment: "maintenance".into(),
            created_at: now,
        })
        .await
        .expect("silence");
    s.commit_alerts(AlertCommit {
        groups: vec![AlertGroup {
            key: "route|slack|brute_force".into(),
            state: json!({"firing": [f0]}),
            updated_at: now,
        }],
        removed_groups: Vec::new(),
        notifications: vec![NewNotification {
            receiver: "slack".into(),
            route: "route".into(),
            group_key: "route|slack|brute_force".into(),
            kind: NotificationKind::Firing,
            finding_ids: vec![f0, found[2].id],
            status: NotificationStatus::Pending,
            created_at: now,
            title: "2 findings".into(),
            body: json!({"text": "brute force"}),
            silence_id: Some(silence.id),
        }],
        silences_announced: vec![(silence.id, true, false)],
        position: Some(("alerts".into(), 3)),
    })
    .await
    .expect("alerts");
}

/// Copy `src` into `dst` (both empty and migrated): stopped after a few
/// small batches, then resumed; the result equals the source record for
/// record and through the storage API, ids continue past the copied ones,
/// and a destination holding other records is refused.
pub async fn copy_round_trip(src: &dyn Transfer, dst: &dyn Transfer, other: &dyn Transfer) {
    populate(src).await;
    for &e in Entity::ALL {
        let first = src.export_batch(e, None, 1).await.expect("export");
        assert!(!first.is_empty(), "the source holds no {e}");
    }

    let stopped = copy(
        src,
        dst,
        CopyOptions {
            batch_size: 2,
            max_batches: Some(7),
        },
        &mut |_| {},
    )
    .await
    .expect("first copy");
    assert!(!stopped.complete);
    assert_eq!(stopped.batches, 7);
    let partial = verify(src, dst, 5).await.expect("verify");
    let differ: Vec<Entity> = partial
        .iter()
        .filter(|c| !c.ok())
        .map(|c| c.entity)
        .collect();
    assert!(
        differ.contains(&Entity::Findings) && differ.contains(&Entity::DetectionState),
        "a stopped copy is incomplete: {differ:?}"
    );
    check_destination(src, dst)
        .await
        .expect("a partial copy of the source is accepted");

    let mut events = Vec::new();
    let done = copy(
        src,
        dst,
        CopyOptions {
            batch_size: 3,
            max_batches: None,
        },
        &mut |p| events.push(p.clone()),
    )
    .await
    .expect("resumed copy");
    assert!(done.complete);
    assert!(
        events.iter().any(|p| matches!(
            p,
            super::Progress::Start {
                entity: Entity::Events,
                resumed_after: Some(_)
            }
        )),
        "the second run resumes the events"
    );
    for c in verify(src, dst, 4).await.expect("verify") {
        assert!(
            c.ok(),
            "{} differs: {:?} vs {:?}",
            c.entity,
            c.source,
            c.destination
        );
        assert!(c.source.count > 0, "{} is empty", c.entity);
    }

    // A third run reads nothing new but the small tables, and writes
    // nothing else.
    let mut third = Vec::new();
    copy(src, dst, CopyOptions::default(), &mut |p| {
        third.push(p.clone())
    })
    .await
    .expect("copy again");
    for p in &third {
        if let super::Progress::Done {
            entity,
            read,
            written,
        } = p
        {
            if entity.shape() == Shape::State {
                assert!(*read > 0, "{entity} is read whole each time");
            } else {
                assert_eq!((*read, *written), (0, 0), "{entity} copied twice");
            }
        }
    }
    for c in verify(src, dst, 1000).await.expect("verify") {
        assert!(c.ok(), "{} differs after a third run", c.entity);
    }

    same_answers(src, dst).await;

    // New rows continue after the copied ids.
    let last_event = src.detection_watermark().await.expect("watermark");
    let more = dst
        .insert_events(vec![event(1000)])
        .await
        .expect("insert after copy");
    assert_eq!(more[0].id, last_event + 1);
    let audit = dst
        .insert_iam_audit(NewIamAudit {
            created_at: t0(),
            source: None,
            input_format: "json".into(),
            summary: json!({}),
            report: json!({}),
        })
        .await
        .expect("audit after copy");
    assert_eq!(audit.id, 2);
    // Now they differ, and the check says where.
    let differ: Vec<Entity> = verify(src, dst, 100)
        .await
        .expect("verify")
        .into_iter()
        .filter(|c| !c.ok())
        .map(|c| c.entity)
        .collect();
    assert!(
        differ.contains(&Entity::Events)
            && differ.contains(&Entity::IamAudits)
            && !differ.contains(&Entity::Findings)
            && !differ.contains(&Entity::Users),
        "{differ:?}"
    );

    other
        .insert_events(vec![event(5)])
        .await
        .expect("other event");
    match check_destination(src, other).await {
        Err(TransferError::Unrelated { entity, .. }) => assert_eq!(entity, Entity::Events),
        other => panic!("an unrelated destination must be refused, got {other:?}"),
    }
}

/// What the API reads from both stores is the same.
async fn same_answers(a: &dyn Transfer, b: &dyn Transfer) {
    let eq = EventQuery {
        page: 1,
        page_size: 100,
        ..Default::default()
    };
    assert_eq!(
        a.list_events(&eq).await.unwrap(),
        b.list_events(&eq).await.unwrap()
    );
    let fq = FindingQuery {
        page: 1,
        page_size: 100,
        ..Default::default()
    };
    let fa = a.list_findings(&fq).await.unwrap();
    assert_eq!(fa, b.list_findings(&fq).await.unwrap());
    for f in &fa.items {
        assert_eq!(
            a.get_finding(f.id).await.unwrap(),
            b.get_finding(f.id).await.unwrap()
        );
        assert_eq!(
            a.finding_history(f.id).await.unwrap(),
            b.finding_history(f.id).await.unwrap()
        );
        assert_eq!(
            a.finding_enrichments(f.id).await.unwrap(),
            b.finding_enrichments(f.id).await.unwrap()
        );
    }
    assert_eq!(a.totals().await.unwrap(), b.totals().await.unwrap());
    let range = SeriesQuery {
        from: t0() - Duration::hours(1),
        to: t0() + Duration::hours(8),
        bucket_secs: 3600,
    };
    assert_eq!(
        a.event_series(&range).await.unwrap(),
        b.event_series(&range).await.unwrap()
    );
    let minutes = SeriesQuery {
        bucket_secs: 60,
        ..range.clone()
    };
    assert_eq!(
        a.event_series(&minutes).await.unwrap(),
        b.event_series(&minutes).await.unwrap()
    );
    assert_eq!(
        a.finding_series(&range).await.unwrap(),
        b.finding_series(&range).await.unwrap()
    );
    assert_eq!(
        a.event_breakdown(None, None).await.unwrap(),
        b.event_breakdown(None, None).await.unwrap()
    );
    assert_eq!(
        a.finding_breakdown(None, None).await.unwrap(),
        b.finding_breakdown(None, None).await.unwrap()
    );
    for agg in [MetricAgg::Avg, MetricAgg::Max, MetricAgg::P95] {
        for group_by in [MetricGroupBy::Service, MetricGroupBy::MetricName] {
            let q = MetricSeriesQuery {
                field: "latency_ms".into(),
                group_by,
                agg,
                range: range.clone(),
            };
            let points = a.metric_series(&q).await.unwrap();
            assert!(!points.is_empty());
            assert_eq!(points, b.metric_series(&q).await.unwrap());
        }
    }
    assert_eq!(
        a.metric_groups(100).await.unwrap(),
        b.metric_groups(100).await.unwrap()
    );
    assert_eq!(
        a.rule_match_counts().await.unwrap(),
        b.rule_match_counts().await.unwrap()
    );
    assert_eq!(
        a.list_iam_audits(1, 10).await.unwrap(),
        b.list_iam_audits(1, 10).await.unwrap()
    );
    assert_eq!(
        a.get_iam_audit(1).await.unwrap(),
        b.get_iam_audit(1).await.unwrap()
    );
    assert_eq!(
        a.rule_states().await.unwrap(),
        b.rule_states().await.unwrap()
    );
    assert_eq!(
        a.pipeline_records(10).await.unwrap(),
        b.pipeline_records(10).await.unwrap()
    );
    assert_eq!(a.list_users().await.unwrap(), b.list_users().await.unwrap());
    assert_eq!(
        a.get_preferences(1).await.unwrap(),
        b.get_preferences(1).await.unwrap()
    );
    assert_eq!(
        a.list_api_keys().await.unwrap(),
        b.list_api_keys().await.unwrap()
    );
    assert_eq!(
        a.get_session("sess-1").await.unwrap(),
        b.get_session("sess-1").await.unwrap()
    );
    let aq = AuditQuery {
        page: 1,
        page_size: 10,
        ..Default::default()
    };
    assert_eq!(
        a.list_audit(&aq).await.unwrap(),
        b.list_audit(&aq).await.unwrap()
    );
    assert_eq!(
        a.stream_positions("").await.unwrap(),
        b.stream_positions("").await.unwrap()
    );
    assert_eq!(
        a.list_dead_letters(None, 1, 10).await.unwrap(),
        b.list_dead_letters(None, 1, 10).await.unwrap()
    );
    assert_eq!(
        a.finding_changes_after(0, 100).await.unwrap(),
        b.finding_changes_after(0, 100).await.unwrap()
    );
    assert_eq!(
        a.consumer_position("alerts").await.unwrap(),
        b.consumer_position("alerts").await.unwrap()
    );
    assert_eq!(
        a.alert_groups().await.unwrap(),
        b.alert_groups().await.unwrap()
    );
    let nq = NotificationQuery {
        page: 1,
        page_size: 10,
        ..Default::default()
    };
    assert_eq!(
        a.list_notifications(&nq).await.unwrap(),
        b.list_notifications(&nq).await.unwrap()
    );
    assert_eq!(
        a.list_silences().await.unwrap(),
        b.list_silences().await.unwrap()
    );
    assert_eq!(
        a.detection_watermark().await.unwrap(),
        b.detection_watermark().await.unwrap()
    );
    let since = t0() - Duration::days(1);
    assert_eq!(
        a.recent_incidents(since).await.unwrap(),
        b.recent_incidents(since).await.unwrap()
    );
}
