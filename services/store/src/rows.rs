//! Row types, decoded by `sqlx::FromRow` on both backends, and their conversion into domain
//! types. A row that does not decode is reported as corrupt, never guessed at.

use latchkey_core::apikey::{KeyHash, KeyRole};
use latchkey_core::audit::AuditEvent;
use latchkey_core::crypto::{MasterKeyId, WrappedKey};
use latchkey_core::grant::{GrantRecord, GrantStatus};
use latchkey_core::ports::{ApiKeyRecord, AuthKeyRecord, TenantKeyRecord};
use latchkey_core::provider::{
    DiscordClientId, ProviderPolicy, ProviderRecord, ProviderSlug, ProviderStatus,
};
use latchkey_core::revocation::RevocationRecord;
use latchkey_core::settings::VerificationSettings;
use latchkey_core::tenant::{Tenant, TenantName};
use latchkey_core::time::UnixMillis;
use latchkey_core::tool::{ToolName, ToolRecord, ToolRequirement, ToolVersion};
use latchkey_core::{
    ApiKeyId, AuthorizationId, GrantId, ProviderRef, StoreError, TenantId, ToolId,
};

fn corrupt(table: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.into(),
    }
}

pub(crate) fn tenant_id(table: &'static str, s: &str) -> Result<TenantId, StoreError> {
    TenantId::parse(s).map_err(|e| corrupt(table, e.to_string()))
}

pub(crate) fn key_id(table: &'static str, s: &str) -> Result<ApiKeyId, StoreError> {
    ApiKeyId::parse(s).map_err(|e| corrupt(table, e.to_string()))
}

fn role(table: &'static str, s: &str) -> Result<KeyRole, StoreError> {
    KeyRole::parse(s).ok_or_else(|| corrupt(table, "unknown role"))
}

fn key_hash(table: &'static str, pepper_id: String, mac: &[u8]) -> Result<KeyHash, StoreError> {
    let mac: [u8; 32] = mac
        .try_into()
        .map_err(|_| corrupt(table, "key hash is not 32 bytes"))?;
    Ok(KeyHash { pepper_id, mac })
}

