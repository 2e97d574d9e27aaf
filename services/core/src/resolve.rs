//! Provider resolution (specs/arcade-compat.md §7): which of a tenant's Discord providers an
//! `auth_requirement` or a tool's requirement means. Pure: it works on the tenant's provider
//! list, so callers can serve it from a cache.

use crate::error::CoreError;
use crate::provider::{ProviderRecord, ProviderStatus};

/// The only `provider_id` Latchkey serves.
pub const DISCORD: &str = "discord";

/// Resolves `id` / `provider_id` to an instance without looking at its status:
/// 1. `id` non-empty → the instance with that id, else `unknown_provider`;
/// 2. `provider_id` non-empty → the one **active** instance of that provider type (several →
///    `ambiguous_provider`);
/// 3. else the instance whose id equals `provider_id` (arcadepy sends instance ids there);
/// 4. else `unknown_provider`. Neither given → `invalid_request`.
pub fn resolve_instance<'a>(
    providers: &'a [ProviderRecord],
    id: Option<&str>,
    provider_id: Option<&str>,
) -> Result<&'a ProviderRecord, CoreError> {
    let by_slug = |s: &str| providers.iter().find(|p| p.slug.as_str() == s);
    if let Some(id) = id.filter(|s| !s.is_empty()) {
        return by_slug(id).ok_or(CoreError::UnknownProvider);
    }
    let Some(kind) = provider_id.filter(|s| !s.is_empty()) else {
        return Err(CoreError::Invalid {
            field: "auth_requirement",
            message: "give provider_id (\"discord\") or the id of one of your providers".to_owned(),
        });
    };
    if kind == DISCORD {
        let mut active = providers
            .iter()
            .filter(|p| p.status == ProviderStatus::Active);
        if let Some(first) = active.next() {
            return if active.next().is_some() {
                Err(CoreError::AmbiguousProvider)
            } else {
                Ok(first)
            };
        }
    }
    by_slug(kind).ok_or(CoreError::UnknownProvider)
}

/// [`resolve_instance`], refusing an inactive instance (`provider_inactive`).
pub fn resolve<'a>(
    providers: &'a [ProviderRecord],
    id: Option<&str>,
    provider_id: Option<&str>,
) -> Result<&'a ProviderRecord, CoreError> {
    let p = resolve_instance(providers, id, provider_id)?;
    match p.status {
        ProviderStatus::Active => Ok(p),
        ProviderStatus::Inactive => Err(CoreError::ProviderInactive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderRef;
    use crate::provider::{DiscordClientId, ProviderSlug};
    use crate::time::UnixMillis;

    fn p(slug: &str, status: ProviderStatus) -> ProviderRecord {
        ProviderRecord {
            id: ProviderRef::generate(),
            slug: ProviderSlug::parse(slug).unwrap(),
            description: None,
            external_id: None,
            status,
            client_id: DiscordClientId::parse("1").unwrap(),
            client_secret: vec![],
            scopes: vec!["identify".to_owned()],
            policy: None,
            endpoint_origin: None,
            created_at: UnixMillis(0),
            updated_at: UnixMillis(0),
        }
    }

    fn name(r: Result<&ProviderRecord, CoreError>) -> String {
        match r {
            Ok(p) => p.slug.as_str().to_owned(),
            Err(e) => format!("{e:?}"),
        }
    }

    #[test]
    fn the_table_of_section_7() {
        use ProviderStatus::{Active, Inactive};
        let one = [p("discord-prod", Active)];
        let two = [p("discord-prod", Active), p("discord-test", Active)];
        assert_eq!(name(resolve(&one, None, Some("discord"))), "discord-prod");
        assert_eq!(
            name(resolve(&two, None, Some("discord"))),
            "AmbiguousProvider"
        );
        assert_eq!(
            name(resolve(&two, None, Some("discord-test"))),
            "discord-test"
        );
        assert_eq!(
            name(resolve(&two, Some("discord-test"), Some("discord"))),
            "discord-test"
        );
        assert_eq!(name(resolve(&two, Some("nope"), None)), "UnknownProvider");
        assert_eq!(name(resolve(&[], None, Some("discord"))), "UnknownProvider");
        assert!(matches!(
            resolve(&two, Some(""), Some("")),
            Err(CoreError::Invalid { .. })
        ));
        let mixed = [p("discord-prod", Active), p("discord-old", Inactive)];
        assert_eq!(
            name(resolve(&mixed, None, Some("discord"))),
            "discord-prod",
            "inactive instances do not make it ambiguous"
        );
        assert_eq!(
            name(resolve(&mixed, Some("discord-old"), None)),
            "ProviderInactive"
        );
        assert_eq!(
            name(resolve_instance(&mixed, Some("discord-old"), None)),
            "discord-old"
        );
        let slug_named_discord = [p("discord", Inactive)];
        assert_eq!(
            name(resolve_instance(&slug_named_discord, None, Some("discord"))),
            "discord",
            "step 3"
        );
    }
}
