//! `GET /v1/health`: no key needed; 200 `{"healthy": true}`, or 503 with a reason when the
//! database cannot be reached.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use latchkey_api::HealthResponse;

use super::AppState;

/// The health check the Arcade clients call.
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
