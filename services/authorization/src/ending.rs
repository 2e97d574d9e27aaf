//! How flows end without a grant (security.md V7): the authorization becomes `failed`, and
//! tokens Latchkey holds for it — quarantined, or just exchanged — are revoked at Discord. The
//! revocation is owed in the same transaction as the ending (the durable outbox of
//! `latchkey_core::revocation`) and tried at once. One exception: when the provider already
//! holds an active grant for the same Discord user (the person who consented is connected
//! already, typically the victim of Attack A), the tokens are only deleted, because Discord's
//! revocation would also disconnect that grant; the audit log records
//! `revocation_skipped_shared_authorization`. The reaper ends flows whose lifetime is over.

use latchkey_api::server::ApiError;
use latchkey_core::audit::{Actor, AuditEvent};
use latchkey_core::authorization::{
    AuthorizationRecord, EXCHANGE_BUDGET, Finish, FlowRecord, Phase, Quarantine,
};
use latchkey_core::metrics::AuthorizationOutcome;
use latchkey_core::revocation::{self, RevocationRecord};
use latchkey_core::time::UnixMillis;
use latchkey_core::{CoreError, TenantId};
use secrecy::SecretString;

use crate::{Authorizer, store_err};

/// The audit actor of flow steps no key made (the browser, the reaper).
pub(crate) fn system() -> Actor {
    Actor {
        id: "system".to_owned(),
        request_id: Some(latchkey_api::server::current_request_id()).filter(|r| !r.is_empty()),
    }
}

/// Tokens to revoke when a flow ends, and whose they are.
pub(crate) struct Held {
    /// The token that revokes the authorization (refresh token when there is one).
    pub token: SecretString,
    /// The Discord user they belong to, when known.
    pub discord_user_id: Option<String>,
}

/// The revocation owed for `held`, or `None` under V7's exception (with its audit event).
pub(crate) async fn owed_revocation(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    held: &Held,
    audit: &mut Vec<AuditEvent>,
) -> Result<Option<RevocationRecord>, ApiError> {
    if let Some(d) = &held.discord_user_id
        && az
            .store
            .discord_user_connected(tenant, a.provider, d)
            .await
            .map_err(store_err)?
    {
        audit.push(AuditEvent::success(
            &system(),
            "revocation_skipped_shared_authorization",
            a.id.to_string(),
        ));
        return Ok(None);
    }
    let Some(provider) = az.provider(tenant, a.provider).await? else {
        // The provider is gone, and with it the app's secret: nothing can revoke.
        return Ok(None);
    };
    let r = revocation::obligation_for_token(
        &az.vault,
        tenant,
        &provider,
        &a.id.to_string(),
        &held.token,
    )
    .await?;
    Ok(Some(r))
}

/// What a flow holds: its quarantined tokens, if any.
pub(crate) async fn quarantined(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    f: &FlowRecord,
) -> Result<Option<Held>, ApiError> {
    let Some(sealed) = &f.quarantined else {
        return Ok(None);
    };
    let q = match Quarantine::open(&az.vault, tenant, a.id, sealed).await {
        Ok(q) => q,
        Err(CoreError::Crypto(e)) => {
            tracing::error!(error = %e, authorization = %a.id, "quarantined tokens do not open; deleting them unrevoked");
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some(Held {
        token: q.revocation_token().clone(),
        discord_user_id: Some(q.discord_user_id),
    }))
}

/// How a flow ends without a grant.
pub(crate) struct Ending {
    /// The phase it must be in.
    pub from: Phase,
    /// `Failed` or `Expired`.
    pub to: Phase,
    /// Why (audit vocabulary).
    pub reason: &'static str,
    /// Tokens just exchanged (when none are quarantined yet).
    pub held: Option<Held>,
    /// `confirm_user`'s recorded answer.
    pub decision: Option<(String, Vec<u8>)>,
}

/// Ends the flow as `end` says, revoking held or quarantined tokens. False if another request
/// moved the flow first.
pub(crate) async fn fail(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    f: &FlowRecord,
    end: Ending,
    actor: &Actor,
) -> Result<bool, ApiError> {
    let held = match end.held {
        Some(h) => Some(h),
        None => quarantined(az, tenant, a, f).await?,
    };
    let mut audit = vec![AuditEvent::success(
        actor,
        if end.to == Phase::Expired {
            "authorization.expired"
        } else {
            "authorization.failed"
        },
        a.id.to_string(),
    )];
    let revocation = match &held {
        Some(h) => owed_revocation(az, tenant, a, h, &mut audit).await?,
        None => None,
    };
    let finish = Finish {
        phase: end.to,
        failure_reason: Some(end.reason.to_owned()),
        grant: None,
        replaces: Vec::new(),
        revocations: revocation.iter().cloned().collect(),
        decision: end.decision,
        audit,
    };
    let done = az
        .store
        .finish_flow(tenant, a.id, end.from, &finish)
        .await
        .map_err(store_err)?;
    if done {
        az.meters.authorization(if end.to == Phase::Expired {
            AuthorizationOutcome::Expired
        } else {
            AuthorizationOutcome::Failed
        });
        tracing::info!(authorization = %a.id, reason = end.reason, "authorization failed");
        work_off(az, tenant, &finish.revocations).await;
    }
    Ok(done)
}

/// Tries owed revocations now; what fails stays owed for the background task.
pub(crate) async fn work_off(az: &Authorizer, tenant: TenantId, owed: &[RevocationRecord]) {
    for r in owed {
        if let Err(e) =
            revocation::attempt_now(az.store.as_ref(), &az.vault, az.revoker.as_ref(), tenant, r)
                .await
        {
            tracing::warn!(error = %e, "revocation stays owed");
        }
    }
}

/// Expires one flow whose lifetime is over (from whatever phase it is in).
pub(crate) async fn expire(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    f: &FlowRecord,
) -> Result<bool, ApiError> {
    if f.phase.is_terminal() {
        return Ok(false);
    }
    let (to, reason) = if a.expires_at <= UnixMillis::now() {
        (Phase::Expired, "expired")
    } else {
        (Phase::Failed, "exchange_interrupted")
    };
    let end = Ending {
        from: f.phase,
        to,
        reason,
        held: None,
        decision: None,
    };
    fail(az, tenant, a, f, end, &system()).await
}

/// Ends every flow that is due (expired, or stuck in `exchanging`); returns how many.
pub async fn reap(az: &Authorizer) -> Result<usize, ApiError> {
    let now = UnixMillis::now();
    let budget = i64::try_from(EXCHANGE_BUDGET.as_millis()).unwrap_or(i64::MAX);
    let due = az
        .store
        .due_flows(now, UnixMillis(now.0.saturating_sub(budget)), 50)
        .await
        .map_err(store_err)?;
    let mut ended = 0;
    for (tenant, a, f) in due {
        if expire(az, tenant, &a, &f).await? {
            ended += 1;
        }
    }
    Ok(ended)
}

/// Purges authorizations that ended more than the retention period ago and back no active
/// grant (arcade-compat §6.5): `status` then answers 404, which ends Arcade clients' loops on
/// `failed`. Returns how many.
pub async fn purge(az: &Authorizer) -> Result<u64, ApiError> {
    let keep = i64::try_from(az.retention.as_millis()).unwrap_or(i64::MAX);
    let before = UnixMillis(UnixMillis::now().0.saturating_sub(keep));
    az.store
        .purge_authorizations(before, 500)
        .await
        .map_err(store_err)
}
