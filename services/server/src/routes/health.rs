//! `GET /v1/health`: no key needed; 200 `{"healthy": true}`, or 503 with a reason when the
//! database cannot be reached.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use latchkey_api::HealthResponse;

use super::AppState;

/// Health check.
///
/// Whether Latchkey can serve: 200 `{"healthy": true}`, or 503 with a short reason when the
/// database cannot be reached. Needs no key (any `Authorization` header is ignored).
#[utoipa::path(
    operation_id = "health_get",
    get, path = "/v1/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthResponse),
        (status = 503, description = "Cannot serve", body = HealthResponse),
    )
)]
pub async fn get(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(HealthResponse {
            healthy: true,
            reason: None,
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthResponse {
                    healthy: false,
                    reason: Some("database unreachable".to_owned()),
                }),
            )
                .into_response()
        }
    }
}
