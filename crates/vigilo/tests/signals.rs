//! SIGHUP reloads rules from the configured paths; a broken file keeps the
//! running rules.

mod common;

use std::time::{Duration, Instant};

use common::{ServerProcess, admin_client, get_json, repo_root};

/// Loaded rules that produce findings (the list also holds helper rules).
async fn rule_count(client: &reqwest::Client, url: &str) -> usize {
    get_json(client, &format!("{url}/api/v1/rules")).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|r| r["emits_findings"] == true)
        .count()
}

async fn wait_for_count(client: &reqwest::Client, url: &str, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = rule_count(client, url).await;
        if n == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "rule count stayed {n}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_rules_and_keeps_them_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let packs = repo_root().join("rules/anomaly");
    std::fs::copy(packs.join("metrics.yml"), rules.join("metrics.yml")).unwrap();
    let client = admin_client(&dir.path().join("data"));
    let server = ServerProcess::start(
        &dir.path().join("data"),
        &["--rules", rules.to_str().unwrap()],
    );
    let before = rule_count(&client, &server.url).await;
    assert!(before > 0);

    std::fs::copy(
        packs.join("transactions.yml"),
        rules.join("transactions.yml"),
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    wait_for_count(&client, &server.url, before + 2).await;

    std::fs::write(rules.join("broken.yml"), "title: [unclosed\n").unwrap();
    server.signal(libc::SIGHUP);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rule_count(&client, &server.url).await,
        before + 2,
        "old rules kept"
    );

    server.signal(libc::SIGTERM);
    let status = tokio::task::spawn_blocking(move || server.wait(Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
