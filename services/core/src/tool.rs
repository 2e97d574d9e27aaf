//! Registered tools: a tool author's declaration that a tool (`Toolkit.Tool`, a version) needs
//! Discord with certain scopes, registered by the tenant. Registering a tool issues a tool key
//! bound to it; the token service later hands that key's holder tokens for exactly the declared
//! scopes. Names are ASCII only, so no confusable spelling of a tool exists.

use secrecy::SecretString;

use crate::apikey::{KeyRole, Peppers};
use crate::audit::{Actor, AuditEvent};
use crate::error::CoreError;
use crate::ports::{ApiKeyRecord, Store};
use crate::provider::{ProviderSlug, check_scopes_in};
use crate::time::UnixMillis;
use crate::{TenantId, ToolId};

fn invalid(field: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::Invalid {
        field,
        message: message.into(),
    }
}

/// A tool's qualified name, `Toolkit.Tool`: the toolkit is 1–64 ASCII letters and digits
/// starting with a letter; the tool is 1–64 ASCII letters, digits and `_` starting with a
/// letter. (The toolkit has no `_`, so the MCP form `Toolkit_Tool` splits unambiguously.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolName {
    toolkit: String,
    tool: String,
}

fn toolkit_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn tool_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl ToolName {
    /// Parses `Toolkit.Tool`.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        match s.split_once('.') {
            Some((toolkit, tool)) if toolkit_ok(toolkit) && tool_ok(tool) => Ok(Self {
                toolkit: toolkit.to_owned(),
                tool: tool.to_owned(),
            }),
            _ => Err(invalid(
                "name",
                "must be Toolkit.Tool: a toolkit of ASCII letters and digits, a dot, and a tool name of ASCII letters, digits and '_', each starting with a letter and at most 64 characters",
            )),
        }
    }

    /// Parses any way a client may address a tool (arcade-compat §9.2): `Toolkit.Tool`,
    /// `Toolkit.Tool@1.2.3`, or the same with `_` for `.`. Returns the name and the version
    /// when one was given. `None` when the reference cannot name any tool.
    pub fn parse_reference(s: &str) -> Option<(Self, Option<ToolVersion>)> {
        let (name, version) = match s.split_once('@') {
            Some((n, v)) => (n, Some(ToolVersion::parse(v).ok()?)),
            None => (s, None),
        };
        let dotted = if name.contains('.') {
            name.to_owned()
        } else {
            name.replacen('_', ".", 1)
        };
        Self::parse(&dotted).ok().map(|n| (n, version))
    }

    /// The toolkit.
    pub fn toolkit(&self) -> &str {
        &self.toolkit
    }

    /// The tool's own name.
    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// `Toolkit.Tool`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.toolkit, self.tool)
    }
}

/// A tool version: `MAJOR.MINOR.PATCH` with an optional `-pre.release` of ASCII letters,
/// digits, `.` and `-`; at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ToolVersion(String);

impl ToolVersion {
    /// Validates a version.
    pub fn parse(s: &str) -> Result<Self, CoreError> {
        let (core, pre) = match s.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (s, None),
        };
        let numbers: Vec<&str> = core.split('.').collect();
        let core_ok = numbers.len() == 3
            && numbers.iter().all(|n| {
                !n.is_empty()
                    && n.len() <= 9
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && !(n.len() > 1 && n.starts_with('0'))
            });
        let pre_ok = pre.is_none_or(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        });
        if core_ok && pre_ok && s.len() <= 64 {
            Ok(Self(s.to_owned()))
        } else {
            Err(invalid(
                "version",
                "must be a semantic version such as 1.2.3 or 1.2.3-beta.1 (at most 64 characters)",
            ))
        }
    }

    /// The version.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a tool needs: Discord, through one pinned provider instance or through whichever the
