//! The four Discord endpoints a provider uses. Defaults are Discord's (specs/discord.md §1.1);
//! a provider may point all four at another origin (the simulator, or an egress proxy) — the
//! operator allow-list for such overrides is enforced by the control plane.

use url::Url;

use crate::DiscordError;

/// Authorize, token, revoke and REST base URLs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The browser authorization page (`/oauth2/authorize`).
    pub authorize: Url,
    /// The token endpoint (`/api/oauth2/token`).
    pub token: Url,
    /// The revocation endpoint (`/api/oauth2/token/revoke`).
    pub revoke: Url,
    /// The REST base (`/api/v10`), without a trailing slash.
    pub api_base: Url,
}

impl Endpoints {
    /// Discord's production endpoints.
    #[allow(clippy::expect_used, reason = "a constant, valid origin")]
    pub fn discord() -> Self {
        Self::with_origin("https://discord.com").expect("discord.com endpoints parse")
    }

    /// All four endpoints at another origin laid out like discord.com (the simulator).
    pub fn with_origin(origin: &str) -> Result<Self, DiscordError> {
        let origin = origin.trim_end_matches('/');
        let parse = |path: &str| {
            Url::parse(&format!("{origin}{path}"))
                .map_err(|e| DiscordError::InvalidInput(format!("endpoint origin {origin:?}: {e}")))
        };
        let endpoints = Self {
            authorize: parse("/oauth2/authorize")?,
            token: parse("/api/oauth2/token")?,
            revoke: parse("/api/oauth2/token/revoke")?,
            api_base: parse("/api/v10")?,
        };
        if !matches!(endpoints.token.scheme(), "http" | "https") {
            return Err(DiscordError::InvalidInput(
                "endpoints must be http or https URLs".to_owned(),
            ));
        }
        Ok(endpoints)
    }

    /// A REST URL: the API base plus `path` (which starts with `/`).
    pub fn api(&self, path: &str) -> Result<Url, DiscordError> {
        Url::parse(&format!(
            "{}{path}",
            self.api_base.as_str().trim_end_matches('/')
        ))
        .map_err(|e| DiscordError::InvalidInput(format!("REST path {path:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_defaults_and_origins() {
        let d = Endpoints::discord();
        assert_eq!(d.authorize.as_str(), "https://discord.com/oauth2/authorize");
        assert_eq!(d.token.as_str(), "https://discord.com/api/oauth2/token");
        assert_eq!(
            d.revoke.as_str(),
            "https://discord.com/api/oauth2/token/revoke"
        );
        assert_eq!(
            d.api("/users/@me").unwrap().as_str(),
            "https://discord.com/api/v10/users/@me"
        );
        let sim = Endpoints::with_origin("http://127.0.0.1:7300/").unwrap();
        assert_eq!(sim.token.as_str(), "http://127.0.0.1:7300/api/oauth2/token");
        assert!(Endpoints::with_origin("ftp://x").is_err());
        assert!(Endpoints::with_origin("not a url").is_err());
    }
}
