//! The middleware every request passes through: its request id, its span (the trace's root, or
//! the continuation of the caller's W3C `traceparent`), the access log line and the request
//! metrics. A hand-written [`tower::Layer`] rather than `axum::middleware::from_fn`: its future
//! is a small struct around the route's, where an `async fn` middleware keeps copies of the
//! request in each of its nested states for as long as the request lasts — kilobytes for each
//! held long-poll, and copies on every request's hot path (docs/benchmarks.md).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use latchkey_api::ErrorName;
use latchkey_api::server::{
    ApiError, REQUEST_ID_HEADER_NAME, RequestIdScope, accept_request_id, new_request_id,
    request_id_scope, sync_request_id_scope,
};
use pin_project_lite::pin_project;
use tracing::Instrument;
use tracing::instrument::Instrumented;

use super::{Listener, known_grpc_method, unplain_body};
use crate::metrics::{HttpLabels, Metrics};

/// Applies [`RequestContext`] to every route of a router (`Router::layer`).
#[derive(Clone)]
pub struct RequestContextLayer {
    metrics: Arc<Metrics>,
    listener: Listener,
}

impl RequestContextLayer {
    /// Request ids, spans, access log and metrics, counted under `listener`.
    pub fn new(metrics: Arc<Metrics>, listener: Listener) -> Self {
        Self { metrics, listener }
    }
}

impl<S> tower::Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestContext {
            inner,
            metrics: self.metrics.clone(),
            listener: self.listener,
        }
    }
}

/// Request id, span, access log and metrics for every request. The span is named
/// `METHOD route` for REST and `service/method` for gRPC, with the route template — never the
/// raw path. Bodies Latchkey does not read are refused here ([`unplain_body`]).
#[derive(Clone)]
pub struct RequestContext<S> {
    inner: S,
    metrics: Arc<Metrics>,
    listener: Listener,
}

/// What is recorded once the response is ready.
struct Served {
    metrics: Arc<Metrics>,
    listener: &'static str,
    id: String,
    route: String,
    method: &'static str,
    grpc_path: Option<String>,
    span: tracing::Span,
    started: Instant,
}

pin_project! {
    /// [`RequestContext`]'s future: the route's, inside the request's span and request-id
    /// scope, or the refusal of an unreadable body.
    pub struct RequestContextFuture<F> {
        #[pin]
        state: State<F>,
        served: Option<Served>,
    }
}

pin_project! {
    /// The route's future, or the refusal (taken once it is answered). One or the other: a
    /// held long-poll's future is no larger than the route's.
    #[project = StateProj]
    enum State<F> {
        Route {
            #[pin]
            future: Instrumented<RequestIdScope<F>>,
        },
        Refused {
            response: Option<Response>,
        },
    }
}

impl<S> tower::Service<Request> for RequestContext<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = RequestContextFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let id = accept_request_id(req.headers().get(REQUEST_ID_HEADER_NAME))
            .unwrap_or_else(new_request_id);
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
        let method = match *req.method() {
            http::Method::GET => "GET",
            http::Method::POST => "POST",
            http::Method::PUT => "PUT",
            http::Method::PATCH => "PATCH",
            http::Method::DELETE => "DELETE",
            http::Method::HEAD => "HEAD",
            http::Method::OPTIONS => "OPTIONS",
            _ => "other",
        };
        // gRPC routes are `/<service>/{*rest}`; the method is named once tonic has answered (an
        // unknown method keeps the template, so the cardinality stays bounded).
        let grpc_path = route
            .ends_with("/{*rest}")
            .then(|| req.uri().path().to_owned());
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
        // The refusal's body names the request id, so it is made in the request's scope (only
        // when there is one: the scope takes its own copy of the id).
        let refused = unplain_body(req.headers()).map(|why| {
            span.in_scope(|| {
                sync_request_id_scope(id.clone(), || {
                    ApiError::new(ErrorName::UnsupportedMediaType, why).into_response()
                })
            })
        });
        let state = match refused {
            Some(response) => State::Refused {
                response: Some(response),
            },
            None => State::Route {
                future: request_id_scope(id.clone(), self.inner.call(req)).instrument(span.clone()),
            },
        };
        RequestContextFuture {
            state,
            served: Some(Served {
                metrics: self.metrics.clone(),
                listener: self.listener.0,
                id,
                route,
                method,
                grpc_path,
                span,
                started,
            }),
        }
    }
}

impl<F> Future for RequestContextFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = match this.state.project() {
            StateProj::Route { future } => match ready!(future.poll(cx)) {
                Ok(r) => r,
                Err(never) => match never {},
            },
            StateProj::Refused { response } => match response.take() {
                Some(r) => r,
                // Polled again after it completed (a caller's error): it stays pending.
                None => return Poll::Pending,
            },
        };
        match this.served.take() {
            Some(served) => Poll::Ready(Ok(served.record(response))),
            None => Poll::Pending,
        }
    }
}

impl Served {
    /// The span's status fields, the access log line, the request id header, the metrics.
    fn record(self, mut response: Response) -> Response {
        let status = response.status().as_u16();
        let elapsed = self.started.elapsed();
        let span = self.span;
        let route = match self.grpc_path {
            Some(path) if known_grpc_method(&response) => {
                let name = path.trim_start_matches('/').to_owned();
                crate::telemetry::rename(&span, name.clone());
                span.record("rpc.system", "grpc");
                span.record("rpc.method", name.as_str());
                path
            }
            Some(_) | None => self.route,
        };
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "ERROR");
        }
        span.in_scope(|| tracing::info!(latency_ms = elapsed.as_secs_f64() * 1000.0, "served"));
        // The id's own bytes, not a copy.
        if let Ok(v) = HeaderValue::try_from(self.id) {
            response.headers_mut().insert(REQUEST_ID_HEADER_NAME, v);
        }
        self.metrics.request(
            HttpLabels {
                listener: self.listener,
                route,
                method: self.method,
                status,
            },
            elapsed,
        );
        response
    }
}
