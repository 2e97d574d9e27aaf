//! The revocation endpoint (§10.5.4, §5): authenticates the client like the token endpoint,
//! then revokes every access and refresh token of the (user, app) pair the presented token
//! belongs to and deletes the Authorization. Unknown tokens get `revoke.unknown_token`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::http::{Exchange, json_response, oauth_error, pair};
use crate::settings::UnknownTokenPolicy;
use crate::state::World;
use crate::token::{authenticate, body_params, invalid_client};

/// `POST /api[/vN]/oauth2/token/revoke`.
pub(crate) fn handle(w: &mut World, ex: &mut Exchange) -> Response {
    ex.check_user_agent();
    let params = body_params(w, ex);
    let client = match authenticate(w, ex, &params) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if !client.has_secret && !client.app.public_client {
        return invalid_client(w, client.basic);
    }
    let Some(token) = pair(&params, "token").map(str::to_owned) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("Missing \"token\""),
        );
    };
    let app_id = client.app.id.clone();
    let owner = w
        .access
        .get(&token)
        .filter(|t| t.app_id == app_id && t.revoked_at_ms.is_none())
        .map(|t| t.user_id.clone())
        .or_else(|| {
            w.refresh
                .get(&token)
                .filter(|t| t.app_id == app_id && t.revoked_at_ms.is_none())
                .map(|t| t.user_id.clone())
        });
    match owner {
        Some(user_id) => {
            ex.user_id = Some(user_id.clone());
            w.deauthorize(&user_id, &app_id);
            ex.note("revoked_authorization");
            json_response(StatusCode::OK, &json!({}))
        }
        None => {
            ex.note("revoke_unknown_token");
            match w.settings.revoke.unknown_token {
                UnknownTokenPolicy::OkEmpty => json_response(StatusCode::OK, &json!({})),
                UnknownTokenPolicy::InvalidRequest => oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    Some("Invalid \"token\" in request."),
                ),
            }
        }
    }
}
