//! The token endpoint (§10.5.3 steps 1–4): form-only parameter extraction, `grant_type`
//! dispatch, client authentication (HTTP Basic and/or body credentials) with the configurable
//! `invalid_client` status, and the token response object of §4.3.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::json;

use crate::grants;
use crate::http::{Exchange, json_response, oauth_error, pair, set_header};
use crate::model::App;
use crate::settings::{AcceptReject, InvalidClientStatus};
use crate::state::World;

/// An authenticated client.
pub(crate) struct Client {
    pub app: App,
    pub has_secret: bool,
    pub basic: bool,
}

/// `(client_id, client_secret)` from an `Authorization: Basic` header, both form-decoded.
pub(crate) fn basic_credentials(ex: &Exchange) -> Option<(String, String)> {
    let header = ex.header("authorization")?;
    let (scheme, value) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

/// Decodes `+` and `%XX` as in `application/x-www-form-urlencoded`.
fn form_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parameters of a token or revoke request: the form body only (T1–T2), with notes and
/// violations for JSON bodies and query-string parameters.
pub(crate) fn body_params(w: &World, ex: &mut Exchange) -> Vec<(String, String)> {
    let mut params = Vec::new();
    if ex.is_form() {
        params = ex.body_pairs();
        ex.form = Some(params.clone());
    } else if !ex.body.is_empty() {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&ex.body) {
            ex.json = Some(value);
            ex.note("json_body");
            ex.violate(
                "json_token_body",
                "token/revoke body is JSON, not form-encoded",
            );
        } else {
            ex.note("not_form_body");
            ex.violate("json_token_body", "token/revoke body is not form-encoded");
        }
    }
    if !ex.query.is_empty() {
        ex.note("params_in_query");
        ex.violate(
            "params_in_query",
            "token/revoke parameters in the query string",
        );
        if w.settings.token.accept_query_params {
            params.extend(ex.query.iter().cloned());
        }
    }
    params
}

/// `{"error": "invalid_client"}` with the status of `token.invalid_client_status`.
pub(crate) fn invalid_client(w: &World, basic: bool) -> Response {
    let status = match w.settings.token.invalid_client_status {
        InvalidClientStatus::S400 => StatusCode::BAD_REQUEST,
        InvalidClientStatus::S401 => StatusCode::UNAUTHORIZED,
        InvalidClientStatus::ByAuthMethod if basic => StatusCode::UNAUTHORIZED,
        InvalidClientStatus::ByAuthMethod => StatusCode::BAD_REQUEST,
    };
    let mut resp = oauth_error(status, "invalid_client", None);
    if status == StatusCode::UNAUTHORIZED && basic {
        set_header(&mut resp, "www-authenticate", "Basic");
    }
    resp
}

/// Step 4: who is calling. Secret-less rules per grant are the caller's business.
pub(crate) fn authenticate(
    w: &World,
    ex: &mut Exchange,
    params: &[(String, String)],
) -> Result<Client, Response> {
    let basic = basic_credentials(ex);
    let body_id = pair(params, "client_id").map(str::to_owned);
    let body_secret = pair(params, "client_secret").map(str::to_owned);
    let (client_id, secret) = match (&basic, body_id.is_some() || body_secret.is_some()) {
        (Some((id, secret)), true) => {
            ex.note("both_client_auth_methods");
            ex.violate(
                "both_client_auth_methods",
                "Basic and body client credentials in one request",
            );
            if w.settings.token.both_client_auth_methods == AcceptReject::Reject {
                return Err(oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    Some("Multiple client authentication methods"),
                ));
            }
            let disagree = body_id.as_ref().is_some_and(|b| b != id)
                || body_secret.as_ref().is_some_and(|b| b != secret);
            if disagree {
                ex.client_auth = Some("basic");
                return Err(invalid_client(w, true));
            }
            ex.client_auth = Some("basic");
            (Some(id.clone()), Some(secret.clone()))
        }
        (Some((id, secret)), false) => {
            ex.client_auth = Some("basic");
            (Some(id.clone()), Some(secret.clone()))
        }
        (None, true) => {
            ex.client_auth = Some("body");
            (body_id, body_secret)
        }
        (None, false) => {
            ex.client_auth = Some("none");
            (None, None)
        }
    };
    let is_basic = basic.is_some();
    ex.client_id = client_id.clone();
    let Some(app) = client_id.and_then(|id| w.app(&id).cloned()) else {
        ex.note("client_unknown");
        return Err(invalid_client(w, is_basic));
    };
    let secret = secret.filter(|s| !s.is_empty());
    if let Some(s) = &secret
        && *s != app.secret
    {
        ex.note("client_secret_wrong");
        return Err(invalid_client(w, is_basic));
    }
    Ok(Client {
        app,
        has_secret: secret.is_some(),
        basic: is_basic,
    })
}

/// `POST /api[/vN]/oauth2/token`.
pub(crate) fn handle(w: &mut World, ex: &mut Exchange) -> Response {
    ex.check_user_agent();
    let params = body_params(w, ex);
    let grant = pair(&params, "grant_type").map(str::to_owned);
    let unsupported = |g: &str| {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            Some(&format!("Grant type {g} is not supported")),
        )
    };
    let grant = match grant.as_deref() {
        None => return unsupported("None"),
        Some(g @ ("authorization_code" | "refresh_token" | "client_credentials")) => g.to_owned(),
        Some(other) => return unsupported(other),
    };
    let client = match authenticate(w, ex, &params) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match grant.as_str() {
        "authorization_code" => grants::authorization_code(w, ex, &params, &client),
        "refresh_token" => grants::refresh_token(w, ex, &params, &client),
        _ => grants::client_credentials(w, ex, &params, &client),
    }
}

/// The §4.3 token object with `Cache-Control: no-store` and `Pragma: no-cache`.
pub(crate) fn token_response(
    w: &World,
    access: &str,
    refresh: Option<&str>,
    scopes: &[String],
    expires_in: i64,
) -> Response {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scopes.join(" "),
    });
    if let (Some(rt), Some(obj)) = (refresh, body.as_object_mut()) {
        obj.insert("refresh_token".to_owned(), json!(rt));
    }
    let mut resp = json_response(StatusCode::OK, &body);
    if w.settings.token.emit_cache_headers {
        set_header(&mut resp, "cache-control", "no-store");
        set_header(&mut resp, "pragma", "no-cache");
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn decodes_form_components() {
        assert_eq!(form_decode("a+b%3Ac"), "a b:c");
        assert_eq!(form_decode("100%"), "100%");
        assert_eq!(form_decode("%4"), "%4");
    }
}
