//! The routers of the two listeners and the middleware they share ([`context`]): request ids,
//! one span per request with stable fields, an access log without query strings, and request
//! metrics.

pub mod context;
pub mod dashboard;
pub mod docs;
pub mod grpc;
pub mod health;
pub mod ops;

use std::sync::Arc;

use axum::extract::{FromRef, Request};
use axum::response::{IntoResponse, Response};
use http::Uri;
use latchkey_api::ErrorName;
use latchkey_api::server::ApiError;
use latchkey_core::auth::Authenticator;
use latchkey_core::ports::Store;

use crate::metrics::Metrics;

/// What handlers share: `Arc`-held ports, no globals.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// API-key authentication.
    pub authenticator: Arc<Authenticator>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
}

impl FromRef<AppState> for Arc<Authenticator> {
    fn from_ref(s: &AppState) -> Self {
        s.authenticator.clone()
    }
}

/// Which listener a request came in on (a metric label).
#[derive(Clone, Copy)]
pub struct Listener(pub &'static str);

/// Whether tonic served the method: a gRPC answer, and not the `grpc-status: 12`
/// (UNIMPLEMENTED) an unknown method gets at once.
pub(crate) fn known_grpc_method(response: &Response) -> bool {
    let headers = response.headers();
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
        && headers
            .get("grpc-status")
            .is_none_or(|s| s.as_bytes() != b"12")
}

/// Why a request body Latchkey does not read is refused (security.md J4, J12), if it is:
/// compressed bodies (`Content-Encoding` other than `identity`) and JSON in a charset other than
/// UTF-8. Both 415 `unsupported_media_type`, before any handler runs
/// ([`context::RequestContext`] checks every request).
pub fn unplain_body(headers: &http::HeaderMap) -> Option<&'static str> {
    let encoded = headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Some("compressed request bodies are not accepted");
    }
    let other_charset = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.split(';').skip(1).any(|param| {
                param.split_once('=').is_some_and(|(k, v)| {
                    k.trim().eq_ignore_ascii_case("charset")
                        && !v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
                })
            })
        });
    other_charset.then_some("request bodies must be UTF-8 JSON")
}

/// Arcade routes Latchkey does not serve (specs/arcade-compat.md §11), each with everything
/// under it; `/v1/gateways` is what the org/project form of Arcade's gateways becomes.
const UNSERVED: &[&str] = &[
    "/v1/tools/execute",
    "/v1/tools/requirements",
    "/v1/admin/secrets",
    "/v1/workers",
    "/v1/formatted_tools",
    "/v1/scheduled_tools",
    "/v1/chat/completions",
    "/v1/hooks",
    "/v1/plugins",
    "/v1/gateways",
    "/v1/config",
    "/v1/swagger",
];

/// 404 `not_supported` for an Arcade route Latchkey does not serve (a 501 would be retried by
/// the clients), whatever the method.
fn unserved(uri: &Uri) -> Option<Response> {
    let path = uri.path();
    UNSERVED
        .iter()
        .any(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
        .then(|| {
            ApiError::new(
                ErrorName::NotSupported,
                "Latchkey does not serve this Arcade route",
            )
            .into_response()
        })
}

/// 404 for unknown routes, in the error-body shape.
pub async fn not_found(uri: Uri) -> Response {
    unserved(&uri)
        .unwrap_or_else(|| ApiError::new(ErrorName::NotFound, "no such route").into_response())
}

/// 405 for a known path with the wrong method.
pub async fn method_not_allowed(uri: Uri) -> Response {
    if let Some(r) = unserved(&uri) {
        return r;
    }
    ApiError::new(
        ErrorName::MethodNotAllowed,
        "this route does not accept that method",
    )
    .into_response()
}

/// `/v1/orgs/{org}/projects/{project}/{rest}` ≡ `/v1/{rest}` (specs/arcade-compat.md §2.3):
/// the two segments are ignored; the tenant always comes from the key.
pub fn strip_org_project(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v1/orgs/") else {
        return req;
    };
    let mut parts = rest.splitn(4, '/');
    let (Some(org), Some("projects"), Some(project), Some(tail)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return req;
    };
    if org.is_empty() || project.is_empty() {
        return req;
    }
    let new_path = format!("/v1/{tail}");
    let pq = match req.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(p: &str) -> String {
        let req = Request::builder()
            .uri(p)
            .body(axum::body::Body::empty())
            .unwrap();
        strip_org_project(req).uri().to_string()
    }

    #[test]
    fn org_project_prefix() {
        assert_eq!(
            rewrite("/v1/orgs/o_1/projects/p_9/auth/authorize"),
            "/v1/auth/authorize"
        );
        assert_eq!(
            rewrite("/v1/orgs/o/projects/p/health?x=1"),
            "/v1/health?x=1"
        );
        assert_eq!(
            rewrite("/v1/orgs/o/teams/p/health"),
            "/v1/orgs/o/teams/p/health"
        );
        assert_eq!(rewrite("/v1/health"), "/v1/health");
    }
}
