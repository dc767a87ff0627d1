//! Single sign-on end to end: a real server and a small OIDC issuer, both
//! on 127.0.0.1, and a client that follows the redirects itself and keeps
//! cookies as a browser would.

mod common;
#[path = "common/oidc_issuer.rs"]
mod oidc_issuer;

use std::collections::HashMap;

use oidc_issuer::{CLIENT_ID, CLIENT_SECRET, Identity, Issuer, Misbehave};
use serde_json::{Value, json};
use vigilo_auth::oidc::{ClientSecret, ProviderConfig, RoleRule};

/// A browser: no automatic redirects, a cookie jar (by name; every
/// server here is 127.0.0.1, and browsers do not split cookies by port).
struct Browser {
    http: reqwest::Client,
    jar: HashMap<String, String>,
}

/// One hop: status, where it redirects, the cookies it set.
struct Hop {
    status: u16,
    location: String,
    set_cookies: Vec<String>,
    body: String,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar: HashMap::new(),
        }
    }

    async fn get(&mut self, url: &str) -> Hop {
        let mut req = self.http.get(url);
        if !self.jar.is_empty() {
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", cookies.join("; "));
        }
        let r = req.send().await.expect("request sent");
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let set_cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let gone = value.is_empty() || c.contains("Max-Age=0");
            if gone {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_string(), value.to_string());
            }
        }
        let body = r.text().await.unwrap_or_default();
        Hop {
            status,
            location,
            set_cookies,
            body,
        }
    }

    /// Sign in at `provider` on `base`; returns where the callback sent
    /// the browser.
    async fn sign_in(&mut self, base: &str, provider: &str) -> Hop {
        let login = self
            .get(&format!("{base}/api/v1/auth/oidc/{provider}/login"))
            .await;
        assert_eq!(login.status, 303, "login: {}", login.body);
        assert!(
            self.jar.contains_key("vigilo_oidc"),
            "login sets the pending sign-in cookie: {:?}",
            login.set_cookies
        );
        let pending = login
            .set_cookies
            .iter()
            .find(|c| c.starts_with("vigilo_oidc="))
            .expect("pending cookie");
        for attr in ["HttpOnly", "SameSite=Lax", "Path=/api/v1/auth/oidc"] {
            assert!(pending.contains(attr), "{pending} lacks {attr}");
        }
        let approved = self.get(&login.location).await;
        assert_eq!(approved.status, 303, "issuer: {}", approved.body);
        assert!(
            approved
                .location
                .starts_with(&format!("{base}/api/v1/auth/oidc/{provider}/callback?")),
            "{}",
            approved.location
        );
        self.get(&approved.location).await
    }

    async fn me(&self, base: &str) -> (u16, Value) {
        let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let r = self
            .http
            .get(format!("{base}/api/v1/auth/me"))
            .header("cookie", cookies.join("; "))
            .send()
            .await
            .expect("me");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn rule(v: Value) -> RoleRule {
    serde_json::from_value(v).expect("rule")
}

fn provider(issuer_url: &str) -> ProviderConfig {
    let mut p = ProviderConfig::new("test", "Test SSO", issuer_url, CLIENT_ID);
    p.client_secret = Some(ClientSecret::new(CLIENT_SECRET));
    p.roles = vec![
        rule(json!({"role": "admin", "email": "boss@example.com"})),
        rule(json!({"role": "analyst", "email_domain": "example.com"})),
        rule(json!({"role": "viewer", "group": "secops"})),
    ];
    p
}

async fn server_for(issuer: &Issuer) -> common::TestServer {
    let p = provider(&issuer.url);
    common::start_with(move |c, _| {
        c.auth.enabled = true;
        c.auth.oidc = vec![p];
    })
    .await
}

async fn oidc_users(s: &common::TestServer) -> Vec<vigilo_storage::UserRecord> {
    s.state
        .storage
        .list_users()
        .await
        .expect("users")
        .into_iter()
        .filter(|u| u.source == "oidc")
        .collect()
}

#[tokio::test]
async fn sign_in_creates_the_user_maps_the_role_and_finds_them_again() {
    let issuer = Issuer::start().await;
    let s = server_for(&issuer).await;

    let config = s.get("/api/v1/auth/config").await;
    assert_eq!(
        config.expect_status(200)["sso"],
        json!([{"id": "test", "name": "Test SSO", "login_url": "/api/v1/auth/oidc/test/login"}])
    );

    issuer.sign_in_as(Identity::new("sub-ana", "Ana@Example.com"));
    let mut b = Browser::new();
    let done = b.sign_in(&s.base, "test").await;
    assert_eq!(
        (done.status, done.location.as_str()),
        (303, "/"),
        "{}",
        done.body
    );
    assert!(
        b.jar.contains_key("vigilo_session"),
        "{:?}",
        done.set_cookies
    );
    assert!(b.jar.contains_key("vigilo_csrf"));
    assert!(
        !b.jar.contains_key("vigilo_oidc"),
        "the pending cookie is cleared"
    );

    // What the issuer was asked: code flow, PKCE S256, a nonce, a state.
    let asked = issuer.last_authorize();
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["code_challenge_method"], "S256");
    assert!(asked["code_challenge"].len() >= 43);
    assert!(asked["nonce"].len() >= 16 && asked["state"].len() >= 16);
    assert_eq!(asked["scope"], "openid email profile");

    let (status, me) = b.me(&s.base).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["principal"], "user");
    assert_eq!(me["role"], "analyst");
    assert_eq!(me["name"], "ana@example.com");
    let first_id = me["id"].clone();

    let users = oidc_users(&s).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].oidc_subject.as_deref(), Some("test:sub-ana"));
    assert_eq!(users[0].password_hash, None);

    // `next` takes the browser back where it was, on this site only.
    for (next, to) in [
        ("/findings?status=open", "/findings?status=open"),
        ("//evil.example", "/"),
    ] {
        let mut b = Browser::new();
        let url = format!(
            "{}/api/v1/auth/oidc/test/login?next={}",
            s.base,
            next.replace('?', "%3F").replace('=', "%3D")
        );
        let login = b.get(&url).await;
        let approved = b.get(&login.location).await;
        assert_eq!(b.get(&approved.location).await.location, to);
    }

    // A second sign-in, from another browser, finds the same user.
    let mut again = Browser::new();
    let done = again.sign_in(&s.base, "test").await;
    assert_eq!(done.location, "/");
    let (_, me) = again.me(&s.base).await;
    assert_eq!(me["id"], first_id);
    assert_eq!(oidc_users(&s).await.len(), 1);

    // Groups: someone outside the domains, in `secops`, is a viewer; the
    // first matching rule wins for the boss.
    issuer.sign_in_as(Identity {
        groups: vec!["staff".into(), "secops".into()],
        ..Identity::new("sub-vic", "vic@elsewhere.org")
    });
    let mut vic = Browser::new();
    assert_eq!(vic.sign_in(&s.base, "test").await.location, "/");
    assert_eq!(vic.me(&s.base).await.1["role"], "viewer");
    issuer.sign_in_as(Identity::new("sub-boss", "boss@example.com"));
    let mut boss = Browser::new();
    assert_eq!(boss.sign_in(&s.base, "test").await.location, "/");
    assert_eq!(boss.me(&s.base).await.1["role"], "admin");
    assert_eq!(oidc_users(&s).await.len(), 3);

    // The rules are read at every sign-in. The boss's address changes: the
    // same user (same subject), now an analyst, whose admin session ended.
    issuer.sign_in_as(Identity::new("sub-boss", "boss.old@example.com"));
    let mut boss2 = Browser::new();
    assert_eq!(boss2.sign_in(&s.base, "test").await.location, "/");
    let (_, me) = boss2.me(&s.base).await;
    assert_eq!(me["role"], "analyst");
    assert_eq!(me["name"], "boss@example.com", "the username stays");
    assert_eq!(boss.me(&s.base).await.0, 401, "the admin session ended");
    // Out of the group, no rule admits Vic any more.
    issuer.sign_in_as(Identity::new("sub-vic", "vic@elsewhere.org"));
    let hop = Browser::new().sign_in(&s.base, "test").await;
    assert_eq!(hop.location, "/login?error=oidc_role_denied");
    assert_eq!(oidc_users(&s).await.len(), 3);
    let users = oidc_users(&s).await;
    let boss_user = users
        .iter()
        .find(|u| u.oidc_subject.as_deref() == Some("test:sub-boss"))
        .expect("boss");
    assert_eq!(
        (boss_user.role.as_str(), boss_user.email.as_deref()),
        ("analyst", Some("boss.old@example.com"))
    );
}

