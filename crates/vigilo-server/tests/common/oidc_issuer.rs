//! A small OpenID Connect issuer for tests, on 127.0.0.1:0: discovery,
//! JWKS, an authorization endpoint that approves at once (as whoever the
//! test says signs in next) and a token endpoint that checks the PKCE
//! verifier and answers with an RS256-signed ID token. It can be told to
//! misbehave: a wrong audience, an expired token, a signature by a key that
//! is not in its JWKS.
//!
//! The keys are throwaway test keys (tests/fixtures/README.md).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, EndUserEmail, IdToken, IdTokenClaims, IssuerUrl,
    JsonWebKeyId, Nonce, PkceCodeChallenge, PkceCodeVerifier, PrivateSigningKey, StandardClaims,
    SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const KEY_PEM: &str = include_str!("../fixtures/oidc-issuer-key.pem");
const OTHER_KEY_PEM: &str = include_str!("../fixtures/oidc-other-key.pem");
const KID: &str = "test-key-1";

/// The client the issuer knows.
pub const CLIENT_ID: &str = "vigilo-test";
pub const CLIENT_SECRET: &str = "test-client-secret";
/// `Basic base64("vigilo-test:test-client-secret")`, as a client sends
/// its credentials to the token endpoint.
const CLIENT_BASIC: &str = "Basic dmlnaWxvLXRlc3Q6dGVzdC1jbGllbnQtc2VjcmV0";

/// Who the next approval signs in as.
#[derive(Debug, Clone)]
pub struct Identity {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(sub: &str, email: &str) -> Identity {
        Identity {
            sub: sub.into(),
            email: Some(email.into()),
            email_verified: Some(true),
            groups: Vec::new(),
        }
    }
}

/// How the token endpoint misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehave {
    /// A correct ID token.
    No,
    /// The ID token is for another client.
    WrongAudience,
    /// The ID token expired ten minutes ago.
    Expired,
    /// The ID token is signed with a key the JWKS does not hold (same key id).
    BadSignature,
    /// The ID token carries another nonce than the one asked for.
    WrongNonce,
    /// The ID token names another issuer.
    WrongIssuer,
}

struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    identity: Identity,
}

struct Inner {
    url: String,
    key: CoreRsaPrivateSigningKey,
    other_key: CoreRsaPrivateSigningKey,
    next: Mutex<Identity>,
    misbehave: Mutex<Misbehave>,
    codes: Mutex<HashMap<String, Grant>>,
    /// What each request to the authorization endpoint asked for.
    authorize_requests: Mutex<Vec<HashMap<String, String>>>,
    token_requests: Mutex<u32>,
}

