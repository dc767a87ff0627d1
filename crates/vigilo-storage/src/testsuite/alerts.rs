//! Behaviours of alert state: groups and notifications written with the
//! outbox position in one step, delivery outcomes, the searchable history
//! and silences.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{Fixture, ready};
use crate::{
    AlertCommit, AlertGroup, NewNotification, NewSilence, NotificationAttempt, NotificationKind,
    NotificationQuery, NotificationStatus, SilenceMatcher, Storage,
};

fn note(receiver: &str, kind: NotificationKind, findings: Vec<i64>, text: &str) -> NewNotification {
    NewNotification {
        receiver: receiver.to_string(),
        route: "ops".to_string(),
        group_key: format!("ops:{{service=\"{text}\"}}"),
        kind,
        finding_ids: findings,
        status: NotificationStatus::Pending,
        created_at: Utc::now(),
        title: format!("title {text}"),
        body: json!({"text": text}),
        silence_id: None,
    }
}

pub async fn alert_commits_store_groups_notifications_and_position<X: Fixture>(x: &X) {
    let s = ready(x).await;
    assert!(s.alert_groups().await.expect("groups").is_empty());
    let stored = s
        .commit_alerts(AlertCommit {
            groups: vec![
                AlertGroup {
                    key: "a".into(),
                    state: json!({"n": 1}),
                    updated_at: Utc::now(),
                },
                AlertGroup {
                    key: "b".into(),
                    state: json!({"n": 2}),
                    updated_at: Utc::now(),
                },
            ],
            notifications: vec![
                note("hook", NotificationKind::Firing, vec![1, 2], "checkout"),
                note("chat", NotificationKind::Firing, vec![2], "payments"),
            ],
            position: Some(("alerts".into(), 7)),
            ..AlertCommit::default()
        })
        .await
        .expect("commit");
    assert_eq!(stored.len(), 2);
    assert!(stored[0].id < stored[1].id);
    assert_eq!(stored[0].status, NotificationStatus::Pending);
    assert_eq!(s.consumer_position("alerts").await.expect("pos"), 7);
    // A later step replaces one group, removes the other.
    s.commit_alerts(AlertCommit {
        groups: vec![AlertGroup {
            key: "a".into(),
            state: json!({"n": 3}),
            updated_at: Utc::now(),
        }],
        removed_groups: vec!["b".into()],
        ..AlertCommit::default()
    })
    .await
    .expect("commit");
    let groups = s.alert_groups().await.expect("groups");
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].state, json!({"n": 3}));
    // The position stays where it was when a step does not move it.
    assert_eq!(s.consumer_position("alerts").await.expect("pos"), 7);

    let pending = s.pending_notifications(10).await.expect("pending");
    assert_eq!(pending.len(), 2);
    let done = s
        .record_notification_attempt(
            stored[0].id,
            NotificationAttempt {
                status: NotificationStatus::Sent,
                attempts: 3,
                last_error: Some("503".into()),
                sent_at: Some(Utc::now()),
            },
        )
        .await
        .expect("record")
        .expect("exists");
    assert_eq!(done.status, NotificationStatus::Sent);
    assert_eq!(done.attempts, 3);
    assert!(done.sent_at.is_some());
    assert_eq!(done.body, json!({"text": "checkout"}));
    assert_eq!(s.pending_notifications(10).await.expect("pending").len(), 1);
    assert!(
        s.record_notification_attempt(
            9999,
            NotificationAttempt {
                status: NotificationStatus::Failed,
                attempts: 1,
                last_error: None,
                sent_at: None,
            },
        )
        .await
        .expect("record")
        .is_none()
    );
}

