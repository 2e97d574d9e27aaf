//! `POST /v1/auth/confirm_user` (arcade-compat §8.3; security.md V3–V7): the tenant's
//! verifier backend vouches for the user signed in to its app. Byte-equal to the user the
//! authorization was started for → the quarantined grant becomes active (replacing the user's
//! older grant through the provider), the authorization `completed`, waiters wake; otherwise
//! 400 `user_mismatch`, the authorization `failed`, the tokens revoked (V7) and deleted. One
//! conditional update decides; an identical retry gets the recorded answer; everything else —
//! unknown, expired, used or another tenant's `flow_id` — is the same 404.

use axum::Json;
use axum::extract::State;
use latchkey_api::auth::{ConfirmUserRequest, ConfirmUserResponse};
use latchkey_api::server::{ApiError, AppKey, JsonBody};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::audit::{Actor, AuditEvent};
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::authorization::{
    AuthorizationRecord, Finish, Phase, Quarantine, capability_hash, is_capability_shaped,
};
use latchkey_core::grant::{self, GrantRecord, GrantSecrets, GrantStatus};
use latchkey_core::metrics::AuthorizationOutcome;
use latchkey_core::ports::GrantFilter;
use latchkey_core::revocation;
use latchkey_core::settings::{AccountSwitch, VerificationSettings};
use latchkey_core::time::UnixMillis;
use latchkey_core::{GrantId, TenantId};

use crate::ending::{self, Ending};
use crate::{Authorizer, not_found, start, store_err};

/// The recorded decisions (also those of verifier self-tests).
pub(crate) const COMPLETED: &str = "completed";
pub(crate) const MISMATCH: &str = "user_mismatch";

/// The decision an identical retry repeats: the recorded one when it was made for the same user
/// id (hashes compared in constant time), else none.
pub(crate) fn recorded<'a>(
    decision: Option<&'a str>,
    decided_user_hash: Option<&[u8]>,
    presented: &[u8],
) -> Option<&'a str> {
    let same_user =
        decided_user_hash.is_some_and(|h| bool::from(subtle::ConstantTimeEq::ct_eq(h, presented)));
    decision.filter(|_| same_user)
}

/// Confirm the user of a flow.
///
/// Called by the tenant's verifier backend with the `flow_id` its route received and the user
/// signed in to the tenant's app. Requires an app key of the flow's tenant.
#[utoipa::path(
    operation_id = "auth_confirm_user",
    post, path = "/v1/auth/confirm_user", tag = "auth",
    security(("app_key" = [])),
    request_body = ConfirmUserRequest,
    responses(
        (status = 200, description = "The user matched: the authorization is completed", body = ConfirmUserResponse),
        (status = 400, description = "`user_mismatch` (the authorization failed), or `invalid_request`", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key", body = ErrorBody),
        (status = 404, description = "Unknown, expired or used `flow_id`", body = ErrorBody),
    )
)]
pub async fn confirm_user(
    State(az): State<Authorizer>,
    AppKey(caller): AppKey,
    JsonBody(req): JsonBody<ConfirmUserRequest>,
) -> Result<Json<ConfirmUserResponse>, ApiError> {
    Ok(Json(confirm(&az, &caller, &req).await?))
}

/// Confirm the user of a flow (Arcade's REST example path).
///
/// The same as `POST /v1/auth/confirm_user`, at the path Arcade's documentation shows.
#[utoipa::path(
    operation_id = "auth_confirm_user_arcade_path",
    post, path = "/api/v1/oauth/confirm_user", tag = "auth",
    security(("app_key" = [])),
    request_body = ConfirmUserRequest,
    responses(
        (status = 200, description = "The user matched: the authorization is completed", body = ConfirmUserResponse),
        (status = 400, description = "`user_mismatch` (the authorization failed), or `invalid_request`", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key", body = ErrorBody),
        (status = 404, description = "Unknown, expired or used `flow_id`", body = ErrorBody),
    )
)]
pub async fn confirm_user_arcade_path(
    state: State<Authorizer>,
    key: AppKey,
    body: JsonBody<ConfirmUserRequest>,
) -> Result<Json<ConfirmUserResponse>, ApiError> {
    confirm_user(state, key, body).await
}

