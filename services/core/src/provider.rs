//! Providers: a tenant's registration of one of its own Discord OAuth2 apps — the validated
//! fields, the stored shape, and the use cases that create, change and delete one. The client
//! secret is sealed with the tenant's data key and opened only to build token and revoke
//! requests, or to compute its display hint.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::audit::{Actor, AuditEvent};
use crate::crypto::{Aad, Vault};
use crate::error::CoreError;
use crate::ports::Store;
use crate::scopes::{ScopeClass, classify};
use crate::time::UnixMillis;
use crate::{ProviderRef, TenantId};

fn invalid(field: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::Invalid {
        field,
        message: message.into(),
    }
}

fn no_controls(field: &'static str, s: &str) -> Result<(), CoreError> {
    if s.chars().any(char::is_control) {
        Err(invalid(field, "must not contain control characters"))
    } else {
        Ok(())
    }
}

/// A tenant-chosen provider id (Arcade's rule): 1–100 characters of `A-Z a-z 0-9 . _ -`,
/// starting with a letter or digit. ASCII only, so there are no confusable spellings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProviderSlug(String);

impl ProviderSlug {
    /// Validates a slug.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let ok = (1..=100).contains(&s.len())
            && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "id",
                "must be 1-100 characters of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            ))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Discord application id: a snowflake (decimal, no leading zero, fits 64 bits) (P5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DiscordClientId(String);

impl DiscordClientId {
    /// Validates a client id.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let digits = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && !(s.len() > 1 && s.starts_with('0'));
        if digits && s.parse::<u64>().is_ok() {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "oauth2.client_id",
                "must be the Discord application id (a decimal snowflake)",
            ))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a client secret: non-empty, at most 512 bytes, no control characters (P1–P3).
pub fn check_client_secret(s: &SecretString) -> Result<(), CoreError> {
    let v = s.expose_secret();
    if v.is_empty() {
        return Err(invalid("oauth2.client_secret", "must not be empty"));
    }
    if v.len() > 512 {
        return Err(invalid("oauth2.client_secret", "must be at most 512 bytes"));
    }
    no_controls("oauth2.client_secret", v)
}

/// `****` and the last four characters when the secret has at least 16, else `****`.
pub fn secret_hint(s: &SecretString) -> String {
    let chars: Vec<char> = s.expose_secret().chars().collect();
    if chars.len() >= 16 {
        format!(
            "****{}",
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    } else {
        "****".to_owned()
    }
}

/// Whether new authorizations may use the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderStatus {
    /// In use.
    Active,
    /// Kept, but no new authorization may start with it.
    Inactive,
}

impl ProviderStatus {
    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s {
            "active" => Ok(Self::Active),
            "inactive" => Ok(Self::Inactive),
            _ => Err(invalid("status", "must be \"active\" or \"inactive\"")),
        }
    }

    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// A membership gate: the Discord user must be in every listed guild and hold every listed
/// role; otherwise the authorization fails with `message`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ProviderPolicy {
    /// Guild ids (snowflakes).
    #[serde(default)]
    pub required_guild_ids: Vec<String>,
    /// Role ids (snowflakes), checked in the required guilds.
    #[serde(default)]
    pub required_role_ids: Vec<String>,
    /// What the user is told when the gate refuses them.
    #[serde(default)]
    pub message: Option<String>,
}

impl ProviderPolicy {
    /// Validates ids (snowflakes, at most 50 each) and the message (at most 500 characters).
    pub fn check(&self) -> Result<(), CoreError> {
        for (field, ids) in [
            ("policy.required_guild_ids", &self.required_guild_ids),
            ("policy.required_role_ids", &self.required_role_ids),
        ] {
            if ids.len() > 50 {
                return Err(invalid(field, "at most 50 ids"));
            }
            if ids.iter().any(|i| DiscordClientId::parse(i).is_err()) {
                return Err(invalid(field, "every id must be a Discord snowflake"));
            }
        }
        if !self.required_role_ids.is_empty() && self.required_guild_ids.is_empty() {
            return Err(invalid(
                "policy.required_role_ids",
                "roles need at least one required guild",
            ));
        }
        if let Some(m) = &self.message {
            if m.chars().count() > 500 {
                return Err(invalid("policy.message", "must be at most 500 characters"));
            }
            no_controls("policy.message", m)?;
        }
        Ok(())
    }
}

