//! Authorizations and their flows: what an app polls while its user consents, and the
//! browser-side state machine behind it (specs/security.md §2.5). The records, the phases, the
//! one-time capabilities (start token, binding, `state`, `flow_id`: random 256-bit values kept
//! only as SHA-256 hashes) and the sealed parts of a flow (PKCE verifier, quarantined tokens).
//! The use cases live in `latchkey-authorization`; the store moves a flow only by conditional
//! updates ([`crate::ports::AuthorizationStore`]).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::crypto::{Aad, CryptoError, Vault};
use crate::error::CoreError;
use crate::grant::GrantRecord;
use crate::revocation::RevocationRecord;
use crate::time::UnixMillis;
use crate::{AuthorizationId, GrantId, ProviderRef, TenantId};

/// How long a flow lives from `authorize` (security.md V7; arcade-compat §6.5).
pub const FLOW_LIFETIME: Duration = Duration::from_secs(600);

/// How long a flow may sit in `exchanging` (a process died between Discord's callback and
/// storing the tokens) before the reaper fails it.
pub const EXCHANGE_BUDGET: Duration = Duration::from_secs(120);

/// An authorization's status (specs/arcade-compat.md §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizationStatus {
    /// Created, link not opened.
    NotStarted,
    /// The user is somewhere between the start page and the verifier.
    Pending,
    /// A grant was made.
    Completed,
    /// Ended without a grant.
    Failed,
}

impl AuthorizationStatus {
    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotStarted => "not_started",
            Self::Pending => "pending",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "not_started" => Some(Self::NotStarted),
            "pending" => Some(Self::Pending),
            "completed" => Some(Self::Completed),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Where a flow is (security.md §2.5). Every move is one conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Created; the start link may be opened any number of times.
    LinkIssued,
    /// A browser clicked through and is bound; Discord's callback is awaited.
    AwaitingCallback,
    /// The callback arrived; the code is being exchanged.
    Exchanging,
    /// Tokens quarantined, `flow_id` sent to the verifier; `confirm_user` is awaited.
    AwaitingVerification,
    /// The grant is active.
    Completed,
    /// Ended without a grant.
    Failed,
    /// The flow's lifetime ended first.
    Expired,
}

impl Phase {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinkIssued => "link_issued",
            Self::AwaitingCallback => "awaiting_callback",
            Self::Exchanging => "exchanging",
            Self::AwaitingVerification => "awaiting_verification",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "link_issued" => Self::LinkIssued,
            "awaiting_callback" => Self::AwaitingCallback,
            "exchanging" => Self::Exchanging,
            "awaiting_verification" => Self::AwaitingVerification,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }

    /// Whether the flow has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Expired)
    }

    /// What the app sees.
    pub fn status(self) -> AuthorizationStatus {
        match self {
            Self::LinkIssued
            | Self::AwaitingCallback
            | Self::Exchanging
            | Self::AwaitingVerification => AuthorizationStatus::Pending,
            Self::Completed => AuthorizationStatus::Completed,
            Self::Failed | Self::Expired => AuthorizationStatus::Failed,
        }
    }
}

/// An authorization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRecord {
    /// `auth_…`.
    pub id: AuthorizationId,
    /// The tenant's user (byte-exact).
    pub user_id: String,
    /// The resolved provider instance.
    pub provider: ProviderRef,
    /// The scope set asked for at Discord (sorted, `identify` included).
    pub scopes: Vec<String>,
    /// Where the verifier sends the user afterwards (allow-listed when accepted).
    pub next_uri: Option<String>,
    /// What the app sees.
    pub status: AuthorizationStatus,
    /// Why it failed (audit vocabulary, never a secret; not on the wire).
    pub failure_reason: Option<String>,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
    /// When its flow expires.
    pub expires_at: UnixMillis,
}

