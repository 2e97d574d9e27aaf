//! The verifier conformance tool (specs/security.md V12, V-T5). Most real-world linking
//! failures will be in tenants' verifiers, so Latchkey ships a tool that checks one: it runs
//! Latchkey (embedded SQLite, a scratch directory) and the Discord simulator, starts the
//! tenant's app pointed at that Latchkey, and drives the app's verifier route with scripted
//! browsers — one per person — through four scenarios:
//!
//! 1. **honest user** — alice starts and consents as herself: must end `completed` (a verifier
//!    that confirms nobody is not a verifier);
//! 2. **Attack A** — the app starts for mallory; bob's browser consents (as bob's Discord
//!    account) and reaches the verifier signed in as bob: must end `failed`;
//! 3. **Attack B** — the app starts for carol; mallory's browser consents and reaches the
//!    verifier signed in as mallory: must end `failed`;
//! 4. **query tamper** — as Attack B for dave, but the verifier URL also carries `user_id`,
//!    `user` and `uid` naming dave: must end `failed` (a verifier that reads the user from the
//!    query string confirms dave).
//!
//! The tenant app must sign a browser in at `login_path` (a test login, `{user}` replaced by
//! the user id) and serve the verifier at `verifier_path`; it gets Latchkey's URL and an app
//! key to call `confirm_user` with.

pub mod browser;

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use latchkey_discord_sim::{SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Browser, urlencode};

const APP_ID: &str = "1300000000000000001";
const SECRET: &str = "conformance-secret-0123456789";

/// The Discord accounts of the scenarios' people.
const PEOPLE: [(&str, &str); 3] = [
    ("alice", "82000000000000001"),
    ("bob", "82000000000000002"),
    ("mallory", "82000000000000003"),
];

/// Where the tenant app's routes are.
#[derive(Debug, Clone)]
pub struct Routes {
    /// The verifier route, e.g. `/latchkey/verify`.
    pub verifier_path: String,
    /// A test login that signs the browser in as `{user}`, e.g. `/test-login?user={user}`.
    pub login_path: String,
}

/// What one scenario expects and what happened.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario.
    pub scenario: &'static str,
    /// The authorization status it must end in.
    pub expected: &'static str,
    /// The status it ended in (or what went wrong).
    pub got: String,
}

impl Outcome {
    /// Whether the verifier behaved.
    pub fn passed(&self) -> bool {
        self.got == self.expected
    }
}

