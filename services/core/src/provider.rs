//! Providers: a tenant's registration of one of its own Discord OAuth2 apps. This module holds
//! the validated slug, the stored shape, and the custody of the client secret (sealed with the
//! tenant's data key, opened only where a token or revoke request is built).

use secrecy::SecretString;

use crate::crypto::{Aad, Vault};
use crate::error::CoreError;
use crate::ports::Store;
use crate::time::UnixMillis;
use crate::{ProviderRef, TenantId};

/// A tenant-chosen provider id: 1–64 characters of `a-z`, `0-9`, `-` and `_`, starting with a
/// letter or digit. ASCII only, so no confusable spellings exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderSlug(String);

impl ProviderSlug {
    /// Validates a slug.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(CoreError::Invalid {
                field: "id",
                message: "must be 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit".to_owned(),
            })
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A provider as stored. `client_secret` is sealed; it is never plaintext outside memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    /// The globally unique internal id (callback path).
    pub id: ProviderRef,
    /// The tenant-chosen slug, unique within the tenant.
    pub slug: ProviderSlug,
    /// The Discord application's client id.
    pub client_id: String,
    /// The client secret, sealed by the tenant's data key.
    pub client_secret: Vec<u8>,
    /// Default scopes, in order.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// What a caller supplies to register a provider.
pub struct NewProvider {
    /// The slug.
    pub slug: ProviderSlug,
    /// The Discord client id.
    pub client_id: String,
    /// The Discord client secret (write-only).
    pub client_secret: SecretString,
    /// Default scopes.
    pub scopes: Vec<String>,
}

fn secret_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "providers",
        row: id,
        column: "client_secret",
    }
}

/// Registers a provider, sealing its client secret.
pub async fn create_provider(
    store: &dyn Store,
    vault: &Vault,
    tenant: TenantId,
    new: NewProvider,
) -> Result<ProviderRecord, CoreError> {
    use secrecy::ExposeSecret;
    let id = ProviderRef::generate();
    let row = id.to_string();
    let sealed = vault
        .seal(
            tenant,
            secret_aad(&row),
            new.client_secret.expose_secret().as_bytes(),
        )
        .await?;
    let rec = ProviderRecord {
        id,
        slug: new.slug,
        client_id: new.client_id,
        client_secret: sealed,
        scopes: new.scopes,
        created_at: UnixMillis::now(),
    };
    store.insert_provider(tenant, &rec).await?;
    Ok(rec)
}

/// Opens a provider's client secret (only for building token and revoke requests).
pub async fn client_secret(
    vault: &Vault,
    tenant: TenantId,
    provider: &ProviderRecord,
) -> Result<SecretString, CoreError> {
    let plain = vault
        .open(
            tenant,
            secret_aad(&provider.id.to_string()),
            &provider.client_secret,
        )
        .await?;
    let s = std::str::from_utf8(&plain).map_err(|_| crate::crypto::CryptoError::Malformed)?;
    Ok(SecretString::from(s))
}
