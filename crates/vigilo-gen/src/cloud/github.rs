//! GitHub audit log entries, as the audit log API and audit log streaming
//! deliver them (`@timestamp` and `created_at` in epoch milliseconds).
//!
//! Normal traffic: clones, fetches and pushes, pull requests, workflow runs,
//! team changes; never an action one of SigmaHQ's GitHub rules names.

use chrono::{DateTime, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::{CloudIncident, egress_ip, person, pick, token};

const ORG: &str = "northwind";
const REPOS: [&str; 6] = [
    "api",
    "web",
    "payments-core",
    "terraform",
    "pipelines",
    "handbook",
];

pub(crate) const INCIDENTS: [CloudIncident; 6] = [
    CloudIncident {
        name: "github_pages_made_public",
        rule_title: "GitHub Repository Pages Site Changed to Public",
        rule_id: "0c46d4f4-a2bf-4104-9597-8d653fc2bb55",
    },
    CloudIncident {
        name: "github_two_factor_requirement_disabled",
        rule_title: "Github High Risk Configuration Disabled",
        rule_id: "8622c92d-c00e-463c-b09d-fd06166f6794",
    },
    CloudIncident {
        name: "github_repo_destroyed",
        rule_title: "Github Delete Action Invoked",
        rule_id: "16a71777-0b2e-4db7-9888-9d59cb75200b",
    },
    CloudIncident {
        name: "github_push_protection_bypassed",
        rule_title: "Github Push Protection Bypass Detected",
        rule_id: "02cf536a-cf21-4876-8842-4159c8aee3cc",
    },
    CloudIncident {
        name: "github_secret_scanning_disabled",
        rule_title: "Github Secret Scanning Feature Disabled",
        rule_id: "3883d9a0-fd0f-440f-afbb-445a2a799bb8",
    },
    CloudIncident {
        name: "github_repo_transferred",
        rule_title: "Github Repository/Organization Transferred",
        rule_id: "04ad83ef-1a37-4c10-b57a-81092164bf33",
    },
];

fn entry(
    rng: &mut ChaCha8Rng,
    t: DateTime<Utc>,
    action: &str,
    actor: &str,
    repo: Option<&str>,
) -> Value {
    let ms = t.timestamp_millis();
    let mut e = json!({
        "@timestamp": ms,
        "_document_id": token(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 22),
        "action": action,
        "actor": actor,
        "actor_id": rng.gen_range(1_000_000..90_000_000u64),
        "actor_ip": egress_ip(rng),
        "actor_location": {"country_code": pick(rng, &["NL", "DE", "PT", "US"])},
        "business": "northwind-enterprise",
        "created_at": ms,
        "operation_type": if action.starts_with("git.") { "access" } else { "modify" },
        "org": ORG,
        "org_id": 51234567,
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    });
    if let Some(r) = repo {
        e["repo"] = json!(format!("{ORG}/{r}"));
        e["repo_id"] = json!(rng.gen_range(100_000_000..900_000_000u64));
        e["visibility"] = json!("private");
    }
    e
}

pub(crate) fn normal(rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng).replace('.', "-");
    let repo = *pick(rng, &REPOS);
    let action = match rng.gen_range(0..100) {
        0..=29 => "git.clone",
        30..=49 => "git.fetch",
        50..=64 => "git.push",
        65..=74 => "pull_request.create",
        75..=82 => "pull_request.merge",
        83..=90 => "workflows.completed_workflow_run",
        91..=94 => "pull_request_review.submit",
        _ => "team.add_repository",
    };
    let mut e = entry(rng, t, action, &who, Some(repo));
    if action.starts_with("git.") {
        e["transport_protocol_name"] = json!("ssh");
        e["repository_public"] = json!(false);
    }
    e
}

pub(crate) fn incident(k: usize, rng: &mut ChaCha8Rng, t: DateTime<Utc>) -> Value {
    let who = person(rng).replace('.', "-");
    let repo = *pick(rng, &REPOS);
    match k {
        0 => {
            let mut e = entry(rng, t, "repo.pages_public", &who, Some(repo));
            e["visibility"] = json!("public");
            e
        }
        1 => entry(rng, t, "org.disable_two_factor_requirement", &who, None),
        2 => entry(rng, t, "repo.destroy", &who, Some(repo)),
        3 => entry(
            rng,
            t,
            "repository_secret_scanning_push_protection.bypass",
            &who,
            Some(repo),
        ),
        4 => entry(
            rng,
            t,
            "repository_secret_scanning.disable",
            &who,
            Some(repo),
        ),
        _ => entry(rng, t, "repo.transfer_outgoing", &who, Some(repo)),
    }
}
