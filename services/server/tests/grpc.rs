//! The gRPC control plane (`latchkey.v1.ControlPlane`) against its REST twin on the same
//! running server: every RPC is driven through both transports and the answers compared —
//! the same objects, the same error names and messages for the same bad input, and codes from
//! the one mapping. Also: server reflection lists the services, and the standard health
//! service reports the control plane SERVING.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_api::grpc::v1 as pb;
use pb::control_plane_client::ControlPlaneClient;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, spawn_app_with};
use tonic::transport::Channel;
use tonic::{Code, Request};

const SIM: &str = "http://127.0.0.1:7300";
const SECRET: &str = "a-very-long-client-secret-XYZW";

type Client = ControlPlaneClient<Channel>;

async fn app(database_url: Option<String>) -> TestApp {
    spawn_app_with(database_url, |s| {
        s.server.public_url = "https://latchkey.example".to_owned();
        s.discord.allowed_endpoint_origins = vec![SIM.to_owned()];
    })
    .await
}

async fn channel(app: &TestApp) -> Channel {
    tonic::transport::Endpoint::from_shared(app.api.clone())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn client(app: &TestApp) -> Client {
    ControlPlaneClient::connect(app.api.clone()).await.unwrap()
}

fn req<T>(key: Option<&str>, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(k) = key {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {k}").parse().unwrap());
    }
    r
}

async fn rest(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = support::request(app, method, path, key, body.as_ref()).await;
    (r.status, r.body)
}

async fn rest_ok(
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
fn same_error<T: std::fmt::Debug>(
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

fn opt(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| json!(s))
}

/// Drops `null` members, as REST omits absent optional fields.
fn prune(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            *x = prune(x.take());
        }
    }
    v
}

fn tenant_json(t: &pb::Tenant) -> Value {
    json!({"id": t.id, "name": t.name, "created_at": t.created_at})
}

fn key_json(k: &pb::ApiKey) -> Value {
    prune(
        json!({"id": k.id, "name": k.name, "role": k.role, "tool_id": opt(&k.tool_id),
        "created_at": k.created_at, "revoked_at": opt(&k.revoked_at)}),
    )
}

fn policy_json(p: &pb::Policy) -> Value {
    prune(
        json!({"required_guild_ids": p.required_guild_ids, "required_role_ids": p.required_role_ids, "message": opt(&p.message)}),
    )
}