pub(crate) fn version(v: u32) -> i64 {
    i64::from(v)
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantRow {
    id: String,
    name: String,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            id: tenant_id("tenants", &r.id)?,
            name: TenantName::parse(&r.name).map_err(|e| corrupt("tenants", e.to_string()))?,
            created_at: UnixMillis(r.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TenantKeyRow {
    pub(crate) tenant_id: String,
    version: i64,
    master_key_id: String,
    wrapped_key: Vec<u8>,
    created_at: i64,
}

impl TryFrom<TenantKeyRow> for TenantKeyRecord {
    type Error = StoreError;
    fn try_from(r: TenantKeyRow) -> Result<Self, StoreError> {
        Ok(TenantKeyRecord {
            version: u32::try_from(r.version)
                .map_err(|_| corrupt("tenant_keys", "version out of range"))?,
            wrapped: WrappedKey {
                master_key_id: MasterKeyId(r.master_key_id),
                bytes: r.wrapped_key,
            },
            created_at: UnixMillis(r.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    role: String,
    tool_id: Option<String>,
    name: String,
    pepper_id: String,
    key_hash: Vec<u8>,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<ApiKeyRow> for ApiKeyRecord {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> Result<Self, StoreError> {
        Ok(ApiKeyRecord {
            id: key_id("api_keys", &r.id)?,
            role: role("api_keys", &r.role)?,
            tool_id: r.tool_id,
            name: r.name,
            hash: key_hash("api_keys", r.pepper_id, &r.key_hash)?,
            created_at: UnixMillis(r.created_at),
            last_used_at: r.last_used_at.map(UnixMillis),
            revoked_at: r.revoked_at.map(UnixMillis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuthKeyRow {
    id: String,
    tenant_id: Option<String>,
    role: String,
    tool_id: Option<String>,
    pepper_id: String,
    key_hash: Vec<u8>,
    revoked_at: Option<i64>,
}

impl TryFrom<AuthKeyRow> for AuthKeyRecord {
    type Error = StoreError;
    fn try_from(r: AuthKeyRow) -> Result<Self, StoreError> {
        Ok(AuthKeyRecord {
            id: key_id("api_keys", &r.id)?,
            tenant: r
                .tenant_id
                .as_deref()
                .map(|t| tenant_id("api_keys", t))
                .transpose()?,
            role: role("api_keys", &r.role)?,
            tool_id: r.tool_id,
            hash: key_hash("api_keys", r.pepper_id, &r.key_hash)?,
            revoked_at: r.revoked_at.map(UnixMillis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProviderRow {
    id: String,
    #[sqlx(rename = "ref")]
    reference: String,
    description: Option<String>,
    external_id: Option<String>,
    status: String,
    client_id: String,
    client_secret: Vec<u8>,
    scopes: String,
    policy: Option<String>,
    endpoint_origin: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ProviderRow> for ProviderRecord {
    type Error = StoreError;
    fn try_from(r: ProviderRow) -> Result<Self, StoreError> {
        let bad = |e: latchkey_core::CoreError| corrupt("providers", e.to_string());
        Ok(ProviderRecord {
            id: ProviderRef::parse(&r.reference)
                .map_err(|e| corrupt("providers", e.to_string()))?,
            slug: ProviderSlug::parse(&r.id).map_err(bad)?,
            description: r.description,
            external_id: r.external_id,
            status: ProviderStatus::parse(&r.status).map_err(bad)?,
            client_id: DiscordClientId::parse(&r.client_id).map_err(bad)?,
            client_secret: r.client_secret,
            scopes: scope_list(&r.scopes),
            policy: r
                .policy
                .map(|p| serde_json::from_str::<ProviderPolicy>(&p))
                .transpose()
                .map_err(|_| corrupt("providers", "policy is not valid JSON"))?,
            endpoint_origin: r.endpoint_origin,
            created_at: UnixMillis(r.created_at),
            updated_at: UnixMillis(r.updated_at),
        })
    }
}

/// A provider's policy as stored (JSON text).
pub(crate) fn policy_json(p: &ProviderRecord) -> Option<String> {
    p.policy
        .as_ref()
        .and_then(|p| serde_json::to_string(p).ok())
}

#[derive(sqlx::FromRow)]
pub(crate) struct SettingsRow {
    verifier_url: Option<String>,
    unsafe_skip_verification: bool,
    allowed_next_uri_origins: String,
    account_switch: String,
    updated_at: i64,
}

impl TryFrom<SettingsRow> for VerificationSettings {
    type Error = StoreError;
    fn try_from(r: SettingsRow) -> Result<Self, StoreError> {
        Ok(VerificationSettings {
            verifier_url: r.verifier_url,
            unsafe_skip_verification: r.unsafe_skip_verification,
            allowed_next_uri_origins: serde_json::from_str(&r.allowed_next_uri_origins).map_err(
                |_| {
                    corrupt(
                        "tenant_settings",
                        "allowed_next_uri_origins is not a JSON list",
                    )
                },
            )?,
            account_switch: latchkey_core::settings::AccountSwitch::parse(&r.account_switch)
                .ok_or_else(|| corrupt("tenant_settings", "unknown account_switch"))?,
            updated_at: UnixMillis(r.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    id: String,
    at: i64,
    actor: String,
    action: String,
    target: Option<String>,
    outcome: String,
    request_id: Option<String>,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            at: UnixMillis(r.at),
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            request_id: r.request_id,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ToolRow {
    id: String,
    name: String,
    version: String,
    description: Option<String>,
    provider_instance: Option<String>,
    scopes: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ToolRow> for ToolRecord {
    type Error = StoreError;
    fn try_from(r: ToolRow) -> Result<Self, StoreError> {
        let bad = |e: latchkey_core::CoreError| corrupt("tools", e.to_string());
        Ok(ToolRecord {
            id: ToolId::parse(&r.id).map_err(|e| corrupt("tools", e.to_string()))?,
            name: ToolName::parse(&r.name).map_err(bad)?,
            version: ToolVersion::parse(&r.version).map_err(bad)?,
            description: r.description,
            requirement: ToolRequirement {
                instance: r
                    .provider_instance
                    .as_deref()
                    .map(ProviderSlug::parse)
                    .transpose()
                    .map_err(bad)?,
                scopes: scope_list(&r.scopes),
            },
            created_at: UnixMillis(r.created_at),
            updated_at: UnixMillis(r.updated_at),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GrantRow {
    id: String,
    user_id: String,
    provider_ref: String,
    discord_user_id: String,
    user_info: Vec<u8>,
    scopes: String,
    access_token: Vec<u8>,
    refresh_token: Option<Vec<u8>>,
    expires_at: i64,
    generation: i64,
    status: String,
    created_at: i64,
    updated_at: i64,
    authorization_id: Option<String>,
    cooldown_until: Option<i64>,
}

impl TryFrom<GrantRow> for GrantRecord {
    type Error = StoreError;
    fn try_from(r: GrantRow) -> Result<Self, StoreError> {
        Ok(GrantRecord {
            id: GrantId::parse(&r.id).map_err(|e| corrupt("grants", e.to_string()))?,
            user_id: r.user_id,
            provider: ProviderRef::parse(&r.provider_ref)
                .map_err(|e| corrupt("grants", e.to_string()))?,
            discord_user_id: r.discord_user_id,
            user_info: r.user_info,
            scopes: scope_list(&r.scopes),
            access_token: r.access_token,
            refresh_token: r.refresh_token,
            expires_at: UnixMillis(r.expires_at),
            generation: r.generation,
            status: GrantStatus::parse(&r.status)
                .ok_or_else(|| corrupt("grants", "unknown status"))?,
            created_at: UnixMillis(r.created_at),
            updated_at: UnixMillis(r.updated_at),
            authorization: r
                .authorization_id
                .map(|a| AuthorizationId::parse(&a).map_err(|e| corrupt("grants", e.to_string())))
                .transpose()?,
            cooldown_until: r.cooldown_until.map(UnixMillis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct RevocationRow {
    tenant_id: String,
    id: String,
    grant_id: String,
    client_id: String,
    client_secret: Vec<u8>,
    endpoint_origin: Option<String>,
    token: Vec<u8>,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
}

impl RevocationRow {
    pub(crate) fn into_record(self) -> Result<(TenantId, RevocationRecord), StoreError> {
        Ok((
            tenant_id("pending_revocations", &self.tenant_id)?,
            RevocationRecord {
                id: self.id,
                grant_id: self.grant_id,
                client_id: self.client_id,
                client_secret: self.client_secret,
                endpoint_origin: self.endpoint_origin,
                token: self.token,
                attempts: u32::try_from(self.attempts)
                    .map_err(|_| corrupt("pending_revocations", "attempts out of range"))?,
                next_attempt_at: UnixMillis(self.next_attempt_at),
                last_error: self.last_error,
                created_at: UnixMillis(self.created_at),
            },
        ))
    }
}

/// A space-separated scope column as a list.
pub(crate) fn scope_list(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Converts a list of rows, failing on the first corrupt one.
pub(crate) fn all<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// An authorization joined with its flow (and the tenant, for the cross-tenant look-ups).
#[derive(sqlx::FromRow)]
pub(crate) struct FlowRow {
    tenant_id: String,
    id: String,
    user_id: String,
    provider_ref: String,
    requested_scopes: String,
    next_uri: Option<String>,
    status: String,
    failure_reason: Option<String>,
    created_at: i64,
    updated_at: i64,
    expires_at: i64,
    phase: String,
    start_token_hash: Vec<u8>,
    start_token: Option<Vec<u8>>,
    browser_binding_hash: Option<Vec<u8>>,
    state_hash: Option<Vec<u8>>,
    pkce_verifier: Option<Vec<u8>>,
    flow_id_hash: Option<Vec<u8>>,
    quarantined_tokens: Option<Vec<u8>>,
    discord_user_id: Option<String>,
    decision: Option<String>,
    decided_user_hash: Option<Vec<u8>>,
    flow_updated_at: i64,
}

impl FlowRow {
    pub(crate) fn into_records(
        self,
    ) -> Result<
        (
            TenantId,
            latchkey_core::authorization::AuthorizationRecord,
            latchkey_core::authorization::FlowRecord,
        ),
        StoreError,
    > {
        use latchkey_core::authorization::{
            AuthorizationRecord, AuthorizationStatus, FlowRecord, Phase,
        };
        const T: &str = "authorizations";
        let a = AuthorizationRecord {
            id: AuthorizationId::parse(&self.id).map_err(|e| corrupt(T, e.to_string()))?,
            user_id: self.user_id,
            provider: ProviderRef::parse(&self.provider_ref)
                .map_err(|e| corrupt(T, e.to_string()))?,
            scopes: scope_list(&self.requested_scopes),
            next_uri: self.next_uri,
            status: AuthorizationStatus::parse(&self.status)
                .ok_or_else(|| corrupt(T, "unknown status"))?,
            failure_reason: self.failure_reason,
            created_at: UnixMillis(self.created_at),
            updated_at: UnixMillis(self.updated_at),
            expires_at: UnixMillis(self.expires_at),
        };
        let f = FlowRecord {
            phase: Phase::parse(&self.phase).ok_or_else(|| corrupt("flows", "unknown phase"))?,
            start_token_hash: self.start_token_hash,
            start_token: self.start_token.unwrap_or_default(),
            binding_hash: self.browser_binding_hash,
            state_hash: self.state_hash,
            pkce_verifier: self.pkce_verifier,
            flow_id_hash: self.flow_id_hash,
            quarantined: self.quarantined_tokens,
            discord_user_id: self.discord_user_id,
            decision: self.decision,
            decided_user_hash: self.decided_user_hash,
            updated_at: UnixMillis(self.flow_updated_at),
        };
        Ok((tenant_id(T, &self.tenant_id)?, a, f))
    }
}
