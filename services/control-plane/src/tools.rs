//! `/v1/admin/tools`: a tenant's registered tools (admin key). Registering a tool issues a tool
//! key bound to it (shown once); `POST …/{name}/keys` issues another for rotation. Tools are
//! addressed by `Toolkit.Tool`; unknown fields in bodies are refused, so typos are not ignored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api::api_keys::CreatedApiKeyResponse;
use latchkey_api::server::{AdminKey, ApiError, JsonBody, PageQuery};
use latchkey_api::time::rfc3339;
use latchkey_api::tools::{
    RequirementOAuth2, RequirementRequest, RequirementResponse, ToolRequest, ToolResponse,
    ToolWithKeyResponse,
};
use latchkey_api::{ErrorBody, ErrorName, Page};
use latchkey_core::audit::AuditEvent;
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::provider::ProviderSlug;
use latchkey_core::resolve::DISCORD;
use latchkey_core::tool::{self, ToolChanges, ToolName, ToolRecord, ToolRequirement, ToolVersion};
use latchkey_core::{CoreError, StoreError};
use secrecy::ExposeSecret;

use crate::ControlPlane;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorName::InvalidRequest, message.into())
}

fn not_found() -> ApiError {
    ApiError::new(ErrorName::NotFound, "tool not found")
}

/// The wire form of a requirement.
pub(crate) fn requirement_response(r: &ToolRequirement) -> RequirementResponse {
    RequirementResponse {
        provider_id: DISCORD.to_owned(),
        provider_type: "oauth2".to_owned(),
        id: r.instance.as_ref().map(|s| s.as_str().to_owned()),
        oauth2: RequirementOAuth2 {
            scopes: r.scopes.clone(),
        },
    }
}

fn response(t: &ToolRecord) -> ToolResponse {
    ToolResponse {
        id: t.id.to_string(),
        name: t.name.qualified(),
        version: t.version.as_str().to_owned(),
        description: t.description.clone(),
        requirement: requirement_response(&t.requirement),
        created_at: rfc3339(t.created_at.0),
        updated_at: rfc3339(t.updated_at.0),
    }
}

fn requirement(r: RequirementRequest) -> Result<ToolRequirement, ApiError> {
    if r.provider_id.as_deref().is_some_and(|p| p != DISCORD) {
        return Err(ApiError::new(
            ErrorName::UnsupportedProvider,
            "requirement.provider_id: only \"discord\" is supported",
        ));
    }
    if r.provider_type.as_deref().is_some_and(|t| t != "oauth2") {
        return Err(bad(
            "requirement.provider_type: only \"oauth2\" is supported",
        ));
    }
    let instance = match r.id.as_deref() {
        None => None,
        Some(id) => Some(
            ProviderSlug::parse(id)
                .map_err(|_| bad("requirement.id: must be the id of one of your providers"))?,
        ),
    };
    Ok(ToolRequirement {
        instance,
        scopes: r.oauth2.map(|o| o.scopes).unwrap_or_default(),
    })
}

fn changes(req: ToolRequest) -> Result<ToolChanges, ApiError> {
    Ok(ToolChanges {
        version: req.version.as_deref().map(ToolVersion::parse).transpose()?,
        description: req
            .description
            .map(|d| if d.is_empty() { None } else { Some(d) }),
        requirement: req.requirement.map(requirement).transpose()?,
    })
}

/// "tool not found" for a missing tool; every other error as it maps.
fn or_not_found(e: CoreError) -> ApiError {
    if let CoreError::NotFound(_) = e {
        not_found()
    } else {
        e.into()
    }
}

fn path_name(raw: &str) -> Result<ToolName, ApiError> {
    ToolName::parse(raw).map_err(|_| not_found())
}

fn created_key(
    rec: &latchkey_core::ports::ApiKeyRecord,
    secret: &secrecy::SecretString,
) -> CreatedApiKeyResponse {
    CreatedApiKeyResponse {
        key: crate::api_keys::response(rec),
        secret: secret.expose_secret().to_owned(),
    }
}

