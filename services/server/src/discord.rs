//! The Discord side of the domain's ports, over `latchkey-discord`: one client per process (one
//! egress: one rate limiter and one invalid-request breaker for every tenant).

use async_trait::async_trait;
use latchkey_core::ports::DiscordRevoker;
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
        let endpoints = match endpoint_origin {
            Some(origin) => Endpoints::with_origin(origin).map_err(|e| e.to_string())?,
            None => Endpoints::discord(),
        };
        let app = DiscordApp {
            client_id: client_id.to_owned(),
            client_secret: client_secret.clone(),
            redirect_uri: String::new(),
            endpoints,
        };
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