/// A flow as stored: capabilities as SHA-256 hashes, secrets sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Where it is.
    pub phase: Phase,
    /// Hash of the start token (the start link's last segment).
    pub start_token_hash: Vec<u8>,
    /// Sealed copy of the start token (a reused authorization answers with the same link).
    pub start_token: Vec<u8>,
    /// Hash of the bound browser's cookie value.
    pub binding_hash: Option<Vec<u8>>,
    /// Hash of the `state` of the latest redirect to Discord.
    pub state_hash: Option<Vec<u8>>,
    /// Sealed PKCE verifier of that redirect.
    pub pkce_verifier: Option<Vec<u8>>,
    /// Hash of the `flow_id` sent to the verifier.
    pub flow_id_hash: Option<Vec<u8>>,
    /// Sealed [`Quarantine`] while verification is awaited.
    pub quarantined: Option<Vec<u8>>,
    /// The Discord user who consented (known from the callback on).
    pub discord_user_id: Option<String>,
    /// `confirm_user`'s recorded answer: `completed` or `user_mismatch`.
    pub decision: Option<String>,
    /// Hash of the user id that `confirm_user` decided on.
    pub decided_user_hash: Option<Vec<u8>>,
    /// When it last changed.
    pub updated_at: UnixMillis,
}

/// How a flow ends, written in one transaction with a conditional update on its phase.
#[derive(Debug)]
pub struct Finish {
    /// The final phase (`Completed`, `Failed` or `Expired`).
    pub phase: Phase,
    /// Why, when it did not complete.
    pub failure_reason: Option<String>,
    /// The grant that becomes active, replacing every other grant of the same user through
    /// the same provider.
    pub grant: Option<GrantRecord>,
    /// Grants the new one replaces (deleted in the same transaction).
    pub replaces: Vec<GrantId>,
    /// Revocations at Discord the ending owes (quarantined tokens, a switched account's old
    /// grant).
    pub revocations: Vec<RevocationRecord>,
    /// `confirm_user`'s decision and the hash of the user id it was given.
    pub decision: Option<(String, Vec<u8>)>,
    /// Audit events recorded with it.
    pub audit: Vec<AuditEvent>,
}

/// What [`open`] needs to reuse or create a pending authorization.
pub struct Opening<'a> {
    /// The tenant.
    pub tenant: TenantId,
    /// Who asks (audited as `authorization.start`).
    pub actor: &'a crate::audit::Actor,
    /// The user (validated).
    pub user_id: &'a str,
    /// The resolved provider.
    pub provider: &'a crate::provider::ProviderRecord,
    /// The scope set asked for (see [`scope_set`]).
    pub wanted: Vec<String>,
    /// The user's current grant through the provider, whose scopes are asked for too
    /// (incremental authorization).
    pub existing: Option<&'a crate::grant::GrantRecord>,
    /// Where the verifier sends the user afterwards (already allow-listed).
    pub next_uri: Option<String>,
    /// The flow's lifetime.
    pub lifetime: Duration,
    /// The tenant's settings, and whether the operator allows skipping verification.
    pub settings: &'a crate::settings::VerificationSettings,
    /// See `settings`.
    pub skip_allowed: bool,
}

/// Whether a tenant may start flows: a verifier URL, or skipping allowed by the operator
/// (security.md V1).
pub fn verification_ready(s: &crate::settings::VerificationSettings, skip_allowed: bool) -> bool {
    s.verifier_url.is_some() || (s.unsafe_skip_verification && skip_allowed)
}

