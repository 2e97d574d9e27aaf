//! `latchkey-control-plane` holds the admin use cases and their two transports. REST:
//! platform tenants (`/v1/platform/tenants`, operator key); a tenant's API keys, providers,
//! tools, verification settings, users' connections and audit log (`/v1/admin/*`, admin key);
//! and the tool catalogue apps read (`/v1/tools`, app key). gRPC: `latchkey.v1.ControlPlane`
//! (in [`grpc`]) for tenants, API keys, providers, settings, tools, connections and audit
//! events. A resource module has one function per use case, called by its REST handler and its
//! gRPC method alike, so validation cannot diverge. Handlers are thin: parse into domain types,
//! call the use case, map the result. Every operation is documented through `utoipa` with a summary,
//! a description, a tag and the key role it requires; `routes()` hands the server both the
//! router and the OpenAPI paths.

mod activity;
mod api_keys;
mod audit;
mod catalog;
mod connections;
mod dashboard;
pub mod grpc;
mod providers;
mod query;
mod settings;
mod tenants;
mod tools;

use std::sync::Arc;

use axum::extract::FromRef;
use latchkey_core::apikey::Peppers;
use latchkey_core::auth::Authenticator;
use latchkey_core::crypto::Vault;
use latchkey_core::ports::Store;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the control plane's handlers share.
#[derive(Clone)]
pub struct ControlPlane {
    /// The store, with providers and tools served from the look-up cache.
    pub store: Arc<dyn Store>,
    /// The same store without the cache, for the reads that decide what a deletion must
    /// revoke (a cached provider list may lag another replica's write by a notice).
    pub fresh: Arc<dyn Store>,
    /// Encryption at rest.
    pub vault: Arc<Vault>,
    /// API-key hashing.
    pub peppers: Arc<Peppers>,
    /// API-key authentication.
    pub authenticator: Arc<Authenticator>,
    /// The URL users and Discord reach Latchkey at (for redirect URIs).
    pub public_url: Arc<str>,
    /// Origins a provider may use instead of discord.com (operator configuration).
    pub allowed_endpoint_origins: Arc<[String]>,
    /// Revokes grants at Discord (connection, provider and tenant deletion).
    pub revoker: Arc<dyn latchkey_core::ports::DiscordRevoker>,
    /// Discord's OAuth2 steps (checking a provider's credentials).
    pub discord: Arc<dyn latchkey_core::ports::DiscordOAuth>,
    /// Whether tenants may set `unsafe_skip_verification` (operator configuration).
    pub skip_allowed: bool,
    /// What tenant-supplied URLs may be (operator configuration).
    pub url_policy: latchkey_core::urls::UrlPolicy,
    /// How long a dashboard session lasts.
    pub session_ttl: std::time::Duration,
}

impl FromRef<ControlPlane> for Arc<Authenticator> {
    fn from_ref(s: &ControlPlane) -> Self {
        s.authenticator.clone()
    }
}

/// The audit actor for a tenant key, with the current request id.
pub(crate) fn actor(p: &latchkey_core::auth::TenantPrincipal) -> latchkey_core::audit::Actor {
    latchkey_core::audit::Actor {
        id: p.key_id.to_string(),
        request_id: Some(latchkey_api::server::current_request_id()),
    }
}

/// The audit actor for the platform operator.
pub(crate) fn operator_actor(key: latchkey_core::ApiKeyId) -> latchkey_core::audit::Actor {
    latchkey_core::audit::Actor {
        id: format!("operator:{key}"),
        request_id: Some(latchkey_api::server::current_request_id()),
    }
}

/// The four key roles as OpenAPI security schemes (all sent as `Authorization: [Bearer] lk_…`).
struct KeyRoles;

impl Modify for KeyRoles {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "operator_key",
                "the platform operator key (tenant management only)",
            ),
            ("admin_key", "a tenant's admin key (control plane)"),
            (
                "app_key",
                "a tenant's app key (auth.start, status, confirm_user, tools.authorize)",
            ),
            (
                "tool_key",
                "a tool key, bound to one registered tool (token service and proxy)",
            ),
        ] {
            let mut value = ApiKeyValue::new("Authorization");
            value.description = Some(format!(
                "{what}: `Authorization: lk_…` or `Authorization: Bearer lk_…`"
            ));
            components.add_security_scheme(name, SecurityScheme::ApiKey(ApiKey::Header(value)));
        }
        let mut cookie = ApiKeyValue::new(latchkey_api::server::SESSION_COOKIE);
        cookie.description = Some(
            "the dashboard's session cookie (`__Host-latchkey_session` on https), standing for the admin key that signed in; writes also need `X-CSRF-Token`".to_owned(),
        );
        components.add_security_scheme(
            "dashboard_session",
            SecurityScheme::ApiKey(ApiKey::Cookie(cookie)),
        );
    }
}

/// The document root: title, version, tags, security schemes, shared schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        description = "Self-hostable, multi-tenant auth broker for AI agents. Errors are `{\"name\", \"message\", \"request_id\"}`; see specs/arcade-compat.md."
    ),
    modifiers(&KeyRoles),
    components(schemas(latchkey_api::ErrorBody)),
    tags(
        (name = "platform", description = "Tenant management by the platform operator."),
        (name = "admin", description = "A tenant's control plane."),
        (name = "tools", description = "The tenant's tool catalogue, as apps see it."),
        (name = "health", description = "Liveness for clients."),
        (name = "dashboard", description = "The dashboard's sign-in: an admin key exchanged for an HttpOnly session cookie."),
    )
)]
struct ApiDoc;

/// The control plane's routes with their OpenAPI paths.
pub fn routes() -> OpenApiRouter<ControlPlane> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::get, tenants::delete))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(providers::create, providers::list))
        .routes(routes!(providers::get, providers::patch, providers::delete))
        .routes(routes!(providers::test))
        .routes(routes!(settings::get, settings::put))
        .routes(routes!(audit::list))
        .routes(routes!(audit::platform_list))
        .routes(routes!(tools::create, tools::list))
        .routes(routes!(tools::get, tools::patch, tools::delete))
        .routes(routes!(tools::create_key))
        .routes(routes!(catalog::list))
        .routes(routes!(catalog::get))
        .routes(routes!(connections::list))
        .routes(routes!(connections::delete))
        .routes(routes!(connections::acknowledge))
        .routes(routes!(activity::authorizations))
        .routes(routes!(activity::usage))
        .routes(routes!(
            dashboard::sign_in,
            dashboard::get,
            dashboard::sign_out
        ))
}
