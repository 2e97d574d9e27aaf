//! The tool side at run time: a [`ToolContext`] for one user, which gets the user's Discord
//! token for what the tool declared, or calls Discord through Latchkey's proxy so the tool never
//! holds the token at all.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use latchkey_api::tokens::{TokenRequest, TokenResponse};
use reqwest::Method;
use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use crate::client::{Call, Client};
use crate::error::Error;

/// The header naming the user on proxy calls with a tool key.
const USER_HEADER: &str = "latchkey-user-id";
/// The header carrying a tool grant on proxy calls.
const GRANT_HEADER: &str = "latchkey-tool-grant";

/// A user's Discord access token, for the scopes the tool declared.
#[derive(Clone)]
pub struct Token {
    /// Use as `Authorization: Bearer <access_token>` at Discord. Never log it.
    pub access_token: String,
    /// When to stop using it (RFC 3339); the context asks again before then.
    pub expires_at: String,
    /// The scopes it may be used for (declared + `identify`), sorted.
    pub scopes: Vec<String>,
    /// Discord's `/users/@me` object for the user.
    pub user_info: serde_json::Value,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("access_token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Who the tool acts for.
#[derive(Clone)]
enum Acting {
    /// A user id, with the tool's key.
    User(String),
    /// A tool grant the app minted (no key).
    Grant(String),
}

/// One tool invocation's view of Latchkey: a tool key (or a tool grant) and the user it acts
/// for. Tokens are kept until shortly before they expire, so call [`ToolContext::token`] as
/// often as you like.
///
/// ```no_run
/// # async fn f() -> Result<(), latchkey_sdk::Error> {
/// // LATCHKEY_API_KEY holds the tool key printed when the tool was registered.
/// let tool = latchkey_sdk::Client::from_env()?;
/// let ctx = tool.tool_context("alice");
/// match ctx.discord().guilds().await {
///     Ok(guilds) => println!("{} servers", guilds.len()),
///     Err(latchkey_sdk::Error::AuthorizationRequired { url, .. }) => {
///         println!("alice must connect Discord first: {url}")
///     }
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
pub struct ToolContext {
    client: Client,
    acting: Acting,
    token: Mutex<Option<(Token, i64)>>,
}

impl std::fmt::Debug for ToolContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolContext")
            .field("user_id", &self.user_id())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A context for the tool whose key this client holds, acting for `user_id`.
    pub fn tool_context(&self, user_id: impl Into<String>) -> ToolContext {
        ToolContext {
            client: self.clone(),
            acting: Acting::User(user_id.into()),
            token: Mutex::new(None),
        }
    }

    /// A context from a tool grant the app minted ([`Tools::grant`](crate::Tools::grant));
    /// the grant names the tool and the user, and this client's key is not sent.
    pub fn tool_context_with_grant(&self, grant: impl Into<String>) -> ToolContext {
        ToolContext {
            client: self.clone(),
            acting: Acting::Grant(grant.into()),
            token: Mutex::new(None),
        }
    }
}

/// How long before `expires_at` a kept token is asked for again.
const EARLY: Duration = Duration::from_secs(5);

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl ToolContext {
    /// The user, when acting by key and user id (a grant names its user inside).
    pub fn user_id(&self) -> Option<&str> {
        match &self.acting {
            Acting::User(u) => Some(u),
            Acting::Grant(_) => None,
        }
    }

    /// The user's Discord token for what the tool declared, or
    /// [`Error::AuthorizationRequired`] with the link the user must open.
    ///
    /// ```no_run
    /// # async fn f(ctx: latchkey_sdk::ToolContext) -> Result<(), latchkey_sdk::Error> {
    /// let token = ctx.token().await?;
    /// let me = reqwest::Client::new()
    ///     .get("https://discord.com/api/v10/users/@me")
    ///     .bearer_auth(&token.access_token)
    ///     .send()
    ///     .await;
    /// # Ok(()) }
    /// ```
    pub async fn token(&self) -> Result<Token, Error> {
        let mut kept = self.token.lock().await;
        if let Some((t, until)) = kept.as_ref()
            && now_ms() < *until
        {
            return Ok(t.clone());
        }
        let req = match &self.acting {
            Acting::User(u) => TokenRequest {
                user_id: Some(u.clone()),
                grant: None,
            },
            Acting::Grant(g) => TokenRequest {
                user_id: None,
                grant: Some(g.clone()),
            },
        };
        let mut call = Call::new(Method::POST, "/v1/tokens").json(&req)?;
        call.anonymous = matches!(self.acting, Acting::Grant(_));
        let r: TokenResponse = self.client.json(&call).await?;
        let until = latchkey_api::time::parse_rfc3339(&r.expires_at)
            .map(|t| t - i64::try_from(EARLY.as_millis()).unwrap_or(0))
            .unwrap_or(0);
        let user_info = serde_json::from_str(r.user_info.get()).map_err(|e| Error::Decode {
            status: 200,
            message: e.to_string(),
        })?;
        let t = Token {
            access_token: r.access_token,
            expires_at: r.expires_at,
            scopes: r.scopes,
            user_info,
        };
        *kept = Some((t.clone(), until));
        Ok(t)
    }

    /// Forgets the kept token (e.g. after Discord refused it), so the next
    /// [`ToolContext::token`] asks Latchkey again.
    pub async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Discord through Latchkey's proxy: the token is injected by Latchkey and never reaches
    /// the tool; only the routes the tool's declared scopes imply are served.
    pub fn discord(&self) -> DiscordClient<'_> {
        DiscordClient { ctx: self }
    }
}

