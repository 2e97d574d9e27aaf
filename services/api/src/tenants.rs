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

/// A page of tenants.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct TenantPage {
    /// The tenants of this page.
    pub items: Vec<TenantResponse>,
    /// The page size asked for (at most 100).
    pub limit: u32,
    /// How many items were skipped.
    pub offset: u64,
    /// Items in this page.
    pub page_count: u64,
    /// Items in all pages.
    pub total_count: u64,
}
