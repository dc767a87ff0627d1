//! Single sign-on with OpenID Connect, the part without I/O: how a provider
//! is configured and which role a signed-in person gets. The server does
//! the discovery, the redirects and the token checks.
//!
//! ```toml
//! [[auth.oidc]]
//! id = "google"
//! name = "Google"
//! issuer_url = "https://accounts.google.com"
//! client_id = "1234.apps.googleusercontent.com"
//! client_secret = "…"
//! # Highest privilege first: the first rule that matches decides.
//! roles = [
//!   { role = "admin", email = "boss@example.com" },
//!   { role = "analyst", email_domain = "example.com" },
//!   { role = "viewer", group = "secops" },
//! ]
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Role;

/// A client secret: never shown by `Debug`.
/// Serialized as itself (the layered configuration is built by serializing
/// defaults and merging), like the server's other secrets.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(s: impl Into<String>) -> ClientSecret {
        ClientSecret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret(***)")
    }
}

/// One OpenID Connect provider (`[[auth.oidc]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// In URLs: `/api/v1/auth/oidc/{id}/login`. Letters, digits, `-`, `_`.
    pub id: String,
    /// The sign-in button's label ("Google").
    pub name: String,
    /// The issuer, as in its discovery document
    /// (`{issuer_url}/.well-known/openid-configuration`).
    pub issuer_url: String,
    pub client_id: String,
    /// None for public clients (PKCE only).
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// Scopes asked for; `openid` is always sent.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim holding the user's groups (a string or a list of
    /// strings).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// The redirect URL registered with the provider. Default:
    /// `{public_url}/api/v1/auth/oidc/{id}/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    /// Who gets which role. The first rule that matches wins, so list them
    /// highest privilege first (admins, then analysts, then viewers).
    #[serde(default)]
    pub roles: Vec<RoleRule>,
    /// The role of people no rule matches; None refuses them. With a
    /// public issuer (Google) this means anyone with an account there.
    #[serde(default)]
    pub default_role: Option<Role>,
    /// Email rules match only an email the provider says it verified
    /// (`email_verified: true`). Turn off only for providers that never
    /// send the claim and only issue addresses they own.
    #[serde(default = "yes")]
    pub require_verified_email: bool,
}

fn default_scopes() -> Vec<String> {
    ["openid", "email", "profile"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn yes() -> bool {
    true
}

/// One rule: a role and what to match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawRule", into = "RawRule")]
pub struct RoleRule {
    pub role: Role,
    pub matcher: Matcher,
}

/// What a rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// Any verified email at this domain (`example.com`; not its
    /// subdomains), case-insensitive.
    EmailDomain(String),
    /// This verified email, case-insensitive.
    Email(String),
    /// A member of this group (the groups claim), exactly.
    Group(String),
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

impl TryFrom<RawRule> for RoleRule {
    type Error = String;

    fn try_from(r: RawRule) -> Result<RoleRule, String> {
        let matcher = match (r.email_domain, r.email, r.group) {
            (Some(d), None, None) => {
                let d = d.trim().trim_start_matches('@').to_ascii_lowercase();
                if d.is_empty() || d.contains('@') {
                    return Err(format!("`email_domain` `{d}` is not a domain"));
                }
                Matcher::EmailDomain(d)
            }
            (None, Some(e), None) => {
                let e = e.trim().to_lowercase();
                if !e.contains('@') {
                    return Err(format!("`email` `{e}` is not an email address"));
                }
                Matcher::Email(e)
            }
            (None, None, Some(g)) if !g.is_empty() => Matcher::Group(g),
            (None, None, Some(_)) => return Err("`group` must not be empty".into()),
            _ => {
                return Err(format!(
                    "a role rule for `{}` needs exactly one of `email_domain`, `email` or `group`",
                    r.role
                ));
            }
        };
        Ok(RoleRule {
            role: r.role,
            matcher,
        })
    }
}

impl From<RoleRule> for RawRule {
    fn from(r: RoleRule) -> RawRule {
        let mut raw = RawRule {
            role: r.role,
            email_domain: None,
            email: None,
            group: None,
        };
        match r.matcher {
            Matcher::EmailDomain(d) => raw.email_domain = Some(d),
            Matcher::Email(e) => raw.email = Some(e),
            Matcher::Group(g) => raw.group = Some(g),
        }
        raw
    }
}

/// Why a provider's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("auth.oidc `{id}`: {reason}")]
pub struct ConfigError {
    pub id: String,
    pub reason: String,
}

impl ProviderConfig {
    /// A provider with the defaults, for code and tests.
    pub fn new(id: &str, name: &str, issuer_url: &str, client_id: &str) -> ProviderConfig {
        ProviderConfig {
            id: id.into(),
            name: name.into(),
            issuer_url: issuer_url.into(),
            client_id: client_id.into(),
            client_secret: None,
            scopes: default_scopes(),
            groups_claim: default_groups_claim(),
            redirect_url: None,
            roles: Vec::new(),
            default_role: None,
            require_verified_email: true,
        }
    }

    /// The redirect URL to send and register: `redirect_url`, or the
    /// callback route under `public_url` (`https://vigilo.example.com`).
    pub fn redirect_url_for(&self, public_url: &str) -> String {
        match &self.redirect_url {
            Some(u) => u.clone(),
            None => format!(
                "{}/api/v1/auth/oidc/{}/callback",
                public_url.trim_end_matches('/'),
                self.id
            ),
        }
    }

    /// The scopes to ask for, `openid` first and once.
    pub fn scopes_to_request(&self) -> Vec<String> {
        let mut out = vec!["openid".to_string()];
        for s in &self.scopes {
            if !out.contains(s) && !s.is_empty() {
                out.push(s.clone());
            }
        }
        out
    }

    /// Checks what serde cannot: the id's shape, the URLs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |reason: String| ConfigError {
            id: self.id.clone(),
            reason,
        };
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail("`id` must be 1-64 letters, digits, `-` or `_`".into()));
        }
        if !(self.issuer_url.starts_with("https://") || self.issuer_url.starts_with("http://")) {
            return Err(fail(format!(
                "`issuer_url` `{}` must be an http(s) URL",
                self.issuer_url
            )));
        }
        if self.client_id.is_empty() {
            return Err(fail("`client_id` must not be empty".into()));
        }
        if let Some(u) = &self.redirect_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(fail(format!("`redirect_url` `{u}` must be an http(s) URL")));
        }
        if self.roles.is_empty() && self.default_role.is_none() {
            return Err(fail(
                "no `roles` and no `default_role`: nobody could sign in".into(),
            ));
        }
        Ok(())
    }
}