/// Reuses the user's unused pending authorization with the same provider and `next_uri` whose
/// scopes cover the request, or creates one (arcade-compat §6.6): the authorization and its
/// start token. Refused (creating nothing) with `VerificationNotConfigured` when the tenant has
/// neither a verifier nor allowed skipping.
pub async fn open(
    store: &dyn crate::ports::Store,
    vault: &Vault,
    o: Opening<'_>,
) -> Result<(AuthorizationRecord, SecretString), CoreError> {
    if !verification_ready(o.settings, o.skip_allowed) {
        return Err(CoreError::VerificationNotConfigured(
            if o.settings.unsafe_skip_verification {
                "this deployment does not allow unsafe_skip_verification: set a verifier_url with PUT /v1/admin/settings/session_verification"
            } else {
                "no user verifier is configured: set verifier_url with PUT /v1/admin/settings/session_verification (recommended), or for development only unsafe_skip_verification: true"
            },
        ));
    }
    let tenant = o.tenant;
    let mut scopes = o.wanted.clone();
    if let Some(g) = o.existing {
        scopes.extend(g.scopes.iter().cloned());
        scopes.sort();
        scopes.dedup();
    }
    let now = UnixMillis::now();
    for (a, f) in store
        .reusable_authorizations(tenant, o.user_id, o.provider.id, now)
        .await?
    {
        if a.next_uri == o.next_uri && o.wanted.iter().all(|s| a.scopes.contains(s)) {
            let token = open_secret(vault, tenant, a.id, "start_token", &f.start_token).await?;
            return Ok((a, token));
        }
    }
    let id = AuthorizationId::generate();
    let token = new_capability();
    let lifetime = i64::try_from(o.lifetime.as_millis()).unwrap_or(i64::MAX);
    let a = AuthorizationRecord {
        id,
        user_id: o.user_id.to_owned(),
        provider: o.provider.id,
        scopes,
        next_uri: o.next_uri,
        status: AuthorizationStatus::Pending,
        failure_reason: None,
        created_at: now,
        updated_at: now,
        expires_at: UnixMillis(now.0.saturating_add(lifetime)),
    };
    let f = FlowRecord {
        phase: Phase::LinkIssued,
        start_token_hash: capability_hash(token.expose_secret()),
        start_token: seal_secret(vault, tenant, id, "start_token", &token).await?,
        binding_hash: None,
        state_hash: None,
        pkce_verifier: None,
        flow_id_hash: None,
        quarantined: None,
        discord_user_id: None,
        decision: None,
        decided_user_hash: None,
        updated_at: now,
    };
    let audit = AuditEvent::success(o.actor, "authorization.start", id.to_string());
    store.insert_authorization(tenant, &a, &f, &audit).await?;
    Ok((a, token))
}

