//! Providers in Arcade's `auth_providers` shape (specs/arcade-compat.md §10.1) plus Latchkey's
//! extension fields (`scopes`, `policy`, `endpoint_origin`). Every request field is optional
//! here and checked by the control plane, so a missing field gets an error that names it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `oauth2.pkce`: PKCE is always on with S256; other values are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct PkceSettings {
    /// Must be `true` (or absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Must be `S256` (or absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge_method: Option<String>,
}

/// The `oauth2` object of a create or patch.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct OAuth2Request {
    /// The Discord application id (required on create).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The client secret (required on create; write-only; at most 512 bytes).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Only `" "` (Discord's delimiter).
    #[serde(default)]
    pub scope_delimiter: Option<String>,
    /// Only "enabled, S256".
    #[serde(default)]
    pub pkce: Option<PkceSettings>,
    /// Not accepted: Discord's endpoints are built in. Must be absent or null.
    #[serde(default)]
    pub authorize_request: Option<serde_json::Value>,
    /// Not accepted (see `authorize_request`).
    #[serde(default)]
    pub token_request: Option<serde_json::Value>,
    /// Not accepted (see `authorize_request`).
    #[serde(default)]
    pub refresh_request: Option<serde_json::Value>,
    /// Not accepted (see `authorize_request`).
    #[serde(default)]
    pub user_info_request: Option<serde_json::Value>,
    /// Not accepted (see `authorize_request`).
    #[serde(default)]
    pub token_introspection_request: Option<serde_json::Value>,
}

/// A membership gate (Latchkey extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct PolicySettings {
    /// The user must be a member of every one of these guilds.
    #[serde(default)]
    pub required_guild_ids: Vec<String>,
    /// … and hold every one of these roles there.
    #[serde(default)]
    pub required_role_ids: Vec<String>,
    /// Shown to a user the gate refuses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST` and `PATCH /v1/admin/auth_providers[/{id}]`. Unknown fields are ignored and `null`
/// means absent; on PATCH every field is optional and merged field by field.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
pub struct ProviderRequest {
    /// Tenant-chosen id, 1–100 of `A-Za-z0-9._-` (required on create; on patch absent or equal).
    #[serde(default)]
    pub id: Option<String>,
    /// At most 1000 characters; `""` clears it on patch.
    #[serde(default)]
    pub description: Option<String>,
    /// The tenant's own reference, at most 50 characters; stored, never returned.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Must be `discord` (required on create).
    #[serde(default)]
    pub provider_id: Option<String>,
    /// `oauth2` (default).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// `active` (default) or `inactive`.
    #[serde(default)]
    pub status: Option<String>,
    /// Client credentials and OAuth options.
    #[serde(default)]
    pub oauth2: Option<OAuth2Request>,
    /// Latchkey extension: the scopes the provider may request (default `["identify"]`;
    /// `identify` is always included).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// Latchkey extension: a guild/role membership gate (`{}` clears it on patch).
    #[serde(default)]
    pub policy: Option<PolicySettings>,
    /// Latchkey extension: an operator-allow-listed origin standing in for discord.com (the
    /// simulator, or an egress proxy); `""` clears it on patch.
    #[serde(default)]
    pub endpoint_origin: Option<String>,
}

/// `{type, id}` of the owner.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct Binding {
    /// Always `tenant`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The tenant id.
    pub id: String,
}

/// How the write-only secret reads back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct SecretInfo {
    /// Whether a secret is stored.
    pub exists: bool,
    /// `****` and the last four characters when the secret has 16 or more, else `****`.
    pub hint: String,
    /// Always true.
    pub editable: bool,
    /// Always `tenant`.
    pub binding: String,
}

/// The `oauth2` object of a response.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct OAuth2Response {
    /// The Discord application id.
    pub client_id: String,
    /// Never the value: `{exists, hint, editable, binding}`.
    pub client_secret: SecretInfo,
    /// The exact callback URL to register at Discord for this provider.
    pub redirect_uri: String,
    /// Always `" "`.
    pub scope_delimiter: String,
    /// Always enabled with S256.
    pub pkce: PkceSettings,
}

/// `AuthProviderResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ProviderResponse {
    /// The tenant-chosen id.
    pub id: String,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Always `discord`.
    pub provider_id: String,
    /// Always `oauth2`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `active` or `inactive`.
    pub status: String,
    /// The owning tenant.
    pub binding: Binding,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Client id, secret info, redirect URI, PKCE.
    pub oauth2: OAuth2Response,
    /// Latchkey extension: configured scopes.
    pub scopes: Vec<String>,
    /// Latchkey extension: the membership gate, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySettings>,
    /// Latchkey extension: the endpoint origin, if overridden.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_origin: Option<String>,
}

/// A page of `ProviderResponse`.
pub type ProviderPage = crate::Page<ProviderResponse>;

/// `POST /v1/admin/auth_providers/{id}/test`: what Discord said of the provider's credentials.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct ProviderCheckResponse {
    /// Whether Discord accepted the client id and secret.
    pub ok: bool,
    /// What that means, or what to fix.
    pub message: String,
}
