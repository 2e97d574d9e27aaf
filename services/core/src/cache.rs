//! Caches of the look-ups on every request's path — a tenant's providers and tools — as a
//! decorator around the store ([`CachedStore`]), and the [`Change`] notices that invalidate
//! them. Every store write that affects a cached look-up announces a `Change`: in-process at
//! once, and on PostgreSQL through `NOTIFY` in the write's own transaction, so every replica
//! drops its copy when (and only when) the write commits. Entries also expire after a TTL, the
//! bound on staleness should a notice ever be lost; a listener that reconnects announces
//! [`Change::All`].

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::sync::Cache;

use crate::apikey::KeyHash;
use crate::audit::{AuditEvent, AuditFilter, PackedAudits};
use crate::authorization::{AuthorizationRecord, AuthorizationStatus, Finish, FlowRecord, Phase};
use crate::crypto::{MasterKeyId, WrappedKey};
use crate::error::StoreError;
use crate::grant::GrantRecord;
use crate::ports::{
    ApiKeyRecord, ApiKeyStore, AuditStore, AuthKeyRecord, AuthorizationStore, FoundFlow,
    GrantFilter, GrantStore, OperatorKeyRecord, ProviderStore, RevocationStore, SettingsStore,
    Store, TenantKeyRecord, TenantKeyStore, TenantStore, ToolStore,
};
use crate::provider::ProviderRecord;
use crate::revocation::RevocationRecord;
use crate::settings::VerificationSettings;
use crate::tenant::Tenant;
use crate::time::UnixMillis;
use crate::tool::{ToolName, ToolRecord};
use crate::warm::WarmTokens;
use crate::{ApiKeyId, AuthorizationId, GrantId, ProviderRef, TenantId, ToolId};

/// What changed, as far as caches care. Carries ids only, never a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A tenant's providers.
    Providers(TenantId),
    /// A tenant's tools (and the tool keys that go with them).
    Tools(TenantId),
    /// One API key (revoked or re-hashed).
    Key(ApiKeyId),
    /// A whole tenant (deleted).
    Tenant(TenantId),
    /// One authorization's status (its long-poll waiters wake).
    Authorization(TenantId, AuthorizationId),
    /// One grant's tokens or status (refreshed, re-authorization required, replaced or
    /// deleted): its warm access token leaves every replica's token cache.
    Grant(TenantId, GrantId),
    /// Notices may have been missed: drop everything.
    All,
}

impl Change {
    /// The notice's wire form (a `NOTIFY` payload).
    pub fn encode(&self) -> String {
        match self {
            Self::Providers(t) => format!("providers {t}"),
            Self::Tools(t) => format!("tools {t}"),
            Self::Key(k) => format!("key {k}"),
            Self::Tenant(t) => format!("tenant {t}"),
            Self::Authorization(t, a) => format!("authorization {t} {a}"),
            Self::Grant(t, g) => format!("grant {t} {g}"),
            Self::All => "all".to_owned(),
        }
    }

    /// Parses a notice; `None` for anything else.
    pub fn decode(s: &str) -> Option<Self> {
        let (kind, id) = s.split_once(' ').unwrap_or((s, ""));
        match kind {
            "providers" => TenantId::parse(id).ok().map(Self::Providers),
            "tools" => TenantId::parse(id).ok().map(Self::Tools),
            "key" => ApiKeyId::parse(id).ok().map(Self::Key),
            "tenant" => TenantId::parse(id).ok().map(Self::Tenant),
            "grant" => {
                let (t, g) = id.split_once(' ')?;
                Some(Self::Grant(
                    TenantId::parse(t).ok()?,
                    GrantId::parse(g).ok()?,
                ))
            }
            "authorization" => {
                let (t, a) = id.split_once(' ')?;
                Some(Self::Authorization(
                    TenantId::parse(t).ok()?,
                    AuthorizationId::parse(a).ok()?,
                ))
            }
            "all" if id.is_empty() => Some(Self::All),
            _ => None,
        }
    }

    /// The tenant whose cached data the change touches, if it names one.
    pub fn tenant(&self) -> Option<TenantId> {
        match self {
            Self::Providers(t) | Self::Tools(t) | Self::Tenant(t) => Some(*t),
            Self::Key(_) | Self::All | Self::Authorization(..) | Self::Grant(..) => None,
        }
    }
}

