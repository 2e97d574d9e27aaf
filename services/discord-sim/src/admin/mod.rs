//! The admin API (§10.6) under `/__sim`: JSON in and out, never rate-limited, counted or
//! logged. Handlers are grouped by resource: world and settings, guild fixtures, users and
//! tokens, and the ledger with fault rules. Errors are `{"error", "message"}`.

mod guilds;
mod ledger;
mod users;
mod world;

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::consent;
use crate::http::json_response;
use crate::server::AppState;

/// An admin error body.
pub(crate) fn admin_error(status: StatusCode, error: &str, message: &str) -> Response {
    json_response(status, &json!({"error": error, "message": message}))
}

/// Parses an optional JSON body (empty = `Default`).
pub(crate) fn body<T: DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Response> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| admin_error(StatusCode::BAD_REQUEST, "invalid_body", &e.to_string()))
}

/// The `/__sim` router.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(world::health))
        .route("/reset", post(world::reset))
        .route("/fixtures", post(world::load_fixtures))
        .route("/state", get(world::state))
        .route(
            "/settings",
            get(world::get_settings).patch(world::patch_settings),
        )
        .route("/clock", get(world::clock))
        .route("/clock/advance", post(world::clock_advance))
        .route("/clock/set", post(world::clock_set))
        .route("/rate-limits/reset", post(world::rate_limits_reset))
        .route(
            "/guilds/{gid}/members/{uid}",
            put(guilds::put_member).delete(guilds::delete_member),
        )
        .route(
            "/guilds/{gid}/bans/{uid}",
            put(guilds::put_ban).delete(guilds::delete_ban),
        )
        .route(
            "/guilds/{gid}/bots/{app_id}",
            put(guilds::put_bot).delete(guilds::delete_bot),
        )
        .route(
            "/users/{uid}/deauthorize/{app_id}",
            post(users::deauthorize),
        )
        .route("/users/{uid}/ban-account", post(users::ban_account))
        .route("/tokens/{token}/expire", post(users::expire_token))
        .route("/tokens/{token}/revoke-single", post(users::revoke_single))
        .route(
            "/consent/plan",
            post(users::plan_push)
                .get(users::plan_list)
                .delete(users::plan_clear),
        )
        .route(
            "/requests",
            get(ledger::requests).delete(ledger::clear_requests),
        )
        .route(
            "/violations",
            get(ledger::violations).delete(ledger::clear_violations),
        )
        .route("/events", get(ledger::events))
        .route(
            "/faults",
            post(ledger::add_fault)
                .get(ledger::list_faults)
                .delete(ledger::clear_faults),
        )
        .route("/faults/{id}", delete(ledger::delete_fault))
        .route(
            "/login",
            get(consent::login_page).post(consent::login_submit),
        )
        .route("/consent", post(consent::submit))
        .fallback(|| async {
            admin_error(StatusCode::NOT_FOUND, "not_found", "unknown admin endpoint")
        })
}
