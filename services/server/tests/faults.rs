//! The fault suite (issue 10, item 3), run by `make test-long` one test at a time
//! (`--ignored --test-threads=1`): each breaks something real — the PostgreSQL server, a
//! replica's process, time, Discord — under load, and asserts that nothing completed is lost, nothing
//! is released that should not be, and the service recovers by itself.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::PgDb;
use support::flow::{Browser, D_ALICE};
use support::pair::{Pair, send};
use tokio::sync::Mutex;

/// One answer under load: which call, its status, its error name, how long it took.
type Answer = (&'static str, StatusCode, String, Duration);

/// Token requests for alice on both replicas and authorizations for new users, from eight
/// tasks, until `stop`.
fn load(pair: &Arc<Pair>, stop: &Arc<AtomicBool>) -> Arc<Mutex<Vec<Answer>>> {
    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    for t in 0..8 {
        let (pair, stop, answers) = (pair.clone(), stop.clone(), answers.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let api = if n % 2 == 0 { &pair.a.api } else { &pair.b.api };
                let started = Instant::now();
                let (what, (s, body)) = if t < 6 {
                    ("token", pair.token(api, "alice").await)
                } else {
                    let body = json!({"user_id": format!("load-{t}-{n}"),
                        "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": ["guilds"]}}});
                    let url = format!("{api}/v1/auth/authorize");
                    (
                        "authorize",
                        send(Method::POST, &url, &pair.app_key, Some(body)).await,
                    )
                };
                let name = body["name"].as_str().unwrap_or_default().to_owned();
                answers
                    .lock()
                    .await
                    .push((what, s, name, started.elapsed()));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    answers
}

/// Both replicas stop on SIGTERM with status 0; the database goes.
async fn stop_cleanly(pair: impl Into<Arc<Pair>>, db: PgDb) {
    let Ok(pair) = Arc::try_unwrap(pair.into()) else {
        panic!("the pair is still shared")
    };
    let (a, b) = pair.stop().await;
    assert_eq!((a.code, b.code), (0, 0), "{}\n{}", a.stderr, b.stderr);
    db.drop_now().await;
}

fn pg_cluster(action: &str) {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a Debian PostgreSQL cluster (/etc/postgresql)")
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let s = std::process::Command::new("pg_ctlcluster")
        .arg("--skip-systemctl-redirect")
        .arg(&version)
        .args(["main", action])
        .status()
        .unwrap();
    assert!(s.success(), "pg_ctlcluster {action}");
}

async fn count_releases(db: &PgDb) -> i64 {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM audit_log WHERE action = 'token.release'")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    n
}

#[tokio::test]
#[ignore = "stops the PostgreSQL server: make test-long"]
async fn postgres_down_under_load_fails_fast_then_recovers_with_nothing_lost() {
    let db = PgDb::create().await.expect("PostgreSQL");
    let pair = Pair::start(&db, &[("LATCHKEY__DATABASE__ACQUIRE_TIMEOUT_SECS", "2")]).await;
    pair.connect("alice", D_ALICE).await;
    let (s, before) = pair.token(&pair.a.api, "alice").await;
    assert_eq!(s, StatusCode::OK, "{before}");
    let pair = Arc::new(pair);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = load(&pair, &stop);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Down for three seconds, then up again.
    pg_cluster("stop");
    let down = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    pg_cluster("start");
    let up = Instant::now();
    // Both replicas serve again by themselves, within seconds.
    let mut recovered = None;
    while recovered.is_none() {
        let a = pair.token(&pair.a.api, "alice").await.0;
        let b = pair.token(&pair.b.api, "alice").await.0;
        if a == StatusCode::OK && b == StatusCode::OK {
            recovered = Some(up.elapsed());
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "no recovery 30 s after restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let answers = answers.lock().await.clone();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.1 != StatusCode::OK).collect();
    eprintln!(
        "{} answers, {} refused while the database was down {:?}; recovered {:?} after it was up",
        answers.len(),
        refused.len(),
        up - down,
        recovered.unwrap()
    );
    assert!(!refused.is_empty(), "the outage was noticed");
    for (what, s, name, took) in &refused {
        assert_eq!(*s, StatusCode::SERVICE_UNAVAILABLE, "{what}: {name}");
        assert_eq!(name, "unavailable", "{what}");
        assert!(
            *took < Duration::from_secs(5),
            "{what} took {took:?}: not failing fast"
        );
    }
    // Every token that left has its audit event; the grant still works at Discord.
    let released = answers
        .iter()
        .filter(|a| a.0 == "token" && a.1 == StatusCode::OK)
        .count();
    let mut audited = 0;
    for _ in 0..30 {
        audited = count_releases(&db).await;
        if audited as usize >= released {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        audited as usize >= released,
        "{audited} audited < {released} released"
    );
    let (s, after) = pair.token(&pair.b.api, "alice").await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert!(
        pair.discord_accepts(after["access_token"].as_str().unwrap())
            .await,
        "the grant survived"
    );
    stop_cleanly(pair, db).await;
}

/// `n` Discord users in the simulator (`D_n`), beyond the usual fixtures.
async fn discord_users(origin: &str, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..n).map(|i| format!("8200000000000{i:04}")).collect();
    let users: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "username": format!("u{id}"), "global_name": "Load"}))
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{origin}/__sim/fixtures"))
        .json(&json!({ "users": users }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    ids
}

/// User `user` (Discord `discord`) consents to `link` and the tenant's verifier confirms.
async fn consent(pair: &Pair, user: &str, discord: &str, link: &str) {
    let mut browser = Browser::new();
    browser.set_cookie(&pair.origin, "sim_user", discord);
    browser
        .get(&format!("{}/login?user={user}", pair.tenant_app.origin))
        .await;
    let cb = browser.consent(link).await;
    if let Some(to) = cb.location {
        browser.get(&to).await;
    }
}

#[tokio::test]
#[ignore = "kills a replica: make test-long"]
async fn kill_9_during_callbacks_leaves_each_authorization_completed_with_its_grant_or_retryable() {
    let db = PgDb::create().await.expect("PostgreSQL");
    let pair = Pair::start(&db, &[]).await;
    let n = 30;
    let discord = discord_users(&pair.origin, n).await;
    let mut links = Vec::new();
    for i in 0..n {
        let (s, needed) = pair.token(&pair.b.api, &format!("user{i}")).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{needed}");
        links.push(needed["url"].as_str().unwrap().to_owned());
    }
    // Everyone consents at once — the callbacks and the verifier's confirmations go to replica
    // A — and A is killed in the middle of it (a flow that meets the dead replica panics in its
    // own task; that user finds out below).
    let pair = Arc::new(pair);
    let mut flows = Vec::new();
    for (i, link) in links.into_iter().enumerate() {
        let (p, d) = (pair.clone(), discord[i].clone());
        flows.push(tokio::spawn(async move {
            consent(&p, &format!("user{i}"), &d, &link).await;
        }));
    }
    // Killed once a few users are through (the rest are somewhere in the middle).
    let deadline = Instant::now() + Duration::from_secs(60);
    while pair.tenant_app.confirmations.lock().unwrap().len() < 5 {
        assert!(Instant::now() < deadline, "no confirmations");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pair.kill_a();
    for f in flows {
        let _ = f.await;
    }
    let Ok(mut pair) = Arc::try_unwrap(pair) else {
        panic!("the pair is still shared")
    };
    pair.restart_a().await;

    // Each user has a working grant, or is asked to authorize again and then has one.
    let (mut completed, mut retried) = (0, 0);
    for (i, d) in discord.iter().enumerate() {
        let user = format!("user{i}");
        let (s, body) = pair.token(&pair.b.api, &user).await;
        let token = if s == StatusCode::OK {
            completed += 1;
            body["access_token"].as_str().unwrap().to_owned()
        } else {
            assert_eq!(s, StatusCode::FORBIDDEN, "{user}: {body}");
            assert_eq!(body["name"], "authorization_required", "{user}: {body}");
            retried += 1;
            consent(&pair, &user, d, body["url"].as_str().unwrap()).await;
            let (s, body) = pair.token(&pair.b.api, &user).await;
            assert_eq!(
                s,
                StatusCode::OK,
                "{user} could not authorize again: {body}"
            );
            body["access_token"].as_str().unwrap().to_owned()
        };
        assert!(
            pair.discord_accepts(&token).await,
            "{user}'s token works at Discord"
        );
    }
    eprintln!("after kill -9: {completed} had completed, {retried} authorized again");
    assert!(completed >= 5, "what completed before the kill survives it");
    // No authorization is `completed` without the grant that serves its user.
    let (s, list) = send(
        Method::GET,
        &format!("{}/v1/admin/authorizations?limit=100", pair.b.api),
        &pair.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    for a in list["items"].as_array().unwrap() {
        if a["status"] == "completed" {
            let (s, body) = pair
                .token(&pair.b.api, a["user_id"].as_str().unwrap())
                .await;
            assert_eq!(s, StatusCode::OK, "{a}: {body}");
        }
    }
    stop_cleanly(pair, db).await;
}

#[tokio::test]
#[ignore = "make test-long"]
async fn flows_that_expire_under_load_release_nothing() {
    let db = PgDb::create().await.expect("PostgreSQL");
    let pair = Pair::start(&db, &[("LATCHKEY__AUTH__FLOW_LIFETIME_SECS", "2")]).await;
    pair.connect("alice", D_ALICE).await;
    let n = 20;
    let discord = discord_users(&pair.origin, n).await;
    let mut links = Vec::new();
    for i in 0..n {
        let (s, needed) = pair.token(&pair.b.api, &format!("late{i}")).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{needed}");
        links.push(needed["url"].as_str().unwrap().to_owned());
    }
    // Half the users get as far as Discord's consent page before their flow ends.
    let mut at_discord = Vec::new();
    for (i, link) in links.iter().enumerate().take(n / 2) {
        let mut browser = Browser::new();
        browser.set_cookie(&pair.origin, "sim_user", &discord[i]);
        let to_discord = browser.click_through(link).await;
        assert_eq!(
            to_discord.status,
            StatusCode::SEE_OTHER,
            "{}",
            to_discord.body
        );
        at_discord.push((browser, to_discord.location.unwrap()));
    }
    let pair = Arc::new(pair);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = load(&pair, &stop);
    let exchanges = || async {
        support::flow::logged(&pair.origin, "/api/oauth2/token")
            .await
            .iter()
            .filter(|e| e["form"]["grant_type"] == "authorization_code")
            .count()
    };
    // Every flow's lifetime is over before its user is back from Discord, or starts at all.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = exchanges().await;
    for (mut browser, to_discord) in at_discord {
        let consented = browser.get(&to_discord).await;
        let back = consented.location.expect("Discord sends the browser back");
        let callback = browser.get(&back).await;
        assert!(
            !callback.location.unwrap_or_default().contains("flow_id"),
            "an expired flow reached the verifier ({})",
            callback.status
        );
    }
    for link in links.iter().skip(n / 2) {
        let page = Browser::new().get(link).await;
        assert_eq!(page.status, StatusCode::GONE, "an expired start link");
    }
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(
        exchanges().await,
        before,
        "no code of an expired flow was exchanged"
    );
    for i in 0..n {
        let (s, body) = pair.token(&pair.a.api, &format!("late{i}")).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "late{i}: {body}");
        assert_eq!(body["name"], "authorization_required");
    }
    let answers = answers.lock().await;
    assert!(
        answers
            .iter()
            .all(|(what, s, _, _)| *s == StatusCode::OK || *what == "authorize"),
        "alice kept being served"
    );
    drop(answers);
    stop_cleanly(pair, db).await;
}

#[tokio::test]
#[ignore = "make test-long"]
async fn discord_failing_during_refreshes_gets_bounded_retries_then_everything_recovers() {
    let db = PgDb::create().await.expect("PostgreSQL");
    let pair = Pair::start(&db, &[]).await;
    // alice's access token expires at once (60 s, minus the client's 60 s skew): every release
    // needs a refresh.
    pair.sim_settings(json!({"token.access_ttl_s": 60})).await;
    pair.connect("alice", D_ALICE).await;
    let pair = Arc::new(pair);
    for (what, action, most) in [
        ("5xx", json!({"kind": "status", "status": 503}), 4),
        ("timeouts", json!({"kind": "hang"}), 4),
        // 429s are waited out (retry_after) within the client's 10 s budget per call.
        (
            "429 storm",
            json!({"kind": "rate_limit", "retry_after": 0.5}),
            2 * 21,
        ),
    ] {
        pair.sim_post(
            "/__sim/faults",
            json!({"match": {"method": "POST", "path": "/api/oauth2/token"},
                   "trigger": {"count": null}, "action": action}),
        )
        .await;

        // 100 concurrent token requests across both replicas.
        let mut tasks = Vec::new();
        for i in 0..100 {
            let pair = pair.clone();
            tasks.push(tokio::spawn(async move {
                let api = if i % 2 == 0 { &pair.a.api } else { &pair.b.api };
                pair.token(api, "alice").await
            }));
        }
        for t in tasks {
            let (s, body) = t.await.unwrap();
            assert_eq!(s, StatusCode::BAD_GATEWAY, "{what}: {body}");
            assert_eq!(body["name"], "upstream_unavailable", "{what}: {body}");
            assert!(body.get("access_token").is_none());
        }
        // Every call to the token endpoint now is a refresh, answered by the rule (a hung call
        // never reaches the request log, so count the rule's firings).
        let calls = fired(&pair.origin).await;
        eprintln!("{what}: 100 token requests made {calls} refresh calls");
        assert!(
            (1..=most).contains(&calls),
            "{what}: {calls} refresh calls for 100 requests (at most {most})"
        );
        clear_faults(&pair.origin).await;
        // The grant cools down after a failed refresh (30 s, on every replica), then recovers.
        tokio::time::sleep(Duration::from_secs(31)).await;
        let (s, body) = pair.token(&pair.b.api, "alice").await;
        assert_eq!(s, StatusCode::OK, "{what}: no recovery: {body}");
        // The new token expires at once too (the simulator still issues 60 s tokens), so the
        // next round starts from an expired grant again.
        assert!(
            pair.discord_accepts(body["access_token"].as_str().unwrap())
                .await
        );
    }
    stop_cleanly(pair, db).await;
}

/// How often the simulator's first fault rule fired.
async fn fired(origin: &str) -> u64 {
    let rules: Value = reqwest::get(format!("{origin}/__sim/faults"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    rules[0]["fired"].as_u64().unwrap()
}

async fn clear_faults(origin: &str) {
    let r = reqwest::Client::new()
        .delete(format!("{origin}/__sim/faults"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

/// The token endpoint answers every call with `action`.
async fn token_endpoint_fails(pair: &Pair, action: Value) {
    pair.sim_post(
        "/__sim/faults",
        json!({"match": {"method": "POST", "path": "/api/oauth2/token"},
               "trigger": {"count": null}, "action": action}),
    )
    .await;
}

/// Start links for `users` (the tool's token requests at replica B).
async fn links(pair: &Pair, users: &[String]) -> Vec<String> {
    let mut links = Vec::new();
    for user in users {
        let (s, needed) = pair.token(&pair.b.api, user).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{needed}");
        links.push(needed["url"].as_str().unwrap().to_owned());
    }
    links
}

/// `user` (Discord `discord`) consents; the callback's answer.
async fn callback(pair: &Pair, user: &str, discord: &str, link: &str) -> support::flow::Page {
    let mut browser = Browser::new();
    browser.set_cookie(&pair.origin, "sim_user", discord);
    browser
        .get(&format!("{}/login?user={user}", pair.tenant_app.origin))
        .await;
    browser.consent(link).await
}

/// Every user's flow failed cleanly: a 502 page, nothing released, and the next token request
/// asks for a new authorization, which then completes.
async fn each_fails_cleanly_then_retries(pair: &Pair, what: &str, users: &[String], d: &[String]) {
    for (user, discord) in users.iter().zip(d) {
        let (s, body) = pair.token(&pair.b.api, user).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{what}: {user}: {body}");
        assert_eq!(body["name"], "authorization_required", "{what}: {body}");
        consent(pair, user, discord, body["url"].as_str().unwrap()).await;
        let (s, body) = pair.token(&pair.b.api, user).await;
        assert_eq!(s, StatusCode::OK, "{what}: {user} could not retry: {body}");
        assert!(
            pair.discord_accepts(body["access_token"].as_str().unwrap())
                .await
        );
    }
}

#[tokio::test]
#[ignore = "make test-long"]
async fn discord_failing_during_callbacks_fails_each_flow_cleanly_with_bounded_calls() {
    let db = PgDb::create().await.expect("PostgreSQL");
    let pair = Arc::new(Pair::start(&db, &[]).await);
    let n = 10;
    let discord = discord_users(&pair.origin, n).await;
    // Code exchanges are retried only when Discord surely did not use the code: once after a
    // 5xx, never after a timeout; a 429 is waited out within the call's 10 s budget.
    for (round, (what, action, per_callback)) in [
        ("5xx", json!({"kind": "status", "status": 503}), 2),
        ("timeouts", json!({"kind": "hang"}), 1),
        (
            "429 storm",
            json!({"kind": "rate_limit", "retry_after": 0.5}),
            21,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let users: Vec<String> = (0..n).map(|i| format!("cb{round}-{i}")).collect();
        let links = links(&pair, &users).await;
        token_endpoint_fails(&pair, action).await;
        // Everyone is back from Discord at once.
        let mut callbacks = Vec::new();
        for (i, link) in links.into_iter().enumerate() {
            let (p, user, d) = (pair.clone(), users[i].clone(), discord[i].clone());
            callbacks.push(tokio::spawn(
                async move { callback(&p, &user, &d, &link).await },
            ));
        }
        for c in callbacks {
            let page = c.await.unwrap();
            assert_eq!(
                page.status,
                StatusCode::BAD_GATEWAY,
                "{what}: {}",
                page.body
            );
            assert!(
                page.body.contains("Discord could not complete the sign-in"),
                "{what}: {}",
                page.body
            );
            assert!(
                page.location.is_none(),
                "{what}: no verifier after a failure"
            );
        }
        let calls = fired(&pair.origin).await;
        eprintln!("{what}: {n} callbacks made {calls} code exchanges");
        assert!(
            (n as u64..=per_callback * n as u64).contains(&calls),
            "{what}: {calls} exchange calls for {n} callbacks (at most {per_callback} each)"
        );
        clear_faults(&pair.origin).await;
        each_fails_cleanly_then_retries(&pair, what, &users, &discord).await;
    }
    stop_cleanly(pair, db).await;
}

/// `latchkey_discord_breaker_state` of a replica (0 closed, 1 half-open, 2 open).
async fn breaker_state(ops: &str) -> u64 {
    let text = reqwest::get(format!("{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("latchkey_discord_breaker_state"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .expect("the breaker gauge")
}

#[tokio::test]
#[ignore = "make test-long"]
async fn the_breaker_stops_an_invalid_request_storm_at_its_budget_then_recovers() {
    let db = PgDb::create().await.expect("PostgreSQL");
    let budget = 8;
    let pair = Pair::start(
        &db,
        &[
            ("LATCHKEY__DISCORD__INVALID_REQUEST_BUDGET", "8"),
            ("LATCHKEY__DISCORD__BREAKER_OPEN_SECS", "3"),
        ],
    )
    .await;
    let n = 20;
    let discord = discord_users(&pair.origin, n).await;
    let users: Vec<String> = (0..n).map(|i| format!("storm{i}")).collect();
    let links = links(&pair, &users).await;
    // The provider's secret went bad at Discord: every exchange is a 401 (an invalid request).
    token_endpoint_fails(
        &pair,
        json!({"kind": "status", "status": 401, "body": {"error": "invalid_client"}}),
    )
    .await;
    assert_eq!(breaker_state(&pair.a.ops).await, 0);
    for (i, link) in links.iter().enumerate() {
        let page = callback(&pair, &users[i], &discord[i], link).await;
        assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.body);
    }
    // The callbacks went to replica A: its breaker stopped calling Discord at the budget.
    assert_eq!(
        fired(&pair.origin).await,
        budget,
        "invalid requests beyond the breaker's budget"
    );
    assert_eq!(breaker_state(&pair.a.ops).await, 2, "open");
    // The secret is fixed; after the open period one probe goes out, succeeds, and closes it.
    clear_faults(&pair.origin).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    each_fails_cleanly_then_retries(&pair, "breaker", &users[..3], &discord[..3]).await;
    assert_eq!(breaker_state(&pair.a.ops).await, 0, "closed again");
    stop_cleanly(pair, db).await;
}
