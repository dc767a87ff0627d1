//! Who may do what: roles for users, scopes for API keys, and the
//! permission each route declares. One table, [`ROLE_GRANTS`] and
//! [`SCOPE_GRANTS`], decides every request; the README prints it.

use serde::{Deserialize, Serialize};

/// What a route needs. Declared once per route in the server's route table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Anyone, signed in or not: health, readiness, sign-in.
    Public,
    /// Any principal that is signed in or holds a key.
    Authenticated,
    /// `/metrics`: public by default, `read` when `auth.public_metrics` is
    /// off.
    Metrics,
    /// `/docs` and the OpenAPI document: public by default, `read` when
    /// `auth.public_docs` is off.
    Docs,
    EventsWrite,
    EventsRead,
    FindingsRead,
    FindingsWrite,
    RulesRead,
    RulesManage,
    IamAudit,
    IamRead,
    PipelinesRead,
    PipelinesWrite,
    /// Users and API keys.
    UsersManage,
    /// The audit trail of sign-ins, keys, role and finding changes.
    AuditRead,
    /// Per-user preferences: signed-in users only, not keys.
    Preferences,
}

impl Permission {
    /// Every permission a principal can hold, in the order `me` lists them.
    pub const GRANTABLE: [Permission; 13] = [
        Permission::EventsWrite,
        Permission::EventsRead,
        Permission::FindingsRead,
        Permission::FindingsWrite,
        Permission::RulesRead,
        Permission::RulesManage,
        Permission::IamAudit,
        Permission::IamRead,
        Permission::PipelinesRead,
        Permission::PipelinesWrite,
        Permission::UsersManage,
        Permission::AuditRead,
        Permission::Preferences,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Public => "public",
            Permission::Authenticated => "authenticated",
            Permission::Metrics => "metrics",
            Permission::Docs => "docs",
            Permission::EventsWrite => "events_write",
            Permission::EventsRead => "events_read",
            Permission::FindingsRead => "findings_read",
            Permission::FindingsWrite => "findings_write",
            Permission::RulesRead => "rules_read",
            Permission::RulesManage => "rules_manage",
            Permission::IamAudit => "iam_audit",
            Permission::IamRead => "iam_read",
            Permission::PipelinesRead => "pipelines_read",
            Permission::PipelinesWrite => "pipelines_write",
            Permission::UsersManage => "users_manage",
            Permission::AuditRead => "audit_read",
            Permission::Preferences => "preferences",
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Analyst,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Analyst, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Analyst => "analyst",
            Role::Viewer => "viewer",
        }
    }

    /// The role, from its name; an analytics dashboard's "developer" is an analyst and
    /// its "client" a viewer.
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" | "administrator" => Some(Role::Admin),
            "analyst" | "developer" => Some(Role::Analyst),
            "viewer" | "client" => Some(Role::Viewer),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Send events, pipeline reports and IAM documents.
    Ingest,
    /// Read what a viewer may.
    Read,
    /// Everything an admin may.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Ingest, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

use Permission as P;

/// What a viewer (and a `read` key) may do.
const READ: &[Permission] = &[
    P::EventsRead,
    P::FindingsRead,
    P::RulesRead,
    P::IamRead,
    P::PipelinesRead,
];

/// What an analyst may do.
const TRIAGE: &[Permission] = &[
    P::EventsRead,
    P::FindingsRead,
    P::FindingsWrite,
    P::RulesRead,
    P::IamAudit,
    P::IamRead,
    P::PipelinesRead,
];

/// What an admin (and an `admin` key) may do.
const ADMIN: &[Permission] = &[
    P::EventsWrite,
    P::EventsRead,
    P::FindingsRead,
    P::FindingsWrite,
    P::RulesRead,
    P::RulesManage,
    P::IamAudit,
    P::IamRead,
    P::PipelinesRead,
    P::PipelinesWrite,
    P::UsersManage,
    P::AuditRead,
];

/// What each role holds beyond [`Permission::Public`],
/// [`Permission::Authenticated`] and [`Permission::Preferences`], which
/// every signed-in user holds.
pub const ROLE_GRANTS: &[(Role, &[Permission])] = &[
    (Role::Admin, ADMIN),
    (Role::Analyst, TRIAGE),
    (Role::Viewer, READ),
];

