//! What the dashboard shows of a tenant's activity (issue 8, items 6 and 7): the latest
//! authorizations, newest first and never with a link or token, and daily usage counted from
//! the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::call;
use support::flow::{D_ALICE, Options, World};

#[tokio::test]
async fn recent_authorizations_and_daily_usage() {
    let w = World::start(Options::default()).await;
    let get = |path: &'static str| call(&w.app, Method::GET, path, &w.admin, None);

    // Nothing yet: an empty list, and zeros for every day asked for.
    let (s, list) = get("/v1/admin/authorizations").await;
    assert_eq!(
        (s, list["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (_, usage) = get("/v1/admin/usage?days=3").await;
    assert_eq!(usage["days"].as_array().unwrap().len(), 3);
    assert!(
        usage["days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["authorizations_started"] == 0)
    );

    // alice completes one, bob's is pending, and a tool gets alice's token twice.
    let (_, a) = w.authorize("alice", &["guilds"]).await;
    w.complete(a["url"].as_str().unwrap(), "alice", D_ALICE)
        .await;
    let (_, b) = w.authorize("bob", &["guilds"]).await;
    let key = w.tool("Discord.Guilds", &["guilds"]).await;
    for _ in 0..2 {
        assert_eq!(w.token(&key, "alice").await.0, StatusCode::OK);
    }
    w.audited("token.release", 2).await;

    let (_, list) = get("/v1/admin/authorizations").await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    assert_eq!(
        (items[0]["id"].as_str(), items[0]["status"].as_str()),
        (b["id"].as_str(), Some("pending"))
    );
    assert_eq!(
        (items[1]["user_id"].as_str(), items[1]["status"].as_str()),
        (Some("alice"), Some("completed"))
    );
    assert_eq!(items[1]["provider_id"], "discord-prod");
    assert_eq!(items[1]["scopes"], json!(["guilds", "identify"]));
    let text = list.to_string();
    assert!(
        !text.contains("/oauth/start/") && !text.contains("token"),
        "no link or token: {text}"
    );
    let (_, one) = get("/v1/admin/authorizations?limit=1").await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);

    let (_, usage) = get("/v1/admin/usage").await;
    let days = usage["days"].as_array().unwrap();
    assert_eq!(days.len(), 14, "two weeks by default");
    let today = days.last().unwrap();
    assert_eq!(
        (
            today["authorizations_started"].as_u64(),
            today["authorizations_completed"].as_u64(),
            today["token_releases"].as_u64()
        ),
        (Some(2), Some(1), Some(2)),
        "{usage}"
    );
    assert_eq!(today["date"].as_str().unwrap().len(), 10);
    assert!(days[..13].iter().all(|d| d["token_releases"] == 0));

    // Bad parameters are named.
    for path in [
        "/v1/admin/authorizations?limit=0",
        "/v1/admin/authorizations?limit=101",
        "/v1/admin/authorizations?limit=ten",
        "/v1/admin/usage?days=0",
        "/v1/admin/usage?days=91",
        "/v1/admin/usage?days=-1",
    ] {
        let (s, e) = get(path).await;
        assert_eq!(
            (s, e["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{path}"
        );
    }

    // Another tenant sees none of it.
    let (_, other) = call(
        &w.app,
        Method::POST,
        "/v1/platform/tenants",
        &w.app.operator_key,
        Some(json!({"name": "Other"})),
    )
    .await;
    let other = other["admin_key"].as_str().unwrap();
    let (_, list) = call(&w.app, Method::GET, "/v1/admin/authorizations", other, None).await;
    assert_eq!(list["items"], json!([]));
    let (_, usage) = call(&w.app, Method::GET, "/v1/admin/usage?days=1", other, None).await;
    assert_eq!(usage["days"][0]["authorizations_started"], 0);
    w.app.stop().await;
}