/// A tenant's providers and tools as the look-up cache shares them: nothing is copied out.
#[derive(Clone)]
pub struct Catalog {
    /// The tenant's providers.
    pub providers: Arc<Vec<ProviderRecord>>,
    /// The tenant's registered tools.
    pub tools: Arc<Vec<ToolRecord>>,
}

/// How long a cached look-up is trusted without a notice.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// Tenants whose providers and tools are kept, at most.
pub const CACHE_TENANTS: u64 = 10_000;

/// The store, with a tenant's providers and tools served from memory. Writes go through to the
/// store and drop the tenant's entries before they return (read-your-writes); other replicas
/// drop theirs on the store's [`Change`] notices, passed to [`CachedStore::apply`].
pub struct CachedStore {
    inner: Arc<dyn Store>,
    /// A tenant's providers and tools in one entry: the token hot path reads both on every
    /// release, and each cache look-up costs about as much as the other (`perf`: 1.5–1.8 % of
    /// the warm fetch's samples each).
    /// Shared whole (`Arc`): a hit hands out one reference, not one per list.
    catalogs: Cache<TenantId, Arc<Catalog>>,
    /// Bumped by every [`CachedStore::apply`] before it invalidates: a load that saw another
    /// value when it started drops what it inserted, so a load racing a write never leaves
    /// the old value cached.
    epoch: std::sync::atomic::AtomicU64,
    /// The token service's warm tokens, kept in step with this store's grant writes (at once,
    /// for read-your-writes) and with the notices of other replicas.
    warm: Option<Arc<WarmTokens>>,
}

impl CachedStore {
    /// Caches `inner`'s look-ups for `ttl`.
    pub fn new(inner: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            inner,
            catalogs: tenant_cache(ttl),
            epoch: std::sync::atomic::AtomicU64::new(0),
            warm: None,
        }
    }

    /// Also keeps `warm` in step: every write through this store and every applied notice
    /// drops the warm tokens it makes stale.
    pub fn with_warm_tokens(mut self, warm: Arc<WarmTokens>) -> Self {
        self.warm = Some(warm);
        self
    }

    /// Drops what `change` makes stale.
    pub async fn apply(&self, change: &Change) {
        if let Some(w) = &self.warm {
            w.apply(change).await;
        }
        if let Change::Authorization(..) | Change::Grant(..) = change {
            return;
        }
        self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match change {
            Change::Providers(t) | Change::Tools(t) | Change::Tenant(t) => {
                self.catalogs.invalidate(t);
            }
            Change::All => self.catalogs.invalidate_all(),
            Change::Key(_) | Change::Authorization(..) | Change::Grant(..) => {}
        }
    }

    async fn providers(&self, tenant: TenantId) -> Result<Arc<Vec<ProviderRecord>>, StoreError> {
        Ok(Arc::clone(&self.catalog(tenant).await?.providers))
    }

    async fn tools(&self, tenant: TenantId) -> Result<Arc<Vec<ToolRecord>>, StoreError> {
        Ok(Arc::clone(&self.catalog(tenant).await?.tools))
    }

    /// A tenant's cached providers and tools, or fresh ones (cached unless a change arrived
    /// meanwhile).
    async fn catalog(&self, tenant: TenantId) -> Result<Arc<Catalog>, StoreError> {
        use std::sync::atomic::Ordering;
        if let Some(hit) = self.catalogs.get(&tenant) {
            return Ok(hit);
        }
        let started = self.epoch.load(Ordering::SeqCst);
        let fresh = Arc::new(Catalog {
            providers: Arc::new(self.inner.list_providers(tenant).await?),
            tools: Arc::new(self.inner.list_tools(tenant).await?),
        });
        self.catalogs.insert(tenant, Arc::clone(&fresh));
        if self.epoch.load(Ordering::SeqCst) != started {
            // A change may have been applied between the reads and the insert.
            self.catalogs.invalidate(&tenant);
        }
        Ok(fresh)
    }

    /// Runs a write, then drops what it changed (also when it failed: it may have committed).
    async fn write<T>(
        &self,
        change: Change,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.apply(&change).await;
        result
    }
}

