//! `latchkey-sdk`: the typed Rust client for [Latchkey](https://github.com/latchkey), the auth
//! broker that lets AI agents' tools act on Discord for their users.
//!
//! Two kinds of code use it:
//!
//! - **Apps** (an app key) start an authorization for one of their users, show the user the
//!   link, and wait; their verifier route confirms the user:
//!
//!   ```no_run
//!   # async fn f() -> Result<(), latchkey_sdk::Error> {
//!   use std::time::Duration;
//!   let client = latchkey_sdk::Client::from_env()?; // LATCHKEY_API_KEY, LATCHKEY_BASE_URL
//!   let auth = client.auth().start("alice", "discord", ["guilds"]).await?;
//!   if let Some(url) = &auth.url {
//!       println!("Connect your Discord account: {url}");
//!   }
//!   let done = client.auth().wait_for_completion(&auth, Duration::from_secs(600)).await?;
//!   println!("connected as {}", done.user_info.unwrap()["username"]);
//!   # Ok(()) }
//!   ```
//!
//! - **Tool authors** declare what a tool needs in code, register it once (an admin key), and at
//!   run time (the tool's key) get the user's token or call Discord through Latchkey's proxy:
//!
//!   ```no_run
//!   # async fn f(admin: latchkey_sdk::Client, tool_client: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
//!   use latchkey_sdk::{Discord, Tool};
//!   let tool = Tool::new("Discord.ListServers")
//!       .version("1.0.0")
//!       .requires(Discord::scopes(["identify", "guilds"]));
//!   let registration = admin.tools().register(&tool).await?;
//!
//!   let ctx = tool_client.tool_context("alice");
//!   for guild in ctx.discord().guilds().await? {
//!       println!("{}", guild.name);
//!   }
//!   # Ok(()) }
//!   ```
//!
//! Errors are [`Error`]s; Latchkey's refusals carry the REST API's stable [`ErrorName`]. Only
//! transport errors and 5xx answers are retried (with exponential back-off); a 4xx never is.
//! Nothing this crate prints (`Debug`) contains a key or a token.
//!
//! The guides are in the repository's `docs/` (quickstart, writing a verifier, writing a tool).

mod auth;
mod client;
mod context;
mod error;
mod tools;

pub use auth::{Auth, AuthRef, AuthStatus, Authorization};
pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL, ENV_API_KEY, ENV_BASE_URL, Retry};
pub use context::{DiscordClient, DiscordUser, PartialGuild, Token, ToolContext};
pub use error::{ApiError, Error};
pub use latchkey_api::ErrorName;
pub use latchkey_api::auth::{AuthorizeRequest, ConfirmUserResponse};
pub use latchkey_api::tokens::ToolGrantResponse;
pub use latchkey_api::tools::ToolResponse;
pub use tools::{Discord, Registration, Requirement, Tool, Tools};
