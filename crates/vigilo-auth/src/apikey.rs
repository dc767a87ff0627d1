//! API keys: `vgl_<id>_<secret>`. The id (8 hex digits, random) is stored
//! in the clear and shown as the key's prefix; the secret only as a
//! SHA-256 digest, so a copy of the database yields no usable key.

/// What every key starts with, so scanners and people can tell one.
pub const PREFIX: &str = "vgl_";

/// A freshly made key: the whole secret, shown once, and what is stored.
#[derive(Clone)]
pub struct NewKey {
    /// `vgl_<id>_<secret>`: give this to the user once.
    pub secret: String,
    /// `vgl_<id>`: stored, shown in listings, used to look the key up.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("prefix", &self.prefix)
            .field("secret", &"***")
            .finish()
    }
}

pub fn generate() -> NewKey {
    use rand::Rng;
    let id: u32 = rand::rng().random();
    let prefix = format!("{PREFIX}{id:08x}");
    let secret = format!("{prefix}_{}", crate::random_token(24));
    let hash = crate::sha256_hex(&secret);
    NewKey {
        secret,
        prefix,
        hash,
    }
}

/// The stored prefix of a presented key, if it has the key's shape.
pub fn prefix_of(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok = id.len() == 8
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && (16..=128).contains(&secret.len());
    ok.then(|| &presented[..PREFIX.len() + 8])
}

/// Whether `presented` is the key whose digest is `stored_hash`.
pub fn matches(presented: &str, stored_hash: &str) -> bool {
    crate::constant_time_eq(&crate::sha256_hex(presented), stored_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match() {
        let k = generate();
        assert_eq!(prefix_of(&k.secret), Some(k.prefix.as_str()));
        assert!(matches(&k.secret, &k.hash));
        let other = generate();
        assert_ne!(k.secret, other.secret);
        assert!(!matches(&other.secret, &k.hash));
        assert!(!format!("{k:?}").contains(&k.secret));
    }

    #[test]
    fn malformed_keys_have_no_prefix() {
        for bad in [
            "",
            "vgl_",
            "vgl_1234_abc",
            "xyz_12345678_aaaaaaaaaaaaaaaaaaaa",
            "vgl_1234567g_aaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }
}
