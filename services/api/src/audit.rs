//! `/v1/admin/audit_events`: what happened in a tenant, newest last. Never contains a secret.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct AuditEventResponse {
    /// `evt_…`.
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// The key that acted (`key_…`, `operator:key_…`), or `cli`.
    pub actor: String,
    /// What was done, e.g. `provider.create`.
    pub action: String,
    /// The object acted on (an id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `success`.
    pub outcome: String,
    /// The request it came with (matches `x-request-id` and the logs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A page of `AuditEventResponse`.
pub type AuditEventPage = crate::Page<AuditEventResponse>;