/// A grant lock whose writes drop the grant's warm token in this process as they return.
struct WarmLock {
    inner: Box<dyn crate::ports::GrantLock>,
    warm: Arc<WarmTokens>,
    change: Change,
}

#[async_trait]
impl crate::ports::GrantLock for WarmLock {
    fn grant(&self) -> &GrantRecord {
        self.inner.grant()
    }
    async fn store_tokens(
        self: Box<Self>,
        update: &crate::ports::TokenUpdate,
    ) -> Result<bool, StoreError> {
        let r = self.inner.store_tokens(update).await;
        self.warm.apply(&self.change).await;
        r
    }
    async fn refresh_failed(self: Box<Self>, until: UnixMillis) -> Result<bool, StoreError> {
        self.inner.refresh_failed(until).await
    }
    async fn reauth_required(self: Box<Self>, audit: &AuditEvent) -> Result<bool, StoreError> {
        let r = self.inner.reauth_required(audit).await;
        self.warm.apply(&self.change).await;
        r
    }
}

fn tenant_cache<V: Clone + Send + Sync + 'static>(ttl: Duration) -> Cache<TenantId, V> {
    Cache::builder()
        .max_capacity(CACHE_TENANTS)
        .time_to_live(ttl)
        .build()
}

#[async_trait]
impl ProviderStore for CachedStore {
    async fn insert_provider(
        &self,
        tenant: TenantId,
        provider: &ProviderRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let r = self.inner.insert_provider(tenant, provider, audit).await;
        self.write(Change::Providers(tenant), r).await
    }
    async fn get_provider_by_ref(
        &self,
        tenant: TenantId,
        id: ProviderRef,
    ) -> Result<Option<ProviderRecord>, StoreError> {
        Ok(self
            .providers(tenant)
            .await?
            .iter()
            .find(|p| p.id == id)
            .cloned())
    }
    async fn get_provider(
        &self,
        tenant: TenantId,
        slug: &str,
    ) -> Result<Option<ProviderRecord>, StoreError> {
        Ok(self
            .providers(tenant)
            .await?
            .iter()
            .find(|p| p.slug.as_str() == slug)
            .cloned())
    }
    async fn list_providers(&self, tenant: TenantId) -> Result<Vec<ProviderRecord>, StoreError> {
        Ok(self.providers(tenant).await?.as_ref().clone())
    }
    async fn shared_providers(
        &self,
        tenant: TenantId,
    ) -> Result<Arc<Vec<ProviderRecord>>, StoreError> {
        self.providers(tenant).await
    }
    async fn update_provider(
        &self,
        tenant: TenantId,
        provider: &ProviderRecord,
        expected_updated_at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let r = self
            .inner
            .update_provider(tenant, provider, expected_updated_at, audit)
            .await;
        self.write(Change::Providers(tenant), r).await
    }
    async fn delete_provider(
        &self,
        tenant: TenantId,
        slug: &str,
        revocations: &[RevocationRecord],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let r = self
            .inner
            .delete_provider(tenant, slug, revocations, audit)
            .await;
        self.write(Change::Providers(tenant), r).await
    }
    async fn client_id_in_use(
        &self,
        client_id: &str,
        except: Option<ProviderRef>,
    ) -> Result<bool, StoreError> {
        self.inner.client_id_in_use(client_id, except).await
    }
}

#[async_trait]
impl ToolStore for CachedStore {
    async fn insert_tool(
        &self,
        tenant: TenantId,
        tool: &ToolRecord,
        key: &ApiKeyRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let r = self.inner.insert_tool(tenant, tool, key, audit).await;
        self.write(Change::Tools(tenant), r).await
    }
    async fn get_tool(
        &self,
        tenant: TenantId,
        name: &ToolName,
    ) -> Result<Option<ToolRecord>, StoreError> {
        Ok(self
            .tools(tenant)
            .await?
            .iter()
            .find(|t| &t.name == name)
            .cloned())
    }
    async fn get_tool_by_id(
        &self,
        tenant: TenantId,
        id: ToolId,
    ) -> Result<Option<ToolRecord>, StoreError> {
        Ok(self
            .tools(tenant)
            .await?
            .iter()
            .find(|t| t.id == id)
            .cloned())
    }
    async fn list_tools(&self, tenant: TenantId) -> Result<Vec<ToolRecord>, StoreError> {
        Ok(self.tools(tenant).await?.as_ref().clone())
    }
    async fn shared_tools(&self, tenant: TenantId) -> Result<Arc<Vec<ToolRecord>>, StoreError> {
        self.tools(tenant).await
    }
    async fn update_tool(
        &self,
        tenant: TenantId,
        tool: &ToolRecord,
        expected_updated_at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let r = self
            .inner
            .update_tool(tenant, tool, expected_updated_at, audit)
            .await;
        self.write(Change::Tools(tenant), r).await
    }
    async fn delete_tool(
        &self,
        tenant: TenantId,
        name: &ToolName,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let r = self.inner.delete_tool(tenant, name, audit).await;
        self.write(Change::Tools(tenant), r).await
    }
}

