//! Authorization URLs (specs/discord.md §3.2, §3.3). Every URL carries exactly
//! `response_type=code`, `client_id`, `scope`, `state`, `redirect_uri`, `prompt=consent`,
//! `code_challenge` and `code_challenge_method=S256` — nothing else, and callers have no way to
//! add or override a parameter. The `oauth2` crate builds the URL and the PKCE challenge.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::{
    AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::DiscordError;

/// 32 random bytes, base64url without padding (43 characters): used for both `state` and the
/// PKCE verifier.
fn random_token() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// The `state` parameter: 256 random bits. Only its hash is stored by Latchkey.
pub struct State(SecretString);

impl State {
    /// A fresh state value.
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// A state value minted elsewhere (Latchkey's flow keeps its own capabilities).
    pub fn from_secret(v: SecretString) -> Self {
        Self(v)
    }

    /// The value, for the authorize URL and the comparison at the callback.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

/// A PKCE code verifier (RFC 7636): 43 characters of base64url.
pub struct PkceVerifier(SecretString);

impl PkceVerifier {
    /// A fresh verifier from 32 random bytes.
    pub fn generate() -> Self {
        Self(random_token())
    }

    /// A verifier restored from storage. It must be 43–128 characters of `[A-Za-z0-9-._~]`.
    pub fn from_stored(v: SecretString) -> Result<Self, DiscordError> {
        let s = v.expose_secret();
        let ok = (43..=128).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if ok {
            Ok(Self(v))
        } else {
            Err(DiscordError::InvalidInput(
                "malformed PKCE verifier".to_owned(),
            ))
        }
    }

    /// The verifier, sent at the code exchange.
    pub fn secret(&self) -> &SecretString {
        &self.0
    }

    /// `base64url(SHA-256(verifier))`, the S256 challenge.
    pub fn challenge(&self) -> String {
        let verifier = PkceCodeVerifier::new(self.0.expose_secret().to_owned());
        PkceCodeChallenge::from_code_verifier_sha256(&verifier)
            .as_str()
            .to_owned()
    }
}

/// Scopes Latchkey may request (specs/discord.md §2, column "Latchkey": allow / allow*).
pub const REQUESTABLE_SCOPES: &[&str] = &[
    "identify",
    "email",
    "guilds",
    "guilds.members.read",
    "connections",
    "guilds.join",
];

/// Builds the authorize URL for one flow.
pub fn authorize_url(
    authorize_endpoint: &Url,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
    state: &State,
    pkce: &PkceVerifier,
) -> Result<Url, DiscordError> {
    if scopes.is_empty() {
        return Err(DiscordError::InvalidInput(
            "at least one scope is required".to_owned(),
        ));
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| !REQUESTABLE_SCOPES.contains(&s.as_str()))
    {
        return Err(DiscordError::InvalidInput(format!(
            "scope {bad:?} cannot be requested"
        )));
    }
    if client_id.is_empty() || !client_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DiscordError::InvalidInput(
            "client_id must be a Discord application id".to_owned(),
        ));
    }
    let auth = AuthUrl::from_url(authorize_endpoint.clone());
    if authorize_endpoint.query().is_some() {
        return Err(DiscordError::InvalidInput(
            "the authorize endpoint must not carry a query".to_owned(),
        ));
    }
    let redirect = RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|e| DiscordError::InvalidInput(format!("redirect_uri: {e}")))?;
    let client = oauth2::basic::BasicClient::new(ClientId::new(client_id.to_owned()))
        .set_auth_uri(auth)
        .set_redirect_uri(redirect);
    let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
        pkce.secret().expose_secret().to_owned(),
    ));
    let state_value = state.secret().expose_secret().to_owned();
    let (url, _) = client
        .authorize_url(|| CsrfToken::new(state_value))
        .add_scopes(scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge)
        .add_extra_param("prompt", "consent")
        .url();
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn params(url: &Url) -> Vec<(String, String)> {
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn pkce_known_answer_rfc7636_appendix_b() {
        let v = PkceVerifier::from_stored(SecretString::from(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ))
        .unwrap();
        assert_eq!(v.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn generated_values_are_43_chars_and_distinct() {
        let (a, b) = (PkceVerifier::generate(), PkceVerifier::generate());
        assert_eq!(a.secret().expose_secret().len(), 43);
        assert_ne!(a.secret().expose_secret(), b.secret().expose_secret());
        assert!(PkceVerifier::from_stored(a.secret().clone()).is_ok());
        assert_eq!(State::generate().secret().expose_secret().len(), 43);
        assert!(PkceVerifier::from_stored(SecretString::from("short")).is_err());
    }

    #[test]
    fn url_has_exactly_the_fixed_parameters() {
        let endpoint = Url::parse("https://discord.com/oauth2/authorize").unwrap();
        let (state, pkce) = (State::generate(), PkceVerifier::generate());
        let redirect = "https://latchkey.example/oauth/callback/prv_1?x=1";
        let url = authorize_url(
            &endpoint,
            "157730590492196864",
            redirect,
            &["identify".to_owned(), "guilds.join".to_owned()],
            &state,
            &pkce,
        )
        .unwrap();
        let p = params(&url);
        let names: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                "client_id",
                "code_challenge",
                "code_challenge_method",
                "prompt",
                "redirect_uri",
                "response_type",
                "scope",
                "state"
            ],
            "each parameter exactly once, nothing else: {url}"
        );
        let m: HashMap<_, _> = p.into_iter().collect();
        assert_eq!(m["response_type"], "code");
        assert_eq!(m["client_id"], "157730590492196864");
        assert_eq!(m["scope"], "identify guilds.join");
        assert_eq!(m["state"].as_str(), state.secret().expose_secret());
        assert_eq!(m["redirect_uri"], redirect, "the exact bytes");
        assert_eq!(m["prompt"], "consent");
        assert_eq!(m["code_challenge"], pkce.challenge());
        assert_eq!(m["code_challenge_method"], "S256");
        assert!(
            url.as_str()
                .starts_with("https://discord.com/oauth2/authorize?")
        );
    }

    #[test]
    fn refuses_what_callers_may_not_choose() {
        let endpoint = Url::parse("https://discord.com/oauth2/authorize").unwrap();
        let (s, p) = (State::generate(), PkceVerifier::generate());
        let go = |client: &str, scopes: &[&str], e: &Url| {
            let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
            authorize_url(e, client, "https://x.example/cb", &scopes, &s, &p)
        };
        assert!(go("123", &[], &endpoint).is_err());
        assert!(go("123", &["bot"], &endpoint).is_err());
        assert!(go("123", &["role_connections.write"], &endpoint).is_err());
        assert!(go("123", &["identify prompt=none"], &endpoint).is_err());
        assert!(go("123&prompt=none", &["identify"], &endpoint).is_err());
        let with_query = Url::parse("https://discord.com/oauth2/authorize?prompt=none").unwrap();
        assert!(go("123", &["identify"], &with_query).is_err());
    }
}
