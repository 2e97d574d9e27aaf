//! The same bad inputs through the gRPC control plane and its REST twin on one server: the
//! same error name and message (the same `ApiError`), the gRPC code from the one mapping, and
//! a request id on every failed call — for no key, a bad key, wrong-role keys, unknown ids, and
//! invalid fields (names, roles, paging, provider scopes, duplicates, URLs, filters), for tools
//! and users' connections too (Discord down included, against the simulator).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_api::grpc::v1 as pb;
use reqwest::Method;
use serde_json::json;
use support::TestApp;
use support::grpc::*;
use tonic::Code;

/// `provider_id`, `user_id`, `limit`, and the REST query with the same values.
type ConnectionFilterCase = (Option<String>, Option<String>, Option<u32>, String);

async fn setup_and_check(app: &TestApp) {
    let op = app.operator_key.as_str();
    let t = rest_ok(
        app,
        Method::POST,
        "/v1/platform/tenants",
        op,
        Some(json!({"name": "Acme"})),
    )
    .await;
    let admin = t["admin_key"].as_str().unwrap();
    rest_ok(
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
    let mut c = client(app).await;
    errors(app, &mut c, op, admin).await;
    let app_key = t["app_key"].as_str().unwrap();
    tool_and_connection_errors(app, &mut c, op, admin, app_key).await;
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
async fn every_rpc_fails_like_its_rest_twin_on_sqlite() {
    let app = app(None).await;
    setup_and_check(&app).await;
    app.stop().await;
}

#[tokio::test]
async fn every_rpc_fails_like_its_rest_twin_on_postgres() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    let app = app(Some(db.url.clone())).await;
    setup_and_check(&app).await;
    app.stop().await;
    db.drop_now().await;
}

/// Tools and users' connections: the same bad inputs through both transports.
async fn tool_and_connection_errors(
    app: &TestApp,
    c: &mut Client,
    op: &str,
    admin: &str,
    app_key: &str,
) {
    rest_ok(
        app,
        Method::POST,
        "/v1/admin/tools",
        admin,
        Some(tool_body(
            "Weather.Forecast",
            "1.0.0",
            "Forecasts",
            None,
            &["guilds"],
        )),
    )
    .await;
    let other_provider = {
        let mut i = tool_input("1.0.0", "d", None, &["guilds"]);
        i.requirement.as_mut().unwrap().provider_id = Some("github".into());
        i
    };
    let mut other_body = tool_body("Weather.Other", "1.0.0", "d", None, &["guilds"]);
    other_body["requirement"]["provider_id"] = json!("github");
    let no_name_body =
        json!({"version": "1.0.0", "requirement": {"oauth2": {"scopes": ["guilds"]}}});
    let cases: Vec<(&str, Option<&str>, pb::ToolInput, serde_json::Value, Code)> = vec![
        (
            "bad tool name",
            Some("not a tool"),
            tool_input("1.0.0", "d", None, &["guilds"]),
            tool_body("not a tool", "1.0.0", "d", None, &["guilds"]),
            Code::InvalidArgument,
        ),
        (
            "no tool name",
            None,
            tool_input("1.0.0", "d", None, &["guilds"]),
            no_name_body,
            Code::InvalidArgument,
        ),
        (
            "bad version",
            Some("Weather.Version"),
            tool_input("one", "d", None, &["guilds"]),
            tool_body("Weather.Version", "one", "d", None, &["guilds"]),
            Code::InvalidArgument,
        ),
        (
            "unknown provider in the requirement",
            Some("Weather.Ghost"),
            tool_input("1.0.0", "d", Some("ghost"), &["guilds"]),
            tool_body("Weather.Ghost", "1.0.0", "d", Some("ghost"), &["guilds"]),
            Code::InvalidArgument,
        ),
        (
            "other provider",
            Some("Weather.Other"),
            other_provider,
            other_body,
            Code::InvalidArgument,
        ),
        (
            "reserved scope",
            Some("Weather.Rpc"),
            tool_input("1.0.0", "d", None, &["rpc"]),
            tool_body("Weather.Rpc", "1.0.0", "d", None, &["rpc"]),
            Code::PermissionDenied,
        ),
        (
            "scope outside the pinned provider",
            Some("Weather.Email"),
            tool_input("1.0.0", "d", Some("rest-app"), &["email"]),
            tool_body("Weather.Email", "1.0.0", "d", Some("rest-app"), &["email"]),
            Code::InvalidArgument,
        ),
        (
            "name taken",
            Some("Weather.Forecast"),
            tool_input("1.0.0", "d", None, &["guilds"]),
            tool_body("Weather.Forecast", "1.0.0", "d", None, &["guilds"]),
            Code::FailedPrecondition,
        ),
    ];
    for (what, name, input, body, code) in cases {
        same_error(
            what,
            c.register_tool(req(
                Some(admin),
                pb::RegisterToolRequest {
                    name: name.map(Into::into),
                    tool: Some(input),
                },
            ))
            .await,
            rest(
                app,
                Method::POST,
                "/v1/admin/tools",
                Some(admin),
                Some(body),
            )
            .await,
            code,
        );
    }
    same_error(
        "update with a reserved scope",
        c.update_tool(req(
            Some(admin),
            pb::UpdateToolRequest {
                name: "Weather.Forecast".into(),
                tool: Some(pb::ToolInput {
                    requirement: tool_input("1.0.0", "d", None, &["rpc"]).requirement,
                    ..Default::default()
                }),
            },
        ))
        .await,
        rest(
            app,
            Method::PATCH,
            "/v1/admin/tools/Weather.Forecast",
            Some(admin),
            Some(json!({"requirement": {"oauth2": {"scopes": ["rpc"]}}})),
        )
        .await,
        Code::PermissionDenied,
    );
    // Unknown tools, and names that cannot be tools, are not found on every operation.
    for name in ["Nope.Tool", "bad!name"] {
        let path = format!("/v1/admin/tools/{name}");
        same_error(
            &format!("get {name}"),
            c.get_tool(req(Some(admin), pb::GetToolRequest { name: name.into() }))
                .await,
            rest(app, Method::GET, &path, Some(admin), None).await,
            Code::NotFound,
        );
        same_error(
            &format!("update {name}"),
            c.update_tool(req(
                Some(admin),
                pb::UpdateToolRequest {
                    name: name.into(),
                    tool: Some(pb::ToolInput {
                        version: Some("2.0.0".into()),
                        ..Default::default()
                    }),
                },
            ))
            .await,
            rest(
                app,
                Method::PATCH,
                &path,
                Some(admin),
                Some(json!({"version": "2.0.0"})),
            )
            .await,
            Code::NotFound,
        );
        same_error(
            &format!("delete {name}"),
            c.delete_tool(req(
                Some(admin),
                pb::DeleteToolRequest { name: name.into() },
            ))
            .await,
            rest(app, Method::DELETE, &path, Some(admin), None).await,
            Code::NotFound,
        );
        same_error(
            &format!("issue a key for {name}"),
            c.issue_tool_key(req(
                Some(admin),
                pb::IssueToolKeyRequest { name: name.into() },
            ))
            .await,
            rest(
                app,
                Method::POST,
                &format!("{path}/keys"),
                Some(admin),
                None,
            )
            .await,
            Code::NotFound,
        );
    }
    same_error(
        "tools limit 0",
        c.list_tools(req(
            Some(admin),
            pb::ListToolsRequest {
                limit: Some(0),
                offset: None,
            },
        ))
        .await,
        rest(
            app,
            Method::GET,
            "/v1/admin/tools?limit=0",
            Some(admin),
            None,
        )
        .await,
        Code::InvalidArgument,
    );
    // Wrong-role keys.
    same_error(
        "app key on tools",
        c.list_tools(req(Some(app_key), pb::ListToolsRequest::default()))
            .await,
        rest(app, Method::GET, "/v1/admin/tools", Some(app_key), None).await,
        Code::PermissionDenied,
    );
    same_error(
        "operator key registering a tool",
        c.register_tool(req(
            Some(op),
            pb::RegisterToolRequest {
                name: Some("Weather.Op".into()),
                tool: Some(tool_input("1.0.0", "d", None, &["guilds"])),
            },
        ))
        .await,
        rest(
            app,
            Method::POST,
            "/v1/admin/tools",
            Some(op),
            Some(tool_body("Weather.Op", "1.0.0", "d", None, &["guilds"])),
        )
        .await,
        Code::PermissionDenied,
    );
    same_error(
        "app key on connections",
        c.list_user_connections(req(
            Some(app_key),
            pb::ListUserConnectionsRequest::default(),
        ))
        .await,
        rest(
            app,
            Method::GET,
            "/v1/admin/user_connections",
            Some(app_key),
            None,
        )
        .await,
        Code::PermissionDenied,
    );
    same_error(
        "no key deleting a connection",
        c.delete_user_connection(req(
            None,
            pb::DeleteUserConnectionRequest {
                id: "grt_nope".into(),
            },
        ))
        .await,
        rest(
            app,
            Method::DELETE,
            "/v1/admin/user_connections/grt_nope",
            None,
            None,
        )
        .await,
        Code::Unauthenticated,
    );
    // Connections: bad filters, paging, unknown ids.
    let long = "p".repeat(101);
    let cases: Vec<ConnectionFilterCase> = vec![
        (Some(String::new()), None, None, "?provider_id=".into()),
        (
            Some(long.clone()),
            None,
            None,
            format!("?provider_id={long}"),
        ),
        (
            None,
            Some("alice ".into()),
            None,
            "?user_id=alice%20".into(),
        ),
        (None, Some(String::new()), None, "?user_id=".into()),
        (None, None, Some(0), "?limit=0".into()),
    ];
    for (provider_id, user_id, limit, query) in cases {
        same_error(
            &format!("connections {query}"),
            c.list_user_connections(req(
                Some(admin),
                pb::ListUserConnectionsRequest {
                    provider_id,
                    user_id,
                    limit,
                    offset: None,
                },
            ))
            .await,
            rest(
                app,
                Method::GET,
                &format!("/v1/admin/user_connections{query}"),
                Some(admin),
                None,
            )
            .await,
            Code::InvalidArgument,
        );
    }
    same_error(
        "unknown connection",
        c.delete_user_connection(req(
            Some(admin),
            pb::DeleteUserConnectionRequest {
                id: "grt_nope".into(),
            },
        ))
        .await,
        rest(
            app,
            Method::DELETE,
            "/v1/admin/user_connections/grt_nope",
            Some(admin),
            None,
        )
        .await,
        Code::NotFound,
    );
    same_error(
        "acknowledging an unknown connection",
        c.acknowledge_user_connection(req(
            Some(admin),
            pb::AcknowledgeUserConnectionRequest {
                id: "grt_nope".into(),
            },
        ))
        .await,
        rest(
            app,
            Method::POST,
            "/v1/admin/user_connections/grt_nope/acknowledge",
            Some(admin),
            None,
        )
        .await,
        Code::NotFound,
    );
}

/// Discord down: deleting a connection fails alike on both transports (`upstream_unavailable`,
/// `UNAVAILABLE`) and nothing is deleted.
async fn connection_upstream_down(db: Option<String>) {
    let (sim, app, tenant, admin) = sim_world(db).await;
    let admin = admin.as_str();
    let mut c = client(&app).await;
    let alice = sim_grant(&sim, &app, &tenant, "alice").await;
    let bob = sim_grant(&sim, &app, &tenant, "bob").await;
    // Acknowledging an active connection (no switch awaits) is refused alike.
    same_error(
        "acknowledging an active connection",
        c.acknowledge_user_connection(req(
            Some(admin),
            pb::AcknowledgeUserConnectionRequest { id: alice.clone() },
        ))
        .await,
        rest(
            &app,
            Method::POST,
            &format!("/v1/admin/user_connections/{alice}/acknowledge"),
            Some(admin),
            None,
        )
        .await,
        Code::InvalidArgument,
    );
    sim_fail_revocations(&sim).await;
    // Both transports delete at once and owe the revocation alike.
    c.delete_user_connection(req(
        Some(admin),
        pb::DeleteUserConnectionRequest { id: alice },
    ))
    .await
    .unwrap();
    let r = rest(
        &app,
        Method::DELETE,
        &format!("/v1/admin/user_connections/{bob}"),
        Some(admin),
        None,
    )
    .await;
    assert_eq!(r.0, reqwest::StatusCode::NO_CONTENT);
    let r = rest_ok(&app, Method::GET, "/v1/admin/user_connections", admin, None).await;
    assert_eq!(r["total_count"], 0, "deleted at once: {r}");
    let owed = app
        .store
        .list_revocations(latchkey_core::TenantId::parse(&tenant).unwrap())
        .await
        .unwrap();
    assert_eq!(owed.len(), 2, "both revocations owed");
    assert!(
        owed.iter()
            .all(|o| o.attempts == 1 && o.last_error.is_some())
    );
    app.stop().await;
}

#[tokio::test]
async fn connection_delete_with_discord_down_owes_the_revocation_alike_on_sqlite() {
    connection_upstream_down(None).await;
}

#[tokio::test]
async fn connection_delete_with_discord_down_owes_the_revocation_alike_on_postgres() {
    let Some(db) = support::PgDb::create().await else {
        return;
    };
    connection_upstream_down(Some(db.url.clone())).await;
    db.drop_now().await;
}
