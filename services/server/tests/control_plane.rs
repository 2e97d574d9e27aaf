//! The control plane through a running server: platform tenants (operator key) and a tenant's
//! API keys (admin key) — roles, isolation, revocation, paging and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, spawn_app};

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = support::request(app, method, path, key, body.as_ref()).await;
    (r.status, r.body)
}

/// Polls with `key` until it gets 401: revocation must reach every request within the
/// authentication cache bound (5 s); the poll gives up after 10 s.
async fn stops_working_within_the_cache_bound(app: &TestApp, key: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, _) = call(app, Method::GET, "/v1/admin/api_keys", Some(key), None).await;
        if s == StatusCode::UNAUTHORIZED {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} must stop working within the cache bound"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn new_tenant(app: &TestApp, name: &str) -> Value {
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/platform/tenants",
        Some(&app.operator_key),
        Some(json!({"name": name})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

#[tokio::test]
async fn operator_manages_tenants_and_nobody_else_can() {
    let app = spawn_app(None).await;
    assert!(app.operator_key.starts_with("lk_"));
    let a = new_tenant(&app, "Acme").await;
    let (admin, app_key, id) = (
        a["admin_key"].as_str().unwrap(),
        a["app_key"].as_str().unwrap(),
        a["id"].as_str().unwrap(),
    );
    assert!(id.starts_with("tnt_") && a["created_at"].as_str().unwrap().ends_with('Z'));

    let (s, got) = call(
        &app,
        Method::GET,
        &format!("/v1/platform/tenants/{id}"),
        Some(&format!("Bearer {}", app.operator_key)),
        None,
    )
    .await;
    assert_eq!((s, got["name"].as_str()), (StatusCode::OK, Some("Acme")));
    assert!(
        got.get("admin_key").is_none(),
        "keys are shown at creation only"
    );
    let (s, page) = call(
        &app,
        Method::GET,
        "/v1/platform/tenants",
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(
        (s, page["total_count"].as_u64(), page["limit"].as_u64()),
        (StatusCode::OK, Some(1), Some(100))
    );

    // Wrong roles: 403; no or bad key: 401.
    for key in [admin, app_key] {
        let (s, body) = call(&app, Method::GET, "/v1/platform/tenants", Some(key), None).await;
        assert_eq!(
            (s, body["name"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden"))
        );
    }
    let (s, _) = call(
        &app,
        Method::GET,
        "/v1/admin/api_keys",
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the operator key cannot act inside a tenant"
    );
    let (s, body) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        None,
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );

    // Ids that are not a tenant's answer 404, whatever their spelling.
    for bad in [
        "123",
        &id.to_uppercase(),
        &format!("tnt_{}", "0".repeat(32)),
        "key_0190a1b2c3d4e5f60718293a4b5c6d7e",
        "%27%20OR%201%3D1%20--",
    ] {
        let (s, body) = call(
            &app,
            Method::GET,
            &format!("/v1/platform/tenants/{bad}"),
            Some(&app.operator_key),
            None,
        )
        .await;
        assert_eq!(
            (s, body["name"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{bad}"
        );
    }

    // Delete: 204, then gone, and its keys stop working.
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{id}"),
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/v1/platform/tenants/{id}"),
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a deleted tenant is not found (no 410 oracle)"
    );
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/platform/tenants/{id}"),
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    stops_working_within_the_cache_bound(&app, admin, "a deleted tenant's key").await;
    app.stop().await;
}

#[tokio::test]
async fn admins_manage_their_own_keys_only() {
    let app = spawn_app(None).await;
    let a = new_tenant(&app, "Acme").await;
    let b = new_tenant(&app, "Bravo").await;
    let (a_admin, b_admin) = (
        a["admin_key"].as_str().unwrap(),
        b["admin_key"].as_str().unwrap(),
    );

    let (s, page) = call(&app, Method::GET, "/v1/admin/api_keys", Some(a_admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let roles: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        (
            roles.len(),
            roles.contains(&"admin"),
            roles.contains(&"app")
        ),
        (2, true, true)
    );
    assert!(
        !page.to_string().contains(a_admin),
        "lists never carry a secret"
    );

    // Create: the secret is shown once and works.
    let (s, created) = call(
        &app,
        Method::POST,
        "/v1/admin/api_keys",
        Some(a_admin),
        Some(json!({"name": "ci", "role": "admin"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let new_admin = created["secret"].as_str().unwrap();
    assert!(new_admin.starts_with(&format!("lk_{}_", created["id"].as_str().unwrap())));
    let (s, page) = call(
        &app,
        Method::GET,
        "/v1/admin/api_keys?limit=2&offset=1",
        Some(new_admin),
        None,
    )
    .await;
    assert_eq!(
        (
            s,
            page["page_count"].as_u64(),
            page["total_count"].as_u64(),
            page["offset"].as_u64()
        ),
        (StatusCode::OK, Some(2), Some(3), Some(1))
    );

    // Tenant B cannot see or revoke A's keys: 404, exactly like a key that does not exist.
    let a_key_id = created["id"].as_str().unwrap();
    let (s, body) = call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/api_keys/{a_key_id}"),
        Some(b_admin),
        None,
    )
    .await;
    assert_eq!(
        (s, body["name"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _) = call(
        &app,
        Method::DELETE,
        "/v1/admin/api_keys/key_0190a1b2c3d4e5f60718293a4b5c6d7e",
        Some(b_admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, b_page) = call(&app, Method::GET, "/v1/admin/api_keys", Some(b_admin), None).await;
    assert!(!b_page.to_string().contains(a_key_id));
    let (s, _) = call(
        &app,
        Method::GET,
        "/v1/admin/api_keys",
        Some(new_admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "A's key still works");

    // Revoke: 204, then 404 again, and the key stops working within the cache bound.
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/api_keys/{a_key_id}"),
        Some(a_admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/api_keys/{a_key_id}"),
        Some(a_admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    stops_working_within_the_cache_bound(&app, new_admin, "a revoked key").await;
    let (_, page) = call(&app, Method::GET, "/v1/admin/api_keys", Some(a_admin), None).await;
    let revoked = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == a_key_id)
        .unwrap();
    assert!(revoked["revoked_at"].as_str().unwrap().ends_with('Z'));
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_named_error_and_writes_nothing() {
    let app = spawn_app(None).await;
    let a = new_tenant(&app, "Acme").await;
    let admin = a["admin_key"].as_str().unwrap();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "", "role": "app"}), "invalid_request"),
        (json!({"name": "x\u{0}y", "role": "app"}), "invalid_request"),
        (
            json!({"name": "x".repeat(201), "role": "app"}),
            "invalid_request",
        ),
        (json!({"name": "tool", "role": "tool"}), "invalid_request"),
        (json!({"name": "op", "role": "operator"}), "invalid_request"),
        (
            json!({"name": "nobody", "role": "ADMIN"}),
            "invalid_request",
        ),
        (json!({"name": 5, "role": "app"}), "invalid_request"),
        (json!({"role": "app"}), "invalid_request"),
        (json!(["not", "an", "object"]), "invalid_request"),
    ];
    for (body, name) in cases {
        let (s, err) = call(
            &app,
            Method::POST,
            "/v1/admin/api_keys",
            Some(admin),
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, err["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some(name)),
            "{body}"
        );
        assert!(err["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    }
    let client = Client::new();
    let url = format!("{}/v1/admin/api_keys", app.api);
    let r = client
        .post(&url)
        .header("authorization", admin)
        .header("content-type", "application/json")
        .body("{\"name\": \"x\",")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = client
        .post(&url)
        .header("authorization", admin)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["name"],
        "unsupported_media_type"
    );
    let big = json!({"name": "x".repeat(70 * 1024), "role": "app"});
    let r = client
        .post(&url)
        .header("authorization", admin)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.json::<Value>().await.unwrap()["name"],
        "payload_too_large"
    );
    for q in ["limit=-1", "limit=abc", "offset=1&offset=2", "limit=0"] {
        let (s, _) = call(
            &app,
            Method::GET,
            &format!("/v1/admin/api_keys?{q}"),
            Some(admin),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}");
    }
    let (s, _) = call(
        &app,
        Method::POST,
        "/v1/platform/tenants",
        Some(&app.operator_key),
        Some(json!({"name": " padded "})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Nothing was written by any of it.
    let (_, page) = call(&app, Method::GET, "/v1/admin/api_keys", Some(admin), None).await;
    assert_eq!(page["total_count"], 2);
    let (_, tenants) = call(
        &app,
        Method::GET,
        "/v1/platform/tenants",
        Some(&app.operator_key),
        None,
    )
    .await;
    assert_eq!(tenants["total_count"], 1);
    app.stop().await;
}
