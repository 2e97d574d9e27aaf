//! Tenants: the validated name, the stored shape, and the use cases that create one (with its
//! first data key and one admin and one app key) and bootstrap the platform operator key.

use secrecy::SecretString;

use crate::TenantId;
use crate::apikey::{KeyRole, Peppers};
use crate::audit::{Actor, AuditEvent};
use crate::crypto::Vault;
use crate::error::CoreError;
use crate::ports::Store;
use crate::time::UnixMillis;

/// A human label (tenant names, key names): 1–200 characters, no control or invisible
/// characters ([`crate::text::is_hidden`]), no surrounding whitespace, kept byte-exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    /// Validates a label; errors name `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, CoreError> {
        let invalid = |message: &str| CoreError::Invalid {
            field,
            message: message.to_owned(),
        };
        if s.trim().is_empty() {
            return Err(invalid("must not be empty"));
        }
        if s.chars().count() > 200 {
            return Err(invalid("must be at most 200 characters"));
        }
        if s.chars().any(crate::text::is_hidden) {
            return Err(invalid(
                "must not contain control, bidirectional or zero-width characters",
            ));
        }
        if s.trim() != s {
            return Err(invalid("must not start or end with whitespace"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tenant's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantName(Label);

impl TenantName {
    /// Validates a name.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        Label::parse("name", s).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its display name.
    pub name: TenantName,
    /// When it was created.
    pub created_at: UnixMillis,
}

/// A new tenant and its first keys, each shown exactly once.
pub struct CreatedTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// An `admin` key (control plane).
    pub admin_key: SecretString,
    /// An `app` key (`auth.start` and friends).
    pub app_key: SecretString,
}

/// Creates a tenant with its first data key, an admin key and an app key, in one transaction.
pub async fn create_tenant(
    store: &dyn Store,
    vault: &Vault,
    peppers: &Peppers,
    name: TenantName,
    actor: &Actor,
) -> Result<CreatedTenant, CoreError> {
    let tenant = Tenant {
        id: TenantId::generate(),
        name,
        created_at: UnixMillis::now(),
    };
    let data_key = vault.new_tenant_key(tenant.id);
    let (admin, admin_key) =
        peppers.mint_tenant_key(KeyRole::Admin, None, "admin (created with the tenant)");
    let (app, app_key) =
        peppers.mint_tenant_key(KeyRole::App, None, "app (created with the tenant)");
    store
        .create_tenant(
            &tenant,
            &data_key,
            &[admin, app],
            &AuditEvent::success(actor, "tenant.create", tenant.id.to_string()),
        )
        .await?;
    Ok(CreatedTenant {
        tenant,
        admin_key,
        app_key,
    })
}

/// Creates the first platform operator key when none exists yet; returns it for printing once.
pub async fn bootstrap_operator_key(
    store: &dyn Store,
    peppers: &Peppers,
) -> Result<Option<SecretString>, CoreError> {
    if store.count_operator_keys().await? > 0 {
        return Ok(None);
    }
    let (rec, whole) = peppers.mint_operator_key();
    // Atomic: of several processes starting together, exactly one creates (and prints) a key.
    Ok(store
        .insert_first_operator_key(&rec)
        .await?
        .then_some(whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert!(TenantName::parse("Acme Agents").is_ok());
        for bad in ["", "   ", " lead", "nul\0", "tab\there", &"x".repeat(201)] {
            assert!(TenantName::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_names_are_kept_byte_exact(s in "\\PC{0,210}") {
            if let Ok(n) = TenantName::parse(&s) {
                prop_assert_eq!(n.as_str(), s.as_str());
            }
        }
    }
}
