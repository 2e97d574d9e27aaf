//! Admin endpoints for users and tokens: deauthorization (now or after n requests), account
//! bans, expiring or revoking a single token, and the consent plan queue.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{admin_error, body};
use crate::http::json_response;
use crate::server::AppState;
use crate::state::{PlanEntry, ScheduledDeauth};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeauthRequest {
    after_requests: Option<u64>,
}

/// `POST /__sim/users/{uid}/deauthorize/{app_id}` (`{"after_requests": n}` schedules it).
pub(crate) async fn deauthorize(
    State(app): State<AppState>,
    Path((uid, app_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Response {
    let req: DeauthRequest = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut w = app.world.lock();
    match req.after_requests {
        Some(n) if n > 0 => {
            w.scheduled.push(ScheduledDeauth {
                user_id: uid,
                app_id,
                remaining: n,
            });
            json_response(
                StatusCode::OK,
                &json!({"scheduled": true, "after_requests": n}),
            )
        }
        Some(_) | None => {
            let existed = w.deauthorize(&uid, &app_id);
            json_response(
                StatusCode::OK,
                &json!({"deauthorized": true, "had_authorization": existed}),
            )
        }
    }
}

/// `POST /__sim/users/{uid}/ban-account`.
pub(crate) async fn ban_account(State(app): State<AppState>, Path(uid): Path<String>) -> Response {
    if app.world.lock().ban_account(&uid) {
        json_response(StatusCode::OK, &json!({"banned": true}))
    } else {
        admin_error(StatusCode::NOT_FOUND, "not_found", "unknown user")
    }
}

/// `POST /__sim/tokens/{token}/expire`: an access or refresh token expires now.
pub(crate) async fn expire_token(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    let mut w = app.world.lock();
    let now = w.now();
    if let Some(t) = w.access.get_mut(&token) {
        t.expires_at_ms = now;
    } else if let Some(t) = w.refresh.get_mut(&token) {
        t.expires_at_ms = Some(now);
    } else {
        return admin_error(StatusCode::NOT_FOUND, "not_found", "unknown token");
    }
    json_response(StatusCode::OK, &json!({"expired": true}))
}

/// `POST /__sim/tokens/{token}/revoke-single`: revoke only this token.
pub(crate) async fn revoke_single(
    State(app): State<AppState>,
    Path(token): Path<String>,
) -> Response {
    let mut w = app.world.lock();
    let now = w.now();
    if let Some(t) = w.access.get_mut(&token) {
        t.revoked_at_ms.get_or_insert(now);
    } else if let Some(t) = w.refresh.get_mut(&token) {
        t.revoked_at_ms.get_or_insert(now);
    } else {
        return admin_error(StatusCode::NOT_FOUND, "not_found", "unknown token");
    }
    json_response(StatusCode::OK, &json!({"revoked": true}))
}

/// `POST /__sim/consent/plan`: one entry or an array of entries, appended in order.
pub(crate) async fn plan_push(State(app): State<AppState>, bytes: Bytes) -> Response {
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, "invalid_body", &e.to_string()),
    };
    let entries: Result<Vec<PlanEntry>, _> = if value.is_array() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(value).map(|e| vec![e])
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, "invalid_body", &e.to_string()),
    };
    let mut w = app.world.lock();
    w.plan.extend(entries);
    json_response(StatusCode::OK, &json!({"queued": w.plan.len()}))
}

/// `GET /__sim/consent/plan`.
pub(crate) async fn plan_list(State(app): State<AppState>) -> Response {
    let w = app.world.lock();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&w.plan).unwrap_or_default(),
    )
}

/// `DELETE /__sim/consent/plan`.
pub(crate) async fn plan_clear(State(app): State<AppState>) -> Response {
    app.world.lock().plan.clear();
    json_response(StatusCode::OK, &json!({"queued": 0}))
}
