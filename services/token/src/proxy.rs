//! The Discord proxy (issue 6, item 5; security.md §5.16 PX): `/v1/proxy/discord/{path}` lets a
//! tool call Discord as the user without ever seeing the token. The tool authenticates as for
//! `POST /v1/tokens` — its tool key with the user in `Latchkey-User-Id`, or a tool grant in
//! `Latchkey-Tool-Grant` — and the request is forwarded to the provider's Discord API with the
//! user's token injected, only for the routes the tool's declared scopes imply. Nothing the tool
//! sends but the route and its allowed query reaches Discord; Discord's status and JSON body
//! come back, a 429 with its `retry_after`; a token Discord refuses marks the grant
//! `reauth_required`, so it is not used again. Every call is audited.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use latchkey_api::server::{ApiError, Credential};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::audit::{Actor, AuditEvent};
use latchkey_core::ports::ProxyOutcome;

use crate::Tokens;
use crate::issue::{self, Refusal};

/// The header that names the user, with a tool key.
pub const USER_HEADER: &str = "latchkey-user-id";
/// The header that carries a tool grant, instead of a key and a user.
pub const GRANT_HEADER: &str = "latchkey-tool-grant";

const PREFIX: &str = "/v1/proxy/discord/";

/// A Discord route the proxy serves: its template and the scope it needs.
struct RouteRule {
    template: &'static str,
    scope: &'static str,
    /// Query parameters it takes (numeric values only).
    query: &'static [&'static str],
}

/// GET routes of Discord's user API (specs/discord.md §6), by the scope that allows them.
const ROUTES: &[RouteRule] = &[
    RouteRule {
        template: "users/@me",
        scope: "identify",
        query: &[],
    },
    RouteRule {
        template: "oauth2/@me",
        scope: "identify",
        query: &[],
    },
    RouteRule {
        template: "users/@me/guilds",
        scope: "guilds",
        query: &["before", "after", "limit", "with_counts"],
    },
    RouteRule {
        template: "users/@me/guilds/{guild}/member",
        scope: "guilds.members.read",
        query: &[],
    },
    RouteRule {
        template: "users/@me/connections",
        scope: "connections",
        query: &[],
    },
];

fn invalid(m: &'static str) -> ApiError {
    ApiError::new(ErrorName::InvalidRequest, m)
}

fn not_allowed(m: &'static str) -> ApiError {
    ApiError::new(ErrorName::RouteNotAllowed, m)
}

/// A proxied GET carries no body: none is forwarded, so one sent is refused rather than
/// silently dropped (413 when oversized, else 400).
fn checked_no_body(headers: &HeaderMap) -> Result<(), ApiError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|v| v.parse::<u64>().ok()));
    match length {
        None if !headers.contains_key(header::TRANSFER_ENCODING) => Ok(()),
        Some(Some(0)) => Ok(()),
        Some(Some(n)) if n > latchkey_api::BODY_LIMIT as u64 => Err(ApiError::new(
            ErrorName::PayloadTooLarge,
            "request body over 64 KiB",
        )),
        _ => Err(ApiError::new(
            ErrorName::InvalidRequest,
            "the Discord proxy forwards no request body; send the GET without one",
        )),
    }
}

/// The path after the prefix, checked for traversal and smuggling (PX1–PX3).
fn checked_path(uri: &Uri) -> Result<&str, ApiError> {
    let path = uri
        .path()
        .strip_prefix(PREFIX)
        .ok_or_else(|| invalid("not a proxy path"))?;
    let lower = path.to_ascii_lowercase();
    if path.is_empty()
        || path.starts_with('/')
        || path.contains("//")
        || path.contains('\\')
        || lower.contains("%2f")
        || lower.contains("%5c")
        || lower.contains("%2e")
        || lower.contains("%00")
        || path.contains(':')
        || path
            .split('/')
            .any(|s| s == "." || s == ".." || s.is_empty())
    {
        return Err(invalid(
            "the path must be a plain Discord API route such as users/@me/guilds",
        ));
    }
    Ok(path)
}

/// The rule a path matches, if any.
fn rule_for(path: &str) -> Option<&'static RouteRule> {
    let segs: Vec<&str> = path.split('/').collect();
    ROUTES.iter().find(|r| {
        let t: Vec<&str> = r.template.split('/').collect();
        t.len() == segs.len()
            && t.iter().zip(&segs).all(|(t, s)| match *t {
                "{guild}" => {
                    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
                }
                fixed => fixed == *s,
            })
    })
}

