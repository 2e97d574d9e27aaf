//! gRPC helpers for the parity tests: a control-plane client on the test server's API
//! listener, requests with a key in the `authorization` metadata, the REST twin of a call, the
//! "same error" assertion, and every message rendered as the REST JSON it mirrors.

use latchkey_api::grpc::v1 as pb;
use pb::control_plane_client::ControlPlaneClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::transport::Channel;
use tonic::{Code, Request};

use super::{TestApp, spawn_app_with};

pub const SIM: &str = "http://127.0.0.1:7300";
pub const SECRET: &str = "a-very-long-client-secret-XYZW";

pub type Client = ControlPlaneClient<Channel>;

pub async fn app(database_url: Option<String>) -> TestApp {
    spawn_app_with(database_url, |s| {
        s.server.public_url = "https://latchkey.example".to_owned();
        s.discord.allowed_endpoint_origins = vec![SIM.to_owned()];
    })
    .await
}

pub async fn channel(app: &TestApp) -> Channel {
    tonic::transport::Endpoint::from_shared(app.api.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

pub async fn client(app: &TestApp) -> Client {
    ControlPlaneClient::connect(app.api.clone()).await.unwrap()
}

pub fn req<T>(key: Option<&str>, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(k) = key {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    r
}

pub async fn rest(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = super::request(app, method, path, key, body.as_ref()).await;
    (r.status, r.body)
}

pub async fn rest_ok(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Value {
    let (s, v) = rest(app, method, path, Some(key), body).await;
    assert!(s.is_success(), "{path}: {s} {v}");
    v
}

/// The REST error (name, message) and the gRPC one must be the same `ApiError`.
#[track_caller]
pub fn same_error<T: std::fmt::Debug>(
    what: &str,
    grpc: Result<tonic::Response<T>, tonic::Status>,
    rest: (StatusCode, Value),
    code: Code,
) {
    let status = grpc.expect_err(what);
    let name = status
        .metadata()
        .get("latchkey-error-name")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(name, rest.1["name"].as_str().unwrap(), "{what}: error name");
    assert_eq!(
        status.message(),
        rest.1["message"].as_str().unwrap(),
        "{what}: message"
    );
    assert_eq!(status.code(), code, "{what}: code");
    assert!(!rest.0.is_success(), "{what}");
    let id = status
        .metadata()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        id.starts_with("req_"),
        "{what}: a request id on every failed call"
    );
}

// --- messages as the REST JSON they mirror -------------------------------------------------

pub fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

/// Drops `null` members, as REST omits absent optional fields.
pub fn prune(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            *x = prune(x.take());
        }
    }
    v
}

pub fn tenant_json(t: &pb::Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "created_at": t.created_at})
}

pub fn key_json(k: &pb::ApiKey) -> Value {
    prune(
        json!({"id": k.id, "name": k.name, "role": k.role, "tool_id": opt(&k.tool_id),
        "created_at": k.created_at, "revoked_at": opt(&k.revoked_at)}),
    )
}

pub fn policy_json(p: &pb::Policy) -> Value {
    prune(
        json!({"required_guild_ids": p.required_guild_ids, "required_role_ids": p.required_role_ids, "message": opt(&p.message)}),
    )
}

pub fn provider_json(p: &pb::AuthProvider) -> Value {
    let o = p.oauth2.as_ref().unwrap();
    let s = o.client_secret.as_ref().unwrap();
    let pk = o.pkce.as_ref().unwrap();
    let b = p.binding.as_ref().unwrap();
    prune(json!({
        "id": p.id, "description": opt(&p.description), "provider_id": p.provider_id,
        "type": p.r#type, "status": p.status, "binding": {"type": b.r#type, "id": b.id},
        "created_at": p.created_at, "updated_at": p.updated_at,
        "oauth2": {"client_id": o.client_id,
            "client_secret": {"exists": s.exists, "hint": s.hint, "editable": s.editable, "binding": s.binding},
            "redirect_uri": o.redirect_uri, "scope_delimiter": o.scope_delimiter,
            "pkce": {"enabled": pk.enabled, "code_challenge_method": opt(&pk.code_challenge_method)}},
        "scopes": p.scopes, "policy": p.policy.as_ref().map(policy_json),
        "endpoint_origin": opt(&p.endpoint_origin),
    }))
}

pub fn settings_json(s: &pb::SessionVerificationSettings) -> Value {
    json!({"unsafe_skip_verification": s.unsafe_skip_verification,
        "unsafe_skip_verification_choice_allowed": s.unsafe_skip_verification_choice_allowed,
        "verifier_url": opt(&s.verifier_url), "allowed_next_uri_origins": s.allowed_next_uri_origins,
        "account_switch": s.account_switch})
}

pub fn event_json(e: &pb::AuditEvent) -> Value {
    prune(
        json!({"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": opt(&e.target),
        "outcome": e.outcome, "request_id": opt(&e.request_id)}),
    )
}

pub fn page_json(
    items: Vec<Value>,
    limit: u32,
    offset: u64,
    page_count: u64,
    total_count: u64,
) -> Value {
    json!({"items": items, "limit": limit, "offset": offset, "page_count": page_count, "total_count": total_count})
}

