//! `latchkey-discord-sim` will be a faithful, stateful Discord simulator (specs/discord.md §10):
//! the authorize page, token, revoke and REST endpoints with Discord's exact behaviour and
//! error bodies, an admin API for fixtures and fault knobs, and a request log for assertions.
//! It depends on nothing of Latchkey's. It arrives with issue 3; nothing here yet.
