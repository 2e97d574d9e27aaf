//! The tool catalogue as apps see it (specs/arcade-compat.md §9.4): for each tool, whether its
//! provider resolves, and — for one user — whether that user's grant already covers it.

use crate::TenantId;
use crate::authorization::AuthorizationStatus;
use crate::error::CoreError;
use crate::grant;
use crate::ports::Store;
use crate::provider::{ProviderRecord, ProviderStatus};
use crate::resolve::{DISCORD, resolve_instance};
use crate::time::UnixMillis;
use crate::tool::ToolRecord;
use crate::user::UserId;

/// A tool's requirement, evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementState {
    /// The resolved provider is active.
    pub active: bool,
    /// Empty, or the error name that explains `active == false`.
    pub reason: &'static str,
    /// For a user: `completed`, `pending`, `failed` or `not_started`.
    pub token_status: Option<AuthorizationStatus>,
}

impl RequirementState {
    /// Whether the user's grant covers the tool (`None` without a user).
    pub fn met(&self) -> Option<bool> {
        self.token_status
            .map(|s| s == AuthorizationStatus::Completed)
    }
}

/// Evaluates `tool`'s requirement against the tenant's `providers`, and for `user` against
/// their grants and authorizations.
pub async fn requirement_state(
    store: &dyn Store,
    tenant: TenantId,
    providers: &[ProviderRecord],
    tool: &ToolRecord,
    user: Option<&UserId>,
) -> Result<RequirementState, CoreError> {
    let instance = tool.requirement.instance.as_ref().map(|s| s.as_str());
    let resolved = match resolve_instance(providers, instance, Some(DISCORD)) {
        Ok(p) => Ok(p),
        Err(CoreError::UnknownProvider) => Err("unknown_provider"),
        Err(CoreError::AmbiguousProvider) => Err("ambiguous_provider"),
        Err(other) => return Err(other),
    };
    let (active, reason) = match resolved {
        Ok(p) if p.status == ProviderStatus::Active => (true, ""),
        Ok(_) => (false, "provider_inactive"),
        Err(reason) => (false, reason),
    };
    let token_status = match (user, resolved) {
        (None, _) => None,
        (Some(_), Err(_)) => Some(AuthorizationStatus::NotStarted),
        (Some(u), Ok(p)) => Some(token_status(store, tenant, p, tool, u).await?),
    };
    Ok(RequirementState {
        active,
        reason,
        token_status,
    })
}

async fn token_status(
    store: &dyn Store,
    tenant: TenantId,
    provider: &ProviderRecord,
    tool: &ToolRecord,
    user: &UserId,
) -> Result<AuthorizationStatus, CoreError> {
    if let Some(g) = store
        .active_grant(tenant, user.as_str(), provider.id)
        .await?
        && grant::covers(&g, &tool.requirement.scopes)
    {
        return Ok(AuthorizationStatus::Completed);
    }
    Ok(
        match store
            .authorization_summary(tenant, user.as_str(), provider.id, UnixMillis::now())
            .await?
        {
            Some(s @ (AuthorizationStatus::Pending | AuthorizationStatus::Failed)) => s,
            Some(AuthorizationStatus::NotStarted) => AuthorizationStatus::Pending,
            Some(AuthorizationStatus::Completed) | None => AuthorizationStatus::NotStarted,
        },
    )
}