/// A running Latchkey on embedded SQLite in a scratch directory, whose providers may point
/// their Discord endpoints at the simulator and whose tenants may use `http` loopback verifier
/// URLs (the check, the examples and `make demo`).
pub struct Latchkey {
    /// Its API's origin, `http://127.0.0.1:<port>`.
    pub api: String,
    /// The platform operator key (creates tenants).
    pub operator_key: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Latchkey {
    /// Starts one on `port` (0: any free port), trusting the simulator at `sim`.
    pub async fn start(sim: &str, port: u16) -> anyhow::Result<Latchkey> {
        // A free port is picked before Latchkey binds it (its public URL names the port), so
        // another socket — a client's connection of a test running beside it — can take it in
        // between: then a fresh port and a fresh directory (the first start of a data directory
        // is the one that mints the operator key).
        let mut tries = 0;
        let (mut app, dir) = loop {
            let dir = tempfile::tempdir()?;
            let chosen = if port == 0 { free_port()? } else { port };
            let mut settings = latchkey_server::Settings {
                data_dir: dir.path().join("data"),
                ..latchkey_server::Settings::default()
            };
            settings.server.api_addr = format!("127.0.0.1:{chosen}").parse()?;
            settings.server.ops_addr = "127.0.0.1:0".parse()?;
            settings.server.public_url = format!("http://127.0.0.1:{chosen}");
            settings.discord.allowed_endpoint_origins = vec![sim.to_owned()];
            settings.auth.allow_insecure_loopback_urls = true;
            settings.auth.allow_unsafe_skip_verification = Some(false);
            match latchkey_server::Application::build(settings).await {
                Ok(app) => break (app, dir),
                Err(latchkey_server::StartupError::Bind { addr, .. })
                    if port == 0 && addr.port() == chosen && tries < 5 =>
                {
                    tries += 1;
                }
                Err(e) => return Err(e).context("starting Latchkey"),
            }
        };
        let operator_key = app
            .take_new_operator_key()
            .map(|k| secrecy::ExposeSecret::expose_secret(&k).to_owned())
            .context("no operator key")?;
        let api = format!("http://{}", app.api_addr());
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Ok(Latchkey {
            api,
            operator_key,
            stop,
            task,
            _dir: dir,
        })
    }

    /// Stops it and removes its data.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// One JSON call with `key`: the status and the body (`null` when not JSON).
pub async fn call(
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut r = reqwest::Client::new()
        .request(method, url)
        .header("authorization", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.with_context(|| format!("calling {url}"))?;
    let s = r.status();
    Ok((s, r.json().await.unwrap_or(Value::Null)))
}

/// Loads the first app of the simulator `fixtures` (JSON) into the simulator at `origin`,
/// redirecting to `redirect` (a provider's redirect URI).
pub async fn redirect_sim_app(origin: &str, fixtures: &str, redirect: &str) -> anyhow::Result<()> {
    let mut fixtures: Value = serde_json::from_str(fixtures)?;
    let mut app = fixtures["apps"][0].take();
    app["redirect_uris"] = serde_json::json!([redirect]);
    let r = reqwest::Client::new()
        .post(format!("{origin}/__sim/fixtures"))
        .json(&serde_json::json!({ "apps": [app] }))
        .send()
        .await?;
    if !r.status().is_success() {
        let status = r.status();
        anyhow::bail!(
            "the simulator refused the redirect URI: {status} {}",
            r.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// [`call`], failing unless the status is 2xx: the body.
pub async fn ok(
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let (s, v) = call(method, url, key, body).await?;
    if !s.is_success() {
        bail!("{url} answered {s}: {v}");
    }
    Ok(v)
}

/// Runs the check. `start_app` starts the tenant app given Latchkey's URL and an app key, and
/// answers the app's origin (`http://host:port`); it must be serving when it returns.
pub async fn check<F, Fut>(routes: &Routes, start_app: F) -> anyhow::Result<Vec<Outcome>>
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    let sim = Simulator::start(SimConfig::default())
        .await
        .context("starting the Discord simulator")?;
    let origin = sim.base_url();
    let latchkey = Latchkey::start(&origin, 0).await?;
    let outcome = run(
        routes,
        start_app,
        &latchkey.api,
        &latchkey.operator_key,
        &origin,
    )
    .await;
    latchkey.stop().await;
    outcome
}

async fn run<F, Fut>(
    routes: &Routes,
    start_app: F,
    api: &str,
    operator: &str,
    sim: &str,
) -> anyhow::Result<Vec<Outcome>>
where
    F: FnOnce(String, String) -> Fut,
    Fut: Future<Output = anyhow::Result<String>>,
{
    use reqwest::Method;
    let tenant = ok(
        Method::POST,
        &format!("{api}/v1/platform/tenants"),
        operator,
        Some(json!({"name": "Verifier conformance"})),
    )
    .await?;
    let admin = tenant["admin_key"].as_str().context("no admin key")?;
    let app_key = tenant["app_key"].as_str().context("no app key")?;
    let provider = ok(
        Method::POST,
        &format!("{api}/v1/admin/auth_providers"),
        admin,
        Some(json!({"id": "discord", "provider_id": "discord",
                    "oauth2": {"client_id": APP_ID, "client_secret": SECRET},
                    "scopes": ["identify"], "endpoint_origin": sim})),
    )
    .await?;
    let redirect = provider["oauth2"]["redirect_uri"]
        .as_str()
        .context("no redirect URI")?;
    let users: Vec<Value> = PEOPLE
        .iter()
        .map(|(name, id)| json!({"id": id, "username": format!("{name}_d"), "global_name": name}))
        .collect();
    let fixtures = json!({
        "apps": [{"id": APP_ID, "name": "Verifier conformance", "secret": SECRET,
                  "redirect_uris": [redirect], "public_client": false}],
        "users": users,
    });
    let r = reqwest::Client::new()
        .post(format!("{sim}/__sim/fixtures"))
        .json(&fixtures)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("the simulator refused its fixtures: {}", r.status());
    }

    let app = start_app(api.to_owned(), app_key.to_owned())
        .await
        .context("starting the tenant app")?;
    let app = app.trim_end_matches('/').to_owned();
    ok(
        Method::PUT,
        &format!("{api}/v1/admin/settings/session_verification"),
        admin,
        Some(json!({"verifier_url": format!("{app}{}", routes.verifier_path)})),
    )
    .await
    .context("setting the verifier URL (it must be http(s)://host[:port]/path)")?;

    let s = Scenarios {
        routes,
        api,
        app_key,
        app: &app,
        sim,
    };
    Ok(vec![
        s.play("honest user", "completed", "alice", "alice", false)
            .await,
        s.play(
            "Attack A (victim completes the attacker's flow)",
            "failed",
            "mallory",
            "bob",
            false,
        )
        .await,
        s.play(
            "Attack B (attacker completes the victim's flow)",
            "failed",
            "carol",
            "mallory",
            false,
        )
        .await,
        s.play(
            "query tamper (user named in the query string)",
            "failed",
            "dave",
            "mallory",
            true,
        )
        .await,
    ])
}

struct Scenarios<'a> {
    routes: &'a Routes,
    api: &'a str,
    app_key: &'a str,
    app: &'a str,
    sim: &'a str,
}

impl Scenarios<'_> {
    /// One scenario: the app starts an authorization for `for_user`; the browser of `person`
    /// signs in to the app as `person`, consents as `person`'s Discord account and reaches the
    /// verifier (its URL tampered with when `tamper`).
    async fn play(
        &self,
        scenario: &'static str,
        expected: &'static str,
        for_user: &str,
        person: &str,
        tamper: bool,
    ) -> Outcome {
        let got = match self.attempt(for_user, person, tamper).await {
            Ok(status) => status,
            Err(e) => format!("error: {e:#}"),
        };
        Outcome {
            scenario,
            expected,
            got,
        }
    }

    async fn attempt(&self, for_user: &str, person: &str, tamper: bool) -> anyhow::Result<String> {
        let started = ok(
            reqwest::Method::POST,
            &format!("{}/v1/auth/authorize", self.api),
            self.app_key,
            Some(json!({"user_id": for_user,
                        "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": []}}})),
        )
        .await?;
        let id = started["id"].as_str().context("no authorization id")?;
        let link = started["url"]
            .as_str()
            .context("the authorization did not need consent")?;
        let discord = PEOPLE
            .iter()
            .find(|(n, _)| *n == person)
            .map(|(_, d)| *d)
            .context("unknown person")?;
        let mut b = Browser::new()?;
        b.set_cookie(self.sim, "sim_user", discord);
        let login = format!(
            "{}{}",
            self.app,
            self.routes.login_path.replace("{user}", &urlencode(person))
        );
        let signed_in = b.get(&login).await?;
        if !(signed_in.status.is_success() || signed_in.status.is_redirection()) {
            bail!("the app's test login answered {}", signed_in.status);
        }
        let callback = b.consent(link).await?;
        let mut verifier = callback
            .location
            .filter(|_| callback.status == StatusCode::SEE_OTHER)
            .with_context(|| format!("the callback did not redirect ({})", callback.status))?;
        if tamper {
            for k in ["user_id", "user", "uid"] {
                verifier.push_str(&format!("&{k}={}", urlencode(for_user)));
            }
        }
        b.get(&verifier).await?;
        settle(self.api, self.app_key, id).await
    }
}

/// The authorization's status once it is no longer pending (or `pending` after ten seconds: a
/// verifier that never confirms leaves it pending until the flow expires).
async fn settle(api: &str, key: &str, id: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = ok(
            reqwest::Method::GET,
            &format!("{api}/v1/auth/status?id={id}&wait=2"),
            key,
            None,
        )
        .await?;
        let status = v["status"].as_str().unwrap_or_default().to_owned();
        if status != "pending" || Instant::now() > deadline {
            return Ok(status);
        }
    }
}

/// The report, one line per scenario, and whether every scenario passed.
pub fn report(outcomes: &[Outcome]) -> (String, bool) {
    let mut out = String::new();
    for o in outcomes {
        out.push_str(&format!(
            "{}  {} — expected {}, got {}\n",
            if o.passed() { "PASS" } else { "FAIL" },
            o.scenario,
            o.expected,
            o.got
        ));
    }
    let all = outcomes.iter().all(Outcome::passed);
    out.push_str(if all {
        "the verifier passes\n"
    } else {
        "the verifier FAILS: see docs/verifier.md\n"
    });
    (out, all)
}
