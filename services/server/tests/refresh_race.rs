//! Issue 6, item 4: two `latchkey serve` processes on one PostgreSQL database, 64 concurrent
//! token requests for a grant whose access token has expired, split across both, against a slow
//! Discord (the simulator holds every token call 300 ms) → Discord sees exactly one refresh,
//! every request gets the same new token, and the grant is still `active`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;

use latchkey_core::crypto::KeyMaterial;
use latchkey_discord_sim::{SimConfig, Simulator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::flow::{Browser, D_ALICE, TenantApp, load_fixtures};
use support::{PgDb, Sandbox, free_port};

async fn post(url: &str, key: &str, body: Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .header("authorization", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

async fn refreshes(sim: &str) -> usize {
    let v: Value = reqwest::get(format!("{sim}/__sim/requests?path=/api/oauth2/token"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| e["form"]["grant_type"] == "refresh_token")
        .count()
}

async fn sim_patch(sim: &str, path: &str, body: Value) {
    let c = reqwest::Client::new();
    let r = if path == "/__sim/settings" {
        c.patch(format!("{sim}{path}"))
    } else {
        c.post(format!("{sim}{path}"))
    }
    .json(&body)
    .send()
    .await
    .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn two_processes_refresh_an_expired_grant_exactly_once() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let origin = sim.base_url();
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let sandbox = |dir_env: &[(&str, String)]| {
        let mut sb = Sandbox::new()
            .with("LATCHKEY__DATABASE__URL", &db.url)
            .with("LATCHKEY__DATABASE__AUTO_MIGRATE", "true")
            .with("LATCHKEY__SERVER__PUBLIC_URL", &public)
            .with(
                "LATCHKEY__DISCORD__ALLOWED_ENDPOINT_ORIGINS",
                &format!("[\"{origin}\"]"),
            )
            .with("LATCHKEY__AUTH__ALLOW_INSECURE_LOOPBACK_URLS", "true");
        for (k, v) in dir_env {
            sb = sb.with(k, v);
        }
        sb
    };
    let keys = [
        (
            "LATCHKEY__ENCRYPTION__MASTER_KEYS",
            KeyMaterial::generate().to_base64().to_string(),
        ),
        (
            "LATCHKEY__AUTH__PEPPERS",
            KeyMaterial::generate().to_base64().to_string(),
        ),
    ];
    let a_env = Arc::new(sandbox(&keys));
    let b_env = Arc::new(sandbox(&keys));
    let (a, b, created) = {
        let (a_env, b_env) = (a_env.clone(), b_env.clone());
        tokio::task::spawn_blocking(move || {
            let a = a_env.serve_at(port);
            let b = b_env.serve();
            let t = a_env.run(&["tenant", "create", "Acme", "--json"]);
            assert_eq!(t.code, 0, "{}", t.stderr);
            (a, b, t.stdout)
        })
        .await
        .unwrap()
    };
    let t: Value = serde_json::from_str(created.trim()).unwrap();
    let (admin, app_key) = (
        t["admin_key"].as_str().unwrap(),
        t["app_key"].as_str().unwrap(),
    );

    // Provider, simulator app, verifier, and a tool, through process A.
    let (s, p) = post(&format!("{}/v1/admin/auth_providers", a.api), admin,
        json!({"id": "discord-prod", "provider_id": "discord", "scopes": ["guilds"],
               "oauth2": {"client_id": support::flow::APP_ID, "client_secret": support::flow::SECRET},
               "endpoint_origin": origin})).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    load_fixtures(&origin, p["oauth2"]["redirect_uri"].as_str().unwrap()).await;
    let tenant_app = TenantApp::start(&a.api, app_key).await;
    let r = reqwest::Client::new()
        .put(format!("{}/v1/admin/settings/session_verification", a.api))
        .header("authorization", admin)
        .json(&json!({"verifier_url": format!("{}/verify", tenant_app.origin)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (s, tool) = post(&format!("{}/v1/admin/tools", a.api), admin,
        json!({"name": "Discord.Guilds", "version": "1.0.0", "requirement": {"oauth2": {"scopes": ["guilds"]}}})).await;
    assert_eq!(s, StatusCode::CREATED, "{tool}");
    let tool_key = tool["key"]["secret"].as_str().unwrap().to_owned();

    // alice connects; Discord issues a token that expires at once (60 s minus Latchkey's skew).
    sim_patch(
        &origin,
        "/__sim/settings",
        json!({"token.access_ttl_s": 60}),
    )
    .await;
    let (s, needed) = post(
        &format!("{}/v1/tokens", a.api),
        &tool_key,
        json!({"user_id": "alice"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{needed}");
    let mut browser = Browser::new();
    browser.set_cookie(&origin, "sim_user", D_ALICE);
    let login = browser
        .get(&format!("{}/login?user=alice", tenant_app.origin))
        .await;
    assert_eq!(login.status, StatusCode::OK);
    let (page, _) = browser
        .consent_and_verify(needed["url"].as_str().unwrap())
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    sim_patch(
        &origin,
        "/__sim/settings",
        json!({"token.access_ttl_s": 604_800}),
    )
    .await;
    sim_patch(
        &origin,
        "/__sim/faults",
        json!({"match": {"method": "POST", "path": "/api/oauth2/token"},
        "trigger": {"count": null}, "action": {"kind": "delay", "ms": 300}}),
    )
    .await;

    let before = refreshes(&origin).await;
    let mut tasks = Vec::new();
    for i in 0..64 {
        let api = if i % 2 == 0 {
            a.api.clone()
        } else {
            b.api.clone()
        };
        let key = tool_key.clone();
        tasks.push(tokio::spawn(async move {
            post(
                &format!("{api}/v1/tokens"),
                &key,
                json!({"user_id": "alice"}),
            )
            .await
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{body}");
        tokens.insert(body["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(tokens.len(), 1, "every request got the same new token");
    assert_eq!(
        refreshes(&origin).await,
        before + 1,
        "exactly one refresh at Discord"
    );
    let r = reqwest::Client::new()
        .get(format!("{}/v1/admin/user_connections", b.api))
        .header("authorization", admin)
        .send()
        .await
        .unwrap();
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["items"][0]["connection_status"], "active", "{list}");
    let token = tokens.into_iter().next().unwrap();
    let me = reqwest::Client::new()
        .get(format!("{origin}/api/v10/users/@me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    tokio::task::spawn_blocking(move || {
        let a = a.stop();
        let b = b.stop();
        assert_eq!(a.code, 0, "{}", a.stderr);
        assert_eq!(b.code, 0, "{}", b.stderr);
    })
    .await
    .unwrap();
    db.drop_now().await;
}
