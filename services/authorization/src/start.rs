//! `POST /v1/auth/authorize` (arcade-compat §8.1): validate → resolve the provider (§7) →
//! compute the scope set (§6.6) → `completed` with the token when the user's active grant holds
//! every scope → else reuse an unused `pending` authorization with the same user, provider and
//! `next_uri` whose scopes cover the request, or create one (refused with
//! `verification_not_configured`, creating nothing, when the tenant has neither a verifier nor
//! skipping in effect).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use latchkey_api::auth::{
    AuthorizationContext, AuthorizationResponse, AuthorizeRequest, forbidden_field,
};
use latchkey_api::server::{ApiError, AppKey, JsonBody};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::auth::TenantPrincipal;
use latchkey_core::authorization::{self, AuthorizationRecord, AuthorizationStatus, FlowRecord};
use latchkey_core::custody::Released;
use latchkey_core::grant::{self, GrantRecord};
use latchkey_core::provider::ProviderRecord;
use latchkey_core::resolve;
use latchkey_core::settings::VerificationSettings;
use latchkey_core::user::UserId;
use latchkey_core::{AuthorizationId, CoreError, TenantId};
use secrecy::ExposeSecret;

use crate::{Authorizer, store_err};

/// Start (or reuse) an authorization.
///
/// Arcade's `auth.authorize` / `auth.start`. Answers `completed` with `context.token` (the
/// Discord access token) and `context.user_info` when the user's grant through the resolved
/// provider holds every requested scope; otherwise `pending` with `url`, the start link to show
/// the user. Scopes are unioned with the ones already granted (incremental authorization).
/// Requires an app key.
#[utoipa::path(
    operation_id = "auth_authorize",
    post, path = "/v1/auth/authorize", tag = "auth",
    security(("app_key" = [])),
    request_body = AuthorizeRequest,
    responses(
        (status = 200, description = "`pending` with `url`, or `completed` with `context`", body = AuthorizationResponse),
        (status = 400, description = "`invalid_request`, `unknown_provider`, `ambiguous_provider`, `provider_inactive`, `next_uri_not_allowed` or `verification_not_configured`", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not an app key, or `scope_not_allowed`", body = ErrorBody),
    )
)]
pub async fn authorize(
    State(az): State<Authorizer>,
    AppKey(caller): AppKey,
    JsonBody(req): JsonBody<AuthorizeRequest>,
) -> Result<Response, ApiError> {
    let r = start(&az, &caller, req).await?;
    Ok(answer(r))
}

/// A JSON answer; `no-store` when it carries a token.
pub(crate) fn answer(r: AuthorizationResponse) -> Response {
    let token = r.context.is_some();
    let mut resp = Json(r).into_response();
    if token {
        resp.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-store"),
        );
    }
    resp
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorName::InvalidRequest, message.into())
}

/// Checks a provider reference (`id`, `provider_id`, `provider_type`): `""` counts as absent
/// (arcade-compat §7); anything else is at most 100 characters with no padding and nothing
/// hidden.
fn check_name(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(());
    };
    if v.chars().count() > 100 || v.trim() != v || v.chars().any(latchkey_core::text::is_hidden) {
        return Err(invalid(format!(
            "{field}: at most 100 characters, without surrounding spaces or control characters"
        )));
    }
    Ok(())
}

/// Checks the requested scopes: non-empty, no whitespace, each configured on the provider.
fn requested_scopes(p: &ProviderRecord, scopes: &[String]) -> Result<(), ApiError> {
    if scopes.len() > 50 {
        return Err(invalid("auth_requirement.oauth2.scopes: at most 50 scopes"));
    }
    for s in scopes {
        if s.is_empty() || s.len() > 100 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid(
                "auth_requirement.oauth2.scopes: every scope must be a non-empty string without whitespace",
            ));
        }
        if s != "identify" && !p.scopes.contains(s) {
            return Err(ApiError::from(CoreError::ScopeNotAllowed(s.clone())));
        }
    }
    Ok(())
}

