//! `/v1/admin/user_connections`: users' grants in Arcade's shape (§10.2, admin key). Listing
//! filters by provider (an instance id, or `discord` for all) and by user, in both Arcade
//! spellings; deleting revokes the grant at Discord first, then deletes it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use latchkey_api::server::{AdminKey, ApiError, PageQuery};
use latchkey_api::tools::ConnectionResponse;
use latchkey_api::{ErrorBody, ErrorName, Page};
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::connections::{self, Connection};
use latchkey_core::user::UserId;
use latchkey_core::{CoreError, GrantId};

use crate::ControlPlane;

fn not_found() -> ApiError {
    ApiError::new(ErrorName::NotFound, "connection not found")
}

/// A missing connection answers like any unknown id.
fn connection_error(e: CoreError) -> ApiError {
    if let CoreError::NotFound(_) = e {
        not_found()
    } else {
        e.into()
    }
}

fn response(c: &Connection) -> ConnectionResponse {
    let mut scopes = c.grant.scopes.clone();
    scopes.sort();
    ConnectionResponse {
        id: c.grant.id.to_string(),
        connection_id: c.grant.id.to_string(),
        connection_status: c.grant.status.as_str().to_owned(),
        provider_id: c.provider.slug.as_str().to_owned(),
        provider_type: "oauth2".to_owned(),
        provider_description: c.provider.description.clone(),
        provider_user_info: c.user_info.clone(),
        scopes,
        user_id: c.grant.user_id.clone(),
        expires_at: latchkey_api::time::rfc3339(c.grant.expires_at.0),
    }
}

/// List users' connections.
///
/// The tenant's grants that are not revoked (`connection_status` `active`, `reauth_required`,
/// or `awaiting_ack` for an account switch waiting for an admin), oldest first, in offset pages. `provider_id` (or `provider[id]`) matches
/// a provider's id, or `discord` for every provider; `user_id` (or `user[id]`) matches exactly.
/// Requires an admin key.
#[utoipa::path(
    operation_id = "admin_user_connections_list",
    get, path = "/v1/admin/user_connections", tag = "admin",
    security(("admin_key" = [])),
    params(
        ("provider_id" = Option<String>, Query, description = "A provider's id, or `discord`; also spelt `provider[id]`"),
        ("user_id" = Option<String>, Query, description = "The user's id, exactly; also spelt `user[id]`"),
        ("limit" = Option<u32>, Query, description = "Page size, 1–100"),
        ("offset" = Option<u64>, Query, description = "Items to skip"),
    ),
    responses(
        (status = 200, description = "A page of connections", body = latchkey_api::Page<ConnectionResponse>),
        (status = 400, description = "Bad filter or paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    page: PageQuery,
    uri: Uri,
) -> Result<Json<Page<ConnectionResponse>>, ApiError> {
    let [provider, user] = crate::query::params(
        &uri,
        [&["provider_id", "provider[id]"], &["user_id", "user[id]"]],
    )?;
    Ok(Json(
        list_user_connections(&cp, &caller, provider, user, page).await?,
    ))
}

/// A page of the caller's tenant's connections, filtered by provider and user (REST `list`,
/// gRPC `ListUserConnections`).
pub(crate) async fn list_user_connections(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    provider: Option<String>,
    user: Option<String>,
    page: PageQuery,
) -> Result<Page<ConnectionResponse>, ApiError> {
    let user = user.map(|u| UserId::parse("user_id", &u)).transpose()?;
    if provider
        .as_ref()
        .is_some_and(|p| p.is_empty() || p.len() > 100)
    {
        return Err(ApiError::new(
            ErrorName::InvalidRequest,
            "provider_id: must be 1-100 characters",
        ));
    }
    let all = connections::list(
        cp.store.as_ref(),
        &cp.vault,
        caller.tenant,
        provider.as_deref(),
        user.as_ref().map(UserId::as_str),
    )
    .await?;
    let all: Vec<ConnectionResponse> = all.iter().map(response).collect();
    Ok(page.page(&all))
}

/// Delete a user's connection.
///
/// Deletes the grant at once and revokes it at Discord (Discord then revokes every token of
/// that user for the app): the revocation is owed in the same transaction, tried right away,
/// and while Discord fails retried in the background until Discord confirms (audited as
/// `connection.revoked`). Answers 204 with no body. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_user_connections_delete",
    delete, path = "/v1/admin/user_connections/{id}", tag = "admin",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "Connection id (`grt_…`)")),
    responses(
        (status = 204, description = "Deleted; the revocation at Discord is done or owed"),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    delete_user_connection(&cp, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a connection at Discord, then deletes it (REST `delete`, gRPC
/// `DeleteUserConnection`).
pub(crate) async fn delete_user_connection(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    id: &str,
) -> Result<(), ApiError> {
    let id = GrantId::parse(id).map_err(|_| not_found())?;
    connections::delete(
        cp.store.as_ref(),
        cp.fresh.as_ref(),
        &cp.vault,
        cp.revoker.as_ref(),
        caller.tenant,
        id,
        &crate::actor(caller),
    )
    .await
    .map_err(connection_error)?;
    tracing::info!(connection = %id, "connection revoked and deleted");
    Ok(())
}

/// Acknowledge an account switch.
///
/// When the tenant's `account_switch` policy is `require_ack`, a re-authorization that yields
/// another Discord account than the user's active connection leaves the new connection
/// `awaiting_ack` (audited `account_switched`) while the old one keeps serving tokens. This
/// makes the waiting connection active and deletes the user's other connections through that
/// provider, revoking them at Discord. Deleting the waiting connection instead rejects the
/// switch. Requires an admin key.
#[utoipa::path(
    operation_id = "admin_user_connections_acknowledge",
    post, path = "/v1/admin/user_connections/{id}/acknowledge", tag = "admin",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "Connection id (`grt_…`) awaiting acknowledgement")),
    responses(
        (status = 200, description = "The connection, now active", body = ConnectionResponse),
        (status = 400, description = "The connection is not awaiting acknowledgement", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such connection", body = ErrorBody),
    )
)]
pub(crate) async fn acknowledge(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(acknowledge_user_connection(&cp, &caller, &id).await?))
}

/// Activates a connection awaiting an account-switch acknowledgement (REST `acknowledge`, gRPC
/// `AcknowledgeUserConnection`).
pub(crate) async fn acknowledge_user_connection(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    id: &str,
) -> Result<ConnectionResponse, ApiError> {
    let id = GrantId::parse(id).map_err(|_| not_found())?;
    let c = connections::acknowledge(
        cp.store.as_ref(),
        cp.fresh.as_ref(),
        &cp.vault,
        cp.revoker.as_ref(),
        caller.tenant,
        id,
        &crate::actor(caller),
    )
    .await
    .map_err(connection_error)?;
    Ok(response(&c))
}
