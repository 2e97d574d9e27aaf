//! Two replicas on one PostgreSQL database: each serves providers, tools and keys from its own
//! caches, and a write on one replica reaches the other's caches through LISTEN/NOTIFY — well
//! before any cache would expire (provider and tool caches live 30 s, the key cache 5 s).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use latchkey_core::crypto::KeyMaterial;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{PgDb, TestApp, call, spawn_app_with};

/// Polls `check` until it holds; fails after `within`.
async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn replica(url: &str, keys: &(String, String)) -> TestApp {
    let (master, pepper) = keys.clone();
    spawn_app_with(Some(url.to_owned()), move |s| {
        s.encryption.master_keys = vec![master.into()];
        s.auth.peppers = vec![pepper.into()];
    })
    .await
}

#[tokio::test]
async fn a_write_on_one_replica_reaches_the_others_caches() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let keys = (
        KeyMaterial::generate().to_base64().to_string(),
        KeyMaterial::generate().to_base64().to_string(),
    );
    let a = replica(&db.url, &keys).await;
    let b = replica(&db.url, &keys).await;
    let (s, t) = call(
        &a,
        Method::POST,
        "/v1/platform/tenants",
        &a.operator_key,
        Some(json!({"name": "Acme"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let admin = t["admin_key"].as_str().unwrap().to_owned();
    let (s, _) = call(&a, Method::POST, "/v1/admin/auth_providers", &admin,
        Some(json!({"id": "discord-prod", "provider_id": "discord",
                    "oauth2": {"client_id": "1100000000000000001", "client_secret": "secret-secret-secret"}}))).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&a, Method::POST, "/v1/admin/tools", &admin,
        Some(json!({"name": "Discord.Whoami", "version": "1.0.0", "requirement": {"oauth2": {"scopes": ["guilds"]}}}))).await;
    assert_eq!(s, StatusCode::CREATED);

    // B reads (and caches) the provider and the tool, and authenticates the key.
    let (s, p) = call(
        &b,
        Method::GET,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        None,
    )
    .await;
    assert_eq!((s, p["description"].as_str()), (StatusCode::OK, None));
    let (s, _) = call(
        &b,
        Method::GET,
        "/v1/admin/tools/Discord.Whoami",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // A changes the provider: B serves the change within a second, not after its 30 s TTL.
    let (s, _) = call(
        &a,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &admin,
        Some(json!({"description": "renamed"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    eventually(Duration::from_secs(2), "provider change on B", || async {
        call(
            &b,
            Method::GET,
            "/v1/admin/auth_providers/discord-prod",
            &admin,
            None,
        )
        .await
        .1["description"]
            == "renamed"
    })
    .await;

    // A deletes the tool: B stops serving it.
    let (s, _) = call(
        &a,
        Method::DELETE,
        "/v1/admin/tools/Discord.Whoami",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(2), "tool deletion on B", || async {
        call(
            &b,
            Method::GET,
            "/v1/admin/tools/Discord.Whoami",
            &admin,
            None,
        )
        .await
        .0 == StatusCode::NOT_FOUND
    })
    .await;

    // A revokes the admin key (with a second admin key): B refuses it well within its 5 s bound.
    let (_, second) = call(
        &a,
        Method::POST,
        "/v1/admin/api_keys",
        &admin,
        Some(json!({"name": "second", "role": "admin"})),
    )
    .await;
    let second = second["secret"].as_str().unwrap().to_owned();
    let (_, keys) = call(&b, Method::GET, "/v1/admin/api_keys", &admin, None).await;
    let first_id = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, _) = call(
        &a,
        Method::DELETE,
        &format!("/v1/admin/api_keys/{first_id}"),
        &second,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    eventually(Duration::from_secs(2), "key revocation on B", || async {
        call(&b, Method::GET, "/v1/admin/api_keys", &admin, None)
            .await
            .0
            == StatusCode::UNAUTHORIZED
    })
    .await;

    a.stop().await;
    b.stop().await;
    db.drop_now().await;
}
