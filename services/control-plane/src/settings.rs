//! `/v1/admin/settings/session_verification`: the verifier URL, the development-only skip flag
//! and the `next_uri` origin allow-list (admin key).

use axum::Json;
use axum::extract::State;
use latchkey_api::server::{AdminKey, ApiError, JsonBody};
use latchkey_api::settings::{VerificationSettingsRequest, VerificationSettingsResponse};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::audit::AuditEvent;
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::settings::{AccountSwitch, VerificationSettings};
use latchkey_core::time::UnixMillis;
use latchkey_core::{CoreError, TenantId, urls};

use crate::ControlPlane;

const MAX_ORIGINS: usize = 20;

fn response(cp: &ControlPlane, s: VerificationSettings) -> VerificationSettingsResponse {
    VerificationSettingsResponse {
        unsafe_skip_verification: s.unsafe_skip_verification,
        unsafe_skip_verification_choice_allowed: cp.skip_allowed,
        verifier_url: s.verifier_url,
        allowed_next_uri_origins: s.allowed_next_uri_origins,
        account_switch: s.account_switch.as_str().to_owned(),
    }
}

async fn current(cp: &ControlPlane, tenant: TenantId) -> Result<VerificationSettings, ApiError> {
    Ok(cp
        .store
        .verification_settings(tenant)
        .await
        .map_err(CoreError::from)?
        .unwrap_or_default())
}

/// The tenant's verification settings (REST `get`, gRPC `GetSessionVerificationSettings`).
pub(crate) async fn get_settings(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
) -> Result<VerificationSettingsResponse, ApiError> {
    let s = current(cp, caller.tenant).await?;
    Ok(response(cp, s))
}

/// A partial update of the verification settings (REST `put`, gRPC
/// `PutSessionVerificationSettings`).
pub(crate) async fn put_settings(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    req: VerificationSettingsRequest,
) -> Result<VerificationSettingsResponse, ApiError> {
    let mut next = current(cp, caller.tenant).await?;
    if let Some(url) = req.verifier_url {
        next.verifier_url = match url.as_deref() {
            None | Some("") => None,
            Some(u) => Some(urls::verifier_url(u, cp.url_policy)?),
        };
    }
    if let Some(skip) = req.unsafe_skip_verification {
        if skip && !cp.skip_allowed {
            return Err(ApiError::new(
                ErrorName::Forbidden,
                "the operator does not allow skipping verification in this deployment",
            ));
        }
        next.unsafe_skip_verification = skip;
    }
    if let Some(origins) = req.allowed_next_uri_origins {
        if origins.len() > MAX_ORIGINS {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                "allowed_next_uri_origins: at most 20 origins",
            ));
        }
        let mut checked: Vec<String> = Vec::with_capacity(origins.len());
        for o in &origins {
            let o = urls::origin(o, cp.url_policy)?;
            if !checked.contains(&o) {
                checked.push(o);
            }
        }
        next.allowed_next_uri_origins = checked;
    }
    if let Some(policy) = req.account_switch {
        next.account_switch = AccountSwitch::parse(&policy).ok_or_else(|| {
            ApiError::new(
                ErrorName::InvalidRequest,
                "account_switch: must be notify or require_ack",
            )
        })?;
    }
    next.updated_at = UnixMillis::now();
    cp.store
        .put_verification_settings(
            caller.tenant,
            &next,
            &AuditEvent::success(
                &crate::actor(caller),
                "settings.session_verification.update",
                None,
            ),
        )
        .await
        .map_err(CoreError::from)?;
    if next.unsafe_skip_verification {
        tracing::warn!(tenant_id = %caller.tenant, "verification is skipped for this tenant: development only, users are not verified");
    }
    Ok(response(cp, next))
}

/// Get verification settings.
///
/// How this tenant's users are verified after consenting at Discord: the verifier URL, or
/// (development only) skipping verification; and which origins `next_uri` may name. With
/// neither a verifier nor skipping, no new authorization can start. Requires an admin key.
#[utoipa::path(
    get, path = "/v1/admin/settings/session_verification", tag = "admin",
    operation_id = "admin_settings_session_verification_get",
    security(("admin_key" = [])),
    responses(
        (status = 200, description = "The settings", body = VerificationSettingsResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
) -> Result<Json<VerificationSettingsResponse>, ApiError> {
    Ok(Json(get_settings(&cp, &caller).await?))
}

/// Change verification settings.
///
/// A partial update: absent fields stay. `verifier_url` must be an absolute https URL without
/// query, fragment or user information (`null` or `""` clears it); each allowed origin is
/// `https://host[:port]`. Setting `unsafe_skip_verification` is refused with 403 when the
/// operator forbids it. `account_switch` is `notify` (a re-authorization as another Discord
/// account replaces the user's connection) or `require_ack` (it waits as `awaiting_ack` until an
/// admin acknowledges it). Requires an admin key.
#[utoipa::path(
    put, path = "/v1/admin/settings/session_verification", tag = "admin",
    operation_id = "admin_settings_session_verification_put",
    security(("admin_key" = [])),
    request_body = VerificationSettingsRequest,
    responses(
        (status = 200, description = "The new settings", body = VerificationSettingsResponse),
        (status = 400, description = "An invalid URL or origin", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key, or skipping is forbidden by the operator", body = ErrorBody),
    )
)]
pub(crate) async fn put(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    JsonBody(req): JsonBody<VerificationSettingsRequest>,
) -> Result<Json<VerificationSettingsResponse>, ApiError> {
    Ok(Json(put_settings(&cp, &caller, req).await?))
}
