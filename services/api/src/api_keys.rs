//! A tenant's API keys (`/v1/admin/api_keys`, admin key). Secrets are shown once, at creation.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/admin/api_keys`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// A label: 1–200 characters.
    pub name: String,
    /// `admin` or `app`. Tool keys are issued when a tool is registered.
    pub role: String,
}

/// An API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    /// `key_…` (the public part of `lk_<id>_<secret>`).
    pub id: String,
    /// Label.
    pub name: String,
    /// `admin`, `app` or `tool`.
    pub role: String,
    /// For tool keys, the bound tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339; absent if never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    /// RFC 3339; absent unless revoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// A new key: its metadata and the whole key, shown exactly once.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreatedApiKeyResponse {
    /// The key's metadata.
    #[serde(flatten)]
    pub key: ApiKeyResponse,
    /// `lk_<id>_<secret>`; store it now, it cannot be shown again.
    pub secret: String,
}

/// A page of `ApiKeyResponse`.
pub type ApiKeyPage = crate::Page<ApiKeyResponse>;
