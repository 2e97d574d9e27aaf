//! Admin endpoints for the world as a whole: health, reset, fixtures, the state dump,
//! settings, the clock and rate-limit counters.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{admin_error, body};
use crate::clock::format_ts;
use crate::fixtures::Fixtures;
use crate::http::json_response;
use crate::ids::show_secret;
use crate::server::AppState;
use crate::state::World;

/// `GET /__sim/health`.
pub(crate) async fn health(State(app): State<AppState>) -> Response {
    let mode = match app.mode {
        crate::Mode::Test => "test",
        crate::Mode::Demo => "demo",
    };
    json_response(
        StatusCode::OK,
        &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "mode": mode}),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetRequest {
    #[serde(default)]
    keep_fixtures: bool,
}

/// `POST /__sim/reset`.
pub(crate) async fn reset(State(app): State<AppState>, bytes: Bytes) -> Response {
    let req: ResetRequest = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    app.world.lock().reset(req.keep_fixtures);
    json_response(
        StatusCode::OK,
        &json!({"reset": true, "keep_fixtures": req.keep_fixtures}),
    )
}

/// `POST /__sim/fixtures`: merges by id, validates the result.
pub(crate) async fn load_fixtures(State(app): State<AppState>, bytes: Bytes) -> Response {
    let text = String::from_utf8_lossy(&bytes);
    let incoming = match Fixtures::parse_partial(&text) {
        Ok(f) => f,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, "invalid_fixtures", &e.to_string()),
    };
    let mut w = app.world.lock();
    let mut merged = w.objects.clone();
    merged.authorizations.clear();
    merged.merge(incoming);
    merged.normalize();
    if let Err(e) = merged.validate() {
        return admin_error(StatusCode::BAD_REQUEST, "invalid_fixtures", &e.to_string());
    }
    let counts = json!({"apps": merged.apps.len(), "users": merged.users.len(), "guilds": merged.guilds.len()});
    w.install(merged);
    json_response(StatusCode::OK, &counts)
}

/// `GET /__sim/state`: objects, authorizations, codes and tokens; secrets per `log.secrets`.
pub(crate) async fn state(State(app): State<AppState>) -> Response {
    let w = app.world.lock();
    json_response(StatusCode::OK, &dump(&w))
}

fn dump(w: &World) -> Value {
    let mode = w.settings.log.secrets;
    let mut objects = serde_json::to_value(&w.objects).unwrap_or(Value::Null);
    let scrubbed = crate::log::scrub_json(&objects, mode);
    objects = scrubbed;
    if let Some(apps) = objects.get_mut("apps").and_then(Value::as_array_mut) {
        for app in apps {
            if let Some(bot) = app.get_mut("bot").and_then(Value::as_object_mut)
                && let Some(Value::String(t)) = bot.get("token").cloned()
            {
                bot.insert("token".to_owned(), json!(show_secret(&t, mode)));
            }
        }
    }
    let codes: Vec<Value> = w
        .codes
        .iter()
        .map(|(c, code)| json!({"code": show_secret(c, mode), "app_id": code.app_id, "user_id": code.user_id,
            "scopes": code.scopes, "redirect_uri": code.redirect_uri, "created_at": format_ts(code.created_at_ms), "has_challenge": code.code_challenge.is_some(),
            "expires_at": format_ts(code.expires_at_ms), "consumed": code.consumed_at_ms.is_some()}))
        .collect();
    let access: Vec<Value> = w
        .access
        .iter()
        .map(|(t, a)| json!({"token": show_secret(t, mode), "app_id": a.app_id, "user_id": a.user_id, "scopes": a.scopes,
            "issued_at": format_ts(a.issued_at_ms), "expires_at": format_ts(a.expires_at_ms), "revoked": a.revoked_at_ms.is_some(),
            "via": a.via, "dead_on_arrival": a.dead_on_arrival}))
        .collect();
    let refresh: Vec<Value> = w
        .refresh
        .iter()
        .map(|(t, r)| json!({"token": show_secret(t, mode), "app_id": r.app_id, "user_id": r.user_id, "scopes": r.scopes,
            "issued_at": format_ts(r.issued_at_ms), "expires_at": r.expires_at_ms.map(format_ts),
            "consumed": r.consumed_at_ms.is_some(), "revoked": r.revoked_at_ms.is_some(),
            "access_token": show_secret(&r.access_token, mode)}))
        .collect();
    let auths: Vec<Value> = w
        .auths
        .values()
        .map(|a| json!({"user_id": a.user_id, "app_id": a.app_id, "scopes": a.scopes, "created_at": format_ts(a.created_at_ms)}))
        .collect();
    json!({"objects": objects, "authorizations": auths, "codes": codes, "access_tokens": access,
           "refresh_tokens": refresh, "clock": format_ts(w.now())})
}

/// `GET /__sim/settings`.
pub(crate) async fn get_settings(State(app): State<AppState>) -> Response {
    let w = app.world.lock();
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&w.settings).unwrap_or(Value::Null),
    )
}

/// `PATCH /__sim/settings` with a flat object of dotted keys; all or nothing.
pub(crate) async fn patch_settings(State(app): State<AppState>, bytes: Bytes) -> Response {
    let patch: BTreeMap<String, Value> = match body(&bytes) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let mut w = app.world.lock();
    let mut next = w.settings.clone();
    for (key, value) in patch {
        if let Err(e) = next.set(&key, value) {
            return admin_error(StatusCode::BAD_REQUEST, "invalid_setting", &e.to_string());
        }
    }
    w.settings = next;
    json_response(
        StatusCode::OK,
        &serde_json::to_value(&w.settings).unwrap_or(Value::Null),
    )
}

fn clock_json(w: &World) -> Value {
    json!({"now": format_ts(w.now()), "now_ms": w.now(), "offset_ms": w.clock.offset_ms()})
}

/// `GET /__sim/clock`.
pub(crate) async fn clock(State(app): State<AppState>) -> Response {
    json_response(StatusCode::OK, &clock_json(&app.world.lock()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdvanceRequest {
    seconds: f64,
}

/// `POST /__sim/clock/advance` `{"seconds": 101}`.
pub(crate) async fn clock_advance(State(app): State<AppState>, bytes: Bytes) -> Response {
    let req: AdvanceRequest = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut w = app.world.lock();
    w.clock.advance_ms((req.seconds * 1000.0).round() as i64);
    json_response(StatusCode::OK, &clock_json(&w))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetRequest {
    now_ms: i64,
}

/// `POST /__sim/clock/set` `{"now_ms": 1786000000000}`.
pub(crate) async fn clock_set(State(app): State<AppState>, bytes: Bytes) -> Response {
    let req: SetRequest = match body(&bytes) {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let mut w = app.world.lock();
    w.clock.set_ms(req.now_ms);
    json_response(StatusCode::OK, &clock_json(&w))
}

/// `POST /__sim/rate-limits/reset`: buckets, invalid counters and IP bans.
pub(crate) async fn rate_limits_reset(State(app): State<AppState>) -> Response {
    app.world.lock().limits.clear();
    json_response(StatusCode::OK, &json!({}))
}
