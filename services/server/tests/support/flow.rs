//! End-to-end authorization flows over real HTTP: Latchkey, the Discord simulator with three
//! Discord users, a small tenant app with real login sessions and a verifier route, and
//! browsers that are separate cookie jars (security.md §2.7).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latchkey_discord_sim::{SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::{TestApp, call, free_port, spawn_app_with};

pub const APP_ID: &str = "1200000000000000001";
pub const SECRET: &str = "flow-secret-0123456789";
pub const D_ALICE: &str = "81000000000000001";
pub const D_BOB: &str = "81000000000000002";
pub const D_MALLORY: &str = "81000000000000003";
pub const GUILD: &str = "91000000000000001";
pub const ROLE: &str = "92000000000000001";

/// The requests the simulator at `origin` logged under `path` (a prefix).
pub async fn logged(origin: &str, path: &str) -> Vec<Value> {
    let v: Value = reqwest::get(format!("{origin}/__sim/requests?path={path}"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array()
        .or_else(|| v["requests"].as_array())
        .cloned()
        .unwrap_or_default()
}

/// Whether Discord (the simulator at `origin`) accepts `token`: `GET /users/@me` answers 200.
pub async fn discord_accepts(origin: &str, token: &str) -> bool {
    reqwest::Client::new()
        .get(format!("{origin}/api/v10/users/@me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        == StatusCode::OK
}

/// Refresh-token grants the simulator at `origin` received so far.
pub async fn refreshes(origin: &str) -> usize {
    logged(origin, "/api/oauth2/token")
        .await
        .iter()
        .filter(|e| e["form"]["grant_type"] == "refresh_token")
        .count()
}

/// Everything one scenario needs.
pub struct World {
    pub sim: Simulator,
    pub app: TestApp,
    pub tenant: String,
    pub admin: String,
    pub app_key: String,
    pub provider_ref: String,
    pub tenant_app: TenantApp,
}

/// How the world is set up.
pub struct Options {
    pub db: Option<String>,
    pub flow_lifetime_secs: Option<u64>,
    /// Verifier mode: the tenant app's verifier (true) or skip mode (false).
    pub verifier: bool,
    pub skip_allowed: Option<bool>,
    /// The master key and pepper (base64), so that more replicas can share the database.
    pub keys: Option<(String, String)>,
    /// `auth.authorization_retention_secs`.
    pub retention_secs: Option<u64>,
    /// `auth.tool_grant_ttl_secs`.
    pub grant_ttl_secs: Option<u64>,
    /// `auth.keep_alive_secs`.
    pub keep_alive_secs: Option<u64>,
    /// `auth.token_cache_ttl_secs`.
    pub token_cache_ttl_secs: Option<u64>,
    /// `auth.audit_flush_interval_ms`.
    pub audit_flush_interval_ms: Option<u64>,
    /// `auth.audit_queue_capacity`.
    pub audit_queue_capacity: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            db: None,
            flow_lifetime_secs: None,
            verifier: true,
            skip_allowed: None,
            keys: None,
            retention_secs: None,
            grant_ttl_secs: None,
            keep_alive_secs: None,
            token_cache_ttl_secs: None,
            audit_flush_interval_ms: None,
            audit_queue_capacity: None,
        }
    }
}

impl World {
    pub async fn start(opts: Options) -> Self {
        let sim = Simulator::start(SimConfig::default()).await.unwrap();
        let origin = sim.base_url();
        let port = free_port();
        let public = format!("http://127.0.0.1:{port}");
        let app = spawn_app_with(opts.db, |s| {
            s.server.api_addr = format!("127.0.0.1:{port}").parse().unwrap();
            s.server.public_url = public.clone();
            s.discord.allowed_endpoint_origins = vec![origin.clone()];
            s.auth.allow_insecure_loopback_urls = true;
            s.auth.flow_lifetime_secs = opts.flow_lifetime_secs;
            s.auth.allow_unsafe_skip_verification = opts.skip_allowed;
            s.auth.authorization_retention_secs = opts.retention_secs;
            s.auth.tool_grant_ttl_secs = opts.grant_ttl_secs;
            s.auth.keep_alive_secs = opts.keep_alive_secs;
            s.auth.token_cache_ttl_secs = opts.token_cache_ttl_secs;
            s.auth.audit_flush_interval_ms = opts.audit_flush_interval_ms;
            s.auth.audit_queue_capacity = opts.audit_queue_capacity;
            s.server.dashboard_dir =
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dashboard/dist");
            if let Some((master, pepper)) = opts.keys.clone() {
                s.encryption.master_keys = vec![master.into()];
                s.auth.peppers = vec![pepper.into()];
            }
        })
        .await;
        let (s, t) = call(
            &app,
            Method::POST,
            "/v1/platform/tenants",
            &app.operator_key,
            Some(json!({"name": "Acme <Agents>"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        let admin = t["admin_key"].as_str().unwrap().to_owned();
        let app_key = t["app_key"].as_str().unwrap().to_owned();
        let (s, p) = call(&app, Method::POST, "/v1/admin/auth_providers", &admin,
            Some(json!({"id": "discord-prod", "provider_id": "discord",
                        "oauth2": {"client_id": APP_ID, "client_secret": SECRET},
                        "scopes": ["guilds", "email", "guilds.members.read"], "endpoint_origin": origin}))).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let redirect = p["oauth2"]["redirect_uri"]
            .as_str()
            .or_else(|| p["redirect_uri"].as_str())
            .unwrap_or_else(|| panic!("no redirect_uri in {p}"))
            .to_owned();
        let provider_ref = redirect.rsplit('/').next().unwrap().to_owned();
        assert!(redirect.starts_with(&public), "{redirect}");
        load_fixtures(&origin, &redirect).await;
        let tenant_app = TenantApp::start(&app.api, &app_key).await;
        let mut settings = json!({"allowed_next_uri_origins": [tenant_app.origin.clone()]});
        if opts.verifier {
            settings["verifier_url"] = json!(format!("{}/verify", tenant_app.origin));
        } else {
            settings["unsafe_skip_verification"] = json!(true);
        }
        let (s, b) = call(
            &app,
            Method::PUT,
            "/v1/admin/settings/session_verification",
            &admin,
            Some(settings),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        World {
            sim,
            tenant: t["id"].as_str().unwrap().to_owned(),
            admin,
            app_key,
            provider_ref,
            tenant_app,
            app,
        }
    }

    /// `POST /v1/auth/authorize` for `user` with `scopes` (and optionally `next_uri`).
    pub async fn authorize(&self, user: &str, scopes: &[&str]) -> (StatusCode, Value) {
        self.authorize_body(json!({"user_id": user, "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": scopes}}}))
            .await
    }

    pub async fn authorize_body(&self, body: Value) -> (StatusCode, Value) {
        call(
            &self.app,
            Method::POST,
            "/v1/auth/authorize",
            &self.app_key,
            Some(body),
        )
        .await
    }

    pub async fn status(&self, id: &str, wait: u64) -> (StatusCode, Value) {
        call(
            &self.app,
            Method::GET,
            &format!("/v1/auth/status?id={id}&wait={wait}"),
            &self.app_key,
            None,
        )
        .await
    }

    pub async fn confirm(&self, key: &str, flow_id: &str, user: &str) -> (StatusCode, Value) {
        call(
            &self.app,
            Method::POST,
            "/v1/auth/confirm_user",
            key,
            Some(json!({"flow_id": flow_id, "user_id": user})),
        )
        .await
    }

    /// A browser signed in to Discord as `discord_user` and to the tenant app as `app_user`.
    pub async fn browser(&self, discord_user: &str, app_user: Option<&str>) -> Browser {
        let mut b = Browser::new();
        b.set_cookie(&self.sim.base_url(), "sim_user", discord_user);
        if let Some(u) = app_user {
            let r = b
                .get(&format!("{}/login?user={u}", self.tenant_app.origin))
                .await;
            assert_eq!(r.status, StatusCode::OK);
        }
        b
    }

    /// Adds a fault rule to the simulator (`POST /__sim/faults`).
    pub async fn sim_fault(&self, rule: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}/__sim/faults", self.sim.base_url()))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// The requests the simulator logged under `path`.
    pub async fn sim_requests(&self, path: &str) -> Vec<Value> {
        logged(&self.sim.base_url(), path).await
    }

    /// The simulator's revocation requests so far.
    pub async fn revocations(&self) -> usize {
        logged(&self.sim.base_url(), "/api/oauth2/token/revoke")
            .await
            .len()
    }

    /// Changes simulator settings (`{"token.access_ttl_s": 200}`).
    pub async fn sim_settings(&self, patch: Value) {
        let r = reqwest::Client::new()
            .patch(format!("{}/__sim/settings", self.sim.base_url()))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    /// Refresh-token grants the simulator received so far.
    pub async fn refreshes(&self) -> usize {
        refreshes(&self.sim.base_url()).await
    }

    /// Whether Discord accepts `token`.
    pub async fn token_alive(&self, token: &str) -> bool {
        discord_accepts(&self.sim.base_url(), token).await
    }

    /// The tenant's audit actions, in order.
    pub async fn audit_actions(&self) -> Vec<String> {
        let (s, b) = call(
            &self.app,
            Method::GET,
            "/v1/admin/audit_events?limit=100",
            &self.admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Fails unless the audit log holds an event of each of `actions`.
    pub async fn assert_audited(&self, actions: &[&str]) {
        let have = self.audit_actions().await;
        for a in actions {
            assert!(have.iter().any(|h| h == a), "{a} not audited: {have:?}");
        }
    }

    /// How many `action` events the audit log holds once it holds `n` of them, or after two
    /// seconds (token releases are persisted by the audit pipeline at least every second).
    pub async fn audited(&self, action: &str, n: usize) -> usize {
        let mut seen = 0;
        for _ in 0..20 {
            seen = self
                .audit_actions()
                .await
                .iter()
                .filter(|a| *a == action)
                .count();
            if seen >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        seen
    }

    /// Registers a tool declaring `scopes`; answers its key.
    pub async fn tool(&self, name: &str, scopes: &[&str]) -> String {
        let (s, b) = call(
            &self.app,
            Method::POST,
            "/v1/admin/tools",
            &self.admin,
            Some(json!({"name": name, "version": "1.0.0",
                        "requirement": {"provider_id": "discord", "oauth2": {"scopes": scopes}}})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["key"]["secret"].as_str().unwrap().to_owned()
    }

    /// The token request of the tool with `key` for `user`.
    pub async fn token(&self, key: &str, user: &str) -> (StatusCode, Value) {
        call(
            &self.app,
            Method::POST,
            "/v1/tokens",
            key,
            Some(json!({ "user_id": user })),
        )
        .await
    }

    /// Completes an authorization's start link as `user`, consenting as `discord`.
    pub async fn complete(&self, url: &str, user: &str, discord: &str) {
        let mut b = self.browser(discord, Some(user)).await;
        let (page, _) = b.consent_and_verify(url).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }

    /// Deletes `user`'s (first) connection through the admin API.
    pub async fn delete_connection(&self, user: &str) {
        let (_, list) = call(
            &self.app,
            Method::GET,
            &format!("/v1/admin/user_connections?user_id={user}"),
            &self.admin,
            None,
        )
        .await;
        let id = list["items"][0]["id"].as_str().unwrap();
        let (s, _) = call(
            &self.app,
            Method::DELETE,
            &format!("/v1/admin/user_connections/{id}"),
            &self.admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
    }

    /// The tenant's connections, as (user_id, Discord user id).
    pub async fn connections(&self) -> Vec<(String, String)> {
        let (s, b) = call(
            &self.app,
            Method::GET,
            "/v1/admin/user_connections",
            &self.admin,
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["user_id"].as_str().unwrap().to_owned(),
                    c["provider_user_info"]["id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }
}

/// The simulator's world: the tenant's Discord app (redirecting to `redirect`), D_alice, D_bob
/// and D_mallory, and a guild with a role.
pub async fn load_fixtures(origin: &str, redirect: &str) {
    let fixtures = json!({
        "apps": [{"id": APP_ID, "name": "Acme Agent", "secret": SECRET, "redirect_uris": [redirect], "public_client": false}],
        "users": [
            {"id": D_ALICE, "username": "alice_d", "global_name": "Alice", "email": "alice@example.com", "verified": true},
            {"id": D_BOB, "username": "bob_d", "global_name": "Bob"},
            {"id": D_MALLORY, "username": "mallory_d", "global_name": "Mallory"}
        ],
        "guilds": [{"id": GUILD, "name": "Acme Guild", "owner_id": D_ALICE,
                    "roles": [{"id": ROLE, "name": "member"}],
                    "members": [{"user_id": D_ALICE, "roles": [ROLE]}, {"user_id": D_BOB, "roles": []}]}]
    });
    let r = reqwest::Client::new()
        .post(format!("{origin}/__sim/fixtures"))
        .json(&fixtures)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

pub use latchkey_conformance::browser::Page;

pub fn urlencode(s: &str) -> String {
    latchkey_conformance::browser::urlencode(s)
}

/// A browser: its own cookie jar (per origin), no automatic redirects — the conformance tool's
/// (`latchkey_conformance::browser`), failing the test where the tool reports an error.
pub struct Browser(latchkey_conformance::browser::Browser);

impl Browser {
    pub fn new() -> Self {
        Self(latchkey_conformance::browser::Browser::new().unwrap())
    }

    pub fn set_cookie(&mut self, origin: &str, name: &str, value: &str) {
        self.0.set_cookie(origin, name, value);
    }

    pub fn cookies(&self, origin: &str) -> HashMap<String, String> {
        self.0.cookies(origin)
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.0.get(url).await.unwrap()
    }

    pub async fn post_form(&mut self, url: &str, form: &str) -> Page {
        self.0.post_form(url, form).await.unwrap()
    }

    /// Opens the start link and clicks Continue: the 303 to Discord.
    pub async fn click_through(&mut self, link: &str) -> Page {
        self.0.click_through(link).await.unwrap()
    }

    /// Start link → Discord (consents as the signed-in Discord user) → Latchkey's callback.
    /// Returns the callback's answer.
    pub async fn consent(&mut self, link: &str) -> Page {
        self.0.consent(link).await.unwrap()
    }

    /// [`Browser::consent`], then follows the 303 to the verifier; the verifier's answer.
    pub async fn consent_and_verify(&mut self, link: &str) -> (Page, String) {
        let cb = self.consent(link).await;
        assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
        let to_verifier = cb.location.unwrap();
        let flow_id = flow_id_of(&to_verifier);
        (self.get(&to_verifier).await, flow_id)
    }
}

/// The CSRF field of an interstitial page.
pub fn csrf_field(html: &str) -> String {
    latchkey_conformance::browser::csrf_field(html).expect("a csrf field")
}

pub fn flow_id_of(url: &str) -> String {
    latchkey_conformance::browser::flow_id_of(url).unwrap_or_else(|| panic!("no flow_id in {url}"))
}

/// A tenant's app: `/login?user=…` starts a session (cookie), `/verify?flow_id=…` confirms
/// the session's user with Latchkey from the backend and answers what Latchkey said.
pub struct TenantApp {
    pub origin: String,
    /// What each verifier call got from Latchkey: (status, body).
    pub confirmations: Arc<Mutex<Vec<(u16, Value)>>>,
}

#[derive(Clone)]
struct TenantState {
    latchkey: String,
    key: String,
    sessions: Arc<Mutex<HashMap<String, String>>>,
    confirmations: Arc<Mutex<Vec<(u16, Value)>>>,
}

async fn login(State(s): State<TenantState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let sid = format!("s{}", rand_hex());
    s.sessions
        .lock()
        .unwrap()
        .insert(sid.clone(), q["user"].clone());
    (
        [("set-cookie", format!("session={sid}; Path=/; HttpOnly"))],
        "signed in",
    )
        .into_response()
}

async fn verify(
    State(s): State<TenantState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let user = headers
        .get("cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| {
            c.split(';')
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| *k == "session")
                .map(|(_, v)| v.to_owned())
        })
        .and_then(|sid| s.sessions.lock().unwrap().get(&sid).cloned());
    let Some(user) = user else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let r = reqwest::Client::new()
        .post(format!("{}/v1/auth/confirm_user", s.latchkey))
        .header("authorization", &s.key)
        .json(&json!({"flow_id": q.get("flow_id").cloned().unwrap_or_default(), "user_id": user}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    s.confirmations.lock().unwrap().push((status, body.clone()));
    if status == 200 {
        (
            StatusCode::SEE_OTHER,
            [("location", body["next_uri"].as_str().unwrap().to_owned())],
        )
            .into_response()
    } else {
        (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
    }
}

fn rand_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{:x}{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl TenantApp {
    pub async fn start(latchkey: &str, key: &str) -> Self {
        let confirmations = Arc::new(Mutex::new(Vec::new()));
        let state = TenantState {
            latchkey: latchkey.to_owned(),
            key: key.to_owned(),
            sessions: Arc::default(),
            confirmations: confirmations.clone(),
        };
        let router = axum::Router::new()
            .route("/login", axum::routing::get(login))
            .route("/verify", axum::routing::get(verify))
            .route("/home", axum::routing::get(|| async { "home" }))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            origin,
            confirmations,
        }
    }
}