/// Validates a provider's scopes against the catalogue: unknown → 400 naming it; approval-only
/// → `ScopeNotAllowed`; `guilds.join` needs the app's bot token; duplicates refused.
pub fn check_scopes(scopes: &[String]) -> Result<(), CoreError> {
    check_scopes_in("scopes", scopes)
}

/// [`check_scopes`] for a field with another name (a tool's `requirement.scopes`).
pub fn check_scopes_in(field: &'static str, scopes: &[String]) -> Result<(), CoreError> {
    if scopes.is_empty() {
        return Err(invalid(
            field,
            "at least one scope is required (identify is always requested)",
        ));
    }
    for (i, s) in scopes.iter().enumerate() {
        if scopes[..i].contains(s) {
            return Err(invalid(field, format!("{:?} is listed twice", short(s))));
        }
        match classify(s) {
            ScopeClass::Allowed => {}
            ScopeClass::NeedsBot => {
                return Err(invalid(
                    field,
                    "guilds.join adds users to guilds with the app's bot token, which Latchkey does not store yet; remove it",
                ));
            }
            ScopeClass::NotUsed => {
                return Err(invalid(
                    field,
                    format!("{s:?} is a Discord scope Latchkey does not support"),
                ));
            }
            ScopeClass::Blocked => return Err(CoreError::ScopeNotAllowed(s.clone())),
            ScopeClass::Unknown => {
                return Err(invalid(
                    field,
                    format!("{:?} is not a Discord scope", short(s)),
                ));
            }
        }
    }
    Ok(())
}

/// `identify` is always requested, so the Discord user is always known (arcade-compat §14).
pub fn with_identify(mut scopes: Vec<String>) -> Vec<String> {
    if !scopes.iter().any(|s| s == "identify") {
        scopes.insert(0, "identify".to_owned());
    }
    scopes
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Checks an endpoint-override origin against the operator's allow-list (P18–P20): it must be
/// exactly one of the listed origins.
pub fn check_endpoint_origin(origin: &str, allowed: &[String]) -> Result<(), CoreError> {
    if allowed.iter().any(|a| a == origin) {
        Ok(())
    } else {
        Err(invalid(
            "endpoint_origin",
            "is not on the operator's allow-list (discord.allowed_endpoint_origins)",
        ))
    }
}

/// The exact redirect URI a provider registers at Discord: Latchkey's callback for it.
pub fn redirect_uri(public_url: &str, id: ProviderRef) -> String {
    format!("{}/oauth/callback/{id}", public_url.trim_end_matches('/'))
}

/// A provider as stored. `client_secret` is sealed; it is never plaintext outside memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRecord {
    /// The globally unique internal id (callback path).
    pub id: ProviderRef,
    /// The tenant-chosen id, unique within the tenant.
    pub slug: ProviderSlug,
    /// Free text, at most 1000 characters.
    pub description: Option<String>,
    /// The tenant's own reference, at most 50 characters; stored, never returned.
    pub external_id: Option<String>,
    /// Active or inactive.
    pub status: ProviderStatus,
    /// The Discord application id.
    pub client_id: DiscordClientId,
    /// The client secret, sealed by the tenant's data key.
    pub client_secret: Vec<u8>,
    /// Configured scopes, in order.
    pub scopes: Vec<String>,
    /// Optional membership gate.
    pub policy: Option<ProviderPolicy>,
    /// Optional operator-allow-listed origin standing in for discord.com (the simulator).
    pub endpoint_origin: Option<String>,
    /// When it was created.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}

/// The validated fields a caller sets on create, or changes on patch (`None` = unchanged).
#[derive(Default)]
pub struct ProviderChanges {
    /// Description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// External id (`Some(None)` clears it).
    pub external_id: Option<Option<String>>,
    /// Status.
    pub status: Option<ProviderStatus>,
    /// Client id.
    pub client_id: Option<DiscordClientId>,
    /// New client secret.
    pub client_secret: Option<SecretString>,
    /// Scopes.
    pub scopes: Option<Vec<String>>,
    /// Policy (`Some(None)` clears it).
    pub policy: Option<Option<ProviderPolicy>>,
    /// Endpoint origin (`Some(None)` clears it).
    pub endpoint_origin: Option<Option<String>>,
}

/// Checks the free-text fields of a change.
pub fn check_text(c: &ProviderChanges) -> Result<(), CoreError> {
    if let Some(Some(d)) = &c.description {
        if d.chars().count() > 1000 {
            return Err(invalid("description", "must be at most 1000 characters"));
        }
        no_controls("description", d)?;
    }
    if let Some(Some(e)) = &c.external_id {
        if e.chars().count() > 50 {
            return Err(invalid("external_id", "must be at most 50 characters"));
        }
        no_controls("external_id", e)?;
    }
    Ok(())
}

fn secret_aad(id: &str) -> Aad<'_> {
    Aad {
        table: "providers",
        row: id,
        column: "client_secret",
    }
}