/// Why a person who proved who they are at the provider gets no role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcRefusal {
    /// An email rule would match, but the provider did not verify the
    /// address.
    #[error("the email address is not verified by the provider")]
    EmailNotVerified,
    /// No rule matches and there is no default role.
    #[error("no role rule matches and there is no default role")]
    NoMatchingRule,
}

/// The role of someone who signed in at `provider` with these claims:
/// the first matching rule's, else `default_role`, else refused.
pub fn role_for(
    provider: &ProviderConfig,
    email: Option<&str>,
    email_verified: Option<bool>,
    groups: &[String],
) -> Result<Role, OidcRefusal> {
    let email = email.map(|e| e.trim().to_lowercase()).filter(|e| {
        // The domain is what follows the last `@`; "a@b@c" is not an
        // address anyone should be matched by.
        e.matches('@').count() == 1 && !e.starts_with('@') && !e.ends_with('@')
    });
    let trusted = !provider.require_verified_email || email_verified == Some(true);
    let email_matches = |m: &Matcher, e: &str| match m {
        Matcher::Email(want) => e == want,
        Matcher::EmailDomain(d) => e.rsplit_once('@').is_some_and(|(_, dom)| dom == d),
        Matcher::Group(_) => false,
    };
    let mut unverified_match = false;
    for rule in &provider.roles {
        let hit = match &rule.matcher {
            Matcher::Group(g) => groups.iter().any(|have| have == g),
            m => match &email {
                Some(e) if email_matches(m, e) => {
                    if !trusted {
                        unverified_match = true;
                    }
                    trusted
                }
                _ => false,
            },
        };
        if hit {
            return Ok(rule.role);
        }
    }
    if let Some(role) = provider.default_role {
        return Ok(role);
    }
    Err(if unverified_match {
        OidcRefusal::EmailNotVerified
    } else {
        OidcRefusal::NoMatchingRule
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(toml_roles: &str) -> ProviderConfig {
        let text = format!(
            r#"{{"id": "google", "name": "Google", "issuer_url": "https://accounts.google.com",
                "client_id": "cid", "client_secret": "hunter2", "roles": {toml_roles}}}"#
        );
        serde_json::from_str(&text).expect("provider parses")
    }

    fn rules() -> ProviderConfig {
        provider(
            r#"[{"role": "admin", "email": "Boss@Example.com"},
                {"role": "analyst", "email_domain": "example.com"},
                {"role": "viewer", "group": "secops"}]"#,
        )
    }

    #[test]
    fn defaults_and_masked_secret() {
        let p = rules();
        assert_eq!(p.scopes, vec!["openid", "email", "profile"]);
        assert_eq!(p.groups_claim, "groups");
        assert!(p.require_verified_email);
        assert_eq!(p.default_role, None);
        let shown = format!("{p:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            p.client_secret.as_ref().map(ClientSecret::expose),
            Some("hunter2")
        );
        assert_eq!(
            p.redirect_url_for("https://vigilo.example.com/"),
            "https://vigilo.example.com/api/v1/auth/oidc/google/callback"
        );
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn first_matching_rule_wins() {
        let p = rules();
        let none: &[String] = &[];
        let secops = ["secops".to_string()];
        assert_eq!(
            role_for(&p, Some("boss@example.com"), Some(true), none),
            Ok(Role::Admin)
        );
        assert_eq!(
            role_for(&p, Some("ANA@example.COM"), Some(true), &secops),
            Ok(Role::Analyst)
        );
        assert_eq!(
            role_for(&p, Some("x@elsewhere.org"), Some(true), &secops),
            Ok(Role::Viewer)
        );
        // A subdomain, or a domain that merely ends the same, is not it.
        for e in [
            "x@eu.example.com",
            "x@notexample.com",
            "example.com@evil.org",
        ] {
            assert_eq!(
                role_for(&p, Some(e), Some(true), none),
                Err(OidcRefusal::NoMatchingRule),
                "{e}"
            );
        }
        assert_eq!(
            role_for(&p, None, None, none),
            Err(OidcRefusal::NoMatchingRule)
        );
    }

    #[test]
    fn unverified_emails_match_no_email_rule() {
        let mut p = rules();
        let none: &[String] = &[];
        for verified in [None, Some(false)] {
            assert_eq!(
                role_for(&p, Some("boss@example.com"), verified, none),
                Err(OidcRefusal::EmailNotVerified)
            );
        }
        // Groups do not depend on the email.
        assert_eq!(
            role_for(
                &p,
                Some("boss@example.com"),
                Some(false),
                &["secops".into()]
            ),
            Ok(Role::Viewer)
        );
        p.require_verified_email = false;
        assert_eq!(
            role_for(&p, Some("boss@example.com"), None, none),
            Ok(Role::Admin)
        );
    }

    #[test]
    fn default_role_catches_the_rest() {
        let mut p = rules();
        p.default_role = Some(Role::Viewer);
        assert_eq!(
            role_for(&p, Some("x@elsewhere.org"), Some(true), &[]),
            Ok(Role::Viewer)
        );
        assert_eq!(role_for(&p, None, None, &[]), Ok(Role::Viewer));
    }

    #[test]
    fn bad_rules_and_settings_are_refused() {
        for bad in [
            r#"[{"role": "admin"}]"#,
            r#"[{"role": "admin", "email": "a@b.c", "group": "g"}]"#,
            r#"[{"role": "admin", "email": "nobody"}]"#,
            r#"[{"role": "admin", "email_domain": "a@b.c"}]"#,
            r#"[{"role": "admin", "group": ""}]"#,
            r#"[{"role": "root", "group": "g"}]"#,
            r#"[{"role": "admin", "group": "g", "domain": "x"}]"#,
        ] {
            let text = format!(
                r#"{{"id": "g", "name": "G", "issuer_url": "https://i", "client_id": "c", "roles": {bad}}}"#
            );
            assert!(
                serde_json::from_str::<ProviderConfig>(&text).is_err(),
                "{bad}"
            );
        }
        let unknown = r#"{"id": "g", "name": "G", "issuer_url": "https://i", "client_id": "c", "secret": "x"}"#;
        assert!(serde_json::from_str::<ProviderConfig>(unknown).is_err());
        let mut p = rules();
        p.id = "has space".into();
        assert!(p.validate().is_err());
        let mut p = rules();
        p.roles.clear();
        assert!(p.validate().is_err());
        p.default_role = Some(Role::Viewer);
        assert_eq!(p.validate(), Ok(()));
        p.issuer_url = "accounts.google.com".into();
        assert!(p.validate().is_err());
    }

    #[test]
    fn rules_round_trip() {
        let p = rules();
        let v = serde_json::to_value(&p.roles).expect("serializes");
        assert_eq!(v[1]["email_domain"], "example.com");
        assert_eq!(v[0]["email"], "boss@example.com");
        let back: Vec<RoleRule> = serde_json::from_value(v).expect("parses");
        assert_eq!(back, p.roles);
        assert_eq!(p.scopes_to_request(), vec!["openid", "email", "profile"]);
    }
}
