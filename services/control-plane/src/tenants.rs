//! `/v1/platform/tenants`: create, list, get and delete tenants (operator key only).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api::server::{ApiError, JsonBody, OperatorKey, PageQuery};
use latchkey_api::tenants::{
    CreateTenantRequest, CreatedTenantResponse, TenantPage, TenantResponse,
};
use latchkey_api::time::rfc3339;
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::tenant::{self, Tenant, TenantName};
use latchkey_core::{ApiKeyId, TenantId};
use secrecy::ExposeSecret;

use crate::ControlPlane;

fn response(t: &Tenant) -> TenantResponse {
    TenantResponse {
        id: t.id.to_string(),
        name: t.name.as_str().to_owned(),
        created_at: rfc3339(t.created_at.0),
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorName::NotFound, "tenant not found")
}

/// A tenant id from a path: anything that is not one answers like an unknown tenant.
fn path_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|_| not_found())
}

/// Creates a tenant with its first keys (REST `create`, gRPC `CreateTenant`).
pub(crate) async fn create_tenant(
    cp: &ControlPlane,
    operator: ApiKeyId,
    req: CreateTenantRequest,
) -> Result<CreatedTenantResponse, ApiError> {
    let name = TenantName::parse(&req.name)?;
    let created = tenant::create_tenant(
        cp.store.as_ref(),
        &cp.vault,
        &cp.peppers,
        name,
        &crate::operator_actor(operator),
    )
    .await?;
    tracing::info!(tenant_id = %created.tenant.id, "tenant created");
    let t = response(&created.tenant);
    Ok(CreatedTenantResponse {
        id: t.id,
        name: t.name,
        created_at: t.created_at,
        admin_key: created.admin_key.expose_secret().to_owned(),
        app_key: created.app_key.expose_secret().to_owned(),
    })
}

/// A page of every tenant (REST `list`, gRPC `ListTenants`).
pub(crate) async fn list_tenants(
    cp: &ControlPlane,
    page: PageQuery,
) -> Result<TenantPage, ApiError> {
    let all: Vec<TenantResponse> = cp
        .store
        .list_tenants()
        .await
        .map_err(latchkey_core::CoreError::from)?
        .iter()
        .map(response)
        .collect();
    Ok(page.page(&all))
}

/// One tenant by id (REST `get`, gRPC `GetTenant`).
pub(crate) async fn get_tenant(cp: &ControlPlane, id: &str) -> Result<TenantResponse, ApiError> {
    let id = path_id(id)?;
    let t = cp
        .store
        .get_tenant(id)
        .await
        .map_err(latchkey_core::CoreError::from)?
        .ok_or_else(not_found)?;
    Ok(response(&t))
}

/// Deletes a tenant, everything it owns and its data keys (REST `delete`, gRPC `DeleteTenant`).
pub(crate) async fn delete_tenant(
    cp: &ControlPlane,
    operator: ApiKeyId,
    id: &str,
) -> Result<(), ApiError> {
    let id = path_id(id)?;
    latchkey_core::connections::delete_tenant(
        cp.store.as_ref(),
        cp.fresh.as_ref(),
        &cp.vault,
        cp.revoker.as_ref(),
        id,
        &crate::operator_actor(operator),
    )
    .await
    .map_err(|e| {
        if let latchkey_core::CoreError::NotFound(_) = e {
            not_found()
        } else {
            e.into()
        }
    })
}

/// Create a tenant.
///
/// Creates a tenant with its own data key, one `admin` key and one `app` key. The keys are in
/// this response only and cannot be shown again. Requires the platform operator key.
#[utoipa::path(
    operation_id = "platform_tenants_create",
    post, path = "/v1/platform/tenants", tag = "platform",
    security(("operator_key" = [])),
    request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Created", body = CreatedTenantResponse),
        (status = 400, description = "Invalid name or body", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not the operator key", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(cp): State<ControlPlane>,
    OperatorKey(operator): OperatorKey,
    JsonBody(req): JsonBody<CreateTenantRequest>,
) -> Result<(StatusCode, Json<CreatedTenantResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(create_tenant(&cp, operator, req).await?),
    ))
}

/// List tenants.
///
/// Every tenant, oldest first, in offset pages (`limit` default and maximum 100, `offset`
/// default 0). Requires the platform operator key.
#[utoipa::path(
    operation_id = "platform_tenants_list",
    get, path = "/v1/platform/tenants", tag = "platform",
    security(("operator_key" = [])),
    params(("limit" = Option<u32>, Query, description = "Page size, 1–100"), ("offset" = Option<u64>, Query, description = "Items to skip")),
    responses(
        (status = 200, description = "A page of tenants", body = latchkey_api::Page<TenantResponse>),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not the operator key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    OperatorKey(_): OperatorKey,
    page: PageQuery,
) -> Result<Json<TenantPage>, ApiError> {
    Ok(Json(list_tenants(&cp, page).await?))
}

/// Get a tenant.
///
/// One tenant by id; an unknown, malformed or deleted id answers 404. Requires the platform
/// operator key.
#[utoipa::path(
    operation_id = "platform_tenants_get",
    get, path = "/v1/platform/tenants/{id}", tag = "platform",
    security(("operator_key" = [])),
    params(("id" = String, Path, description = "Tenant id (`tnt_…`)")),
    responses(
        (status = 200, description = "The tenant", body = TenantResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not the operator key", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(cp): State<ControlPlane>,
    OperatorKey(_): OperatorKey,
    Path(id): Path<String>,
) -> Result<Json<TenantResponse>, ApiError> {
    Ok(Json(get_tenant(&cp, &id).await?))
}

/// Delete a tenant.
///
/// Revokes every grant of the tenant at Discord, then deletes the tenant and everything it
/// owns — keys, providers, tools, grants, audit events — and destroys its data keys, so
/// anything left in backups cannot be decrypted with the live keys. If Discord cannot be
/// reached nothing is deleted and the answer is 502 `upstream_unavailable`: try again.
/// Requires the platform operator key.
#[utoipa::path(
    operation_id = "platform_tenants_delete",
    delete, path = "/v1/platform/tenants/{id}", tag = "platform",
    security(("operator_key" = [])),
    params(("id" = String, Path, description = "Tenant id (`tnt_…`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not the operator key", body = ErrorBody),
        (status = 404, description = "No such tenant", body = ErrorBody),
        (status = 502, description = "Discord could not be reached; nothing was deleted", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(cp): State<ControlPlane>,
    OperatorKey(operator): OperatorKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_tenant(&cp, operator, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
