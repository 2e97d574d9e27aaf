//! The top-level router: the admin API nested under `/__sim`, everything else through the
//! Discord-facing entry point (which does its own path routing, so Discord's exact 404 and 405
//! bodies come out).

use axum::Router;

use crate::server::AppState;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .nest("/__sim", crate::admin::router())
        .fallback(crate::entry::entry)
        .with_state(state)
}
