//! What the dashboard shows of a tenant's activity (Latchkey's own): recent authorizations and
//! daily usage.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One authorization as an admin sees it: never its start link, flow or tokens.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuthorizationSummary {
    /// `auth_…`.
    pub id: String,
    /// The tenant's user.
    pub user_id: String,
    /// The provider's id (empty if it was deleted).
    pub provider_id: String,
    /// The scopes asked for, sorted.
    pub scopes: Vec<String>,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    /// Why it failed (a stable reason such as `consent_denied`, `user_mismatch`, `expired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: the last change.
    pub updated_at: String,
    /// RFC 3339: when the flow ends if still pending.
    pub expires_at: String,
}

/// `GET /v1/admin/authorizations`: the most recently changed first.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuthorizationList {
    /// At most `limit` (default 50, at most 100).
    pub items: Vec<AuthorizationSummary>,
}

/// One UTC day of usage.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Authorizations started (`authorization.start`).
    pub authorizations_started: u64,
    /// Authorizations completed (`authorization.completed`).
    pub authorizations_completed: u64,
    /// Tokens released to tools (`token.release`).
    pub token_releases: u64,
}

/// `GET /v1/admin/usage`: one entry per day, oldest first, today last (days without activity
/// are zeros).
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct UsageResponse {
    /// The days.
    pub days: Vec<UsageDay>,
}
