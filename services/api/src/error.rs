//! The one REST error body, `{"name", "message", "request_id"}`, and the enumerated table of
//! stable `name`s (specs/arcade-compat.md §5.3).

use serde::{Deserialize, Serialize};

/// Every non-2xx answer of the `/v1` API has this body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable snake_case code from [`ErrorName`].
    pub name: String,
    /// A human-readable sentence; never a secret or an echoed request value.
    pub message: String,
    /// The request's id, as in the `x-request-id` header and the log span.
    pub request_id: String,
}

macro_rules! error_names {
    ($($variant:ident => $name:literal, $status:literal, $doc:literal;)*) => {
        /// The stable error names, with the HTTP status each is sent with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorName {
            $(#[doc = $doc] $variant,)*
        }

        impl ErrorName {
            /// Every name, for documentation and tests.
            pub const ALL: &'static [ErrorName] = &[$(ErrorName::$variant,)*];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorName::$variant => $name,)* }
            }

            /// The HTTP status this name is sent with.
            pub fn status(self) -> u16 {
                match self { $(ErrorName::$variant => $status,)* }
            }
        }
    };
}

error_names! {
    InvalidRequest => "invalid_request", 400, "Malformed JSON; a missing, empty or ill-typed field; a bad query parameter.";
    UnknownProvider => "unknown_provider", 400, "Provider resolution found no instance.";
    AmbiguousProvider => "ambiguous_provider", 400, "Several active instances share the requested provider id.";
    ProviderInactive => "provider_inactive", 400, "The resolved provider instance is inactive.";
    UnsupportedProvider => "unsupported_provider", 400, "A provider type other than `discord`.";
    AlreadyExists => "already_exists", 400, "An object with this id already exists in the tenant.";
    ClientIdInUse => "client_id_in_use", 400, "The Discord client id is already registered (by any tenant).";
    VerificationNotConfigured => "verification_not_configured", 400, "Neither a verifier URL nor skipping is configured.";
    NextUriNotAllowed => "next_uri_not_allowed", 400, "`next_uri` is not on the tenant's allow-list.";
    UserMismatch => "user_mismatch", 400, "`confirm_user` named a different user.";
    Unauthorized => "unauthorized", 401, "Missing or invalid API key.";
    Forbidden => "forbidden", 403, "A valid key of the wrong role for the route.";
    ScopeNotAllowed => "scope_not_allowed", 403, "A requested scope outside the provider's configured scopes.";
    RouteNotAllowed => "route_not_allowed", 403, "A Discord proxy route (or method) the tool's declared scopes do not imply.";
    AuthorizationRequired => "authorization_required", 403, "No grant of the user covers what the tool declared: the body carries `authorization_id` and the start `url`.";
    NotFound => "not_found", 404, "Unknown object (another tenant's objects answer the same), or unknown route.";
    NotSupported => "not_supported", 404, "An Arcade route that Latchkey does not serve.";
    MethodNotAllowed => "method_not_allowed", 405, "Known path, wrong method.";
    PayloadTooLarge => "payload_too_large", 413, "Body over 64 KiB.";
    UnsupportedMediaType => "unsupported_media_type", 415, "Body with a non-JSON content type.";
    RateLimited => "rate_limited", 429, "A rate limit was hit; see `Retry-After`.";
    InternalError => "internal_error", 500, "A Latchkey fault (details are in the log, not the body).";
    UpstreamUnavailable => "upstream_unavailable", 502, "Discord was unreachable or failed while it was needed.";
    Unavailable => "unavailable", 503, "Overload, maintenance, or the database is unreachable.";
}

impl std::fmt::Display for ErrorName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_never_blame_a_client_with_a_retryable_status() {
        let mut seen = std::collections::HashSet::new();
        for n in ErrorName::ALL {
            assert!(seen.insert(n.as_str()), "duplicate {n}");
            assert!(
                n.as_str()
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
            let client_fault = n.status() < 500 && n.status() >= 400;
            // The Arcade clients retry 408, 409, 429 and 5xx: a client's mistake never gets one.
            if client_fault && *n != ErrorName::RateLimited {
                assert!(![408, 409, 429].contains(&n.status()), "{n}");
            }
        }
    }
}
