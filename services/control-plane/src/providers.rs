//! `/v1/admin/auth_providers`: a tenant's Discord providers in Arcade's shape (admin key).
//! The client secret is write-only and reads back as `{exists, hint, editable, binding}`.

use axum::Json;
use axum::extract::{Path, State};
use latchkey_api::providers::{
    Binding, OAuth2Response, PkceSettings, PolicySettings, ProviderPage, ProviderRequest,
    ProviderResponse, SecretInfo,
};
use latchkey_api::server::{AdminKey, ApiError, JsonBody, PageQuery};
use latchkey_api::time::rfc3339;
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::provider::{
    self, DiscordClientId, ProviderChanges, ProviderPolicy, ProviderRecord, ProviderSlug,
    ProviderStatus,
};
use latchkey_core::{CoreError, TenantId};
use secrecy::SecretString;

use crate::ControlPlane;

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorName::InvalidRequest, message.into())
}

fn not_found() -> ApiError {
    ApiError::new(ErrorName::NotFound, "provider not found")
}

/// `""` clears an optional text field on patch.
fn text(v: Option<String>) -> Option<Option<String>> {
    v.map(|s| if s.is_empty() { None } else { Some(s) })
}

/// Turns a request into validated changes; `creating` makes the create-only fields required.
fn changes(
    cp: &ControlPlane,
    req: ProviderRequest,
    creating: bool,
) -> Result<ProviderChanges, ApiError> {
    match req.provider_id.as_deref() {
        Some("discord") => {}
        Some(_) => {
            return Err(ApiError::new(
                ErrorName::UnsupportedProvider,
                "provider_id: only \"discord\" is supported",
            ));
        }
        None if creating => return Err(bad("provider_id: is required (\"discord\")")),
        None => {}
    }
    if req.kind.as_deref().is_some_and(|k| k != "oauth2") {
        return Err(bad("type: only \"oauth2\" is supported"));
    }
    let oauth2 = match (req.oauth2, creating) {
        (Some(o), _) => o,
        (None, true) => return Err(bad("oauth2: is required (client_id and client_secret)")),
        (None, false) => Default::default(),
    };
    for (field, value) in [
        ("authorize_request", &oauth2.authorize_request),
        ("token_request", &oauth2.token_request),
        ("refresh_request", &oauth2.refresh_request),
        ("user_info_request", &oauth2.user_info_request),
        (
            "token_introspection_request",
            &oauth2.token_introspection_request,
        ),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(bad(format!(
                "oauth2.{field}: not accepted; Discord's endpoints are built in (see endpoint_origin)"
            )));
        }
    }
    if oauth2.scope_delimiter.as_deref().is_some_and(|d| d != " ") {
        return Err(bad("oauth2.scope_delimiter: Discord uses \" \""));
    }
    if let Some(p) = &oauth2.pkce
        && (p.enabled == Some(false)
            || p.code_challenge_method
                .as_deref()
                .is_some_and(|m| m != "S256"))
    {
        return Err(bad("oauth2.pkce: PKCE is always on, with S256"));
    }
    if creating && oauth2.client_id.is_none() {
        return Err(bad("oauth2.client_id: is required"));
    }
    if creating && oauth2.client_secret.is_none() {
        return Err(bad("oauth2.client_secret: is required"));
    }
    let endpoint_origin = text(req.endpoint_origin);
    if let Some(Some(origin)) = &endpoint_origin {
        provider::check_endpoint_origin(origin, &cp.allowed_endpoint_origins)?;
    }
    let policy = req.policy.map(|p| {
        let empty = p.required_guild_ids.is_empty()
            && p.required_role_ids.is_empty()
            && p.message.is_none();
        (!empty).then_some(ProviderPolicy {
            required_guild_ids: p.required_guild_ids,
            required_role_ids: p.required_role_ids,
            message: p.message,
        })
    });
    Ok(ProviderChanges {
        description: text(req.description),
        external_id: text(req.external_id),
        status: req
            .status
            .as_deref()
            .map(ProviderStatus::parse)
            .transpose()?,
        client_id: oauth2
            .client_id
            .as_deref()
            .map(DiscordClientId::parse)
            .transpose()?,
        client_secret: oauth2.client_secret.map(SecretString::from),
        scopes: req.scopes,
        policy,
        endpoint_origin,
    })
}