fn mismatch() -> ApiError {
    ApiError::new(
        ErrorName::UserMismatch,
        "the signed-in user is not the user this authorization was started for; it has failed and nothing was stored",
    )
}

/// `next_uri` if its origin is still allowed, else Latchkey's completion page (V11).
pub(crate) fn next_uri(
    az: &Authorizer,
    a: &AuthorizationRecord,
    settings: &VerificationSettings,
) -> String {
    a.next_uri
        .clone()
        .filter(|n| start::allowed_next_uri(n, settings))
        .unwrap_or_else(|| az.done_url())
}

/// The use case behind REST `confirm_user` and gRPC `ConfirmUser`.
pub async fn confirm(
    az: &Authorizer,
    caller: &TenantPrincipal,
    req: &ConfirmUserRequest,
) -> Result<ConfirmUserResponse, ApiError> {
    let tenant = caller.tenant;
    if req.flow_id.is_empty() || req.user_id.is_empty() {
        return Err(ApiError::new(
            ErrorName::InvalidRequest,
            "flow_id and user_id are required",
        ));
    }
    if req.user_id.len() > 1024 {
        return Err(ApiError::new(
            ErrorName::InvalidRequest,
            "user_id: at most 256 bytes",
        ));
    }
    if req.flow_id.len() > 512 || !req.flow_id.is_ascii() {
        return Err(ApiError::new(
            ErrorName::InvalidRequest,
            "flow_id: at most 512 ASCII characters",
        ));
    }
    if !is_capability_shaped(&req.flow_id) {
        return Err(not_found("flow"));
    }
    let hash = capability_hash(&req.flow_id);
    let Some((a, f)) = az
        .store
        .flow_by_flow_id(tenant, &hash)
        .await
        .map_err(store_err)?
    else {
        // Not a real flow: a verifier self-test's, or unknown.
        return match az
            .store
            .verifier_test_by_flow_id(tenant, &hash)
            .await
            .map_err(store_err)?
        {
            Some(t) => crate::verifier_test::confirm_test(az, caller, t, &req.user_id).await,
            None => Err(not_found("flow")),
        };
    };
    if a.expires_at <= UnixMillis::now() {
        ending::expire(az, tenant, &a, &f).await?;
        return Err(not_found("flow"));
    }
    // The decision records a hash of the user id it was given, never the id.
    let presented = capability_hash(&req.user_id);
    let settings = || async {
        az.store
            .verification_settings(tenant)
            .await
            .map_err(store_err)
            .map(Option::unwrap_or_default)
    };
    // V4: byte-exact.
    let matches = req.user_id.as_bytes() == a.user_id.as_bytes();
    if f.phase == Phase::AwaitingVerification {
        let actor = crate::key_actor(caller);
        if matches {
            let Some(sealed) = &f.quarantined else {
                return Err(not_found("flow"));
            };
            let q = Quarantine::open(&az.vault, tenant, a.id, sealed).await?;
            let decision = Some((COMPLETED.to_owned(), presented.clone()));
            if activate(
                az,
                tenant,
                &a,
                Phase::AwaitingVerification,
                q,
                decision,
                &actor,
                true,
            )
            .await?
            {
                return Ok(ConfirmUserResponse {
                    auth_id: a.id.to_string(),
                    next_uri: next_uri(az, &a, &settings().await?),
                });
            }
        } else {
            let end = Ending {
                from: Phase::AwaitingVerification,
                to: Phase::Failed,
                reason: MISMATCH,
                held: None,
                decision: Some((MISMATCH.to_owned(), presented.clone())),
            };
            if ending::fail(az, tenant, &a, &f, end, &actor).await? {
                return Err(mismatch());
            }
        }
    }
    // Decided already (or just now by a concurrent request): an identical retry gets the
    // recorded answer; anything else is unknown.
    let (a, f) = az
        .store
        .flow_by_flow_id(tenant, &capability_hash(&req.flow_id))
        .await
        .map_err(store_err)?
        .ok_or_else(|| not_found("flow"))?;
    match recorded(
        f.decision.as_deref(),
        f.decided_user_hash.as_deref(),
        &presented,
    ) {
        Some(COMPLETED) => Ok(ConfirmUserResponse {
            auth_id: a.id.to_string(),
            next_uri: next_uri(az, &a, &settings().await?),
        }),
        Some(MISMATCH) => Err(mismatch()),
        Some(_) | None => Err(not_found("flow")),
    }
}

