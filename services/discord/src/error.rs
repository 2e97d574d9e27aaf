//! Typed errors the rest of Latchkey acts on (specs/discord.md §8.1). Messages never contain a
//! token, code, secret or a provider's response body.

use std::time::Duration;

/// What went wrong talking to Discord, classified by what the caller should do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DiscordError {
    /// `invalid_grant`: the code or refresh token is no longer valid; re-authorization required.
    #[error("Discord rejected the grant (invalid_grant): re-authorization is required")]
    GrantInvalid,
    /// `invalid_client` (400 or 401): the tenant app's client id or secret is wrong.
    #[error("Discord rejected the app's client credentials (invalid_client)")]
    ClientCredentialsInvalid,
    /// `invalid_scope`: the tenant's scope configuration is not acceptable to Discord.
    #[error("Discord rejected the requested scopes (invalid_scope)")]
    ScopeConfig,
    /// `invalid_request` or `unsupported_grant_type`: Latchkey sent something Discord refuses.
    #[error("Discord refused the request as malformed ({0})")]
    ClientBug(String),
    /// A REST call answered 401: the access token is dead (Latchkey checks scopes before calling).
    #[error("the access token is no longer valid")]
    TokenDead,
    /// A REST call answered 403 with a Discord error code.
    #[error("Discord denied access (code {code})")]
    Forbidden {
        /// Discord's JSON error code.
        code: u64,
    },
    /// A REST call answered 404 with a Discord error code.
    #[error("Discord says not found (code {code})")]
    NotFound {
        /// Discord's JSON error code.
        code: u64,
    },
    /// Rate limited and the wait would pass the caller's deadline.
    #[error("rate limited by Discord; retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
        /// Whether the global limit was hit.
        global: bool,
    },
    /// Network error, timeout or 5xx after the bounded retries.
    #[error("Discord is unavailable: {0}")]
    Transient(String),
    /// Discord (or Cloudflare in front of it) has restricted Latchkey's egress.
    #[error("Discord has temporarily blocked this egress (invalid-request limit)")]
    EgressBanned,
    /// Latchkey's own invalid-request breaker is open: calls fail fast.
    #[error("Discord calls are paused: too many invalid responses recently (breaker open)")]
    BreakerOpen,
    /// The answer could not be trusted: wrong type, missing fields, too large, HTML, ….
    #[error("unexpected response from Discord: {0}")]
    InvalidResponse(String),
    /// The caller passed something unusable (a malformed URL, scope or verifier).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl DiscordError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            DiscordError::RateLimited { .. }
            | DiscordError::Transient(_)
            | DiscordError::BreakerOpen => true,
            DiscordError::GrantInvalid
            | DiscordError::ClientCredentialsInvalid
            | DiscordError::ScopeConfig
            | DiscordError::ClientBug(_)
            | DiscordError::TokenDead
            | DiscordError::Forbidden { .. }
            | DiscordError::NotFound { .. }
            | DiscordError::EgressBanned
            | DiscordError::InvalidResponse(_)
            | DiscordError::InvalidInput(_) => false,
        }
    }

    /// A stable, low-cardinality name (span attributes and metrics; never the message).
    pub fn kind(&self) -> &'static str {
        match self {
            DiscordError::GrantInvalid => "grant_invalid",
            DiscordError::ClientCredentialsInvalid => "client_credentials_invalid",
            DiscordError::ScopeConfig => "scope_config",
            DiscordError::ClientBug(_) => "client_bug",
            DiscordError::TokenDead => "token_dead",
            DiscordError::Forbidden { .. } => "forbidden",
            DiscordError::NotFound { .. } => "not_found",
            DiscordError::RateLimited { .. } => "rate_limited",
            DiscordError::Transient(_) => "transient",
            DiscordError::EgressBanned => "egress_banned",
            DiscordError::BreakerOpen => "breaker_open",
            DiscordError::InvalidResponse(_) => "invalid_response",
            DiscordError::InvalidInput(_) => "invalid_input",
        }
    }

    /// Whether the user must authorize again.
    pub fn requires_reauthorization(&self) -> bool {
        matches!(self, DiscordError::GrantInvalid | DiscordError::TokenDead)
    }
}