/// A new one-time capability: 256 random bits, URL-safe (43 characters).
pub fn new_capability() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// What a capability is stored and looked up as.
pub fn capability_hash(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// Whether `value` could be a capability Latchkey minted (looks are checked before hashing,
/// so junk never reaches a query).
pub fn is_capability_shaped(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn aad<'a>(row: &'a str, column: &'static str) -> Aad<'a> {
    Aad {
        table: "flows",
        row,
        column,
    }
}

/// Seals a flow secret (`start_token`, `pkce_verifier`) for authorization `id`.
pub async fn seal_secret(
    vault: &Vault,
    tenant: TenantId,
    id: AuthorizationId,
    column: &'static str,
    secret: &SecretString,
) -> Result<Vec<u8>, CoreError> {
    Ok(vault
        .seal(
            tenant,
            aad(&id.to_string(), column),
            secret.expose_secret().as_bytes(),
        )
        .await?)
}

/// Opens what [`seal_secret`] sealed.
pub async fn open_secret(
    vault: &Vault,
    tenant: TenantId,
    id: AuthorizationId,
    column: &'static str,
    sealed: &[u8],
) -> Result<SecretString, CoreError> {
    let plain = vault
        .open(tenant, aad(&id.to_string(), column), sealed)
        .await?;
    let s = std::str::from_utf8(&plain).map_err(|_| CryptoError::Malformed)?;
    Ok(SecretString::from(s))
}

/// Tokens held after the code exchange until the tenant's verifier confirms the user
/// (security.md V6): sealed in the flow row, read by nothing that releases tokens.
pub struct Quarantine {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token, if Discord gave one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: UnixMillis,
    /// The scopes Discord granted.
    pub scopes: Vec<String>,
    /// Discord's `/users/@me` object, unchanged.
    pub user_info: serde_json::Value,
    /// The Discord user's id.
    pub discord_user_id: String,
}

#[derive(Serialize, Deserialize)]
struct QuarantineWire {
    access_token: String,
    refresh_token: Option<String>,
    expires_at: i64,
    scopes: Vec<String>,
    user_info: serde_json::Value,
    discord_user_id: String,
}

impl Quarantine {
    /// Seals the tokens for authorization `id`.
    pub async fn seal(
        &self,
        vault: &Vault,
        tenant: TenantId,
        id: AuthorizationId,
    ) -> Result<Vec<u8>, CoreError> {
        let wire = zeroize::Zeroizing::new(
            serde_json::to_vec(&QuarantineWire {
                access_token: self.access_token.expose_secret().to_owned(),
                refresh_token: self
                    .refresh_token
                    .as_ref()
                    .map(|r| r.expose_secret().to_owned()),
                expires_at: self.expires_at.0,
                scopes: self.scopes.clone(),
                user_info: self.user_info.clone(),
                discord_user_id: self.discord_user_id.clone(),
            })
            .map_err(|_| CryptoError::Malformed)?,
        );
        Ok(vault
            .seal(tenant, aad(&id.to_string(), "quarantined_tokens"), &wire)
            .await?)
    }

    /// Opens sealed tokens.
    pub async fn open(
        vault: &Vault,
        tenant: TenantId,
        id: AuthorizationId,
        sealed: &[u8],
    ) -> Result<Self, CoreError> {
        let plain = zeroize::Zeroizing::new(
            vault
                .open(tenant, aad(&id.to_string(), "quarantined_tokens"), sealed)
                .await?,
        );
        let w: QuarantineWire =
            serde_json::from_slice(&plain).map_err(|_| CryptoError::Malformed)?;
        Ok(Self {
            access_token: SecretString::from(w.access_token),
            refresh_token: w.refresh_token.map(SecretString::from),
            expires_at: UnixMillis(w.expires_at),
            scopes: w.scopes,
            user_info: w.user_info,
            discord_user_id: w.discord_user_id,
        })
    }

    /// The token that revokes the whole authorization at Discord.
    pub fn revocation_token(&self) -> &SecretString {
        self.refresh_token.as_ref().unwrap_or(&self.access_token)
    }
}

/// The scope set of a request (arcade-compat §6.6): the requested scopes (or the provider's
/// defaults when none) ∪ `identify` ∪ `extra`, sorted, without duplicates.
pub fn scope_set(requested: &[String], defaults: &[String], extra: &[String]) -> Vec<String> {
    let base = if requested.is_empty() {
        defaults
    } else {
        requested
    };
    let mut all: Vec<String> = base
        .iter()
        .chain(extra)
        .cloned()
        .chain(std::iter::once("identify".to_owned()))
        .collect();
    all.sort();
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_256_bit_url_safe_and_distinct() {
        let a = new_capability();
        let b = new_capability();
        assert!(is_capability_shaped(a.expose_secret()));
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(capability_hash(a.expose_secret()).len(), 32);
        assert!(!is_capability_shaped("auth_0190"));
        assert!(!is_capability_shaped(&"a".repeat(44)));
    }

    #[test]
    fn scope_sets_are_sorted_deduplicated_and_hold_identify() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            scope_set(
                &s(&["guilds", "email", "guilds"]),
                &s(&["connections"]),
                &[]
            ),
            s(&["email", "guilds", "identify"])
        );
        assert_eq!(
            scope_set(&[], &s(&["connections"]), &s(&["guilds"])),
            s(&["connections", "guilds", "identify"])
        );
    }

    #[test]
    fn phases_round_trip_and_map_to_statuses() {
        for p in [
            Phase::LinkIssued,
            Phase::AwaitingCallback,
            Phase::Exchanging,
            Phase::AwaitingVerification,
            Phase::Completed,
            Phase::Failed,
            Phase::Expired,
        ] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
            assert_eq!(p.is_terminal(), p.status() != AuthorizationStatus::Pending);
        }
    }
}

/// A verifier self-test (security.md V15; arcade-compat §8.4): a test-only flow bound to a user
/// id, with no Discord step and no tokens, decided by `confirm_user` like a real flow. Only the
/// hash of its `flow_id` is stored; it can never become a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierTest {
    /// The test authorization's id (`auth_…`).
    pub id: AuthorizationId,
    /// The user the verifier must confirm.
    pub user_id: String,
    /// The verifier URL under test.
    pub verifier_url: String,
    /// The hash of the test's `flow_id`.
    pub flow_id_hash: Vec<u8>,
    /// `pending`, then `completed` (the verifier confirmed the user) or `failed` (it named
    /// another).
    pub status: AuthorizationStatus,
    /// The recorded answer (`completed` or `user_mismatch`), for identical retries.
    pub decision: Option<String>,
    /// The hash of the user id the decision was made for.
    pub decided_user_hash: Option<Vec<u8>>,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When its `flow_id` stops working.
    pub expires_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}
