//! gRPC on the API listener, next to REST: `latchkey.v1.ControlPlane`,
//! `latchkey.v1.Authorization`, `latchkey.v1.Token`, the standard health service
//! (`grpc.health.v1.Health`, with each reported SERVING while the listener serves) and server reflection (`grpc.reflection.v1` and `v1alpha`, publishing the
//! latchkey and health descriptors so `grpcurl` needs no `.proto` files). Requests are routed by
//! path (`/<service>/<method>`) into the same axum router as REST, so they pass through the same
//! middleware: a request id (`x-request-id` in the response metadata), the request span and
//! the metrics. The 64 KiB JSON body limit does not apply to them; each service sets its own
//! decode limit instead.

use std::convert::Infallible;

use axum::Router;
use axum::response::IntoResponse;
use latchkey_api::grpc::{AUTHORIZATION_SERVICE, CONTROL_PLANE_SERVICE, TOKEN_SERVICE};

/// The services reported by the health service.
const SERVICES: &[&str] = &[CONTROL_PLANE_SERVICE, AUTHORIZATION_SERVICE, TOKEN_SERVICE];
use tonic::server::NamedService;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::{Service, ServiceExt};

use crate::context::StartupError;
use crate::startup::BODY_LIMIT;

/// The gRPC routes and the health reporter that flips them to NOT_SERVING at shutdown.
pub struct Grpc {
    /// Routes for the API router (no fallback of their own).
    pub router: Router,
    /// The health service's statuses.
    pub health: HealthReporter,
}

/// Builds the services; fails only if a compiled-in descriptor set is broken.
pub async fn build(
    cp: latchkey_control_plane::ControlPlane,
    az: latchkey_authorization::Authorizer,
    tk: latchkey_token::Tokens,
) -> Result<Grpc, StartupError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    for service in SERVICES {
        health
            .set_service_status(*service, ServingStatus::Serving)
            .await;
    }
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(latchkey_api::grpc::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_err = |e: tonic_reflection::server::Error| StartupError::Grpc(e.to_string());
    let v1 = reflection().build_v1().map_err(reflection_err)?;
    let v1alpha = reflection().build_v1alpha().map_err(reflection_err)?;
    let router = Router::new();
    let router = route(router, latchkey_control_plane::grpc::server(cp));
    let router = route(router, latchkey_authorization::grpc::server(az));
    let router = route(router, latchkey_token::grpc::server(tk));
    let router = route(router, health_service.max_decoding_message_size(BODY_LIMIT));
    let router = route(router, v1.max_decoding_message_size(BODY_LIMIT));
    let router = route(router, v1alpha.max_decoding_message_size(BODY_LIMIT))
        .layer(axum::middleware::from_fn(grpc_only));
    Ok(Grpc { router, health })
}

/// A gRPC path reached without `application/grpc` (HTTP/1.1, gRPC-web, JSON) is not a gRPC
/// call: it gets the REST answer, 415 in the error-body shape (security.md G18).
async fn grpc_only(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let grpc = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct == "application/grpc"
                || ct.starts_with("application/grpc+")
                || ct.starts_with("application/grpc;")
        });
    let compressed = req
        .headers()
        .get("grpc-encoding")
        .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
    if grpc && compressed {
        // Compressed messages are not accepted (security.md G14): the caller's mistake,
        // INVALID_ARGUMENT, rather than tonic's UNIMPLEMENTED.
        return tonic::Status::from(latchkey_api::server::ApiError::new(
            latchkey_api::ErrorName::UnsupportedMediaType,
            "compressed gRPC messages are not accepted",
        ))
        .into_http::<axum::body::Body>();
    }
    if grpc {
        next.run(req).await
    } else {
        latchkey_api::server::ApiError::new(
            latchkey_api::ErrorName::UnsupportedMediaType,
            "gRPC methods need Content-Type: application/grpc (HTTP/2)",
        )
        .into_response()
    }
}

/// Marks the services NOT_SERVING (at the start of a graceful shutdown).
pub async fn stopping(health: &HealthReporter) {
    for service in SERVICES {
        health
            .set_service_status(*service, ServingStatus::NotServing)
            .await;
    }
}

/// Routes `/<S::NAME>/*` to `svc` (as tonic's `Routes::add_service`, without its fallback, so
/// the REST fallback answers everything else).
fn route<S>(router: Router, svc: S) -> Router
where
    S: Service<http::Request<tonic::body::Body>, Error = Infallible>
        + NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    router.route_service(
        &format!("/{}/{{*rest}}", S::NAME),
        svc.map_request(|req: http::Request<axum::body::Body>| req.map(tonic::body::Body::new)),
    )
}
