//! `latchkey-discord` will hold the Discord OAuth2 and REST client that implements the Discord
//! port of `latchkey-core`: authorization URLs with fixed parameters (state, PKCE S256,
//! `prompt=consent`), code exchange and refresh with HTTP Basic client authentication,
//! revocation, `/users/@me` and guild/member reads, typed errors, per-bucket rate limits and the
//! invalid-request breaker (specs/discord.md §8). It arrives with issue 3; nothing here yet.
