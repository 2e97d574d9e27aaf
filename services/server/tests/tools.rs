//! Tools through a running server: registration with its tool key (shown once, role `tool`,
//! bound to the tool), rotation, update and delete (keys stop working), the Arcade
//! `ToolDefinition` catalogue with every name form, `token_status`/`met` for a user, provider
//! resolution states, the bad-input table, and nothing half-written.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, call, spawn_app_with};

struct Tenant {
    id: String,
    admin: String,
    app: String,
}

async fn setup(db: Option<String>) -> (TestApp, Tenant) {
    let app = spawn_app_with(db, |s| {
        s.discord.allowed_endpoint_origins = vec!["http://127.0.0.1:7300".to_owned()];
    })
    .await;
    let (s, t) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let t = Tenant {
        id: t["id"].as_str().unwrap().to_owned(),
        admin: t["admin_key"].as_str().unwrap().to_owned(),
        app: t["app_key"].as_str().unwrap().to_owned(),
    };
    let (s, _) = call(
        &app,
        Method::POST,
        "/v1/admin/auth_providers",
        &t.admin,
        Some(json!({"id": "discord-prod", "provider_id": "discord",
                    "oauth2": {"client_id": "1100000000000000001", "client_secret": "secret-secret-secret"},
                    "scopes": ["guilds", "email"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    (app, t)
}

fn whoami() -> Value {
    json!({"name": "Discord.Whoami", "version": "0.1.0", "description": "Return the caller's Discord profile",
           "requirement": {"provider_id": "discord", "oauth2": {"scopes": ["guilds"]}}})
}

async fn registration_keys_catalogue(db: Option<String>) {
    let (app, t) = setup(db).await;
    let (s, reg) = call(
        &app,
        Method::POST,
        "/v1/admin/tools",
        &t.admin,
        Some(whoami()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{reg}");
    assert!(reg["tool"]["id"].as_str().unwrap().starts_with("tool_"));
    assert_eq!(reg["tool"]["name"], "Discord.Whoami");
    assert_eq!(
        reg["tool"]["requirement"],
        json!({"provider_id": "discord", "provider_type": "oauth2", "oauth2": {"scopes": ["guilds"]}})
    );
    assert_eq!(reg["key"]["role"], "tool");
    assert_eq!(reg["key"]["tool_id"], reg["tool"]["id"]);
    let tool_key = reg["key"]["secret"].as_str().unwrap().to_owned();
    assert!(tool_key.starts_with("lk_"));

    // The tool key is a tool principal: it authenticates, but not for app or admin routes.
    let (s, _) = call(&app, Method::GET, "/v1/tools", &tool_key, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(&app, Method::GET, "/v1/admin/tools", &tool_key, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Lists never show the secret again.
    let (_, keys) = call(&app, Method::GET, "/v1/admin/api_keys", &t.admin, None).await;
    let listed = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == reg["key"]["id"])
        .unwrap();
    assert!(listed.get("secret").is_none());
    assert!(!keys.to_string().contains(&tool_key));

    // A second registration of the same name: already_exists, and no second key appeared.
    let (s, e) = call(
        &app,
        Method::POST,
        "/v1/admin/tools",
        &t.admin,
        Some(whoami()),
    )
    .await;
    assert_eq!(
        (s, e["name"].as_str()),
        (StatusCode::BAD_REQUEST, Some("already_exists"))
    );
    let (_, keys2) = call(&app, Method::GET, "/v1/admin/api_keys", &t.admin, None).await;
    assert_eq!(
        keys2["total_count"], keys["total_count"],
        "nothing half-written"
    );

    // The catalogue, in every name form.
    let (s, def) = call(&app, Method::GET, "/v1/tools/Discord.Whoami", &t.app, None).await;
    assert_eq!(s, StatusCode::OK, "{def}");
    assert_eq!(def["fully_qualified_name"], "Discord.Whoami@0.1.0");
    assert_eq!(def["qualified_name"], "Discord.Whoami");
    assert_eq!(def["name"], "Whoami");
    assert_eq!(def["toolkit"]["name"], "Discord");
    assert_eq!(def["input"], json!({"parameters": []}));
    let auth = &def["requirements"]["authorization"];
    assert_eq!(
        (
            auth["provider_id"].as_str(),
            auth["status"].as_str(),
            auth["status_reason"].as_str()
        ),
        (Some("discord"), Some("active"), Some(""))
    );
    assert!(
        auth.get("token_status").is_none() && def["requirements"].get("met").is_none(),
        "no user, no status"
    );
    for form in [
        "Discord.Whoami@0.1.0",
        "Discord_Whoami",
        "Discord_Whoami@0.1.0",
        "Discord.Whoami?tool_version=0.1.0",
    ] {
        let (s, d) = call(
            &app,
            Method::GET,
            &format!("/v1/tools/{form}"),
            &t.app,
            None,
        )
        .await;
        assert_eq!(
            (s, d["qualified_name"].as_str()),
            (StatusCode::OK, Some("Discord.Whoami")),
            "{form}"
        );
    }
    for missing in [
        "Discord.Whoami@9.9.9",
        "discord.whoami",
        "Discord.Whoami?tool_version=1.0.0",
        "Nope.Nope",
        "x",
    ] {
        let (s, e) = call(
            &app,
            Method::GET,
            &format!("/v1/tools/{missing}"),
            &t.app,
            None,
        )
        .await;
        assert_eq!(
            (s, e["name"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{missing}"
        );
    }

    // token_status for a user: not_started, then completed once a sufficient grant exists.
    let (_, d) = call(
        &app,
        Method::GET,
        "/v1/tools/Discord.Whoami?user_id=alice",
        &t.app,
        None,
    )
    .await;
    assert_eq!(
        d["requirements"]["authorization"]["token_status"],
        "not_started"
    );
    assert_eq!(d["requirements"]["met"], false);
    support::seed_grant(
        &app,
        &t.id,
        "discord-prod",
        "alice",
        &["identify"],
        ("at-1", Some("rt-1")),
        json!({"id": "1"}),
    )
    .await;
    let (_, d) = call(
        &app,
        Method::GET,
        "/v1/tools/Discord.Whoami?user_id=alice",
        &t.app,
        None,
    )
    .await;
    assert_eq!(
        d["requirements"]["met"], false,
        "identify alone does not cover guilds"
    );
    support::seed_grant(
        &app,
        &t.id,
        "discord-prod",
        "bob",
        &["identify", "guilds"],
        ("at-2", None),
        json!({"id": "2"}),
    )
    .await;
    let (_, d) = call(
        &app,
        Method::GET,
        "/v1/tools/Discord.Whoami?user_id=bob",
        &t.app,
        None,
    )
    .await;
    assert_eq!(
        d["requirements"]["authorization"]["token_status"],
        "completed"
    );
    assert_eq!(d["requirements"]["met"], true);
    let (_, d) = call(
        &app,
        Method::GET,
        "/v1/tools/Discord.Whoami?user_id=BOB",
        &t.app,
        None,
    )
    .await;
    assert_eq!(d["requirements"]["met"], false, "user ids are byte-exact");

    // Lists: paging, toolkit filter, user status per item.
    let (s, _) = call(&app, Method::POST, "/v1/admin/tools", &t.admin,
        Some(json!({"name": "Other.Probe", "version": "1.0.0", "requirement": {"id": "discord-prod", "oauth2": {"scopes": ["email"]}}}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, page) = call(
        &app,
        Method::GET,
        "/v1/tools?user_id=bob&limit=1",
        &t.app,
        None,
    )
    .await;
    assert_eq!(
        (page["total_count"].as_u64(), page["page_count"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(page["items"][0]["qualified_name"], "Discord.Whoami");
    let (_, page) = call(
        &app,
        Method::GET,
        "/v1/tools?toolkit=Other&user_id=bob",
        &t.app,
        None,
    )
    .await;
    assert_eq!(page["total_count"], 1);
    let other = &page["items"][0]["requirements"];
    assert_eq!(
        other["authorization"]["id"], "discord-prod",
        "pinned instance shown"
    );
    assert_eq!(
        other["authorization"]["token_status"], "not_started",
        "bob's grant lacks email"
    );

    // A second active Discord provider makes the unpinned tool ambiguous; the pinned one is fine.
    let (s, _) = call(&app, Method::POST, "/v1/admin/auth_providers", &t.admin,
        Some(json!({"id": "discord-test", "provider_id": "discord", "oauth2": {"client_id": "1100000000000000002", "client_secret": "secret-secret-secret"}}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, d) = call(&app, Method::GET, "/v1/tools/Discord.Whoami", &t.app, None).await;
    assert_eq!(d["requirements"]["authorization"]["status"], "inactive");
    assert_eq!(
        d["requirements"]["authorization"]["status_reason"],
        "ambiguous_provider"
    );
    let (_, d) = call(&app, Method::GET, "/v1/tools/Other.Probe", &t.app, None).await;
    assert_eq!(d["requirements"]["authorization"]["status"], "active");
    let (s, _) = call(
        &app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &t.admin,
        Some(json!({"status": "inactive"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, d) = call(&app, Method::GET, "/v1/tools/Other.Probe", &t.app, None).await;
    assert_eq!(
        d["requirements"]["authorization"]["status_reason"],
        "provider_inactive"
    );

    // Update: version and requirement; the name cannot change; the key keeps working.
    let (s, u) = call(&app, Method::PATCH, "/v1/admin/tools/Discord.Whoami", &t.admin,
        Some(json!({"version": "0.2.0", "requirement": {"id": "discord-test", "oauth2": {"scopes": ["identify"]}}}))).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(
        (
            u["version"].as_str(),
            u["requirement"]["id"].as_str(),
            u["description"].as_str()
        ),
        (
            Some("0.2.0"),
            Some("discord-test"),
            Some("Return the caller's Discord profile")
        )
    );
    let (s, e) = call(
        &app,
        Method::PATCH,
        "/v1/admin/tools/Discord.Whoami",
        &t.admin,
        Some(json!({"name": "Discord.Other"})),
    )
    .await;
    assert_eq!(
        (s, e["name"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (s, u) = call(
        &app,
        Method::PATCH,
        "/v1/admin/tools/Discord.Whoami",
        &t.admin,
        Some(json!({"description": ""})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(u.get("description").is_none(), "\"\" clears it");

    // Rotation: a second key for the tool; revoking the first leaves the second.
    let (s, k2) = call(
        &app,
        Method::POST,
        "/v1/admin/tools/Discord.Whoami/keys",
        &t.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        (k2["role"].as_str(), k2["tool_id"].as_str()),
        (Some("tool"), reg["tool"]["id"].as_str())
    );
    let (s, _) = call(
        &app,
        Method::POST,
        "/v1/admin/tools/Nope.Nope/keys",
        &t.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Audit: every write, with ids only.
    let (_, audit) = call(
        &app,
        Method::GET,
        "/v1/admin/audit_events?limit=100",
        &t.admin,
        None,
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["tool.create", "tool.update", "tool.key_create"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert!(!audit.to_string().contains(&tool_key));

    // Delete: the tool and all its keys go; the key stops authenticating (5 s cache bound).
    let (s, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/tools/Discord.Whoami",
        &t.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        Method::GET,
        "/v1/admin/tools/Discord.Whoami",
        &t.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, keys) = call(&app, Method::GET, "/v1/admin/api_keys", &t.admin, None).await;
    assert!(
        !keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["tool_id"] == reg["tool"]["id"]),
        "tool keys deleted with the tool"
    );
    let (s, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/tools/Discord.Whoami",
        &t.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn registration_keys_and_catalogue_on_sqlite() {
    registration_keys_catalogue(None).await;
}

#[tokio::test]
async fn registration_keys_and_catalogue_on_postgres() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    registration_keys_catalogue(Some(db.url.clone())).await;
    db.drop_now().await;
}

#[tokio::test]
async fn bad_input_gets_a_named_error_and_writes_nothing() {
    let (app, t) = setup(None).await;
    let req = |scopes: Value| json!({"provider_id": "discord", "oauth2": {"scopes": scopes}});
    let base = |patch: Value| {
        let mut b = whoami();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "no name",
            json!({"version": "1.0.0", "requirement": req(json!(["guilds"]))}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "empty name",
            base(json!({"name": ""})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no toolkit",
            base(json!({"name": "Whoami"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "confusable",
            base(json!({"name": "Dіscord.Whoami"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "NUL",
            base(json!({"name": "Discord.Who\u{0}ami"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oversized name",
            base(json!({"name": format!("Discord.{}", "a".repeat(65))})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "bad version",
            base(json!({"version": "v1"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no version",
            json!({"name": "A.B", "requirement": req(json!(["guilds"]))}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "wrong type",
            base(json!({"version": 1})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "unknown field",
            base(json!({"secrets": []})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oversized description",
            base(json!({"description": "d".repeat(1001)})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "control in description",
            base(json!({"description": "a\u{7}b"})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no requirement",
            json!({"name": "A.B", "version": "1.0.0"}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "no scopes",
            base(json!({"requirement": req(json!([]))})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "unknown scope",
            base(json!({"requirement": req(json!(["made.up"]))})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "reserved scope",
            base(json!({"requirement": req(json!(["rpc"]))})),
            StatusCode::FORBIDDEN,
            "scope_not_allowed",
        ),
        (
            "guilds.join",
            base(json!({"requirement": req(json!(["guilds.join"]))})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "other provider",
            base(
                json!({"requirement": {"provider_id": "github", "oauth2": {"scopes": ["guilds"]}}}),
            ),
            StatusCode::BAD_REQUEST,
            "unsupported_provider",
        ),
        (
            "unknown instance",
            base(json!({"requirement": {"id": "nope", "oauth2": {"scopes": ["guilds"]}}})),
            StatusCode::BAD_REQUEST,
            "unknown_provider",
        ),
        (
            "scope outside the instance",
            base(
                json!({"requirement": {"id": "discord-prod", "oauth2": {"scopes": ["connections"]}}}),
            ),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "unknown requirement field",
            base(json!({"requirement": {"provider_id": "discord", "scopes": ["guilds"]}})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (what, body, status, name) in cases {
        let (s, e) = call(&app, Method::POST, "/v1/admin/tools", &t.admin, Some(body)).await;
        assert_eq!((s, e["name"].as_str()), (status, Some(name)), "{what}: {e}");
        assert!(
            e["message"].as_str().unwrap().len() < 300,
            "{what}: the message never echoes an oversized value"
        );
    }
    let (_, tools) = call(&app, Method::GET, "/v1/admin/tools", &t.admin, None).await;
    assert_eq!(tools["total_count"], 0, "nothing half-written");
    let (_, keys) = call(&app, Method::GET, "/v1/admin/api_keys", &t.admin, None).await;
    assert!(
        !keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["role"] == "tool"),
        "no orphan tool key"
    );

    // Catalogue query parameters.
    let (s, _) = call(
        &app,
        Method::POST,
        "/v1/admin/tools",
        &t.admin,
        Some(whoami()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for bad in [
        "user_id=",
        "user_id=alice%20",
        "user_id=al%E2%80%8Bice",
        "user_id=a&user_id=b",
        &format!("user_id={}", "u".repeat(257)),
        "limit=0",
        "offset=-1",
    ] {
        let (s, e) = call(&app, Method::GET, &format!("/v1/tools?{bad}"), &t.app, None).await;
        assert_eq!(
            (s, e["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad}"
        );
    }
    app.stop().await;
}
