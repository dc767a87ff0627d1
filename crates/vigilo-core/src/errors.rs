//! The one table of error codes that can reach an API client. Each code is
//! stable snake_case and maps to one HTTP status.

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $variant:ident => ($code:literal, $status:literal) ),+ $(,)?) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $variant, )+
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The stable snake_case code sent to clients.
            pub fn code(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)+ }
            }

            /// The HTTP status this code is sent with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)+ }
            }
        }
    };
}

error_codes! {
    /// The request body is not valid JSON / NDJSON.
    MalformedBody => ("malformed_body", 400),
    /// One or more events failed validation; see `details`.
    InvalidEvents => ("invalid_events", 400),
    /// An event is not a JSON object.
    EventNotObject => ("event_not_object", 400),
    /// A timestamp field could not be parsed.
    InvalidTimestamp => ("invalid_timestamp", 400),
    /// A well-known field has the wrong type.
    InvalidField => ("invalid_field", 400),
    /// A logsource (query parameters, `X-Vigilo-Logsource`, an event's
    /// `logsource` object) is malformed; the message names the field.
    InvalidLogsource => ("invalid_logsource", 400),
    /// A query parameter is invalid.
    InvalidQuery => ("invalid_query", 400),
    /// A request body field is invalid.
    InvalidRequest => ("invalid_request", 400),
    /// The request carried no events.
    EmptyBatch => ("empty_batch", 400),
    /// A rule document does not parse or compile.
    InvalidRule => ("invalid_rule", 400),
    /// The content encoding is not supported.
    UnsupportedEncoding => ("unsupported_encoding", 415),
    /// The content type is not supported.
    UnsupportedMediaType => ("unsupported_media_type", 415),
    /// The request body exceeds the configured limit.
    PayloadTooLarge => ("payload_too_large", 413),
    /// One event exceeds the configured per-event limit.
    EventTooLarge => ("event_too_large", 413),
    /// Resource not found.
    NotFound => ("not_found", 404),
    /// Route not found.
    RouteNotFound => ("route_not_found", 404),
    /// Method not allowed on this route.
    MethodNotAllowed => ("method_not_allowed", 405),
    /// The ingest queue is full; retry after the advertised delay.
    Overloaded => ("overloaded", 503),
    /// The server is shutting down.
    ShuttingDown => ("shutting_down", 503),
    /// An IAM document could not be parsed.
    InvalidIamDocument => ("invalid_iam_document", 400),
    /// Single sign-on: the callback's state does not match the sign-in
    /// this browser started (or that sign-in expired).
    OidcStateMismatch => ("oidc_state_mismatch", 400),
    /// Single sign-on: the provider's answer or ID token failed a check
    /// (signature, issuer, audience, expiry, nonce).
    OidcTokenInvalid => ("oidc_token_invalid", 401),
    /// Single sign-on: the person signed in at the provider, but no role
    /// rule admits them (or their account is disabled).
    OidcRoleDenied => ("oidc_role_denied", 403),
    /// Single sign-on: the provider cannot be reached or its discovery
    /// document is unusable.
    OidcProviderUnavailable => ("oidc_provider_unavailable", 503),
    /// Single sign-on: no provider with this id is configured.
    UnknownProvider => ("unknown_provider", 404),
    /// No credentials on a route that needs them: sign in, or send an API
    /// key.
    Unauthenticated => ("unauthenticated", 401),
    /// A session token or API key that is malformed, expired, revoked or
    /// unknown.
    InvalidToken => ("invalid_token", 401),
    /// Wrong username or password (which of the two is never said).
    InvalidCredentials => ("invalid_credentials", 401),
    /// The principal lacks the permission the route needs; the message
    /// names it.
    Forbidden => ("forbidden", 403),
    /// A cookie-authenticated write without the matching `X-CSRF-Token`.
    CsrfFailed => ("csrf_failed", 403),
    /// Too many failed sign-ins for this user or address; retry after the
    /// advertised delay.
    TooManyAttempts => ("too_many_attempts", 429),
    /// Too many requests from this key or address; retry after the
    /// advertised delay.
    RateLimited => ("rate_limited", 429),
    /// A password that fails the policy; the message says why.
    WeakPassword => ("weak_password", 400),
    /// The change conflicts with what is stored (a username taken, the
    /// last admin demoted).
    Conflict => ("conflict", 409),
    /// Storage failed.
    StorageError => ("storage_error", 500),
    /// Any other internal failure.
    Internal => ("internal", 500),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert!(
                c.code()
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{} is not snake_case",
                c.code()
            );
            assert!((400..600).contains(&c.status()));
        }
    }
}
