//! "Test this app" (issue 8, item 2): `POST /v1/admin/auth_providers/{id}/test` asks Discord (the
//! simulator) whether a provider's client id and secret are right, with a client-credentials
//! grant whose token is revoked at once, and says what to fix.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::call;
use support::flow::{Options, World};

async fn test(w: &World, id: &str) -> (StatusCode, serde_json::Value) {
    let path = format!("/v1/admin/auth_providers/{id}/test");
    call(&w.app, Method::POST, &path, &w.admin, None).await
}

#[tokio::test]
async fn provider_credentials_are_checked_at_discord() {
    let w = World::start(Options::default()).await;

    // The right credentials: Discord issues a token, which is revoked straight away.
    let (s, r) = test(&w, "discord-prod").await;
    assert_eq!((s, r["ok"].as_bool()), (StatusCode::OK, Some(true)), "{r}");
    let calls = w.sim_requests("/api/oauth2/token").await;
    let paths: Vec<&str> = calls.iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        ["/api/oauth2/token", "/api/oauth2/token/revoke"],
        "{calls:?}"
    );
    assert_eq!(calls[0]["form"]["grant_type"], "client_credentials");
    assert_eq!(
        calls[1]["form"]["token"], calls[0]["response"]["access_token"],
        "the same token"
    );
    assert!(!r.to_string().contains(support::flow::SECRET));

    // A wrong secret: told what to fix, not an error.
    let (s, _) = call(
        &w.app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &w.admin,
        Some(json!({"oauth2": {"client_secret": "not-the-right-secret"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = test(&w, "discord-prod").await;
    assert_eq!((s, r["ok"].as_bool()), (StatusCode::OK, Some(false)), "{r}");
    assert!(
        r["message"].as_str().unwrap().contains("developer portal"),
        "{r}"
    );

    // Discord down: 502, so the dashboard says to try again.
    w.sim_fault(
        json!({"match": {"method": "POST", "path": "/api/oauth2/token"}, "trigger": {"count": null},
                      "action": {"kind": "status", "status": 503}}),
    )
    .await;
    let (s, r) = test(&w, "discord-prod").await;
    assert_eq!(
        (s, r["name"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("upstream_unavailable")),
        "{r}"
    );

    // Unknown providers are not found.
    let (s, r) = test(&w, "nope").await;
    assert_eq!(
        (s, r["name"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    w.app.stop().await;
}