#[async_trait]
impl TenantStore for CachedStore {
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        data_key: &TenantKeyRecord,
        api_keys: &[ApiKeyRecord],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner
            .create_tenant(tenant, data_key, api_keys, audit)
            .await
    }
    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError> {
        self.inner.get_tenant(id).await
    }
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.inner.list_tenants().await
    }
    async fn delete_tenant(
        &self,
        id: TenantId,
        revoked: &[GrantId],
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let r = self.inner.delete_tenant(id, revoked, audit).await;
        self.write(Change::Tenant(id), r).await
    }
    async fn list_platform_audit_events(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.list_platform_audit_events(filter).await
    }
}

#[async_trait]
impl ApiKeyStore for CachedStore {
    async fn insert_api_key(
        &self,
        tenant: TenantId,
        key: &ApiKeyRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_api_key(tenant, key, audit).await
    }
    async fn get_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.get_api_key(tenant, id).await
    }
    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.list_api_keys(tenant).await
    }
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.revoke_api_key(tenant, id, at, audit).await
    }
    async fn find_key_for_auth(&self, id: ApiKeyId) -> Result<Option<AuthKeyRecord>, StoreError> {
        self.inner.find_key_for_auth(id).await
    }
    async fn update_key_hash(&self, id: ApiKeyId, hash: &KeyHash) -> Result<(), StoreError> {
        self.inner.update_key_hash(id, hash).await
    }
    async fn touch_api_key(&self, id: ApiKeyId, at: UnixMillis) -> Result<(), StoreError> {
        self.inner.touch_api_key(id, at).await
    }
    async fn insert_operator_key(&self, key: &OperatorKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_operator_key(key).await
    }
    async fn insert_first_operator_key(&self, key: &OperatorKeyRecord) -> Result<bool, StoreError> {
        self.inner.insert_first_operator_key(key).await
    }
    async fn count_operator_keys(&self) -> Result<u64, StoreError> {
        self.inner.count_operator_keys().await
    }
    async fn insert_dashboard_session(
        &self,
        id_hash: &[u8],
        session: &crate::auth::DashboardSession,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner
            .insert_dashboard_session(id_hash, session, audit)
            .await
    }
    async fn dashboard_session(
        &self,
        id_hash: &[u8],
    ) -> Result<Option<crate::auth::DashboardSession>, StoreError> {
        self.inner.dashboard_session(id_hash).await
    }
    async fn delete_dashboard_session(
        &self,
        id_hash: &[u8],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.inner.delete_dashboard_session(id_hash, audit).await
    }
}

#[async_trait]
impl TenantKeyStore for CachedStore {
    async fn tenant_key(
        &self,
        tenant: TenantId,
        version: u32,
    ) -> Result<Option<TenantKeyRecord>, StoreError> {
        self.inner.tenant_key(tenant, version).await
    }
    async fn latest_tenant_key(
        &self,
        tenant: TenantId,
    ) -> Result<Option<TenantKeyRecord>, StoreError> {
        self.inner.latest_tenant_key(tenant).await
    }
    async fn all_tenant_keys(&self) -> Result<Vec<(TenantId, TenantKeyRecord)>, StoreError> {
        self.inner.all_tenant_keys().await
    }
    async fn rewrap_tenant_key(
        &self,
        tenant: TenantId,
        version: u32,
        old: &MasterKeyId,
        new: &WrappedKey,
    ) -> Result<bool, StoreError> {
        self.inner
            .rewrap_tenant_key(tenant, version, old, new)
            .await
    }
}

