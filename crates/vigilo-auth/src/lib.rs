//! Accounts and access for Vigilo, without I/O: the roles and key scopes,
//! the one permission matrix every route is checked against, password
//! hashing and policy, API key and session token formats, and the
//! failed-sign-in tracker. The server wires these to HTTP and storage.

pub mod apikey;
pub mod lockout;
pub mod matrix;
pub mod oidc;
pub mod password;
pub mod token;

pub use matrix::{Permission, Principal, Role, Scope};

/// Random bytes from the operating system, URL-safe base64 without padding.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 of `secret`, lowercase hex: how opaque secrets (API keys,
/// refresh tokens) are stored. They carry 192+ random bits, so a fast hash
/// is enough; passwords use argon2id ([`password`]).
pub fn sha256_hex(secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
