//! Tools: the admin registration shape (`/v1/admin/tools`, Latchkey's own) and Arcade's
//! `ToolDefinition` (`/v1/tools`, specs/arcade-compat.md §9.3). A requirement is written in
//! arcade-tdk's form, `{"provider_id": "discord", "id"?: "<instance>", "oauth2": {"scopes": […]}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api_keys::CreatedApiKeyResponse;

/// `oauth2` of a requirement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementOAuth2 {
    /// The Discord scopes the tool needs (`identify` is implied).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A tool's authorization requirement, as declared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementRequest {
    /// Must be `discord`.
    #[serde(default)]
    pub provider_id: Option<String>,
    /// Optional; only `oauth2`.
    #[serde(default)]
    pub provider_type: Option<String>,
    /// Pins one of the tenant's providers by its id; absent → provider resolution picks it.
    #[serde(default)]
    pub id: Option<String>,
    /// The scopes.
    #[serde(default)]
    pub oauth2: Option<RequirementOAuth2>,
}

/// `POST /v1/admin/tools` (all fields) and `PATCH /v1/admin/tools/{name}` (any of them;
/// `name`, if given, must equal the path). Unknown fields are refused.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolRequest {
    /// `Toolkit.Tool` (required on create).
    #[serde(default)]
    pub name: Option<String>,
    /// A semantic version, e.g. `1.0.0` (required on create).
    #[serde(default)]
    pub version: Option<String>,
    /// At most 1000 characters; `""` clears it on patch.
    #[serde(default)]
    pub description: Option<String>,
    /// What the tool needs from Discord (required on create).
    #[serde(default)]
    pub requirement: Option<RequirementRequest>,
}

/// A requirement as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct RequirementResponse {
    /// `discord`.
    pub provider_id: String,
    /// `oauth2`.
    pub provider_type: String,
    /// The pinned provider's id, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The declared scopes.
    pub oauth2: RequirementOAuth2,
}

/// A registered tool (admin view).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ToolResponse {
    /// `tool_…`; tool keys are bound to it.
    pub id: String,
    /// `Toolkit.Tool`.
    pub name: String,
    /// The version.
    pub version: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What it needs from Discord.
    pub requirement: RequirementResponse,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// A tool and a newly issued tool key, whose secret is shown once.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ToolWithKeyResponse {
    /// The tool.
    pub tool: ToolResponse,
    /// The new tool key (role `tool`, bound to the tool); `secret` is shown only here.
    pub key: CreatedApiKeyResponse,
}

/// `toolkit` of a `ToolDefinition`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ToolkitResponse {
    /// The toolkit's name.
    pub name: String,
    /// The tool's version (the toolkit is versioned with its tools).
    pub version: String,
}

/// `input` of a `ToolDefinition` (no parameters are catalogued yet).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ToolInput {
    /// Always present (arcadepy requires it).
    pub parameters: Vec<serde_json::Value>,
}

/// `requirements.authorization` of a `ToolDefinition` (§9.4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct AuthorizationRequirement {
    /// The declaration.
    #[serde(flatten)]
    pub declared: RequirementResponse,
    /// The resolved provider's status: `active` or `inactive`.
    pub status: String,
    /// Empty, or why the provider is not usable (`unknown_provider`, `ambiguous_provider`,
    /// `provider_inactive`).
    pub status_reason: String,
    /// With `user_id`: `completed`, `pending`, `failed` or `not_started`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_status: Option<String>,
}

/// `requirements` of a `ToolDefinition`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ToolRequirements {
    /// The Discord requirement.
    pub authorization: AuthorizationRequirement,
    /// With `user_id`: whether the user's grant already covers the requirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
}

/// Arcade's `ToolDefinition`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ToolDefinition {
    /// `Toolkit.Tool@version`.
    pub fully_qualified_name: String,
    /// `Toolkit.Tool`.
    pub qualified_name: String,
    /// `Tool`.
    pub name: String,
    /// Free text (empty when none).
    pub description: String,
    /// The toolkit.
    pub toolkit: ToolkitResponse,
    /// Input parameters.
    pub input: ToolInput,
    /// The authorization requirement and, with `user_id`, whether it is met.
    pub requirements: ToolRequirements,
}

/// A user's connection (grant), in Arcade's `user_connections` shape (§10.2).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ConnectionResponse {
    /// `grt_…`.
    pub id: String,
    /// The same as `id`.
    pub connection_id: String,
    /// `active` or `reauth_required`.
    pub connection_status: String,
    /// The provider's id (the tenant's instance id).
    pub provider_id: String,
    /// `oauth2`.
    pub provider_type: String,
    /// The provider's description.
    #[serde(default)]
    pub provider_description: Option<String>,
    /// Discord's `/users/@me` object as stored.
    pub provider_user_info: serde_json::Value,
    /// Granted scopes, sorted.
    pub scopes: Vec<String>,
    /// The tenant's user id.
    pub user_id: String,
    /// When the current access token expires (RFC 3339); Latchkey refreshes it before then
    /// (Latchkey's own field).
    pub expires_at: String,
}

/// `POST /v1/tools/authorize` (Arcade's `tools.authorize`): start (or reuse) an authorization
/// for what a registered tool declared. Unknown fields are ignored, except the names of
/// Discord's authorize parameters.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ToolAuthorizeRequest {
    /// `Toolkit.Tool`, `Toolkit.Tool@1.2.3` or `Toolkit_Tool`.
    pub tool_name: String,
    /// The tenant's user (1–256 bytes, no control characters).
    pub user_id: String,
    /// Must equal the catalogue's version when given.
    #[serde(default)]
    pub tool_version: Option<String>,
    /// Where the verifier sends the user afterwards (an allow-listed origin).
    #[serde(default)]
    pub next_uri: Option<String>,
    /// Anything else (authorize-parameter names are refused).
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    pub unknown: crate::auth::Unknown,
}
