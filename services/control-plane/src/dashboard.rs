//! `/v1/dashboard/session`: the dashboard signs in with an admin key and gets an HttpOnly,
//! `SameSite=Strict` session cookie (`__Host-` and `Secure` on https deployments); the key is
//! never kept in the browser. The cookie then stands for that admin key on every admin route,
//! writes also carrying the session's CSRF token (`X-CSRF-Token`). Sessions end at their expiry,
//! at sign-out, and when the admin key is revoked.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_api::dashboard::{SessionResponse, SignInRequest};
use latchkey_api::server::{
    ApiError, JsonBody, SECURE_SESSION_COOKIE, SESSION_COOKIE, csrf_checked, refusal,
    session_cookie,
};
use latchkey_api::time::rfc3339;
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::CoreError;
use latchkey_core::audit::{Actor, AuditEvent};
use latchkey_core::auth::{DashboardSession, TenantPrincipal, csrf_token};
use secrecy::ExposeSecret;

use crate::ControlPlane;

impl ControlPlane {
    fn cookie(&self, value: &str, max_age: i64) -> HeaderValue {
        let cookie = if self.public_url.starts_with("https://") {
            format!(
                "{SECURE_SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
            )
        } else {
            format!(
                "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
            )
        };
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    async fn session_response(
        &self,
        secret: &str,
        p: &TenantPrincipal,
        s: &DashboardSession,
    ) -> Result<SessionResponse, ApiError> {
        let tenant = self
            .store
            .get_tenant(p.tenant)
            .await
            .map_err(CoreError::from)?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(SessionResponse {
            tenant_id: p.tenant.to_string(),
            tenant_name: tenant.name.as_str().to_owned(),
            key_id: p.key_id.to_string(),
            csrf_token: csrf_token(secret),
            expires_at: rfc3339(s.expires_at.0),
        })
    }
}

fn actor(p: &TenantPrincipal) -> Actor {
    Actor {
        id: p.key_id.to_string(),
        request_id: Some(latchkey_api::server::current_request_id()),
    }
}

/// The current session, from the request's cookie.
async fn current(
    cp: &ControlPlane,
    headers: &HeaderMap,
) -> Result<(String, TenantPrincipal, DashboardSession), ApiError> {
    let secret = session_cookie(headers).ok_or_else(ApiError::unauthorized)?;
    let (p, s) = cp
        .authenticator
        .session(secret)
        .await
        .map_err(|e| refusal(e, "dashboard session refused"))?;
    Ok((secret.to_owned(), p, s))
}

/// Sign in to the dashboard.
///
/// Exchanges an **admin** key for a dashboard session: the answer sets an HttpOnly,
/// `SameSite=Strict` session cookie and carries the CSRF token to send as `X-CSRF-Token` on
/// writes. The key itself is not kept. Another role's key is 403 `forbidden`; an invalid one
/// 401.
#[utoipa::path(
    operation_id = "dashboard_sign_in",
    post, path = "/v1/dashboard/session", tag = "dashboard",
    request_body = SignInRequest,
    responses(
        (status = 201, description = "Signed in; `Set-Cookie` carries the session", body = SessionResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not a valid key", body = ErrorBody),
        (status = 403, description = "A valid key that is not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn sign_in(
    State(cp): State<ControlPlane>,
    JsonBody(req): JsonBody<SignInRequest>,
) -> Result<Response, ApiError> {
    let key = latchkey_api::server::bearer_value(&req.api_key);
    let (secret, p, s) = cp
        .authenticator
        .open_session(key, cp.session_ttl, |p| {
            AuditEvent::success(&actor(p), "dashboard.sign_in", p.key_id.to_string())
        })
        .await
        .map_err(|e| match e {
            Some(e) => refusal(e, "dashboard session refused"),
            None => ApiError::new(ErrorName::Forbidden, "the dashboard needs an admin key"),
        })?;
    let secret = secret.expose_secret();
    let body = cp.session_response(secret, &p, &s).await?;
    let max_age = i64::try_from(cp.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cp.cookie(secret, max_age));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The dashboard session.
///
/// The session the request's cookie stands for, with its CSRF token (the dashboard reads it
/// after a reload). 401 without a current session.
#[utoipa::path(
    operation_id = "dashboard_session",
    get, path = "/v1/dashboard/session", tag = "dashboard",
    security(("dashboard_session" = [])),
    responses(
        (status = 200, description = "The session", body = SessionResponse),
        (status = 401, description = "No current session", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(cp): State<ControlPlane>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (secret, p, s) = current(&cp, &headers).await?;
    let mut resp = Json(cp.session_response(&secret, &p, &s).await?).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Sign out of the dashboard.
///
/// Ends the session and clears its cookie (204). Needs the session's `X-CSRF-Token`.
#[utoipa::path(
    operation_id = "dashboard_sign_out",
    delete, path = "/v1/dashboard/session", tag = "dashboard",
    security(("dashboard_session" = [])),
    responses(
        (status = 204, description = "Signed out; the cookie is cleared"),
        (status = 401, description = "No current session", body = ErrorBody),
        (status = 403, description = "Missing or wrong X-CSRF-Token", body = ErrorBody),
    )
)]
pub(crate) async fn sign_out(
    State(cp): State<ControlPlane>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (secret, p, _) = current(&cp, &headers).await?;
    csrf_checked(&headers, &secret)?;
    let audit = AuditEvent::success(&actor(&p), "dashboard.sign_out", p.key_id.to_string());
    cp.authenticator
        .close_session(&secret, &audit)
        .await
        .map_err(|e| refusal(e, "dashboard session refused"))?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cp.cookie("", 0));
    Ok(resp)
}
