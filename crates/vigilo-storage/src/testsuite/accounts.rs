//! Behaviours of users, API keys, sessions, the audit trail and
//! preferences.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{Fixture, ready};
use crate::{
    AuditQuery, NewApiKey, NewAuditEntry, NewUser, SessionRecord, Storage, StorageError, UserPatch,
};

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T10:00:00Z")
        .expect("test time")
        .with_timezone(&Utc)
}

fn new_user(name: &str, role: &str) -> NewUser {
    NewUser {
        username: name.to_string(),
        role: role.to_string(),
        email: Some(format!("{}@example.com", name.to_lowercase())),
        source: "password".to_string(),
        oidc_subject: None,
        password_hash: Some(format!("$argon2id$hash-of-{name}")),
        created_at: t0(),
    }
}

pub async fn users_round_trip_and_names_are_unique_ignoring_case<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let ana = s
        .create_user(new_user("Ana", "analyst"))
        .await
        .expect("create");
    assert!(ana.id > 0);
    assert_eq!(s.get_user(ana.id).await.unwrap().as_ref(), Some(&ana));
    assert_eq!(
        s.get_user_by_name("ANA").await.unwrap().as_ref(),
        Some(&ana)
    );
    assert_eq!(s.get_user_by_name("bob").await.unwrap(), None);
    assert!(matches!(
        s.create_user(new_user("ana", "viewer")).await,
        Err(StorageError::Conflict { field: "username" })
    ));
    let sso = s
        .create_user(NewUser {
            source: "oidc".into(),
            oidc_subject: Some("google:123".into()),
            password_hash: None,
            ..new_user("sso", "viewer")
        })
        .await
        .expect("create sso user");
    assert_eq!(
        s.get_user_by_subject("google:123")
            .await
            .unwrap()
            .map(|u| u.id),
        Some(sso.id)
    );
    assert!(matches!(
        s.create_user(NewUser {
            oidc_subject: Some("google:123".into()),
            ..new_user("sso2", "viewer")
        })
        .await,
        Err(StorageError::Conflict { .. })
    ));
    let ids: Vec<i64> = s.list_users().await.unwrap().iter().map(|u| u.id).collect();
    assert_eq!(ids, vec![ana.id, sso.id]);
    assert_eq!(s.count_admins().await.unwrap(), 0);

    let patched = s
        .update_user(
            ana.id,
            UserPatch {
                role: Some("admin".into()),
                email: Some(None),
                ..UserPatch::default()
            },
        )
        .await
        .unwrap()
        .expect("user exists");
    assert_eq!(
        (patched.role.as_str(), patched.email.as_deref()),
        ("admin", None)
    );
    assert_eq!(patched.password_hash, ana.password_hash, "untouched");
    assert_eq!(s.count_admins().await.unwrap(), 1);
    s.update_user(
        ana.id,
        UserPatch {
            disabled: Some(true),
            ..UserPatch::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        s.count_admins().await.unwrap(),
        0,
        "disabled admins do not count"
    );
    assert_eq!(
        s.update_user(9999, UserPatch::default()).await.unwrap(),
        None
    );

    let at = t0() + Duration::minutes(5);
    s.record_login(ana.id, at).await.unwrap();
    assert_eq!(
        s.get_user(ana.id).await.unwrap().unwrap().last_login_at,
        Some(at)
    );
}

pub async fn api_keys_are_created_found_by_prefix_and_revoked<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let key = NewApiKey {
        name: "ci".into(),
        prefix: "vgl_0000abcd".into(),
        hash: "f".repeat(64),
        scopes: vec!["ingest".into(), "read".into()],
        created_at: t0(),
        created_by: "ana".into(),
        expires_at: Some(t0() + Duration::days(30)),
    };
    let k = s.create_api_key(key.clone()).await.expect("create");
    assert_eq!(k.scopes, vec!["ingest", "read"]);
    assert_eq!(
        s.api_key_by_prefix("vgl_0000abcd").await.unwrap().as_ref(),
        Some(&k)
    );
    assert!(matches!(
        s.create_api_key(key.clone()).await,
        Err(StorageError::Conflict { field: "prefix" })
    ));
    let k2 = s
        .create_api_key(NewApiKey {
            prefix: "vgl_0000abce".into(),
            expires_at: None,
            ..key
        })
        .await
        .unwrap();
    let listed: Vec<i64> = s
        .list_api_keys()
        .await
        .unwrap()
        .iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(listed, vec![k2.id, k.id], "newest first");

    let used = t0() + Duration::minutes(1);
    s.touch_api_key(k.id, used).await.unwrap();
    let revoked_at = t0() + Duration::minutes(2);
    let r = s
        .revoke_api_key(k.id, revoked_at)
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        (r.last_used_at, r.revoked_at),
        (Some(used), Some(revoked_at))
    );
    let again = s
        .revoke_api_key(k.id, revoked_at + Duration::minutes(1))
        .await
        .unwrap()
        .expect("exists");
    assert_eq!(
        again.revoked_at,
        Some(revoked_at),
        "the first revocation stays"
    );
    assert_eq!(s.revoke_api_key(9999, revoked_at).await.unwrap(), None);
}

