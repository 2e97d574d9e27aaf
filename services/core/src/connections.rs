//! Users' connections (grants) as the control plane manages them: listing with the Arcade
//! filters, and removal. A connection, or a provider with its grants, is deleted at once while
//! the revocation at Discord is owed in the same transaction ([`crate::revocation`]) and tried
//! until Discord confirms. A tenant is deleted only once Discord has confirmed every
//! revocation, since its data keys go with it. A grant is never forgotten while its tokens may
//! still work at Discord.

use crate::audit::{Actor, AuditEvent};
use crate::crypto::Vault;
use crate::error::CoreError;
use crate::grant::{self, GrantRecord, GrantStatus};
use crate::ports::{DiscordRevoker, GrantFilter, Store};
use crate::provider::{self, ProviderRecord, ProviderSlug};
use crate::resolve::DISCORD;
use crate::revocation::{self, RevocationRecord};
use crate::{GrantId, TenantId};

/// A connection as the admin API shows it.
pub struct Connection {
    /// The grant.
    pub grant: GrantRecord,
    /// The provider it was made through.
    pub provider: ProviderRecord,
    /// Discord's `/users/@me` object, opened.
    pub user_info: serde_json::Value,
}

/// The tenant's connections (not revoked), oldest first. `provider` matches an instance id or
/// the provider type `discord`; `user_id` matches byte-exactly.
pub async fn list(
    store: &dyn Store,
    vault: &Vault,
    tenant: TenantId,
    provider: Option<&str>,
    user_id: Option<&str>,
) -> Result<Vec<Connection>, CoreError> {
    let providers = store.list_providers(tenant).await?;
    let mut filter = GrantFilter {
        user_id: user_id.map(str::to_owned),
        provider: None,
    };
    if let Some(p) = provider.filter(|p| *p != DISCORD) {
        match providers.iter().find(|r| r.slug.as_str() == p) {
            Some(r) => filter.provider = Some(r.id),
            None => return Ok(Vec::new()),
        }
    }
    let grants = store.list_grants(tenant, &filter).await?;
    let mut out = Vec::with_capacity(grants.len());
    for g in grants {
        let Some(provider) = providers.iter().find(|p| p.id == g.provider).cloned() else {
            continue;
        };
        let user_info = grant::user_info(vault, tenant, &g).await?;
        out.push(Connection {
            grant: g,
            provider,
            user_info,
        });
    }
    Ok(out)
}

/// Revokes every grant of `providers` at Discord, and every revocation the tenant still owes;
/// fails on the first that Discord refuses, having revoked the ones before it (revoking again
/// later is harmless). For tenant deletion, which cannot leave obligations behind: the
/// tenant's data keys, which seal them, are destroyed with it.
async fn revoke_everything(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    providers: &[ProviderRecord],
) -> Result<Vec<GrantId>, CoreError> {
    let mut revoked = Vec::new();
    for p in providers {
        let filter = GrantFilter {
            user_id: None,
            provider: Some(p.id),
        };
        for g in store.list_grants(tenant, &filter).await? {
            let token = grant::revocation_token(vault, tenant, &g).await?;
            let secret = provider::client_secret(vault, tenant, p).await?;
            revoker
                .revoke(
                    p.client_id.as_str(),
                    &secret,
                    p.endpoint_origin.as_deref(),
                    &token,
                )
                .await
                .map_err(CoreError::Upstream)?;
            revoked.push(g.id);
        }
    }
    for r in store.list_revocations(tenant).await? {
        if !revocation::attempt_now(store, vault, revoker, tenant, &r).await? {
            return Err(CoreError::Upstream(
                "an owed revocation is still refused".to_owned(),
            ));
        }
    }
    Ok(revoked)
}

/// Tries up to [`revocation::BATCH`] owed revocations at once, stopping at the first Discord
/// refuses (it is down); the rest stay owed and are worked off in the background, so a
/// request never waits on more than a few calls to Discord.
async fn try_now(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    owed: &[RevocationRecord],
) {
    for r in owed.iter().take(revocation::BATCH as usize) {
        match revocation::attempt_now(store, vault, revoker, tenant, r).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                tracing::error!(revocation = %r.id, error = %e, "could not try a revocation; it stays owed");
                break;
            }
        }
    }
}

/// Deletes one connection at once, owing its revocation at Discord in the same transaction,
/// and tries that revocation right away (retried in the background while Discord fails).
pub async fn delete(
    store: &dyn Store,
    fresh: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    id: GrantId,
    actor: &Actor,
) -> Result<(), CoreError> {
    let g = store
        .get_grant(tenant, id)
        .await?
        .ok_or(CoreError::NotFound("connection"))?;
    // A grant cannot outlive its provider (foreign key), so the provider is there; read it
    // past the cache, which may lag another replica's write.
    let p = fresh
        .get_provider_by_ref(tenant, g.provider)
        .await?
        .ok_or(CoreError::Store(crate::StoreError::Corrupt {
            table: "grants",
            detail: "a grant without its provider".to_owned(),
        }))?;
    let owed = revocation::obligation(vault, tenant, &p, &g).await?;
    store
        .delete_grant(
            tenant,
            id,
            Some(&owed),
            &AuditEvent::success(actor, "connection.delete", id.to_string()),
        )
        .await?;
    try_now(store, vault, revoker, tenant, std::slice::from_ref(&owed)).await;
    Ok(())
}

