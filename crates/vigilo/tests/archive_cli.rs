//! `vigilo archive ls` and `vigilo archive replay` through the real binary:
//! a server configured from the environment archives what it stored, `ls`
//! lists it, and `replay` into a second server stores it once.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{ServerProcess, api_key, bin, client_with_key, get_json};
use serde_json::{Value, json};

fn vigilo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("VIGILO_API_KEY")
        .output()
        .expect("run vigilo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ls_lists_the_archive_and_replay_stores_it_once() {
    let store = tempfile::tempdir().unwrap();
    let url = format!("file://{}", store.path().display());
    let a_dir = tempfile::tempdir().unwrap();
    let a_key = api_key(a_dir.path(), "admin");
    let env = [
        ("VIGILO_ARCHIVE__URL", url.as_str()),
        ("VIGILO_ARCHIVE__MAX_FILE_AGE", "100ms"),
    ];
    let a = ServerProcess::start_with_env(a_dir.path(), &[], &env);
    let events: Vec<Value> = (0..50)
        .map(|i| json!({"timestamp": "2025-06-02T10:00:00Z", "service": "checkout", "message": format!("ok {i}")}))
        .collect();
    let r = client_with_key(&a_key)
        .post(format!("{}/api/v1/events", a.url))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    a.signal(libc::SIGTERM);
    assert!(a.wait(Duration::from_secs(60)).success());

    let (ok, out, err) = vigilo(&["archive", "ls", "--url", &url, "--format", "json"]);
    assert!(ok, "{err}");
    let files: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(!files.is_empty(), "{out}");
    assert_eq!(files[0]["first_id"], json!(1), "{out}");
    let (ok, out, err) = vigilo(&["archive", "ls", "--url", &url]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("{} files", files.len())), "{out}");

    let b_dir = tempfile::tempdir().unwrap();
    let b_key = api_key(b_dir.path(), "admin");
    let env = [
        ("VIGILO_ARCHIVE__URL", url.as_str()),
        ("VIGILO_ARCHIVE__WRITE", "false"),
    ];
    let b = ServerProcess::start_with_env(b_dir.path(), &[], &env);
    let now = chrono::Utc::now();
    let from = (now - chrono::Duration::hours(2)).to_rfc3339();
    let to = (now + chrono::Duration::hours(1)).to_rfc3339();
    let replay = [
        "archive",
        "replay",
        "--server",
        &b.url,
        "--from",
        &from,
        "--to",
        &to,
        "--api-key",
        &b_key,
    ];
    let (ok, out, err) = vigilo(&replay);
    assert!(ok, "{err}");
    assert!(
        out.contains("50 events read, 50 stored, 0 already"),
        "{out}"
    );
    let (ok, out, err) = vigilo(&replay);
    assert!(ok, "{err}");
    assert!(
        out.contains("50 events read, 0 stored, 50 already"),
        "{out}"
    );
    let client = client_with_key(&b_key);
    let page = get_json(&client, &format!("{}/api/v1/events?page_size=1", b.url)).await;
    assert_eq!(page["total"], json!(50), "{page}");

    // Without a key: refused, the message shown.
    let (ok, _, err) = vigilo(&replay[..8]);
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
}