#[async_trait]
impl GrantStore for CachedStore {
    async fn insert_grant(
        &self,
        tenant: TenantId,
        grant: &GrantRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_grant(tenant, grant, audit).await
    }
    async fn get_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.inner.get_grant(tenant, id).await
    }
    async fn list_grants(
        &self,
        tenant: TenantId,
        filter: &GrantFilter,
    ) -> Result<Vec<GrantRecord>, StoreError> {
        self.inner.list_grants(tenant, filter).await
    }
    async fn active_grant(
        &self,
        tenant: TenantId,
        user_id: &str,
        provider: ProviderRef,
    ) -> Result<Option<GrantRecord>, StoreError> {
        self.inner.active_grant(tenant, user_id, provider).await
    }
    async fn delete_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
        revocation: Option<&RevocationRecord>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let r = self.inner.delete_grant(tenant, id, revocation, audit).await;
        self.write(Change::Grant(tenant, id), r).await
    }
    async fn acknowledge_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
        replaces: &[GrantId],
        revocations: &[RevocationRecord],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let r = self
            .inner
            .acknowledge_grant(tenant, id, replaces, revocations, audit)
            .await;
        for g in replaces {
            self.apply(&Change::Grant(tenant, *g)).await;
        }
        r
    }
    async fn expiring_grants(
        &self,
        before: UnixMillis,
        limit: u32,
    ) -> Result<Vec<(TenantId, GrantRecord)>, StoreError> {
        self.inner.expiring_grants(before, limit).await
    }
    async fn lock_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
    ) -> Result<Option<Box<dyn crate::ports::GrantLock>>, StoreError> {
        let lock = self.inner.lock_grant(tenant, id).await?;
        Ok(match (lock, &self.warm) {
            (Some(inner), Some(warm)) => Some(Box::new(WarmLock {
                inner,
                warm: Arc::clone(warm),
                change: Change::Grant(tenant, id),
            })),
            (lock, _) => lock,
        })
    }
    async fn authorization_summary(
        &self,
        tenant: TenantId,
        user_id: &str,
        provider: ProviderRef,
        now: UnixMillis,
    ) -> Result<Option<AuthorizationStatus>, StoreError> {
        self.inner
            .authorization_summary(tenant, user_id, provider, now)
            .await
    }
}

