//! Tools: declare what a tool needs from Discord in code, register it, and (app side) authorize
//! a user for it or mint a tool grant.

use latchkey_api::ErrorName;
use latchkey_api::api_keys::CreatedApiKeyResponse;
use latchkey_api::auth::AuthorizationResponse;
use latchkey_api::tokens::{ToolGrantRequest, ToolGrantResponse};
use latchkey_api::tools::{
    RequirementOAuth2, RequirementRequest, ToolAuthorizeRequest, ToolRequest, ToolResponse,
    ToolWithKeyResponse,
};
use reqwest::Method;

use crate::auth::Authorization;
use crate::client::{Call, Client, segment};
use crate::error::Error;

/// What a tool needs from Discord: scopes, and optionally one pinned provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    instance: Option<String>,
    scopes: Vec<String>,
}

impl Requirement {
    /// Pins one of the tenant's providers by its id (default: the tenant's one active Discord
    /// provider).
    ///
    /// ```
    /// use latchkey_sdk::Discord;
    /// let r = Discord::scopes(["guilds"]).provider("discord-prod");
    /// assert_eq!(r.instance(), Some("discord-prod"));
    /// ```
    pub fn provider(mut self, id: impl Into<String>) -> Self {
        self.instance = Some(id.into());
        self
    }

    /// The pinned provider's id, if any.
    pub fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// The declared scopes, sorted, each once (`identify` is implied).
    pub fn scope_list(&self) -> &[String] {
        &self.scopes
    }

    fn wire(&self) -> RequirementRequest {
        RequirementRequest {
            provider_id: Some("discord".to_owned()),
            provider_type: Some("oauth2".to_owned()),
            id: self.instance.clone(),
            oauth2: Some(RequirementOAuth2 {
                scopes: self.scopes.clone(),
            }),
        }
    }
}

/// Discord requirements.
#[derive(Debug, Clone, Copy)]
pub struct Discord;

impl Discord {
    /// A requirement for these Discord scopes.
    ///
    /// ```
    /// use latchkey_sdk::Discord;
    /// let r = Discord::scopes(["guilds", "identify", "guilds"]);
    /// assert_eq!(r.scope_list(), ["guilds", "identify"]);
    /// ```
    pub fn scopes<I, S>(scopes: I) -> Requirement
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        scopes.sort();
        scopes.dedup();
        Requirement {
            instance: None,
            scopes,
        }
    }
}

/// A tool declaration: the single source of truth for what the tool is registered with.
///
/// ```
/// use latchkey_sdk::{Discord, Tool};
/// let tool = Tool::new("Discord.ListServers")
///     .version("1.0.0")
///     .description("Lists the Discord servers the user is in.")
///     .requires(Discord::scopes(["identify", "guilds"]));
/// assert_eq!(tool.name(), "Discord.ListServers");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    name: String,
    version: String,
    description: Option<String>,
    requirement: Requirement,
}

impl Tool {
    /// A tool named `Toolkit.Tool`, version `0.1.0`, needing only `identify` until
    /// [`Tool::requires`] says more.
    pub fn new(name: impl Into<String>) -> Self {
        Tool {
            name: name.into(),
            version: "0.1.0".to_owned(),
            description: None,
            requirement: Discord::scopes(["identify"]),
        }
    }

    /// Its semantic version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// What it does (at most 1000 characters).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// What it needs from Discord.
    pub fn requires(mut self, requirement: Requirement) -> Self {
        self.requirement = requirement;
        self
    }

    /// `Toolkit.Tool`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it needs from Discord.
    pub fn requirement(&self) -> &Requirement {
        &self.requirement
    }

    fn wire(&self, with_name: bool) -> ToolRequest {
        ToolRequest {
            name: with_name.then(|| self.name.clone()),
            version: Some(self.version.clone()),
            description: Some(self.description.clone().unwrap_or_default()),
            requirement: Some(self.requirement.wire()),
        }
    }
}

