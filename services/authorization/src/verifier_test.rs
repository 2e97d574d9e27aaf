//! Verifier self-tests (security.md V15; arcade-compat §8.4): `POST
//! /v1/auth/validate_custom_verifier` (admin key) creates a test-only flow bound to a user id —
//! no Discord step, no tokens — and hands its one-time `flow_id` to the admin who asked (the
//! one case where a `flow_id` travels over the API). The admin opens
//! `<verifier_url>?flow_id=…` in a browser signed in to the tenant app; the verifier calls
//! `confirm_user` as usual and gets `{auth_id, next_uri}` (the test's result page) when it
//! names the test's user, or 400 `user_mismatch`. A test can never become a grant.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use latchkey_api::auth::{ConfirmUserResponse, ValidateVerifierRequest, ValidateVerifierResponse};
use latchkey_api::server::{AdminKey, ApiError, JsonBody};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::audit::AuditEvent;
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::authorization::{
    AuthorizationStatus, VerifierTest, capability_hash, new_capability,
};
use latchkey_core::time::UnixMillis;
use latchkey_core::user::UserId;
use latchkey_core::{AuthorizationId, TenantId, urls};
use secrecy::ExposeSecret;

use crate::confirm::{COMPLETED, MISMATCH, recorded};
use crate::pages::{escape, page, problem};
use crate::{Authorizer, key_actor, not_found, store_err};

