//! Session tokens: short-lived JWTs (HS256) naming the user, role and
//! session, and the CSRF token bound to a session.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Role;

const ISSUER: &str = "vigilo";
const AUDIENCE: &str = "vigilo";

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The username, for logs and the UI.
    pub name: String,
    pub role: Role,
    /// The session (revocable) this token belongs to.
    pub sid: String,
    /// This token's own id: random, so two tokens issued in the same
    /// second (a sign-in and an immediate refresh) never coincide.
    #[serde(default)]
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the signing key must be at least 32 bytes")]
    ShortKey,
    #[error("token is invalid: {0}")]
    Invalid(String),
}

/// Signs and checks session tokens with one secret key.
#[derive(Clone)]
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    csrf_key: Vec<u8>,
    validation: Validation,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer { key: *** }")
    }
}

impl Signer {
    pub fn new(key: &[u8]) -> Result<Signer, TokenError> {
        if key.len() < 32 {
            return Err(TokenError::ShortKey);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        // A CSRF key of its own, derived, so a CSRF token says nothing
        // about the signing key.
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|_| TokenError::ShortKey)?;
        mac.update(b"vigilo csrf key");
        Ok(Signer {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            csrf_key: mac.finalize().into_bytes().to_vec(),
            validation,
        })
    }

    /// A token for `user` in session `sid`, valid until `now + ttl`.
    pub fn issue(
        &self,
        user_id: i64,
        name: &str,
        role: Role,
        sid: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user_id.to_string(),
            name: name.to_string(),
            role,
            sid: sid.to_string(),
            jti: format!("{:016x}", rand::random::<u64>()),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            iss: ISSUER.to_string(),
            aud: AUDIENCE.to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// The claims of a valid, unexpired token signed with this key.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| TokenError::Invalid(e.to_string()))
    }

    /// The CSRF token of session `sid`.
    pub fn csrf_token(&self, sid: &str) -> String {
        use base64::Engine;
        // The key is 32 bytes, which HMAC always accepts.
        let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(&self.csrf_key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(sid.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    pub fn csrf_matches(&self, sid: &str, presented: &str) -> bool {
        let expected = self.csrf_token(sid);
        !expected.is_empty() && crate::constant_time_eq(&expected, presented)
    }
}

/// Whether a bearer credential looks like a JWT (three dot-separated parts).
pub fn looks_like_jwt(s: &str) -> bool {
    s.split('.').count() == 3 && !s.starts_with(crate::apikey::PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(&[7u8; 32]).expect("key")
    }

    #[test]
    fn issue_and_verify() {
        let s = signer();
        let now = Utc::now();
        let t = s
            .issue(
                4,
                "ana",
                Role::Analyst,
                "sid1",
                now,
                chrono::Duration::minutes(15),
            )
            .expect("issue");
        let c = s.verify(&t).expect("valid");
        assert_eq!(
            (c.sub.as_str(), c.role, c.sid.as_str()),
            ("4", Role::Analyst, "sid1")
        );
    }

    #[test]
    fn tokens_issued_in_the_same_second_differ() {
        let s = signer();
        let now = Utc::now();
        let ttl = chrono::Duration::minutes(15);
        let a = s
            .issue(4, "ana", Role::Analyst, "sid1", now, ttl)
            .expect("issue");
        let b = s
            .issue(4, "ana", Role::Analyst, "sid1", now, ttl)
            .expect("issue");
        assert_ne!(a, b);
        assert_ne!(s.verify(&a).expect("a").jti, s.verify(&b).expect("b").jti);
    }

    #[test]
    fn refuses_expired_foreign_and_tampered_tokens() {
        let s = signer();
        let past = Utc::now() - chrono::Duration::hours(2);
        let expired = s
            .issue(
                1,
                "a",
                Role::Admin,
                "x",
                past,
                chrono::Duration::minutes(15),
            )
            .expect("issue");
        assert!(s.verify(&expired).is_err());
        let other = Signer::new(&[8u8; 32]).expect("key");
        let foreign = other
            .issue(
                1,
                "a",
                Role::Admin,
                "x",
                Utc::now(),
                chrono::Duration::minutes(15),
            )
            .expect("issue");
        assert!(s.verify(&foreign).is_err());
        let good = s
            .issue(
                1,
                "a",
                Role::Viewer,
                "x",
                Utc::now(),
                chrono::Duration::minutes(15),
            )
            .expect("issue");
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = "eyJhbGciOiJub25lIn0";
        parts[0] = forged;
        assert!(s.verify(&parts.join(".")).is_err());
        assert!(Signer::new(b"short").is_err());
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let s = signer();
        let t = s.csrf_token("sid1");
        assert!(s.csrf_matches("sid1", &t));
        assert!(!s.csrf_matches("sid2", &t));
        assert!(!s.csrf_matches("sid1", ""));
    }
}
