//! `/v1/admin/settings/session_verification` (specs/arcade-compat.md §10.3).

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// The settings as read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct VerificationSettingsResponse {
    /// Development only: flows complete without a verifier.
    pub unsafe_skip_verification: bool,
    /// False when the operator forbids the skip flag for this deployment.
    pub unsafe_skip_verification_choice_allowed: bool,
    /// The tenant's verifier endpoint; `null` when unset.
    pub verifier_url: Option<String>,
    /// Origins `next_uri` may point to (Latchkey extension).
    pub allowed_next_uri_origins: Vec<String>,
    /// `notify` (default: a re-authorization as another Discord account replaces the user's
    /// connection) or `require_ack` (the new connection waits as `awaiting_ack` until an admin
    /// acknowledges it; the old one keeps serving). Latchkey extension.
    pub account_switch: String,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PUT`: a partial update; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct VerificationSettingsRequest {
    /// An absolute https URL without query, fragment or userinfo; `null` or `""` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub verifier_url: Option<Option<String>>,
    /// Development only; refused (403) when the operator forbids it.
    #[serde(default)]
    pub unsafe_skip_verification: Option<bool>,
    /// Origins (`https://host[:port]`), at most 20.
    #[serde(default)]
    pub allowed_next_uri_origins: Option<Vec<String>>,
    /// `notify` or `require_ack`.
    #[serde(default)]
    pub account_switch: Option<String>,
}