#[tokio::test]
async fn refusals_sign_nobody_in() {
    let issuer = Issuer::start().await;
    let s = server_for(&issuer).await;
    let refused = |hop: &Hop, code: &str| {
        assert_eq!(hop.status, 303, "{}", hop.body);
        assert_eq!(hop.location, format!("/login?error={code}"));
        assert!(
            !hop.set_cookies
                .iter()
                .any(|c| c.starts_with("vigilo_session=") && !c.starts_with("vigilo_session=;")),
            "no session: {:?}",
            hop.set_cookies
        );
    };

    // Matches no rule, and there is no default role.
    issuer.sign_in_as(Identity::new("sub-eve", "eve@elsewhere.org"));
    let hop = Browser::new().sign_in(&s.base, "test").await;
    refused(&hop, "oidc_role_denied");
    // An address in the domain that the provider did not verify.
    issuer.sign_in_as(Identity {
        email_verified: Some(false),
        ..Identity::new("sub-mal", "mallory@example.com")
    });
    let hop = Browser::new().sign_in(&s.base, "test").await;
    refused(&hop, "oidc_role_denied");
    assert!(oidc_users(&s).await.is_empty());

    // The issuer misbehaves.
    issuer.sign_in_as(Identity::new("sub-ana", "ana@example.com"));
    for how in [
        Misbehave::WrongAudience,
        Misbehave::Expired,
        Misbehave::BadSignature,
        Misbehave::WrongNonce,
        Misbehave::WrongIssuer,
    ] {
        issuer.misbehave(how);
        let hop = Browser::new().sign_in(&s.base, "test").await;
        assert_eq!(hop.location, "/login?error=oidc_token_invalid", "{how:?}");
        refused(&hop, "oidc_token_invalid");
    }
    assert!(oidc_users(&s).await.is_empty());
    issuer.misbehave(Misbehave::No);

    // A state that is not the one sent: refused before the code is used.
    let tokens_before = issuer.token_requests();
    let mut b = Browser::new();
    let login = b.get(&s.url("/api/v1/auth/oidc/test/login")).await;
    let approved = b.get(&login.location).await;
    let forged = approved
        .location
        .split('&')
        .map(|part| {
            if part.starts_with("state=") {
                "state=forged".to_string()
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&");
    refused(&b.get(&forged).await, "oidc_state_mismatch");
    // The pending sign-in is gone: the real state no longer works either.
    refused(&b.get(&approved.location).await, "oidc_state_mismatch");

    // A callback in a browser that did not start the sign-in (login CSRF).
    let mut victim = Browser::new();
    let mut attacker = Browser::new();
    let login = attacker.get(&s.url("/api/v1/auth/oidc/test/login")).await;
    let approved = attacker.get(&login.location).await;
    refused(&victim.get(&approved.location).await, "oidc_state_mismatch");
    assert_eq!(
        issuer.token_requests(),
        tokens_before,
        "no code was exchanged"
    );

    // A callback used twice works once.
    let mut b = Browser::new();
    let done = b.sign_in(&s.base, "test").await;
    assert_eq!(done.location, "/");
    let login = b.get(&s.url("/api/v1/auth/oidc/test/login")).await;
    let approved = b.get(&login.location).await;
    assert_eq!(b.get(&approved.location).await.location, "/");
    let mut replay = Browser::new();
    replay.jar = b.jar.clone();
    refused(&replay.get(&approved.location).await, "oidc_state_mismatch");

    // A callback whose query does not parse.
    let hop = Browser::new()
        .get(&s.url("/api/v1/auth/oidc/test/callback?code=a&code=b"))
        .await;
    assert_eq!(hop.location, "/login?error=oidc_state_mismatch");

    // A provider nobody configured.
    let hop = Browser::new()
        .get(&s.url("/api/v1/auth/oidc/nope/login"))
        .await;
    assert_eq!(hop.location, "/login?error=unknown_provider");
}

#[tokio::test]
async fn a_provider_that_is_down_does_not_stop_the_server() {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let p = provider(&format!("http://{closed}"));
    let s = common::start_with(move |c, _| {
        c.auth.enabled = true;
        c.auth.oidc = vec![p];
    })
    .await;
    assert_eq!(s.get("/healthz").await.status, 200);
    assert_eq!(
        s.get("/api/v1/auth/config").await.expect_status(200)["sso"][0]["id"],
        "test"
    );
    let hop = Browser::new()
        .get(&s.url("/api/v1/auth/oidc/test/login"))
        .await;
    assert_eq!(hop.status, 303);
    assert_eq!(hop.location, "/login?error=oidc_provider_unavailable");

    // The provider comes up: a later sign-in discovers it.
    let issuer = Issuer::start_at(&closed.to_string()).await;
    issuer.sign_in_as(Identity::new("sub-ana", "ana@example.com"));
    let deadline = std::time::Instant::now() + common::DEADLINE;
    loop {
        let mut b = Browser::new();
        let login = b.get(&s.url("/api/v1/auth/oidc/test/login")).await;
        if login.location.starts_with(&issuer.url) {
            let approved = b.get(&login.location).await;
            assert_eq!(b.get(&approved.location).await.location, "/");
            assert_eq!(b.me(&s.base).await.1["role"], "analyst");
            break;
        }
        assert_eq!(login.location, "/login?error=oidc_provider_unavailable");
        assert!(std::time::Instant::now() < deadline, "never discovered");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