/// What each key scope holds; a key holds the union of its scopes. Keys
/// have no preferences.
pub const SCOPE_GRANTS: &[(Scope, &[Permission])] = &[
    (
        Scope::Ingest,
        &[P::EventsWrite, P::PipelinesWrite, P::IamAudit],
    ),
    (Scope::Read, READ),
    (Scope::Admin, ADMIN),
];

pub fn role_allows(role: Role, perm: Permission) -> bool {
    match perm {
        P::Public | P::Authenticated | P::Preferences => true,
        P::Metrics | P::Docs => role_allows(role, P::EventsRead),
        _ => ROLE_GRANTS
            .iter()
            .any(|(r, grants)| *r == role && grants.contains(&perm)),
    }
}

pub fn scope_allows(scope: Scope, perm: Permission) -> bool {
    match perm {
        P::Public | P::Authenticated => true,
        P::Metrics | P::Docs => scope_allows(scope, P::EventsRead),
        _ => SCOPE_GRANTS
            .iter()
            .any(|(s, grants)| *s == scope && grants.contains(&perm)),
    }
}

/// Who makes a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A signed-in user.
    User {
        id: i64,
        name: String,
        role: Role,
        /// The session this request belongs to.
        session: String,
    },
    /// An API key.
    Key {
        id: i64,
        name: String,
        scopes: Vec<Scope>,
    },
    /// Authentication is disabled: everyone is an admin.
    Open,
}

impl Principal {
    pub fn allows(&self, perm: Permission) -> bool {
        match self {
            Principal::User { role, .. } => role_allows(*role, perm),
            Principal::Key { scopes, .. } => scopes.iter().any(|s| scope_allows(*s, perm)),
            Principal::Open => true,
        }
    }

    /// Every grantable permission this principal holds.
    pub fn permissions(&self) -> Vec<Permission> {
        Permission::GRANTABLE
            .into_iter()
            .filter(|p| self.allows(*p))
            .collect()
    }

    /// The name recorded as the actor of what it does: the username, or
    /// `key:<name>` for an API key.
    pub fn actor(&self) -> String {
        match self {
            Principal::User { name, .. } => name.clone(),
            Principal::Key { name, .. } => format!("key:{name}"),
            Principal::Open => "anonymous".to_string(),
        }
    }
}

/// The matrix as a Markdown table: one row per permission, a column per
/// role and key scope. The README prints it (a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| permission | admin | analyst | viewer | key `ingest` | key `read` | key `admin` |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for p in Permission::GRANTABLE {
        let mut row = format!("| `{p}` |");
        for r in Role::ALL {
            row.push_str(if role_allows(r, p) { " ✓ |" } else { " |" });
        }
        for s in Scope::ALL {
            row.push_str(if scope_allows(s, p) { " ✓ |" } else { " |" });
        }
        out.push_str(&row);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest_admin_over_analyst_over_viewer() {
        for p in Permission::GRANTABLE {
            if role_allows(Role::Viewer, p) {
                assert!(role_allows(Role::Analyst, p), "{p}");
            }
            if role_allows(Role::Analyst, p) {
                assert!(role_allows(Role::Admin, p), "{p}");
            }
        }
        assert!(!role_allows(Role::Viewer, P::FindingsWrite));
        assert!(role_allows(Role::Analyst, P::FindingsWrite));
        assert!(!role_allows(Role::Analyst, P::UsersManage));
        assert!(!role_allows(Role::Analyst, P::RulesManage));
    }

    #[test]
    fn keys_hold_the_union_of_their_scopes() {
        let ingest = Principal::Key {
            id: 1,
            name: "ci".into(),
            scopes: vec![Scope::Ingest],
        };
        assert!(ingest.allows(P::EventsWrite));
        assert!(!ingest.allows(P::EventsRead));
        assert!(!ingest.allows(P::Preferences));
        let both = Principal::Key {
            id: 1,
            name: "ci".into(),
            scopes: vec![Scope::Ingest, Scope::Read],
        };
        assert!(both.allows(P::EventsWrite) && both.allows(P::EventsRead));
        assert!(!both.allows(P::FindingsWrite));
    }

    #[test]
    fn seed_role_names_map() {
        assert_eq!(Role::parse("Developer"), Some(Role::Analyst));
        assert_eq!(Role::parse("client"), Some(Role::Viewer));
        assert_eq!(Role::parse("root"), None);
    }
}