async fn response(
    cp: &ControlPlane,
    tenant: TenantId,
    p: &ProviderRecord,
) -> Result<ProviderResponse, ApiError> {
    let hint = provider::secret_hint(&provider::client_secret(&cp.vault, tenant, p).await?);
    Ok(ProviderResponse {
        id: p.slug.as_str().to_owned(),
        description: p.description.clone(),
        provider_id: "discord".to_owned(),
        kind: "oauth2".to_owned(),
        status: p.status.as_str().to_owned(),
        binding: Binding {
            kind: "tenant".to_owned(),
            id: tenant.to_string(),
        },
        created_at: rfc3339(p.created_at.0),
        updated_at: rfc3339(p.updated_at.0),
        oauth2: OAuth2Response {
            client_id: p.client_id.as_str().to_owned(),
            client_secret: SecretInfo {
                exists: true,
                hint,
                editable: true,
                binding: "tenant".to_owned(),
            },
            redirect_uri: latchkey_core::provider::redirect_uri(&cp.public_url, p.id),
            scope_delimiter: " ".to_owned(),
            pkce: PkceSettings {
                enabled: Some(true),
                code_challenge_method: Some("S256".to_owned()),
            },
        },
        scopes: p.scopes.clone(),
        policy: p.policy.as_ref().map(|p| PolicySettings {
            required_guild_ids: p.required_guild_ids.clone(),
            required_role_ids: p.required_role_ids.clone(),
            message: p.message.clone(),
        }),
        endpoint_origin: p.endpoint_origin.clone(),
    })
}

fn slug(raw: &str) -> Result<ProviderSlug, ApiError> {
    ProviderSlug::parse(raw).map_err(|_| not_found())
}

async fn load(
    cp: &ControlPlane,
    tenant: TenantId,
    id: &ProviderSlug,
) -> Result<ProviderRecord, ApiError> {
    cp.store
        .get_provider(tenant, id.as_str())
        .await
        .map_err(CoreError::from)?
        .ok_or_else(not_found)
}

/// Registers a provider (REST `create`, gRPC `CreateAuthProvider`).
pub(crate) async fn create_auth_provider(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    req: ProviderRequest,
) -> Result<ProviderResponse, ApiError> {
    let id = ProviderSlug::parse(req.id.as_deref().ok_or_else(|| bad("id: is required"))?)?;
    let changes = changes(cp, req, true)?;
    let rec = provider::create_provider(
        cp.store.as_ref(),
        &cp.vault,
        caller.tenant,
        id,
        changes,
        &crate::actor(caller),
    )
    .await?;
    tracing::info!(provider = %rec.id, "provider created");
    response(cp, caller.tenant, &rec).await
}

/// A page of the tenant's providers (REST `list`, gRPC `ListAuthProviders`).
pub(crate) async fn list_auth_providers(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    page: PageQuery,
) -> Result<ProviderPage, ApiError> {
    let all = cp
        .store
        .list_providers(caller.tenant)
        .await
        .map_err(CoreError::from)?;
    let (records, page_count, total_count) = page.slice(&all);
    let mut items = Vec::with_capacity(records.len());
    for r in &records {
        items.push(response(cp, caller.tenant, r).await?);
    }
    Ok(ProviderPage {
        items,
        limit: page.limit,
        offset: page.offset,
        page_count,
        total_count,
    })
}

/// One provider by id (REST `get`, gRPC `GetAuthProvider`).
pub(crate) async fn get_auth_provider(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    id: &str,
) -> Result<ProviderResponse, ApiError> {
    let rec = load(cp, caller.tenant, &slug(id)?).await?;
    response(cp, caller.tenant, &rec).await
}

