//! `POST /v1/tokens`: a tool's token for one user. The tool key names the tool; the tool's
//! declared requirement names the provider (its pinned instance, else the tenant's one active
//! Discord provider) and the scopes. The user's active grant through that provider must hold
//! every declared scope; then its access token is released (refreshed first when close to
//! expiry). Otherwise a pending authorization for what the tool needs is reused or created and
//! the answer is 403 `authorization_required` with its id and start link — the app shows the
//! link to the user, as after `authorize`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_api::server::{ApiError, Credential, JsonBody, ToolKey, current_request_id};
use latchkey_api::time::rfc3339;
use latchkey_api::tokens::{AuthorizationRequiredBody, TokenRequest, TokenResponse};
use latchkey_api::{ErrorBody, ErrorName};
use latchkey_core::audit::Actor;
use latchkey_core::authorization::{self, Opening};
use latchkey_core::custody::Released;
use latchkey_core::grant;
use latchkey_core::metrics::ReleaseChannel;
use latchkey_core::provider::ProviderRecord;
use latchkey_core::resolve;
use latchkey_core::tool::ToolRecord;
use latchkey_core::user::UserId;
use latchkey_core::warm::Warm;
use latchkey_core::{CoreError, TenantId, ToolId};
use secrecy::ExposeSecret;

use crate::Tokens;
use crate::grants::Granted;

/// Why no token was released.
#[derive(Debug)]
pub enum Refusal {
    /// An error in the usual shape.
    Error(ApiError),
    /// The user must complete this authorization first.
    AuthorizationRequired {
        /// `auth_…`.
        authorization_id: String,
        /// The start link.
        url: String,
    },
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Self::Error(e)
    }
}

impl From<CoreError> for Refusal {
    fn from(e: CoreError) -> Self {
        Self::Error(e.into())
    }
}

const REQUIRED: &str = "the user has not granted what this tool needs: show them the url, then ask again once the authorization is completed";

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::Error(e) => e.into_response(),
            Self::AuthorizationRequired {
                authorization_id,
                url,
            } => (
                StatusCode::FORBIDDEN,
                Json(AuthorizationRequiredBody {
                    name: ErrorName::AuthorizationRequired.as_str().to_owned(),
                    message: REQUIRED.to_owned(),
                    request_id: current_request_id(),
                    authorization_id,
                    url,
                }),
            )
                .into_response(),
        }
    }
}

/// Get a tool's Discord token for a user.
///
/// Requires a tool key with `user_id` — or, with no key, a tool `grant` minted by the app
/// (`POST /v1/tools/{name}/grants`). Answers the Discord access token of the user's grant through the
/// tool's provider when it holds every scope the tool declared (refreshed first when close to
/// expiry; never the refresh token), with `Cache-Control: no-store`. Otherwise 403
/// `authorization_required` with `authorization_id` and the start `url` to show the user.
#[utoipa::path(
    operation_id = "tokens_get",
    post, path = "/v1/tokens", tag = "tokens",
    security(("tool_key" = [])),
    request_body = TokenRequest,
    responses(
        (status = 200, description = "The token", body = TokenResponse),
        (status = 400, description = "Bad body or user id, an API key in the query string, or `verification_not_configured`", body = ErrorBody),
        (status = 401, description = "No valid key", body = ErrorBody),
        (status = 403, description = "Not a tool key (`forbidden`), or `authorization_required`", body = AuthorizationRequiredBody),
        (status = 502, description = "Discord was needed for a refresh and failed", body = ErrorBody),
        (status = 503, description = "`unavailable`: the audit pipeline cannot record the release, so nothing was released", body = ErrorBody),
    )
)]
pub async fn token(
    State(tk): State<Tokens>,
    credential: Credential,
    JsonBody(req): JsonBody<TokenRequest>,
) -> Result<Response, Refusal> {
    let (caller, user_id) = authenticate(
        &tk,
        credential.presented(),
        req.grant.as_deref(),
        req.user_id,
    )
    .await?;
    let t = get_token(&tk, &caller, &user_id).await?;
    Ok(token_response(&t)?)
}