fn provider_json(p: &pb::AuthProvider) -> Value {
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

fn settings_json(s: &pb::SessionVerificationSettings) -> Value {
    json!({"unsafe_skip_verification": s.unsafe_skip_verification,
        "unsafe_skip_verification_choice_allowed": s.unsafe_skip_verification_choice_allowed,
        "verifier_url": opt(&s.verifier_url), "allowed_next_uri_origins": s.allowed_next_uri_origins})
}

fn event_json(e: &pb::AuditEvent) -> Value {
    prune(
        json!({"id": e.id, "at": e.at, "actor": e.actor, "action": e.action, "target": opt(&e.target),
        "outcome": e.outcome, "request_id": opt(&e.request_id)}),
    )
}

fn page_json(
    items: Vec<Value>,
    limit: u32,
    offset: u64,
    page_count: u64,
    total_count: u64,
) -> Value {
    json!({"items": items, "limit": limit, "offset": offset, "page_count": page_count, "total_count": total_count})
}

/// API keys get `last_used_at` as they are used; compare without it.
fn without_last_used(mut page: Value) -> Value {
    for k in page["items"].as_array_mut().unwrap() {
        k.as_object_mut().unwrap().remove("last_used_at");
    }
    page
}

fn provider_input(client_id: &str, scopes: &[&str]) -> pb::AuthProviderInput {
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

fn provider_body(id: &str, client_id: &str, scopes: &[&str]) -> Value {
    json!({"id": id, "description": "Discord prod app", "provider_id": "discord",
           "oauth2": {"client_id": client_id, "client_secret": SECRET}, "scopes": scopes})
}

// --- the parity walk ------------------------------------------------------------------------

async fn parity(app: &TestApp) {
    let mut c = client(app).await;
    let op = app.operator_key.as_str();

    // Tenants: create over gRPC, read back over both.
    let t = c
        .create_tenant(req(
            Some(op),
            pb::CreateTenantRequest {
                name: "Acme".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(t.admin_key.starts_with("lk_") && t.app_key.starts_with("lk_"));
    let rest_t = rest_ok(
        app,
        Method::GET,
        &format!("/v1/platform/tenants/{}", t.id),
        op,
        None,
    )
    .await;
    assert_eq!(
        rest_t,
        json!({"id": t.id, "name": "Acme", "created_at": t.created_at})
    );
    let got = c
        .get_tenant(req(Some(op), pb::GetTenantRequest { id: t.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tenant_json(&got.tenant.unwrap()), rest_t);
    let rest_b = rest_ok(
        app,
        Method::POST,
        "/v1/platform/tenants",
        op,
        Some(json!({"name": "Bravo"})),
    )
    .await;
    for (limit, offset, query) in [(None, None, ""), (Some(1), Some(1), "?limit=1&offset=1")] {
        let g = c
            .list_tenants(req(Some(op), pb::ListTenantsRequest { limit, offset }))
            .await
            .unwrap()
            .into_inner();
        let g = page_json(
            g.items.iter().map(tenant_json).collect(),
            g.limit,
            g.offset,
            g.page_count,
            g.total_count,
        );
        assert_eq!(
            g,
            rest_ok(
                app,
                Method::GET,
                &format!("/v1/platform/tenants{query}"),
                op,
                None
            )
            .await
        );
    }
    let b_id = rest_b["id"].as_str().unwrap().to_owned();
    c.delete_tenant(req(Some(op), pb::DeleteTenantRequest { id: b_id.clone() }))
        .await
        .unwrap();
    let (s, _) = rest(
        app,
        Method::GET,
        &format!("/v1/platform/tenants/{b_id}"),
        Some(op),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let admin = t.admin_key.as_str();
    // API keys.
    let k = c
        .create_api_key(req(
            Some(admin),
            pb::CreateApiKeyRequest {
                name: "ci".into(),
                role: "app".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(k.secret.starts_with("lk_"));
    let k = k.key.unwrap();
    let rest_keys =
        without_last_used(rest_ok(app, Method::GET, "/v1/admin/api_keys", admin, None).await);
    assert!(
        rest_keys["items"]
            .as_array()
            .unwrap()
            .contains(&key_json(&k))
    );
    let rest_k = rest_ok(
        app,
        Method::POST,
        "/v1/admin/api_keys",
        admin,
        Some(json!({"name": "ops", "role": "admin"})),
    )
    .await;
    c.revoke_api_key(req(
        Some(admin),
        pb::RevokeApiKeyRequest {
            id: rest_k["id"].as_str().unwrap().into(),
        },
    ))
    .await
    .unwrap();
    let g = c
        .list_api_keys(req(Some(admin), pb::ListApiKeysRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let g = page_json(
        g.items.iter().map(key_json).collect(),
        g.limit,
        g.offset,
        g.page_count,
        g.total_count,
    );
    let r = without_last_used(rest_ok(app, Method::GET, "/v1/admin/api_keys", admin, None).await);
    assert_eq!(g, r);
    assert!(
        r["items"][3]["revoked_at"].is_string(),
        "revoked over gRPC, seen over REST: {r}"
    );

    // Providers: one created per transport, each read over the other.
    let g = c
        .create_auth_provider(req(
            Some(admin),
            pb::CreateAuthProviderRequest {
                id: Some("grpc-app".into()),
                auth_provider: Some(provider_input("1100000000000000001", &["guilds"])),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    assert_eq!(
        provider_json(&g),
        rest_ok(
            app,
            Method::GET,
            "/v1/admin/auth_providers/grpc-app",
            admin,
            None
        )
        .await
    );
    let r = rest_ok(
        app,
        Method::POST,
        "/v1/admin/auth_providers",
        admin,
        Some(provider_body(
            "rest-app",
            "1100000000000000002",
            &["guilds"],
        )),
    )
    .await;
    let g = c
        .get_auth_provider(req(
            Some(admin),
            pb::GetAuthProviderRequest {
                id: "rest-app".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(provider_json(&g.auth_provider.unwrap()), r);
    let g = c
        .list_auth_providers(req(Some(admin), pb::ListAuthProvidersRequest::default()))
        .await
        .unwrap()
        .into_inner();
    let g = page_json(
        g.items.iter().map(provider_json).collect(),
        g.limit,
        g.offset,
        g.page_count,
        g.total_count,
    );
    assert_eq!(
        g,
        rest_ok(app, Method::GET, "/v1/admin/auth_providers", admin, None).await
    );
    // The same patch through each transport gives the same provider (apart from ids and times).
    let patch = pb::AuthProviderInput {
        description: Some(String::new()),
        status: Some("inactive".into()),
        scopes: Some(pb::StringList {
            values: vec!["guilds".into(), "email".into()],
        }),
        policy: Some(pb::Policy {
            required_guild_ids: vec!["81384788765712384".into()],
            ..Default::default()
        }),
        endpoint_origin: Some(SIM.into()),
        ..Default::default()
    };
    let g = c
        .update_auth_provider(req(
            Some(admin),
            pb::UpdateAuthProviderRequest {
                id: "grpc-app".into(),
                auth_provider: Some(patch),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let r = rest_ok(app, Method::PATCH, "/v1/admin/auth_providers/rest-app", admin, Some(json!({"description": "", "status": "inactive",
        "scopes": ["guilds", "email"], "policy": {"required_guild_ids": ["81384788765712384"]}, "endpoint_origin": SIM}))).await;
    let normalize = |mut v: Value| {
        for f in ["id", "created_at", "updated_at"] {
            v[f] = Value::Null;
        }
        v["oauth2"]["client_id"] = Value::Null;
        v["oauth2"]["redirect_uri"] = Value::Null;
        v
    };
    let g = provider_json(&g.auth_provider.unwrap());
    assert_eq!(g["status"], "inactive");
    assert_eq!(normalize(g.clone()), normalize(r));
    assert_eq!(
        g,
        rest_ok(
            app,
            Method::GET,
            "/v1/admin/auth_providers/grpc-app",
            admin,
            None
        )
        .await
    );
    let d = c
        .delete_auth_provider(req(
            Some(admin),
            pb::DeleteAuthProviderRequest {
                id: "grpc-app".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        provider_json(&d.auth_provider.unwrap()),
        g,
        "delete answers with the provider as it was"
    );
    let (s, _) = rest(
        app,
        Method::GET,
        "/v1/admin/auth_providers/grpc-app",
        Some(admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Session verification settings.
    let g = c
        .put_session_verification_settings(req(
            Some(admin),
            pb::PutSessionVerificationSettingsRequest {
                verifier_url: Some("https://app.example/verify".into()),
                allowed_next_uri_origins: Some(pb::StringList {
                    values: vec!["https://app.example".into()],
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let r = rest_ok(
        app,
        Method::GET,
        "/v1/admin/settings/session_verification",
        admin,
        None,
    )
    .await;
    assert_eq!(settings_json(&g.settings.unwrap()), r);
    assert_eq!(r["verifier_url"], "https://app.example/verify");
    let r = rest_ok(
        app,
        Method::PUT,
        "/v1/admin/settings/session_verification",
        admin,
        Some(json!({"verifier_url": null})),
    )
    .await;
    let g = c
        .get_session_verification_settings(req(
            Some(admin),
            pb::GetSessionVerificationSettingsRequest {},
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(settings_json(&g.settings.unwrap()), r);
    let g = c
        .put_session_verification_settings(req(
            Some(admin),
            pb::PutSessionVerificationSettingsRequest {
                verifier_url: Some(String::new()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        settings_json(&g.settings.unwrap()),
        r,
        "\"\" clears like null"
    );

    // Audit events: same pages, and gRPC writes carry their request id.
    for (action, query) in [
        (None, ""),
        (Some("provider.create"), "?action=provider.create"),
        (Some("api_key.revoke"), "?action=api_key.revoke&limit=1"),
    ] {
        let limit = query.contains("limit").then_some(1);
        let g = c
            .list_audit_events(req(
                Some(admin),
                pb::ListAuditEventsRequest {
                    action: action.map(Into::into),
                    limit,
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let g = page_json(
            g.items.iter().map(event_json).collect(),
            g.limit,
            g.offset,
            g.page_count,
            g.total_count,
        );
        let r = rest_ok(
            app,
            Method::GET,
            &format!("/v1/admin/audit_events{query}"),
            admin,
            None,
        )
        .await;
        assert_eq!(g, r, "{query}");
        assert!(
            r["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|e| e["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("req_"))),
            "{r}"
        );
    }
    let g = c
        .list_audit_events(req(
            Some(admin),
            pb::ListAuditEventsRequest {
                since: Some("2000-01-01T00:00:00Z".into()),
                until: Some("2000-01-02T00:00:00Z".into()),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.total_count, 0);

    errors(app, &mut c, op, admin).await;
}

/// The same bad inputs through both transports: the same error name and message.
async fn errors(app: &TestApp, c: &mut Client, op: &str, admin: &str) {
    // No key, a bad key, a wrong-role key.
    same_error(
        "no key",
        c.list_tenants(req(None, pb::ListTenantsRequest::default()))
            .await,
        rest(app, Method::GET, "/v1/platform/tenants", None, None).await,
        Code::Unauthenticated,
    );
    same_error(
        "bad key",
        c.list_api_keys(req(Some("lk_nope"), pb::ListApiKeysRequest::default()))
            .await,
        rest(
            app,
            Method::GET,
            "/v1/admin/api_keys",
            Some("lk_nope"),
            None,
        )
        .await,
        Code::Unauthenticated,
    );
    same_error(
        "admin key on tenants",
        c.list_tenants(req(Some(admin), pb::ListTenantsRequest::default()))
            .await,
        rest(app, Method::GET, "/v1/platform/tenants", Some(admin), None).await,
        Code::PermissionDenied,
    );
    same_error(
        "operator key in a tenant",
        c.get_session_verification_settings(req(
            Some(op),
            pb::GetSessionVerificationSettingsRequest {},
        ))
        .await,
        rest(
            app,
            Method::GET,
            "/v1/admin/settings/session_verification",
            Some(op),
            None,
        )
        .await,
        Code::PermissionDenied,
    );
    // Unknown ids.
    let ghost = format!("tnt_{}", "0".repeat(32));
    same_error(
        "unknown tenant",
        c.get_tenant(req(Some(op), pb::GetTenantRequest { id: ghost.clone() }))
            .await,
        rest(
            app,
            Method::GET,
            &format!("/v1/platform/tenants/{ghost}"),
            Some(op),
            None,
        )
        .await,
        Code::NotFound,
    );
    same_error(
        "delete unknown tenant",
        c.delete_tenant(req(Some(op), pb::DeleteTenantRequest { id: "123".into() }))
            .await,
        rest(
            app,
            Method::DELETE,
            "/v1/platform/tenants/123",
            Some(op),
            None,
        )
        .await,
        Code::NotFound,
    );
    same_error(
        "unknown key",
        c.revoke_api_key(req(
            Some(admin),
            pb::RevokeApiKeyRequest { id: "key_x".into() },
        ))
        .await,
        rest(
            app,
            Method::DELETE,
            "/v1/admin/api_keys/key_x",
            Some(admin),
            None,
        )
        .await,
        Code::NotFound,
    );
    for (name, rpc) in [("get", 0), ("update", 1), ("delete", 2)] {
        let g = match rpc {
            0 => c
                .get_auth_provider(req(
                    Some(admin),
                    pb::GetAuthProviderRequest { id: "nope".into() },
                ))
                .await
                .map(|_| ()),
            1 => c
                .update_auth_provider(req(
                    Some(admin),
                    pb::UpdateAuthProviderRequest {
                        id: "nope".into(),
                        auth_provider: None,
                    },
                ))
                .await
                .map(|_| ()),
            _ => c
                .delete_auth_provider(req(
                    Some(admin),
                    pb::DeleteAuthProviderRequest { id: "nope".into() },
                ))
                .await
                .map(|_| ()),
        };
        let method = [Method::GET, Method::PATCH, Method::DELETE][rpc].clone();
        let body = (rpc == 1).then(|| json!({}));
        same_error(
            name,
            g.map(tonic::Response::new),
            rest(
                app,
                method,
                "/v1/admin/auth_providers/nope",
                Some(admin),
                body,
            )
            .await,
            Code::NotFound,
        );
    }
    // Bad input.
    same_error(
        "empty tenant name",
        c.create_tenant(req(
            Some(op),
            pb::CreateTenantRequest {
                name: String::new(),
            },
        ))
        .await,
        rest(
            app,
            Method::POST,
            "/v1/platform/tenants",
            Some(op),
            Some(json!({"name": ""})),
        )
        .await,
        Code::InvalidArgument,
    );
    same_error(
        "tool key role",
        c.create_api_key(req(
            Some(admin),
            pb::CreateApiKeyRequest {
                name: "t".into(),
                role: "tool".into(),
            },
        ))
        .await,
        rest(
            app,
            Method::POST,
            "/v1/admin/api_keys",
            Some(admin),
            Some(json!({"name": "t", "role": "tool"})),
        )
        .await,
        Code::InvalidArgument,
    );
    same_error(
        "limit 0",
        c.list_api_keys(req(
            Some(admin),
            pb::ListApiKeysRequest {
                limit: Some(0),
                offset: None,
            },
        ))
        .await,
        rest(
            app,
            Method::GET,
            "/v1/admin/api_keys?limit=0",
            Some(admin),
            None,
        )
        .await,
        Code::InvalidArgument,
    );
    for (scopes, code) in [
        (&["not_a_scope"][..], Code::InvalidArgument),
        (&["rpc"][..], Code::PermissionDenied),
        (&["guilds", "guilds"][..], Code::InvalidArgument),
    ] {
        same_error(
            &format!("scopes {scopes:?}"),
            c.create_auth_provider(req(
                Some(admin),
                pb::CreateAuthProviderRequest {
                    id: Some("bad-scopes".into()),
                    auth_provider: Some(provider_input("1100000000000000003", scopes)),
                },
            ))
            .await,
            rest(
                app,
                Method::POST,
                "/v1/admin/auth_providers",
                Some(admin),
                Some(provider_body("bad-scopes", "1100000000000000003", scopes)),
            )
            .await,
            code,
        );
    }
    same_error(
        "missing provider fields",
        c.create_auth_provider(req(
            Some(admin),
            pb::CreateAuthProviderRequest {
                id: Some("x".into()),
                auth_provider: None,
            },
        ))
        .await,
        rest(
            app,
            Method::POST,
            "/v1/admin/auth_providers",
            Some(admin),
            Some(json!({"id": "x"})),
        )
        .await,
        Code::InvalidArgument,
    );
    same_error(
        "duplicate provider",
        c.create_auth_provider(req(
            Some(admin),
            pb::CreateAuthProviderRequest {
                id: Some("rest-app".into()),
                auth_provider: Some(provider_input("1100000000000000004", &["guilds"])),
            },
        ))
        .await,
        rest(
            app,
            Method::POST,
            "/v1/admin/auth_providers",
            Some(admin),
            Some(provider_body(
                "rest-app",
                "1100000000000000004",
                &["guilds"],
            )),
        )
        .await,
        Code::FailedPrecondition,
    );
    same_error(
        "plain http verifier",
        c.put_session_verification_settings(req(
            Some(admin),
            pb::PutSessionVerificationSettingsRequest {
                verifier_url: Some("http://app.example/v".into()),
                ..Default::default()
            },
        ))
        .await,
        rest(
            app,
            Method::PUT,
            "/v1/admin/settings/session_verification",
            Some(admin),
            Some(json!({"verifier_url": "http://app.example/v"})),
        )
        .await,
        Code::InvalidArgument,
    );
    same_error(
        "bad since",
        c.list_audit_events(req(
            Some(admin),
            pb::ListAuditEventsRequest {
                since: Some("yesterday".into()),
                ..Default::default()
            },
        ))
        .await,
        rest(
            app,
            Method::GET,
            "/v1/admin/audit_events?since=yesterday",
            Some(admin),
            None,
        )
        .await,
        Code::InvalidArgument,
    );
    // A message over the 64 KiB decode limit is refused, without a 5xx-class code.
    let big = c
        .create_tenant(req(
            Some(op),
            pb::CreateTenantRequest {
                name: "x".repeat(70 * 1024),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(big.code(), Code::OutOfRange, "{big:?}");
}

#[tokio::test]
async fn every_rpc_matches_its_rest_twin_on_sqlite() {
    let app = app(None).await;
    parity(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn every_rpc_matches_its_rest_twin_on_postgres() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    let app = app(Some(db.url.clone())).await;
    parity(&app).await;
    app.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = app(None).await;
    let mut c = ServerReflectionClient::new(channel(&app).await);
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = c
        .server_reflection_info(tokio_stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    for want in ["grpc.health.v1.Health", "latchkey.v1.ControlPlane"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    // The control plane's descriptor is served, so grpcurl needs no .proto file.
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(
            "latchkey.v1.ControlPlane".into(),
        )),
    };
    let mut answers = c
        .server_reflection_info(tokio_stream::iter([ask]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    assert!(
        matches!(answer.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
        "{answer:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn health_reports_the_control_plane_serving_and_rest_still_answers_unknown_paths() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let app = app(None).await;
    let mut h = HealthClient::new(channel(&app).await);
    for service in ["", "latchkey.v1.ControlPlane"] {
        let r = h
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap();
        assert!(
            r.metadata().get("x-request-id").is_some(),
            "gRPC calls get a request id"
        );
        assert_eq!(
            r.into_inner().status(),
            ServingStatus::Serving,
            "{service:?}"
        );
    }
    let unknown = h
        .check(HealthCheckRequest {
            service: "latchkey.v1.Nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    // REST is untouched next to gRPC.
    let (s, v) = rest(&app, Method::GET, "/latchkey.v1.Nope/Call", None, None).await;
    assert_eq!(
        (s, v["name"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    app.stop().await;
}