/// Test my verifier.
///
/// Starts a verifier self-test: a test-only flow bound to `user_id`, with no Discord step and no
/// tokens, that can never become a grant. Open `<verifier_url>?flow_id=<flow_id>` in a browser
/// signed in to your app as `user_id`: your verifier's `confirm_user` then completes the test
/// (200, `next_uri` = the result page) or fails it (400 `user_mismatch`). The `flow_id` works
/// for the flow lifetime. Requires an admin key.
#[utoipa::path(
    operation_id = "auth_validate_custom_verifier",
    post, path = "/v1/auth/validate_custom_verifier", tag = "auth",
    security(("admin_key" = [])),
    request_body = ValidateVerifierRequest,
    responses(
        (status = 200, description = "The test's flow_id and result page", body = ValidateVerifierResponse),
        (status = 400, description = "A bad user id or verifier URL (`invalid_request`)", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub async fn validate_custom_verifier(
    State(az): State<Authorizer>,
    AdminKey(caller): AdminKey,
    JsonBody(req): JsonBody<ValidateVerifierRequest>,
) -> Result<Json<ValidateVerifierResponse>, ApiError> {
    Ok(Json(start_test(&az, &caller, &req).await?))
}

fn result_url(az: &Authorizer, tenant: TenantId, id: AuthorizationId) -> String {
    format!("{}/oauth/verifier-test/{tenant}/{id}", az.public_url)
}

/// Creates the test (the use case behind `validate_custom_verifier`).
pub async fn start_test(
    az: &Authorizer,
    caller: &TenantPrincipal,
    req: &ValidateVerifierRequest,
) -> Result<ValidateVerifierResponse, ApiError> {
    let user = UserId::parse("user_id", &req.user_id)?;
    let verifier_url = urls::verifier_url(&req.verifier_url, az.url_policy)?;
    let flow_id = new_capability();
    let now = UnixMillis::now();
    let lifetime = i64::try_from(az.flow_lifetime.as_millis()).unwrap_or(i64::MAX);
    let t = VerifierTest {
        id: AuthorizationId::generate(),
        user_id: user.as_str().to_owned(),
        verifier_url,
        flow_id_hash: capability_hash(flow_id.expose_secret()),
        status: AuthorizationStatus::Pending,
        decision: None,
        decided_user_hash: None,
        created_at: now,
        expires_at: UnixMillis(now.0.saturating_add(lifetime)),
        updated_at: now,
    };
    let audit = AuditEvent::success(&key_actor(caller), "verifier_test.start", t.id.to_string());
    az.store
        .insert_verifier_test(caller.tenant, &t, &audit)
        .await
        .map_err(store_err)?;
    Ok(ValidateVerifierResponse {
        flow_id: flow_id.expose_secret().to_owned(),
        next_uri: result_url(az, caller.tenant, t.id),
    })
}

fn mismatch() -> ApiError {
    ApiError::new(
        ErrorName::UserMismatch,
        "the signed-in user is not the user this verifier test was started for; the test failed",
    )
}

/// `confirm_user` for a verifier test's `flow_id`: decided once like a real flow (an identical
/// retry gets the recorded answer; anything else after the decision or the expiry is 404).
pub(crate) async fn confirm_test(
    az: &Authorizer,
    caller: &TenantPrincipal,
    t: VerifierTest,
    user_id: &str,
) -> Result<ConfirmUserResponse, ApiError> {
    let tenant = caller.tenant;
    let presented = capability_hash(user_id);
    let answer = |decision: Option<&str>| match decision {
        Some(COMPLETED) => Ok(ConfirmUserResponse {
            auth_id: t.id.to_string(),
            next_uri: result_url(az, tenant, t.id),
        }),
        Some(MISMATCH) => Err(mismatch()),
        Some(_) | None => Err(not_found("flow")),
    };
    if t.status == AuthorizationStatus::Pending && t.expires_at > UnixMillis::now() {
        let matches = user_id.as_bytes() == t.user_id.as_bytes();
        let (status, decision) = if matches {
            (AuthorizationStatus::Completed, COMPLETED)
        } else {
            (AuthorizationStatus::Failed, MISMATCH)
        };
        let decided = VerifierTest {
            status,
            decision: Some(decision.to_owned()),
            decided_user_hash: Some(presented.clone()),
            updated_at: UnixMillis::now(),
            ..t.clone()
        };
        let audit = AuditEvent::success(
            &key_actor(caller),
            if matches {
                "verifier_test.completed"
            } else {
                "verifier_test.failed"
            },
            t.id.to_string(),
        );
        if az
            .store
            .decide_verifier_test(tenant, &decided, &audit)
            .await
            .map_err(store_err)?
        {
            return answer(Some(decision));
        }
    }
    // Decided already (or just now, concurrently): the recorded answer for the same user.
    let t = az
        .store
        .get_verifier_test(tenant, t.id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found("flow"))?;
    answer(recorded(
        t.decision.as_deref(),
        t.decided_user_hash.as_deref(),
        &presented,
    ))
}

/// The result page a verifier sends the browser to after a test.
pub async fn result_page(
    State(az): State<Authorizer>,
    Path((tenant, id)): Path<(String, String)>,
) -> Response {
    let unknown = || {
        problem(
            StatusCode::NOT_FOUND,
            "Unknown verifier test",
            "This verifier test does not exist or has been cleaned up. Start a new one.",
        )
    };
    let (Ok(tenant), Ok(id)) = (TenantId::parse(&tenant), AuthorizationId::parse(&id)) else {
        return unknown();
    };
    let Ok(Some(t)) = az.store.get_verifier_test(tenant, id).await else {
        return unknown();
    };
    let (title, text) = match t.status {
        AuthorizationStatus::Completed => (
            "Verifier test passed",
            "Your verifier confirmed the user this test was started for.",
        ),
        AuthorizationStatus::Failed => (
            "Verifier test failed",
            "Your verifier confirmed a different user than the one this test was started for. \
             Check that it takes the user from your app's own session.",
        ),
        AuthorizationStatus::Pending | AuthorizationStatus::NotStarted => (
            "Verifier test not confirmed yet",
            "Your verifier has not confirmed this test. Open the verifier URL with the test's \
             flow_id in a browser signed in to your app.",
        ),
    };
    page(StatusCode::OK, title, &format!("<p>{}</p>", escape(text)))
}
