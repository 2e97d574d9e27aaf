//! The ports: what the domain needs from storage. `latchkey-store` implements them on SQLite
//! and PostgreSQL; both pass the same conformance suite.
//!
//! Every tenant-owned operation takes the [`TenantId`] first and sees only that tenant's rows:
//! another tenant's row answers exactly like one that does not exist. The few cross-tenant
//! reads (authentication by key id, start-up key checks, rotation, platform listing) are named
//! as such.

use async_trait::async_trait;

use crate::apikey::{KeyHash, KeyRole};
use crate::audit::{AuditEvent, AuditFilter, PackedAudits};
use crate::authorization::{AuthorizationRecord, AuthorizationStatus, Finish, FlowRecord, Phase};
use crate::crypto::{MasterKeyId, WrappedKey};
use crate::error::StoreError;
use crate::grant::GrantRecord;
use crate::provider::ProviderRecord;
use crate::revocation::RevocationRecord;
use crate::settings::VerificationSettings;
use crate::tenant::Tenant;
use crate::time::UnixMillis;
use crate::tool::{ToolName, ToolRecord};
use crate::{ApiKeyId, AuthorizationId, GrantId, ProviderRef, TenantId, ToolId};

/// A tenant's data key of one version, wrapped by a master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKeyRecord {
    /// The data-key version (1, 2, …).
    pub version: u32,
    /// The wrapped key and the id of the master key that wrapped it.
    pub wrapped: WrappedKey,
    /// When the version was created.
    pub created_at: UnixMillis,
}

/// A tenant's API key as stored: never the secret, only its HMAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public key id.
    pub id: ApiKeyId,
    /// What the key may do. Never [`KeyRole::Operator`] in this table.
    pub role: KeyRole,
    /// For `tool` keys, the tool the key is bound to.
    pub tool_id: Option<String>,
    /// A label chosen by the tenant.
    pub name: String,
    /// HMAC-SHA256 of the whole key under a pepper.
    pub hash: KeyHash,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it last authenticated a request (updated at most every few seconds).
    pub last_used_at: Option<UnixMillis>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

/// A platform operator key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorKeyRecord {
    /// The public key id.
    pub id: ApiKeyId,
    /// HMAC-SHA256 of the whole key under a pepper.
    pub hash: KeyHash,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it was revoked, if it was.
    pub revoked_at: Option<UnixMillis>,
}

/// What authentication needs to know about a key id, whichever table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthKeyRecord {
    /// The key id.
    pub id: ApiKeyId,
    /// The key's tenant; `None` for operator keys.
    pub tenant: Option<TenantId>,
    /// The key's role.
    pub role: KeyRole,
    /// For `tool` keys, the bound tool.
    pub tool_id: Option<String>,
    /// The stored HMAC.
    pub hash: KeyHash,
    /// Set when revoked.
    pub revoked_at: Option<UnixMillis>,
}