pub async fn notifications_are_searchable_by_every_filter<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let stored = s
        .commit_alerts(AlertCommit {
            notifications: vec![
                note("hook", NotificationKind::Firing, vec![1, 2], "checkout"),
                note("chat", NotificationKind::Resolved, vec![2], "payments"),
                note("hook", NotificationKind::Test, vec![], "50%_off"),
            ],
            ..AlertCommit::default()
        })
        .await
        .expect("commit");
    s.record_notification_attempt(
        stored[1].id,
        NotificationAttempt {
            status: NotificationStatus::Failed,
            attempts: 6,
            last_error: Some("connection refused".into()),
            sent_at: None,
        },
    )
    .await
    .expect("record");
    let ids = |q: NotificationQuery| async move {
        let p = s.list_notifications(&q).await.expect("list");
        let ids: Vec<i64> = p.items.iter().map(|n| n.id).collect();
        assert_eq!(p.total, ids.len() as u64);
        ids
    };
    let (a, b, c) = (stored[0].id, stored[1].id, stored[2].id);
    let all = NotificationQuery {
        page_size: 50,
        ..NotificationQuery::default()
    };
    assert_eq!(ids(all.clone()).await, vec![c, b, a]);
    assert_eq!(
        ids(NotificationQuery {
            receiver: Some("hook".into()),
            ..all.clone()
        })
        .await,
        vec![c, a]
    );
    assert_eq!(
        ids(NotificationQuery {
            finding_id: Some(2),
            ..all.clone()
        })
        .await,
        vec![b, a]
    );
    assert_eq!(
        ids(NotificationQuery {
            status: Some(NotificationStatus::Failed),
            ..all.clone()
        })
        .await,
        vec![b]
    );
    assert_eq!(
        ids(NotificationQuery {
            kind: Some(NotificationKind::Test),
            ..all.clone()
        })
        .await,
        vec![c]
    );
    // Text: body, error; `%` and `_` are literal.
    assert_eq!(
        ids(NotificationQuery {
            q: Some("CHECKOUT".into()),
            ..all.clone()
        })
        .await,
        vec![a]
    );
    assert_eq!(
        ids(NotificationQuery {
            q: Some("refused".into()),
            ..all.clone()
        })
        .await,
        vec![b]
    );
    assert_eq!(
        ids(NotificationQuery {
            q: Some("0%_".into()),
            ..all.clone()
        })
        .await,
        vec![c]
    );
    let page = s
        .list_notifications(&NotificationQuery {
            page: 2,
            page_size: 2,
            ..NotificationQuery::default()
        })
        .await
        .expect("list");
    assert_eq!(page.total, 3);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, a);
    assert_eq!(
        s.get_notification(b)
            .await
            .expect("get")
            .map(|n| n.attempts),
        Some(6)
    );
}

pub async fn silences_are_created_announced_and_expired<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let now = Utc::now();
    let made = s
        .create_silence(NewSilence {
            matchers: vec![SilenceMatcher {
                field: "rule_id".into(),
                value: "iam.*".into(),
                glob: true,
            }],
            starts_at: now,
            ends_at: now + Duration::hours(2),
            created_by: "alice".into(),
            comment: "maintenance".into(),
            created_at: now,
        })
        .await
        .expect("create");
    assert!(!made.start_announced && !made.end_announced);
    assert_eq!(made.matchers[0].value, "iam.*");
    let later = s
        .create_silence(NewSilence {
            matchers: vec![],
            starts_at: now,
            ends_at: now + Duration::hours(1),
            created_by: "bob".into(),
            comment: String::new(),
            created_at: now,
        })
        .await
        .expect("create");
    let listed: Vec<i64> = s
        .list_silences()
        .await
        .expect("list")
        .iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(listed, vec![later.id, made.id]);
    s.commit_alerts(AlertCommit {
        silences_announced: vec![(made.id, true, false)],
        ..AlertCommit::default()
    })
    .await
    .expect("commit");
    // Flags only turn on.
    s.commit_alerts(AlertCommit {
        silences_announced: vec![(made.id, false, false)],
        ..AlertCommit::default()
    })
    .await
    .expect("commit");
    let got = s.get_silence(made.id).await.expect("get").expect("exists");
    assert!(got.start_announced && !got.end_announced);
    let at = now + Duration::minutes(5);
    let expired = s
        .expire_silence(made.id, at)
        .await
        .expect("expire")
        .expect("exists");
    assert_eq!(expired.ends_at.timestamp_micros(), at.timestamp_micros());
    assert!(expired.expired_at.is_some());
    // Expiring again never moves the end later.
    let again = s
        .expire_silence(made.id, at + Duration::minutes(5))
        .await
        .expect("expire")
        .expect("exists");
    assert_eq!(again.ends_at.timestamp_micros(), at.timestamp_micros());
    assert!(s.expire_silence(9999, at).await.expect("expire").is_none());
    assert!(s.get_silence(9999).await.expect("get").is_none());
}
