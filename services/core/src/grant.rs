//! Grants (a user's *connection*): one end user's Discord authorization through one provider,
//! with its tokens and the Discord user it belongs to. Tokens and the Discord user object are
//! sealed with the tenant's data key (AAD binds table, row and column); this module seals and
//! opens them, and nothing else in Latchkey sees them in plaintext.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;

use crate::crypto::{Aad, CryptoError, Vault};
use crate::error::CoreError;
use crate::time::UnixMillis;
use crate::{GrantId, ProviderRef, TenantId};

/// A grant's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantStatus {
    /// Tokens are served.
    Active,
    /// Discord refused the refresh token, or the provider's client id changed: the user must
    /// authorize again.
    ReauthRequired,
    /// Revoked; kept only until deleted.
    Revoked,
    /// A re-authorization yielded another Discord account and the tenant requires an admin to
    /// acknowledge the switch: nothing is served from it until then, and the user's previous
    /// grant stays active.
    AwaitingAck,
}

impl GrantStatus {
    /// The stored and wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReauthRequired => "reauth_required",
            Self::Revoked => "revoked",
            Self::AwaitingAck => "awaiting_ack",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "reauth_required" => Some(Self::ReauthRequired),
            "revoked" => Some(Self::Revoked),
            "awaiting_ack" => Some(Self::AwaitingAck),
            _ => None,
        }
    }
}

/// A grant as stored: secrets sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// `grt_…`.
    pub id: GrantId,
    /// The tenant's user id (opaque, byte-exact).
    pub user_id: String,
    /// The provider instance the grant was made through.
    pub provider: ProviderRef,
    /// The Discord user's snowflake.
    pub discord_user_id: String,
    /// Sealed JSON of Discord's `/users/@me` object.
    pub user_info: Vec<u8>,
    /// The scopes Discord granted.
    pub scopes: Vec<String>,
    /// Sealed access token.
    pub access_token: Vec<u8>,
    /// Sealed refresh token, if Discord gave one.
    pub refresh_token: Option<Vec<u8>>,
    /// When the access token expires.
    pub expires_at: UnixMillis,
    /// Bumped by every token write (refresh exclusion).
    pub generation: i64,
    /// The grant's state.
    pub status: GrantStatus,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
    /// The authorization that made it (or last upgraded it), if any.
    pub authorization: Option<crate::AuthorizationId>,
    /// After failed refreshes, no refresh is tried before this.
    pub cooldown_until: Option<UnixMillis>,
}

/// The plaintext parts of a new grant (before sealing).
pub struct GrantSecrets {
    /// Discord's `/users/@me` object.
    pub user_info: serde_json::Value,
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token.
    pub refresh_token: Option<SecretString>,
}

fn aad<'a>(row: &'a str, column: &'static str) -> Aad<'a> {
    Aad {
        table: "grants",
        row,
        column,
    }
}

/// Seals a new grant's secrets for row `id`: `(user_info, access_token, refresh_token)`.
pub async fn seal(
    vault: &Vault,
    tenant: TenantId,
    id: GrantId,
    secrets: &GrantSecrets,
) -> Result<(Vec<u8>, Vec<u8>, Option<Vec<u8>>), CoreError> {
    let row = id.to_string();
    let info = serde_json::to_vec(&secrets.user_info).map_err(|_| CryptoError::Malformed)?;
    let user_info = vault.seal(tenant, aad(&row, "user_info"), &info).await?;
    let (access, refresh) = seal_tokens(
        vault,
        tenant,
        id,
        &secrets.access_token,
        secrets.refresh_token.as_ref(),
    )
    .await?;
    Ok((user_info, access, refresh))
}

/// Seals a grant's tokens for row `id`: `(access_token, refresh_token)`.
pub async fn seal_tokens(
    vault: &Vault,
    tenant: TenantId,
    id: GrantId,
    access: &SecretString,
    refresh: Option<&SecretString>,
) -> Result<(Vec<u8>, Option<Vec<u8>>), CoreError> {
    let row = id.to_string();
    let access = vault
        .seal(
            tenant,
            aad(&row, "access_token"),
            access.expose_secret().as_bytes(),
        )
        .await?;
    let refresh = match refresh {
        Some(r) => Some(
            vault
                .seal(
                    tenant,
                    aad(&row, "refresh_token"),
                    r.expose_secret().as_bytes(),
                )
                .await?,
        ),
        None => None,
    };
    Ok((access, refresh))
}

/// Opens the refresh token, if the grant has one.
pub async fn refresh_token(
    vault: &Vault,
    tenant: TenantId,
    g: &GrantRecord,
) -> Result<Option<SecretString>, CoreError> {
    match &g.refresh_token {
        Some(r) => Ok(Some(
            open_text(vault, tenant, &g.id.to_string(), "refresh_token", r).await?,
        )),
        None => Ok(None),
    }
}

async fn open_text(
    vault: &Vault,
    tenant: TenantId,
    row: &str,
    column: &'static str,
    sealed: &[u8],
) -> Result<SecretString, CoreError> {
    let plain = vault.open(tenant, aad(row, column), sealed).await?;
    let s = std::str::from_utf8(&plain).map_err(|_| CryptoError::Malformed)?;
    Ok(SecretString::from(s))
}

/// Opens the stored Discord user object.
pub async fn user_info(
    vault: &Vault,
    tenant: TenantId,
    g: &GrantRecord,
) -> Result<serde_json::Value, CoreError> {
    open_user_info(vault, tenant, g).await
}

/// The stored Discord user object as its JSON text (checked to be JSON), for answers that
/// carry it as it is: a warm token serves it without parsing or re-serializing it.
pub async fn user_info_json(
    vault: &Vault,
    tenant: TenantId,
    g: &GrantRecord,
) -> Result<Arc<RawValue>, CoreError> {
    let raw: Box<RawValue> = open_user_info(vault, tenant, g).await?;
    Ok(Arc::from(raw))
}

/// The stored Discord user object, opened and read as `T`.
async fn open_user_info<T: serde::de::DeserializeOwned>(
    vault: &Vault,
    tenant: TenantId,
    g: &GrantRecord,
) -> Result<T, CoreError> {
    let plain = vault
        .open(tenant, aad(&g.id.to_string(), "user_info"), &g.user_info)
        .await?;
    Ok(serde_json::from_slice(&plain).map_err(|_| CryptoError::Malformed)?)
}

/// The token that revokes the whole grant at Discord: the refresh token when there is one
/// (Discord then revokes every token of that user for the app), else the access token.
pub async fn revocation_token(
    vault: &Vault,
    tenant: TenantId,
    g: &GrantRecord,
) -> Result<SecretString, CoreError> {
    let row = g.id.to_string();
    match &g.refresh_token {
        Some(r) => open_text(vault, tenant, &row, "refresh_token", r).await,
        None => open_text(vault, tenant, &row, "access_token", &g.access_token).await,
    }
}

/// Opens the access token (for the token service).
pub async fn access_token(
    vault: &Vault,
    tenant: TenantId,
    g: &GrantRecord,
) -> Result<SecretString, CoreError> {
    open_text(
        vault,
        tenant,
        &g.id.to_string(),
        "access_token",
        &g.access_token,
    )
    .await
}

/// Whether the grant holds every scope of `wanted` (`identify` is always held).
pub fn covers(g: &GrantRecord, wanted: &[String]) -> bool {
    wanted
        .iter()
        .all(|s| s == "identify" || g.scopes.iter().any(|h| h == s))
}
