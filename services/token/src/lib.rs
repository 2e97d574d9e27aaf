//! `latchkey-token` is the token service (DESIGN.md §5 "Token"): a registered tool, with its
//! tool key, asks for one user's Discord access token (`POST /v1/tokens`, and gRPC
//! `latchkey.v1.Token/GetToken`). The answer is the token of the user's active grant through
//! the tool's provider, refreshed first when close to expiry (grant custody in
//! `latchkey_core::custody`), only when the grant holds every scope the tool declared — never
//! the refresh token. When no grant covers it, the answer is 403 `authorization_required` with
//! a new authorization (its id and start link) for what the tool needs. Instead of its key and a
//! user id, a tool may present a tool grant: a short-lived JWT the app minted for one user and
//! that tool ([`grants`]).

pub mod grants;
pub mod grpc;
pub mod issue;
pub mod proxy;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use latchkey_core::auth::Authenticator;
use latchkey_core::crypto::Vault;
use latchkey_core::custody::Custody;
use latchkey_core::ports::Store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the token service's handlers share: one allocation, so that handing it to a request
/// (axum's `State` clones it for each) is one reference count, not one for each part.
#[derive(Clone)]
pub struct Tokens(Arc<TokenService>);

impl From<TokenService> for Tokens {
    fn from(s: TokenService) -> Self {
        Self(Arc::new(s))
    }
}

impl std::ops::Deref for Tokens {
    type Target = TokenService;

    fn deref(&self) -> &TokenService {
        &self.0
    }
}

/// The token service's parts.
pub struct TokenService {
    /// The store (providers and tools served from the look-up cache).
    pub store: Arc<dyn Store>,
    /// Encryption at rest.
    pub vault: Arc<Vault>,
    /// API-key authentication.
    pub authenticator: Arc<Authenticator>,
    /// Releases grants' tokens, refreshing them first when close to expiry.
    pub custody: Arc<Custody>,
    /// Discord (the proxy's upstream).
    pub discord: Arc<dyn latchkey_core::ports::DiscordOAuth>,
    /// The URL browsers reach Latchkey at (start links), without a trailing slash.
    pub public_url: Arc<str>,
    /// Whether tenants may skip verification (operator configuration).
    pub skip_allowed: bool,
    /// How long an authorization's flow lives.
    pub flow_lifetime: Duration,
    /// The keys that sign and verify tool grants.
    pub grant_keys: Arc<grants::GrantKeys>,
    /// How long a tool grant is valid.
    pub grant_ttl: Duration,
    /// Warm (decrypted, fresh) tokens, dropped on every replica when their grant changes.
    pub warm: Arc<latchkey_core::warm::WarmTokens>,
    /// Accepts each release's audit event before the token leaves.
    pub audit: latchkey_core::audit_pipeline::AuditPipeline,
    /// Releases counted.
    pub meters: latchkey_core::metrics::Meters,
}

impl FromRef<Tokens> for Arc<Authenticator> {
    fn from_ref(s: &Tokens) -> Self {
        s.authenticator.clone()
    }
}

/// The OpenAPI tag of the token routes.
#[derive(utoipa::OpenApi)]
#[openapi(tags(
    (name = "tokens", description = "Discord access tokens for registered tools (tool key)."),
))]
struct TokenDoc;

/// The proxy's documentation: its route is a catch-all (`{*path}`), which the typed router
/// cannot express, so it is documented here and routed by hand.
#[derive(utoipa::OpenApi)]
#[openapi(paths(proxy::forward))]
struct ProxyDoc;

/// The REST routes with their OpenAPI documentation.
pub fn routes() -> OpenApiRouter<Tokens> {
    use utoipa::OpenApi;
    let mut doc = TokenDoc::openapi();
    doc.merge(ProxyDoc::openapi());
    OpenApiRouter::with_openapi(doc)
        .routes(routes!(issue::token))
        .routes(routes!(grants::create))
        .routes(routes!(grants::jwks))
        .route(
            "/v1/proxy/discord/{*path}",
            axum::routing::any(proxy::forward),
        )
}
