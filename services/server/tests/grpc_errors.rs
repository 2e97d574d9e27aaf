//! The same bad inputs through the gRPC control plane and its REST twin on one server: the
//! same error name and message (the same `ApiError`), the gRPC code from the one mapping, and
//! a request id on every failed call — for no key, a bad key, wrong-role keys, unknown ids, and
//! invalid fields (names, roles, paging, provider scopes, duplicates, URLs, filters).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use latchkey_api::grpc::v1 as pb;
use reqwest::Method;
use serde_json::json;
use support::TestApp;
use support::grpc::*;
use tonic::Code;

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
