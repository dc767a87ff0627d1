//! Live findings on a process that does not lead detection.
//!
//! With several processes on one database, only the leader's detection
//! commits findings, so only its live channel hears of them. Every other
//! process tails the finding outbox while it follows and broadcasts what
//! it reads as a detection commit would: a dashboard sees live findings
//! whichever process its load balancer picked.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use vigilo_storage::Storage;

use crate::pipeline::LiveUpdate;

/// Outbox entries read per step. A follower further behind than this
/// skips to the end and tells clients to refetch instead of replaying.
const PAGE: u32 = 200;

/// Start the relay on a storage several processes share; `None` otherwise
/// (one process leads always). It reads every `poll` while `leading` is
/// false, from the outbox's end at the time it starts following, and ends
/// when the pipeline that owns `leading` goes.
pub fn start(
    storage: Arc<dyn Storage>,
    live: broadcast::Sender<LiveUpdate>,
    leading: watch::Receiver<bool>,
    poll: Duration,
) -> Option<JoinHandle<()>> {
    if !storage.shared() {
        return None;
    }
    Some(tokio::spawn(run(storage, live, leading, poll)))
}

async fn run(
    storage: Arc<dyn Storage>,
    live: broadcast::Sender<LiveUpdate>,
    mut leading: watch::Receiver<bool>,
    poll: Duration,
) {
    // Where the next read starts; `None`: at the outbox's end.
    let mut position: Option<i64> = None;
    loop {
        if *leading.borrow_and_update() {
            // The leader's own commits reach its clients. Following again
            // later starts from the end of that time.
            position = None;
            if leading.wait_for(|l| !*l).await.is_err() {
                return;
            }
            continue;
        }
        if let Err(e) = step(storage.as_ref(), &live, &mut position).await {
            tracing::warn!(error = %e, "live relay cannot read the finding outbox; retrying");
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            changed = leading.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn step(
    storage: &dyn Storage,
    live: &broadcast::Sender<LiveUpdate>,
    position: &mut Option<i64>,
) -> vigilo_storage::Result<()> {
    let after = match *position {
        Some(p) => p,
        None => {
            let end = storage.finding_changes_end().await?;
            *position = Some(end);
            return Ok(());
        }
    };
    let changes = storage.finding_changes_after(after, PAGE).await?;
    let Some(last) = changes.last() else {
        return Ok(());
    };
    if changes.len() as u32 >= PAGE {
        *position = None;
        let _ = live.send(LiveUpdate::FindingsChanged {
            updated: changes.len() as u64,
        });
        return Ok(());
    }
    *position = Some(last.seq);
    let mut ids: Vec<i64> = changes.iter().map(|c| c.finding_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut findings = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(f) = storage.get_finding(id).await? {
            findings.push(f);
        }
    }
    if !findings.is_empty() {
        let _ = live.send(LiveUpdate::Findings(Arc::new(findings)));
    }
    Ok(())
}
