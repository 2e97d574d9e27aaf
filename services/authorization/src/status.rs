//! `GET /v1/auth/status?id=…&wait=N` (arcade-compat §8.2). A `pending` authorization with
//! `wait` is held until it completes or fails (woken by the process's notifier, fed by every
//! replica's change notices) or `min(N, 59)` s pass; an already-failed one answers after
//! `min(N, 5)` s, so Arcade clients that loop on `failed` make one request per 5 s.

use std::time::Duration;

use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use latchkey_api::auth::AuthorizationResponse;
use latchkey_api::server::{ApiError, AppKey};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::AuthorizationId;
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::authorization::{AuthorizationRecord, AuthorizationStatus, FlowRecord};
use latchkey_core::time::UnixMillis;

use crate::{Authorizer, ending, not_found, start, store_err};

/// The longest hold: under the Arcade clients' 60 s timeout.
pub const MAX_WAIT: u64 = 59;

/// How long a `failed` authorization is held at most.
pub const FAILED_WAIT: u64 = 5;

/// Get an authorization's status, optionally waiting.
///
/// `wait` (seconds, at most 59 honoured) holds a `pending` authorization until it becomes
/// `completed` or `failed`. A `completed` answer carries `context` (`Cache-Control:
/// no-store`). Unknown, purged or another tenant's ids answer 404. Requires an app key.
#[utoipa::path(
    operation_id = "auth_status",
    get, path = "/v1/auth/status", tag = "auth",
    security(("app_key" = [])),
    params(
        ("id" = String, Query, description = "The authorization id (`auth_…`)"),
        ("wait" = Option<u64>, Query, description = "Seconds to hold a pending authorization (values above 59 count as 59)"),
    ),
    responses(
        (status = 200, description = "The authorization", body = AuthorizationResponse),
        (status = 400, description = "Missing `id`, or `wait` not a non-negative integer", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key", body = ErrorBody),
        (status = 404, description = "Unknown authorization", body = ErrorBody),
    )
)]
pub async fn status(
    State(az): State<Authorizer>,
    AppKey(caller): AppKey,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mut id = None;
    let mut wait = None;
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let slot = match k.as_ref() {
            "id" => &mut id,
            "wait" => &mut wait,
            _ => continue,
        };
        if slot.replace(v.into_owned()).is_some() {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                format!("{k}: given more than once"),
            ));
        }
    }
    // Nothing of the request is kept through a long wait (the URI shares hyper's read buffer).
    drop(uri);
    let id = id.ok_or_else(|| ApiError::new(ErrorName::InvalidRequest, "id: required"))?;
    let wait = match wait.as_deref() {
        None | Some("") => 0,
        Some(w) => w.parse::<u64>().map_err(|_| {
            ApiError::new(
                ErrorName::InvalidRequest,
                "wait: must be a non-negative integer (seconds)",
            )
        })?,
    };
    let r = get_status(&az, &caller, &id, wait).await?;
    Ok(start::answer(r))
}

/// The use case behind REST `status` and gRPC `GetStatus`.
pub async fn get_status(
    az: &Authorizer,
    caller: &TenantPrincipal,
    id: &str,
    wait: u64,
) -> Result<AuthorizationResponse, ApiError> {
    let tenant = caller.tenant;
    let id = AuthorizationId::parse(id).map_err(|_| not_found("authorization"))?;
    let hold = Duration::from_secs(wait.min(MAX_WAIT));
    let deadline = tokio::time::Instant::now() + hold;
    // Only a request that will wait registers with the notifier.
    let watch = (wait > 0).then(|| az.waiters.watch(id));
    let mut first = true;
    // The reads and the answer are boxed: their futures (the store's queries) would otherwise
    // be laid out inside this one, which lives as long as the hold — kilobytes for each of
    // thousands of held long-polls. The answer lingers on a failed authorization's first read
    // (Arcade's clients poll again at once otherwise).
    let answer = |a: AuthorizationRecord, f: FlowRecord, linger: Option<Duration>| {
        Box::pin(async move {
            if let Some(linger) = linger {
                tokio::select! {
                    () = tokio::time::sleep(linger) => {}
                    () = az.waiters.stopped() => {}
                }
            }
            start::view(az, tenant, &a, &f).await
        })
    };
    loop {
        // Enabled before reading, so that a change between the read and the wait still wakes.
        let woken = watch.as_ref().map(|w| w.notify().notified());
        tokio::pin!(woken);
        if let Some(w) = woken.as_mut().as_pin_mut() {
            w.enable();
        }
        // The authorization read is not kept through the wait (it would be, in scope).
        let until = {
            let (a, f) = Box::pin(current(az, tenant, id)).await?;
            match a.status {
                AuthorizationStatus::Completed => return answer(a, f, None).await,
                AuthorizationStatus::Failed => {
                    let linger =
                        (first && wait > 0).then(|| Duration::from_secs(wait.min(FAILED_WAIT)));
                    return answer(a, f, linger).await;
                }
                AuthorizationStatus::Pending | AuthorizationStatus::NotStarted => {
                    let expiry = Duration::from_millis(
                        u64::try_from(a.expires_at.0.saturating_sub(UnixMillis::now().0))
                            .unwrap_or(0),
                    );
                    if woken.is_none()
                        || tokio::time::Instant::now() >= deadline
                        || az.waiters.is_stopping()
                    {
                        return answer(a, f, None).await;
                    }
                    deadline.min(tokio::time::Instant::now() + expiry)
                }
            }
        };
        if let Some(w) = woken.as_mut().as_pin_mut() {
            tokio::select! {
                () = w => {}
                () = tokio::time::sleep_until(until) => {}
                // Shutting down: the loop reads the status once more and answers it.
                () = az.waiters.stopped() => {}
            }
        }
        first = false;
    }
}

/// The authorization as it stands: one whose lifetime is over is ended first.
async fn current(
    az: &Authorizer,
    tenant: latchkey_core::TenantId,
    id: AuthorizationId,
) -> Result<(AuthorizationRecord, FlowRecord), ApiError> {
    let read = || async {
        az.store
            .get_authorization(tenant, id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| not_found("authorization"))
    };
    let (a, f) = read().await?;
    if a.status == AuthorizationStatus::Pending && a.expires_at <= UnixMillis::now() {
        ending::expire(az, tenant, &a, &f).await?;
        return read().await;
    }
    Ok((a, f))
}