pub struct Issuer {
    pub url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Issuer {
    pub async fn start() -> Issuer {
        Issuer::start_at("127.0.0.1:0").await
    }

    /// On a given address (`127.0.0.1:<port>`).
    pub async fn start_at(addr: &str) -> Issuer {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind issuer");
        let addr = listener.local_addr().expect("issuer address");
        let url = format!("http://{addr}");
        let kid = || Some(JsonWebKeyId::new(KID.into()));
        let inner = Arc::new(Inner {
            url: url.clone(),
            key: CoreRsaPrivateSigningKey::from_pem(KEY_PEM, kid()).expect("test key"),
            other_key: CoreRsaPrivateSigningKey::from_pem(OTHER_KEY_PEM, kid())
                .expect("other test key"),
            next: Mutex::new(Identity::new("sub-ana", "ana@example.com")),
            misbehave: Mutex::new(Misbehave::No),
            codes: Mutex::new(HashMap::new()),
            authorize_requests: Mutex::new(Vec::new()),
            token_requests: Mutex::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Issuer { url, inner, task }
    }

    /// The next approval signs in as `who`.
    pub fn sign_in_as(&self, who: Identity) {
        *self.inner.next.lock().expect("lock") = who;
    }

    pub fn misbehave(&self, how: Misbehave) {
        *self.inner.misbehave.lock().expect("lock") = how;
    }

    /// The query of the last authorization request.
    pub fn last_authorize(&self) -> HashMap<String, String> {
        self.inner
            .authorize_requests
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .unwrap_or_default()
    }

    pub fn token_requests(&self) -> u32 {
        *self.inner.token_requests.lock().expect("lock")
    }
}

async fn discovery(State(s): State<Arc<Inner>>) -> Json<Value> {
    let u = &s.url;
    Json(json!({
        "issuer": u,
        "authorization_endpoint": format!("{u}/authorize"),
        "token_endpoint": format!("{u}/token"),
        "jwks_uri": format!("{u}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "email", "email_verified", "groups"],
    }))
}

async fn jwks(State(s): State<Arc<Inner>>) -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![s.key.as_verification_key()]))
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// Approves at once: back to the client with a code.
async fn authorize(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.authorize_requests.lock().expect("lock").push(q.clone());
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let scopes: Vec<&str> = param("scope").split(' ').collect();
    if param("response_type") != "code"
        || param("client_id") != CLIENT_ID
        || param("code_challenge_method") != "S256"
        || param("code_challenge").is_empty()
        || !scopes.contains(&"openid")
        || !param("redirect_uri").starts_with("http://127.0.0.1:")
    {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let code = format!("code-{}", Nonce::new_random().secret());
    let identity = s.next.lock().expect("lock").clone();
    s.codes.lock().expect("lock").insert(
        code.clone(),
        Grant {
            redirect_uri: param("redirect_uri").into(),
            nonce: q.get("nonce").cloned(),
            challenge: param("code_challenge").into(),
            identity,
        },
    );
    let mut back = openidconnect::url::Url::parse(param("redirect_uri")).expect("redirect uri");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", param("state"));
    Redirect::to(back.as_str()).into_response()
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Groups {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    groups: Vec<String>,
}
impl AdditionalClaims for Groups {}

async fn token(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(f): Form<TokenForm>,
) -> Response {
    *s.token_requests.lock().expect("lock") += 1;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if basic != Some(CLIENT_BASIC) {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if f.grant_type != "authorization_code" {
        return refuse(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    // A code works once.
    let Some(grant) = s.codes.lock().expect("lock").remove(&f.code) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if grant.redirect_uri != f.redirect_uri {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let Some(verifier) = f.code_verifier else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let expected = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier));
    if expected.as_str() != grant.challenge {
        return refuse(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let misbehave = *s.misbehave.lock().expect("lock");
    let now = Utc::now();
    let (iat, exp) = match misbehave {
        Misbehave::Expired => (now - Duration::minutes(20), now - Duration::minutes(10)),
        _ => (now, now + Duration::minutes(5)),
    };
    let audience = match misbehave {
        Misbehave::WrongAudience => "someone-else",
        _ => CLIENT_ID,
    };
    let who = grant.identity;
    let standard = StandardClaims::new(SubjectIdentifier::new(who.sub))
        .set_email(who.email.map(EndUserEmail::new))
        .set_email_verified(who.email_verified);
    let issuer = match misbehave {
        Misbehave::WrongIssuer => "https://issuer.example".to_string(),
        _ => s.url.clone(),
    };
    let nonce = match misbehave {
        Misbehave::WrongNonce => Some("another-nonce".to_string()),
        _ => grant.nonce,
    };
    let claims = IdTokenClaims::<Groups, CoreGenderClaim>::new(
        IssuerUrl::new(issuer).expect("issuer url"),
        vec![Audience::new(audience.into())],
        exp,
        iat,
        standard,
        Groups { groups: who.groups },
    )
    .set_nonce(nonce.map(Nonce::new));
    let key = match misbehave {
        Misbehave::BadSignature => &s.other_key,
        _ => &s.key,
    };
    let access = AccessToken::new(format!("at-{}", Nonce::new_random().secret()));
    let id_token = IdToken::<
        Groups,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >::new(
        claims,
        key,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access),
        None,
    )
    .expect("sign id token");
    Json(json!({
        "access_token": access.secret(),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token.to_string(),
    }))
    .into_response()
}
