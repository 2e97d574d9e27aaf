//! `latchkey-discord` is Latchkey's Discord OAuth2 and REST client (specs/discord.md §8).
//!
//! - [`authorize`]: authorization URLs with the fixed parameters Latchkey always sends
//!   (`response_type=code`, `state`, PKCE S256, `prompt=consent`, the exact `redirect_uri`);
//!   callers cannot add any other parameter.
//! - [`DiscordClient`]: code exchange, refresh and revocation (form-encoded, HTTP Basic client
//!   authentication), and the REST reads Latchkey needs (`/users/@me`, `/users/@me/guilds`,
//!   `/users/@me/guilds/{id}/member`, `/oauth2/@me`).
//! - Every call goes through one transport ([`transport`]) with timeouts, a response-size cap,
//!   per-bucket rate limiting learned from `X-RateLimit-*` headers, `retry_after` waits on 429,
//!   bounded jittered retries for transient failures, and the invalid-request breaker
//!   ([`breaker`]) that keeps Latchkey's egress far below Discord's ban threshold.
//! - Every provider answer is untrusted input: parse failures, HTML pages, oversized bodies and
//!   non-string snowflakes are typed errors ([`DiscordError`]), never panics.
//!
//! Tokens, codes, verifiers and secrets are `secrecy` types; nothing here logs them.

pub mod authorize;
pub mod breaker;
mod client;
pub mod endpoints;
pub mod error;
pub mod ratelimit;
pub mod transport;
pub mod types;

pub use client::{ClientAuth, ClientConfig, DiscordApp, DiscordClient};
pub use endpoints::Endpoints;
pub use error::DiscordError;