/// Merges changes into a provider (REST `patch`, gRPC `UpdateAuthProvider`). `req.id`, if
/// given, must equal `id`.
pub(crate) async fn update_auth_provider(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    id: &str,
    req: ProviderRequest,
) -> Result<ProviderResponse, ApiError> {
    let id = slug(id)?;
    if req
        .id
        .as_deref()
        .is_some_and(|body_id| body_id != id.as_str())
    {
        return Err(bad("id: a provider cannot be renamed"));
    }
    let changes = changes(cp, req, false)?;
    let rec = provider::update_provider(
        cp.store.as_ref(),
        &cp.vault,
        caller.tenant,
        &id,
        changes,
        &crate::actor(caller),
    )
    .await?;
    tracing::info!(provider = %rec.id, "provider changed");
    response(cp, caller.tenant, &rec).await
}

/// Deletes a provider and answers with it as it was (REST `delete`, gRPC `DeleteAuthProvider`).
pub(crate) async fn delete_auth_provider(
    cp: &ControlPlane,
    caller: &TenantPrincipal,
    id: &str,
) -> Result<ProviderResponse, ApiError> {
    let id = slug(id)?;
    let rec = load(cp, caller.tenant, &id).await?;
    let body = response(cp, caller.tenant, &rec).await?;
    latchkey_core::connections::delete_provider(
        cp.store.as_ref(),
        cp.fresh.as_ref(),
        &cp.vault,
        cp.revoker.as_ref(),
        caller.tenant,
        &id,
        &crate::actor(caller),
    )
    .await
    .map_err(|e| {
        if let CoreError::NotFound(_) | CoreError::Store(latchkey_core::StoreError::NotFound) = e {
            not_found()
        } else {
            e.into()
        }
    })?;
    Ok(body)
}

/// Create a provider.
///
/// Registers one of the tenant's Discord applications. `oauth2.client_secret` is stored
/// encrypted and never returned. The response's `oauth2.redirect_uri` is the exact callback
/// URL to register at Discord. Requires an admin key.
#[utoipa::path(
    post, path = "/v1/admin/auth_providers", tag = "admin",
    operation_id = "admin_auth_providers_create",
    security(("admin_key" = [])),
    request_body = ProviderRequest,
    responses(
        (status = 200, description = "Created", body = ProviderResponse),
        (status = 400, description = "Invalid field, duplicate id (`already_exists`), or client id in use", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key, or a scope reserved by Discord (`scope_not_allowed`)", body = ErrorBody),
    )
)]
pub(crate) async fn create(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    JsonBody(req): JsonBody<ProviderRequest>,
) -> Result<Json<ProviderResponse>, ApiError> {
    Ok(Json(create_auth_provider(&cp, &caller, req).await?))
}

/// List providers.
///
/// The tenant's providers, oldest first, in offset pages (`limit` default and maximum 100).
/// Secrets are never included. Requires an admin key.
#[utoipa::path(
    get, path = "/v1/admin/auth_providers", tag = "admin",
    operation_id = "admin_auth_providers_list",
    security(("admin_key" = [])),
    params(("limit" = Option<u32>, Query, description = "Page size, 1–100"), ("offset" = Option<u64>, Query, description = "Items to skip")),
    responses(
        (status = 200, description = "A page of providers", body = latchkey_api::Page<ProviderResponse>),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
    )
)]
pub(crate) async fn list(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    page: PageQuery,
) -> Result<Json<ProviderPage>, ApiError> {
    Ok(Json(list_auth_providers(&cp, &caller, page).await?))
}

