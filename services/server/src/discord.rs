//! The Discord side of the domain's ports, over `latchkey-discord`: one client per process (one
//! egress: one rate limiter and one invalid-request breaker for every tenant).

use async_trait::async_trait;
use latchkey_core::ports::{
    DiscordAppRef, DiscordCallError, DiscordOAuth, DiscordRevoker, ExchangedTokens, ProxyOutcome,
};
use latchkey_core::time::UnixMillis;
use latchkey_discord::authorize::{PkceVerifier, State};
use latchkey_discord::{DiscordApp, DiscordClient, DiscordError, Endpoints};
use secrecy::SecretString;

/// Revokes grants through the shared Discord client.
pub struct Revoker(pub DiscordClient);

#[async_trait]
impl DiscordRevoker for Revoker {
    async fn revoke(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        endpoint_origin: Option<&str>,
        token: &SecretString,
    ) -> Result<(), String> {
        let app = app_of(&DiscordAppRef {
            client_id,
            client_secret,
            redirect_uri: "",
            endpoint_origin,
        })
        .map_err(|e| e.to_string())?;
        match self.0.revoke(&app, token).await {
            // The token is already dead at Discord: what revocation wanted.
            Ok(()) | Err(DiscordError::GrantInvalid) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "revocation at Discord failed");
                Err(e.to_string())
            }
        }
    }
}

/// The OAuth2 steps of a flow through the shared Discord client.
pub struct OAuth(pub DiscordClient);

fn app_of(app: &DiscordAppRef<'_>) -> Result<DiscordApp, DiscordCallError> {
    let endpoints = match app.endpoint_origin {
        Some(origin) => Endpoints::with_origin(origin)
            .map_err(|e| DiscordCallError::Unavailable(e.to_string()))?,
        None => Endpoints::discord(),
    };
    Ok(DiscordApp {
        client_id: app.client_id.to_owned(),
        client_secret: app.client_secret.clone(),
        redirect_uri: app.redirect_uri.to_owned(),
        endpoints,
    })
}

/// Refusals the user can only cure by starting again; everything else is Discord's trouble.
fn call_error(e: DiscordError) -> DiscordCallError {
    let refused = e.requires_reauthorization()
        || matches!(
            e,
            DiscordError::GrantInvalid
                | DiscordError::Forbidden { .. }
                | DiscordError::ClientCredentialsInvalid
                | DiscordError::ScopeConfig
                | DiscordError::InvalidInput(_)
        );
    if refused {
        DiscordCallError::Refused(e.to_string())
    } else {
        DiscordCallError::Unavailable(e.to_string())
    }
}

/// A token response as the domain port gives it.
fn exchanged(t: latchkey_discord::types::TokenSet) -> ExchangedTokens {
    ExchangedTokens {
        scopes: t.scopes().into_iter().map(str::to_owned).collect(),
        expires_at: millis(t.expires_at),
        access_token: t.access_token,
        refresh_token: t.refresh_token,
    }
}

fn millis(t: std::time::SystemTime) -> UnixMillis {
    UnixMillis(
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0),
    )
}

#[async_trait]
impl DiscordOAuth for OAuth {
    fn authorize_url(
        &self,
        client_id: &str,
        redirect_uri: &str,
        endpoint_origin: Option<&str>,
        scopes: &[String],
        state: &SecretString,
        verifier: &SecretString,
    ) -> Result<String, String> {
        let app = app_of(&DiscordAppRef {
            client_id,
            client_secret: &SecretString::from(String::new()),
            redirect_uri,
            endpoint_origin,
        })
        .map_err(|e| e.to_string())?;
        let verifier = PkceVerifier::from_stored(verifier.clone()).map_err(|e| e.to_string())?;
        self.0
            .authorize_url(&app, scopes, &State::from_secret(state.clone()), &verifier)
            .map(String::from)
            .map_err(|e| e.to_string())
    }

    async fn exchange_code(
        &self,
        app: &DiscordAppRef<'_>,
        code: &SecretString,
        verifier: &SecretString,
    ) -> Result<ExchangedTokens, DiscordCallError> {
        let app = app_of(app)?;
        let verifier = PkceVerifier::from_stored(verifier.clone()).map_err(call_error)?;
        let t = self
            .0
            .exchange_code(&app, code, &verifier)
            .await
            .map_err(call_error)?;
        Ok(exchanged(t))
    }

    async fn check_credentials(&self, app: &DiscordAppRef<'_>) -> Result<(), DiscordCallError> {
        let app = app_of(app)?;
        let t = self
            .0
            .client_credentials(&app, "identify")
            .await
            .map_err(call_error)?;
        // The token proves the credentials; it is not kept.
        if let Err(e) = self.0.revoke(&app, &t.access_token).await {
            tracing::warn!(error = %e, "could not revoke a credential check's token");
        }
        Ok(())
    }

    async fn current_user(
        &self,
        app: &DiscordAppRef<'_>,
        access: &SecretString,
    ) -> Result<(String, serde_json::Value), DiscordCallError> {
        let app = app_of(app)?;
        let (user, raw) = self
            .0
            .current_user_json(&app, access)
            .await
            .map_err(call_error)?;
        Ok((user.id.to_string(), raw))
    }

    async fn refresh(
        &self,
        app: &DiscordAppRef<'_>,
        refresh_token: &SecretString,
    ) -> Result<ExchangedTokens, DiscordCallError> {
        let app = app_of(app)?;
        let t = self
            .0
            .refresh(&app, refresh_token)
            .await
            .map_err(call_error)?;
        Ok(exchanged(t))
    }

    async fn proxy_get(
        &self,
        endpoint_origin: Option<&str>,
        access: &SecretString,
        route: &'static str,
        path: &str,
    ) -> Result<ProxyOutcome, DiscordCallError> {
        let app = app_of(&DiscordAppRef {
            client_id: "",
            client_secret: &SecretString::from(String::new()),
            redirect_uri: "",
            endpoint_origin,
        })?;
        match self.0.proxy_get(&app, access, route, path).await {
            Ok((status, body)) => Ok(ProxyOutcome::Answer { status, body }),
            Err(DiscordError::TokenDead) => Ok(ProxyOutcome::TokenDead),
            Err(DiscordError::RateLimited { retry_after, .. }) => Ok(ProxyOutcome::RateLimited {
                retry_after_ms: u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            }),
            Err(e) => Err(call_error(e)),
        }
    }

    async fn member_roles(
        &self,
        app: &DiscordAppRef<'_>,
        access: &SecretString,
        guild: &str,
    ) -> Result<Option<Vec<String>>, DiscordCallError> {
        let app = app_of(app)?;
        let guild = latchkey_discord::types::Snowflake::parse(guild).ok_or_else(|| {
            DiscordCallError::Refused("policy guild id is not a snowflake".to_owned())
        })?;
        let member = self
            .0
            .guild_member(&app, access, guild)
            .await
            .map_err(call_error)?;
        Ok(member.map(|m| m.roles.iter().map(ToString::to_string).collect()))
    }
}
