//! The dashboard's session (`/v1/dashboard/session`, Latchkey's own): an admin key is exchanged
//! for an HttpOnly, `SameSite=Strict` session cookie, so the key never stays in the browser.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/dashboard/session`: sign in with an admin key.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    /// An admin key (`lk_…`). It is checked, never stored by the browser.
    pub api_key: String,
}

/// The current dashboard session.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct SessionResponse {
    /// The tenant signed in to.
    pub tenant_id: String,
    /// The tenant's name.
    pub tenant_name: String,
    /// The admin key the session stands for (revoking it ends the session).
    pub key_id: String,
    /// Send it as `X-CSRF-Token` on every write (POST, PUT, PATCH, DELETE) with the session.
    pub csrf_token: String,
    /// When the session ends (RFC 3339); sign in again afterwards.
    pub expires_at: String,
}