/// The outcome of [`Tools::register`].
#[derive(Clone)]
pub struct Registration {
    /// The tool as registered now.
    pub tool: ToolResponse,
    /// The new tool key (`lk_…`), when this call created the tool — shown only now; store it
    /// where the tool runs. `None` when the tool existed and was brought in line with the
    /// declaration (its keys keep working).
    pub key: Option<String>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("tool", &self.tool)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Tools (`/v1/tools*` with an app key; `/v1/admin/tools` with an admin key). From
/// [`Client::tools`].
#[derive(Debug, Clone, Copy)]
pub struct Tools<'a> {
    client: &'a Client,
}

impl Client {
    /// Tools.
    pub fn tools(&self) -> Tools<'_> {
        Tools { client: self }
    }
}

impl Tools<'_> {
    /// Registers `tool` as declared (admin key): creates it and returns its first tool key, or,
    /// when it exists, updates its version, description and requirement to the declaration
    /// (and returns no key: [`Tools::issue_key`] issues one).
    ///
    /// ```no_run
    /// # async fn f(admin: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
    /// use latchkey_sdk::{Discord, Tool};
    /// let tool = Tool::new("Discord.ListServers").requires(Discord::scopes(["guilds"]));
    /// let reg = admin.tools().register(&tool).await?;
    /// if let Some(key) = reg.key {
    ///     // give `key` to the process that runs the tool (LATCHKEY_API_KEY)
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn register(&self, tool: &Tool) -> Result<Registration, Error> {
        let create = Call::new(Method::POST, "/v1/admin/tools").json(&tool.wire(true))?;
        match self.client.json::<ToolWithKeyResponse>(&create).await {
            Ok(r) => Ok(Registration {
                tool: r.tool,
                key: Some(r.key.secret),
            }),
            Err(Error::Api(e)) if e.name == Some(ErrorName::AlreadyExists) => {
                let path = format!("/v1/admin/tools/{}", segment(&tool.name));
                let patch = Call::new(Method::PATCH, &path).json(&tool.wire(false))?;
                Ok(Registration {
                    tool: self.client.json(&patch).await?,
                    key: None,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Issues another key for the registered tool `name` (admin key) — for rotation, or when
    /// [`Tools::register`]'s answer was lost: a retried registration finds the tool and returns
    /// no key. The secret is in this answer only. Revoke the old key afterwards with
    /// `DELETE /v1/admin/api_keys/{id}`.
    ///
    /// ```no_run
    /// # async fn f(admin: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
    /// let key = admin.tools().issue_key("Discord.ListServers").await?;
    /// # Ok(()) }
    /// ```
    pub async fn issue_key(&self, name: &str) -> Result<String, Error> {
        let path = format!("/v1/admin/tools/{}/keys", segment(name));
        let created: CreatedApiKeyResponse =
            self.client.json(&Call::new(Method::POST, &path)).await?;
        Ok(created.secret)
    }

    /// Starts (or reuses) an authorization for exactly what the registered tool `name`
    /// declared (app key; Arcade's `tools.authorize`).
    ///
    /// ```no_run
    /// # async fn f(client: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
    /// let auth = client.tools().authorize("Discord.ListServers", "alice").await?;
    /// # Ok(()) }
    /// ```
    pub async fn authorize(&self, name: &str, user_id: &str) -> Result<Authorization, Error> {
        let call = Call::new(Method::POST, "/v1/tools/authorize").json(&ToolAuthorizeRequest {
            tool_name: name.to_owned(),
            user_id: user_id.to_owned(),
            ..ToolAuthorizeRequest::default()
        })?;
        let r: AuthorizationResponse = self.client.json(&call).await?;
        Ok(r.into())
    }

    /// Mints a tool grant (app key): a 5-minute token that lets the tool `name` act for
    /// `user_id` without a tool key — hand it to the tool with the call
    /// ([`Client::tool_context_with_grant`]).
    pub async fn grant(&self, name: &str, user_id: &str) -> Result<ToolGrantResponse, Error> {
        let path = format!("/v1/tools/{}/grants", segment(name));
        let call = Call::new(Method::POST, &path).json(&ToolGrantRequest {
            user_id: user_id.to_owned(),
        })?;
        self.client.json(&call).await
    }
}