/// A Discord user (`GET /users/@me`); other fields stay in [`DiscordUser::extra`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DiscordUser {
    /// The snowflake id.
    pub id: String,
    /// The unique username.
    pub username: String,
    /// The display name, when set.
    #[serde(default)]
    pub global_name: Option<String>,
    /// Everything else Discord sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A server the user is in (`GET /users/@me/guilds`); other fields stay in
/// [`PartialGuild::extra`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct PartialGuild {
    /// The snowflake id.
    pub id: String,
    /// The server's name.
    pub name: String,
    /// Whether the user owns it.
    #[serde(default)]
    pub owner: bool,
    /// Everything else Discord sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Discord's user API through Latchkey's proxy (`/v1/proxy/discord/…`). From
/// [`ToolContext::discord`].
#[derive(Debug, Clone, Copy)]
pub struct DiscordClient<'a> {
    ctx: &'a ToolContext,
}

impl DiscordClient<'_> {
    /// `GET /users/@me` (scope `identify`).
    pub async fn current_user(&self) -> Result<DiscordUser, Error> {
        self.get("users/@me").await
    }

    /// `GET /users/@me/guilds` (scope `guilds`).
    ///
    /// ```no_run
    /// # async fn f(ctx: latchkey_sdk::ToolContext) -> Result<(), latchkey_sdk::Error> {
    /// for g in ctx.discord().guilds().await? {
    ///     println!("{} ({})", g.name, g.id);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn guilds(&self) -> Result<Vec<PartialGuild>, Error> {
        self.get("users/@me/guilds").await
    }

    /// `GET <path>` of Discord's API (e.g. `users/@me/connections`), as `T`. Discord's own
    /// errors come back as [`Error::Api`] with Discord's status.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let full = format!("/v1/proxy/discord/{}", path.trim_start_matches('/'));
        let mut call = Call::new(Method::GET, &full);
        match &self.ctx.acting {
            Acting::User(u) => call.headers.push((USER_HEADER, u.clone())),
            Acting::Grant(g) => {
                call.headers.push((GRANT_HEADER, g.clone()));
                call.anonymous = true;
            }
        }
        self.ctx.client.json(&call).await
    }
}
