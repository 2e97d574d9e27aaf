//! Scaling out (issue 9, item 4): two `latchkey serve` processes on one PostgreSQL database,
//! reachable only through their own ports. An authorization started on replica A and confirmed
//! on replica B wakes the long-poll waiting on A at once (the store's notices cross processes);
//! caches are invalidated across them (also `replicas.rs`, `hot_path.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::PgDb;
use support::flow::{Browser, D_ALICE, flow_id_of};
use support::pair::{Pair, send};

#[tokio::test]
async fn started_on_one_replica_confirmed_on_the_other_wakes_the_first() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let pair = Pair::start(&db, &[]).await;
    let (a, b) = (pair.a.api.clone(), pair.b.api.clone());

    // A starts alice's authorization; a long-poll on A waits for it.
    let (s, started) = send(
        Method::POST,
        &format!("{a}/v1/auth/authorize"),
        &pair.app_key,
        Some(json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": ["guilds"]}}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let id = started["id"].as_str().unwrap().to_owned();
    let waiter = {
        let (a, key, id) = (a.clone(), pair.app_key.clone(), id.clone());
        tokio::spawn(async move {
            let (s, v) = send(
                Method::GET,
                &format!("{a}/v1/auth/status?id={id}&wait=45"),
                &key,
                None,
            )
            .await;
            (s, v, Instant::now())
        })
    };

    // The user consents in the browser (Discord sends it back to the public callback); the
    // tenant's verifier confirms the user on B.
    let link = started["url"].as_str().unwrap().to_owned();
    let mut browser = Browser::new();
    browser.set_cookie(&pair.origin, "sim_user", D_ALICE);
    let to_verifier = browser.consent(&link).await;
    assert_eq!(
        to_verifier.status,
        StatusCode::SEE_OTHER,
        "{}",
        to_verifier.body
    );
    let flow_id = flow_id_of(to_verifier.location.as_deref().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the waiter is still held while the user is unconfirmed"
    );
    let confirmed_at = Instant::now();
    let (s, c) = send(
        Method::POST,
        &format!("{b}/v1/auth/confirm_user"),
        &pair.app_key,
        Some(json!({"flow_id": flow_id, "user_id": "alice"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");

    // A's waiter wakes with the completed authorization, within moments, not at its 45 s end.
    let (s, done, woke) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the waiter on A was not woken by B's confirmation")
        .unwrap();
    assert_eq!(
        (s, done["status"].as_str()),
        (StatusCode::OK, Some("completed")),
        "{done}"
    );
    assert_eq!(done["context"]["user_info"]["id"], D_ALICE);
    assert!(woke.duration_since(confirmed_at) < Duration::from_secs(5));

    // And the grant made through B serves on A.
    let (s, t) = pair.token(&a, "alice").await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let (ra, rb) = pair.stop().await;
    assert_eq!((ra.code, rb.code), (0, 0), "{}\n{}", ra.stderr, rb.stderr);
}
