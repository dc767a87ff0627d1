//! Password hashing (argon2id) and the policy a new password must meet.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Shortest password accepted (OWASP ASVS 2.1.1 asks for 12).
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted, in characters (ASVS 2.1.2 asks for at least 64).
pub const MAX_LENGTH: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("must be at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("must be at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("is one of the most common passwords")]
    Common,
    #[error("must not contain the username")]
    ContainsUsername,
    #[error("is a single repeated character or a plain sequence")]
    Trivial,
    #[error("cannot be hashed: {0}")]
    Hash(String),
}

/// Check `password` for a user called `username` against the policy.
pub fn check_policy(username: &str, password: &str) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if len < MIN_LENGTH {
        return Err(PasswordError::TooShort);
    }
    if len > MAX_LENGTH {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    let user = username.trim().to_lowercase();
    if user.chars().count() >= 3 && lower.contains(&user) {
        return Err(PasswordError::ContainsUsername);
    }
    if is_trivial(&lower) {
        return Err(PasswordError::Trivial);
    }
    if is_common(&lower) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// One character repeated, or a run of consecutive characters (`abcdef…`,
/// `123456…`, or descending).
fn is_trivial(p: &str) -> bool {
    let chars: Vec<char> = p.chars().collect();
    let first = chars[0];
    if chars.iter().all(|c| *c == first) {
        return true;
    }
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])))
        .collect();
    steps.iter().all(|s| *s == 1) || steps.iter().all(|s| *s == -1)
}

/// Common passwords and the words they are built from: a candidate is
/// refused when it is one of them, or one of them followed or preceded by
/// digits and punctuation only (`Password123!`, `2024qwertyuiop`).
const COMMON: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "pa$$word",
    "qwerty",
    "qwertyuiop",
    "qwertyuiop[]",
    "asdfghjkl",
    "zxcvbnm",
    "qazwsx",
    "qazwsxedc",
    "1qaz2wsx",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "q1w2e3r4t5y6",
    "iloveyou",
    "letmein",
    "welcome",
    "monkey",
    "dragon",
    "master",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "batman",
    "trustno1",
    "shadow",
    "michael",
    "jennifer",
    "jordan",
    "hunter",
    "hunter2",
    "charlie",
    "starwars",
    "whatever",
    "freedom",
    "computer",
    "internet",
    "secret",
    "changeme",
    "changeit",
    "default",
    "administrator",
    "admin",
    "root",
    "toor",
    "login",
    "access",
    "letmein!",
    "abc123",
    "abcd1234",
    "qwerty123",
    "password1",
    "iloveyou1",
    "welcome1",
    "summer",
    "winter",
    "spring",
    "autumn",
    "football1",
    "mustang",
    "liverpool",
    "chelsea",
    "arsenal",
    "pokemon",
    "naruto",
    "killer",
    "soccer",
    "hockey",
    "cookie",
    "flower",
    "pepper",
    "ginger",
    "banana",
    "orange",
    "purple",
    "matrix",
    "mercedes",
    "ferrari",
    "harley",
    "corvette",
    "yankees",
    "cowboys",
    "eagles",
    "lakers",
    "zaq12wsx",
    "aa123456",
    "a1b2c3d4",
    "q1w2e3r4",
    "passpass",
    "testtest",
    "test1234",
    "guest",
    "user",
    "demo",
    "vigilo",
    "compliance",
    "security",
    "monitor",
    "example",
    "company",
    "office",
    "server",
    "database",
    "correcthorsebatterystaple",
    "loveyou",
    "lovely",
    "angel",
    "family",
    "friends",
    "blink182",
    "666666",
    "888888",
    "987654321",
    "1234567890",
    "0987654321",
    "11111111",
    "12341234",
    "123123123",
    "112233",
    "121212",
    "654321",
    "696969",
    "7777777",
    "159753",
    "147258369",
    "123qwe",
    "qwe123",
    "1qazxsw2",
    "qweasdzxc",
    "asdf1234",
    "zxcv1234",
];

fn is_common(lower: &str) -> bool {
    let core = lower.trim_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    let candidates = [lower, core];
    candidates
        .iter()
        .any(|c| c.is_empty() || COMMON.contains(c))
        || COMMON.iter().any(|w| {
            w.len() >= 6
                && lower
                    .strip_prefix(w)
                    .or_else(|| lower.strip_suffix(w))
                    .is_some_and(|rest| {
                        rest.chars()
                            .all(|c| c.is_ascii_digit() || c.is_ascii_punctuation())
                    })
        })
}

/// Hash a password with argon2id and a random salt, as a PHC string.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string. A malformed hash
/// never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, to verify against when the user does not
/// exist, so a wrong username costs as long as a wrong password.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash(&crate::random_token(24)).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_policy("ana", "short"), Err(PasswordError::TooShort));
        assert_eq!(
            check_policy("ana", "Password123!"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("ana", "2024qwertyuiop"),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check_policy("ana", "aaaaaaaaaaaaaa"),
            Err(PasswordError::Trivial)
        );
        assert_eq!(
            check_policy("ana", "abcdefghijklm"),
            Err(PasswordError::Trivial)
        );
        assert_eq!(
            check_policy("marguerite", "Marguerite-2024"),
            Err(PasswordError::ContainsUsername)
        );
        assert_eq!(
            check_policy("ana", &"x1".repeat(200)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check_policy("ana", "violet staple engine"), Ok(()));
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("violet staple engine").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("violet staple engine", &h));
        assert!(!verify("violet staple engin", &h));
        assert!(!verify("anything", "not a phc string"));
        assert!(!verify("anything", dummy_hash()));
    }
}
