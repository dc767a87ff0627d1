//! TLS from `[tls]`: a real server on 127.0.0.1 with a self-signed
//! certificate made here, reached over https by a client that trusts it;
//! start-time refusals for unusable files; the exposure check.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rustls::pki_types::pem::PemObject;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigilo_server::auth::TlsConfig;
use vigilo_server::{Config, Server};
use vigilo_storage::{AuditQuery, NewUser};

/// A self-signed certificate for localhost and 127.0.0.1, written as PEM
/// into `dir`; returns the certificate's PEM and the [tls] settings.
fn self_signed(dir: &Path) -> (String, TlsConfig) {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("generate certificate");
    let cert_pem = made.cert.pem();
    let cert_file = dir.join("server.crt");
    let key_file = dir.join("server.key");
    std::fs::write(&cert_file, &cert_pem).expect("write certificate");
    std::fs::write(&key_file, made.signing_key.serialize_pem()).expect("write key");
    (
        cert_pem,
        TlsConfig {
            cert_file: Some(cert_file),
            key_file: Some(key_file),
        },
    )
}

/// A client that trusts only `cert_pem`.
fn trusting(cert_pem: &str) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes()).expect("parse certificate");
    reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(cert)
        .timeout(Duration::from_secs(30))
        .no_gzip()
        .build()
        .expect("client")
}

/// `Server::start` over a fresh database in `dir`.
async fn try_start(dir: &Path, config: Config) -> Result<Server, String> {
    Server::start(config, common::open_storage(dir).await)
        .await
        .map_err(|e| e.to_string())
}

fn config_in(dir: &Path) -> Config {
    common::test_config(dir)
}

/// A TLS server (certificate under the test's temp dir) and a client that
/// trusts its certificate, with `base` pointing at https.
async fn tls_server() -> common::TestServer {
    let mut cert = None;
    let mut s = common::start_with(|c, dir| {
        let (pem, tls) = self_signed(dir);
        c.tls = tls;
        cert = Some(pem);
    })
    .await;
    let pem = cert.expect("certificate made");
    s.base = s.base.replacen("http://", "https://", 1);
    s.client = trusting(&pem);
    s
}

#[tokio::test]
async fn serves_https_with_secure_cookies_and_hsts() {
    let mut s = tls_server().await;
    assert!(s.base.starts_with("https://127.0.0.1:"), "{}", s.base);

    let health = s.get("/healthz").await;
    health.expect_status(200);
    let hsts = health
        .headers
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(hsts.contains("max-age="), "HSTS: {hsts:?}");

    let hash = vigilo_auth::password::hash("correct horse battery").expect("hash");
    s.state
        .storage
        .create_user(NewUser {
            username: "ann".into(),
            role: "admin".into(),
            email: None,
            source: "password".into(),
            oidc_subject: None,
            password_hash: Some(hash),
            created_at: Utc::now(),
        })
        .await
        .expect("create user");
    let login = s
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": "ann", "password": "correct horse battery"}),
        )
        .await;
    login.expect_status(200);
    let cookies: Vec<&str> = login
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(!cookies.is_empty(), "no cookies: {}", login.text);
    for c in &cookies {
        assert!(
            c.split(';').any(|p| p.trim() == "Secure"),
            "cookie without Secure: {c}"
        );
    }
    assert!(
        login
            .headers
            .get("strict-transport-security")
            .is_some_and(|v| !v.is_empty()),
        "no HSTS on the login answer"
    );

    // Handlers still see the client's address through the TLS listener.
    let audit = s
        .state
        .storage
        .list_audit(&AuditQuery {
            action: Some("login".into()),
            actor: None,
            page: 1,
            page_size: 10,
        })
        .await
        .expect("audit");
    let addresses: Vec<Option<String>> = audit.items.iter().map(|e| e.address.clone()).collect();
    assert!(
        addresses
            .iter()
            .any(|a| a.as_deref().is_some_and(|a| a.starts_with("127.0.0.1"))),
        "login audit addresses: {addresses:?}"
    );

    s.stop().await;
}

#[tokio::test]
async fn plain_http_to_the_tls_port_fails() {
    let mut s = tls_server().await;
    // A client that connects and never starts its handshake holds up
    // nobody else.
    let silent = tokio::net::TcpStream::connect(s.base.trim_start_matches("https://"))
        .await
        .expect("connect");
    let plain = s.base.replacen("https://", "http://", 1);
    let r = common::client()
        .get(format!("{plain}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(
        r.is_err(),
        "plain HTTP answered: {:?}",
        r.map(|r| r.status())
    );
    // The server goes on serving TLS clients.
    s.get("/healthz").await.expect_status(200);
    drop(silent);
    s.stop().await;
}

type ClientTls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A raw TLS connection to the test server, offering `alpn`.
async fn connect_raw(s: &common::TestServer, alpn: &[&[u8]]) -> ClientTls {
    let addr = s.base.trim_start_matches("https://").to_string();
    let pem = std::fs::read(s.dir.path().join("server.crt")).expect("read certificate");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(c.expect("pem")).expect("add root");
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("handshake")
}

#[tokio::test]
async fn offers_http2_by_alpn() {
    let mut s = tls_server().await;
    let mut tls = connect_raw(&s, &[b"h2"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    // The HTTP/2 preface and an empty SETTINGS frame; the server answers
    // with its own SETTINGS frame (type 4 on stream 0).
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .expect("preface");
    tls.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0])
        .await
        .expect("settings");
    let mut head = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(10), tls.read_exact(&mut head))
        .await
        .expect("answer in time")
        .expect("read frame header");
    assert_eq!(head[3], 4, "first frame is SETTINGS: {head:?}");
    assert_eq!(&head[5..9], &[0, 0, 0, 0], "on stream 0: {head:?}");
    drop(tls);
    s.stop().await;
}

