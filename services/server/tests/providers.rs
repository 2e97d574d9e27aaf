//! `/v1/admin/auth_providers` through a running server: Arcade's shape, the write-only
//! secret, the redirect URI, scope and configuration rules (security.md P1–P6, P18–P23),
//! tenant isolation, and nothing half-written.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, spawn_app_with};

const SIM: &str = "http://127.0.0.1:7300";
const SECRET: &str = "a-very-long-client-secret-XYZW";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let r = support::request(app, method, path, Some(key), body.as_ref()).await;
    (r.status, r.body, r.raw)
}

async fn app() -> TestApp {
    spawn_app_with(None, |s| {
        s.server.public_url = "https://latchkey.example".to_owned();
        s.discord.allowed_endpoint_origins = vec![SIM.to_owned()];
    })
    .await
}

async fn tenant(app: &TestApp, name: &str) -> (String, String) {
    let (s, t, _) = call(
        app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    (
        t["id"].as_str().unwrap().to_owned(),
        t["admin_key"].as_str().unwrap().to_owned(),
    )
}

fn provider(id: &str, client_id: &str) -> Value {
    json!({"id": id, "description": "Discord prod app", "provider_id": "discord",
           "oauth2": {"client_id": client_id, "client_secret": SECRET}, "scopes": ["guilds"]})
}

#[tokio::test]
async fn crud_in_arcades_shape_and_the_secret_never_comes_back() {
    let app = app().await;
    let (tenant_id, admin) = tenant(&app, "Acme").await;
    let (s, p, raw) = call(
        &app,
        Method::POST,
        "/v1/admin/auth_providers",
        &admin,
        Some(provider("discord-prod", "1100000000000000001")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert!(!raw.contains(SECRET), "the secret is write-only");
    assert_eq!(p["provider_id"], "discord");
    assert_eq!(p["type"], "oauth2");
    assert_eq!(p["status"], "active");
    assert_eq!(p["binding"], json!({"type": "tenant", "id": tenant_id}));
    assert_eq!(
        p["oauth2"]["client_secret"],
        json!({"exists": true, "hint": "****XYZW", "editable": true, "binding": "tenant"})
    );
    assert_eq!(
        p["oauth2"]["pkce"],
        json!({"enabled": true, "code_challenge_method": "S256"})
    );
    assert_eq!(p["oauth2"]["scope_delimiter"], " ");
    let redirect = p["oauth2"]["redirect_uri"].as_str().unwrap();
    assert!(
        redirect.starts_with("https://latchkey.example/oauth/callback/prv_"),
        "{redirect}"
    );
    assert_eq!(
        p["scopes"],
        json!(["identify", "guilds"]),
        "identify is always included"
    );
    assert!(p.get("external_id").is_none());

    let (s, got, _) = call(
        &app,
        Method::GET,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        None,
    )
    .await;
    assert_eq!((s, &got), (StatusCode::OK, &p));
    let (_, page, _) = call(&app, Method::GET, "/v1/admin/auth_providers", &admin, None).await;
    assert_eq!(
        (
            page["total_count"].as_u64(),
            page["items"][0]["id"].as_str()
        ),
        (Some(1), Some("discord-prod"))
    );

    // Patch merges field by field; a new secret changes the hint; renaming is refused.
    let patch = json!({"id": "discord-prod", "description": "renamed app", "oauth2": {"client_secret": "another-long-secret-ABCD"}, "policy": {"required_guild_ids": ["290926798626357250"], "message": "Join the server first"}, "endpoint_origin": SIM});
    let (s, changed, raw) = call(
        &app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        Some(patch),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    assert!(!raw.contains("another-long-secret"));
    assert_eq!(changed["description"], "renamed app");
    assert_eq!(changed["oauth2"]["client_secret"]["hint"], "****ABCD");
    assert_eq!(
        changed["oauth2"]["client_id"], "1100000000000000001",
        "untouched fields stay"
    );
    assert_eq!(
        changed["policy"]["required_guild_ids"],
        json!(["290926798626357250"])
    );
    assert_eq!(changed["endpoint_origin"], SIM);
    assert_eq!(
        changed["oauth2"]["redirect_uri"], redirect,
        "the callback URL never changes"
    );
    let (s, err, _) = call(
        &app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        Some(json!({"id": "other"})),
    )
    .await;
    assert_eq!(
        (s, err["name"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (s, cleared, _) = call(
        &app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        Some(json!({"policy": {}, "endpoint_origin": "", "status": "inactive"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(cleared.get("policy").is_none() && cleared.get("endpoint_origin").is_none());
    assert_eq!(cleared["status"], "inactive");

    // Delete answers with the deleted provider.
    let (s, deleted, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, deleted["id"].as_str()),
        (StatusCode::OK, Some("discord-prod"))
    );
    let (s, err, _) = call(
        &app,
        Method::GET,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        (s, err["name"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn configuration_rules_and_nothing_half_written() {
    let app = app().await;
    let (_, admin) = tenant(&app, "Acme").await;
    let (_, other_admin) = tenant(&app, "Bravo").await;
    let ok = call(
        &app,
        Method::POST,
        "/v1/admin/auth_providers",
        &admin,
        Some(provider("p1", "1100000000000000001")),
    )
    .await;
    assert_eq!(ok.0, StatusCode::OK);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut p = provider("p2", "1100000000000000002");
        f(&mut p);
        p
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            provider("p1", "1100000000000000009"),
            StatusCode::BAD_REQUEST,
            "already_exists",
            "",
        ),
        (
            with(&|p| p["provider_id"] = json!("github")),
            StatusCode::BAD_REQUEST,
            "unsupported_provider",
            "",
        ),
        (
            with(&|p| p["type"] = json!("oauth1")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "type",
        ),
        (
            with(&|p| {
                p.as_object_mut().unwrap().remove("id");
            }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "id",
        ),
        (
            with(&|p| p["id"] = json!("bad id!")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "id",
        ),
        (
            with(&|p| p["id"] = json!("x".repeat(101))),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "id",
        ),
        (
            with(&|p| {
                p["oauth2"].as_object_mut().unwrap().remove("client_id");
            }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_id",
        ),
        (
            with(&|p| p["oauth2"]["client_id"] = json!("abc")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_id",
        ),
        (
            with(&|p| p["oauth2"]["client_id"] = json!("0123")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_id",
        ),
        (
            with(&|p| p["oauth2"]["client_id"] = json!("123456789012345678901")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_id",
        ),
        (
            with(&|p| p["oauth2"]["client_secret"] = json!("")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_secret",
        ),
        (
            with(&|p| p["oauth2"]["client_secret"] = json!("a\nb")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_secret",
        ),
        (
            with(&|p| p["oauth2"]["client_secret"] = json!("x".repeat(10_000))),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "oauth2.client_secret",
        ),
        (
            with(&|p| {
                p["oauth2"]["token_request"] = json!({"endpoint": "https://evil.example/token"})
            }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token_request",
        ),
        (
            with(&|p| p["oauth2"]["pkce"] = json!({"enabled": false})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "pkce",
        ),
        (
            with(&|p| p["oauth2"]["pkce"] = json!({"code_challenge_method": "plain"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "pkce",
        ),
        (
            with(&|p| p["oauth2"]["scope_delimiter"] = json!(",")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "scope_delimiter",
        ),
        (
            with(&|p| p["scopes"] = json!(["rpc"])),
            StatusCode::FORBIDDEN,
            "scope_not_allowed",
            "rpc",
        ),
        (
            with(&|p| p["scopes"] = json!(["made.up"])),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "made.up",
        ),
        (
            with(&|p| p["scopes"] = json!(["guilds.join"])),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bot token",
        ),
        (
            with(&|p| p["scopes"] = json!(["bot"])),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "bot",
        ),
        (
            with(&|p| p["endpoint_origin"] = json!("http://169.254.169.254")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "allow-list",
        ),
        (
            with(&|p| p["endpoint_origin"] = json!(format!("{SIM}/"))),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "allow-list",
        ),
        (
            with(&|p| p["policy"] = json!({"required_role_ids": ["1"]})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "policy",
        ),
        (
            with(&|p| p["policy"] = json!({"required_guild_ids": ["abc"]})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "policy",
        ),
        (
            with(&|p| p["description"] = json!("x".repeat(1001))),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "description",
        ),
        (
            with(&|p| p["external_id"] = json!("x".repeat(51))),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "external_id",
        ),
        (
            with(&|p| p["status"] = json!("paused")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "status",
        ),
        (
            with(&|p| p["oauth2"]["client_id"] = json!("1100000000000000001")),
            StatusCode::BAD_REQUEST,
            "client_id_in_use",
            "",
        ),
    ];
    for (body, status, name, mentions) in cases {
        let (s, err, raw) = call(
            &app,
            Method::POST,
            "/v1/admin/auth_providers",
            &admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, err["name"].as_str()),
            (status, Some(name)),
            "{body} → {raw}"
        );
        assert!(
            err["message"].as_str().unwrap().contains(mentions),
            "{body} → {raw}"
        );
        assert!(
            !raw.contains("evil.example") && !raw.contains(&"x".repeat(60)),
            "input is not echoed: {raw}"
        );
    }
    // Another tenant cannot register the same Discord app (P6) — and learns nothing else.
    let (s, err, _) = call(
        &app,
        Method::POST,
        "/v1/admin/auth_providers",
        &other_admin,
        Some(provider("p1", "1100000000000000001")),
    )
    .await;
    assert_eq!(
        (s, err["name"].as_str()),
        (StatusCode::BAD_REQUEST, Some("client_id_in_use"))
    );
    // An allow-listed origin is accepted; the same slug in another tenant is fine.
    let mut sim = provider("p1", "1100000000000000003");
    sim["endpoint_origin"] = json!(SIM);
    let (s, _, raw) = call(
        &app,
        Method::POST,
        "/v1/admin/auth_providers",
        &other_admin,
        Some(sim),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{raw}");
    // Nothing half-written by the refusals.
    let (_, page, _) = call(&app, Method::GET, "/v1/admin/auth_providers", &admin, None).await;
    assert_eq!(page["total_count"], 1);
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_provider_does_not_exist() {
    let app = app().await;
    let (_, a) = tenant(&app, "Acme").await;
    let (_, b) = tenant(&app, "Bravo").await;
    call(
        &app,
        Method::POST,
        "/v1/admin/auth_providers",
        &a,
        Some(provider("shared", "1100000000000000001")),
    )
    .await;
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"description": "pwned"}))),
        (Method::DELETE, None),
    ] {
        let (s, err, _) = call(
            &app,
            method.clone(),
            "/v1/admin/auth_providers/shared",
            &b,
            body,
        )
        .await;
        assert_eq!(
            (s, err["name"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{method}"
        );
    }
    let (_, still, _) = call(
        &app,
        Method::GET,
        "/v1/admin/auth_providers/shared",
        &a,
        None,
    )
    .await;
    assert_eq!(still["description"], "Discord prod app");
    let (_, page, _) = call(&app, Method::GET, "/v1/admin/auth_providers", &b, None).await;
    assert_eq!(page["total_count"], 0);
    // The app key may not manage providers.
    let (_, t, _) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": "C"})),
    )
    .await;
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/v1/admin/auth_providers",
        t["app_key"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.stop().await;
}
