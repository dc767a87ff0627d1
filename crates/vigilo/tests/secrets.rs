//! No password, API key or token in the server's log: a whole session of
//! sign-ins (right and wrong), refreshes, key use in every place a key is
//! accepted, and WebSocket ingest, with Vigilo's own crates logging at
//! debug; then the log is searched for every secret that went over the wire.

mod common;

use std::ffi::OsString;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{ServerProcess, api_key, bin, client_with_key};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

const PASSWORD: &str = "quiet orchard lantern";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut create = Command::new(bin())
        .args([
            "user",
            "create",
            "--username",
            "sam",
            "--role",
            "admin",
            "--password-stdin",
            "--data-dir",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(create.wait().unwrap().success());
    let key = api_key(&data, "ingest,read");

    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let args: Vec<OsString> = ["serve", "--listen", "127.0.0.1:0", "--data-dir"]
        .iter()
        .map(OsString::from)
        .chain([data.clone().into_os_string()])
        .collect();
    let server = ServerProcess::spawn_with_stderr(
        &args,
        &[(
            "RUST_LOG",
            "info,vigilo=debug,vigilo_server=debug,vigilo_auth=debug,vigilo_storage_sqlite=debug",
        )],
        Stdio::from(log),
    );
    let url = server.url.clone();
    let anon = reqwest::Client::new();

    let mut secrets = vec![PASSWORD.to_string(), key.clone()];
    // Wrong, then right.
    let wrong = anon
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "sam", "password": "not-the-password-at-all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    secrets.push("not-the-password-at-all".into());
    let login: Value = anon
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"username": "sam", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    secrets.push(token.clone());
    secrets.push(login["refresh_token"].as_str().unwrap().to_string());
    secrets.push(login["csrf_token"].as_str().unwrap().to_string());
    let renewed: Value = anon
        .post(format!("{url}/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": login["refresh_token"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(renewed["token"].as_str().unwrap().to_string());
    secrets.push(renewed["refresh_token"].as_str().unwrap().to_string());

    // A key made through the API, and the key in each accepted place.
    let admin = client_with_key(&token);
    let made: Value = admin
        .post(format!("{url}/api/v1/api-keys"))
        .json(&json!({"name": "made", "scopes": ["read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(made["secret"].as_str().unwrap().to_string());
    let c = client_with_key(&key);
    assert!(
        c.get(format!("{url}/api/v1/findings"))
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let r = anon
        .get(format!("{url}/api/v1/findings"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let bad_key = "vgl_0badc0de_thisisnotavalidsecretatall";
    secrets.push(bad_key.into());
    let r = anon
        .get(format!("{url}/api/v1/findings"))
        .header("authorization", format!("Bearer {bad_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let ws_url = format!(
        "{}/ws/ingest?api_key={key}",
        url.replacen("http://", "ws://", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        json!({"source_id": "s1", "metric_name": "cpu", "value": 3}).to_string(),
    ))
    .await
    .unwrap();
    let ack = ws.next().await.unwrap().unwrap();
    assert!(ack.to_text().unwrap().contains("\"ok\":true"), "{ack:?}");
    drop(ws);
    let r = anon
        .post(format!("{url}/api/v1/auth/logout"))
        .header(
            "authorization",
            format!("Bearer {}", renewed["token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);

    server.signal(libc::SIGTERM);
    server.wait(std::time::Duration::from_secs(30));
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("listening"), "the log was written: {text}");
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret is in the log: {s}\n{text}"
        );
        // Nor any long piece of one (a truncated or split value).
        let piece = &s[..s.len().min(16)];
        assert!(
            !text.contains(piece),
            "part of a secret is in the log: {piece}"
        );
    }
}