/// Checks `next_uri` against the tenant's allow-list (arcade-compat §8.1; security.md V11).
pub(crate) fn allowed_next_uri(raw: &str, settings: &VerificationSettings) -> bool {
    let Ok(u) = url::Url::parse(raw) else {
        return false;
    };
    if !matches!(u.scheme(), "https" | "http")
        || !u.username().is_empty()
        || u.password().is_some()
        || u.fragment().is_some()
    {
        return false;
    }
    let origin = u.origin().ascii_serialization();
    settings.allowed_next_uri_origins.contains(&origin)
}

/// The use case behind REST `authorize` and gRPC `Start`.
pub async fn start(
    az: &Authorizer,
    caller: &TenantPrincipal,
    req: AuthorizeRequest,
) -> Result<AuthorizationResponse, ApiError> {
    let tenant = caller.tenant;
    for unknown in [
        Some(&req.unknown),
        Some(&req.auth_requirement.unknown),
        req.auth_requirement.oauth2.as_ref().map(|o| &o.unknown),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(f) = forbidden_field(unknown) {
            return Err(invalid(format!(
                "{f}: Latchkey sets Discord's authorize parameters itself; remove this field"
            )));
        }
    }
    let user = UserId::parse("user_id", &req.user_id)?;
    let ar = &req.auth_requirement;
    check_name("auth_requirement.id", ar.id.as_deref())?;
    check_name("auth_requirement.provider_id", ar.provider_id.as_deref())?;
    check_name(
        "auth_requirement.provider_type",
        ar.provider_type.as_deref(),
    )?;
    if ar.provider_type.as_deref().is_some_and(|t| t != "oauth2") {
        return Err(invalid(
            "auth_requirement.provider_type: only \"oauth2\" is supported",
        ));
    }
    let providers = az.store.list_providers(tenant).await.map_err(store_err)?;
    let provider = resolve::resolve(&providers, ar.id.as_deref(), ar.provider_id.as_deref())?;
    let requested = ar
        .oauth2
        .as_ref()
        .and_then(|o| o.scopes.clone())
        .unwrap_or_default();
    requested_scopes(provider, &requested)?;
    let extra: Vec<String> = match &provider.policy {
        Some(p) if !p.required_guild_ids.is_empty() => vec!["guilds.members.read".to_owned()],
        Some(_) | None => Vec::new(),
    };
    let wanted = authorization::scope_set(&requested, &provider.scopes, &extra);
    let settings = az
        .store
        .verification_settings(tenant)
        .await
        .map_err(store_err)?
        .unwrap_or_default();
    if let Some(n) = &req.next_uri
        && (n.chars().count() > 2048 || !allowed_next_uri(n, &settings))
    {
        return Err(ApiError::new(
            ErrorName::NextUriNotAllowed,
            "next_uri: must be an absolute URL whose origin is in your allowed_next_uri_origins (PUT /v1/admin/settings/session_verification)",
        ));
    }

    let existing = az
        .store
        .active_grant(tenant, user.as_str(), provider.id)
        .await
        .map_err(store_err)?;
    if let Some(g) = existing.clone().filter(|g| grant::covers(g, &wanted)) {
        // Refreshed first when close to expiry; a refused refresh token starts a new flow.
        if let Some(done) = released(az, tenant, provider, g, None).await? {
            return Ok(done);
        }
    }
    let actor = crate::key_actor(caller);
    let (a, token) = authorization::open(
        az.store.as_ref(),
        &az.vault,
        authorization::Opening {
            tenant,
            actor: &actor,
            user_id: user.as_str(),
            provider,
            wanted,
            existing: existing.as_ref(),
            next_uri: req.next_uri.clone(),
            lifetime: az.flow_lifetime,
            settings: &settings,
            skip_allowed: az.skip_allowed,
        },
    )
    .await?;
    Ok(pending(az, provider, &a, token.expose_secret()))
}