/// Activates the quarantined grant `q` of authorization `a` (flow in `from`): the grant replaces
/// the user's other grants through the provider — revoked at Discord only when they belong to
/// another Discord account (`account_switched`; Discord's revocation is per user and app, so
/// revoking the same account's old token would kill the new one). False if the flow moved.
#[allow(
    clippy::too_many_arguments,
    reason = "one call site per mode; the arguments are the decision's parts"
)]
pub(crate) async fn activate(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    from: Phase,
    q: Quarantine,
    decision: Option<(String, Vec<u8>)>,
    actor: &Actor,
    verified: bool,
) -> Result<bool, ApiError> {
    let provider = az.provider(tenant, a.provider).await?;
    let old = az
        .store
        .list_grants(
            tenant,
            &GrantFilter {
                user_id: Some(a.user_id.clone()),
                provider: Some(a.provider),
            },
        )
        .await
        .map_err(store_err)?;
    let mut audit = vec![AuditEvent::success(
        actor,
        if verified {
            "authorization.completed"
        } else {
            "authorization.completed_unverified"
        },
        a.id.to_string(),
    )];
    let id = GrantId::generate();
    // Another Discord account than the user's active grant: audited; with `require_ack` the new
    // grant waits for an admin while the active one stays (security.md V10).
    let others: Vec<&GrantRecord> = old
        .iter()
        .filter(|g| g.discord_user_id != q.discord_user_id)
        .collect();
    for g in &others {
        audit.push(AuditEvent::success(
            actor,
            "account_switched",
            g.id.to_string(),
        ));
    }
    // Only a grant that still serves is worth keeping until an admin decides.
    let switched: Vec<GrantId> = others
        .iter()
        .filter(|g| g.status == GrantStatus::Active)
        .map(|g| g.id)
        .collect();
    let hold = !switched.is_empty()
        && az
            .store
            .verification_settings(tenant)
            .await
            .map_err(store_err)?
            .unwrap_or_default()
            .account_switch
            == AccountSwitch::RequireAck;
    if hold {
        audit.push(AuditEvent::success(
            actor,
            "connection.awaiting_ack",
            id.to_string(),
        ));
    }
    let replaced: Vec<&GrantRecord> = old
        .iter()
        .filter(|g| !(hold && switched.contains(&g.id)))
        .collect();
    let mut revocations = Vec::new();
    for g in replaced
        .iter()
        .filter(|g| g.discord_user_id != q.discord_user_id)
    {
        if let Some(p) = &provider {
            revocations.push(revocation::obligation(&az.vault, tenant, p, g).await?);
        }
    }
    let secrets = GrantSecrets {
        user_info: q.user_info,
        access_token: q.access_token,
        refresh_token: q.refresh_token,
    };
    let (user_info, access_token, refresh_token) =
        grant::seal(&az.vault, tenant, id, &secrets).await?;
    let now = UnixMillis::now();
    let g = GrantRecord {
        id,
        user_id: a.user_id.clone(),
        provider: a.provider,
        discord_user_id: q.discord_user_id,
        user_info,
        scopes: q.scopes,
        access_token,
        refresh_token,
        expires_at: q.expires_at,
        generation: 0,
        status: if hold {
            GrantStatus::AwaitingAck
        } else {
            GrantStatus::Active
        },
        created_at: now,
        updated_at: now,
        authorization: Some(a.id),
        cooldown_until: None,
    };
    let finish = Finish {
        phase: Phase::Completed,
        failure_reason: None,
        grant: Some(g),
        replaces: replaced.iter().map(|g| g.id).collect(),
        revocations,
        decision,
        audit,
    };
    let done = az
        .store
        .finish_flow(tenant, a.id, from, &finish)
        .await
        .map_err(store_err)?;
    if done {
        az.meters.authorization(if verified {
            AuthorizationOutcome::CompletedVerified
        } else {
            AuthorizationOutcome::CompletedSkipped
        });
        ending::work_off(az, tenant, &finish.revocations).await;
    }
    Ok(done)
}