/// API keys get `last_used_at` as they are used; compare without it.
pub fn without_last_used(mut page: Value) -> Value {
    for k in page["items"].as_array_mut().unwrap() {
        k.as_object_mut().unwrap().remove("last_used_at");
    }
    page
}

pub fn provider_input(client_id: &str, scopes: &[&str]) -> pb::AuthProviderInput {
    pb::AuthProviderInput {
        description: Some("Discord prod app".to_owned()),
        provider_id: Some("discord".to_owned()),
        oauth2: Some(pb::OAuth2Input {
            client_id: Some(client_id.to_owned()),
            client_secret: Some(SECRET.to_owned()),
            ..Default::default()
        }),
        scopes: Some(pb::StringList {
            values: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }),
        ..Default::default()
    }
}

pub fn provider_body(id: &str, client_id: &str, scopes: &[&str]) -> Value {
    json!({"id": id, "description": "Discord prod app", "provider_id": "discord",
           "oauth2": {"client_id": client_id, "client_secret": SECRET}, "scopes": scopes})
}

pub fn tool_json(t: &pb::Tool) -> Value {
    let r = t.requirement.as_ref().unwrap();
    prune(json!({
        "id": t.id, "name": t.name, "version": t.version, "description": opt(&t.description),
        "requirement": {"provider_id": r.provider_id, "provider_type": r.provider_type,
            "id": opt(&r.id), "oauth2": {"scopes": r.oauth2.as_ref().unwrap().scopes}},
        "created_at": t.created_at, "updated_at": t.updated_at,
    }))
}

/// A tool's fields; `pin` names the provider the requirement pins.
pub fn tool_input(
    version: &str,
    description: &str,
    pin: Option<&str>,
    scopes: &[&str],
) -> pb::ToolInput {
    pb::ToolInput {
        version: Some(version.to_owned()),
        description: Some(description.to_owned()),
        requirement: Some(pb::ToolRequirementInput {
            provider_id: Some("discord".to_owned()),
            id: pin.map(str::to_owned),
            oauth2: Some(pb::RequirementOAuth2 {
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            }),
            ..Default::default()
        }),
    }
}

/// The REST body of the same tool as [`tool_input`].
pub fn tool_body(
    name: &str,
    version: &str,
    description: &str,
    pin: Option<&str>,
    scopes: &[&str],
) -> Value {
    prune(
        json!({"name": name, "version": version, "description": description,
        "requirement": {"provider_id": "discord", "id": pin, "oauth2": {"scopes": scopes}}}),
    )
}

/// A connection as REST renders it (`provider_description` is `null` when absent, and
/// `provider_user_info` is the object the message carries as JSON text).
pub fn connection_json(c: &pb::UserConnection) -> Value {
    json!({
        "id": c.id, "connection_id": c.connection_id, "connection_status": c.connection_status,
        "provider_id": c.provider_id, "provider_type": c.provider_type,
        "provider_description": opt(&c.provider_description),
        "provider_user_info": serde_json::from_str::<Value>(&c.provider_user_info).unwrap(),
        "scopes": c.scopes, "user_id": c.user_id, "expires_at": c.expires_at,
    })
}

/// A server whose providers may use the Discord simulator, with a tenant and its provider
/// `discord-prod` on the simulator: (simulator, app, tenant id, admin key).
pub async fn sim_world(database_url: Option<String>) -> (super::sim::Sim, TestApp, String, String) {
    use super::sim::{self, Sim};
    let sim = Sim::start().await;
    let origin = sim.origin();
    let app = spawn_app_with(database_url, |s| {
        s.server.public_url = "https://latchkey.example".to_owned();
        s.discord.allowed_endpoint_origins = vec![origin];
    })
    .await;
    let t = rest_ok(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key.clone(),
        Some(json!({"name": "Acme"})),
    )
    .await;
    let admin = t["admin_key"].as_str().unwrap().to_owned();
    rest_ok(&app, Method::POST, "/v1/admin/auth_providers", &admin,
        Some(json!({"id": "discord-prod", "description": "Discord prod app", "provider_id": "discord",
                    "oauth2": {"client_id": sim::APP_ID, "client_secret": sim::SECRET},
                    "scopes": ["guilds"], "endpoint_origin": sim.origin()}))).await;
    let tenant = t["id"].as_str().unwrap().to_owned();
    (sim, app, tenant, admin)
}

/// A real grant from the simulator, stored for `user` through `discord-prod`.
pub async fn sim_grant(sim: &super::sim::Sim, app: &TestApp, tenant: &str, user: &str) -> String {
    let t = sim.login(&["identify", "guilds"]).await;
    let (access, refresh) = super::sim::Sim::tokens(&t);
    super::seed_grant(
        app,
        tenant,
        "discord-prod",
        user,
        &["identify", "guilds"],
        (&access, refresh.as_deref()),
        json!({"id": super::sim::USER, "username": "nelly"}),
    )
    .await
}

/// Makes the simulator answer 503 to every token revocation.
pub async fn sim_fail_revocations(sim: &super::sim::Sim) {
    let r = sim.http.post(format!("{}/__sim/faults", sim.origin()))
        .json(&json!({"match": {"method": "POST", "path": "/api/oauth2/token/revoke"}, "trigger": {"count": null}, "action": {"kind": "status", "status": 503}}))
        .send().await.unwrap();
    assert!(r.status().is_success());
}