/// The token's JSON with `Cache-Control: no-store`, written into one buffer of about its size
/// (axum's `Json` starts at 128 bytes and grows its buffer twice for a token's answer).
fn token_response(t: &TokenResponse) -> Result<Response, ApiError> {
    let size = 192
        + t.access_token.len()
        + t.user_info.get().len()
        + t.scopes.iter().map(|s| s.len() + 3).sum::<usize>();
    let mut body = Vec::with_capacity(size);
    serde_json::to_writer(&mut body, t).map_err(|_| {
        tracing::error!("the token's answer could not be written");
        ApiError::new(ErrorName::InternalError, "the answer could not be written")
    })?;
    let mut resp = Response::new(axum::body::Body::from(body));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// Who asks for a token: a tool (by its key, or by a grant the app minted for it).
pub struct Caller {
    /// The tenant.
    pub tenant: TenantId,
    /// The tool.
    pub tool: ToolId,
    /// The audit actor: the tool key, or the grant's id.
    pub actor: String,
    /// With a grant: the scopes it was minted for.
    pub granted: Option<Vec<String>>,
}

/// A tool key with `user_id`, or a tool grant alone (never both): the caller and the user.
pub async fn authenticate(
    tk: &Tokens,
    presented: latchkey_api::server::Presented<'_>,
    grant: Option<&str>,
    user_id: Option<String>,
) -> Result<(Caller, String), Refusal> {
    let invalid = |m: &'static str| ApiError::new(ErrorName::InvalidRequest, m);
    if let Some(g) = grant {
        if !matches!(presented, latchkey_api::server::Presented::Missing) || user_id.is_some() {
            return Err(
                invalid("give either a tool key and user_id, or a tool grant alone").into(),
            );
        }
        let g = Granted::from_claims(tk.grant_keys.verify(g, &tk.public_url)?)?;
        return Ok((
            Caller {
                tenant: g.tenant,
                tool: g.tool,
                actor: format!("grant:{}", g.jti),
                granted: Some(g.scopes),
            },
            g.user_id,
        ));
    }
    let p = latchkey_api::server::authenticate(&tk.authenticator, presented).await?;
    let key = ToolKey::from_principal(p)?.0;
    let forbidden = || ApiError::new(ErrorName::Forbidden, "this key is not bound to a tool");
    let tool = key.tool_id.ok_or_else(forbidden)?;
    let user_id = user_id.ok_or_else(|| invalid("user_id: required with a tool key"))?;
    Ok((
        Caller {
            tenant: key.tenant,
            tool,
            actor: key.key_id.to_string(),
            granted: None,
        },
        user_id,
    ))
}

/// The caller's tool (a deleted tool's key or grant gets nothing).
fn tool_of<'a>(tools: &'a [ToolRecord], caller: &Caller) -> Result<&'a ToolRecord, ApiError> {
    tools
        .iter()
        .find(|t| t.id == caller.tool)
        .ok_or_else(|| ApiError::new(ErrorName::Forbidden, "the tool no longer exists"))
}

/// The provider a tool's requirement names: its pinned instance, else the one active Discord
/// provider (arcade-compat §7).
fn provider_of<'a>(
    providers: &'a [ProviderRecord],
    tool: &ToolRecord,
) -> Result<&'a ProviderRecord, CoreError> {
    match &tool.requirement.instance {
        Some(slug) => resolve::resolve(providers, Some(slug.as_str()), None),
        None => resolve::resolve(providers, None, Some(resolve::DISCORD)),
    }
}

/// The use case behind REST `POST /v1/tokens` and gRPC `GetToken`.
pub async fn get_token(
    tk: &Tokens,
    caller: &Caller,
    user_id: &str,
) -> Result<TokenResponse, Refusal> {
    let r = release(tk, caller, user_id).await?;
    // Every release is accepted by the audit pipeline before the token leaves; if the pipeline
    // cannot accept it, nothing is released (fail closed; security.md I7).
    audit(
        tk,
        caller,
        ReleaseChannel::Token,
        r.warm.grant.id.to_string(),
    )
    .await?;
    // Tools are told the token expires when Latchkey may start refreshing it: Discord kills
    // the old token on refresh, so no tool may hold it past that moment (security.md §4.1).
    // A token served inside the margin (Discord could not refresh it) gets its real expiry.
    let margin = i64::try_from(tk.custody.margin().as_millis()).unwrap_or(i64::MAX);
    let expires = r.warm.grant.expires_at.0;
    let until = Some(expires.saturating_sub(margin))
        .filter(|t| *t > latchkey_core::time::UnixMillis::now().0)
        .unwrap_or(expires);
    Ok(TokenResponse {
        access_token: r.warm.token.expose_secret().to_owned(),
        token_type: "Bearer".to_owned(),
        expires_at: rfc3339(until),
        scopes: r.scopes,
        user_info: r.warm.user_info.clone(),
    })
}

