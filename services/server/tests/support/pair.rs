//! Two `latchkey serve` processes (replicas A and B) on one PostgreSQL database, with the
//! Discord simulator, a tenant whose app has a real verifier, one Discord provider and one tool
//! (`Discord.Guilds`, scope `guilds`).

use std::sync::Arc;

use latchkey_core::crypto::KeyMaterial;
use latchkey_discord_sim::{SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::flow::{APP_ID, Browser, SECRET, TenantApp, load_fixtures};
use super::{PgDb, Run, Sandbox, Server, free_port};

pub struct Pair {
    pub a: Server,
    pub b: Server,
    pub sim: Simulator,
    /// The simulator's origin.
    pub origin: String,
    pub admin: String,
    pub app_key: String,
    pub tool_key: String,
    pub tenant_app: TenantApp,
    /// Replica A's environment and port, to start it again after a crash.
    a_env: Arc<Sandbox>,
    a_port: u16,
}

/// A JSON call with a key (`method` `url`), answering the status and the body.
pub async fn send(
    method: Method,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = reqwest::Client::new()
        .request(method, url)
        .header("authorization", key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

impl Pair {
    /// Starts both replicas on `db` (each with `env` on top of the shared settings) and sets
    /// the tenant up through A.
    pub async fn start(db: &PgDb, env: &[(&str, &str)]) -> Self {
        Self::start_with(db, env, &[]).await
    }

    /// [`Pair::start`], with `a_only` set on replica A alone.
    pub async fn start_with(db: &PgDb, env: &[(&str, &str)], a_only: &[(&str, &str)]) -> Self {
        Self::start_each(db, env, a_only, &[]).await
    }

    /// [`Pair::start`], with `a_only` set on replica A alone and `b_only` on B alone.
    pub async fn start_each(
        db: &PgDb,
        env: &[(&str, &str)],
        a_only: &[(&str, &str)],
        b_only: &[(&str, &str)],
    ) -> Self {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let origin = sim.base_url();
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        let master = KeyMaterial::generate().to_base64().to_string();
        let pepper = KeyMaterial::generate().to_base64().to_string();
        let sandbox = |own: &[(&str, &str)]| {
            let mut sb = Sandbox::new()
                .with("LATCHKEY__DATABASE__URL", &db.url)
                .with("LATCHKEY__DATABASE__AUTO_MIGRATE", "true")
                .with("LATCHKEY__SERVER__PUBLIC_URL", &public)
                .with(
                    "LATCHKEY__DISCORD__ALLOWED_ENDPOINT_ORIGINS",
                    &format!("[\"{origin}\"]"),
                )
                .with("LATCHKEY__AUTH__ALLOW_INSECURE_LOOPBACK_URLS", "true")
                .with("LATCHKEY__ENCRYPTION__MASTER_KEYS", &master)
                .with("LATCHKEY__AUTH__PEPPERS", &pepper);
            for (k, v) in env.iter().chain(own) {
                sb = sb.with(k, v);
            }
            sb
        };
        let (a_env, b_env) = (Arc::new(sandbox(a_only)), Arc::new(sandbox(b_only)));
        let a_sandbox = a_env.clone();
        let (a, b, created) = tokio::task::spawn_blocking(move || {
            let a = a_env.serve_at(port);
            let b = b_env.serve();
            let t = a_env.run(&["tenant", "create", "Acme", "--json"]);
            assert_eq!(t.code, 0, "{}", t.stderr);
            (a, b, t.stdout)
        })
        .await
        .unwrap();
        let t: Value = serde_json::from_str(created.trim()).unwrap();
        let admin = t["admin_key"].as_str().unwrap().to_owned();
        let app_key = t["app_key"].as_str().unwrap().to_owned();

        let (s, p) = send(
            Method::POST,
            &format!("{}/v1/admin/auth_providers", a.api),
            &admin,
            Some(
                json!({"id": "discord-prod", "provider_id": "discord", "scopes": ["guilds"],
                   "oauth2": {"client_id": APP_ID, "client_secret": SECRET},
                   "endpoint_origin": origin}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        load_fixtures(&origin, p["oauth2"]["redirect_uri"].as_str().unwrap()).await;
        let tenant_app = TenantApp::start(&a.api, &app_key).await;
        let (s, b_) = send(
            Method::PUT,
            &format!("{}/v1/admin/settings/session_verification", a.api),
            &admin,
            Some(json!({"verifier_url": format!("{}/verify", tenant_app.origin)})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b_}");
        let (s, tool) = send(
            Method::POST,
            &format!("{}/v1/admin/tools", a.api),
            &admin,
            Some(json!({"name": "Discord.Guilds", "version": "1.0.0",
                        "requirement": {"oauth2": {"scopes": ["guilds"]}}})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{tool}");
        let tool_key = tool["key"]["secret"].as_str().unwrap().to_owned();
        Self {
            a,
            b,
            sim,
            origin,
            admin,
            app_key,
            tool_key,
            tenant_app,
            a_env: a_sandbox,
            a_port: port,
        }
    }

    /// Kills replica A with SIGKILL: no graceful anything.
    pub fn kill_a(&self) {
        let status = std::process::Command::new("kill")
            .args(["-KILL", &self.a.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Starts replica A again on its port (after [`Pair::kill_a`]).
    pub async fn restart_a(&mut self) {
        let (env, port) = (self.a_env.clone(), self.a_port);
        let a = tokio::task::spawn_blocking(move || {
            // The killed process's sockets are closed by the time it is gone.
            std::thread::sleep(std::time::Duration::from_millis(200));
            env.serve_at(port)
        });
        let dead = std::mem::replace(&mut self.a, a.await.unwrap());
        drop(dead);
    }

    /// The tool's token request for `user` at replica `api`.
    pub async fn token(&self, api: &str, user: &str) -> (StatusCode, Value) {
        send(
            Method::POST,
            &format!("{api}/v1/tokens"),
            &self.tool_key,
            Some(json!({ "user_id": user })),
        )
        .await
    }

    /// `user` connects as Discord user `discord` (the tool's token request gives the link; the
    /// browser consents and the tenant app verifies).
    pub async fn connect(&self, user: &str, discord: &str) {
        let (s, needed) = self.token(&self.a.api, user).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{needed}");
        let mut browser = Browser::new();
        browser.set_cookie(&self.origin, "sim_user", discord);
        let login = browser
            .get(&format!("{}/login?user={user}", self.tenant_app.origin))
            .await;
        assert_eq!(login.status, StatusCode::OK);
        let (page, _) = browser
            .consent_and_verify(needed["url"].as_str().unwrap())
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }

    /// Whether Discord (the simulator) accepts `token` (`GET /users/@me` answers 200).
    pub async fn discord_accepts(&self, token: &str) -> bool {
        super::flow::discord_accepts(&self.origin, token).await
    }

    /// Patches the simulator's settings.
    pub async fn sim_settings(&self, patch: Value) {
        self.sim_post("/__sim/settings", patch).await;
    }

    /// Calls one of the simulator's control routes (`/__sim/settings` is a PATCH).
    pub async fn sim_post(&self, path: &str, body: Value) {
        let c = reqwest::Client::new();
        let url = format!("{}{path}", self.origin);
        let r = if path == "/__sim/settings" {
            c.patch(url)
        } else {
            c.post(url)
        }
        .json(&body)
        .send()
        .await
        .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Refresh-token grants the simulator received so far.
    pub async fn refreshes(&self) -> usize {
        super::flow::refreshes(&self.origin).await
    }

    /// Stops both replicas (SIGTERM) and answers how each ended.
    pub async fn stop(self) -> (Run, Run) {
        let (a, b) = (self.a, self.b);
        tokio::task::spawn_blocking(move || (a.stop(), b.stop()))
            .await
            .unwrap()
    }
}
