//! `/v1/admin/settings/session_verification` through a running server: defaults that fail
//! closed, partial updates, strict URL rules (security.md P7–P16, RB), the operator's switches,
//! and tenant isolation.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, spawn_app_with};

const PATH: &str = "/v1/admin/settings/session_verification";

async fn call(
    app: &TestApp,
    method: Method,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let r = support::request(app, method, PATH, Some(key), body.as_ref()).await;
    (r.status, r.body)
}

async fn admin(app: &TestApp, name: &str) -> String {
    let r = Client::new()
        .post(format!("{}/v1/platform/tenants", app.api))
        .header("authorization", &app.operator_key)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["admin_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn defaults_partial_updates_and_url_rules() {
    let app = spawn_app_with(None, |_| {}).await;
    let a = admin(&app, "Acme").await;
    let b = admin(&app, "Bravo").await;
    let (s, v) = call(&app, Method::GET, &a, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"unsafe_skip_verification": false, "unsafe_skip_verification_choice_allowed": true, "verifier_url": null, "allowed_next_uri_origins": [], "account_switch": "notify"}),
        "nothing configured: verifier_url is null, not omitted"
    );
    let (s, v) = call(
        &app,
        Method::PUT,
        &a,
        Some(json!({"verifier_url": "https://app.example.com/latchkey/verify"})),
    )
    .await;
    assert_eq!(
        (s, v["verifier_url"].as_str()),
        (
            StatusCode::OK,
            Some("https://app.example.com/latchkey/verify")
        )
    );
    let (_, v) = call(&app, Method::PUT, &a, Some(json!({"allowed_next_uri_origins": ["https://app.example.com", "https://app.example.com"]}))).await;
    assert_eq!(
        v["allowed_next_uri_origins"],
        json!(["https://app.example.com"]),
        "deduplicated"
    );
    assert_eq!(
        v["verifier_url"], "https://app.example.com/latchkey/verify",
        "absent fields stay"
    );
    let (_, v) = call(&app, Method::GET, &a, None).await;
    assert_eq!(
        v["allowed_next_uri_origins"],
        json!(["https://app.example.com"]),
        "persisted"
    );

    for bad in [
        json!({"verifier_url": "http://app.example.com/v"}),
        json!({"verifier_url": "https://good.example@evil.example/"}),
        json!({"verifier_url": "//evil.example"}),
        json!({"verifier_url": "HTTPS://APP.EXAMPLE.COM/V"}),
        json!({"verifier_url": "https://app.example.com/cb/../../evil"}),
        json!({"verifier_url": "https://app.example.com/v?next=https://evil.example"}),
        json!({"verifier_url": "https://127.0.0.1/v"}),
        json!({"verifier_url": "javascript:alert(1)"}),
        json!({"verifier_url": "https://ɡood.example/v"}),
        json!({"allowed_next_uri_origins": ["https://app.example.com/path"]}),
        json!({"allowed_next_uri_origins": ["https://*.example.com"]}),
        json!({"allowed_next_uri_origins": (0..21).map(|i| format!("https://a{i}.example.com")).collect::<Vec<_>>()}),
        json!({"verifier_url": 5}),
    ] {
        let (s, err) = call(&app, Method::PUT, &a, Some(bad.clone())).await;
        assert_eq!(
            (s, err["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad}"
        );
        assert!(
            !err["message"].as_str().unwrap().contains("evil"),
            "input not echoed: {err}"
        );
    }
    let (_, v) = call(&app, Method::GET, &a, None).await;
    assert_eq!(
        v["verifier_url"], "https://app.example.com/latchkey/verify",
        "refusals changed nothing"
    );

    // Clearing with null and with "".
    let (_, v) = call(&app, Method::PUT, &a, Some(json!({"verifier_url": null}))).await;
    assert_eq!(v["verifier_url"], Value::Null);
    call(
        &app,
        Method::PUT,
        &a,
        Some(json!({"verifier_url": "https://app.example.com/v"})),
    )
    .await;
    let (_, v) = call(&app, Method::PUT, &a, Some(json!({"verifier_url": ""}))).await;
    assert_eq!(v["verifier_url"], Value::Null);

    // Skip mode, allowed by default; loopback http refused by default.
    let (s, v) = call(
        &app,
        Method::PUT,
        &a,
        Some(json!({"unsafe_skip_verification": true})),
    )
    .await;
    assert_eq!(
        (s, v["unsafe_skip_verification"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (s, _) = call(
        &app,
        Method::PUT,
        &a,
        Some(json!({"verifier_url": "http://127.0.0.1:9000/verify"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Tenant B is untouched by all of it; the app key may not read settings.
    let (_, v) = call(&app, Method::GET, &b, None).await;
    assert_eq!(
        (
            v["verifier_url"].clone(),
            v["unsafe_skip_verification"].as_bool()
        ),
        (Value::Null, Some(false))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_operator_can_forbid_skipping_and_allow_loopback_urls() {
    let app = spawn_app_with(None, |s| {
        s.auth.allow_unsafe_skip_verification = Some(false);
        s.auth.allow_insecure_loopback_urls = true;
    })
    .await;
    let a = admin(&app, "Acme").await;
    let (_, v) = call(&app, Method::GET, &a, None).await;
    assert_eq!(v["unsafe_skip_verification_choice_allowed"], false);
    let (s, err) = call(
        &app,
        Method::PUT,
        &a,
        Some(json!({"unsafe_skip_verification": true})),
    )
    .await;
    assert_eq!(
        (s, err["name"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, v) = call(&app, Method::PUT, &a, Some(json!({"verifier_url": "http://127.0.0.1:9000/verify", "allowed_next_uri_origins": ["http://localhost:3000"]}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = call(
        &app,
        Method::PUT,
        &a,
        Some(json!({"verifier_url": "http://10.1.2.3/verify"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "private ranges are not loopback"
    );
    app.stop().await;
}
