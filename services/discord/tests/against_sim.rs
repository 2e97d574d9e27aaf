//! `latchkey-discord` against the Discord simulator over real HTTP (specs/discord.md §8, §10.10):
//! the happy path with what the simulator saw on the wire, code reuse and expiry, redirect and
//! PKCE mismatches, refresh rotation, revocation, invalid_client in both statuses, membership,
//! 429 then success, 5xx then success, bans, untrusted bodies and the breaker.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::wildcard_enum_match_arm,
    missing_docs
)]

use std::time::Duration;

use latchkey_discord::authorize::{PkceVerifier, State};
use latchkey_discord::breaker::BreakerConfig;
use latchkey_discord::transport::RetryConfig;
use latchkey_discord::types::Snowflake;
use latchkey_discord::{
    ClientAuth, ClientConfig, DiscordApp, DiscordClient, DiscordError, Endpoints,
};
use latchkey_discord_sim::{Fixtures, SimConfig, Simulator};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const APP_ID: &str = "1100000000000000001";
const SECRET: &str = "acme-secret-1";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback/prv_test";
const USER: &str = "80351110224678912";
const OTHER_USER: &str = "80351110224678913";
const GUILD: &str = "290926798626357250";
const OTHER_GUILD: &str = "290926798626357251";
const ROLE: &str = "41771983423143936";

fn fixtures() -> Fixtures {
    Fixtures::from_json(
        &json!({
            "apps": [{"id": APP_ID, "name": "Acme Agent", "secret": SECRET, "redirect_uris": [REDIRECT], "public_client": false}],
            "users": [
                {"id": USER, "username": "nelly", "global_name": "Nelly", "email": "nelly@example.test", "verified": true},
                {"id": OTHER_USER, "username": "owner"}
            ],
            "guilds": [
                {"id": GUILD, "name": "1337 Krew", "owner_id": USER, "features": ["COMMUNITY"],
                 "roles": [{"id": GUILD, "name": "@everyone", "permissions": "104324673"},
                           {"id": ROLE, "name": "Verified", "permissions": "0"}],
                 "members": [{"user_id": USER, "roles": [ROLE]}]},
                {"id": OTHER_GUILD, "name": "Elsewhere", "owner_id": OTHER_USER, "roles": [{"id": OTHER_GUILD, "name": "@everyone", "permissions": "0"}], "members": []}
            ]
        })
        .to_string(),
    )
    .unwrap()
}

struct Harness {
    sim: Simulator,
    http: reqwest::Client,
    client: DiscordClient,
    app: DiscordApp,
}

fn fast_config() -> ClientConfig {
    ClientConfig {
        retry: RetryConfig {
            max_attempts: 3,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            max_rate_limit_wait: Duration::from_secs(5),
        },
        request_timeout: Duration::from_secs(3),
        ..ClientConfig::default()
    }
}