/// Acknowledges an account switch (security.md V10, `require_ack`): the connection awaiting
/// acknowledgement becomes the user's active grant, and the user's other grants through that
/// provider are deleted, owing their revocation at Discord when they belong to another Discord
/// account. Returns the connection as it now is.
pub async fn acknowledge(
    store: &dyn Store,
    fresh: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    id: GrantId,
    actor: &Actor,
) -> Result<Connection, CoreError> {
    let g = store
        .get_grant(tenant, id)
        .await?
        .ok_or(CoreError::NotFound("connection"))?;
    if g.status != GrantStatus::AwaitingAck {
        return Err(CoreError::Invalid {
            field: "id",
            message: "this connection is not awaiting an account-switch acknowledgement".to_owned(),
        });
    }
    let p = fresh
        .get_provider_by_ref(tenant, g.provider)
        .await?
        .ok_or(CoreError::NotFound("connection"))?;
    let filter = GrantFilter {
        user_id: Some(g.user_id.clone()),
        provider: Some(g.provider),
    };
    let others: Vec<GrantRecord> = store
        .list_grants(tenant, &filter)
        .await?
        .into_iter()
        .filter(|o| o.id != id)
        .collect();
    let mut owed = Vec::new();
    for o in others
        .iter()
        .filter(|o| o.discord_user_id != g.discord_user_id)
    {
        owed.push(revocation::obligation(vault, tenant, &p, o).await?);
    }
    let replaces: Vec<GrantId> = others.iter().map(|o| o.id).collect();
    let audit = AuditEvent::success(actor, "connection.acknowledge", id.to_string());
    if !store
        .acknowledge_grant(tenant, id, &replaces, &owed, &audit)
        .await?
    {
        return Err(CoreError::Invalid {
            field: "id",
            message: "this connection is not awaiting an account-switch acknowledgement".to_owned(),
        });
    }
    try_now(store, vault, revoker, tenant, &owed).await;
    let user_info = grant::user_info(vault, tenant, &g).await?;
    Ok(Connection {
        grant: GrantRecord {
            status: GrantStatus::Active,
            ..g
        },
        provider: p,
        user_info,
    })
}

/// Deletes a provider with its grants and authorizations (audited), owing a revocation for
/// each grant in the same transaction, and tries them right away. Returns the provider as it
/// was.
pub async fn delete_provider(
    store: &dyn Store,
    fresh: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    slug: &ProviderSlug,
    actor: &Actor,
) -> Result<ProviderRecord, CoreError> {
    for _ in 0..3 {
        let p = fresh
            .get_provider(tenant, slug.as_str())
            .await?
            .ok_or(CoreError::NotFound("provider"))?;
        let filter = GrantFilter {
            user_id: None,
            provider: Some(p.id),
        };
        let mut owed = Vec::new();
        for g in store.list_grants(tenant, &filter).await? {
            owed.push(revocation::obligation(vault, tenant, &p, &g).await?);
        }
        match store
            .delete_provider(
                tenant,
                slug.as_str(),
                &owed,
                &AuditEvent::success(actor, "provider.delete", p.id.to_string()),
            )
            .await
        {
            Ok(()) => {
                try_now(store, vault, revoker, tenant, &owed).await;
                tracing::info!(provider = %p.id, grants = owed.len(), "provider deleted");
                return Ok(p);
            }
            // A grant was made or removed meanwhile: look again.
            Err(crate::StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(CoreError::Store(crate::StoreError::Unavailable(
        "the provider's grants kept changing; try again".to_owned(),
    )))
}

/// Deletes a tenant: revokes every grant and every owed revocation at Discord, then deletes
/// all of its data and forgets its data keys; the platform audit log records it. While Discord
/// refuses, nothing is deleted (the keys that seal what is owed would be destroyed).
pub async fn delete_tenant(
    store: &dyn Store,
    fresh: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    actor: &Actor,
) -> Result<(), CoreError> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(CoreError::NotFound("tenant"));
    }
    for _ in 0..3 {
        let providers = fresh.list_providers(tenant).await?;
        let revoked = revoke_everything(store, vault, revoker, tenant, &providers).await?;
        match store
            .delete_tenant(
                tenant,
                &revoked,
                &AuditEvent::success(actor, "tenant.delete", tenant.to_string()),
            )
            .await
        {
            Ok(()) => {
                vault.forget_tenant(tenant).await;
                tracing::info!(tenant_id = %tenant, revoked = revoked.len(), "tenant deleted");
                return Ok(());
            }
            // A grant or an owed revocation appeared meanwhile: revoke again.
            Err(crate::StoreError::Conflict(_)) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(CoreError::Store(crate::StoreError::Unavailable(
        "the tenant's grants kept changing; try again".to_owned(),
    )))
}
