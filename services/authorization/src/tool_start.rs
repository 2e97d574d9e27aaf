//! `POST /v1/tools/authorize` (arcade-compat §9.5; Arcade's `tools.authorize`): the tool's
//! declared requirement — its pinned provider or the tenant's Discord provider, and its scopes —
//! becomes an `auth_requirement`, and the rest is exactly `POST /v1/auth/authorize`.

use axum::extract::State;
use axum::response::Response;
use latchkey_api::auth::{AuthRequirement, AuthorizeOAuth2, AuthorizeRequest};
use latchkey_api::server::{ApiError, AppKey, JsonBody};
use latchkey_api::tools::ToolAuthorizeRequest;
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::resolve;
use latchkey_core::tool::ToolName;

use crate::start::{answer, start};
use crate::{Authorizer, store_err};

/// Authorize a tool for a user.
///
/// Arcade's `tools.authorize`: starts (or reuses) an authorization for exactly what the
/// registered tool declared — `completed` with `context.token` when the user's grant already
/// covers it, else `pending` with the start `url`. The tool is named `Toolkit.Tool`,
/// `Toolkit.Tool@1.2.3` or `Toolkit_Tool`; a version (in the name or `tool_version`) must
/// equal the catalogue's, else 404. Requires an app key.
#[utoipa::path(
    operation_id = "tools_authorize",
    post, path = "/v1/tools/authorize", tag = "tools",
    security(("app_key" = [])),
    request_body = ToolAuthorizeRequest,
    responses(
        (status = 200, description = "`pending` with `url`, or `completed` with `context`", body = latchkey_api::auth::AuthorizationResponse),
        (status = 400, description = "`invalid_request`, `unknown_provider`, `ambiguous_provider`, `provider_inactive`, `next_uri_not_allowed` or `verification_not_configured`", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key, or `scope_not_allowed` (the provider no longer allows a declared scope)", body = ErrorBody),
        (status = 404, description = "No such tool (or another version)", body = ErrorBody),
    )
)]
pub async fn tools_authorize(
    State(az): State<Authorizer>,
    AppKey(caller): AppKey,
    JsonBody(req): JsonBody<ToolAuthorizeRequest>,
) -> Result<Response, ApiError> {
    let req = requirement_of(&az, &caller, req).await?;
    Ok(answer(start(&az, &caller, req).await?))
}

/// The `authorize` request a tool's declaration stands for.
pub async fn requirement_of(
    az: &Authorizer,
    caller: &TenantPrincipal,
    req: ToolAuthorizeRequest,
) -> Result<AuthorizeRequest, ApiError> {
    let not_found = || ApiError::new(ErrorName::NotFound, "tool not found");
    let (name, version) = ToolName::parse_reference(&req.tool_name).ok_or_else(not_found)?;
    let tool = az
        .store
        .get_tool(caller.tenant, &name)
        .await
        .map_err(store_err)?
        .ok_or_else(not_found)?;
    let wanted = version
        .as_ref()
        .map(|v| v.as_str().to_owned())
        .into_iter()
        .chain(req.tool_version);
    for v in wanted {
        if v != tool.version.as_str() {
            return Err(not_found());
        }
    }
    let (id, provider_id) = match tool.requirement.instance {
        Some(slug) => (Some(slug.as_str().to_owned()), None),
        None => (None, Some(resolve::DISCORD.to_owned())),
    };
    Ok(AuthorizeRequest {
        auth_requirement: AuthRequirement {
            id,
            provider_id,
            provider_type: None,
            oauth2: Some(AuthorizeOAuth2 {
                scopes: Some(tool.requirement.scopes),
                unknown: Default::default(),
            }),
            unknown: Default::default(),
        },
        user_id: req.user_id,
        next_uri: req.next_uri,
        unknown: req.unknown,
    })
}