async fn harness_with(config: ClientConfig) -> Harness {
    let sim = Simulator::start(SimConfig {
        fixtures: Some(fixtures()),
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
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Harness {
        sim,
        http,
        client: DiscordClient::new(config).unwrap(),
        app,
    }
}

async fn harness() -> Harness {
    harness_with(fast_config()).await
}

impl Harness {
    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/__sim{path}", self.sim.base_url()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.admin(reqwest::Method::POST, path, Some(body)).await
    }

    async fn settings(&self, body: Value) {
        self.admin(reqwest::Method::PATCH, "/settings", Some(body))
            .await;
    }

    async fn requests(&self, path_prefix: &str) -> Vec<Value> {
        let v = self
            .admin(
                reqwest::Method::GET,
                &format!("/requests?path={path_prefix}"),
                None,
            )
            .await;
        v.as_array()
            .cloned()
            .or_else(|| v["requests"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Follows the authorize URL like a browser whose user approves; returns the code.
    async fn consent(&self, scopes: &[&str], verifier: &PkceVerifier) -> SecretString {
        let state = State::generate();
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let url = self
            .client
            .authorize_url(&self.app, &scopes, &state, verifier)
            .unwrap();
        let r = self
            .http
            .get(format!("{url}&sim_user={USER}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            302,
            "{}",
            r.text().await.unwrap_or_default()
        );
        let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT));
        let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(
            q["state"],
            state.secret().expose_secret().to_owned(),
            "state echoed"
        );
        SecretString::from(q["code"].clone())
    }

    async fn login(&self, scopes: &[&str]) -> latchkey_discord::types::TokenSet {
        let v = PkceVerifier::generate();
        let code = self.consent(scopes, &v).await;
        self.client
            .exchange_code(&self.app, &code, &v)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn happy_path_and_what_discord_saw() {
    let h = harness().await;
    let tokens = h
        .login(&["identify", "email", "guilds", "guilds.members.read"])
        .await;
    assert!(tokens.refresh_token.is_some());
    assert_eq!(tokens.expires_in, Duration::from_secs(604_800));
    let mut granted = tokens.scopes();
    granted.sort();
    assert_eq!(
        granted,
        vec!["email", "guilds", "guilds.members.read", "identify"]
    );
    let me = h
        .client
        .current_user(&h.app, &tokens.access_token)
        .await
        .unwrap();
    assert_eq!(
        (me.id, me.display_name(), me.email.as_deref()),
        (
            Snowflake(USER.parse().unwrap()),
            "Nelly",
            Some("nelly@example.test")
        )
    );
    let auth = h
        .client
        .current_authorization(&h.app, &tokens.access_token)
        .await
        .unwrap();
    assert!(auth.scopes.contains(&"guilds".to_owned()));
    let guilds = h.client.guilds(&h.app, &tokens.access_token).await.unwrap();
    assert_eq!(
        guilds.iter().map(|g| g.id.to_string()).collect::<Vec<_>>(),
        vec![GUILD]
    );
    assert!(guilds[0].owner);
    let member = h
        .client
        .guild_member(
            &h.app,
            &tokens.access_token,
            Snowflake(GUILD.parse().unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(member.roles, vec![Snowflake(ROLE.parse().unwrap())]);
    assert!(
        h.client
            .guild_member(
                &h.app,
                &tokens.access_token,
                Snowflake(OTHER_GUILD.parse().unwrap())
            )
            .await
            .unwrap()
            .is_none()
    );

    // On the wire: a form body with Basic auth and the verifier, our User-Agent, v10 only, and no
    // client-conformance violation anywhere.
    let token_calls = h.requests("/api/oauth2/token").await;
    let exchange = token_calls
        .iter()
        .find(|r| r["form"]["grant_type"] == "authorization_code")
        .expect("exchange logged");
    assert_eq!(exchange["client_auth"], "basic");
    assert!(
        exchange["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    assert!(exchange["form"]["code_verifier"].is_string());
    assert!(exchange["form"].get("client_secret").is_none());
    assert!(
        exchange["headers"]["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("DiscordBot (")
    );
    for r in h.requests("/api/v").await {
        assert_eq!(r["api_version"], 10, "{r}");
    }
    let violations = h.admin(reqwest::Method::GET, "/violations", None).await;
    assert_eq!(
        violations.as_array().map_or(0, Vec::len),
        0,
        "violations: {violations}"
    );
}

#[tokio::test]
async fn code_reuse_expiry_redirect_and_pkce_mismatches() {
    let h = harness().await;
    // Reuse.
    let v = PkceVerifier::generate();
    let code = h.consent(&["identify"], &v).await;
    h.client.exchange_code(&h.app, &code, &v).await.unwrap();
    assert_eq!(
        h.client.exchange_code(&h.app, &code, &v).await.unwrap_err(),
        DiscordError::GrantInvalid
    );
    // Expiry: ~100 s.
    let v = PkceVerifier::generate();
    let code = h.consent(&["identify"], &v).await;
    h.post("/clock/advance", json!({"seconds": 101})).await;
    assert_eq!(
        h.client.exchange_code(&h.app, &code, &v).await.unwrap_err(),
        DiscordError::GrantInvalid
    );
    // PKCE: another verifier.
    let v = PkceVerifier::generate();
    let code = h.consent(&["identify"], &v).await;
    let err = h
        .client
        .exchange_code(&h.app, &code, &PkceVerifier::generate())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscordError::ClientBug(ref e) if e == "invalid_request")
            || err == DiscordError::GrantInvalid,
        "{err:?}"
    );
    // Redirect mismatch at the exchange: the same app, another (unregistered) redirect.
    let v = PkceVerifier::generate();
    let code = h.consent(&["identify"], &v).await;
    let wrong = DiscordApp {
        redirect_uri: format!("{REDIRECT}/"),
        ..clone_app(&h.app)
    };
    let err = h.client.exchange_code(&wrong, &code, &v).await.unwrap_err();
    assert!(
        matches!(err, DiscordError::ClientBug(ref e) if e == "invalid_request"),
        "{err:?}"
    );
    // Redirect mismatch at authorize: Discord's own error page, never a redirect.
    let url = h
        .client
        .authorize_url(
            &wrong,
            &["identify".to_owned()],
            &State::generate(),
            &PkceVerifier::generate(),
        )
        .unwrap();
    let r = h
        .http
        .get(format!("{url}&sim_user={USER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.headers()["x-discord-sim-error"], "invalid_redirect_uri");
    let notes: Vec<String> = h
        .requests("/api/oauth2/token")
        .await
        .iter()
        .flat_map(|r| r["notes"].as_array().cloned().unwrap_or_default())
        .map(|n| n.as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        notes.iter().any(|n| n == "code_reused") && notes.iter().any(|n| n == "code_expired"),
        "{notes:?}"
    );
}

fn clone_app(a: &DiscordApp) -> DiscordApp {
    DiscordApp {
        client_id: a.client_id.clone(),
        client_secret: a.client_secret.clone(),
        redirect_uri: a.redirect_uri.clone(),
        endpoints: a.endpoints.clone(),
    }
}

#[tokio::test]
async fn refresh_rotates_and_kills_the_old_pair() {
    let h = harness().await;
    let first = h.login(&["identify"]).await;
    let old_refresh = first.refresh_token.clone().unwrap();
    let second = h.client.refresh(&h.app, &old_refresh).await.unwrap();
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert_ne!(
        second.refresh_token.as_ref().unwrap().expose_secret(),
        old_refresh.expose_secret()
    );
    assert_eq!(
        h.client.refresh(&h.app, &old_refresh).await.unwrap_err(),
        DiscordError::GrantInvalid,
        "old refresh token rejected"
    );
    assert_eq!(
        h.client
            .current_user(&h.app, &first.access_token)
            .await
            .unwrap_err(),
        DiscordError::TokenDead,
        "old access token dead"
    );
    h.client
        .current_user(&h.app, &second.access_token)
        .await
        .unwrap();
}

#[tokio::test]
async fn revocation_kills_every_token_of_the_pair() {
    let h = harness().await;
    let a = h.login(&["identify"]).await;
    let b = h.login(&["identify"]).await;
    h.client.revoke(&h.app, &a.access_token).await.unwrap();
    for t in [&a, &b] {
        assert_eq!(
            h.client
                .current_user(&h.app, &t.access_token)
                .await
                .unwrap_err(),
            DiscordError::TokenDead
        );
        assert_eq!(
            h.client
                .refresh(&h.app, t.refresh_token.as_ref().unwrap())
                .await
                .unwrap_err(),
            DiscordError::GrantInvalid
        );
    }
}

#[tokio::test]
async fn invalid_client_in_both_statuses_and_both_auth_methods() {
    for (auth, status) in [
        (ClientAuth::Basic, "401"),
        (ClientAuth::Basic, "400"),
        (ClientAuth::Body, "by_auth_method"),
    ] {
        let h = harness_with(ClientConfig {
            client_auth: auth,
            ..fast_config()
        })
        .await;
        h.settings(json!({"token.invalid_client_status": status}))
            .await;
        let tokens = h.login(&["identify"]).await; // right secret works with either method
        let wrong = DiscordApp {
            client_secret: SecretString::from("wrong"),
            ..clone_app(&h.app)
        };
        let err = h
            .client
            .refresh(&wrong, tokens.refresh_token.as_ref().unwrap())
            .await
            .unwrap_err();
        assert_eq!(
            err,
            DiscordError::ClientCredentialsInvalid,
            "{auth:?} {status}"
        );
    }
}

#[tokio::test]
async fn member_not_found_in_both_codes() {
    let h = harness().await;
    let t = h.login(&["identify", "guilds.members.read"]).await;
    let other = Snowflake(OTHER_GUILD.parse().unwrap());
    assert!(
        h.client
            .guild_member(&h.app, &t.access_token, other)
            .await
            .unwrap()
            .is_none()
    );
    h.settings(json!({"rest.member_not_found_code": "10007"}))
        .await;
    assert!(
        h.client
            .guild_member(&h.app, &t.access_token, other)
            .await
            .unwrap()
            .is_none()
    );
    // A missing scope is a 401 at Discord: Latchkey must check scopes before calling.
    let narrow = h.login(&["identify"]).await;
    assert_eq!(
        h.client
            .guilds(&h.app, &narrow.access_token)
            .await
            .unwrap_err(),
        DiscordError::TokenDead
    );
}

#[tokio::test]
async fn rate_limit_then_success_waits_retry_after() {
    let h = harness().await;
    let t = h.login(&["identify"]).await;
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": 1}, "action": {"kind": "rate_limit", "retry_after": 0.4, "scope": "user"}})).await;
    let started = std::time::Instant::now();
    h.client
        .current_user(&h.app, &t.access_token)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "waited at least retry_after: {:?}",
        started.elapsed()
    );
    let calls = h.requests("/api/v10/users/@me").await;
    assert_eq!(calls.len(), 2, "one 429, one success");
    // The wait is counted for the `latchkey_discord_rate_limit_wait*` metrics.
    let (waits, waited) = h.client.rate_limit_waits().total();
    assert_eq!(waits, 1);
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    // A wait beyond the caller's budget comes back as RateLimited with the wait.
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": 1}, "action": {"kind": "rate_limit", "retry_after": 30.0, "scope": "user"}})).await;
    match h
        .client
        .current_user(&h.app, &t.access_token)
        .await
        .unwrap_err()
    {
        DiscordError::RateLimited { retry_after, .. } => {
            assert!(retry_after >= Duration::from_secs(29))
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test]
async fn server_errors_then_success_and_bounded_retries() {
    let h = harness().await;
    let t = h.login(&["identify"]).await;
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": 2}, "action": {"kind": "status", "status": 502}})).await;
    h.client
        .current_user(&h.app, &t.access_token)
        .await
        .unwrap();
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": null}, "action": {"kind": "status", "status": 500}})).await;
    assert!(matches!(
        h.client
            .current_user(&h.app, &t.access_token)
            .await
            .unwrap_err(),
        DiscordError::Transient(_)
    ));
    let calls = h.requests("/api/v10/users/@me").await;
    assert_eq!(
        calls.len(),
        1 + 2 + 3,
        "3 attempts for the persistent failure, never more"
    );
    // A code exchange is retried at most once.
    h.admin(reqwest::Method::DELETE, "/faults", None).await;
    let v = PkceVerifier::generate();
    let code = h.consent(&["identify"], &v).await;
    h.post("/faults", json!({"match": {"method": "POST", "path": "/api/oauth2/token"}, "trigger": {"count": null}, "action": {"kind": "status", "status": 503}})).await;
    assert!(matches!(
        h.client.exchange_code(&h.app, &code, &v).await.unwrap_err(),
        DiscordError::Transient(_)
    ));
    let faulted = h
        .requests("/api/oauth2/token")
        .await
        .into_iter()
        .filter(|r| !r["fault"].is_null())
        .count();
    assert_eq!(
        faulted, 2,
        "the exchange is tried exactly twice (one retry)"
    );
}

#[tokio::test]
async fn breaker_trips_before_discord_would_ban() {
    let config = ClientConfig {
        breaker: BreakerConfig {
            window: Duration::from_secs(600),
            warn_at: 5,
            trip_at: 10,
            open_for: Duration::from_secs(60),
        },
        ..fast_config()
    };
    let h = harness_with(config).await;
    h.settings(json!({"rate_limits.invalid_limit": 50})).await;
    let dead = SecretString::from("not-a-real-token");
    let mut sent = 0;
    for _ in 0..30 {
        match h.client.current_user(&h.app, &dead).await.unwrap_err() {
            DiscordError::TokenDead => sent += 1,
            DiscordError::BreakerOpen => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sent, 10, "the breaker opened at its threshold");
    assert!(h.client.breaker().is_open());
    assert_eq!(
        h.requests("/api/v10/users/@me").await.len(),
        10,
        "nothing left Latchkey after the trip"
    );
}

#[tokio::test]
async fn an_egress_ban_is_recognised_and_trips_the_breaker() {
    let h = harness().await;
    h.settings(json!({"rate_limits.invalid_limit": 3})).await;
    let dead = SecretString::from("not-a-real-token");
    let mut saw_ban = false;
    for _ in 0..6 {
        if h.client.current_user(&h.app, &dead).await.unwrap_err() == DiscordError::EgressBanned {
            saw_ban = true;
            break;
        }
    }
    assert!(saw_ban, "the Cloudflare 1015 page is classified as a ban");
    assert_eq!(
        h.client.current_user(&h.app, &dead).await.unwrap_err(),
        DiscordError::BreakerOpen
    );
}

#[tokio::test]
async fn untrusted_bodies_give_typed_errors() {
    let h = harness().await;
    let t = h.login(&["identify"]).await;
    let cases = [
        (
            json!({"kind": "status", "status": 200, "body": {"id": 80351110224678912u64, "username": "n"}}),
            "number snowflake",
        ),
        (
            json!({"kind": "status", "status": 200, "body": {"username": "n"}}),
            "missing id",
        ),
        (
            json!({"kind": "status", "status": 200, "body": "<html>hello</html>", "headers": {"content-type": "text/html"}}),
            "HTML",
        ),
        (
            json!({"kind": "status", "status": 200, "body": "x".repeat(3 << 19)}),
            "oversized",
        ),
    ];
    for (action, what) in cases {
        h.admin(reqwest::Method::DELETE, "/faults", None).await;
        h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": 1}, "action": action})).await;
        let err = h
            .client
            .current_user(&h.app, &t.access_token)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DiscordError::InvalidResponse(_)),
            "{what}: {err:?}"
        );
        assert!(!err.to_string().contains(t.access_token.expose_secret()));
    }
}

#[tokio::test]
async fn guild_lists_are_paginated_past_200() {
    let guilds: Vec<Value> = (0..250u64)
        .map(|i| {
            let id = (500_000_000_000_000_000u64 + i).to_string();
            json!({"id": id, "name": format!("g{i}"), "owner_id": USER, "roles": [{"id": id, "name": "@everyone", "permissions": "0"}], "members": [{"user_id": USER, "roles": []}]})
        })
        .collect();
    let h = harness().await;
    h.post("/fixtures", json!({"guilds": guilds})).await;
    let t = h.login(&["identify", "guilds"]).await;
    let all = h.client.guilds(&h.app, &t.access_token).await.unwrap();
    assert_eq!(
        all.len(),
        251,
        "250 new guilds and the one fixture guild the user is in"
    );
    let mut ids: Vec<u64> = all.iter().map(|g| g.id.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), 251, "no guild twice");
    assert_eq!(
        h.requests("/api/v10/users/@me/guilds").await.len(),
        2,
        "two pages"
    );
}

#[tokio::test]
async fn an_exhausted_bucket_is_waited_out_instead_of_earning_a_429() {
    let h = harness().await;
    let t = h.login(&["identify"]).await;
    h.settings(json!({"rate_limits.routes": {"GET /users/@me": {"limit": 2, "window_s": 1}}}))
        .await;
    let started = std::time::Instant::now();
    for _ in 0..5 {
        h.client
            .current_user(&h.app, &t.access_token)
            .await
            .unwrap();
    }
    let calls = h.requests("/api/v10/users/@me").await;
    assert_eq!(calls.len(), 5);
    assert!(
        calls.iter().all(|r| r["status"] == 200),
        "no 429 earned: {calls:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "waited for the window twice: {:?}",
        started.elapsed()
    );
    let violations = h.admin(reqwest::Method::GET, "/violations", None).await;
    assert!(
        violations
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["kind"] != "early_retry"),
        "{violations}"
    );
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried_a_bounded_number_of_times() {
    let h = harness_with(ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..fast_config()
    })
    .await;
    let t = h.login(&["identify"]).await;
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": 1}, "action": {"kind": "delay", "ms": 1000}})).await;
    h.client
        .current_user(&h.app, &t.access_token)
        .await
        .unwrap();
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": null}, "action": {"kind": "hang"}})).await;
    let started = std::time::Instant::now();
    let err = h
        .client
        .current_user(&h.app, &t.access_token)
        .await
        .unwrap_err();
    assert_eq!(err, DiscordError::Transient("timeout".to_owned()));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "three bounded attempts, not a hang: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn token_responses_are_checked_and_stored_as_returned() {
    let h = harness().await;
    // A narrower grant than requested: the stored scope is what Discord returned.
    h.post("/faults", json!({"match": {"method": "POST", "path": "/api/oauth2/token"}, "trigger": {"count": 1}, "action": {"kind": "mutate_token_response", "set": {"scope": "identify"}}})).await;
    let t = h.login(&["identify", "guilds"]).await;
    assert_eq!(t.scope, "identify");
    // Discord's `guild` extra is parsed; an unknown token type is refused.
    h.post("/faults", json!({"match": {"method": "POST", "path": "/api/oauth2/token"}, "trigger": {"count": 1}, "action": {"kind": "mutate_token_response", "set": {"guild": {"id": GUILD, "name": "1337 Krew"}}}})).await;
    let t = h
        .client
        .refresh(&h.app, t.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(t.guild_id, Some(Snowflake(GUILD.parse().unwrap())));
    h.post("/faults", json!({"match": {"method": "POST", "path": "/api/oauth2/token"}, "trigger": {"count": 1}, "action": {"kind": "mutate_token_response", "set": {"token_type": "mac"}}})).await;
    let err = h
        .client
        .refresh(&h.app, t.refresh_token.as_ref().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, DiscordError::InvalidResponse(_)), "{err:?}");
    assert!(
        !format!("{t:?}").contains(t.access_token.expose_secret()),
        "Debug redacts tokens"
    );
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_a_log_line_even_at_trace_level() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let h = harness().await;
    let v = PkceVerifier::generate();
    let code = h.consent(&["identify"], &v).await;
    let t = h.client.exchange_code(&h.app, &code, &v).await.unwrap();
    let _ = h.client.exchange_code(&h.app, &code, &v).await; // failure path
    let r = h
        .client
        .refresh(&h.app, t.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    let _ = h
        .client
        .refresh(&h.app, t.refresh_token.as_ref().unwrap())
        .await; // invalid_grant
    h.post("/faults", json!({"match": {"method": "GET"}, "trigger": {"count": 2}, "action": {"kind": "status", "status": 502}})).await;
    h.client
        .current_user(&h.app, &r.access_token)
        .await
        .unwrap();
    let _ = h.client.current_user(&h.app, &t.access_token).await; // dead token
    h.client.revoke(&h.app, &r.access_token).await.unwrap();
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying Discord call"),
        "the capture saw the client's own events"
    );
    for (what, secret) in [
        ("code", code.expose_secret()),
        ("verifier", v.secret().expose_secret()),
        ("access token", t.access_token.expose_secret()),
        (
            "refresh token",
            t.refresh_token.as_ref().unwrap().expose_secret(),
        ),
        ("new access token", r.access_token.expose_secret()),
        ("client secret", SECRET),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in a log line");
    }
}

#[tokio::test]
async fn a_global_429_pauses_every_route_of_that_identity() {
    let config = ClientConfig {
        retry: RetryConfig {
            max_rate_limit_wait: Duration::from_millis(300),
            ..fast_config().retry
        },
        ..fast_config()
    };
    let h = harness_with(config).await;
    let t = h.login(&["identify", "guilds"]).await;
    h.post("/faults", json!({"match": {"method": "GET", "path": "/api/v10/users/@me"}, "trigger": {"count": 1}, "action": {"kind": "rate_limit", "retry_after": 2.0, "scope": "global"}})).await;
    let err = h
        .client
        .current_user(&h.app, &t.access_token)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DiscordError::RateLimited { global: true, .. }),
        "{err:?}"
    );
    // Another route of the same identity is held back too — refused here, never sent.
    let err = h.client.guilds(&h.app, &t.access_token).await.unwrap_err();
    assert!(matches!(err, DiscordError::RateLimited { .. }), "{err:?}");
    assert!(
        h.requests("/api/v10/users/@me/guilds").await.is_empty(),
        "nothing sent during the global pause"
    );
    // Another user's token is not paused.
    let other = h.login(&["identify"]).await;
    h.client
        .current_user(&h.app, &other.access_token)
        .await
        .unwrap();
}