/// A `pending` answer with the start link.
fn pending(
    az: &Authorizer,
    p: &ProviderRecord,
    a: &AuthorizationRecord,
    start_token: &str,
) -> AuthorizationResponse {
    AuthorizationResponse {
        id: a.id.to_string(),
        status: "pending".to_owned(),
        url: Some(az.start_url(start_token)),
        provider_id: p.slug.as_str().to_owned(),
        scopes: a.scopes.clone(),
        user_id: a.user_id.clone(),
        context: None,
    }
}

/// A `completed` answer with grant `g`'s access token (refreshed first when close to expiry),
/// or `None` when the user must authorize again. `id` is the authorization to name (default:
/// the one that made the grant).
pub(crate) async fn released(
    az: &Authorizer,
    tenant: TenantId,
    p: &ProviderRecord,
    g: GrantRecord,
    id: Option<AuthorizationId>,
) -> Result<Option<AuthorizationResponse>, ApiError> {
    let (g, token) = match az.custody.release(tenant, p, g).await? {
        Released::Token(g, token) => (*g, token),
        Released::ReauthRequired => return Ok(None),
    };
    let user_info = grant::user_info(&az.vault, tenant, &g).await?;
    let mut scopes = g.scopes.clone();
    scopes.push("identify".to_owned());
    scopes.sort();
    scopes.dedup();
    let id = id
        .or(g.authorization)
        .map(|a| a.to_string())
        .unwrap_or_else(|| g.id.to_string());
    Ok(Some(AuthorizationResponse {
        id,
        status: "completed".to_owned(),
        url: None,
        provider_id: p.slug.as_str().to_owned(),
        scopes,
        user_id: g.user_id.clone(),
        context: Some(AuthorizationContext {
            token: token.expose_secret().to_owned(),
            user_info,
        }),
    }))
}

/// The answer for an authorization as stored (`status`).
pub(crate) async fn view(
    az: &Authorizer,
    tenant: TenantId,
    a: &AuthorizationRecord,
    f: &FlowRecord,
) -> Result<AuthorizationResponse, ApiError> {
    let provider = az.provider(tenant, a.provider).await?;
    let slug = provider
        .as_ref()
        .map(|p| p.slug.as_str().to_owned())
        .unwrap_or_default();
    let base = AuthorizationResponse {
        id: a.id.to_string(),
        status: a.status.as_str().to_owned(),
        url: None,
        provider_id: slug,
        scopes: a.scopes.clone(),
        user_id: a.user_id.clone(),
        context: None,
    };
    match a.status {
        AuthorizationStatus::Completed => {
            let Some(p) = provider else {
                return Ok(base);
            };
            let g = az
                .store
                .active_grant(tenant, &a.user_id, a.provider)
                .await
                .map_err(store_err)?;
            // Never another Discord account's token than the one this authorization consented
            // with (a switch awaiting acknowledgement leaves the old account's grant active).
            let same_account = |g: &grant::GrantRecord| {
                f.discord_user_id
                    .as_deref()
                    .is_none_or(|d| d == g.discord_user_id)
            };
            match g {
                Some(g) if grant::covers(&g, &a.scopes) && same_account(&g) => {
                    Ok(released(az, tenant, &p, g, Some(a.id))
                        .await?
                        .unwrap_or(base))
                }
                Some(_) | None => Ok(base),
            }
        }
        AuthorizationStatus::Pending | AuthorizationStatus::NotStarted => {
            let token =
                authorization::open_secret(&az.vault, tenant, a.id, "start_token", &f.start_token)
                    .await?;
            Ok(AuthorizationResponse {
                status: "pending".to_owned(),
                url: Some(az.start_url(token.expose_secret())),
                ..base
            })
        }
        AuthorizationStatus::Failed => Ok(base),
    }
}
