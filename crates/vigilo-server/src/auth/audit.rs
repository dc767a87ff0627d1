//! The audit trail: sign-ins, failed sign-ins, keys, users and role
//! changes, finding changes and rule reloads, each stored with its actor,
//! address and time, and ingested as an event of kind `audit`, so rules can
//! watch Vigilo itself (`rules/identity/vigilo.yml`).

use std::net::IpAddr;

use chrono::Utc;
use serde_json::{Map, Value, json};
use vigilo_core::NewEvent;
use vigilo_storage::NewAuditEntry;

use crate::server::AppState;

/// One thing to record.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub address: Option<IpAddr>,
    pub details: Value,
}

/// Store `e` and ingest it as an `audit` event. Failures are logged, not
/// returned: the action itself already happened.
pub async fn record(state: &AppState, e: Entry<'_>) {
    let now = Utc::now();
    let address = e.address.map(|a| a.to_string());
    let stored = state
        .storage
        .insert_audit(NewAuditEntry {
            time: now,
            actor: e.actor.to_string(),
            action: e.action.to_string(),
            target: e.target.map(str::to_string),
            address: address.clone(),
            details: e.details.clone(),
        })
        .await;
    if let Err(err) = stored {
        tracing::error!(action = e.action, error = %err, "cannot store audit entry");
    }
    // The user the entry is about: the target of a sign-in, else the actor.
    let subject = match e.action {
        "login" | "login_failed" | "login_locked" => e.target.unwrap_or(e.actor),
        _ => e.actor,
    };
    let mut payload = Map::new();
    payload.insert("kind".into(), json!("audit"));
    payload.insert("service".into(), json!("vigilo"));
    payload.insert("user".into(), json!(subject));
    payload.insert("action".into(), json!(e.action));
    payload.insert("actor".into(), json!(e.actor));
    if let Some(t) = e.target {
        payload.insert("target".into(), json!(t));
    }
    if let Some(a) = &address {
        payload.insert("source_ip".into(), json!(a));
    }
    if !e.details.is_null() {
        payload.insert("details".into(), e.details);
    }
    payload.insert("timestamp".into(), json!(now.to_rfc3339()));
    let event = NewEvent {
        logsource: Default::default(),
        timestamp: now,
        received_at: now,
        kind: "audit".into(),
        service: Some("vigilo".into()),
        user: Some(subject.to_string()),
        payload,
        origin: None,
    };
    if let Err(err) = state.pipeline.submit(vec![event]).await {
        tracing::warn!(action = e.action, error = %err, "cannot ingest audit event");
    }
}
