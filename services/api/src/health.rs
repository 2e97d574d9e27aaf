//! `GET /v1/health` (specs/arcade-compat.md §11).

use serde::{Deserialize, Serialize};

/// 200 `{"healthy": true}`, or 503 `{"healthy": false, "reason": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HealthResponse {
    /// Whether Latchkey can serve.
    pub healthy: bool,
    /// Why not, in a few words; omitted when healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
