//! Arcade's offset page (specs/arcade-compat.md §10.4), shared by every list.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `{"items", "limit", "offset", "page_count", "total_count"}`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The page size asked for (at most 100).
    pub limit: u32,
    /// How many items were skipped.
    pub offset: u64,
    /// Items in this page.
    pub page_count: u64,
    /// Items in all pages.
    pub total_count: u64,
}
