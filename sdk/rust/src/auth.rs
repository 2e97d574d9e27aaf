//! The app side: start an authorization for one of your users, wait for it, and confirm the
//! user from your verifier route.

use std::time::{Duration, Instant};

use latchkey_api::auth::{
    AuthRequirement, AuthorizationResponse, AuthorizeOAuth2, AuthorizeRequest, ConfirmUserRequest,
    ConfirmUserResponse,
};
use reqwest::Method;

use crate::client::{Call, Client};
use crate::error::Error;

/// Where an authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStatus {
    /// The user must open [`Authorization::url`] and consent.
    Pending,
    /// Done: [`Authorization::token`] holds the Discord access token.
    Completed,
    /// Ended without a grant (consent denied, the verifier refused, it expired…).
    Failed,
    /// A status this SDK does not know.
    Other(String),
}

impl AuthStatus {
    fn parse(s: &str) -> Self {
        match s {
            "pending" | "not_started" => AuthStatus::Pending,
            "completed" => AuthStatus::Completed,
            "failed" => AuthStatus::Failed,
            other => AuthStatus::Other(other.to_owned()),
        }
    }
}

/// An authorization, as `authorize` and `status` answer it.
#[derive(Clone, PartialEq)]
pub struct Authorization {
    /// `auth_…`: what [`Auth::status`] and [`Auth::wait_for_completion`] take.
    pub id: String,
    /// Where it stands.
    pub status: AuthStatus,
    /// The start link to show the user (pending only).
    pub url: Option<String>,
    /// The resolved provider's id.
    pub provider_id: String,
    /// The scopes asked for (pending) or granted (completed), sorted.
    pub scopes: Vec<String>,
    /// Your user.
    pub user_id: String,
    /// The Discord access token (completed, while the grant is usable).
    pub token: Option<String>,
    /// Discord's `/users/@me` object for the user (completed).
    pub user_info: Option<serde_json::Value>,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("Authorization")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("url", &self.url.as_ref().map(|_| "<start link>"))
            .field("provider_id", &self.provider_id)
            .field("scopes", &self.scopes)
            .field("user_id", &self.user_id)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl From<AuthorizationResponse> for Authorization {
    fn from(r: AuthorizationResponse) -> Self {
        let (token, user_info) = match r.context {
            Some(c) => (Some(c.token), Some(c.user_info)),
            None => (None, None),
        };
        Authorization {
            id: r.id,
            status: AuthStatus::parse(&r.status),
            url: r.url,
            provider_id: r.provider_id,
            scopes: r.scopes,
            user_id: r.user_id,
            token,
            user_info,
        }
    }
}

impl Authorization {
    /// Whether it is completed.
    pub fn is_completed(&self) -> bool {
        self.status == AuthStatus::Completed
    }
}

/// What [`Auth::wait_for_completion`] waits for: an answer you hold, or an id.
#[derive(Debug, Clone)]
pub enum AuthRef {
    /// An answer of `start`/`status` (a completed one is returned without a request).
    Answer(Box<Authorization>),
    /// An authorization id (`auth_…`).
    Id(String),
}

impl From<Authorization> for AuthRef {
    fn from(a: Authorization) -> Self {
        AuthRef::Answer(Box::new(a))
    }
}
impl From<&Authorization> for AuthRef {
    fn from(a: &Authorization) -> Self {
        AuthRef::Answer(Box::new(a.clone()))
    }
}
impl From<String> for AuthRef {
    fn from(id: String) -> Self {
        AuthRef::Id(id)
    }
}
impl From<&str> for AuthRef {
    fn from(id: &str) -> Self {
        AuthRef::Id(id.to_owned())
    }
}

/// The longest `wait` Latchkey holds a status request.
const MAX_WAIT: Duration = Duration::from_secs(59);

/// Authorizations (`/v1/auth/*`, app key). From [`Client::auth`].
#[derive(Debug, Clone, Copy)]
pub struct Auth<'a> {
    client: &'a Client,
}

impl Client {
    /// Authorizations (app key).
    pub fn auth(&self) -> Auth<'_> {
        Auth { client: self }
    }
}