/// The query, kept only if every parameter is allowed and numeric (or a boolean).
fn checked_query(uri: &Uri, rule: &RouteRule) -> Result<String, ApiError> {
    let Some(q) = uri.query().filter(|q| !q.is_empty()) else {
        return Ok(String::new());
    };
    let mut out = form_pairs(q);
    for (k, v) in &out {
        let ok_value = v == "true"
            || v == "false"
            || (!v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()));
        if !rule.query.contains(&k.as_str()) || !ok_value {
            return Err(invalid("this route takes no such query parameter"));
        }
    }
    out.sort();
    let pairs: Vec<String> = out.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(format!("?{}", pairs.join("&")))
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Call Discord as the user (GET routes implied by the tool's declared scopes).
///
/// Authenticate with the tool key and the user in `Latchkey-User-Id`, or with a tool grant in
/// `Latchkey-Tool-Grant` (and no key). Forwards `GET /api/v10/{path}` to the provider's
/// Discord with the user's token; answers Discord's status and JSON body (429 with
/// `retry_after`). Routes: `users/@me`, `oauth2/@me` (identify), `users/@me/guilds` (guilds),
/// `users/@me/guilds/{id}/member` (guilds.members.read), `users/@me/connections` (connections).
#[utoipa::path(
    operation_id = "proxy_discord",
    get, path = "/v1/proxy/discord/{path}", tag = "tokens",
    security(("tool_key" = [])),
    params(("path" = String, Path, description = "A Discord API route, e.g. `users/@me/guilds`")),
    responses(
        (status = 200, description = "Discord's answer", body = Object),
        (status = 400, description = "A path or query the proxy never forwards", body = ErrorBody),
        (status = 401, description = "No valid key or grant", body = ErrorBody),
        (status = 403, description = "`route_not_allowed`, `forbidden` or `authorization_required`", body = ErrorBody),
        (status = 413, description = "A request body over 64 KiB (a GET carries none; a smaller one is 400)", body = ErrorBody),
        (status = 429, description = "Discord's rate limit, with `retry_after`", body = ErrorBody),
        (status = 502, description = "Discord failed or refused the user's token", body = ErrorBody),
        (status = 503, description = "`unavailable`: the audit pipeline cannot record the release, so nothing was released", body = ErrorBody),
    )
)]
pub async fn forward(
    State(tk): State<Tokens>,
    method: Method,
    uri: Uri,
    credential: Credential,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    let header_text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (caller, user_id) = issue::authenticate(
        &tk,
        credential.presented(),
        header_text(GRANT_HEADER).as_deref(),
        header_text(USER_HEADER),
    )
    .await?;
    if method != Method::GET {
        return Err(not_allowed("the Discord proxy serves GET routes only").into());
    }
    checked_no_body(&headers)?;
    let path = checked_path(&uri)?;
    let rule =
        rule_for(path).ok_or_else(|| not_allowed("the Discord proxy does not serve this route"))?;
    let query = checked_query(&uri, rule)?;
    let r = issue::release(&tk, &caller, &user_id).await?;
    if !r.scopes.iter().any(|s| s == rule.scope) {
        return Err(not_allowed("this route needs a scope the tool did not declare").into());
    }
    // Audited before the token is used (fail closed, as for a release).
    issue::audit(
        &tk,
        &caller,
        latchkey_core::metrics::ReleaseChannel::Proxy,
        format!("GET {}", rule.template),
    )
    .await?;
    let grant = &r.warm.grant;
    let outcome = tk
        .discord
        .proxy_get(
            r.endpoint_origin.as_deref(),
            &r.warm.token,
            rule.template,
            &format!("/{path}{query}"),
        )
        .await
        .map_err(|e| ApiError::new(ErrorName::UpstreamUnavailable, format!("Discord: {e}")))?;
    Ok(match outcome {
        ProxyOutcome::Answer { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut resp = (status, body).into_response();
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        ProxyOutcome::RateLimited { retry_after_ms } => {
            let secs = retry_after_ms.div_ceil(1000).max(1);
            let body = serde_json::json!({
                "name": ErrorName::RateLimited.as_str(),
                "message": "Discord's rate limit: wait retry_after seconds",
                "request_id": latchkey_api::server::current_request_id(),
                "retry_after": retry_after_ms as f64 / 1000.0,
            });
            let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        ProxyOutcome::TokenDead => {
            // The token is not used again (security.md §4.3): the grant needs the user back,
            // unless it changed meanwhile (refreshed or replaced).
            if let Some(lock) = tk
                .store
                .lock_grant(caller.tenant, grant.id)
                .await
                .map_err(|e| ApiError::from(latchkey_core::CoreError::from(e)))?
                && lock.grant().generation == grant.generation
            {
                let actor = Actor {
                    id: caller.actor.clone(),
                    request_id: Some(latchkey_api::server::current_request_id()),
                };
                let event =
                    AuditEvent::success(&actor, "connection.reauth_required", grant.id.to_string());
                lock.reauth_required(&event)
                    .await
                    .map_err(|e| ApiError::from(latchkey_core::CoreError::from(e)))?;
            }
            return Err(ApiError::new(
                ErrorName::UpstreamUnavailable,
                "Discord refused the user's token; the user must authorize again (ask for a token to get the link)",
            )
            .into());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Result<String, ApiError> {
        let uri: Uri = format!("{PREFIX}{p}").parse().unwrap();
        checked_path(&uri).map(str::to_owned)
    }

    #[test]
    fn traversal_and_smuggling_are_refused_and_routes_match_exactly() {
        for bad in [
            "",
            "..",
            "users/../guilds",
            "users/%2e%2e/x",
            "users%2F@me",
            "users//@me",
            "users\\@me",
            "https://evil.example/x",
            "/evil",
            "users/@me/",
        ] {
            assert!(path(bad).is_err(), "{bad}");
        }
        assert_eq!(
            rule_for(&path("users/@me/guilds").unwrap()).unwrap().scope,
            "guilds"
        );
        assert_eq!(
            rule_for(&path("users/@me/guilds/290926798626357250/member").unwrap())
                .unwrap()
                .scope,
            "guilds.members.read"
        );
        assert!(rule_for("users/@me/guilds/abc/member").is_none());
        assert!(rule_for("users/@me/channels").is_none());
    }
}
