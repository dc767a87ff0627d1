//! Who makes a write: the signed-in user (or `key:<name>` for an API key).
//! Only when authentication is disabled does the `X-Vigilo-Actor` header
//! name the actor, as it did before accounts existed.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use vigilo_core::finding::ANONYMOUS;

/// The request header that names the actor.
pub const ACTOR_HEADER: &str = "x-vigilo-actor";

/// Longest actor name kept, in characters.
pub const MAX_ACTOR_CHARS: usize = 128;

/// The actor of a request: the header trimmed, when it is valid UTF-8 of
/// 1 to 128 characters; `anonymous` otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn from_header(value: Option<&[u8]>) -> Actor {
        let name = value
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.chars().count() <= MAX_ACTOR_CHARS);
        Actor(name.unwrap_or(ANONYMOUS).to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match crate::auth::caller(parts).map(|c| &c.principal) {
            Some(p) if *p != crate::auth::Principal::Open => Ok(Actor(p.actor())),
            _ => Ok(Actor::from_header(
                parts.headers.get(ACTOR_HEADER).map(|v| v.as_bytes()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_trimmed_and_bounded() {
        let a = |v: &[u8]| Actor::from_header(Some(v)).0;
        assert_eq!(a(b"  dana "), "dana");
        assert_eq!(a(b""), "anonymous");
        assert_eq!(a(b"   "), "anonymous");
        assert_eq!(Actor::from_header(None).0, "anonymous");
        assert_eq!(a("é".repeat(128).as_bytes()), "é".repeat(128));
        assert_eq!(a("é".repeat(129).as_bytes()), "anonymous");
        assert_eq!(a(b"\xff\xfe"), "anonymous");
    }
}