pub async fn sessions_rotate_once_and_revoke<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let u = s.create_user(new_user("ana", "analyst")).await.unwrap();
    let sess = SessionRecord {
        id: "sid-1".into(),
        user_id: u.id,
        refresh_hash: "h1".into(),
        created_at: t0(),
        refreshed_at: t0(),
        expires_at: t0() + Duration::days(7),
        revoked_at: None,
        address: Some("127.0.0.1".into()),
    };
    s.create_session(&sess).await.unwrap();
    assert_eq!(s.get_session("sid-1").await.unwrap().as_ref(), Some(&sess));
    let later = t0() + Duration::hours(1);
    assert!(s.rotate_session("sid-1", "h1", "h2", later).await.unwrap());
    assert!(
        !s.rotate_session("sid-1", "h1", "h3", later).await.unwrap(),
        "a used refresh token does not rotate again"
    );
    let got = s.get_session("sid-1").await.unwrap().unwrap();
    assert_eq!((got.refresh_hash.as_str(), got.refreshed_at), ("h2", later));
    assert!(
        !s.rotate_session("sid-1", "h2", "h3", t0() + Duration::days(8))
            .await
            .unwrap(),
        "no refresh past the absolute end"
    );
    assert!(s.revoke_session("sid-1", later).await.unwrap());
    assert!(!s.revoke_session("sid-1", later).await.unwrap());
    assert!(!s.rotate_session("sid-1", "h2", "h3", later).await.unwrap());

    for id in ["a", "b"] {
        s.create_session(&SessionRecord {
            id: id.into(),
            ..sess.clone()
        })
        .await
        .unwrap();
    }
    assert_eq!(s.revoke_user_sessions(u.id, later).await.unwrap(), 2);
    assert!(
        s.get_session("a")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_some()
    );
    assert_eq!(s.get_session("nope").await.unwrap(), None);
}

pub async fn audit_log_lists_newest_first_with_filters<X: Fixture>(x: &X) {
    let s = ready(x).await;
    for (i, (actor, action)) in [
        ("ana", "login"),
        ("bob", "login_failed"),
        ("ana", "api_key_created"),
        ("bob", "login_failed"),
    ]
    .into_iter()
    .enumerate()
    {
        s.insert_audit(NewAuditEntry {
            time: t0() + Duration::seconds(i as i64),
            actor: actor.into(),
            action: action.into(),
            target: Some("x".into()),
            address: Some("10.0.0.1".into()),
            details: json!({"i": i}),
        })
        .await
        .unwrap();
    }
    let all = s
        .list_audit(&AuditQuery {
            page: 1,
            page_size: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 4);
    let order: Vec<i64> = all
        .items
        .iter()
        .map(|e| e.details["i"].as_i64().unwrap())
        .collect();
    assert_eq!(order, vec![3, 2, 1, 0]);
    let failed = s
        .list_audit(&AuditQuery {
            action: Some("login_failed".into()),
            actor: Some("bob".into()),
            page: 1,
            page_size: 1,
        })
        .await
        .unwrap();
    assert_eq!((failed.total, failed.items.len()), (2, 1));
    assert_eq!(failed.items[0].address.as_deref(), Some("10.0.0.1"));
}

pub async fn preferences_round_trip_per_user<X: Fixture>(x: &X) {
    let s = ready(x).await;
    let a = s.create_user(new_user("ana", "analyst")).await.unwrap();
    let b = s.create_user(new_user("bob", "viewer")).await.unwrap();
    assert_eq!(s.get_preferences(a.id).await.unwrap(), None);
    let p = json!({"theme": "dark", "time_range": "7d", "saved_filters": []});
    s.set_preferences(a.id, &p).await.unwrap();
    assert_eq!(s.get_preferences(a.id).await.unwrap(), Some(p));
    assert_eq!(s.get_preferences(b.id).await.unwrap(), None);
}