async fn seal_secret(
    vault: &Vault,
    tenant: TenantId,
    id: ProviderRef,
    secret: &SecretString,
) -> Result<Vec<u8>, CoreError> {
    Ok(vault
        .seal(
            tenant,
            secret_aad(&id.to_string()),
            secret.expose_secret().as_bytes(),
        )
        .await?)
}

async fn check_client_id_free(
    store: &dyn Store,
    client_id: &DiscordClientId,
    except: Option<ProviderRef>,
) -> Result<(), CoreError> {
    if store.client_id_in_use(client_id.as_str(), except).await? {
        Err(CoreError::ClientIdInUse)
    } else {
        Ok(())
    }
}

/// Registers a provider. `changes` must carry a client id, a secret and scopes.
pub async fn create_provider(
    store: &dyn Store,
    vault: &Vault,
    tenant: TenantId,
    slug: ProviderSlug,
    changes: ProviderChanges,
    actor: &Actor,
) -> Result<ProviderRecord, CoreError> {
    check_text(&changes)?;
    let client_id = changes
        .client_id
        .ok_or_else(|| invalid("oauth2.client_id", "is required"))?;
    let secret = changes
        .client_secret
        .ok_or_else(|| invalid("oauth2.client_secret", "is required"))?;
    check_client_secret(&secret)?;
    let scopes = with_identify(changes.scopes.unwrap_or_default());
    check_scopes(&scopes)?;
    let policy = changes.policy.flatten();
    if let Some(p) = &policy {
        p.check()?;
    }
    check_client_id_free(store, &client_id, None).await?;
    let id = ProviderRef::generate();
    let now = UnixMillis::now();
    let rec = ProviderRecord {
        id,
        slug,
        description: changes.description.flatten(),
        external_id: changes.external_id.flatten(),
        status: changes.status.unwrap_or(ProviderStatus::Active),
        client_id,
        client_secret: seal_secret(vault, tenant, id, &secret).await?,
        scopes,
        policy,
        endpoint_origin: changes.endpoint_origin.flatten(),
        created_at: now,
        updated_at: now,
    };
    store
        .insert_provider(
            tenant,
            &rec,
            &AuditEvent::success(actor, "provider.create", rec.id.to_string()),
        )
        .await?;
    Ok(rec)
}