#[async_trait]
impl RevocationStore for CachedStore {
    async fn list_revocations(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        self.inner.list_revocations(tenant).await
    }
    async fn claim_revocations(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<(TenantId, RevocationRecord)>, StoreError> {
        self.inner.claim_revocations(now, lease_until, limit).await
    }
    async fn finish_revocation(
        &self,
        tenant: TenantId,
        id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.finish_revocation(tenant, id, audit).await
    }
    async fn reschedule_revocation(
        &self,
        tenant: TenantId,
        id: &str,
        attempts: u32,
        next_attempt_at: UnixMillis,
        error: &str,
    ) -> Result<(), StoreError> {
        self.inner
            .reschedule_revocation(tenant, id, attempts, next_attempt_at, error)
            .await
    }
}

#[async_trait]
impl SettingsStore for CachedStore {
    async fn verification_settings(
        &self,
        tenant: TenantId,
    ) -> Result<Option<VerificationSettings>, StoreError> {
        self.inner.verification_settings(tenant).await
    }
    async fn put_verification_settings(
        &self,
        tenant: TenantId,
        settings: &VerificationSettings,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner
            .put_verification_settings(tenant, settings, audit)
            .await
    }
}

#[async_trait]
impl AuditStore for CachedStore {
    async fn list_audit_events(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.list_audit_events(tenant, filter).await
    }
    async fn record_audits(&self, events: &PackedAudits) -> Result<(), StoreError> {
        self.inner.record_audits(events).await
    }
    async fn daily_usage(
        &self,
        tenant: TenantId,
        since: UnixMillis,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        self.inner.daily_usage(tenant, since).await
    }
}

#[async_trait]
impl AuthorizationStore for CachedStore {
    async fn insert_verifier_test(
        &self,
        tenant: TenantId,
        t: &crate::authorization::VerifierTest,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_verifier_test(tenant, t, audit).await
    }
    async fn verifier_test_by_flow_id(
        &self,
        tenant: TenantId,
        hash: &[u8],
    ) -> Result<Option<crate::authorization::VerifierTest>, StoreError> {
        self.inner.verifier_test_by_flow_id(tenant, hash).await
    }
    async fn get_verifier_test(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
    ) -> Result<Option<crate::authorization::VerifierTest>, StoreError> {
        self.inner.get_verifier_test(tenant, id).await
    }
    async fn decide_verifier_test(
        &self,
        tenant: TenantId,
        t: &crate::authorization::VerifierTest,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.inner.decide_verifier_test(tenant, t, audit).await
    }
    async fn insert_authorization(
        &self,
        tenant: TenantId,
        a: &AuthorizationRecord,
        f: &FlowRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_authorization(tenant, a, f, audit).await
    }
    async fn get_authorization(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
    ) -> Result<Option<(AuthorizationRecord, FlowRecord)>, StoreError> {
        self.inner.get_authorization(tenant, id).await
    }
    async fn recent_authorizations(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<AuthorizationRecord>, StoreError> {
        self.inner.recent_authorizations(tenant, limit).await
    }
    async fn reusable_authorizations(
        &self,
        tenant: TenantId,
        user_id: &str,
        provider: ProviderRef,
        now: UnixMillis,
    ) -> Result<Vec<(AuthorizationRecord, FlowRecord)>, StoreError> {
        self.inner
            .reusable_authorizations(tenant, user_id, provider, now)
            .await
    }
    async fn flow_by_start_token(&self, hash: &[u8]) -> Result<Option<FoundFlow>, StoreError> {
        self.inner.flow_by_start_token(hash).await
    }
    async fn flow_by_state(&self, hash: &[u8]) -> Result<Option<FoundFlow>, StoreError> {
        self.inner.flow_by_state(hash).await
    }
    async fn flow_by_flow_id(
        &self,
        tenant: TenantId,
        hash: &[u8],
    ) -> Result<Option<(AuthorizationRecord, FlowRecord)>, StoreError> {
        self.inner.flow_by_flow_id(tenant, hash).await
    }
    async fn advance_flow(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
        from: Phase,
        expect_state: Option<&[u8]>,
        to: &FlowRecord,
    ) -> Result<bool, StoreError> {
        self.inner
            .advance_flow(tenant, id, from, expect_state, to)
            .await
    }
    async fn finish_flow(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
        from: Phase,
        finish: &Finish,
    ) -> Result<bool, StoreError> {
        let r = self.inner.finish_flow(tenant, id, from, finish).await;
        for g in &finish.replaces {
            self.apply(&Change::Grant(tenant, *g)).await;
        }
        r
    }
    async fn due_flows(
        &self,
        now: UnixMillis,
        stuck_before: UnixMillis,
        limit: u32,
    ) -> Result<Vec<FoundFlow>, StoreError> {
        self.inner.due_flows(now, stuck_before, limit).await
    }
    async fn purge_authorizations(
        &self,
        before: UnixMillis,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.inner.purge_authorizations(before, limit).await
    }
    async fn record_audit(&self, tenant: TenantId, event: &AuditEvent) -> Result<(), StoreError> {
        self.inner.record_audit(tenant, event).await
    }
    async fn discord_user_connected(
        &self,
        tenant: TenantId,
        provider: ProviderRef,
        discord_user_id: &str,
    ) -> Result<bool, StoreError> {
        self.inner
            .discord_user_connected(tenant, provider, discord_user_id)
            .await
    }
}

#[async_trait]
impl Store for CachedStore {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn shared_catalog(&self, tenant: TenantId) -> Result<Arc<Catalog>, StoreError> {
        self.catalog(tenant).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_and_refuse_anything_else() {
        let t = TenantId::generate();
        let k = ApiKeyId::generate();
        for c in [
            Change::Providers(t),
            Change::Tools(t),
            Change::Key(k),
            Change::Tenant(t),
            Change::Authorization(t, AuthorizationId::generate()),
            Change::Grant(t, GrantId::generate()),
            Change::All,
        ] {
            assert_eq!(Change::decode(&c.encode()), Some(c));
        }
        for bad in [
            "",
            "providers",
            "providers x",
            "key tnt_1",
            "all x",
            "authorization tnt_1",
            "grant tnt_1",
            "nope tnt_1",
        ] {
            assert_eq!(Change::decode(bad), None, "{bad}");
        }
    }
}