/// Tenants (platform scope).
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates a tenant together with its first data key and initial API keys, atomically;
    /// `audit` goes to both the tenant's and the platform's audit log.
    async fn create_tenant(
        &self,
        tenant: &Tenant,
        data_key: &TenantKeyRecord,
        api_keys: &[ApiKeyRecord],
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One tenant.
    async fn get_tenant(&self, id: TenantId) -> Result<Option<Tenant>, StoreError>;
    /// All tenants, oldest first (platform operator routes only).
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// Deletes a tenant and every row it owns, data keys included, recording `audit` in the
    /// platform audit log in the same transaction — only if it owes no revocation and its
    /// grants are exactly `revoked` (else `Conflict`: they changed). `NotFound` if absent.
    async fn delete_tenant(
        &self,
        id: TenantId,
        revoked: &[GrantId],
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The platform audit log (tenant creation and deletion) matching `filter`, oldest first.
    async fn list_platform_audit_events(
        &self,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

/// API keys: tenant keys and operator keys.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new tenant key.
    async fn insert_api_key(
        &self,
        tenant: TenantId,
        key: &ApiKeyRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One of the tenant's keys.
    async fn get_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// The tenant's keys, oldest first.
    async fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Revokes one of the tenant's keys. `NotFound` if absent or already revoked.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Cross-tenant by design: authentication looks a presented key up by its id, in both the
    /// tenant and the operator key tables.
    async fn find_key_for_auth(&self, id: ApiKeyId) -> Result<Option<AuthKeyRecord>, StoreError>;
    /// Replaces a key's stored HMAC (after it verified under an older pepper).
    async fn update_key_hash(&self, id: ApiKeyId, hash: &KeyHash) -> Result<(), StoreError>;
    /// Records use of a tenant key.
    async fn touch_api_key(&self, id: ApiKeyId, at: UnixMillis) -> Result<(), StoreError>;
    /// Stores a platform operator key.
    async fn insert_operator_key(&self, key: &OperatorKeyRecord) -> Result<(), StoreError>;
    /// Stores the first platform operator key, once: false (and nothing stored) if another
    /// process already did.
    async fn insert_first_operator_key(&self, key: &OperatorKeyRecord) -> Result<bool, StoreError>;
    /// How many operator keys are stored, revoked ones included.
    async fn count_operator_keys(&self) -> Result<u64, StoreError>;
    /// Stores a dashboard session under the hash of its secret, with `audit`; expired sessions
    /// are dropped on the way.
    async fn insert_dashboard_session(
        &self,
        id_hash: &[u8],
        session: &crate::auth::DashboardSession,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Cross-tenant by design: the browser presents only the session secret.
    async fn dashboard_session(
        &self,
        id_hash: &[u8],
    ) -> Result<Option<crate::auth::DashboardSession>, StoreError>;
    /// Ends a session (sign-out) with `audit`; false if there was none.
    async fn delete_dashboard_session(
        &self,
        id_hash: &[u8],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
}

/// Wrapped per-tenant data keys.
#[async_trait]
pub trait TenantKeyStore: Send + Sync {
    /// One version of a tenant's data key.
    async fn tenant_key(
        &self,
        tenant: TenantId,
        version: u32,
    ) -> Result<Option<TenantKeyRecord>, StoreError>;
    /// The newest version of a tenant's data key.
    async fn latest_tenant_key(
        &self,
        tenant: TenantId,
    ) -> Result<Option<TenantKeyRecord>, StoreError>;
    /// Cross-tenant by design: every wrapped data key (start-up check and rotation).
    async fn all_tenant_keys(&self) -> Result<Vec<(TenantId, TenantKeyRecord)>, StoreError>;
    /// Replaces a wrapped key only if it is still wrapped by `old`; true if it was replaced.
    async fn rewrap_tenant_key(
        &self,
        tenant: TenantId,
        version: u32,
        old: &MasterKeyId,
        new: &WrappedKey,
    ) -> Result<bool, StoreError>;
}

/// A tenant's Discord providers.
#[async_trait]
pub trait ProviderStore: Send + Sync {
    /// Stores a new provider; `Conflict` when the slug is taken in this tenant.
    async fn insert_provider(
        &self,
        tenant: TenantId,
        provider: &ProviderRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One provider by its internal id (the callback path; a grant's provider).
    async fn get_provider_by_ref(
        &self,
        tenant: TenantId,
        id: ProviderRef,
    ) -> Result<Option<ProviderRecord>, StoreError>;
    /// One provider by its tenant-chosen slug.
    async fn get_provider(
        &self,
        tenant: TenantId,
        slug: &str,
    ) -> Result<Option<ProviderRecord>, StoreError>;
    /// The tenant's providers, oldest first.
    async fn list_providers(&self, tenant: TenantId) -> Result<Vec<ProviderRecord>, StoreError>;
    /// [`list_providers`](Self::list_providers) as one shared list: the look-up cache answers
    /// it without copying (the token hot path reads it on every release).
    async fn shared_providers(
        &self,
        tenant: TenantId,
    ) -> Result<std::sync::Arc<Vec<ProviderRecord>>, StoreError> {
        Ok(std::sync::Arc::new(self.list_providers(tenant).await?))
    }
    /// Replaces a provider's mutable fields if it still has `expected_updated_at`; true if written.
    /// In the same transaction: a changed client id turns the provider's active grants
    /// `reauth_required` (security.md B13), and `inactive` fails its open authorizations.
    async fn update_provider(
        &self,
        tenant: TenantId,
        provider: &ProviderRecord,
        expected_updated_at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Deletes one provider with its grants and authorizations, recording `revocations` (one
    /// per grant that is not revoked) in the same transaction. `NotFound` if absent;
    /// `Conflict` if the provider's grants are not exactly the ones given (they changed).
    async fn delete_provider(
        &self,
        tenant: TenantId,
        slug: &str,
        revocations: &[RevocationRecord],
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Cross-tenant by design (P6): whether any provider other than `except` uses `client_id`.
    async fn client_id_in_use(
        &self,
        client_id: &str,
        except: Option<crate::ProviderRef>,
    ) -> Result<bool, StoreError>;
}

/// A tenant's registered tools.
#[async_trait]
pub trait ToolStore: Send + Sync {
    /// Stores a new tool with its first tool key; `Conflict` when the name is taken.
    async fn insert_tool(
        &self,
        tenant: TenantId,
        tool: &ToolRecord,
        key: &ApiKeyRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One tool by name.
    async fn get_tool(
        &self,
        tenant: TenantId,
        name: &ToolName,
    ) -> Result<Option<ToolRecord>, StoreError>;
    /// One tool by id (a tool key's binding).
    async fn get_tool_by_id(
        &self,
        tenant: TenantId,
        id: ToolId,
    ) -> Result<Option<ToolRecord>, StoreError>;
    /// The tenant's tools, by name.
    async fn list_tools(&self, tenant: TenantId) -> Result<Vec<ToolRecord>, StoreError>;
    /// [`list_tools`](Self::list_tools) as one shared list: the look-up cache answers it
    /// without copying (the token hot path reads it on every release).
    async fn shared_tools(
        &self,
        tenant: TenantId,
    ) -> Result<std::sync::Arc<Vec<ToolRecord>>, StoreError> {
        Ok(std::sync::Arc::new(self.list_tools(tenant).await?))
    }
    /// Replaces a tool's mutable fields if it still has `expected_updated_at`; true if written.
    async fn update_tool(
        &self,
        tenant: TenantId,
        tool: &ToolRecord,
        expected_updated_at: UnixMillis,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Deletes a tool and its tool keys. `NotFound` if absent.
    async fn delete_tool(
        &self,
        tenant: TenantId,
        name: &ToolName,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}

/// Which grants to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    /// Only this user's (byte-exact).
    pub user_id: Option<String>,
    /// Only grants made through this provider.
    pub provider: Option<ProviderRef>,
}

/// New tokens for a grant after a refresh, sealed for the grant's row.
pub struct TokenUpdate {
    /// Sealed access token.
    pub access_token: Vec<u8>,
    /// Sealed refresh token (Discord rotates it on every refresh).
    pub refresh_token: Option<Vec<u8>>,
    /// When the new access token expires.
    pub expires_at: UnixMillis,
    /// The scopes Discord granted.
    pub scopes: Vec<String>,
}

/// A grant held for a refresh. On PostgreSQL it is a row lock in an open transaction, so
/// another replica's refresh of the same grant waits and then sees the new generation; on
/// SQLite (one process) the in-process single flight and the generation check suffice. Dropping
/// it releases the lock and writes nothing.
#[async_trait]
pub trait GrantLock: Send {
    /// The grant as read under the lock.
    fn grant(&self) -> &GrantRecord;
    /// Stores refreshed tokens (generation + 1) and releases; `false` if the grant changed
    /// meanwhile (its generation moved, or it is no longer active).
    async fn store_tokens(self: Box<Self>, update: &TokenUpdate) -> Result<bool, StoreError>;
    /// Records a failed refresh (Discord unreachable): no refresh is tried before `until`; and
    /// releases.
    async fn refresh_failed(self: Box<Self>, until: UnixMillis) -> Result<bool, StoreError>;
    /// Marks the grant `reauth_required` (Discord refused its refresh token) with `audit`, and
    /// releases; `false` if the grant changed meanwhile.
    async fn reauth_required(self: Box<Self>, audit: &AuditEvent) -> Result<bool, StoreError>;
}

/// Grants (users' connections) and what the control plane reads of authorizations.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new grant.
    async fn insert_grant(
        &self,
        tenant: TenantId,
        grant: &GrantRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One grant.
    async fn get_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
    ) -> Result<Option<GrantRecord>, StoreError>;
    /// The tenant's grants that are not revoked, oldest first.
    async fn list_grants(
        &self,
        tenant: TenantId,
        filter: &GrantFilter,
    ) -> Result<Vec<GrantRecord>, StoreError>;
    /// The user's active grant through a provider.
    async fn active_grant(
        &self,
        tenant: TenantId,
        user_id: &str,
        provider: ProviderRef,
    ) -> Result<Option<GrantRecord>, StoreError>;
    /// Deletes one grant, recording the `revocation` it still needs in the same transaction.
    /// `NotFound` if absent.
    async fn delete_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
        revocation: Option<&RevocationRecord>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Activates grant `id`, which awaits an acknowledged account switch, in one transaction
    /// with the deletion of the grants it `replaces`, the `revocations` they still need and
    /// `audit`. `false` (nothing written) if it no longer awaits acknowledgement.
    async fn acknowledge_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
        replaces: &[GrantId],
        revocations: &[RevocationRecord],
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Cross-tenant by design (the keep-alive): up to `limit` active grants with a refresh
    /// token whose access token expires before `before`, soonest first.
    async fn expiring_grants(
        &self,
        before: UnixMillis,
        limit: u32,
    ) -> Result<Vec<(TenantId, GrantRecord)>, StoreError>;
    /// Holds grant `id` for a refresh (see [`GrantLock`]); `None` if it does not exist.
    async fn lock_grant(
        &self,
        tenant: TenantId,
        id: GrantId,
    ) -> Result<Option<Box<dyn GrantLock>>, StoreError>;
    /// The user's authorizations through a provider, summed up: `Pending` when one is open
    /// (not started or pending, not expired), else the newest one's status; `None` if none.
    async fn authorization_summary(
        &self,
        tenant: TenantId,
        user_id: &str,
        provider: ProviderRef,
        now: UnixMillis,
    ) -> Result<Option<AuthorizationStatus>, StoreError>;
}

/// Revocations owed to Discord (see [`crate::revocation`]).
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// The tenant's owed revocations, oldest first.
    async fn list_revocations(&self, tenant: TenantId)
    -> Result<Vec<RevocationRecord>, StoreError>;
    /// Cross-tenant by design (the background task): leases up to `limit` obligations due at
    /// `now` until `lease_until`, so that no other replica tries them meanwhile.
    async fn claim_revocations(
        &self,
        now: UnixMillis,
        lease_until: UnixMillis,
        limit: u32,
    ) -> Result<Vec<(TenantId, RevocationRecord)>, StoreError>;
    /// Removes a revocation Discord confirmed, with its audit event.
    async fn finish_revocation(
        &self,
        tenant: TenantId,
        id: &str,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Records a failed attempt and when to try again.
    async fn reschedule_revocation(
        &self,
        tenant: TenantId,
        id: &str,
        attempts: u32,
        next_attempt_at: UnixMillis,
        error: &str,
    ) -> Result<(), StoreError>;
}

/// Revocation of a grant's tokens at Discord (implemented over `latchkey-discord`).
#[async_trait]
pub trait DiscordRevoker: Send + Sync {
    /// Revokes `token` for the app `client_id` (Discord then revokes every token of that user
    /// for the app). `endpoint_origin` replaces discord.com when the provider has one. The
    /// error is a sentence without any secret in it.
    async fn revoke(
        &self,
        client_id: &str,
        client_secret: &secrecy::SecretString,
        endpoint_origin: Option<&str>,
        token: &secrecy::SecretString,
    ) -> Result<(), String>;
}

/// One provider's Discord application, as the OAuth port needs it.
pub struct DiscordAppRef<'a> {
    /// The application id.
    pub client_id: &'a str,
    /// Its client secret.
    pub client_secret: &'a secrecy::SecretString,
    /// The exact redirect URI registered at Discord (`<public url>/oauth/callback/<prv_…>`).
    pub redirect_uri: &'a str,
    /// Stands in for discord.com (the simulator, an egress proxy).
    pub endpoint_origin: Option<&'a str>,
}

/// Tokens from a code exchange.
pub struct ExchangedTokens {
    /// The access token.
    pub access_token: secrecy::SecretString,
    /// The refresh token, if any.
    pub refresh_token: Option<secrecy::SecretString>,
    /// When Latchkey treats the access token as expired.
    pub expires_at: UnixMillis,
    /// The scopes Discord granted.
    pub scopes: Vec<String>,
}

/// Why a Discord call failed, as the flows need to tell it apart.
#[derive(Debug)]
pub enum DiscordCallError {
    /// Discord refused the request (a spent or foreign code, a dead token): the user must
    /// start again.
    Refused(String),
    /// Discord was unreachable or failed.
    Unavailable(String),
}

impl std::fmt::Display for DiscordCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(m) | Self::Unavailable(m) => f.write_str(m),
        }
    }
}

/// What Discord answered a proxied request.
#[derive(Debug)]
pub enum ProxyOutcome {
    /// Discord's status and JSON body.
    Answer {
        /// The HTTP status.
        status: u16,
        /// The JSON body.
        body: Vec<u8>,
    },
    /// Discord rejected the token (401): it is not to be used again.
    TokenDead,
    /// Discord's rate limit: wait this long.
    RateLimited {
        /// Milliseconds to wait.
        retry_after_ms: u64,
    },
}

/// The OAuth2 steps of a flow against Discord (implemented over `latchkey-discord`). Errors
/// are sentences without any secret in them.
#[async_trait]
pub trait DiscordOAuth: Send + Sync {
    /// The authorize URL with exactly Latchkey's fixed parameters (`prompt=consent`, S256).
    fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        endpoint_origin: Option<&str>,
        scopes: &[String],
        state: &secrecy::SecretString,
        verifier: &secrecy::SecretString,
    ) -> Result<String, String>;
    /// Exchanges a code once (with its PKCE verifier).
    async fn exchange_code(
        &self,
        app: &DiscordAppRef<'_>,
        code: &secrecy::SecretString,
        verifier: &secrecy::SecretString,
    ) -> Result<ExchangedTokens, DiscordCallError>;
    /// `GET /users/@me`: the user's id and the object as Discord sent it.
    async fn current_user(
        &self,
        app: &DiscordAppRef<'_>,
        access: &secrecy::SecretString,
    ) -> Result<(String, serde_json::Value), DiscordCallError>;
    /// Refreshes a grant's tokens (Discord rotates the refresh token; the old pair dies).
    /// `Refused` when Discord rejects the refresh token (`invalid_grant`).
    async fn refresh(
        &self,
        app: &DiscordAppRef<'_>,
        refresh_token: &secrecy::SecretString,
    ) -> Result<ExchangedTokens, DiscordCallError>;
    /// A GET on Discord's REST API with the user's token, for the Discord proxy (`route` is
    /// the route template, for rate limits; `path` includes the query). Only the endpoint
    /// matters: a bearer-token call needs no client credentials.
    async fn proxy_get(
        &self,
        endpoint_origin: Option<&str>,
        access: &secrecy::SecretString,
        route: &'static str,
        path: &str,
    ) -> Result<ProxyOutcome, DiscordCallError>;
    /// Checks an application's client id and secret at Discord: a client-credentials grant for
    /// `identify`, whose token is revoked at once. `Refused` when Discord rejects them.
    async fn check_credentials(&self, app: &DiscordAppRef<'_>) -> Result<(), DiscordCallError>;
    /// The user's role ids in `guild`, or `None` when not a member.
    async fn member_roles(
        &self,
        app: &DiscordAppRef<'_>,
        access: &secrecy::SecretString,
        guild: &str,
    ) -> Result<Option<Vec<String>>, DiscordCallError>;
}

/// A tenant's settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The tenant's verification settings, if ever set.
    async fn verification_settings(
        &self,
        tenant: TenantId,
    ) -> Result<Option<VerificationSettings>, StoreError>;
    /// Stores the tenant's verification settings (insert or replace).
    async fn put_verification_settings(
        &self,
        tenant: TenantId,
        settings: &VerificationSettings,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
}

/// An authorization with its flow, as the browser routes find them by a capability.
pub type FoundFlow = (TenantId, AuthorizationRecord, FlowRecord);

/// Authorizations and their flows (specs/security.md §2.5). A flow moves only by conditional
/// updates on its phase: a `false` answer means another request moved it first. Look-ups by a
/// capability hash (start token, `state`) are cross-tenant by design — the browser carries no
/// key — and return the tenant they found.
#[async_trait]
pub trait AuthorizationStore: Send + Sync {
    /// Creates a verifier self-test.
    async fn insert_verifier_test(
        &self,
        tenant: TenantId,
        t: &crate::authorization::VerifierTest,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The tenant's verifier test whose `flow_id` hashes to `hash`.
    async fn verifier_test_by_flow_id(
        &self,
        tenant: TenantId,
        hash: &[u8],
    ) -> Result<Option<crate::authorization::VerifierTest>, StoreError>;
    /// One verifier test.
    async fn get_verifier_test(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
    ) -> Result<Option<crate::authorization::VerifierTest>, StoreError>;
    /// Decides a pending verifier test (`t` carries the new status and decision) with `audit`;
    /// `false` (nothing written) if it was decided already.
    async fn decide_verifier_test(
        &self,
        tenant: TenantId,
        t: &crate::authorization::VerifierTest,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// The tenant's most recently changed authorizations, newest first.
    async fn recent_authorizations(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<AuthorizationRecord>, StoreError>;
    /// Creates an authorization with its flow in `link_issued`.
    async fn insert_authorization(
        &self,
        tenant: TenantId,
        a: &AuthorizationRecord,
        f: &FlowRecord,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// One authorization with its flow.
    async fn get_authorization(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
    ) -> Result<Option<(AuthorizationRecord, FlowRecord)>, StoreError>;
    /// The user's pending authorizations through `provider` whose links no browser has used
    /// and that have not expired at `now`, newest first (for reuse).
    async fn reusable_authorizations(
        &self,
        tenant: TenantId,
        user_id: &str,
        provider: ProviderRef,
        now: UnixMillis,
    ) -> Result<Vec<(AuthorizationRecord, FlowRecord)>, StoreError>;
    /// Cross-tenant: the flow whose start token hashes to `hash`.
    async fn flow_by_start_token(&self, hash: &[u8]) -> Result<Option<FoundFlow>, StoreError>;
    /// Cross-tenant: the flow whose current `state` hashes to `hash`.
    async fn flow_by_state(&self, hash: &[u8]) -> Result<Option<FoundFlow>, StoreError>;
    /// The tenant's flow whose `flow_id` hashes to `hash`.
    async fn flow_by_flow_id(
        &self,
        tenant: TenantId,
        hash: &[u8],
    ) -> Result<Option<(AuthorizationRecord, FlowRecord)>, StoreError>;
    /// Moves a non-terminal flow from `from` (with `state_hash` still `expect_state`) to `to`'s
    /// phase and values; `false` if it was not there any more.
    async fn advance_flow(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
        from: Phase,
        expect_state: Option<&[u8]>,
        to: &FlowRecord,
    ) -> Result<bool, StoreError>;
    /// Ends a flow that is in `from`: its phase, the authorization's status, the grant it
    /// activates (replacing others), the revocations it owes and its audit events, in one
    /// transaction that announces the change; `false` if the flow was not in `from`.
    async fn finish_flow(
        &self,
        tenant: TenantId,
        id: AuthorizationId,
        from: Phase,
        finish: &Finish,
    ) -> Result<bool, StoreError>;
    /// Cross-tenant by design (the reaper): flows not ended whose lifetime is over at `now`,
    /// or that have sat in `exchanging` since before `stuck_before`.
    async fn due_flows(
        &self,
        now: UnixMillis,
        stuck_before: UnixMillis,
        limit: u32,
    ) -> Result<Vec<FoundFlow>, StoreError>;
    /// Cross-tenant by design (the reaper): deletes up to `limit` authorizations (with their
    /// flows) that ended before `before` and back no active grant; how many.
    async fn purge_authorizations(&self, before: UnixMillis, limit: u32)
    -> Result<u64, StoreError>;
    /// Records an event that goes with no other write (e.g. `link_reuse_attempt`).
    async fn record_audit(&self, tenant: TenantId, event: &AuditEvent) -> Result<(), StoreError>;
    /// Whether `provider` holds an active grant for Discord user `discord_user_id` (any of the
    /// tenant's users).
    async fn discord_user_connected(
        &self,
        tenant: TenantId,
        provider: ProviderRef,
        discord_user_id: &str,
    ) -> Result<bool, StoreError>;
}

/// Audit events (written by the audited operations themselves, in their transactions).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// The tenant's events matching `filter`, oldest first.
    async fn list_audit_events(
        &self,
        tenant: TenantId,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Per UTC day since `since`, how many of the tenant's events of each usage action there
    /// were (`authorization.start`, `authorization.completed`, `token.release`): `(day number
    /// since the epoch, action, count)`, by day.
    async fn daily_usage(
        &self,
        tenant: TenantId,
        since: UnixMillis,
    ) -> Result<Vec<(i64, String, i64)>, StoreError>;
    /// Records a batch of events (the audit pipeline's flush) in one transaction: all or none.
    /// Events of tenants deleted meanwhile are dropped with their tenant; recording an event
    /// that is already stored (a retried batch) is not an error.
    async fn record_audits(&self, events: &PackedAudits) -> Result<(), StoreError>;
}

/// Everything Latchkey stores, behind one handle.
#[async_trait]
pub trait Store:
    TenantStore
    + ApiKeyStore
    + TenantKeyStore
    + ProviderStore
    + ToolStore
    + GrantStore
    + RevocationStore
    + SettingsStore
    + AuditStore
    + AuthorizationStore
{
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The tenant's providers and tools together, shared: the look-up cache answers both
    /// with one look-up (the token hot path reads them on every release).
    async fn shared_catalog(
        &self,
        tenant: TenantId,
    ) -> Result<std::sync::Arc<crate::cache::Catalog>, StoreError> {
        Ok(std::sync::Arc::new(crate::cache::Catalog {
            providers: self.shared_providers(tenant).await?,
            tools: self.shared_tools(tenant).await?,
        }))
    }
}
