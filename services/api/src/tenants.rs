//! Platform tenant management (`/v1/platform/tenants`, operator key).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/platform/tenants`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreateTenantRequest {
    /// Display name: 1–200 characters, no control characters, no surrounding whitespace.
    pub name: String,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
pub struct TenantResponse {
    /// `tnt_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

/// A new tenant with its first keys, each shown exactly once.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct CreatedTenantResponse {
    /// `tnt_…`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
    /// An `admin` key (`lk_…`), shown once.
    pub admin_key: String,
    /// An `app` key (`lk_…`), shown once.
    pub app_key: String,
}

/// A page of `TenantResponse`.
pub type TenantPage = crate::Page<TenantResponse>;