impl Auth<'_> {
    /// Starts (or reuses) an authorization for `user` through `provider` (`"discord"` for the
    /// tenant's one Discord provider, or a provider's id) with `scopes` (`identify` is always
    /// added; the user's already granted scopes are kept). Completed at once, with the token,
    /// when the user's grant already covers them.
    ///
    /// ```no_run
    /// # async fn f(client: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
    /// let auth = client.auth().start("alice", "discord", ["identify", "guilds"]).await?;
    /// if let Some(url) = &auth.url {
    ///     println!("Open {url} to connect your Discord account");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn start<I, S>(
        &self,
        user_id: &str,
        provider: &str,
        scopes: I,
    ) -> Result<Authorization, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.authorize(AuthorizeRequest {
            auth_requirement: AuthRequirement {
                provider_id: Some(provider.to_owned()),
                oauth2: Some(AuthorizeOAuth2 {
                    scopes: Some(scopes.into_iter().map(Into::into).collect()),
                    ..AuthorizeOAuth2::default()
                }),
                ..AuthRequirement::default()
            },
            user_id: user_id.to_owned(),
            ..AuthorizeRequest::default()
        })
        .await
    }

    /// `POST /v1/auth/authorize` with the whole request (e.g. with `next_uri`, or a provider
    /// pinned by `auth_requirement.id`).
    pub async fn authorize(&self, req: AuthorizeRequest) -> Result<Authorization, Error> {
        let call = Call::new(Method::POST, "/v1/auth/authorize").json(&req)?;
        let r: AuthorizationResponse = self.client.json(&call).await?;
        Ok(r.into())
    }

    /// The authorization `id`; with `wait`, Latchkey holds a pending one until it changes or
    /// `wait` passes (at most 59 s).
    pub async fn status(&self, id: &str, wait: Option<Duration>) -> Result<Authorization, Error> {
        let mut call = Call::new(Method::GET, "/v1/auth/status");
        call.query.push(("id", id.to_owned()));
        if let Some(w) = wait {
            let w = w.min(MAX_WAIT);
            call.query.push(("wait", w.as_secs().to_string()));
            call.extra_time = w;
        }
        let r: AuthorizationResponse = self.client.json(&call).await?;
        Ok(r.into())
    }

    /// Waits until the authorization completes, long-polling (no busy loop). Unlike Arcade's
    /// helper it stops on `failed` ([`Error::Failed`]) and at `timeout` ([`Error::Timeout`]).
    /// A completed answer is returned without a request.
    ///
    /// ```no_run
    /// # async fn f(client: latchkey_sdk::Client) -> Result<(), latchkey_sdk::Error> {
    /// use std::time::Duration;
    /// let auth = client.auth().start("alice", "discord", ["guilds"]).await?;
    /// let done = client.auth().wait_for_completion(&auth, Duration::from_secs(300)).await?;
    /// let token = done.token.expect("completed answers carry the token");
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_completion(
        &self,
        auth: impl Into<AuthRef>,
        timeout: Duration,
    ) -> Result<Authorization, Error> {
        let deadline = Instant::now() + timeout;
        let mut current = match auth.into() {
            AuthRef::Answer(a) => *a,
            AuthRef::Id(id) => self.status(&id, None).await?,
        };
        loop {
            match current.status {
                AuthStatus::Completed => return Ok(current),
                AuthStatus::Failed => return Err(Error::Failed(Box::new(current))),
                AuthStatus::Pending | AuthStatus::Other(_) => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    authorization_id: current.id,
                });
            }
            // Whole seconds on the wire; a sub-second rest still waits one second.
            let wait = left.max(Duration::from_secs(1)).min(MAX_WAIT);
            current = self.status(&current.id, Some(wait)).await?;
        }
    }

    /// Your verifier confirms that the browser which reached it with `flow_id` belongs to
    /// `user_id` — the user of **your own signed-in session**, never a value from the request.
    /// Answers where to send the browser next; a different user is
    /// [`ErrorName::UserMismatch`](crate::ErrorName::UserMismatch) (the flow fails), an
    /// unknown or used `flow_id` [`ErrorName::NotFound`](crate::ErrorName::NotFound).
    ///
    /// ```no_run
    /// # async fn f(client: latchkey_sdk::Client, flow_id: &str, session_user: &str) -> Result<(), latchkey_sdk::Error> {
    /// let confirmed = client.auth().confirm_user(flow_id, session_user).await?;
    /// // redirect the browser to confirmed.next_uri
    /// # Ok(()) }
    /// ```
    pub async fn confirm_user(
        &self,
        flow_id: &str,
        user_id: &str,
    ) -> Result<ConfirmUserResponse, Error> {
        let call = Call::new(Method::POST, "/v1/auth/confirm_user").json(&ConfirmUserRequest {
            flow_id: flow_id.to_owned(),
            user_id: user_id.to_owned(),
        })?;
        self.client.json(&call).await
    }
}
