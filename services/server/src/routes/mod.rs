//! The routers of the two listeners and the middleware they share: request ids, one span per
//! request with stable fields, an access log without query strings, and request metrics.

pub mod dashboard;
pub mod docs;
pub mod grpc;
pub mod health;
pub mod ops;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Uri};
use latchkey_api::ErrorName;
use latchkey_api::server::{
    ApiError, REQUEST_ID_HEADER, accept_request_id, new_request_id, with_request_id,
};
use latchkey_core::auth::Authenticator;
use latchkey_core::ports::Store;
use tracing::Instrument;

use crate::metrics::{HttpLabels, Metrics};

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

/// Request id, span, access log and metrics for every request. The span is the trace's root
/// (or continues the caller's W3C `traceparent`), named `METHOD route` for REST and
/// `service/method` for gRPC, with the route template — never the raw path.
pub async fn request_context(
    State((metrics, listener)): State<(Arc<Metrics>, Listener)>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let id = accept_request_id(req.headers().get(REQUEST_ID_HEADER)).unwrap_or_else(new_request_id);
    let route = matched.map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m.to_owned(),
        _ => "other".to_owned(),
    };
    // gRPC routes are `/<service>/{*rest}`; the method is named once tonic has answered (an
    // unknown method keeps the template, so the cardinality stays bounded).
    let grpc = route.ends_with("/{*rest}");
    let grpc_path = grpc.then(|| req.uri().path().to_owned());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        rpc.system = tracing::field::Empty,
        rpc.method = tracing::field::Empty,
        request_id = %id,
        tenant_id = tracing::field::Empty,
    );
    crate::telemetry::parent_from(&span, req.headers());
    let started = Instant::now();
    // The body check runs here rather than as a middleware of its own: each `from_fn` layer
    // is one more boxed future that a held long-poll keeps.
    let inner = async move {
        match refuse_unplain_body(req.headers()) {
            Some(refusal) => refusal,
            None => next.run(req).await,
        }
    };
    let mut response = with_request_id(id.clone(), inner)
        .instrument(span.clone())
        .await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route = match grpc_path {
        Some(path) if known_grpc_method(&response) => {
            let name = path.trim_start_matches('/').to_owned();
            crate::telemetry::rename(&span, name.clone());
            span.record("rpc.system", "grpc");
            span.record("rpc.method", name.as_str());
            path
        }
        Some(_) | None => route,
    };
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    span.in_scope(|| tracing::info!(latency_ms = elapsed.as_secs_f64() * 1000.0, "served"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    metrics.request(
        HttpLabels {
            listener: listener.0,
            route,
            method,
            status,
        },
        elapsed,
    );
    response
}

/// Whether tonic served the method: a gRPC answer, and not the `grpc-status: 12`
/// (UNIMPLEMENTED) an unknown method gets at once.
fn known_grpc_method(response: &Response) -> bool {
    let headers = response.headers();
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/grpc"))
        && headers
            .get("grpc-status")
            .is_none_or(|s| s.as_bytes() != b"12")
}

/// Refuses request bodies Latchkey does not read (security.md J4, J12): compressed bodies
/// (`Content-Encoding` other than `identity`) and JSON in a charset other than UTF-8. Both 415,
/// before any handler runs ([`request_context`] applies it to every request).
pub fn refuse_unplain_body(headers: &http::HeaderMap) -> Option<Response> {
    let encoded = headers
        .get(http::header::CONTENT_ENCODING)
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return Some(
            ApiError::new(
                ErrorName::UnsupportedMediaType,
                "compressed request bodies are not accepted",
            )
            .into_response(),
        );
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
    other_charset.then(|| {
        ApiError::new(
            ErrorName::UnsupportedMediaType,
            "request bodies must be UTF-8 JSON",
        )
        .into_response()
    })
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
