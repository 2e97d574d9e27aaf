//! `GET /oauth2/@me`, `GET /users/@me` and `GET /users/@me/connections` (§6.1, §6.2, §6.5).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::Caller;
use super::render::{application, bot_user, full_user, public_user};
use crate::clock::format_ts;
use crate::http::{json_response, unauthorized};
use crate::state::World;

/// `GET /oauth2/@me` (Bearer only).
pub(crate) fn oauth_me(w: &World, caller: &Caller) -> Response {
    let Caller::Bearer {
        token,
        user_id,
        app_id,
        scopes,
    } = caller
    else {
        return unauthorized();
    };
    let (Some(app), Some(t)) = (w.app(app_id), w.access.get(token)) else {
        return unauthorized();
    };
    let mut granted = w
        .auths
        .get(&(user_id.clone(), app_id.clone()))
        .map_or_else(|| scopes.clone(), |a| a.scopes.clone());
    granted.sort();
    let mut body = json!({"application": application(app), "scopes": granted, "expires": format_ts(t.expires_at_ms)});
    if scopes.iter().any(|s| s == "identify")
        && let (Some(user), Some(obj)) = (w.user(user_id), body.as_object_mut())
    {
        obj.insert("user".to_owned(), public_user(user));
    }
    json_response(StatusCode::OK, &body)
}

/// `GET /users/@me`.
pub(crate) fn users_me(w: &World, caller: &Caller) -> Response {
    match caller {
        Caller::Bearer {
            user_id, scopes, ..
        } => match w.user(user_id) {
            Some(u) => {
                let has = |s: &str| scopes.iter().any(|x| x == s);
                json_response(
                    StatusCode::OK,
                    &full_user(u, has("email"), has("identify.premium")),
                )
            }
            None => unauthorized(),
        },
        Caller::Bot { app_id, .. } => match w.app(app_id).and_then(|a| a.bot.as_ref()) {
            Some(bot) => json_response(StatusCode::OK, &bot_user(bot)),
            None => unauthorized(),
        },
    }
}

/// `GET /users/@me/connections`, in fixture order.
pub(crate) fn connections(w: &World, caller: &Caller) -> Response {
    let list: Vec<Value> = match caller {
        Caller::Bearer { user_id, .. } => w
            .user(user_id)
            .map(|u| {
                u.connections
                    .iter()
                    .filter_map(|c| serde_json::to_value(c).ok())
                    .collect()
            })
            .unwrap_or_default(),
        Caller::Bot { .. } => Vec::new(),
    };
    json_response(StatusCode::OK, &Value::Array(list))
}
