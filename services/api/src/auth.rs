//! The Arcade-compatible authorization shapes (specs/arcade-compat.md §8): `authorize`,
//! `status` and `confirm_user`. Unknown fields are ignored (§3.3), except the names of Discord
//! authorize parameters (`prompt`, `redirect_uri`, `state`, …), which are refused wherever they
//! appear: callers can never add or change one (security.md V8, V-T10).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Names a request may never carry: they are Discord's authorize parameters, which Latchkey
/// alone sets.
pub const AUTHORIZE_PARAMETERS: &[&str] = &[
    "prompt",
    "redirect_uri",
    "state",
    "response_type",
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "scope",
    "integration_type",
    "permissions",
    "guild_id",
    "disable_guild_select",
    "channel_id",
    "nonce",
    "response_mode",
];

/// Fields a request carried that Latchkey does not know (their values are never read).
pub type Unknown = BTreeMap<String, serde::de::IgnoredAny>;

/// The first authorize-parameter name among `unknown`, if any.
pub fn forbidden_field(unknown: &Unknown) -> Option<&str> {
    unknown
        .keys()
        .map(String::as_str)
        .find(|k| AUTHORIZE_PARAMETERS.contains(k))
}

/// `auth_requirement.oauth2`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct AuthorizeOAuth2 {
    /// Discord scopes; absent or `[]` → the provider's default scopes. `identify` is always
    /// added.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Anything else (authorize-parameter names are refused).
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    pub unknown: Unknown,
}

/// `auth_requirement`: which of the tenant's providers, and which scopes.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct AuthRequirement {
    /// A provider's id (pins the instance).
    #[serde(default)]
    pub id: Option<String>,
    /// `discord` (the tenant's one active Discord provider) or a provider's id.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// `oauth2` (the default); anything else is refused.
    #[serde(default)]
    pub provider_type: Option<String>,
    /// The scopes.
    #[serde(default)]
    pub oauth2: Option<AuthorizeOAuth2>,
    /// Anything else (authorize-parameter names are refused).
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    pub unknown: Unknown,
}

/// `POST /v1/auth/authorize`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct AuthorizeRequest {
    /// Which provider and scopes.
    pub auth_requirement: AuthRequirement,
    /// The tenant's user (1–256 bytes, no control characters; compared byte for byte).
    pub user_id: String,
    /// Where the verifier sends the user afterwards; its origin must be on the tenant's
    /// allow-list.
    #[serde(default)]
    pub next_uri: Option<String>,
    /// Anything else (authorize-parameter names are refused).
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    pub unknown: Unknown,
}

/// `context` of a `completed` authorization: the Discord access token (never the refresh
/// token) and the Discord user.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuthorizationContext {
    /// The current Discord access token.
    pub token: String,
    /// Discord's `/users/@me` object, unchanged.
    #[schema(value_type = Object)]
    pub user_info: serde_json::Value,
}

/// Arcade's `AuthorizationResponse`: `pending` with `url`; `completed` with `context`;
/// `failed` with neither.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuthorizationResponse {
    /// The authorization id (`auth_…`), also on `completed` answers.
    pub id: String,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    /// The start link for the user's browser (`pending` only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub url: Option<String>,
    /// The resolved provider's id.
    pub provider_id: String,
    /// `pending`: the scopes asked for; `completed`: the grant's scopes. Sorted.
    pub scopes: Vec<String>,
    /// The user.
    pub user_id: String,
    /// The token and user (`completed`, while the grant is usable).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub context: Option<AuthorizationContext>,
}

/// `POST /v1/auth/validate_custom_verifier` (admin key): a verifier self-test.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ValidateVerifierRequest {
    /// The user the verifier must confirm (sign in to the tenant app as this user first).
    pub user_id: String,
    /// The verifier route to test; need not be the saved setting (same URL rules).
    pub verifier_url: String,
}

/// A started verifier self-test.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ValidateVerifierResponse {
    /// The test's one-time `flow_id`: open `<verifier_url>?flow_id=<flow_id>` in a browser
    /// signed in to the tenant app as `user_id`.
    pub flow_id: String,
    /// Latchkey's page showing the test's outcome (the verifier's `confirm_user` answers it
    /// as `next_uri`).
    pub next_uri: String,
}

/// `POST /v1/auth/confirm_user`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ConfirmUserRequest {
    /// The `flow_id` the verifier received in its query string.
    pub flow_id: String,
    /// The user signed in to the tenant's app, as its own session says.
    pub user_id: String,
}

/// The answer to a confirmation that matched.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ConfirmUserResponse {
    /// The authorization id the app got from `authorize`.
    pub auth_id: String,
    /// Where to send the user: the allow-listed `next_uri`, else Latchkey's completion page.
    pub next_uri: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_kept_by_name_and_duplicates_refused() {
        let r: AuthorizeRequest = serde_json::from_str(
            r#"{"user_id":"u","auth_requirement":{"provider_id":"discord","oauth2":{"scopes":["guilds"],"prompt":"none"}},"extra":1}"#,
        )
        .unwrap();
        assert_eq!(forbidden_field(&r.unknown), None);
        assert!(r.unknown.contains_key("extra"));
        let o = r.auth_requirement.oauth2.unwrap();
        assert_eq!(forbidden_field(&o.unknown), Some("prompt"));
        assert!(
            serde_json::from_str::<AuthorizeRequest>(
                r#"{"user_id":"u","auth_requirement":{"oauth2":{"scopes":["a"],"scopes":["b"]}}}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<AuthorizeRequest>(
                r#"{"user_id":"u","user_id":"v","auth_requirement":{}}"#
            )
            .is_err()
        );
    }
}
