//! Shared helpers for the simulator's black-box tests: start a simulator with the demo
//! fixtures, drive authorize and token calls with reqwest.

#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use base64::Engine;
use latchkey_discord_sim::{Fixtures, Mode, SimConfig, Simulator};
use reqwest::redirect::Policy;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const APP: &str = "1100000000000000001";
pub const SECRET: &str = "acme-secret-1";
pub const USER: &str = "80351110224678912";
pub const GUILD: &str = "290926798626357250";
pub const REDIRECT: &str = "http://127.0.0.1:8080/v1/oauth/discord/callback";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const STATE: &str = "c3RhdGUtc3RhdGUtc3RhdGUtc3RhdGUtc3RhdGUtc3Rh";
pub const UA: &str = "DiscordBot (https://github.com/example/latchkey, 0.1.0)";

pub struct Harness {
    pub sim: Simulator,
    pub base: String,
    pub http: reqwest::Client,
}

pub async fn start_mode(mode: Mode) -> Harness {
    let fixtures = Fixtures::from_json(include_str!("../../fixtures/demo.json")).unwrap();
    let sim = Simulator::start(SimConfig {
        mode,
        fixtures: Some(fixtures),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let base = sim.base_url();
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .user_agent(UA)
        .build()
        .unwrap();
    Harness { sim, base, http }
}

pub async fn start() -> Harness {
    start_mode(Mode::Test).await
}

pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

pub fn basic() -> String {
    let raw = format!("{APP}:{SECRET}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Query parameters of a Location header.
pub fn location_params(resp: &reqwest::Response) -> Vec<(String, String)> {
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    let query = loc
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

pub fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Authorize with standard parameters plus `extra`, returns the response.
    pub async fn authorize(&self, scope: &str, extra: &[(&str, &str)]) -> reqwest::Response {
        let ch = challenge(VERIFIER);
        let mut q: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", APP),
            ("scope", scope),
            ("state", STATE),
            ("redirect_uri", REDIRECT),
            ("prompt", "consent"),
            ("code_challenge", &ch),
            ("code_challenge_method", "S256"),
        ];
        q.extend_from_slice(extra);
        self.http
            .get(self.url("/oauth2/authorize"))
            .query(&q)
            .send()
            .await
            .unwrap()
    }

    /// A code for `scope`, approved by the fixture user.
    pub async fn code(&self, scope: &str) -> String {
        let resp = self.authorize(scope, &[("sim_user", USER)]).await;
        assert_eq!(resp.status(), 302);
        let params = location_params(&resp);
        assert_eq!(param(&params, "state"), Some(STATE));
        param(&params, "code").unwrap().to_owned()
    }

    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/api/oauth2/token"))
            .header("authorization", basic())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(&self, code: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await
    }

    /// A full token object for `scope`.
    pub async fn tokens(&self, scope: &str) -> Value {
        let code = self.code(scope).await;
        let resp = self.exchange(&code).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/api/v10{path}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_get(&self, path: &str) -> Value {
        self.http
            .get(self.url(&format!("/__sim{path}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/__sim{path}")))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn settings(&self, patch: Value) {
        let resp = self
            .http
            .patch(self.url("/__sim/settings"))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    /// Notes of the last logged request.
    pub async fn last_notes(&self) -> Vec<String> {
        let log = self.admin_get("/requests").await;
        let last = log.as_array().unwrap().last().unwrap().clone();
        serde_json::from_value(last["notes"].clone()).unwrap()
    }
}