/// Get a provider.
///
/// One provider by its id; unknown ids and other tenants' providers answer 404. Requires an
/// admin key.
#[utoipa::path(
    get, path = "/v1/admin/auth_providers/{id}", tag = "admin",
    operation_id = "admin_auth_providers_get",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "The provider", body = ProviderResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
    )
)]
pub(crate) async fn get(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<ProviderResponse>, ApiError> {
    Ok(Json(get_auth_provider(&cp, &caller, &id).await?))
}

/// Change a provider.
///
/// Merges the given fields into the provider, inside `oauth2` too; absent or null fields stay
/// as they are. A new `client_secret` replaces the old one. The id cannot be changed (`id`, if
/// given, must equal the path). Requires an admin key.
#[utoipa::path(
    patch, path = "/v1/admin/auth_providers/{id}", tag = "admin",
    operation_id = "admin_auth_providers_patch",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "The provider's id")),
    request_body = ProviderRequest,
    responses(
        (status = 200, description = "The changed provider", body = ProviderResponse),
        (status = 400, description = "Invalid field", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key, or a scope reserved by Discord", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
    )
)]
pub(crate) async fn patch(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ProviderRequest>,
) -> Result<Json<ProviderResponse>, ApiError> {
    Ok(Json(update_auth_provider(&cp, &caller, &id, req).await?))
}

/// Delete a provider.
///
/// Deletes the provider with its grants and authorizations at once, and answers with it as it
/// was. Each grant's revocation at Discord is owed in the same transaction and tried right
/// away; while Discord fails it is retried in the background until Discord confirms. Requires
/// an admin key.
#[utoipa::path(
    delete, path = "/v1/admin/auth_providers/{id}", tag = "admin",
    operation_id = "admin_auth_providers_delete",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "The deleted provider", body = ProviderResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
    )
)]
pub(crate) async fn delete(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<ProviderResponse>, ApiError> {
    Ok(Json(delete_auth_provider(&cp, &caller, &id).await?))
}

/// Test a provider's credentials.
///
/// Asks Discord whether the provider's client id and secret are right (a client-credentials
/// grant for `identify`, whose token is revoked at once): `ok` with what it means, or what to
/// fix. 502 `upstream_unavailable` when Discord cannot be reached. Requires an admin key.
#[utoipa::path(
    post, path = "/v1/admin/auth_providers/{id}/test", tag = "admin",
    operation_id = "admin_auth_providers_test",
    security(("admin_key" = [])),
    params(("id" = String, Path, description = "The provider's id")),
    responses(
        (status = 200, description = "What Discord said", body = latchkey_api::providers::ProviderCheckResponse),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 404, description = "No such provider", body = ErrorBody),
        (status = 502, description = "Discord could not be reached", body = ErrorBody),
    )
)]
pub(crate) async fn test(
    State(cp): State<ControlPlane>,
    AdminKey(caller): AdminKey,
    Path(id): Path<String>,
) -> Result<Json<latchkey_api::providers::ProviderCheckResponse>, ApiError> {
    use latchkey_core::ports::{DiscordAppRef, DiscordCallError};
    let rec = load(&cp, caller.tenant, &slug(&id)?).await?;
    let secret = latchkey_core::provider::client_secret(&cp.vault, caller.tenant, &rec).await?;
    let app = DiscordAppRef {
        client_id: rec.client_id.as_str(),
        client_secret: &secret,
        redirect_uri: "",
        endpoint_origin: rec.endpoint_origin.as_deref(),
    };
    let (ok, message) = match cp.discord.check_credentials(&app).await {
        Ok(()) => (
            true,
            "Discord accepted the client ID and secret. Users can connect once the redirect URI is registered in the developer portal.".to_owned(),
        ),
        Err(DiscordCallError::Refused(e)) => {
            tracing::info!(provider = %rec.slug.as_str(), error = %e, "provider credentials refused by Discord");
            (
                false,
                "Discord refused the client ID or secret: copy both again from the developer portal (OAuth2 page; reset the secret if unsure) and save them here.".to_owned(),
            )
        }
        Err(DiscordCallError::Unavailable(e)) => {
            tracing::warn!(provider = %rec.slug.as_str(), error = %e, "provider credential check: Discord unavailable");
            return Err(ApiError::new(
                ErrorName::UpstreamUnavailable,
                "Discord could not be reached to check the credentials; try again shortly",
            ));
        }
    };
    Ok(Json(latchkey_api::providers::ProviderCheckResponse {
        ok,
        message,
    }))
}
