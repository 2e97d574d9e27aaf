//! Issue 6, items 6 and 7: warm token requests are served from memory (no database read),
//! every release is accepted by the audit pipeline before the token leaves and persisted within
//! a flush interval, releases stop when the pipeline cannot accept (security.md I7, R11 a/b),
//! the pipeline is flushed on shutdown, and a revoked grant stops being served on every replica
//! at once (two `latchkey serve` processes).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::PgDb;
use support::flow::{D_ALICE, D_BOB, D_MALLORY, Options, World};
use support::pair::{Pair, send};

/// Spoils the stored access tokens (SQLite): a read from the database can no longer release it.
async fn spoil_stored_tokens(database_url: &str) {
    let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
    sqlx::query("UPDATE grants SET access_token = 'spoiled'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// How many `token.release` events the SQLite database holds (read directly, after a stop).
async fn stored_releases(database_url: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'token.release'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    n
}

/// Connects alice for a `Discord.Guilds` tool; answers its key.
async fn alice_connected(w: &World) -> String {
    let key = w.tool("Discord.Guilds", &["guilds"]).await;
    let (_, b) = w.token(&key, "alice").await;
    w.complete(b["url"].as_str().unwrap(), "alice", D_ALICE)
        .await;
    key
}

#[tokio::test]
async fn a_warm_token_is_served_from_memory_until_its_grant_changes() {
    let w = World::start(Options::default()).await;
    let key = alice_connected(&w).await;
    let (s, first) = w.token(&key, "alice").await;
    assert_eq!(s, StatusCode::OK, "{first}");

    // The stored token is spoiled behind Latchkey's back: the warm copy is still served, so the
    // second request did not read (or decrypt) the grant.
    spoil_stored_tokens(&w.app.database_url).await;
    let (s, warm) = w.token(&key, "alice").await;
    assert_eq!(s, StatusCode::OK, "{warm}");
    assert_eq!(warm["access_token"], first["access_token"]);
    assert_eq!(warm["user_info"], first["user_info"]);
    assert_eq!(warm["expires_at"], first["expires_at"]);

    // Deleting the connection drops it at once (not after the TTL).
    w.delete_connection("alice").await;
    let (s, b) = w.token(&key, "alice").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(b["name"], "authorization_required");
    assert!(b.get("access_token").is_none());
    w.app.stop().await;
}

#[tokio::test]
async fn with_the_cache_off_every_request_reads_the_grant() {
    let w = World::start(Options {
        token_cache_ttl_secs: Some(0),
        ..Options::default()
    })
    .await;
    let key = alice_connected(&w).await;
    let (s, _) = w.token(&key, "alice").await;
    assert_eq!(s, StatusCode::OK);
    // The control for the test above: without warm tokens, the spoiled row is read, fails to
    // decrypt, and nothing is released.
    spoil_stored_tokens(&w.app.database_url).await;
    let (s, b) = w.token(&key, "alice").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{b}");
    assert!(b.get("access_token").is_none());
    w.app.stop().await;
}

#[tokio::test]
async fn releases_stop_when_the_audit_queue_is_full_and_shutdown_flushes_it() {
    // One queued event at most, written only once a minute (or at shutdown).
    let w = World::start(Options {
        audit_queue_capacity: Some(1),
        audit_flush_interval_ms: Some(60_000),
        ..Options::default()
    })
    .await;
    let key = alice_connected(&w).await;
    let (mut released, mut refused) = (0, 0);
    for _ in 0..4 {
        let (s, b) = w.token(&key, "alice").await;
        match s {
            StatusCode::OK => released += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(b["name"], "unavailable", "{b}");
                assert!(b.get("access_token").is_none(), "{b}");
                assert!(
                    b["message"]
                        .as_str()
                        .unwrap()
                        .contains("nothing was released")
                );
                refused += 1;
            }
            other => panic!("{other}: {b}"),
        }
    }
    // One unwritten event at most: the first release gets through, the others are refused.
    assert_eq!((released, refused), (1, 3));
    // Nothing was written yet (a minute's interval); stopping writes every accepted release.
    let url = w.app.database_url.clone();
    let _data = w.app.stop_keeping_data().await;
    assert_eq!(stored_releases(&url).await, released);
}

#[tokio::test]
async fn releases_stop_while_audit_writes_fail_and_resume_with_nothing_lost() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    let w = World::start(Options {
        db: Some(db.url.clone()),
        audit_flush_interval_ms: Some(100),
        ..Options::default()
    })
    .await;
    let key = alice_connected(&w).await;
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("ALTER TABLE audit_batches RENAME TO audit_batches_away")
        .execute(&pool)
        .await
        .unwrap();
    // The audit store is unwritable: what was accepted stays queued, and releases stop.
    let mut released = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = w.token(&key, "alice").await;
        if s == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(b["name"], "unavailable", "{b}");
            assert!(b.get("access_token").is_none());
            break;
        }
        assert_eq!(s, StatusCode::OK, "{b}");
        released += 1;
        assert!(Instant::now() < deadline, "releases never stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(released >= 1);
    sqlx::query("ALTER TABLE audit_batches_away RENAME TO audit_batches")
        .execute(&pool)
        .await
        .unwrap();
    // Writable again: releases resume, and every release answered has its event.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (s, _) = w.token(&key, "alice").await;
        if s == StatusCode::OK {
            released += 1;
            break;
        }
        assert!(Instant::now() < deadline, "releases never resumed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    w.app.stop().await;
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = 'token.release'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(n, released);
    pool.close().await;
    db.drop_now().await;
}

/// Polls replica `api` until `user`'s token is no longer served; fails after `within`.
async fn stops_serving(pair: &Pair, api: &str, user: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (s, b) = pair.token(api, user).await;
        if s != StatusCode::OK {
            assert!(b.get("access_token").is_none(), "{b}");
            return b;
        }
        assert!(
            Instant::now() < deadline,
            "replica {api} still serves {user}'s token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_revoked_grant_stops_being_served_on_every_replica_at_once() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    // Warm tokens live a minute here: a replica that stops serving within seconds heard the
    // other replica's notice; it did not wait for the TTL.
    let pair = Pair::start(&db, &[("LATCHKEY__AUTH__TOKEN_CACHE_TTL_SECS", "60")]).await;
    let notice = Duration::from_secs(5);
    for (user, discord) in [("alice", D_ALICE), ("bob", D_BOB), ("carol", D_MALLORY)] {
        pair.connect(user, discord).await;
        // Warm on both replicas.
        for api in [&pair.a.api, &pair.b.api] {
            let (s, b) = pair.token(api, user).await;
            assert_eq!(s, StatusCode::OK, "{b}");
        }
    }

    // A deletes alice's connection: B stops serving her token.
    let (_, list) = send(
        Method::GET,
        &format!("{}/v1/admin/user_connections?user_id=alice", pair.a.api),
        &pair.admin,
        None,
    )
    .await;
    let id = list["items"][0]["id"].as_str().unwrap();
    let (s, _) = send(
        Method::DELETE,
        &format!("{}/v1/admin/user_connections/{id}", pair.a.api),
        &pair.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let b = stops_serving(&pair, &pair.b.api, "alice", notice).await;
    assert_eq!(b["name"], "authorization_required", "{b}");

    // Discord answers 401 for bob's token on A's proxy: B stops serving it.
    let (_, t) = pair.token(&pair.b.api, "bob").await;
    let access = t["access_token"].as_str().unwrap();
    pair.sim_post(
        &format!("/__sim/tokens/{access}/revoke-single"),
        serde_json::json!({}),
    )
    .await;
    let r = reqwest::Client::new()
        .get(format!("{}/v1/proxy/discord/users/@me", pair.a.api))
        .header("authorization", &pair.tool_key)
        .header("latchkey-user-id", "bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let b = stops_serving(&pair, &pair.b.api, "bob", notice).await;
    assert_eq!(b["name"], "authorization_required", "{b}");

    // A deletes the tool's provider: B stops serving carol's token.
    let (s, b) = send(
        Method::DELETE,
        &format!("{}/v1/admin/auth_providers/discord-prod", pair.a.api),
        &pair.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    stops_serving(&pair, &pair.b.api, "carol", notice).await;

    let (a, b) = pair.stop().await;
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    db.drop_now().await;
}

#[tokio::test]
async fn a_refresh_on_one_replica_replaces_the_warm_token_on_the_other() {
    let Some(db) = PgDb::create().await else {
        return;
    };
    // Tokens that live 30 minutes are fresh for serving (5-minute margin) but due for the
    // keep-alive (1 hour), which runs every second on A only: A refreshes the grant while B holds
    // the old token warm for up to a minute, unless A's change notice reaches it.
    let pair = Pair::start_with(
        &db,
        &[("LATCHKEY__AUTH__TOKEN_CACHE_TTL_SECS", "60")],
        &[("LATCHKEY__AUTH__KEEP_ALIVE_SECS", "1")],
    )
    .await;
    pair.sim_settings(serde_json::json!({"token.access_ttl_s": 1800}))
        .await;
    pair.connect("alice", D_ALICE).await;
    pair.sim_settings(serde_json::json!({"token.access_ttl_s": 604_800}))
        .await;
    let (s, first) = pair.token(&pair.b.api, "alice").await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let old = first["access_token"].as_str().unwrap().to_owned();
    // Within seconds (not the minute of the TTL) both replicas serve the refreshed token.
    let deadline = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let (_, t) = pair.token(&pair.b.api, "alice").await;
        let token = t["access_token"].as_str().unwrap_or_default().to_owned();
        if token != old {
            break token;
        }
        assert!(
            Instant::now() < deadline,
            "replica B still serves the old token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(pair.refreshes().await >= 1);
    let (_, a) = pair.token(&pair.a.api, "alice").await;
    assert_eq!(a["access_token"], new.as_str());
    let (a, b) = pair.stop().await;
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert_eq!(b.code, 0, "{}", b.stderr);
    db.drop_now().await;
}