/// tenant's provider resolution picks, with these scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRequirement {
    /// The pinned provider instance, if any (`Discord(id="discord-prod", …)` in arcade-tdk).
    pub instance: Option<ProviderSlug>,
    /// The declared scopes (validated against the catalogue; `identify` implied).
    pub scopes: Vec<String>,
}

/// A tool as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolRecord {
    /// The internal id tool keys are bound to.
    pub id: ToolId,
    /// `Toolkit.Tool`, unique in the tenant.
    pub name: ToolName,
    /// The catalogue version.
    pub version: ToolVersion,
    /// Free text, at most 1000 characters.
    pub description: Option<String>,
    /// What it needs from Discord.
    pub requirement: ToolRequirement,
    /// When it was registered.
    pub created_at: UnixMillis,
    /// When it last changed.
    pub updated_at: UnixMillis,
}

/// Validated fields of a registration or a change (`None` = unchanged on update).
#[derive(Debug, Default)]
pub struct ToolChanges {
    /// The version.
    pub version: Option<ToolVersion>,
    /// The description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// The requirement.
    pub requirement: Option<ToolRequirement>,
}

/// Checks a description: at most 1000 characters, no control characters other than newlines.
pub fn check_description(d: &str) -> Result<(), CoreError> {
    if d.chars().count() > 1000 {
        return Err(invalid("description", "must be at most 1000 characters"));
    }
    if d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Checks a requirement's scopes against the catalogue, and, when an instance is pinned, that
/// it exists in the tenant and is configured with every declared scope.
async fn check_requirement(
    store: &dyn Store,
    tenant: TenantId,
    r: &ToolRequirement,
) -> Result<(), CoreError> {
    check_scopes_in("requirement.scopes", &r.scopes)?;
    if let Some(slug) = &r.instance {
        let provider = store
            .get_provider(tenant, slug.as_str())
            .await?
            .ok_or(CoreError::UnknownProvider)?;
        if let Some(missing) = r.scopes.iter().find(|s| !provider.scopes.contains(s)) {
            return Err(invalid(
                "requirement.scopes",
                format!(
                    "{missing:?} is not among the scopes of provider {:?}; add it to the provider first",
                    slug.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// A registered tool and the one-time wire form of its first tool key.
pub struct RegisteredTool {
    /// The tool.
    pub tool: ToolRecord,
    /// The key record (no secret).
    pub key: ApiKeyRecord,
    /// `lk_<key_id>_<secret>`, shown once.
    pub secret: SecretString,
}

fn mint_tool_key(peppers: &Peppers, tool: &ToolRecord) -> (ApiKeyRecord, SecretString) {
    peppers.mint_tenant_key(
        KeyRole::Tool,
        Some(tool.id.to_string()),
        &format!("tool key for {}", tool.name.qualified()),
    )
}

/// Registers a tool and issues its first tool key, atomically. `changes` must carry a version
/// and a requirement.
pub async fn register_tool(
    store: &dyn Store,
    peppers: &Peppers,
    tenant: TenantId,
    name: ToolName,
    changes: ToolChanges,
    actor: &Actor,
) -> Result<RegisteredTool, CoreError> {
    let version = changes
        .version
        .ok_or_else(|| invalid("version", "is required"))?;
    let requirement = changes
        .requirement
        .ok_or_else(|| invalid("requirement", "is required"))?;
    let description = changes.description.flatten();
    if let Some(d) = &description {
        check_description(d)?;
    }
    check_requirement(store, tenant, &requirement).await?;
    let now = UnixMillis::now();
    let tool = ToolRecord {
        id: ToolId::generate(),
        name,
        version,
        description,
        requirement,
        created_at: now,
        updated_at: now,
    };
    let (key, secret) = mint_tool_key(peppers, &tool);
    store
        .insert_tool(
            tenant,
            &tool,
            &key,
            &AuditEvent::success(actor, "tool.create", tool.id.to_string()),
        )
        .await?;
    Ok(RegisteredTool { tool, key, secret })
}

/// Issues another key for a registered tool (key rotation: issue, deploy, revoke the old one).
pub async fn issue_tool_key(
    store: &dyn Store,
    peppers: &Peppers,
    tenant: TenantId,
    name: &ToolName,
    actor: &Actor,
) -> Result<(ToolRecord, ApiKeyRecord, SecretString), CoreError> {
    let tool = store
        .get_tool(tenant, name)
        .await?
        .ok_or(CoreError::NotFound("tool"))?;
    let (key, secret) = mint_tool_key(peppers, &tool);
    store
        .insert_api_key(
            tenant,
            &key,
            &AuditEvent::success(actor, "tool.key_create", key.id.to_string()),
        )
        .await?;
    Ok((tool, key, secret))
}

/// Changes a tool's version, description or requirement (the name cannot change). The write
/// is conditional on the row being unchanged since it was read; a concurrent change retries.
pub async fn update_tool(
    store: &dyn Store,
    tenant: TenantId,
    name: &ToolName,
    changes: ToolChanges,
    actor: &Actor,
) -> Result<ToolRecord, CoreError> {
    if let Some(Some(d)) = &changes.description {
        check_description(d)?;
    }
    if let Some(r) = &changes.requirement {
        check_requirement(store, tenant, r).await?;
    }
    for _ in 0..3 {
        let current = store
            .get_tool(tenant, name)
            .await?
            .ok_or(CoreError::NotFound("tool"))?;
        let mut next = current.clone();
        if let Some(v) = changes.version.clone() {
            next.version = v;
        }
        if let Some(d) = changes.description.clone() {
            next.description = d;
        }
        if let Some(r) = changes.requirement.clone() {
            next.requirement = r;
        }
        next.updated_at = UnixMillis(UnixMillis::now().0.max(current.updated_at.0 + 1));
        if store
            .update_tool(
                tenant,
                &next,
                current.updated_at,
                &AuditEvent::success(actor, "tool.update", next.id.to_string()),
            )
            .await?
        {
            return Ok(next);
        }
    }
    Err(CoreError::Store(crate::StoreError::Unavailable(
        "the tool kept changing; try again".to_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        let n = ToolName::parse("Discord.Whoami").unwrap();
        assert_eq!((n.toolkit(), n.tool()), ("Discord", "Whoami"));
        assert_eq!(n.qualified(), "Discord.Whoami");
        assert!(ToolName::parse("Discord.list_guilds").is_ok());
        for bad in [
            "",
            "Discord",
            "Discord.",
            ".Whoami",
            "Dis_cord.Whoami",
            "Discord.Who.ami",
            "1Discord.Whoami",
            "Discord._x",
            "Dіscord.Whoami",
            "Discord.Whoami\0",
            &format!("{}.X", "D".repeat(65)),
        ] {
            assert!(ToolName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn references() {
        let (n, v) = ToolName::parse_reference("Discord.Whoami@1.2.3").unwrap();
        assert_eq!(n.qualified(), "Discord.Whoami");
        assert_eq!(v.unwrap().as_str(), "1.2.3");
        let (n, v) = ToolName::parse_reference("Discord_list_guilds").unwrap();
        assert_eq!((n.tool(), v), ("list_guilds", None));
        assert!(ToolName::parse_reference("Discord.Whoami@").is_none());
        assert!(ToolName::parse_reference("Discord").is_none());
    }

    #[test]
    fn versions() {
        for ok in ["0.1.0", "1.2.3", "10.0.0-beta.1", "1.0.0-rc-2"] {
            assert!(ToolVersion::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "v1.2.3", "1.2.3+b", "1.2.x",
        ] {
            assert!(ToolVersion::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn name_parser_is_total_and_round_trips(s in "\\PC{0,140}") {
            if let Ok(n) = ToolName::parse(&s) { prop_assert_eq!(n.qualified(), s); }
        }

        #[test]
        fn reference_parser_never_panics(s in "\\PC{0,140}") {
            let _ = ToolName::parse_reference(&s);
        }
    }
}
