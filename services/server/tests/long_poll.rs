//! Issue 5, item 2: waiting does not poll the database. Ten long-polls hold a pending
//! authorization for three seconds against a real `latchkey serve` process; its own statement
//! log (sqlx's, at debug level) shows each poll reading the authorization at most twice — when
//! it starts and when its wait ends — however long it waits.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use serde_json::{Value, json};
use support::Sandbox;
use support::pair::send;

/// The statement that reads one authorization with its flow (`get_authorization`).
const READ_ONE: &str = "f.authorization_id = a.id AND a.id = $2";

#[tokio::test]
async fn long_polls_wait_on_the_notifier_not_on_the_database() {
    let sb = std::sync::Arc::new(
        Sandbox::new()
            .with("LATCHKEY__LOG__FORMAT", "json")
            .with("LATCHKEY__LOG__LEVEL", "sqlx::query=debug,info"),
    );
    let (server, created) = {
        let sb = sb.clone();
        tokio::task::spawn_blocking(move || {
            let t = sb.run(&["tenant", "create", "Acme", "--json"]).ok();
            (
                sb.serve_logging_to(&sb.dir.path().join("latchkey.log")),
                t.stdout,
            )
        })
        .await
        .unwrap()
    };
    let t: Value = serde_json::from_str(created.trim()).unwrap();
    let (admin, app) = (
        t["admin_key"].as_str().unwrap(),
        t["app_key"].as_str().unwrap(),
    );
    let api = server.api.clone();
    let (s, p) = send(reqwest::Method::POST, &format!("{api}/v1/admin/auth_providers"), admin,
        Some(json!({"id": "discord-prod", "provider_id": "discord",
                    "oauth2": {"client_id": "1400000000000000001", "client_secret": "long-poll-secret"}}))).await;
    assert!(s.is_success(), "{p}");
    let (s, b) = send(
        reqwest::Method::PUT,
        &format!("{api}/v1/admin/settings/session_verification"),
        admin,
        Some(json!({"verifier_url": "https://verify.example.com/latchkey"})),
    )
    .await;
    assert!(s.is_success(), "{b}");
    let (s, r) = send(
        reqwest::Method::POST,
        &format!("{api}/v1/auth/authorize"),
        app,
        Some(json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord"}})),
    )
    .await;
    assert_eq!(r["status"], "pending", "{s} {r}");
    let id = r["id"].as_str().unwrap().to_owned();

    let polls = 10;
    let mut tasks = Vec::new();
    for _ in 0..polls {
        let (url, key) = (
            format!("{api}/v1/auth/status?id={id}&wait=3"),
            app.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            send(reqwest::Method::GET, &url, &key, None).await
        }));
    }
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert!(s.is_success(), "{v}");
        assert_eq!(v["status"], "pending");
    }

    let run = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert_eq!(run.code, 0);
    let log = std::fs::read_to_string(sb.dir.path().join("latchkey.log")).unwrap();
    let reads = log
        .lines()
        .filter(|l| l.contains("sqlx::query") && l.contains(READ_ONE))
        .count();
    // Every poll read it (the count works) and none read it more than twice in three seconds.
    assert!(reads >= polls, "{reads} reads: is statement logging on?");
    assert!(
        reads <= 2 * polls + 2,
        "{reads} reads of the authorization by {polls} polls waiting 3 s each"
    );
}

/// Issue 9, item 5: at shutdown a held long-poll answers the authorization's current status at
/// once, instead of holding the drain until the grace period (20 s) drops it.
#[tokio::test]
async fn shutdown_answers_held_long_polls_with_the_current_status() {
    let w = support::flow::World::start(support::flow::Options::default()).await;
    let (_, a) = w.authorize("alice", &["guilds"]).await;
    let url = format!(
        "{}/v1/auth/status?id={}&wait=45",
        w.app.api,
        a["id"].as_str().unwrap()
    );
    let key = w.app_key.clone();
    let poll = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .get(url)
            .header("authorization", key)
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<serde_json::Value>().await.unwrap())
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "held while pending");
    let stopping = std::time::Instant::now();
    w.app.stop().await;
    let (s, v) = poll.await.unwrap();
    assert_eq!(
        (s.as_u16(), v["status"].as_str()),
        (200, Some("pending")),
        "{v}"
    );
    assert!(v["url"].as_str().is_some(), "the answer is whole: {v}");
    assert!(
        stopping.elapsed() < std::time::Duration::from_secs(10),
        "the server waited for the long-poll instead of answering it"
    );
}
