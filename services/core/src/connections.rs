//! Users' connections (grants) as the control plane manages them: listing with the Arcade
//! filters, and removal that revokes at Discord *before* deleting, for one grant, for every
//! grant of a provider (provider delete) and for a whole tenant (tenant delete). When Discord
//! cannot be reached, nothing is deleted and the caller is told to try again — a grant is never
//! forgotten while its tokens still work at Discord.

use crate::audit::{Actor, AuditEvent};
use crate::crypto::Vault;
use crate::error::CoreError;
use crate::grant::{self, GrantRecord};
use crate::ports::{DiscordRevoker, GrantFilter, Store};
use crate::provider::{self, ProviderRecord, ProviderSlug};
use crate::resolve::DISCORD;
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

/// Revokes one grant's tokens at Discord.
async fn revoke_at_discord(
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    provider: &ProviderRecord,
    g: &GrantRecord,
) -> Result<(), CoreError> {
    let token = grant::revocation_token(vault, tenant, g).await?;
    let secret = provider::client_secret(vault, tenant, provider).await?;
    revoker
        .revoke(
            provider.client_id.as_str(),
            &secret,
            provider.endpoint_origin.as_deref(),
            &token,
        )
        .await
        .map_err(CoreError::Upstream)
}

/// Revokes every grant of `providers` at Discord; fails on the first that Discord refuses,
/// having revoked the ones before it (revoking again later is harmless).
async fn revoke_all(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    providers: &[ProviderRecord],
) -> Result<usize, CoreError> {
    let mut n = 0;
    for p in providers {
        let filter = GrantFilter {
            user_id: None,
            provider: Some(p.id),
        };
        for g in store.list_grants(tenant, &filter).await? {
            revoke_at_discord(vault, revoker, tenant, p, &g).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// Deletes one connection: revokes it at Discord, then deletes it (audited).
pub async fn delete(
    store: &dyn Store,
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
    if let Some(p) = store.get_provider_by_ref(tenant, g.provider).await? {
        revoke_at_discord(vault, revoker, tenant, &p, &g).await?;
    }
    store
        .delete_grant(
            tenant,
            id,
            &AuditEvent::success(actor, "connection.delete", id.to_string()),
        )
        .await?;
    Ok(())
}

/// Deletes a provider: revokes each of its grants at Discord, then deletes it with its grants
/// and authorizations (audited). Returns the provider as it was.
pub async fn delete_provider(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    slug: &ProviderSlug,
    actor: &Actor,
) -> Result<ProviderRecord, CoreError> {
    let p = store
        .get_provider(tenant, slug.as_str())
        .await?
        .ok_or(CoreError::NotFound("provider"))?;
    let revoked = revoke_all(store, vault, revoker, tenant, std::slice::from_ref(&p)).await?;
    store
        .delete_provider(
            tenant,
            slug.as_str(),
            &AuditEvent::success(actor, "provider.delete", p.id.to_string()),
        )
        .await?;
    tracing::info!(provider = %p.id, revoked, "provider deleted");
    Ok(p)
}

/// Deletes a tenant: revokes every grant at Discord, then deletes all of its data and forgets
/// its data keys; the platform audit log records it.
pub async fn delete_tenant(
    store: &dyn Store,
    vault: &Vault,
    revoker: &dyn DiscordRevoker,
    tenant: TenantId,
    actor: &Actor,
) -> Result<(), CoreError> {
    if store.get_tenant(tenant).await?.is_none() {
        return Err(CoreError::NotFound("tenant"));
    }
    let providers = store.list_providers(tenant).await?;
    let revoked = revoke_all(store, vault, revoker, tenant, &providers).await?;
    store
        .delete_tenant(
            tenant,
            &AuditEvent::success(actor, "tenant.delete", tenant.to_string()),
        )
        .await?;
    vault.forget_tenant(tenant).await;
    tracing::info!(tenant_id = %tenant, revoked, "tenant deleted");
    Ok(())
}
