//! The Discord client: token exchange, refresh, revocation and the REST reads Latchkey needs.
//! Token and revoke bodies are form-encoded with client authentication by HTTP Basic (or body
//! fields, a per-deployment fallback); REST calls carry the Bearer token. Every answer is
//! parsed defensively into a typed result or a [`DiscordError`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use url::form_urlencoded;

use crate::authorize::{PkceVerifier, State};
use crate::breaker::{Breaker, BreakerConfig};
use crate::endpoints::Endpoints;
use crate::error::DiscordError;
use crate::ratelimit::RateLimiter;
use crate::transport::{Answer, Call, Propagator, RateLimitWaits, Retry, RetryConfig, Transport};
use crate::types::{
    CurrentAuthorization, DiscordUser, GuildMember, OAuthErrorBody, PartialGuild, RawTokenResponse,
    RestErrorBody, Snowflake, TokenSet,
};

/// How the client authenticates to the token and revoke endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)` (default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` form fields (fallback switch, specs/discord.md §4.1).
    Body,
}

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `DiscordBot (<url>, <version>)`.
    pub user_agent: String,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
    /// Retries and rate-limit waits.
    pub retry: RetryConfig,
    /// Invalid-request breaker.
    pub breaker: BreakerConfig,
    /// Token/revoke client authentication.
    pub client_auth: ClientAuth,
    /// Subtracted from `expires_in` for `expires_at`.
    pub expiry_skew: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            user_agent: format!(
                "DiscordBot (https://github.com/latchkey/latchkey, {})",
                env!("CARGO_PKG_VERSION")
            ),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 1 << 20,
            retry: RetryConfig::default(),
            breaker: BreakerConfig::default(),
            client_auth: ClientAuth::Basic,
            expiry_skew: Duration::from_secs(60),
        }
    }
}

/// One tenant's Discord application, as a provider configures it.
pub struct DiscordApp {
    /// The application (client) id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: SecretString,
    /// The exact redirect URI registered at Discord.
    pub redirect_uri: String,
    /// Where this app's Discord lives.
    pub endpoints: Endpoints,
}

/// The client: cheap to clone, shares one limiter and breaker per process (one egress).
#[derive(Clone)]
pub struct DiscordClient {
    transport: Arc<Transport>,
    config: Arc<ClientConfig>,
}

