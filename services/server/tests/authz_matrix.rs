//! The authorization matrix (security.md §6.1), generated from the OpenAPI document: every
//! operation × every principal. Tenant A's keys on tenant B's objects answer exactly like
//! objects that do not exist (404); a valid key of the wrong role gets 403; no, revoked or
//! foreign keys get 401. Completeness guard: an operation whose path parameter has no fixture
//! here fails the test, so no route ships without a row.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, spawn_app};

struct Tenant {
    id: String,
    admin: String,
    app: String,
    tool_key: String,
    provider: String,
    key_id: String,
    tool: String,
    connection: String,
}

async fn send(
    app: &TestApp,
    method: &Method,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let r = support::request(app, method.clone(), path, key, body).await;
    (r.status, r.body)
}

async fn tenant(app: &TestApp, name: &str, client_id: &str) -> Tenant {
    let (_, t) = send(
        app,
        &Method::POST,
        "/v1/platform/tenants",
        Some(&app.operator_key),
        Some(&json!({"name": name})),
    )
    .await;
    let admin = t["admin_key"].as_str().unwrap().to_owned();
    let provider = format!("only-{}", name.to_lowercase());
    let body = json!({"id": provider, "provider_id": "discord", "oauth2": {"client_id": client_id, "client_secret": "s3cret-s3cret-s3cret"}});
    let (s, _) = send(
        app,
        &Method::POST,
        "/v1/admin/auth_providers",
        Some(&admin),
        Some(&body),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, k) = send(
        app,
        &Method::POST,
        "/v1/admin/api_keys",
        Some(&admin),
        Some(&json!({"name": "extra", "role": "app"})),
    )
    .await;
    let tool = format!("T{name}.Probe");
    let (s, created_tool) = send(
        app,
        &Method::POST,
        "/v1/admin/tools",
        Some(&admin),
        Some(&json!({"name": tool, "version": "1.0.0", "requirement": {"id": provider, "oauth2": {"scopes": ["identify"]}}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = t["id"].as_str().unwrap().to_owned();
    let connection = support::seed_grant(
        app,
        &id,
        &provider,
        "matrix-user",
        &["identify"],
        ("matrix-access", None),
        json!({"id": "1"}),
    )
    .await;
    Tenant {
        id,
        admin,
        app: t["app_key"].as_str().unwrap().to_owned(),
        tool_key: created_tool["key"]["secret"].as_str().unwrap().to_owned(),
        provider,
        key_id: k["id"].as_str().unwrap().to_owned(),
        tool,
        connection,
    }
}

/// Fills a path template with tenant `t`'s object ids; `None` if a parameter is unknown.
fn fill(path: &str, t: &Tenant) -> Option<String> {
    let mut out = path.to_owned();
    while let Some(start) = out.find('{') {
        let end = out[start..].find('}')? + start;
        let value = match (&out[..start], &out[start + 1..end]) {
            (p, "id") if p.ends_with("/auth_providers/") => t.provider.clone(),
            (p, "id") if p.ends_with("/api_keys/") => t.key_id.clone(),
            (p, "id") if p.ends_with("/tenants/") => t.id.clone(),
            (p, "id") if p.ends_with("/user_connections/") => t.connection.clone(),
            (p, "name") if p.ends_with("/tools/") => t.tool.clone(),
            (p, "path") if p.ends_with("/proxy/discord/") => "users/@me".to_owned(),
            _ => return None,
        };
        out.replace_range(start..=end, &value);
    }
    Some(out)
}

fn body_for(method: &Method, path: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", p) if p.ends_with("/tenants") => Some(json!({"name": "Matrix tenant"})),
        ("POST", p) if p.ends_with("/api_keys") => Some(json!({"name": "matrix", "role": "app"})),
        ("POST", p) if p.ends_with("/admin/tools") => Some(
            json!({"name": "Matrix.New", "version": "1.0.0", "requirement": {"oauth2": {"scopes": ["identify"]}}}),
        ),
        ("POST", p) if p.ends_with("/auth_providers") => Some(
            json!({"id": "matrix", "provider_id": "discord", "oauth2": {"client_id": "1300000000000000001", "client_secret": "matrix-secret-value"}}),
        ),
        ("POST", "/v1/tokens") => Some(json!({"user_id": "matrix-user"})),
        ("POST", "/v1/tools/authorize") => {
            Some(json!({"tool_name": "Matrix.Tool", "user_id": "matrix-user"}))
        }
        ("POST", "/v1/auth/validate_custom_verifier") => Some(
            json!({"user_id": "matrix-user", "verifier_url": "https://verify.example.com/latchkey"}),
        ),
        ("POST", p) if p.ends_with("/grants") => Some(json!({"user_id": "matrix-user"})),
        ("PATCH" | "PUT", _) => Some(json!({"description": "matrix"})),
        _ => None,
    }
}

#[tokio::test]
async fn every_operation_for_every_principal() {
    let app = spawn_app(None).await;
    let a = tenant(&app, "A", "1200000000000000001").await;
    let b = tenant(&app, "B", "1200000000000000002").await;
    // A revoked key of A, and a well-formed key from "another deployment".
    let (_, revoked) = send(
        &app,
        &Method::POST,
        "/v1/admin/api_keys",
        Some(&a.admin),
        Some(&json!({"name": "gone", "role": "admin"})),
    )
    .await;
    send(
        &app,
        &Method::DELETE,
        &format!("/v1/admin/api_keys/{}", revoked["id"].as_str().unwrap()),
        Some(&a.admin),
        None,
    )
    .await;
    let revoked = revoked["secret"].as_str().unwrap().to_owned();
    let foreign =
        "lk_key_0190a1b2c3d4e5f60718293a4b5c6d7e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"
            .to_owned();

    let doc = serde_json::to_value(latchkey_server::startup::openapi()).unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method_name in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method_name.to_uppercase().as_bytes()).unwrap();
            let at = format!("{method} {path}");
            // The proxy's path is a Discord route, not an object of the tenant.
            let has_id = path.contains('{') && !path.starts_with("/v1/proxy/");
            let on_b = fill(path, &b).unwrap_or_else(|| {
                panic!("{at}: no fixture for its path parameter; add one to the matrix")
            });
            let body = body_for(&method, path);
            // The dashboard's sign-in takes a key in its body and its session routes a cookie:
            // `dashboard_session.rs` covers who may use them.
            if path.starts_with("/v1/dashboard/") {
                continue;
            }
            if path == "/v1/health" || path == "/.well-known/jwks.json" {
                let (s, _) = send(&app, &method, path, None, None).await;
                assert_eq!(s, StatusCode::OK, "{at}");
                continue;
            }
            let role = item[method_name]["security"][0]
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_else(|| panic!("{at}: no security requirement"));
            // The key of the right role in tenant A, and the keys of every other role.
            let (right, wrong): (&str, Vec<&str>) = match role.as_str() {
                "operator_key" => (&app.operator_key, vec![&a.admin, &a.app, &a.tool_key]),
                "admin_key" => (&a.admin, vec![&app.operator_key, &a.app, &a.tool_key]),
                "app_key" => (&a.app, vec![&app.operator_key, &a.admin, &a.tool_key]),
                "tool_key" => (&a.tool_key, vec![&app.operator_key, &a.admin, &a.app]),
                other => panic!("{at}: unknown role {other}"),
            };
            let platform = role == "operator_key";
            // No, revoked and foreign credentials: 401, whatever the route.
            for key in [None, Some(revoked.as_str()), Some(foreign.as_str())] {
                let (s, v) = send(&app, &method, &on_b, key, body.as_ref()).await;
                assert_eq!(
                    (s, v["name"].as_str()),
                    (StatusCode::UNAUTHORIZED, Some("unauthorized")),
                    "{at} with {key:?}"
                );
            }
            // Wrong roles: 403.
            for key in wrong {
                let (s, v) = send(&app, &method, &on_b, Some(key), body.as_ref()).await;
                assert_eq!(
                    (s, v["name"].as_str()),
                    (StatusCode::FORBIDDEN, Some("forbidden")),
                    "{at} with a wrong-role key"
                );
            }
            // The right role on another tenant's object: exactly "not found".
            if !platform && has_id {
                let (s, v) = send(&app, &method, &on_b, Some(right), body.as_ref()).await;
                assert_eq!(
                    (s, v["name"].as_str()),
                    (StatusCode::NOT_FOUND, Some("not_found")),
                    "{at}: A's admin on B's object"
                );
                let (s, v) = send(
                    &app,
                    &method,
                    &format!("{}/does-not-exist", &on_b[..on_b.rfind('/').unwrap()]),
                    Some(right),
                    body.as_ref(),
                )
                .await;
                assert_eq!(
                    (s, v["name"].as_str()),
                    (StatusCode::NOT_FOUND, Some("not_found")),
                    "{at}: identical to a missing object"
                );
                if method != Method::DELETE {
                    // A's own object stays, so the other methods still find it.
                    let (s, _) = send(
                        &app,
                        &method,
                        &fill(path, &a).unwrap(),
                        Some(right),
                        body.as_ref(),
                    )
                    .await;
                    // Acknowledging needs a connection awaiting acknowledgement (the matrix's is
                    // active): found, and refused for its state rather than as missing.
                    // Testing a provider's credentials asks Discord, which the matrix's world has
                    // not: found, and Discord unreachable.
                    let found = s.is_success()
                        || (path.ends_with("/acknowledge") && s == StatusCode::BAD_REQUEST)
                        || (path.ends_with("/test") && s == StatusCode::BAD_GATEWAY);
                    assert!(found, "{at}: A's admin on A's own object: {s}");
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 23, "walked the operations: {checked}");

    // B's objects survived every attempt.
    let (s, p) = send(
        &app,
        &Method::GET,
        &format!("/v1/admin/auth_providers/{}", b.provider),
        Some(&b.admin),
        None,
    )
    .await;
    assert_eq!(
        (s, p["description"].as_str()),
        (StatusCode::OK, None),
        "B's provider untouched"
    );
    let (_, keys) = send(
        &app,
        &Method::GET,
        "/v1/admin/api_keys",
        Some(&b.admin),
        None,
    )
    .await;
    let key = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == b.key_id)
        .unwrap();
    assert!(key.get("revoked_at").is_none(), "B's key not revoked");
    let (s, _) = send(
        &app,
        &Method::GET,
        &format!("/v1/admin/tools/{}", b.tool),
        Some(&b.admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "B's tool untouched");
    let (_, conns) = send(
        &app,
        &Method::GET,
        "/v1/admin/user_connections",
        Some(&b.admin),
        None,
    )
    .await;
    assert_eq!(
        conns["items"][0]["id"],
        b.connection.as_str(),
        "B's connection untouched"
    );
    let (s, _) = send(
        &app,
        &Method::GET,
        &format!("/v1/platform/tenants/{}", b.id),
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    app.stop().await;
}
