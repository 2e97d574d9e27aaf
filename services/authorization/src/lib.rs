//! `latchkey-authorization` is the authorization service (DESIGN.md §5; specs/arcade-compat.md
//! §6–§8; specs/security.md §2):
//!
//! - `POST /v1/auth/authorize` ([`start`]): resolve the provider, answer `completed` with the
//!   token when the user's grant covers the scopes, else reuse or create a `pending`
//!   authorization whose `url` is the start link `/oauth/start/{start_token}`;
//! - `POST /v1/tools/authorize` ([`tool_start`]): the same for what a registered tool declared;
//! - `GET /v1/auth/status?id=…&wait=N` ([`status`]): long-polls on one notifier per process
//!   ([`waiters`]), woken by the store's change notices from every replica;
//! - the browser pages ([`browser`]): the interstitial (a consent receipt; `GET` changes
//!   nothing), the click that binds the browser and redirects to Discord with `state`, PKCE
//!   S256 and `prompt=consent`, and Discord's callback, which exchanges the code once, reads
//!   the Discord user, applies the provider's policy, quarantines the tokens and sends the
//!   browser to the tenant's verifier with a one-time `flow_id`;
//! - `POST /v1/auth/confirm_user` ([`confirm`]): the tenant's verifier vouches for the user;
//!   byte-equal → the grant leaves quarantine; otherwise the tokens are revoked and deleted;
//! - the reaper ([`ending`]): flows whose lifetime ends fail, and their tokens are revoked.
//!
//! Every flow move is a conditional update in the store; the use cases are shared by the REST
//! handlers and the `latchkey.v1.Authorization` gRPC service ([`grpc`]).

pub mod browser;
pub mod confirm;
pub mod ending;
pub mod grpc;
pub mod limits;
mod pages;
pub mod start;
pub mod status;
pub mod tool_start;
pub mod verifier_test;
pub mod waiters;

/// Entry points for the fuzz targets (`fuzz/`); not an API.
#[doc(hidden)]
pub mod fuzzing {
    /// The callback query parser: `(state, code, error)` when the query is accepted.
    pub fn callback_query(query: &str) -> Option<(Option<String>, Option<String>, Option<String>)> {
        crate::browser::parse_callback(query)
            .ok()
            .map(|q| (q.state, q.code, q.error))
    }