#[tokio::test]
async fn shutdown_drains_a_request_in_flight_and_stops_accepting() {
    let mut s = tls_server().await;
    let addr = s.base.trim_start_matches("https://").to_string();
    let mut tls = connect_raw(&s, &[b"http/1.1"]).await;
    let body = br#"{"username": "nobody", "password": "not this one"}"#;
    let (first, rest) = body.split_at(10);
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("head");
    tls.write_all(first).await.expect("first part");
    tls.flush().await.expect("flush");
    // Let the server take the request before the shutdown begins.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let finish = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The shutdown has begun: no new connections...
        let refused = tokio::net::TcpStream::connect(&addr).await;
        // ...but the request in flight completes.
        tls.write_all(rest).await.expect("rest");
        tls.flush().await.expect("flush");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answer))
            .await
            .expect("answer in time");
        (refused.is_err(), read.is_ok(), answer)
    };
    let ((), (refused, read, answer)) = tokio::join!(s.stop(), finish);
    let answer = String::from_utf8_lossy(&answer);
    assert!(refused, "a new connection was accepted during the shutdown");
    assert!(read, "reading the answer failed: {answer}");
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "in-flight request: {answer}"
    );
    assert!(answer.contains("invalid_credentials"), "{answer}");
}

/// [tls] pointing at `cert` and `key`.
fn tls_files(cert: &Path, key: &Path) -> TlsConfig {
    TlsConfig {
        cert_file: Some(cert.to_path_buf()),
        key_file: Some(key.to_path_buf()),
    }
}

#[tokio::test]
async fn unusable_files_fail_the_start_naming_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, good) = self_signed(dir.path());
    let cert = good.cert_file.clone().expect("cert");
    let key = good.key_file.clone().expect("key");

    let not_pem = dir.path().join("garbage.key");
    std::fs::write(&not_pem, "this is no key\n").expect("write");
    let not_a_key = dir.path().join("cert-as-key.pem");
    std::fs::copy(&cert, &not_a_key).expect("copy");
    let broken = dir.path().join("broken.key");
    std::fs::write(
        &broken,
        "-----BEGIN PRIVATE KEY-----\nAAECAwQF\n-----END PRIVATE KEY-----\n",
    )
    .expect("write");
    let other = rcgen::KeyPair::generate().expect("key pair");
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, other.serialize_pem()).expect("write");
    let missing = dir.path().join("missing.key");

    let cases: Vec<(&str, TlsConfig, PathBuf, &str)> = vec![
        (
            "missing",
            tls_files(&cert, &missing),
            missing.clone(),
            "cannot read key file",
        ),
        (
            "not PEM",
            tls_files(&cert, &not_pem),
            not_pem.clone(),
            "is not valid PEM",
        ),
        (
            "no key in it",
            tls_files(&cert, &not_a_key),
            not_a_key.clone(),
            "holds no private key",
        ),
        (
            "broken key",
            tls_files(&cert, &broken),
            broken.clone(),
            "unusable private key",
        ),
        (
            "another certificate's key",
            tls_files(&cert, &other_key),
            other_key.clone(),
            "does not match the certificate",
        ),
        (
            "key as certificate",
            tls_files(&key, &key),
            key.clone(),
            "holds no CERTIFICATE section",
        ),
    ];
    for (what, tls, named, says) in cases {
        let run = tempfile::tempdir().expect("temp dir");
        let mut config = config_in(run.path());
        config.tls = tls;
        let e = match try_start(run.path(), config).await {
            Ok(_) => panic!("{what}: the server started"),
            Err(e) => e,
        };
        assert!(
            e.contains(&named.display().to_string()),
            "{what}: error does not name {}: {e}",
            named.display()
        );
        assert!(e.contains(says), "{what}: {e}");
    }

    // One file without the other is refused too.
    let run = tempfile::tempdir().expect("temp dir");
    let mut config = config_in(run.path());
    config.tls = TlsConfig {
        cert_file: Some(cert),
        key_file: None,
    };
    let e = try_start(run.path(), config)
        .await
        .err()
        .unwrap_or_default();
    assert!(e.contains("tls.key_file"), "{e}");
}

#[tokio::test]
async fn exposed_without_tls_needs_allow_insecure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = config_in(dir.path());
    config.listen = "0.0.0.0:0".parse().expect("listen address");
    let e = try_start(dir.path(), config.clone())
        .await
        .err()
        .unwrap_or_default();
    assert!(e.contains("without TLS"), "{e}");
    assert!(e.contains("allow_insecure"), "{e}");

    config.auth.allow_insecure = true;
    let dir = tempfile::tempdir().expect("temp dir");
    config.data_dir = dir.path().to_path_buf();
    let server = try_start(dir.path(), config.clone())
        .await
        .expect("starts with allow_insecure");
    assert!(server.local_addr().ip().is_unspecified());
    drop(server);

    // With TLS it starts on 0.0.0.0 without the setting.
    let dir = tempfile::tempdir().expect("temp dir");
    config.data_dir = dir.path().to_path_buf();
    let (_, tls) = self_signed(dir.path());
    config.auth.allow_insecure = false;
    config.tls = tls;
    let server = try_start(dir.path(), config)
        .await
        .expect("starts with TLS");
    assert!(server.local_addr().ip().is_unspecified());
}
