//! `/v1/admin/audit_events` through a running server: every control-plane write leaves an
//! event naming the acting key and the request, events carry no secret, filters work.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, spawn_app};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value, String) {
    let r = support::request(app, method, path, Some(key), body.as_ref()).await;
    (r.status, r.body, r.request_id)
}

#[tokio::test]
async fn every_write_is_audited_without_secrets() {
    let app = spawn_app(None).await;
    let (_, t, _) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    let admin = t["admin_key"].as_str().unwrap().to_owned();
    let admin_id = admin
        .split('_')
        .take(3)
        .collect::<Vec<_>>()
        .join("_")
        .replacen("lk_", "", 1);
    let secret = "the-client-secret-value-1234";
    let (s, _, provider_req) = call(&app, Method::POST, "/v1/admin/auth_providers", &admin, Some(json!({"id": "p1", "provider_id": "discord", "oauth2": {"client_id": "1100000000000000001", "client_secret": secret}}))).await;
    assert_eq!(s, StatusCode::OK);
    call(
        &app,
        Method::PATCH,
        "/v1/admin/auth_providers/p1",
        &admin,
        Some(json!({"description": "d"})),
    )
    .await;
    let (_, key, _) = call(
        &app,
        Method::POST,
        "/v1/admin/api_keys",
        &admin,
        Some(json!({"name": "ci", "role": "app"})),
    )
    .await;
    call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/api_keys/{}", key["id"].as_str().unwrap()),
        &admin,
        None,
    )
    .await;
    call(
        &app,
        Method::PUT,
        "/v1/admin/settings/session_verification",
        &admin,
        Some(json!({"verifier_url": "https://app.example.com/v"})),
    )
    .await;
    call(
        &app,
        Method::DELETE,
        "/v1/admin/auth_providers/p1",
        &admin,
        None,
    )
    .await;
    // A refused write leaves nothing.
    let (s, _, _) = call(
        &app,
        Method::POST,
        "/v1/admin/api_keys",
        &admin,
        Some(json!({"name": "", "role": "app"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, page, _) = call(&app, Method::GET, "/v1/admin/audit_events", &admin, None).await;
    assert_eq!(s, StatusCode::OK);
    let raw = page.to_string();
    for leaked in [secret, key["secret"].as_str().unwrap(), admin.as_str()] {
        assert!(!raw.contains(leaked), "an audit event carries a secret");
    }
    let items = page["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec![
            "tenant.create",
            "provider.create",
            "provider.update",
            "api_key.create",
            "api_key.revoke",
            "settings.session_verification.update",
            "provider.delete"
        ]
    );
    assert!(
        items[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("operator:key_"),
        "{}",
        items[0]
    );
    assert!(
        items[1..].iter().all(|e| e["actor"] == admin_id),
        "the acting admin key: {admin_id}"
    );
    assert_eq!(
        items[1]["request_id"], provider_req,
        "correlates with x-request-id"
    );

    let (_, only, _) = call(
        &app,
        Method::GET,
        "/v1/admin/audit_events?action=api_key.revoke",
        &admin,
        None,
    )
    .await;
    assert_eq!(only["total_count"], 1);
    let since = items[3]["at"].as_str().unwrap();
    let (s, later, _) = call(
        &app,
        Method::GET,
        &format!("/v1/admin/audit_events?since={since}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(later["total_count"].as_u64().unwrap() >= 4);
    for bad in [
        "since=yesterday",
        "until=2025-05-01T12:00:00%2B02:00",
        "action=a&action=b",
    ] {
        let (s, err, _) = call(
            &app,
            Method::GET,
            &format!("/v1/admin/audit_events?{bad}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(
            (s, err["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_platform_log_records_tenant_creation_and_deletion_and_outlives_the_tenant() {
    let app = spawn_app(None).await;
    let op = app.operator_key.clone();
    let op_id = format!(
        "operator:{}",
        op.split('_')
            .take(3)
            .collect::<Vec<_>>()
            .join("_")
            .replacen("lk_", "", 1)
    );
    let (s, t, created_in) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &op,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = t["id"].as_str().unwrap().to_owned();
    let admin = t["admin_key"].as_str().unwrap().to_owned();
    let (_, own, _) = call(
        &app,
        Method::GET,
        "/v1/admin/audit_events?action=tenant.create",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        own["total_count"], 1,
        "the tenant's own log has its creation too"
    );
    let (s, _, deleted_in) = call(
        &app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{id}"),
        &op,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let (s, log, _) = call(&app, Method::GET, "/v1/platform/audit_events", &op, None).await;
    assert_eq!(s, StatusCode::OK);
    let events: Vec<(String, String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap().to_owned(),
                e["request_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            (
                "tenant.create".to_owned(),
                op_id.clone(),
                id.clone(),
                created_in
            ),
            ("tenant.delete".to_owned(), op_id, id.clone(), deleted_in),
        ]
    );
    assert!(!log.to_string().contains(&admin), "no key in the log");
    let (_, only, _) = call(
        &app,
        Method::GET,
        "/v1/platform/audit_events?action=tenant.delete",
        &op,
        None,
    )
    .await;
    assert_eq!(only["total_count"], 1);
    // Only the operator reads it.
    let (_, t2, _) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        &op,
        Some(json!({"name": "Other"})),
    )
    .await;
    let (s, _, _) = call(
        &app,
        Method::GET,
        "/v1/platform/audit_events",
        t2["admin_key"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.stop().await;
}