    /// Whether `raw` is an acceptable `next_uri` for a tenant allowing `origins`.
    pub fn next_uri_allowed(raw: &str, origins: &[String]) -> bool {
        let settings = latchkey_core::settings::VerificationSettings {
            allowed_next_uri_origins: origins.to_vec(),
            ..Default::default()
        };
        crate::start::allowed_next_uri(raw, &settings)
    }
}

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use latchkey_api::ErrorName;
use latchkey_api::server::ApiError;
use latchkey_core::auth::Authenticator;
use latchkey_core::crypto::Vault;
use latchkey_core::ports::{DiscordOAuth, DiscordRevoker, Store};
use latchkey_core::provider::ProviderRecord;
use latchkey_core::{ProviderRef, TenantId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use waiters::Waiters;

/// What the authorization service's handlers share.
///
/// One allocation, so that handing it to a request (axum's `State` clones it for each, and a
/// held long-poll keeps its copies for the whole hold) is one reference count.
#[derive(Clone)]
pub struct Authorizer(Arc<AuthorizationService>);

impl From<AuthorizationService> for Authorizer {
    fn from(s: AuthorizationService) -> Self {
        Self(Arc::new(s))
    }
}

impl std::ops::Deref for Authorizer {
    type Target = AuthorizationService;

    fn deref(&self) -> &AuthorizationService {
        &self.0
    }
}

/// The authorization service's parts.
pub struct AuthorizationService {
    /// The store (providers served from the look-up cache).
    pub store: Arc<dyn Store>,
    /// Encryption at rest.
    pub vault: Arc<Vault>,
    /// API-key authentication.
    pub authenticator: Arc<Authenticator>,
    /// Discord's OAuth2 steps.
    pub discord: Arc<dyn DiscordOAuth>,
    /// Revocation at Discord (failed flows' tokens).
    pub revoker: Arc<dyn DiscordRevoker>,
    /// Releases grants' tokens, refreshing them first when close to expiry.
    pub custody: Arc<latchkey_core::custody::Custody>,
    /// Long-poll waiters of this process.
    pub waiters: Arc<Waiters>,
    /// The URL browsers and Discord reach Latchkey at (no trailing slash).
    pub public_url: Arc<str>,
    /// Whether tenants may skip verification (operator configuration).
    pub skip_allowed: bool,
    /// Key of the interstitial's CSRF MAC (the same on every replica).
    pub page_key: Arc<[u8; 32]>,
    /// How long a flow lives.
    pub flow_lifetime: Duration,
    /// How long an ended authorization is kept (unless it backs an active grant).
    pub retention: Duration,
    /// Which tenant URLs are acceptable (verifier URLs under test).
    pub url_policy: latchkey_core::urls::UrlPolicy,
    /// Per-address limits on the browser routes' misses.
    pub misses: Arc<limits::MissLimiter>,
    /// Authorizations ended, by outcome.
    pub meters: latchkey_core::metrics::Meters,
}

impl FromRef<Authorizer> for Arc<Authenticator> {
    fn from_ref(s: &Authorizer) -> Self {
        s.authenticator.clone()
    }
}

impl AuthorizationService {
    /// Whether cookies are `Secure` with the `__Host-` prefix (an `https` public URL); a plain
    /// `http` public URL (local development) gets unprefixed cookies.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    /// The exact redirect URI registered at Discord for a provider.
    pub fn redirect_uri(&self, provider: ProviderRef) -> String {
        latchkey_core::provider::redirect_uri(&self.public_url, provider)
    }

    /// The start link for a start token.
    pub fn start_url(&self, token: &str) -> String {
        format!("{}/oauth/start/{token}", self.public_url)
    }

    /// The page a verifier sends the user to when no `next_uri` applies.
    pub fn done_url(&self) -> String {
        format!("{}/oauth/done", self.public_url)
    }

    /// One of the tenant's providers by its internal id.
    pub(crate) async fn provider(
        &self,
        tenant: TenantId,
        id: ProviderRef,
    ) -> Result<Option<ProviderRecord>, ApiError> {
        let all = self.store.list_providers(tenant).await.map_err(store_err)?;
        Ok(all.into_iter().find(|p| p.id == id))
    }
}

/// The audit actor for a tenant key, with the current request id.
pub(crate) fn key_actor(p: &latchkey_core::auth::TenantPrincipal) -> latchkey_core::audit::Actor {
    latchkey_core::audit::Actor {
        id: p.key_id.to_string(),
        request_id: Some(latchkey_api::server::current_request_id()),
    }
}

/// A store failure as the API tells it.
pub(crate) fn store_err(e: latchkey_core::StoreError) -> ApiError {
    ApiError::from(latchkey_core::CoreError::from(e))
}

/// 404 `not_found` with one message for every unknown, expired, used or foreign id.
pub(crate) fn not_found(what: &'static str) -> ApiError {
    ApiError::new(ErrorName::NotFound, format!("{what} not found"))
}

/// The OpenAPI tag of the authorization routes.
#[derive(utoipa::OpenApi)]
#[openapi(tags(
    (name = "auth", description = "Authorizations: start one for a user, wait for it, and confirm the user from the tenant's verifier (Arcade-compatible)."),
))]
struct AuthDoc;

/// The REST routes with their OpenAPI documentation (`/v1/auth/*`, app key).
pub fn routes() -> OpenApiRouter<Authorizer> {
    use utoipa::OpenApi;
    OpenApiRouter::with_openapi(AuthDoc::openapi())
        .routes(routes!(start::authorize))
        .routes(routes!(status::status))
        .routes(routes!(confirm::confirm_user))
        .routes(routes!(confirm::confirm_user_arcade_path))
        .routes(routes!(verifier_test::validate_custom_verifier))
        .routes(routes!(tool_start::tools_authorize))
}

/// The browser routes (`/oauth/*`): HTML pages and redirects, not part of the API document.
pub fn browser_routes() -> axum::Router<Authorizer> {
    use axum::routing::get;
    axum::Router::new()
        .route(
            "/oauth/start/{token}",
            get(browser::start_page).post(browser::start_click),
        )
        .route(
            "/oauth/callback/{provider}",
            // HEAD must not run the callback (it would consume the flow's one `state`, Q19).
            axum::routing::on(
                axum::routing::MethodFilter::HEAD,
                browser::method_not_allowed,
            )
            .get(browser::callback),
        )
        .route("/oauth/done", get(browser::done_page))
        .route(
            "/oauth/verifier-test/{tenant}/{id}",
            get(verifier_test::result_page),
        )
}
