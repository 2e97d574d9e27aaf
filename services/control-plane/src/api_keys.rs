//! `/v1/admin/api_keys`: a tenant's admin and app keys (admin key). A key's secret is in the
//! create response only; lists never carry secrets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use latchkey_api::api_keys::{
    ApiKeyPage, ApiKeyResponse, CreateApiKeyRequest, CreatedApiKeyResponse,
};
use latchkey_api::server::{AdminKey, ApiError, JsonBody, PageQuery};
use latchkey_api::time::rfc3339;
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::apikey::KeyRole;
use latchkey_core::audit::AuditEvent;
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::ports::ApiKeyRecord;
use latchkey_core::tenant::Label;
use latchkey_core::time::UnixMillis;
use latchkey_core::{ApiKeyId, CoreError, StoreError};
use secrecy::ExposeSecret;

use crate::ControlPlane;

pub(crate) fn response(k: &ApiKeyRecord) -> ApiKeyResponse {
    ApiKeyResponse {
        id: k.id.to_string(),
        name: k.name.clone(),
        role: k.role.as_str().to_owned(),
        tool_id: k.tool_id.clone(),
        created_at: rfc3339(k.created_at.0),
        last_used_at: k.last_used_at.map(|t| rfc3339(t.0)),
        revoked_at: k.revoked_at.map(|t| rfc3339(t.0)),
    }
}

fn not_found() -> ApiError {
    ApiError::new(ErrorName::NotFound, "API key not found")
}

/// Mints an `admin` or `app` key for the caller's tenant (REST `create`, gRPC `CreateApiKey`).
pub(crate) async fn create_api_key(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    req: CreateApiKeyRequest,
) -> Result<CreatedApiKeyResponse, ApiError> {
    let name = Label::parse("name", &req.name)?;
    let role = match KeyRole::parse(&req.role) {
        Some(r @ (KeyRole::Admin | KeyRole::App)) => r,
        Some(KeyRole::Tool) => {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                "role: tool keys are issued when a tool is registered",
            ));
        }
        Some(KeyRole::Operator) | None => {
            return Err(ApiError::new(
                ErrorName::InvalidRequest,
                "role: must be \"admin\" or \"app\"",
            ));
        }
    };
    let (rec, whole) = cp.peppers.mint_tenant_key(role, None, name.as_str());
    cp.store
        .insert_api_key(
            caller.tenant,
            &rec,
            &AuditEvent::success(&crate::actor(caller), "api_key.create", rec.id.to_string()),
        )
        .await
        .map_err(CoreError::from)?;
    tracing::info!(key_id = %rec.id, role = role.as_str(), "API key created");
    Ok(CreatedApiKeyResponse {
        key: response(&rec),
        secret: whole.expose_secret().to_owned(),
    })
}

/// A page of the caller's tenant's keys (REST `list`, gRPC `ListApiKeys`).
pub(crate) async fn list_api_keys(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    page: PageQuery,
) -> Result<ApiKeyPage, ApiError> {
    let all: Vec<ApiKeyResponse> = cp
        .store
        .list_api_keys(caller.tenant)
        .await
        .map_err(CoreError::from)?
        .iter()
        .map(response)
        .collect();
    Ok(page.page(&all))
}

/// Create an API key.
///
/// Mints an `admin` or `app` key for the caller's tenant. The whole key (`lk_<id>_<secret>`)
/// is in this response only; Latchkey stores an HMAC of it and cannot show it again. Tool keys
/// are issued when a tool is registered. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_api_keys_create",
    post, path = "/v1/admin/api_keys", tag = "admin",
    security(("admin_key" = [])),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = CreatedApiKeyResponse),
        (status = 400, description = "Invalid name or role", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    JsonBody(req): JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKeyResponse>), ApiError> {
    let created = create_api_key(&cp, &caller, req).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List API keys.
///
/// The caller's tenant's keys, oldest first, revoked ones included, never with a secret.
/// Offset pages (`limit` default and maximum 100). Requires an admin key.
#[utoipa::path(
    operation_id = "admin_api_keys_list",
    get, path = "/v1/admin/api_keys", tag = "admin",
    security(("admin_key" = [])),
    params(("limit" = Option<u32>, Query, description = "Page size, 1–100"), ("offset" = Option<u64>, Query, description = "Items to skip")),
    responses(
        (status = 200, description = "A page of keys", body = latchkey_api::Page<ApiKeyResponse>),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    page: PageQuery,
) -> Result<Json<ApiKeyPage>, ApiError> {
    Ok(Json(list_api_keys(&cp, &caller, page).await?))
}

/// Revoke an API key.
///
/// Revokes one of the caller's tenant's keys. It stops working on every replica within five
/// seconds (the authentication cache bound). An unknown key, another tenant's key and an
/// already revoked key all answer 404. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_api_keys_revoke",
    delete, path = "/v1/admin/api_keys/{id}", tag = "admin",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "Key id (`key_…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such key in this tenant", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    revoke_api_key(&cp, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes one of the caller's tenant's keys (REST `revoke`, gRPC `RevokeApiKey`).
pub(crate) async fn revoke_api_key(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    id: &str,
) -> Result<(), ApiError> {
    let id = ApiKeyId::parse(id).map_err(|_| not_found())?;
    match cp
        .store
        .revoke_api_key(
            caller.tenant,
            id,
            UnixMillis::now(),
            &AuditEvent::success(&crate::actor(caller), "api_key.revoke", id.to_string()),
        )
        .await
    {
        Ok(()) => {
            tracing::info!(key_id = %id, "API key revoked");
            Ok(())
        }
        Err(StoreError::NotFound) => Err(not_found()),
        Err(other) => Err(CoreError::from(other).into()),
    }
}
