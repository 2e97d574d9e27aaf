//! The gRPC control plane (`latchkey.v1.ControlPlane`) against its REST twin on the same
//! running server: every RPC is driven through both transports and the answers compared —
//! the same objects, read back across transports (tools included; users' connections against
//! the Discord simulator). Error parity is in `grpc_errors.rs`;
//! reflection and health in `grpc_services.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_api::grpc::v1 as pb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::TestApp;
use support::grpc::*;

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

    // The platform audit log: same page over both transports, operator key only.
    let g = c
        .list_platform_audit_events(req(
            Some(&app.operator_key),
            pb::ListPlatformAuditEventsRequest::default(),
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
        "/v1/platform/audit_events",
        &app.operator_key,
        None,
    )
    .await;
    assert_eq!(g, r);
    assert!(r["total_count"].as_u64().unwrap() >= 1, "{r}");
    let denied = c
        .list_platform_audit_events(req(
            Some(admin),
            pb::ListPlatformAuditEventsRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    tools(app, &mut c, admin).await;
}

/// Tools: each operation over one transport, read back over the other.
async fn tools(app: &TestApp, c: &mut Client, admin: &str) {
    // Register over gRPC (pinned to `rest-app`), read over REST.
    let reg = c
        .register_tool(req(
            Some(admin),
            pb::RegisterToolRequest {
                name: Some("Weather.Forecast".into()),
                tool: Some(tool_input(
                    "1.0.0",
                    "Forecasts",
                    Some("rest-app"),
                    &["guilds"],
                )),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let forecast = reg.tool.unwrap();
    let key = reg.key.unwrap();
    assert!(reg.secret.starts_with("lk_"));
    assert_eq!(key.role, "tool");
    assert_eq!(key.tool_id.as_deref(), Some(forecast.id.as_str()));
    let r = rest_ok(
        app,
        Method::GET,
        "/v1/admin/tools/Weather.Forecast",
        admin,
        None,
    )
    .await;
    assert_eq!(tool_json(&forecast), r);
    assert_eq!(r["requirement"]["id"], "rest-app");
    assert_eq!(r["description"], "Forecasts");
    let keys =
        without_last_used(rest_ok(app, Method::GET, "/v1/admin/api_keys", admin, None).await);
    assert!(keys["items"].as_array().unwrap().contains(&key_json(&key)));

    // Register over REST (unpinned, no description), read over gRPC.
    let r = rest_ok(
        app,
        Method::POST,
        "/v1/admin/tools",
        admin,
        Some(json!({"name": "Weather.Alerts", "version": "2.0.0",
            "requirement": {"oauth2": {"scopes": ["guilds"]}}})),
    )
    .await;
    let g = c
        .get_tool(req(
            Some(admin),
            pb::GetToolRequest {
                name: "Weather.Alerts".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tool_json(&g.tool.unwrap()), r["tool"]);

    // The same pages.
    for (limit, offset, query) in [(None, None, ""), (Some(1), Some(1), "?limit=1&offset=1")] {
        let g = c
            .list_tools(req(Some(admin), pb::ListToolsRequest { limit, offset }))
            .await
            .unwrap()
            .into_inner();
        let g = page_json(
            g.items.iter().map(tool_json).collect(),
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
                &format!("/v1/admin/tools{query}"),
                admin,
                None
            )
            .await,
            "{query}"
        );
    }

    // Update over gRPC: version changes, "" clears the description, the rest stays.
    let u = c
        .update_tool(req(
            Some(admin),
            pb::UpdateToolRequest {
                name: "Weather.Forecast".into(),
                tool: Some(pb::ToolInput {
                    version: Some("1.1.0".into()),
                    description: Some(String::new()),
                    requirement: None,
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let r = rest_ok(
        app,
        Method::GET,
        "/v1/admin/tools/Weather.Forecast",
        admin,
        None,
    )
    .await;
    assert_eq!(tool_json(&u.tool.unwrap()), r);
    assert_eq!(r["version"], "1.1.0");
    assert!(r.get("description").is_none(), "{r}");
    assert_eq!(r["requirement"]["id"], "rest-app", "absent = unchanged");
    // An empty update changes nothing.
    let u = c
        .update_tool(req(
            Some(admin),
            pb::UpdateToolRequest {
                name: "Weather.Forecast".into(),
                tool: None,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let mut same = tool_json(&u.tool.unwrap());
    let mut before = r.clone();
    same.as_object_mut().unwrap().remove("updated_at");
    before.as_object_mut().unwrap().remove("updated_at");
    assert_eq!(same, before);
    // Update over REST, read over gRPC.
    let r = rest_ok(
        app,
        Method::PATCH,
        "/v1/admin/tools/Weather.Alerts",
        admin,
        Some(json!({"description": "Alerts", "requirement": {"id": "rest-app", "oauth2": {"scopes": ["guilds"]}}})),
    )
    .await;
    let g = c
        .get_tool(req(
            Some(admin),
            pb::GetToolRequest {
                name: "Weather.Alerts".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tool_json(&g.tool.unwrap()), r);

    // Issue a key over gRPC; REST lists it, bound to the tool.
    let k = c
        .issue_tool_key(req(
            Some(admin),
            pb::IssueToolKeyRequest {
                name: "Weather.Forecast".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(k.secret.starts_with("lk_"));
    let k = k.key.unwrap();
    assert_eq!(k.tool_id.as_deref(), Some(forecast.id.as_str()));
    let keys =
        without_last_used(rest_ok(app, Method::GET, "/v1/admin/api_keys", admin, None).await);
    assert!(keys["items"].as_array().unwrap().contains(&key_json(&k)));

    // Delete over gRPC, gone over REST; and the other way round.
    c.delete_tool(req(
        Some(admin),
        pb::DeleteToolRequest {
            name: "Weather.Alerts".into(),
        },
    ))
    .await
    .unwrap();
    let (s, _) = rest(
        app,
        Method::GET,
        "/v1/admin/tools/Weather.Alerts",
        Some(admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = rest(
        app,
        Method::DELETE,
        "/v1/admin/tools/Weather.Forecast",
        Some(admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let e = c
        .get_tool(req(
            Some(admin),
            pb::GetToolRequest {
                name: "Weather.Forecast".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let keys = rest_ok(app, Method::GET, "/v1/admin/api_keys", admin, None).await;
    assert!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["role"] != "tool"),
        "a deleted tool's keys go with it: {keys}"
    );
}

/// Users' connections: grants seeded through the store (only a Discord flow makes them) are
/// listed alike over both transports, and deleted over either (revoked at the simulator).
async fn connections(db: Option<String>) {
    let (sim, app, tenant, admin) = sim_world(db).await;
    let admin = admin.as_str();
    let mut c = client(&app).await;
    let alice = sim_grant(&sim, &app, &tenant, "alice").await;
    let bob = sim_grant(&sim, &app, &tenant, "bob").await;
    for (provider_id, user_id, limit, offset, query) in [
        (None, None, None, None, ""),
        (
            Some("discord-prod"),
            None,
            None,
            None,
            "?provider_id=discord-prod",
        ),
        (
            Some("discord"),
            Some("bob"),
            None,
            None,
            "?provider_id=discord&user_id=bob",
        ),
        (Some("other"), None, None, None, "?provider_id=other"),
        (None, None, Some(1), Some(1), "?limit=1&offset=1"),
    ] {
        let g = c
            .list_user_connections(req(
                Some(admin),
                pb::ListUserConnectionsRequest {
                    provider_id: provider_id.map(Into::into),
                    user_id: user_id.map(Into::into),
                    limit,
                    offset,
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let g = page_json(
            g.items.iter().map(connection_json).collect(),
            g.limit,
            g.offset,
            g.page_count,
            g.total_count,
        );
        let r = rest_ok(
            &app,
            Method::GET,
            &format!("/v1/admin/user_connections{query}"),
            admin,
            None,
        )
        .await;
        assert_eq!(g, r, "{query}");
    }
    let all = rest_ok(&app, Method::GET, "/v1/admin/user_connections", admin, None).await;
    assert_eq!(all["total_count"], 2);
    assert_eq!(
        all["items"][0]["provider_user_info"],
        json!({"id": support::sim::USER, "username": "nelly"})
    );

    // Delete over gRPC, gone over REST; and the other way round.
    c.delete_user_connection(req(
        Some(admin),
        pb::DeleteUserConnectionRequest { id: alice.clone() },
    ))
    .await
    .unwrap();
    let r = rest_ok(
        &app,
        Method::GET,
        "/v1/admin/user_connections?user_id=alice",
        admin,
        None,
    )
    .await;
    assert_eq!(r["total_count"], 0, "{r}");
    let (s, _) = rest(
        &app,
        Method::DELETE,
        &format!("/v1/admin/user_connections/{bob}"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let g = c
        .list_user_connections(req(Some(admin), pb::ListUserConnectionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g.total_count, 0);
    app.stop().await;
}

#[tokio::test]
async fn connections_match_their_rest_twins_on_sqlite() {
    connections(None).await;
}

#[tokio::test]
async fn connections_match_their_rest_twins_on_postgres() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    connections(Some(db.url.clone())).await;
    db.drop_now().await;
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
