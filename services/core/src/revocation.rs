//! Revocations at Discord that are owed (specs/arcade-compat.md §10.2: "durable retry if
//! Discord is down"). Deleting a connection, or a provider with its grants, deletes at once and
//! records in the same transaction an obligation to revoke — a sealed copy of the app's client
//! secret and of the token — which is tried right away and, while Discord fails, again with
//! exponential backoff by a background task on every replica until Discord confirms. A grant
//! is thus never forgotten while its tokens may still work.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::TenantId;
use crate::audit::{Actor, AuditEvent};
use crate::crypto::{Aad, CryptoError, Vault};
use crate::error::CoreError;
use crate::grant::{self, GrantRecord};
use crate::ports::{DiscordRevoker, Store};
use crate::provider::{self, ProviderRecord};
use crate::time::UnixMillis;

/// One owed revocation, as stored. Secrets are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// `rvk_…`.
    pub id: String,
    /// The deleted grant it revokes (`grt_…`), for the audit log.
    pub grant_id: String,
    /// The Discord application.
    pub client_id: String,
    /// Sealed copy of the application's client secret.
    pub client_secret: Vec<u8>,
    /// The provider's endpoint origin (the simulator, an egress proxy), if any.
    pub endpoint_origin: Option<String>,
    /// Sealed copy of the token to revoke (the refresh token when there was one).
    pub token: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not to be tried before.
    pub next_attempt_at: UnixMillis,
    /// Why the last attempt failed (never a secret).
    pub last_error: Option<String>,
    /// When it was recorded.
    pub created_at: UnixMillis,
}

/// How long a claimed or freshly recorded obligation is left to the replica working on it: long
/// enough for a batch of [`BATCH`] attempts, each bounded by the Discord client's timeouts.
pub const LEASE: Duration = Duration::from_secs(600);

/// Obligations one replica claims at a time.
pub const BATCH: u32 = 10;

/// Attempts after which an obligation is abandoned — about half a day of retries — and
/// recorded in the audit log as `connection.revoke_abandoned` (so that, for instance, a
/// tenant whose Discord app was deleted can still be deleted).
pub const MAX_ATTEMPTS: u32 = 24;

/// The wait after the `attempts`-th failure: 1 s, doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.saturating_sub(1).min(12)).min(Duration::from_secs(3600))
}

fn aad<'a>(row: &'a str, column: &'static str) -> Aad<'a> {
    Aad {
        table: "pending_revocations",
        row,
        column,
    }
}