/// Applies a patch field by field. Retries when another writer changed the row in between
/// (the write is conditional on `updated_at`).
pub async fn update_provider(
    store: &dyn Store,
    vault: &Vault,
    tenant: TenantId,
    slug: &ProviderSlug,
    changes: ProviderChanges,
    actor: &Actor,
) -> Result<ProviderRecord, CoreError> {
    check_text(&changes)?;
    if let Some(s) = &changes.client_secret {
        check_client_secret(s)?;
    }
    let changes = ProviderChanges {
        scopes: changes.scopes.map(with_identify),
        ..changes
    };
    if let Some(s) = &changes.scopes {
        check_scopes(s)?;
    }
    if let Some(Some(p)) = &changes.policy {
        p.check()?;
    }
    for _ in 0..3 {
        let current = store
            .get_provider(tenant, slug.as_str())
            .await?
            .ok_or(CoreError::NotFound("provider"))?;
        let mut next = current.clone();
        if let Some(d) = changes.description.clone() {
            next.description = d;
        }
        if let Some(e) = changes.external_id.clone() {
            next.external_id = e;
        }
        if let Some(s) = changes.status {
            next.status = s;
        }
        if let Some(c) = changes.client_id.clone() {
            if c != current.client_id {
                check_client_id_free(store, &c, Some(current.id)).await?;
            }
            next.client_id = c;
        }
        if let Some(s) = &changes.client_secret {
            next.client_secret = seal_secret(vault, tenant, current.id, s).await?;
        }
        if let Some(s) = changes.scopes.clone() {
            next.scopes = s;
        }
        if let Some(p) = changes.policy.clone() {
            next.policy = p;
        }
        if let Some(o) = changes.endpoint_origin.clone() {
            next.endpoint_origin = o;
        }
        next.updated_at = UnixMillis(UnixMillis::now().0.max(current.updated_at.0 + 1));
        if store
            .update_provider(
                tenant,
                &next,
                current.updated_at,
                &AuditEvent::success(actor, "provider.update", next.id.to_string()),
            )
            .await?
        {
            return Ok(next);
        }
    }
    Err(CoreError::Store(crate::StoreError::Unavailable(
        "the provider kept changing; try again".to_owned(),
    )))
}

/// Opens a provider's client secret (to build token and revoke requests, or a hint).
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn slugs_client_ids_secrets() {
        for ok in ["discord-prod", "A.b_c-1", &"x".repeat(100)] {
            assert!(ProviderSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "dіscord", &"x".repeat(101), "a/b"] {
            assert!(ProviderSlug::parse(bad).is_err(), "{bad}");
        }
        assert!(DiscordClientId::parse("1100000000000000001").is_ok());
        for bad in [
            "abc",
            "-1",
            "01",
            "123456789012345678901",
            "18446744073709551616",
            "",
        ] {
            assert!(DiscordClientId::parse(bad).is_err(), "{bad}");
        }
        for bad in ["", "a\nb", "a\0b"] {
            assert!(
                check_client_secret(&SecretString::from(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_client_secret(&SecretString::from("x".repeat(513))).is_err());
        assert!(
            check_client_secret(&SecretString::from("a:b%c+d&e=f")).is_ok(),
            "P4"
        );
        assert_eq!(secret_hint(&SecretString::from("short")), "****");
        assert_eq!(
            secret_hint(&SecretString::from("0123456789abcdefWXYZ")),
            "****WXYZ"
        );
    }

    #[test]
    fn scope_rules() {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(check_scopes(&v(&["identify", "guilds"])).is_ok());
        assert!(matches!(
            check_scopes(&v(&["identify", "rpc"])),
            Err(CoreError::ScopeNotAllowed(_))
        ));
        assert!(
            check_scopes(&v(&["guilds.join"]))
                .unwrap_err()
                .to_string()
                .contains("bot token")
        );
        assert!(
            check_scopes(&v(&["made.up"]))
                .unwrap_err()
                .to_string()
                .contains("made.up")
        );
        assert!(check_scopes(&v(&["identify", "identify"])).is_err());
        assert!(check_scopes(&[]).is_err());
    }

    proptest! {
        #[test]
        fn slug_parser_is_total(s in "\\PC{0,120}") {
            if let Ok(slug) = ProviderSlug::parse(&s) { prop_assert_eq!(slug.as_str(), s.as_str()); }
        }
    }
}
