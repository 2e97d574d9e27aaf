//! The token service's shapes (`POST /v1/tokens`, Latchkey's own): a registered tool asks for
//! one user's Discord access token, limited to what the tool declared.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/tokens`: with a tool key and `user_id`, or with only a tool `grant` (no key).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The tenant's user whose token the tool needs (with a tool key).
    #[serde(default)]
    pub user_id: Option<String>,
    /// A tool grant minted by the app (`POST /v1/tools/{name}/grants`), instead of a tool key
    /// and `user_id`.
    #[serde(default)]
    pub grant: Option<String>,
}

/// A Discord access token for one user and one tool. Never a refresh token.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The Discord access token (use it as `Authorization: Bearer <token>` at Discord).
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// When it expires (RFC 3339); ask again before then.
    pub expires_at: String,
    /// The scopes the tool may use it for (what it declared, plus `identify`), sorted.
    pub scopes: Vec<String>,
    /// Discord's `/users/@me` object for the user.
    #[schema(value_type = Object)]
    pub user_info: std::sync::Arc<serde_json::value::RawValue>,
}

/// 403 `authorization_required`: the error body plus the authorization the user must complete.
/// (The same status also answers `forbidden` — a key without the tool role — with the plain
/// error body, so the document marks the two extra fields as present with
/// `authorization_required` only.)
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct AuthorizationRequiredBody {
    /// `authorization_required` (or `forbidden`, without the fields below).
    pub name: String,
    /// What to do.
    pub message: String,
    /// The request id.
    pub request_id: String,
    /// The authorization to show the user (`auth_…`; poll it with `GET /v1/auth/status`).
    /// Present with `authorization_required`.
    #[schema(required = false)]
    pub authorization_id: String,
    /// The start link for the user's browser. Present with `authorization_required`.
    #[schema(required = false)]
    pub url: String,
}

/// `POST /v1/tools/{name}/grants` with an app key.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolGrantRequest {
    /// The user the tool may act for.
    pub user_id: String,
}

/// A tool grant: a short-lived JWT for one user and one tool.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ToolGrantResponse {
    /// The JWT, for the tool to present to `POST /v1/tokens` as `{"grant": …}`.
    pub grant: String,
    /// When it expires (RFC 3339).
    pub expires_at: String,
    /// The tool (`Toolkit.Tool`).
    pub tool: String,
    /// The user.
    pub user_id: String,
}