fn later(d: Duration) -> UnixMillis {
    UnixMillis(UnixMillis::now().0 + i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The obligation to revoke grant `g` of `provider`, sealed for the tenant, leased to the
/// caller (who tries it at once with [`attempt_now`]).
pub async fn obligation(
    vault: &Vault,
    tenant: TenantId,
    provider: &ProviderRecord,
    g: &GrantRecord,
) -> Result<RevocationRecord, CoreError> {
    let token = grant::revocation_token(vault, tenant, g).await?;
    obligation_for_token(vault, tenant, provider, &g.id.to_string(), &token).await
}

/// The obligation to revoke `token` of `provider`'s app, recorded under `subject` (a grant id,
/// or the authorization whose quarantined tokens it revokes), leased to the caller.
pub async fn obligation_for_token(
    vault: &Vault,
    tenant: TenantId,
    provider: &ProviderRecord,
    subject: &str,
    token: &SecretString,
) -> Result<RevocationRecord, CoreError> {
    let id = crate::ids::new_prefixed("rvk");
    let secret = provider::client_secret(vault, tenant, provider).await?;
    Ok(RevocationRecord {
        client_secret: vault
            .seal(
                tenant,
                aad(&id, "client_secret"),
                secret.expose_secret().as_bytes(),
            )
            .await?,
        token: vault
            .seal(tenant, aad(&id, "token"), token.expose_secret().as_bytes())
            .await?,
        grant_id: subject.to_owned(),
        client_id: provider.client_id.as_str().to_owned(),
        endpoint_origin: provider.endpoint_origin.clone(),
        attempts: 0,
        next_attempt_at: later(LEASE),
        last_error: None,
        created_at: UnixMillis::now(),
        id,
    })
}

async fn open(
    vault: &Vault,
    tenant: TenantId,
    r: &RevocationRecord,
    column: &'static str,
    sealed: &[u8],
) -> Result<SecretString, CoreError> {
    let plain = vault.open(tenant, aad(&r.id, column), sealed).await?;
    let s = std::str::from_utf8(&plain).map_err(|_| CryptoError::Malformed)?;
    Ok(SecretString::from(s))
}

/// Tries one obligation: revoked → removed (audited as `connection.revoked` by `system`);
/// refused → rescheduled after [`backoff`], or after [`MAX_ATTEMPTS`] removed and audited as
/// `connection.revoke_abandoned`. True if Discord confirmed. When the tenant still has a
/// provider for the same Discord app, its current client secret is used (the secret may have
/// been rotated since the obligation was recorded).
pub async fn attempt_now(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    r: &RevocationRecord,
) -> Result<bool, CoreError> {
    let live = store
        .list_providers(tenant)
        .await?
        .into_iter()
        .find(|p| p.client_id.as_str() == r.client_id);
    let (secret, origin) = match &live {
        Some(p) => (
            provider::client_secret(vault, tenant, p).await?,
            p.endpoint_origin.clone(),
        ),
        None => (
            open(vault, tenant, r, "client_secret", &r.client_secret).await?,
            r.endpoint_origin.clone(),
        ),
    };
    let token = open(vault, tenant, r, "token", &r.token).await?;
    let attempts = r.attempts.saturating_add(1);
    let system = Actor {
        id: "system".to_owned(),
        request_id: None,
    };
    match revoker
        .revoke(&r.client_id, &secret, origin.as_deref(), &token)
        .await
    {
        Ok(()) => {
            store
                .finish_revocation(
                    tenant,
                    &r.id,
                    &AuditEvent::success(&system, "connection.revoked", r.grant_id.clone()),
                )
                .await?;
            Ok(true)
        }
        Err(why) if attempts >= MAX_ATTEMPTS => {
            tracing::error!(revocation = %r.id, attempts, error = %why, "giving up a revocation at Discord");
            store
                .finish_revocation(
                    tenant,
                    &r.id,
                    &AuditEvent::success(
                        &system,
                        "connection.revoke_abandoned",
                        r.grant_id.clone(),
                    ),
                )
                .await?;
            Ok(false)
        }
        Err(why) => {
            tracing::warn!(revocation = %r.id, attempts, error = %why, "revocation at Discord failed; will retry");
            store
                .reschedule_revocation(tenant, &r.id, attempts, later(backoff(attempts)), &why)
                .await?;
            Ok(false)
        }
    }
}

/// Works off the obligations that are due, across tenants (every replica runs this; a claim
/// leases rows so replicas never try the same one at once). Returns (revoked, still owed).
pub async fn run_due(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
) -> Result<(usize, usize), CoreError> {
    let claimed = store
        .claim_revocations(UnixMillis::now(), later(LEASE), BATCH)
        .await?;
    let (mut done, mut owed) = (0, 0);
    for (tenant, r) in claimed {
        match attempt_now(store, vault, revoker, tenant, &r).await {
            Ok(true) => done += 1,
            Ok(false) => owed += 1,
            Err(e) => {
                // A row that cannot be opened is kept and retried with backoff (never dropped
                // silently); the failure is recorded on it.
                tracing::error!(revocation = %r.id, error = %e, "could not work off a revocation");
                let attempts = r.attempts.saturating_add(1);
                store
                    .reschedule_revocation(
                        tenant,
                        &r.id,
                        attempts,
                        later(backoff(attempts)),
                        "Latchkey could not open the owed revocation",
                    )
                    .await?;
                owed += 1;
            }
        }
    }
    Ok((done, owed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let secs: Vec<u64> = (1..=14).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(&secs[..5], &[1, 2, 4, 8, 16]);
        assert_eq!(backoff(13).as_secs(), 3600);
        assert_eq!(backoff(u32::MAX).as_secs(), 3600);
        assert_eq!(backoff(0).as_secs(), 1);
    }
}
