//! `/v1/tools` and `/v1/tools/{name}` (app key): the tenant's tools as Arcade's
//! `ToolDefinition` (specs/arcade-compat.md §9), with `token_status` and `met` for one user when
//! `user_id` is given. `include_format` is accepted and ignored.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::Uri;
use latchkey_api::server::{ApiError, AppKey, PageQuery};
use latchkey_api::tools::{
    AuthorizationRequirement, ToolDefinition, ToolInput, ToolRequirements, ToolkitResponse,
};
use latchkey_api::{ErrorBody, ErrorName, Page};
use latchkey_core::catalog::requirement_state;
use latchkey_core::provider::ProviderRecord;
use latchkey_core::tool::{ToolName, ToolRecord};
use latchkey_core::user::UserId;
use latchkey_core::{CoreError, TenantId};

use crate::ControlPlane;

fn not_found() -> ApiError {
    ApiError::new(ErrorName::NotFound, "tool not found")
}

async fn definition(
    cp: &ControlPlane,
    tenant: TenantId,
    providers: &[ProviderRecord],
    t: &ToolRecord,
    user: Option<&UserId>,
) -> Result<ToolDefinition, ApiError> {
    let state = requirement_state(cp.store.as_ref(), tenant, providers, t, user).await?;
    Ok(ToolDefinition {
        fully_qualified_name: format!("{}@{}", t.name.qualified(), t.version.as_str()),
        qualified_name: t.name.qualified(),
        name: t.name.tool().to_owned(),
        description: t.description.clone().unwrap_or_default(),
        toolkit: ToolkitResponse {
            name: t.name.toolkit().to_owned(),
            version: t.version.as_str().to_owned(),
        },
        input: ToolInput::default(),
        requirements: ToolRequirements {
            authorization: AuthorizationRequirement {
                declared: crate::tools::requirement_response(&t.requirement),
                status: if state.active { "active" } else { "inactive" }.to_owned(),
                status_reason: state.reason.to_owned(),
                token_status: state.token_status.map(|s| s.as_str().to_owned()),
            },
            met: state.met(),
        },
    })
}

fn user(raw: Option<String>) -> Result<Option<UserId>, ApiError> {
    Ok(raw.map(|u| UserId::parse("user_id", &u)).transpose()?)
}

/// List tools.
///
/// The tenant's registered tools as Arcade `ToolDefinition`s, by name, in offset pages.
/// `toolkit` filters by exact toolkit name. With `user_id`, each tool's
/// `requirements.authorization.token_status` and `requirements.met` say whether that user's
/// grant already covers it. Requires an app key.
#[utoipa::path(
    operation_id = "tools_list",
    get, path = "/v1/tools", tag = "tools",
    security(("app_key" = [])),
    params(
        ("toolkit" = Option<String>, Query, description = "Only this toolkit (exact)"),
        ("user_id" = Option<String>, Query, description = "Fill token_status and met for this user"),
        ("include_format" = Option<String>, Query, description = "Accepted and ignored"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–100"),
        ("offset" = Option<u64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of tool definitions", body = latchkey_api::Page<ToolDefinition>),
        (status = 400, description = "Bad user_id or paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    AppKey(caller): AppKey,
    page: PageQuery,
    uri: Uri,
) -> Result<Json<Page<ToolDefinition>>, ApiError> {
    let [toolkit, user_id] = crate::query::params(&uri, [&["toolkit"], &["user_id"]])?;
    let user = user(user_id)?;
    let tools: Vec<ToolRecord> = cp
        .store
        .list_tools(caller.tenant)
        .await
        .map_err(CoreError::from)?
        .into_iter()
        .filter(|t| toolkit.as_deref().is_none_or(|k| t.name.toolkit() == k))
        .collect();
    let (tools, page_count, total_count) = page.slice(&tools);
    let providers = cp
        .store
        .list_providers(caller.tenant)
        .await
        .map_err(CoreError::from)?;
    let mut items = Vec::with_capacity(tools.len());
    for t in &tools {
        items.push(definition(&cp, caller.tenant, &providers, t, user.as_ref()).await?);
    }
    Ok(Json(Page {
        items,
        limit: page.limit,
        offset: page.offset,
        page_count,
        total_count,
    }))
}

/// Get a tool.
///
/// One tool as an Arcade `ToolDefinition`, addressed as `Toolkit.Tool`, `Toolkit.Tool@1.2.3`
/// or `Toolkit_Tool` (case-sensitive). A version in the name or in `tool_version` must equal the
/// catalogue's, else 404. With `user_id`, `token_status` and `met` are filled. Requires an
/// app key.
#[utoipa::path(
    operation_id = "tools_get",
    get, path = "/v1/tools/{name}", tag = "tools",
    security(("app_key" = [])),
    params(
        ("name" = String, Path, description = "`Toolkit.Tool`, `Toolkit.Tool@version` or `Toolkit_Tool`"),
        ("user_id" = Option<String>, Query, description = "Fill token_status and met for this user"),
        ("tool_version" = Option<String>, Query, description = "Must equal the catalogue version"),
        ("include_format" = Option<String>, Query, description = "Accepted and ignored"),
    ),
    responses(
        (status = 200, description = "The tool definition", body = ToolDefinition),
        (status = 400, description = "Bad user_id", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key", body = ErrorBody),
        (status = 404, description = "No such tool (or another version)", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(cp): State<ControlPlane>,
    AppKey(caller): AppKey,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<ToolDefinition>, ApiError> {
    let [user_id, tool_version] = crate::query::params(&uri, [&["user_id"], &["tool_version"]])?;
    let user = user(user_id)?;
    let (name, version) = ToolName::parse_reference(&name).ok_or_else(not_found)?;
    let t = cp
        .store
        .get_tool(caller.tenant, &name)
        .await
        .map_err(CoreError::from)?
        .ok_or_else(not_found)?;
    let wanted = version
        .as_ref()
        .map(|v| v.as_str().to_owned())
        .into_iter()
        .chain(tool_version);
    for v in wanted {
        if v != t.version.as_str() {
            return Err(not_found());
        }
    }
    let providers = cp
        .store
        .list_providers(caller.tenant)
        .await
        .map_err(CoreError::from)?;
    Ok(Json(
        definition(&cp, caller.tenant, &providers, &t, user.as_ref()).await?,
    ))
}