/// Register a tool.
///
/// Registers a tool (`Toolkit.Tool`) with its version, description and Discord requirement, and
/// issues its first tool key (role `tool`, bound to this tool). The key's secret is in this
/// response only. A requirement that pins a provider (`requirement.id`) must name an existing
/// provider configured with every declared scope. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_tools_create",
    post, path = "/v1/admin/tools", tag = "admin",
    security(("admin_key" = [])),
    request_body = ToolRequest,
    responses(
        (status = 201, description = "Registered; the tool key is shown once", body = ToolWithKeyResponse),
        (status = 400, description = "Invalid field, unknown provider, or the name is taken (`already_exists`)", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key, or a scope reserved by Discord", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    JsonBody(req): JsonBody<ToolRequest>,
) -> Result<(StatusCode, Json<ToolWithKeyResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(register_tool(&cp, &caller, req).await?),
    ))
}

/// Registers a tool and issues its first key (REST `create`, gRPC `RegisterTool`).
pub(crate) async fn register_tool(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    req: ToolRequest,
) -> Result<ToolWithKeyResponse, ApiError> {
    let name = ToolName::parse(
        req.name
            .as_deref()
            .ok_or_else(|| bad("name: is required"))?,
    )?;
    let changes = changes(req)?;
    let reg = tool::register_tool(
        cp.store.as_ref(),
        &cp.peppers,
        caller.tenant,
        name,
        changes,
        &crate::actor(caller),
    )
    .await?;
    tracing::info!(tool = %reg.tool.id, key_id = %reg.key.id, "tool registered");
    Ok(ToolWithKeyResponse {
        tool: response(&reg.tool),
        key: created_key(&reg.key, &reg.secret),
    })
}

/// List tools.
///
/// The tenant's registered tools by name, in offset pages (`limit` default and maximum 100).
/// Requires an admin key.
#[utoipa::path(
    operation_id = "admin_tools_list",
    get, path = "/v1/admin/tools", tag = "admin",
    security(("admin_key" = [])),
    params(("limit" = Option<u32>, Query, description = "Page size, 1–100"), ("offset" = Option<u64>, Query, description = "Items to skip")),
    responses(
        (status = 200, description = "A page of tools", body = latchkey_api::Page<ToolResponse>),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    page: PageQuery,
) -> Result<Json<Page<ToolResponse>>, ApiError> {
    Ok(Json(list_tools(&cp, &caller, page).await?))
}

/// A page of the caller's tenant's tools (REST `list`, gRPC `ListTools`).
pub(crate) async fn list_tools(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    page: PageQuery,
) -> Result<Page<ToolResponse>, ApiError> {
    let all: Vec<ToolResponse> = cp
        .store
        .list_tools(caller.tenant)
        .await
        .map_err(CoreError::from)?
        .iter()
        .map(response)
        .collect();
    Ok(page.page(&all))
}

/// Get a tool.
///
/// One registered tool by its name (`Toolkit.Tool`); unknown names and other tenants' tools
/// answer 404. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_tools_get",
    get, path = "/v1/admin/tools/{name}", tag = "admin",
    security(("admin_key" = [])),
    params(("name" = String, Path, description = "`Toolkit.Tool`")),
    responses(
        (status = 200, description = "The tool", body = ToolResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(name): Path<String>,
) -> Result<Json<ToolResponse>, ApiError> {
    Ok(Json(get_tool(&cp, &caller, &name).await?))
}

/// One tool by its name (REST `get`, gRPC `GetTool`).
pub(crate) async fn get_tool(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    name: &str,
) -> Result<ToolResponse, ApiError> {
    let t = cp
        .store
        .get_tool(caller.tenant, &path_name(name)?)
        .await
        .map_err(CoreError::from)?
        .ok_or_else(not_found)?;
    Ok(response(&t))
}

/// Change a tool.
///
/// Changes the version, description (`""` clears it) or requirement; absent fields stay as
/// they are. The name cannot change (`name`, if given, must equal the path). Tool keys stay
/// valid. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_tools_patch",
    patch, path = "/v1/admin/tools/{name}", tag = "admin",
    security(("admin_key" = [])),
    params(("name" = String, Path, description = "`Toolkit.Tool`")),
    request_body = ToolRequest,
    responses(
        (status = 200, description = "The changed tool", body = ToolResponse),
        (status = 400, description = "Invalid field or unknown provider", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key, or a scope reserved by Discord", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
    )
)]
pub(crate) async fn patch(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<ToolRequest>,
) -> Result<Json<ToolResponse>, ApiError> {
    Ok(Json(update_tool(&cp, &caller, &name, req).await?))
}

