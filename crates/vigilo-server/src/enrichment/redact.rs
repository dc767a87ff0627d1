//! What may leave the process: payload keys that name a secret are
//! replaced, configured keys dropped, and inside every string the words
//! that look like an email address, a token or key (and optionally an IP
//! address) are replaced by `[redacted]`.

use serde_json::{Map, Value};

pub const REDACTED: &str = "[redacted]";

/// Key names (lowercased, `-` and `_` removed) holding any of these are secret.
const SECRET_KEY_PARTS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "key",
    "authorization",
    "cookie",
    "credential",
    "session",
    "signature",
    "email",
    "mail",
];

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Lowercased keys dropped outright.
    pub drop: Vec<String>,
    pub ips: bool,
}

impl Redactor {
    pub fn new(drop: &[String], ips: bool) -> Self {
        Redactor {
            drop: drop.iter().map(|d| d.to_ascii_lowercase()).collect(),
            ips,
        }
    }

    pub fn key_is_secret(key: &str) -> bool {
        let k: String = key
            .chars()
            .filter(|c| *c != '_' && *c != '-' && *c != '.')
            .collect::<String>()
            .to_ascii_lowercase();
        SECRET_KEY_PARTS.iter().any(|p| k.contains(p))
    }

    pub fn value(&self, v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(self.object(m)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.value(v)).collect()),
            Value::String(s) => Value::String(self.text(s)),
            other => other.clone(),
        }
    }

    pub fn object(&self, m: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        for (k, v) in m {
            if self.drop.contains(&k.to_ascii_lowercase()) {
                continue;
            }
            if Self::key_is_secret(k) && !v.is_null() {
                out.insert(k.clone(), Value::String(REDACTED.into()));
            } else {
                out.insert(k.clone(), self.value(v));
            }
        }
        out
    }

    /// `s` with every word that looks like a secret, an email address (or
    /// an IP address, when configured) replaced.
    pub fn text(&self, s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if !word.is_empty() {
                if self.word_is_sensitive(word) {
                    out.push_str(REDACTED);
                } else {
                    out.push_str(word);
                }
                word.clear();
            }
        };
        for c in s.chars() {
            if c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '(' | ')' | '<' | '>') {
                flush(&mut word, &mut out);
                out.push(c);
            } else {
                word.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    }

    fn word_is_sensitive(&self, w: &str) -> bool {
        // `key=value` and `key:value` pairs: judge the key, then the value.
        if let Some((k, v)) = w.split_once(['=', ':'])
            && !k.is_empty()
            && !v.is_empty()
            && !v.starts_with("//")
        {
            if Self::key_is_secret(k) {
                return true;
            }
            return self.word_is_sensitive(v);
        }
        let t = w.trim_matches(|c: char| matches!(c, '.' | '[' | ']' | '{' | '}'));
        looks_like_email(t)
            || looks_like_token(t)
            || (self.ips && t.parse::<std::net::IpAddr>().is_ok())
    }
}

fn looks_like_email(w: &str) -> bool {
    let Some((local, domain)) = w.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

fn looks_like_token(w: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "sk-",
        "sk_",
        "pk_",
        "rk_",
        "AKIA",
        "ASIA",
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "xoxb-",
        "xoxp-",
        "glpat-",
        "eyJ",
        "AIza",
    ];
    if w.len() >= 12 && PREFIXES.iter().any(|p| w.starts_with(p)) {
        return true;
    }
    // A long run of token characters mixing letters and digits.
    w.len() >= 24
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='))
        && w.chars().any(|c| c.is_ascii_digit())
        && w.chars().any(|c| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_by_key_and_by_value() {
        let r = Redactor::new(&["note".into()], false);
        let v = r.value(&json!({
            "password": "hunter2",
            "api_key": "abc",
            "user_email": "x@y.z",
            "note": "dropped",
            "amount": 12000,
            "msg": "login by bob@example.com with sk-live-0123456789abcdef from 10.0.0.1",
            "nested": {"Authorization": "Bearer abc", "path": "/v1/items"},
        }));
        assert_eq!(v["password"], REDACTED);
        assert_eq!(v["api_key"], REDACTED);
        assert_eq!(v["user_email"], REDACTED);
        assert!(v.get("note").is_none());
        assert_eq!(v["amount"], 12000);
        assert_eq!(
            v["msg"],
            "login by [redacted] with [redacted] from 10.0.0.1"
        );
        assert_eq!(v["nested"]["Authorization"], REDACTED);
        assert_eq!(v["nested"]["path"], "/v1/items");
        let ips = Redactor::new(&[], true);
        assert_eq!(
            ips.text("from 10.0.0.1 to ::1"),
            "from [redacted] to [redacted]"
        );
        assert_eq!(r.text("password=hunter2 ok"), "[redacted] ok");
    }
}
