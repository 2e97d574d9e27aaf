//! The Discord simulator for black-box tests: one Discord app and two users, real OAuth2
//! consent over HTTP, and a look at what the simulator received.

use latchkey_discord::authorize::{PkceVerifier, State};
use latchkey_discord::types::TokenSet;
use latchkey_discord::{ClientConfig, DiscordApp, DiscordClient, Endpoints};
use latchkey_discord_sim::{Fixtures, SimConfig, Simulator};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

pub const APP_ID: &str = "1100000000000000001";
pub const SECRET: &str = "acme-secret-0123456789";
pub const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback/prv_test";
pub const USER: &str = "80351110224678912";

pub struct Sim {
    pub sim: Simulator,
    pub http: reqwest::Client,
    pub client: DiscordClient,
    pub app: DiscordApp,
}

impl Sim {
    pub async fn start() -> Self {
        let fixtures = json!({
            "apps": [{"id": APP_ID, "name": "Acme Agent", "secret": SECRET, "redirect_uris": [REDIRECT], "public_client": false}],
            "users": [{"id": USER, "username": "nelly", "global_name": "Nelly"}],
        });
        let sim = Simulator::start(SimConfig {
            fixtures: Some(Fixtures::from_json(&fixtures.to_string()).unwrap()),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let app = DiscordApp {
            client_id: APP_ID.to_owned(),
            client_secret: SecretString::from(SECRET),
            redirect_uri: REDIRECT.to_owned(),
            endpoints: Endpoints::with_origin(&sim.base_url()).unwrap(),
        };
        Self {
            sim,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            client: DiscordClient::new(ClientConfig::default()).unwrap(),
            app,
        }
    }

    pub fn origin(&self) -> String {
        self.sim.base_url()
    }

    /// A real grant: the user consents to `scopes` and the code is exchanged.
    pub async fn login(&self, scopes: &[&str]) -> TokenSet {
        let verifier = PkceVerifier::generate();
        let state = State::generate();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let url = self
            .client
            .authorize_url(&self.app, &scopes, &state, &verifier)
            .unwrap();
        let r = self
            .http
            .get(format!("{url}&sim_user={USER}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let code = location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        self.client
            .exchange_code(&self.app, &SecretString::from(code), &verifier)
            .await
            .unwrap()
    }

    /// Whether Discord still accepts the access token.
    pub async fn token_alive(&self, t: &TokenSet) -> bool {
        self.client
            .current_user(&self.app, &t.access_token)
            .await
            .is_ok()
    }

    /// The requests the simulator logged under a path prefix.
    pub async fn requests(&self, path_prefix: &str) -> Vec<Value> {
        let v: Value = self
            .http
            .get(format!(
                "{}/__sim/requests?path={path_prefix}",
                self.sim.base_url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array()
            .cloned()
            .or_else(|| v["requests"].as_array().cloned())
            .unwrap_or_default()
    }

    pub fn tokens(t: &TokenSet) -> (String, Option<String>) {
        (
            t.access_token.expose_secret().to_owned(),
            t.refresh_token
                .as_ref()
                .map(|r| r.expose_secret().to_owned()),
        )
    }
}
