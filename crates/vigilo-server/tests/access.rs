//! The role matrix, enforced: every path and method of the OpenAPI document
//! is called anonymously, as each role and with each key scope, and the
//! answer must be what `vigilo_auth::matrix` says: `401` for nobody on a
//! protected route, `403` for a principal without the permission, and
//! anything else (the handler ran) for one with it. A route without an
//! entry in the route table fails the document test in `health.rs`.

mod common;

use common::*;
use serde_json::{Value, json};
use vigilo_auth::{Permission, Principal, Role, Scope};

/// A path with its parameters filled by values that exist nowhere, so no
/// handler changes anything that matters.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                if seg.contains("id") {
                    "999999"
                } else {
                    "nothing-here"
                }
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn permission(op: &Value) -> Permission {
    serde_json::from_value(op["x-vigilo-permission"].clone())
        .unwrap_or_else(|_| panic!("operation without x-vigilo-permission: {op}"))
}

#[tokio::test]
async fn every_route_answers_each_principal_as_the_matrix_says() {
    let s = start().await;
    let spec = s.get("/api/openapi.json").await.expect_status(200).clone();
    let mut principals: Vec<(String, Principal, Option<reqwest::Client>)> =
        vec![("anonymous".into(), Principal::Open, None)];
    for role in Role::ALL {
        let name = format!("matrix-{role}");
        let client = s.user_client(&name, role).await;
        let p = Principal::User {
            id: 0,
            name,
            role,
            session: String::new(),
        };
        principals.push((format!("role {role}"), p, Some(client)));
    }
    for scope in Scope::ALL {
        let key = make_key(&s.state, &format!("matrix-{scope}"), &[scope]).await;
        let p = Principal::Key {
            id: 0,
            name: String::new(),
            scopes: vec![scope],
        };
        principals.push((format!("key {scope}"), p, Some(client_with_key(&key))));
    }
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (path, ops) in spec["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("operations") {
            let perm = permission(op);
            // Signing out ends the session; it gets its own test below.
            if path == "/api/v1/auth/logout" {
                continue;
            }
            let url = s.url(&concrete(path));
            let m: reqwest::Method = method.to_uppercase().parse().expect("method");
            for (who, principal, client) in &principals {
                let c = client.clone().unwrap_or_else(|| s.anon.clone());
                let mut req = c.request(m.clone(), &url);
                if matches!(
                    m,
                    reqwest::Method::POST | reqwest::Method::PUT | reqwest::Method::PATCH
                ) {
                    req = req.json(&json!({}));
                }
                let resp = req.send().await.expect("request");
                let status = resp.status().as_u16();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().unwrap_or("").to_string();
                let public = matches!(
                    perm,
                    Permission::Public | Permission::Metrics | Permission::Docs
                );
                let ok = match (client, public) {
                    // Public handlers decide for themselves (a refresh
                    // without a token is 401 invalid_token), but the layer
                    // never refuses them.
                    (_, true) => code != "unauthenticated" && code != "forbidden",
                    (None, false) => status == 401,
                    (Some(_), false) if principal.allows(perm) => status != 401 && status != 403,
                    (Some(_), false) => status == 403,
                };
                if !ok {
                    wrong.push(format!("{method} {path} ({perm}) as {who}: {status}"));
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 300, "only {checked} calls");
    assert!(
        wrong.is_empty(),
        "answers against the matrix:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn the_readme_prints_the_matrix() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    let table = vigilo_auth::matrix::markdown_table();
    assert!(
        readme.contains(&table),
        "README.md lacks the current role matrix; paste:\n{table}"
    );
}

#[tokio::test]
async fn cookies_need_the_csrf_token_and_logout_ends_the_session() {
    let s = start().await;
    s.login_as("cora", Role::Analyst).await;
    let r = s
        .send(
            s.anon
                .post(s.url("/api/v1/auth/login"))
                .json(&json!({"username": "cora", "password": TEST_PASSWORD})),
        )
        .await;
    let body = r.expect_status(200).clone();
    let cookies: Vec<String> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("vigilo_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Strict"),
        "{session}"
    );
    let jar = cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let csrf = body["csrf_token"].as_str().unwrap();
    let put = |token: Option<&str>| {
        let mut req = s
            .anon
            .put(s.url("/api/v1/auth/me/preferences"))
            .header("cookie", &jar)
            .json(&json!({"time_range": "7d", "theme": "dark", "saved_filters": []}));
        if let Some(t) = token {
            req = req.header("x-csrf-token", t);
        }
        req
    };
    s.send(put(None)).await.expect_error(403, "csrf_failed");
    s.send(put(Some("forged")))
        .await
        .expect_error(403, "csrf_failed");
    s.send(put(Some(csrf))).await.expect_status(200);
    // Reads need no token.
    let me = s
        .send(s.anon.get(s.url("/api/v1/auth/me")).header("cookie", &jar))
        .await;
    assert_eq!(me.expect_status(200)["name"], "cora");

    // Sign out: the same token is refused from then on, the refresh too.
    let token = body["token"].as_str().unwrap();
    let bearer = client_with_key(token);
    s.send(bearer.post(s.url("/api/v1/auth/logout")))
        .await
        .expect_status(204);
    s.send(bearer.get(s.url("/api/v1/auth/me")))
        .await
        .expect_error(401, "invalid_token");
    let refresh = json!({"refresh_token": body["refresh_token"]});
    s.post_json("/api/v1/auth/refresh", &refresh)
        .await
        .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_ends_the_session() {
    let s = start().await;
    s.login_as("rae", Role::Viewer).await;
    let login = s
        .send(
            s.anon
                .post(s.url("/api/v1/auth/login"))
                .json(&json!({"username": "rae", "password": TEST_PASSWORD})),
        )
        .await;
    let first = login.expect_status(200)["refresh_token"].clone();
    let r = s
        .post_json("/api/v1/auth/refresh", &json!({"refresh_token": first}))
        .await;
    let second = r.expect_status(200)["refresh_token"].clone();
    assert_ne!(first, second);
    // The first one again: refused, and the session is over for the second.
    s.post_json("/api/v1/auth/refresh", &json!({"refresh_token": first}))
        .await
        .expect_error(401, "invalid_token");
    s.post_json("/api/v1/auth/refresh", &json!({"refresh_token": second}))
        .await
        .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn wrong_passwords_lock_the_account_and_are_audited() {
    let s = start().await;
    s.login_as("lou", Role::Viewer).await;
    let mut codes = Vec::new();
    for _ in 0..6 {
        // Past the growing delays faster than a person would type.
        let r = s
            .send(
                s.anon
                    .post(s.url("/api/v1/auth/login"))
                    .json(&json!({"username": "lou", "password": "not the password at all"})),
            )
            .await;
        codes.push((
            r.status,
            r.code().to_string(),
            r.headers.get("retry-after").is_some(),
        ));
    }
    assert_eq!(codes[0], (401, "invalid_credentials".into(), false));
    assert_eq!(
        codes[5],
        (429, "too_many_attempts".into(), true),
        "{codes:?}"
    );
    // Locked: even the right password waits.
    let r = s
        .send(
            s.anon
                .post(s.url("/api/v1/auth/login"))
                .json(&json!({"username": "lou", "password": TEST_PASSWORD})),
        )
        .await;
    r.expect_error(429, "too_many_attempts");
    let log = s.get("/api/v1/audit-log?action=login_failed").await;
    assert_eq!(log.expect_status(200)["total"], 5);
    // And each failure is an `audit` event rules can watch.
    s.wait_for_detection().await;
    let events = s.get("/api/v1/events?kind=audit&page_size=50").await;
    let failed = events.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["payload"]["action"] == "login_failed")
        .count();
    assert_eq!(failed, 5);
    let findings = s.findings("rule_id=identity.vigilo_failed_sign_ins").await;
    assert_eq!(findings.len(), 1, "{findings:?}");
}

#[tokio::test]
async fn keys_in_the_query_only_on_websocket_ingest_and_revoked_keys_stop() {
    let s = start().await;
    let key = make_key(&s.state, "q", &[Scope::Read]).await;
    let r = s
        .send(
            s.anon
                .get(s.url(&format!("/api/v1/findings?api_key={key}"))),
        )
        .await;
    r.expect_error(401, "unauthenticated");
    let c = client_with_key(&key);
    s.send(c.get(s.url("/api/v1/findings")))
        .await
        .expect_status(200);
    let header = s
        .send(
            s.anon
                .get(s.url("/api/v1/findings"))
                .header("x-api-key", &key),
        )
        .await;
    header.expect_status(200);
    let keys = s.get("/api/v1/api-keys").await;
    let id = keys.expect_status(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "q")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let del = s
        .send(s.client.delete(s.url(&format!("/api/v1/api-keys/{id}"))))
        .await;
    assert_eq!(del.status, 204);
    s.send(c.get(s.url("/api/v1/findings")))
        .await
        .expect_error(401, "invalid_token");
    s.send(
        s.anon
            .get(s.url("/api/v1/findings"))
            .header("authorization", "Bearer vgl_nonsense"),
    )
    .await
    .expect_error(401, "invalid_token");
}

#[tokio::test]
async fn ingest_is_rate_limited_per_key_with_retry_after() {
    let s = start_with(|c, _| c.auth.ingest_requests_per_sec = 1).await;
    let key = make_key(&s.state, "busy", &[Scope::Ingest]).await;
    let busy = client_with_key(&key);
    let other = client_with_key(&make_key(&s.state, "calm", &[Scope::Ingest]).await);
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..4 {
        let r = s
            .send(
                busy.post(s.url("/api/v1/events"))
                    .json(&json!({"message": "x"})),
            )
            .await;
        if r.status == 429 {
            assert_eq!(r.code(), "rate_limited");
            retry = r.headers.get("retry-after").cloned();
        }
        statuses.push(r.status);
    }
    // A burst of two, then refused.
    assert_eq!(&statuses[..2], &[202, 202], "{statuses:?}");
    assert!(statuses[2..].contains(&429), "{statuses:?}");
    assert!(retry.is_some());
    // Another key has its own allowance.
    let r = s
        .send(
            other
                .post(s.url("/api/v1/events"))
                .json(&json!({"message": "y"})),
        )
        .await;
    assert_eq!(r.status, 202);
}

#[tokio::test]
async fn cors_allows_credentials_for_listed_origins_only() {
    let s = start_with(|c, _| c.cors_origins = vec!["http://localhost:5173".into()]).await;
    let preflight = |origin: &str| {
        s.anon
            .request(reqwest::Method::OPTIONS, s.url("/api/v1/findings"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "x-csrf-token,content-type",
            )
    };
    let ok = s.send(preflight("http://localhost:5173")).await;
    assert_eq!(
        ok.headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("http://localhost:5173")
    );
    assert_eq!(
        ok.headers
            .get("access-control-allow-credentials")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let other = s.send(preflight("https://evil.example")).await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
    // A wildcard never goes with credentials.
    let any = start_with(|c, _| c.cors_origins = vec!["*".into()]).await;
    let r = any
        .send(
            any.anon
                .request(reqwest::Method::OPTIONS, any.url("/api/v1/findings"))
                .header("origin", "https://a.example")
                .header("access-control-request-method", "GET"),
        )
        .await;
    assert_eq!(
        r.headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap()),
        Some("*")
    );
    assert!(r.headers.get("access-control-allow-credentials").is_none());
}

#[tokio::test]
async fn answers_carry_the_security_headers() {
    let s = start().await;
    for path in ["/", "/api/v1/findings", "/healthz", "/docs/"] {
        let r = s.get(path).await;
        let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            h("x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(h("x-frame-options").as_deref(), Some("DENY"), "{path}");
        assert!(h("referrer-policy").is_some(), "{path}");
        let csp = h("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && csp.contains("object-src 'none'"),
            "{path}: {csp}"
        );
    }
    let login = s
        .post_json(
            "/api/v1/auth/login",
            &json!({"username": "x", "password": "y"}),
        )
        .await;
    assert_eq!(
        login
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

#[tokio::test]
async fn metrics_and_docs_are_protected_when_configured() {
    let s = start_with(|c, _| {
        c.auth.public_metrics = false;
        c.auth.public_docs = false;
    })
    .await;
    let reader = client_with_key(&make_key(&s.state, "scraper", &[Scope::Read]).await);
    let ingest = client_with_key(&make_key(&s.state, "agent", &[Scope::Ingest]).await);
    for path in ["/metrics", "/api/openapi.json", "/docs/"] {
        s.send(s.anon.get(s.url(path)))
            .await
            .expect_error(401, "unauthenticated");
        s.send(ingest.get(s.url(path)))
            .await
            .expect_error(403, "forbidden");
        let r = s.send(reader.get(s.url(path))).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    // Health and readiness stay public.
    s.send(s.anon.get(s.url("/healthz")))
        .await
        .expect_status(200);
}
