//! The control plane over gRPC: `latchkey.v1.ControlPlane` (proto/latchkey/v1/control_plane.proto).
//! Each method is as thin as its REST twin: authenticate the `authorization` metadata with the
//! same check and role rule as the REST extractors ([`auth`]), convert the message into the
//! REST request type, call the same use-case function, convert the answer back. Validation
//! therefore cannot diverge between the transports; errors become `tonic::Status` through the
//! one exhaustive mapping in `latchkey_api::server::grpc`.

/// A REST page as a gRPC list response: the items converted by `$item`, the page numbers as
/// they are.
macro_rules! page_response {
    ($response:path, $page:expr, $item:expr) => {{
        let page = $page;
        $response {
            items: page.items.into_iter().map($item).collect(),
            limit: page.limit,
            offset: page.offset,
            page_count: page.page_count,
            total_count: page.total_count,
        }
    }};
}

mod api_keys;
mod audit;
mod auth;
mod connections;
mod providers;
mod service;
mod settings;
mod tenants;
mod tools;

use latchkey_api::grpc::v1::control_plane_server::ControlPlaneServer;
use latchkey_api::server::{ApiError, PageQuery};

pub use service::ControlPlaneService;

/// The largest request message the service decodes (the REST body limit, 64 KiB); larger ones
/// are refused with `OUT_OF_RANGE`.
pub const MAX_MESSAGE: usize = latchkey_api::BODY_LIMIT;

/// The gRPC server for the control plane, ready to be routed.
pub fn server(cp: crate::ControlPlane) -> ControlPlaneServer<ControlPlaneService> {
    ControlPlaneServer::new(ControlPlaneService::new(cp)).max_decoding_message_size(MAX_MESSAGE)
}

/// A list request's `limit`/`offset`, with the REST rules (absent → 100/0, 0 → invalid).
fn page(limit: Option<u32>, offset: Option<u64>) -> Result<PageQuery, ApiError> {
    PageQuery::new(limit.map(u64::from), offset)
}
