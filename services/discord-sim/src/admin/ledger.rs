//! Admin endpoints for what the simulator observed and injects: the request log, violations,
//! the event log, and fault rules.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::admin_error;
use crate::faults::FaultRule;
use crate::http::json_response;
use crate::log::LogFilter;
use crate::server::AppState;

/// `GET /__sim/requests?since=&method=&path=&status=&client_id=&user_id=&limit=` → array.
pub(crate) async fn requests(
    State(app): State<AppState>,
    Query(filter): Query<LogFilter>,
) -> Response {
    let w = app.world.lock();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(w.ledger.query(&filter)).unwrap_or_default(),
    )
}

/// `DELETE /__sim/requests`.
pub(crate) async fn clear_requests(State(app): State<AppState>) -> Response {
    app.world.lock().ledger.entries.clear();
    json_response(StatusCode::OK, &json!({}))
}

/// `GET /__sim/violations` → array.
pub(crate) async fn violations(State(app): State<AppState>) -> Response {
    let w = app.world.lock();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&w.ledger.violations).unwrap_or_default(),
    )
}

/// `DELETE /__sim/violations`.
pub(crate) async fn clear_violations(State(app): State<AppState>) -> Response {
    app.world.lock().ledger.violations.clear();
    json_response(StatusCode::OK, &json!({}))
}

/// `GET /__sim/events` → array (e.g. `GUILD_MEMBER_ADD`).
pub(crate) async fn events(State(app): State<AppState>) -> Response {
    let w = app.world.lock();
    json_response(
        StatusCode::OK,
        &serde_json::Value::Array(w.ledger.events.clone()),
    )
}

/// `POST /__sim/faults` → 201 with the stored rule (id assigned when absent).
pub(crate) async fn add_fault(State(app): State<AppState>, bytes: Bytes) -> Response {
    let rule: FaultRule = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, "invalid_fault", &e.to_string()),
    };
    let stored = app.world.lock().faults.add(rule);
    json_response(
        StatusCode::CREATED,
        &serde_json::to_value(stored).unwrap_or_default(),
    )
}

/// `GET /__sim/faults` → array with counters.
pub(crate) async fn list_faults(State(app): State<AppState>) -> Response {
    let w = app.world.lock();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&w.faults.rules).unwrap_or_default(),
    )
}

/// `DELETE /__sim/faults`.
pub(crate) async fn clear_faults(State(app): State<AppState>) -> Response {
    app.world.lock().faults.rules.clear();
    json_response(StatusCode::OK, &json!({}))
}

/// `DELETE /__sim/faults/{id}`.
pub(crate) async fn delete_fault(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let mut w = app.world.lock();
    let before = w.faults.rules.len();
    w.faults
        .rules
        .retain(|r| r.id.as_deref() != Some(id.as_str()));
    if w.faults.rules.len() == before {
        return admin_error(StatusCode::NOT_FOUND, "not_found", "unknown fault rule");
    }
    json_response(StatusCode::OK, &json!({"deleted": id}))
}