fn identity_of(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn form_encode(part: &str) -> String {
    form_urlencoded::byte_serialize(part.as_bytes()).collect()
}

impl DiscordClient {
    /// A client with its own connection pool, limiter and breaker.
    pub fn new(config: ClientConfig) -> Result<Self, DiscordError> {
        Self::with_propagator(config, None)
    }

    /// As [`DiscordClient::new`], with `propagate` adding headers (trace context) to every
    /// request.
    pub fn with_propagator(
        config: ClientConfig,
        propagate: Option<Propagator>,
    ) -> Result<Self, DiscordError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DiscordError::InvalidInput(format!("HTTP client: {e}")))?;
        let transport = Transport {
            http,
            limiter: Arc::new(RateLimiter::default()),
            breaker: Arc::new(Breaker::new(config.breaker.clone())),
            retry: config.retry.clone(),
            max_body_bytes: config.max_body_bytes,
            waits: RateLimitWaits::default(),
            propagate,
        };
        Ok(Self {
            transport: Arc::new(transport),
            config: Arc::new(config),
        })
    }

    /// The breaker, for metrics and health reporting.
    pub fn breaker(&self) -> &Breaker {
        &self.transport.breaker
    }

    /// Rate-limit waits so far, for metrics.
    pub fn rate_limit_waits(&self) -> &RateLimitWaits {
        &self.transport.waits
    }

    /// The authorize URL for one flow (see [`crate::authorize`]).
    pub fn authorize_url(
        &self,
        app: &DiscordApp,
        scopes: &[String],
        state: &State,
        pkce: &PkceVerifier,
    ) -> Result<url::Url, DiscordError> {
        crate::authorize::authorize_url(
            &app.endpoints.authorize,
            &app.client_id,
            &app.redirect_uri,
            scopes,
            state,
            pkce,
        )
    }

    fn base_headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Ok(ua) = HeaderValue::from_str(&self.config.user_agent) {
            h.insert(USER_AGENT, ua);
        }
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        h
    }

    /// Headers and form pairs for client authentication.
    fn client_auth(
        &self,
        app: &DiscordApp,
        form: &mut Vec<(&'static str, String)>,
    ) -> Result<HeaderMap, DiscordError> {
        let mut h = self.base_headers();
        match self.config.client_auth {
            ClientAuth::Basic => {
                let creds = format!(
                    "{}:{}",
                    form_encode(&app.client_id),
                    form_encode(app.client_secret.expose_secret())
                );
                let mut v = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(creds)))
                    .map_err(|_| DiscordError::InvalidInput("client credentials".to_owned()))?;
                v.set_sensitive(true);
                h.insert(AUTHORIZATION, v);
            }
            ClientAuth::Body => {
                form.push(("client_id", app.client_id.clone()));
                form.push((
                    "client_secret",
                    app.client_secret.expose_secret().to_owned(),
                ));
            }
        }
        Ok(h)
    }

    async fn token_call(
        &self,
        app: &DiscordApp,
        url: url::Url,
        route: &'static str,
        mut form: Vec<(&'static str, String)>,
        retry: Retry,
    ) -> Result<Answer, DiscordError> {
        let headers = self.client_auth(app, &mut form)?;
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        self.transport
            .execute(Call {
                method: Method::POST,
                url,
                route,
                identity: identity_of(&app.client_id),
                headers,
                form: Some(body),
                retry,
            })
            .await
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens. Retried once, and only
    /// when the request surely did not reach Discord or Discord answered 5xx (codes are single
    /// use; rule 24).
    pub async fn exchange_code(
        &self,
        app: &DiscordApp,
        code: &SecretString,
        verifier: &PkceVerifier,
    ) -> Result<TokenSet, DiscordError> {
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.expose_secret().to_owned()),
            ("redirect_uri", app.redirect_uri.clone()),
            (
                "code_verifier",
                verifier.secret().expose_secret().to_owned(),
            ),
        ];
        self.token_grant(app, form, Retry::OnceIfUnsent).await
    }

    /// Refreshes: returns the rotated pair. The caller must persist the new refresh token before
    /// using the new access token (the old pair is dead once this returns).
    pub async fn refresh(
        &self,
        app: &DiscordApp,
        refresh_token: &SecretString,
    ) -> Result<TokenSet, DiscordError> {
        let form = vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh_token.expose_secret().to_owned()),
        ];
        self.token_grant(app, form, Retry::Once).await
    }

    /// A client-credentials grant for `scopes`: Discord issues a token for the application's
    /// owner only when the client id and secret are right (no refresh token).
    pub async fn client_credentials(
        &self,
        app: &DiscordApp,
        scopes: &str,
    ) -> Result<TokenSet, DiscordError> {
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("scope", scopes.to_owned()),
        ];
        self.token_grant(app, form, Retry::Once).await
    }

    /// A grant on the token endpoint with the given retry rule (rule 24).
    async fn token_grant(
        &self,
        app: &DiscordApp,
        form: Vec<(&'static str, String)>,
        retry: Retry,
    ) -> Result<TokenSet, DiscordError> {
        let answer = self
            .token_call(
                app,
                app.endpoints.token.clone(),
                "POST /oauth2/token",
                form,
                retry,
            )
            .await?;
        self.token_set(&answer)
    }

    /// Revokes a token; Discord then revokes every token of that (user, app) authorization.
    pub async fn revoke(&self, app: &DiscordApp, token: &SecretString) -> Result<(), DiscordError> {
        let form = vec![("token", token.expose_secret().to_owned())];
        let answer = self
            .token_call(
                app,
                app.endpoints.revoke.clone(),
                "POST /oauth2/token/revoke",
                form,
                Retry::Idempotent,
            )
            .await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(oauth_error(&answer))
        }
    }

    fn token_set(&self, answer: &Answer) -> Result<TokenSet, DiscordError> {
        if !answer.status.is_success() {
            return Err(oauth_error(answer));
        }
        if !answer.json {
            return Err(DiscordError::InvalidResponse(
                "token response is not JSON".to_owned(),
            ));
        }
        let raw: RawTokenResponse = serde_json::from_slice(&answer.body).map_err(|_| {
            DiscordError::InvalidResponse(
                "token response is missing fields or has wrong types".to_owned(),
            )
        })?;
        if !raw.token_type.eq_ignore_ascii_case("bearer") {
            return Err(DiscordError::InvalidResponse(
                "token_type is not Bearer".to_owned(),
            ));
        }
        if raw.access_token.is_empty() || raw.expires_in <= 0 {
            return Err(DiscordError::InvalidResponse(
                "empty access token or non-positive expires_in".to_owned(),
            ));
        }
        let expires_in = Duration::from_secs(u64::try_from(raw.expires_in).unwrap_or(0));
        let expires_at = SystemTime::now() + expires_in.saturating_sub(self.config.expiry_skew);
        Ok(TokenSet {
            access_token: SecretString::from(raw.access_token),
            refresh_token: raw
                .refresh_token
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            expires_in,
            expires_at,
            scope: raw.scope.unwrap_or_default(),
            guild_id: raw.guild.map(|g| g.id),
        })
    }

    /// One authenticated GET on Discord's REST API, answered as Discord sent it (rate limits,
    /// retries and the breaker applied); `route` is the rate-limit route template.
    async fn rest_call(
        &self,
        app: &DiscordApp,
        access: &SecretString,
        route: &'static str,
        path: &str,
    ) -> Result<Answer, DiscordError> {
        let mut headers = self.base_headers();
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", access.expose_secret()))
            .map_err(|_| {
                DiscordError::InvalidInput(
                    "access token has characters not allowed in a header".to_owned(),
                )
            })?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        self.transport
            .execute(Call {
                method: Method::GET,
                url: app.endpoints.api(path)?,
                route,
                identity: identity_of(access.expose_secret()),
                headers,
                form: None,
                retry: Retry::Idempotent,
            })
            .await
    }

    /// A GET on Discord's REST API for the Discord proxy: the status and JSON body as Discord
    /// answered them, except that 401 is `TokenDead` and a body that is not JSON is refused.
    pub async fn proxy_get(
        &self,
        app: &DiscordApp,
        access: &SecretString,
        route: &'static str,
        path: &str,
    ) -> Result<(u16, Vec<u8>), DiscordError> {
        let answer = self.rest_call(app, access, route, path).await?;
        if answer.status == StatusCode::UNAUTHORIZED {
            return Err(DiscordError::TokenDead);
        }
        if !answer.json {
            return Err(DiscordError::InvalidResponse(format!(
                "{route}: response is not JSON"
            )));
        }
        Ok((answer.status.as_u16(), answer.body))
    }

    async fn rest<T: DeserializeOwned>(
        &self,
        app: &DiscordApp,
        access: &SecretString,
        route: &'static str,
        path: &str,
    ) -> Result<T, DiscordError> {
        let answer = self.rest_call(app, access, route, path).await?;
        match answer.status {
            s if s.is_success() => {
                if !answer.json {
                    return Err(DiscordError::InvalidResponse(format!(
                        "{route}: response is not JSON"
                    )));
                }
                serde_json::from_slice(&answer.body).map_err(|e| {
                    DiscordError::InvalidResponse(format!("{route}: {}", short(&e.to_string())))
                })
            }
            StatusCode::UNAUTHORIZED => Err(DiscordError::TokenDead),
            StatusCode::FORBIDDEN => Err(DiscordError::Forbidden {
                code: rest_code(&answer),
            }),
            StatusCode::NOT_FOUND => Err(DiscordError::NotFound {
                code: rest_code(&answer),
            }),
            other => Err(DiscordError::InvalidResponse(format!(
                "{route}: unexpected status {}",
                other.as_u16()
            ))),
        }
    }

    /// `GET /users/@me` (needs `identify`).
    pub async fn current_user(
        &self,
        app: &DiscordApp,
        access: &SecretString,
    ) -> Result<DiscordUser, DiscordError> {
        self.rest(app, access, "GET /users/@me", "/users/@me").await
    }

    /// `GET /users/@me` as Discord sent it (the object Latchkey passes through as
    /// `user_info`), checked to parse as a [`DiscordUser`].
    pub async fn current_user_json(
        &self,
        app: &DiscordApp,
        access: &SecretString,
    ) -> Result<(DiscordUser, serde_json::Value), DiscordError> {
        let raw: serde_json::Value = self
            .rest(app, access, "GET /users/@me", "/users/@me")
            .await?;
        let user: DiscordUser = serde_json::from_value(raw.clone()).map_err(|e| {
            DiscordError::InvalidResponse(format!("GET /users/@me: {}", short(&e.to_string())))
        })?;
        Ok((user, raw))
    }

    /// `GET /oauth2/@me`: the live scopes and expiry of this token.
    pub async fn current_authorization(
        &self,
        app: &DiscordApp,
        access: &SecretString,
    ) -> Result<CurrentAuthorization, DiscordError> {
        self.rest(app, access, "GET /oauth2/@me", "/oauth2/@me")
            .await
    }

    /// `GET /users/@me/guilds`, every page (needs `guilds`).
    pub async fn guilds(
        &self,
        app: &DiscordApp,
        access: &SecretString,
    ) -> Result<Vec<PartialGuild>, DiscordError> {
        const PAGE: usize = 200;
        const MAX_PAGES: usize = 10;
        let mut all: Vec<PartialGuild> = Vec::new();
        for _ in 0..MAX_PAGES {
            let path = match all.last() {
                Some(g) => format!("/users/@me/guilds?limit={PAGE}&after={}", g.id),
                None => format!("/users/@me/guilds?limit={PAGE}"),
            };
            let page: Vec<PartialGuild> = self
                .rest(app, access, "GET /users/@me/guilds", &path)
                .await?;
            let last_before = all.last().map(|g| g.id);
            let n = page.len();
            all.extend(page);
            if n < PAGE || all.last().map(|g| g.id) == last_before {
                break;
            }
        }
        Ok(all)
    }

    /// `GET /users/@me/guilds/{guild}/member` (needs `guilds.members.read`). `None` when the
    /// user is not a member (Discord answers 404 `10004` or `10007`).
    pub async fn guild_member(
        &self,
        app: &DiscordApp,
        access: &SecretString,
        guild: Snowflake,
    ) -> Result<Option<GuildMember>, DiscordError> {
        let path = format!("/users/@me/guilds/{guild}/member");
        match self
            .rest(app, access, "GET /users/@me/guilds/{guild}/member", &path)
            .await
        {
            Ok(m) => Ok(Some(m)),
            Err(DiscordError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(120).collect()
}

fn rest_code(answer: &Answer) -> u64 {
    serde_json::from_slice::<RestErrorBody>(&answer.body)
        .ok()
        .and_then(|b| b.code)
        .unwrap_or(0)
}

/// Classifies a non-2xx token or revoke answer by its `error` code only (never its text).
fn oauth_error(answer: &Answer) -> DiscordError {
    let code = if answer.json {
        serde_json::from_slice::<OAuthErrorBody>(&answer.body)
            .ok()
            .map(|b| b.error)
    } else {
        None
    };
    match code.as_deref() {
        Some("invalid_grant") => DiscordError::GrantInvalid,
        Some("invalid_client") => DiscordError::ClientCredentialsInvalid,
        Some("invalid_scope") => DiscordError::ScopeConfig,
        Some(other) => {
            let clean: String = other
                .chars()
                .filter(|c| c.is_ascii_lowercase() || *c == '_')
                .take(40)
                .collect();
            DiscordError::ClientBug(clean)
        }
        None if answer.status == StatusCode::UNAUTHORIZED => DiscordError::ClientCredentialsInvalid,
        None => DiscordError::InvalidResponse(format!(
            "token endpoint answered {} without an OAuth error",
            answer.status.as_u16()
        )),
    }
}