/// Accepts the caller's release through `channel` (its audit action) of `target` into the
/// audit pipeline (to be persisted within one flush interval), or refuses with 503 — then
/// nothing may be released.
pub async fn audit(
    tk: &Tokens,
    caller: &Caller,
    channel: ReleaseChannel,
    target: String,
) -> Result<(), ApiError> {
    // Borrowed into the pipeline's queue, which copies them (nothing of the event outlives
    // the request on the heap).
    // Ids made on two threads in the same millisecond may sort either way (one lock fewer a
    // release; nothing orders releases on two threads more finely than their time).
    let (id, at) = latchkey_core::ids::new_prefixed_unordered_at("evt");
    let request_id = current_request_id();
    let event = latchkey_core::audit::AuditEventRef {
        id: &id,
        at,
        actor: &caller.actor,
        action: channel.action(),
        target: Some(&target),
        outcome: "success",
        request_id: Some(&request_id),
    };
    tk.audit
        .accept(caller.tenant, event)
        .await
        .map_err(ApiError::from)?;
    tk.meters.release(channel);
    Ok(())
}

/// A released token, with what it was released for.
pub struct Release {
    /// The origin standing in for discord.com of the provider it goes through, if any.
    pub endpoint_origin: Option<String>,
    /// The grant (after any refresh), its access token and its user.
    pub warm: Arc<Warm>,
    /// What the tool declared (plus `identify`), sorted.
    pub scopes: Vec<String>,
}

/// The user's token for the caller's tool — only when the grant holds every declared scope —
/// or `authorization_required` with an authorization for what the tool needs. A warm token
/// (still fresh) is served from memory; otherwise the grant is read, refreshed if due, and
/// kept warm.
pub async fn release(tk: &Tokens, caller: &Caller, user_id: &str) -> Result<Release, Refusal> {
    let tenant = caller.tenant;
    let user = UserId::parse("user_id", user_id)?;
    // Shared lists from the look-up cache (one entry): nothing of them is copied per release.
    let catalog = tk
        .store
        .shared_catalog(tenant)
        .await
        .map_err(CoreError::from)?;
    let tool = tool_of(&catalog.tools, caller)?;
    let provider = provider_of(&catalog.providers, tool)?;
    let wanted = authorization::scope_set(&tool.requirement.scopes, &[], &[]);
    if let Some(granted) = &caller.granted
        && !wanted.iter().all(|s| granted.contains(s))
    {
        return Err(ApiError::new(
            ErrorName::Forbidden,
            "the tool declares scopes this grant was not minted for; mint a new grant",
        )
        .into());
    }
    if let Some(warm) = tk.warm.get(tenant, provider.id, user.as_str()).await
        && tk.custody.is_fresh(&warm.grant)
        && grant::covers(&warm.grant, &wanted)
    {
        return Ok(Release {
            endpoint_origin: provider.endpoint_origin.clone(),
            warm,
            scopes: wanted,
        });
    }
    let epoch = tk.warm.epoch();
    let existing = tk
        .store
        .active_grant(tenant, user.as_str(), provider.id)
        .await
        .map_err(CoreError::from)?;
    if let Some(g) = existing.clone().filter(|g| grant::covers(g, &wanted))
        && let Released::Token(g, token) = tk.custody.release(tenant, provider, g).await?
    {
        let user_info = grant::user_info_json(&tk.vault, tenant, &g).await?;
        let warm = Arc::new(Warm {
            grant: *g,
            token,
            user_info,
        });
        if tk.custody.is_fresh(&warm.grant) {
            tk.warm.put(epoch, tenant, Arc::clone(&warm)).await;
        }
        return Ok(Release {
            endpoint_origin: provider.endpoint_origin.clone(),
            warm,
            scopes: wanted,
        });
    }
    // Nothing covers it (or the grant needs re-authorization): an authorization for what the
    // tool needs.
    let settings = tk
        .store
        .verification_settings(tenant)
        .await
        .map_err(CoreError::from)?
        .unwrap_or_default();
    let actor = Actor {
        id: caller.actor.clone(),
        request_id: Some(current_request_id()),
    };
    let (a, start_token) = authorization::open(
        tk.store.as_ref(),
        &tk.vault,
        Opening {
            tenant,
            actor: &actor,
            user_id: user.as_str(),
            provider,
            wanted,
            existing: existing.as_ref(),
            next_uri: None,
            lifetime: tk.flow_lifetime,
            settings: &settings,
            skip_allowed: tk.skip_allowed,
        },
    )
    .await?;
    Err(Refusal::AuthorizationRequired {
        authorization_id: a.id.to_string(),
        url: format!(
            "{}/oauth/start/{}",
            tk.public_url,
            start_token.expose_secret()
        ),
    })
}