/// Merges the given fields into a tool (REST `patch`, gRPC `UpdateTool`).
pub(crate) async fn update_tool(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    name: &str,
    req: ToolRequest,
) -> Result<ToolResponse, ApiError> {
    let name = path_name(name)?;
    if req.name.as_deref().is_some_and(|n| n != name.qualified()) {
        return Err(bad("name: a tool cannot be renamed; register a new one"));
    }
    let t = tool::update_tool(
        cp.store.as_ref(),
        caller.tenant,
        &name,
        changes(req)?,
        &crate::actor(caller),
    )
    .await
    .map_err(or_not_found)?;
    tracing::info!(tool = %t.id, "tool changed");
    Ok(response(&t))
}

/// Delete a tool.
///
/// Deletes the tool and every tool key bound to it; those keys stop working on every replica
/// within five seconds (the authentication cache bound). Requires an admin key.
#[utoipa::path(
    operation_id = "admin_tools_delete",
    delete, path = "/v1/admin/tools/{name}", tag = "admin",
    security(("admin_key" = [])),
    params(("name" = String, Path, description = "`Toolkit.Tool`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_tool(&cp, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a tool and its keys (REST `delete`, gRPC `DeleteTool`).
pub(crate) async fn delete_tool(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    name: &str,
) -> Result<(), ApiError> {
    let name = path_name(name)?;
    let t = cp
        .store
        .get_tool(caller.tenant, &name)
        .await
        .map_err(CoreError::from)?
        .ok_or_else(not_found)?;
    match cp
        .store
        .delete_tool(
            caller.tenant,
            &name,
            &AuditEvent::success(&crate::actor(caller), "tool.delete", t.id.to_string()),
        )
        .await
    {
        Ok(()) => {
            tracing::info!(tool = %t.id, "tool deleted");
            Ok(())
        }
        Err(StoreError::NotFound) => Err(not_found()),
        Err(other) => Err(CoreError::from(other).into()),
    }
}

/// Issue a tool key.
///
/// Issues another key for the tool (role `tool`, bound to it); the secret is in this response
/// only. Rotate by issuing a key, deploying it, then revoking the old one through
/// `DELETE /v1/admin/api_keys/{id}`. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_tools_keys_create",
    post, path = "/v1/admin/tools/{name}/keys", tag = "admin",
    security(("admin_key" = [])),
    params(("name" = String, Path, description = "`Toolkit.Tool`")),
    responses(
        (status = 201, description = "Issued; the secret is shown once", body = CreatedApiKeyResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such tool", body = ErrorBody),
    )
)]
pub(crate) async fn create_key(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<CreatedApiKeyResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(issue_tool_key(&cp, &caller, &name).await?),
    ))
}

/// Issues another key for a tool (REST `create_key`, gRPC `IssueToolKey`).
pub(crate) async fn issue_tool_key(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    name: &str,
) -> Result<CreatedApiKeyResponse, ApiError> {
    let name = path_name(name)?;
    let (t, key, secret) = tool::issue_tool_key(
        cp.store.as_ref(),
        &cp.peppers,
        caller.tenant,
        &name,
        &crate::actor(caller),
    )
    .await
    .map_err(or_not_found)?;
    tracing::info!(tool = %t.id, key_id = %key.id, "tool key issued");
    Ok(created_key(&key, &secret))
}
