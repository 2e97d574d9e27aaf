//! The authorization service end to end over real HTTP (issue 5; specs/security.md §2.7):
//! Latchkey, the Discord simulator, a tenant app with real sessions and a verifier route, and
//! browsers that are separate cookie jars. Each V-T test names its scenario.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::flow::{
    Browser, D_ALICE, D_BOB, D_MALLORY, Options, World, csrf_field, flow_id_of, urlencode,
};

async fn world() -> World {
    World::start(Options::default()).await
}

/// A world on a fresh PostgreSQL database (`None` where PostgreSQL is absent outside CI).
async fn pg_world(keys: Option<(String, String)>) -> Option<(World, support::PgDb)> {
    let db = support::PgDb::create().await?;
    let w = World::start(Options {
        db: Some(db.url.clone()),
        keys,
        ..Options::default()
    })
    .await;
    Some((w, db))
}

fn link(r: &Value) -> String {
    assert_eq!(r["status"], "pending", "{r}");
    r["url"].as_str().unwrap().to_owned()
}

/// alice starts, consents as D_alice and is confirmed: the authorization completes.
async fn connect(w: &World, user: &str, discord: &str, scopes: &[&str]) -> Value {
    let (s, r) = w.authorize(user, scopes).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let mut b = w.browser(discord, Some(user)).await;
    let (page, _) = b.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let (s, done) = w.status(r["id"].as_str().unwrap(), 0).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(done["status"], "completed", "{done}");
    done
}

#[tokio::test]
async fn v_t1_happy_path_wakes_the_long_poll_and_releases_the_token_to_that_user_only() {
    let w = world().await;
    let (s, r) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["scopes"], json!(["guilds", "identify"]));
    assert_eq!(r["provider_id"], "discord-prod");
    assert_eq!(r["user_id"], "alice");
    let id = r["id"].as_str().unwrap().to_owned();
    let url = link(&r);
    assert!(
        url.starts_with(&format!("{}/oauth/start/", w.app.api)),
        "{url}"
    );
    assert!(
        !url.contains(&id),
        "the start link is not the authorization id"
    );

    // The app waits while alice consents.
    let waiter = {
        let api = w.app.api.clone();
        let key = w.app_key.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let r = reqwest::Client::new()
                .get(format!("{api}/v1/auth/status?id={id}&wait=30"))
                .header("authorization", key)
                .send()
                .await
                .unwrap();
            (
                r.headers().get("cache-control").cloned(),
                r.json::<Value>().await.unwrap(),
            )
        })
    };
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let cb = alice.consent(&url).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    let to_verifier = cb.location.clone().unwrap();
    assert!(to_verifier.starts_with(&format!("{}/verify?flow_id=", w.tenant_app.origin)));
    assert_eq!(cb.headers["referrer-policy"], "no-referrer");
    assert_eq!(cb.headers["cache-control"], "no-store");
    let flow_id = flow_id_of(&to_verifier);

    // Still pending while the verifier has not confirmed (quarantine, V6 / V-T9).
    let (_, pending) = w.status(&id, 0).await;
    assert_eq!(pending["status"], "pending");
    let (_, again) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(again["status"], "pending", "{again}");
    assert!(again.get("context").is_none());

    let page = alice.get(&to_verifier).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let confirmations = w.tenant_app.confirmations.lock().unwrap().clone();
    assert_eq!(confirmations.len(), 1);
    assert_eq!(confirmations[0].0, 200);
    assert_eq!(confirmations[0].1["auth_id"], id.as_str());
    assert_eq!(
        page.location.as_deref(),
        Some(format!("{}/oauth/done", w.app.api).as_str())
    );

    let (cache, done) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the long-poll woke")
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["id"], id.as_str());
    assert_eq!(done["context"]["user_info"]["id"], D_ALICE);
    assert_eq!(cache.unwrap(), "no-store");
    let token = done["context"]["token"].as_str().unwrap().to_owned();
    // The token is D_alice's, live at Discord.
    let me: Value = reqwest::Client::new()
        .get(format!("{}/api/v10/users/@me", w.sim.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], D_ALICE);

    // alice is now authorized at once, with the same authorization id; bob is not.
    let (_, now) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(now["status"], "completed");
    assert_eq!(now["id"], id.as_str());
    assert_eq!(now["context"]["token"], token.as_str());
    let (_, bob) = w.authorize("bob", &["guilds"]).await;
    assert_eq!(bob["status"], "pending");

    // V-T13: the flow_id appears in no API answer and is stored only as a hash; an altered
    // flow_id is unknown.
    for body in [&r, &pending, &again, &done, &now, &confirmations[0].1] {
        assert!(!body.to_string().contains(&flow_id));
    }
    let mut altered = flow_id.clone().into_bytes();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let (s, b) = w
        .confirm(&w.app_key, std::str::from_utf8(&altered).unwrap(), "alice")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    w.assert_audited(&["authorization.start", "authorization.completed"])
        .await;
    assert_eq!(
        w.connections().await,
        vec![("alice".to_owned(), D_ALICE.to_owned())]
    );
    w.app.stop().await;
}

/// A link started for `owner`, opened by `intruder`'s browser (signed in to the tenant app as
/// `intruder` and to Discord as `discord`) all the way to the verifier: the authorization id,
/// the verifier's answer, and the revocations Discord had seen before.
async fn hijack(
    w: &World,
    owner: &str,
    intruder: &str,
    discord: &str,
) -> (String, support::flow::Page, usize) {
    let (_, r) = w.authorize(owner, &["guilds"]).await;
    let before = w.revocations().await;
    let mut b = w.browser(discord, Some(intruder)).await;
    let (page, _) = b.consent_and_verify(&link(&r)).await;
    (r["id"].as_str().unwrap().to_owned(), page, before)
}

#[tokio::test]
async fn v_t2_attack_a_the_victim_completes_the_attackers_flow() {
    let w = world().await;
    // bob opens mallory's link, consents as D_bob; the verifier sees bob.
    let (id, page, before) = hijack(&w, "mallory", "bob", D_BOB).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    let confirmations = w.tenant_app.confirmations.lock().unwrap().clone();
    assert_eq!(confirmations[0].1["name"], "user_mismatch");
    assert!(
        !confirmations[0].1["message"]
            .as_str()
            .unwrap()
            .contains("mallory")
    );
    let (_, st) = w.status(&id, 0).await;
    assert_eq!(st["status"], "failed");
    assert_eq!(
        w.revocations().await,
        before + 1,
        "D_bob's token was revoked"
    );
    assert!(w.connections().await.is_empty());
    w.app.stop().await;
}

#[tokio::test]
async fn v_t2b_attack_a_on_a_connected_victim_deletes_without_revoking() {
    let w = world().await;
    let bob_done = connect(&w, "bob", D_BOB, &["guilds"]).await;
    let (_, page, before) = hijack(&w, "mallory", "bob", D_BOB).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        w.revocations().await,
        before,
        "no revoke: it would disconnect bob"
    );
    let (_, bob_now) = w.authorize("bob", &["guilds"]).await;
    assert_eq!(bob_now["status"], "completed");
    assert_eq!(bob_now["context"]["user_info"]["id"], D_BOB);
    assert!(bob_done["context"]["token"].is_string());
    w.assert_audited(&["revocation_skipped_shared_authorization"])
        .await;
    assert_eq!(
        w.connections().await,
        vec![("bob".to_owned(), D_BOB.to_owned())]
    );
    w.app.stop().await;
}

#[tokio::test]
async fn v_t4_attack_b_the_attacker_completes_the_victims_flow() {
    let w = world().await;
    let (id, page, before) = hijack(&w, "alice", "mallory", D_MALLORY).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let (_, st) = w.status(&id, 0).await;
    assert_eq!(st["status"], "failed");
    assert_eq!(w.revocations().await, before + 1);
    let (_, again) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(again["status"], "pending", "alice has no grant");
    w.app.stop().await;
}

#[tokio::test]
async fn v_t6_v_t7_v_t8_confirmations_from_elsewhere_early_or_repeated() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let id = r["id"].as_str().unwrap().to_owned();
    let mut alice = w.browser(D_ALICE, Some("alice")).await;

    // V-T7: before the callback there is no flow_id; the authorization id is not one.
    let (s, unknown) = w.confirm(&w.app_key, &id, "alice").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let cb = alice.consent(&link(&r)).await;
    let flow_id = flow_id_of(&cb.location.unwrap());

    // V-T6: another tenant's app key gets the same 404 as an unknown flow_id.
    let (s, other) = call_op(&w, "Other").await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, foreign) = w
        .confirm(other["app_key"].as_str().unwrap(), &flow_id, "alice")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(foreign["name"], unknown["name"]);
    assert_eq!(foreign["message"], unknown["message"]);

    // V-T8: an identical retry gets the recorded answer; a different user then gets 404.
    let (s1, b1) = w.confirm(&w.app_key, &flow_id, "alice").await;
    let (s2, b2) = w.confirm(&w.app_key, &flow_id, "alice").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK), "{b1} {b2}");
    assert_eq!(b1, b2);
    assert_eq!(b1["auth_id"], id.as_str());
    let (s, _) = w.confirm(&w.app_key, &flow_id, "bob").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let completions = w
        .audit_actions()
        .await
        .iter()
        .filter(|a| *a == "authorization.completed")
        .count();
    assert_eq!(completions, 1);
    w.app.stop().await;
}

async fn call_op(w: &World, name: &str) -> (StatusCode, Value) {
    support::call(
        &w.app,
        Method::POST,
        "/v1/platform/tenants",
        &w.app.operator_key,
        Some(json!({ "name": name })),
    )
    .await
}

#[tokio::test]
async fn v_t8_racing_confirmations_decide_once_and_never_for_another_user() {
    let w = world().await;
    for round in 0..3 {
        let user = format!("user{round}");
        let (_, r) = w.authorize(&user, &["guilds"]).await;
        let mut b = w.browser(D_ALICE, None).await;
        let cb = b.consent(&link(&r)).await;
        let flow_id = flow_id_of(&cb.location.unwrap());
        let mut tasks = Vec::new();
        for i in 0..20 {
            let api = w.app.api.clone();
            let key = w.app_key.clone();
            let flow_id = flow_id.clone();
            let who = if (i + round) % 2 == 0 {
                user.clone()
            } else {
                "intruder".to_owned()
            };
            tasks.push(tokio::spawn(async move {
                let r = reqwest::Client::new()
                    .post(format!("{api}/v1/auth/confirm_user"))
                    .header("authorization", key)
                    .json(&json!({"flow_id": flow_id, "user_id": who}))
                    .send()
                    .await
                    .unwrap();
                (who, r.status().as_u16())
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        let (_, st) = w.status(r["id"].as_str().unwrap(), 0).await;
        let won_by_user = st["status"] == "completed";
        for (who, code) in &answers {
            match code {
                200 => assert!(won_by_user && *who == user, "{answers:?}"),
                400 => assert!(!won_by_user && who == "intruder", "{answers:?}"),
                404 => {}
                other => panic!("unexpected {other}: {answers:?}"),
            }
        }
        assert!(answers.iter().any(|(_, c)| *c != 404), "{answers:?}");
        if won_by_user {
            assert_eq!(st["context"]["user_info"]["id"], D_ALICE);
        } else {
            assert_eq!(st["status"], "failed");
        }
    }
    w.app.stop().await;
}

#[tokio::test]
async fn v_t10_callers_cannot_set_authorize_parameters() {
    let w = world().await;
    for (field, body) in [
        (
            "prompt",
            json!({"user_id": "a", "prompt": "none", "auth_requirement": {"provider_id": "discord"}}),
        ),
        (
            "redirect_uri",
            json!({"user_id": "a", "auth_requirement": {"provider_id": "discord", "redirect_uri": "https://evil.example"}}),
        ),
        (
            "state",
            json!({"user_id": "a", "auth_requirement": {"provider_id": "discord", "oauth2": {"state": "x"}}}),
        ),
        (
            "response_type",
            json!({"user_id": "a", "response_type": "token", "auth_requirement": {"provider_id": "discord"}}),
        ),
    ] {
        let (s, b) = w.authorize_body(body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
        assert_eq!(b["name"], "invalid_request");
        assert!(b["message"].as_str().unwrap().starts_with(field), "{b}");
    }
    let r = support::request(
        &w.app,
        Method::POST,
        "/v1/auth/authorize",
        Some(&w.app_key),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let dup = reqwest::Client::new()
        .post(format!("{}/v1/auth/authorize", w.app.api))
        .header("authorization", &w.app_key)
        .header("content-type", "application/json")
        .body(r#"{"user_id":"a","auth_requirement":{"provider_id":"discord","oauth2":{"scopes":["guilds"],"scopes":["email"]}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::BAD_REQUEST);
    // Every authorize URL has each fixed parameter exactly once.
    let (_, r) = w.authorize("a", &["guilds"]).await;
    let mut b = Browser::new();
    let to_discord = b.click_through(&link(&r)).await;
    let url = url::Url::parse(to_discord.location.as_deref().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    for (k, v) in [
        ("response_type", Some("code")),
        ("client_id", None),
        ("redirect_uri", None),
        ("scope", Some("guilds identify")),
        ("state", None),
        ("code_challenge", None),
        ("code_challenge_method", Some("S256")),
        ("prompt", Some("consent")),
    ] {
        let found: Vec<&(String, String)> = pairs.iter().filter(|(n, _)| n == k).collect();
        assert_eq!(found.len(), 1, "{k} in {url}");
        if let Some(v) = v {
            assert_eq!(found[0].1, v, "{k}");
        }
    }
    assert_eq!(pairs.len(), 8, "{url}");
    w.app.stop().await;
}

#[tokio::test]
async fn v_t11_a_second_browser_is_told_the_link_was_used_and_previews_burn_nothing() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let url = link(&r);
    // A link unfurler fetches the page first: nothing changes.
    let preview = reqwest::Client::new()
        .get(&url)
        .header("user-agent", "Discordbot/2.0")
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), StatusCode::OK);
    let html = preview.text().await.unwrap();
    assert!(
        html.contains("Acme &lt;Agents&gt;"),
        "the tenant's name, escaped"
    );
    assert!(html.contains("guilds"));
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let to_discord = alice.click_through(&url).await;
    assert_eq!(to_discord.status, StatusCode::SEE_OTHER);
    // bob's browser: GET and POST both say "already used"; no redirect to Discord.
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let page = bob.get(&url).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("already used"));
    let page = bob.post_form(&url, "csrf=x.y").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.location.is_none());
    let fresh = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(
        fresh.status(),
        StatusCode::FORBIDDEN,
        "the page is refused once bound"
    );
    // alice can click again (back button): a fresh state; the old Discord tab fails.
    let again = alice.click_through(&url).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let at_discord = alice.get(&to_discord.location.unwrap()).await;
    let stale = alice.get(&at_discord.location.unwrap()).await;
    assert_eq!(stale.status, StatusCode::BAD_REQUEST, "{}", stale.body);
    let at_discord = alice.get(&again.location.unwrap()).await;
    let cb = alice.get(&at_discord.location.unwrap()).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    w.app.stop().await;
}

#[tokio::test]
async fn v_t11_a_second_browser_with_its_own_csrf_pair_is_audited() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let url = link(&r);
    // bob loads the page before alice clicks (both hold valid CSRF pairs).
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let bob_page = bob.get(&url).await;
    let bob_csrf = csrf_field(&bob_page.body);
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    assert_eq!(
        alice.click_through(&url).await.status,
        StatusCode::SEE_OTHER
    );
    let page = bob
        .post_form(&url, &format!("csrf={}", urlencode(&bob_csrf)))
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("already used"));
    w.assert_audited(&["link_reuse_attempt"]).await;
    w.app.stop().await;
}

#[tokio::test]
async fn v_t12_reauthorization_with_another_discord_account_is_audited_as_account_switched() {
    let w = world().await;
    connect(&w, "alice", D_ALICE, &["guilds"]).await;
    let before = w.revocations().await;
    // A scope upgrade, consented with D_bob's Discord account.
    let (_, r) = w.authorize("alice", &["email"]).await;
    assert_eq!(
        r["scopes"],
        json!(["email", "guilds", "identify"]),
        "incremental"
    );
    let mut b = w.browser(D_BOB, Some("alice")).await;
    let (page, _) = b.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    w.assert_audited(&["account_switched"]).await;
    assert_eq!(
        w.connections().await,
        vec![("alice".to_owned(), D_BOB.to_owned())]
    );
    assert_eq!(
        w.revocations().await,
        before + 1,
        "D_alice's old grant was revoked"
    );
    w.app.stop().await;
}

/// The tenant's connections of `user` as (id, status, Discord user id).
async fn connection_rows(w: &World, user: &str) -> Vec<(String, String, String)> {
    let (s, list) = support::call(
        &w.app,
        Method::GET,
        &format!("/v1/admin/user_connections?user_id={user}"),
        &w.admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["connection_status"].as_str().unwrap().to_owned(),
                c["provider_user_info"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn acknowledge(w: &World, id: &str) -> (StatusCode, Value) {
    support::call(
        &w.app,
        Method::POST,
        &format!("/v1/admin/user_connections/{id}/acknowledge"),
        &w.admin,
        None,
    )
    .await
}

#[tokio::test]
async fn v_t12_with_require_ack_the_old_grant_serves_until_an_admin_acknowledges_the_switch() {
    let w = world().await;
    let put = |body: Value| {
        support::call(
            &w.app,
            Method::PUT,
            "/v1/admin/settings/session_verification",
            &w.admin,
            Some(body),
        )
    };
    let (s, b) = put(json!({"account_switch": "sometimes"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["name"], "invalid_request");
    let (s, b) = put(json!({"account_switch": "require_ack"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["account_switch"], "require_ack");
    assert!(b["verifier_url"].is_string(), "other settings stay: {b}");

    let first = connect(&w, "alice", D_ALICE, &["guilds"]).await;
    let old_token = first["context"]["token"].as_str().unwrap().to_owned();
    let before = w.revocations().await;
    // An upgrade, consented with D_bob's Discord account.
    let (_, r) = w.authorize("alice", &["email"]).await;
    let mut b = w.browser(D_BOB, Some("alice")).await;
    let (page, _) = b.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    w.assert_audited(&["account_switched", "connection.awaiting_ack"])
        .await;

    // Until acknowledged: the old grant serves, the switched authorization shows no token of
    // another account, nothing is revoked.
    let (_, still) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(still["status"], "completed", "{still}");
    assert_eq!(still["context"]["token"], old_token.as_str());
    let (_, switched) = w.status(r["id"].as_str().unwrap(), 0).await;
    assert_eq!(switched["status"], "completed", "{switched}");
    assert!(
        switched.get("context").is_none_or(Value::is_null),
        "{switched}"
    );
    assert_eq!(w.revocations().await, before);
    let rows = connection_rows(&w, "alice").await;
    let status_of = |d: &str| rows.iter().find(|r| r.2 == d).map(|r| r.1.clone());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(status_of(D_ALICE).as_deref(), Some("active"));
    assert_eq!(status_of(D_BOB).as_deref(), Some("awaiting_ack"));
    let active = rows.iter().find(|r| r.2 == D_ALICE).unwrap().0.clone();
    let waiting = rows.iter().find(|r| r.2 == D_BOB).unwrap().0.clone();

    // Only a waiting connection can be acknowledged; unknown ids are 404.
    let (s, b) = acknowledge(&w, &active).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    let (s, _) = acknowledge(&w, "grt_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = acknowledge(&w, "nonsense").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Acknowledged: D_bob's grant serves, D_alice's is deleted and revoked at Discord.
    let (s, c) = acknowledge(&w, &waiting).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["connection_status"], "active");
    assert_eq!(c["provider_user_info"]["id"], D_BOB);
    assert_eq!(
        w.connections().await,
        vec![("alice".to_owned(), D_BOB.to_owned())]
    );
    assert_eq!(
        w.revocations().await,
        before + 1,
        "D_alice's grant was revoked"
    );
    assert!(!w.token_alive(&old_token).await);
    let (_, now) = w.authorize("alice", &["email", "guilds"]).await;
    assert_eq!(now["status"], "completed", "{now}");
    assert_eq!(now["context"]["user_info"]["id"], D_BOB);
    w.assert_audited(&["connection.acknowledge"]).await;
    let (s, _) = acknowledge(&w, &waiting).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "acknowledged once");
    w.app.stop().await;
}

#[tokio::test]
async fn v15_a_verifier_self_test_is_decided_by_confirm_user_and_never_becomes_a_grant() {
    let w = world().await;
    let verifier = format!("{}/verify", w.tenant_app.origin);
    let validate = |key: String, body: Value| {
        let app = &w.app;
        async move {
            support::call(
                app,
                Method::POST,
                "/v1/auth/validate_custom_verifier",
                &key,
                Some(body),
            )
            .await
        }
    };
    let good = json!({"user_id": "alice", "verifier_url": verifier});
    let (s, b) = validate(w.app_key.clone(), good.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an admin key's route: {b}");
    for bad in [
        json!({"user_id": "", "verifier_url": verifier}),
        json!({"user_id": "alice", "verifier_url": "ftp://app.example/verify"}),
        json!({"user_id": "alice", "verifier_url": format!("{verifier}?user=alice")}),
        json!({"user_id": "alice"}),
    ] {
        let (s, b) = validate(w.admin.clone(), bad.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} → {b}");
        assert_eq!(b["name"], "invalid_request", "{b}");
    }

    // alice, signed in to the app, opens the verifier with the test's flow_id: it confirms her.
    let (s, t) = validate(w.admin.clone(), good.clone()).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let flow_id = t["flow_id"].as_str().unwrap().to_owned();
    let result = t["next_uri"].as_str().unwrap().to_owned();
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let page = alice.get(&format!("{verifier}?flow_id={flow_id}")).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(result.as_str()));
    let shown = alice.get(&result).await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(
        shown.body.contains("Verifier test passed"),
        "{}",
        shown.body
    );
    // An identical retry gets the recorded answer; anyone else, 404.
    let (s, again) = w.confirm(&w.app_key, &flow_id, "alice").await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["next_uri"], result.as_str());
    let (s, _) = w.confirm(&w.app_key, &flow_id, "bob").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // bob's browser confirms a test started for alice: it fails.
    let (_, t2) = validate(w.admin.clone(), good).await;
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let page = bob
        .get(&format!(
            "{verifier}?flow_id={}",
            t2["flow_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("user_mismatch"), "{}", page.body);
    let shown = bob.get(t2["next_uri"].as_str().unwrap()).await;
    assert!(
        shown.body.contains("Verifier test failed"),
        "{}",
        shown.body
    );

    // Tests release nothing and connect nobody; their ids are not authorizations.
    assert!(w.connections().await.is_empty());
    let test_id = result.rsplit('/').next().unwrap();
    let (s, _) = w.status(test_id, 0).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    w.assert_audited(&[
        "verifier_test.start",
        "verifier_test.completed",
        "verifier_test.failed",
    ])
    .await;
    w.app.stop().await;
}

#[tokio::test]
async fn an_address_that_keeps_missing_links_and_states_gets_429_and_discord_hears_nothing() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let link = link(&r);
    let random = || latchkey_core::authorization::new_capability();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap() }
    };
    // L10 and Q27: random start tokens and random callbacks from one address.
    for i in 0..latchkey_authorization::limits::MISS_LIMIT {
        let url = if i % 2 == 0 {
            format!(
                "{}/oauth/start/{}",
                w.app.api,
                secrecy::ExposeSecret::expose_secret(&random())
            )
        } else {
            format!(
                "{}/oauth/callback/{}?code=x&state={}",
                w.app.api,
                w.provider_ref,
                secrecy::ExposeSecret::expose_secret(&random())
            )
        };
        let s = get(url).await.status();
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::BAD_REQUEST,
            "{s}"
        );
    }
    let r = get(format!(
        "{}/oauth/start/{}",
        w.app.api,
        secrecy::ExposeSecret::expose_secret(&random())
    ))
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "60");
    // The address is limited on every browser route, real links included, for the minute.
    assert_eq!(
        get(link.clone()).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another address is not.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let page = other.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // None of it reached Discord.
    assert!(w.sim_requests("/api/oauth2/token").await.is_empty());
    w.app.stop().await;
}

#[tokio::test]
async fn scope_upgrade_by_the_same_account_replaces_the_grant_without_revoking() {
    let w = world().await;
    let first = connect(&w, "alice", D_ALICE, &["guilds"]).await;
    let before = w.revocations().await;
    let (_, r) = w.authorize("alice", &["email"]).await;
    // Until the upgrade completes, the old grant keeps serving.
    let (_, old) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(old["status"], "completed");
    let mut b = w.browser(D_ALICE, Some("alice")).await;
    let (page, _) = b.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let (_, now) = w.authorize("alice", &["email", "guilds"]).await;
    assert_eq!(now["status"], "completed", "{now}");
    assert_eq!(now["scopes"], json!(["email", "guilds", "identify"]));
    assert_eq!(now["context"]["user_info"]["email"], "alice@example.com");
    assert_ne!(now["context"]["token"], first["context"]["token"]);
    assert_eq!(w.revocations().await, before);
    assert_eq!(w.connections().await.len(), 1);
    w.app.stop().await;
}

#[tokio::test]
async fn v_t14_skip_mode_completes_at_the_callback_and_is_recorded_as_unverified() {
    let w = World::start(Options {
        verifier: false,
        ..Options::default()
    })
    .await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let mut b = w.browser(D_ALICE, None).await;
    let cb = b.consent(&link(&r)).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER);
    assert_eq!(cb.location.unwrap(), format!("{}/oauth/done", w.app.api));
    let (_, st) = w.status(r["id"].as_str().unwrap(), 0).await;
    assert_eq!(st["status"], "completed");
    w.assert_audited(&["authorization.completed_unverified"])
        .await;
    w.app.stop().await;
}

#[tokio::test]
async fn v_t14_without_a_verifier_or_with_the_flag_forbidden_authorize_fails_closed() {
    // The operator forbids skipping: a tenant that had set it fails closed.
    let w = World::start(Options {
        verifier: true,
        skip_allowed: Some(false),
        ..Options::default()
    })
    .await;
    let (s, b) = support::call(
        &w.app,
        Method::PUT,
        "/v1/admin/settings/session_verification",
        &w.admin,
        Some(json!({"verifier_url": null})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["name"], "verification_not_configured");
    assert!(b["message"].as_str().unwrap().contains("verifier_url"));
    let (s, _) = support::call(
        &w.app,
        Method::PUT,
        "/v1/admin/settings/session_verification",
        &w.admin,
        Some(json!({"unsafe_skip_verification": true})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A tenant that set the flag while the operator still allowed it (written here straight to
    // the store) fails closed now that the operator forbids it.
    let tenant = latchkey_core::TenantId::parse(&w.tenant).unwrap();
    let settings = latchkey_core::settings::VerificationSettings {
        unsafe_skip_verification: true,
        ..latchkey_core::settings::VerificationSettings::default()
    };
    let actor = latchkey_core::audit::Actor {
        id: "test".to_owned(),
        request_id: None,
    };
    w.app
        .store
        .put_verification_settings(
            tenant,
            &settings,
            &latchkey_core::audit::AuditEvent::success(&actor, "settings.put", None),
        )
        .await
        .unwrap();
    let (s, b) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["name"], "verification_not_configured");
    assert!(
        b["message"].as_str().unwrap().contains("does not allow"),
        "{b}"
    );
    w.app.stop().await;
}

async fn remove_verifier(w: &World) {
    let (s, _) = support::call(
        &w.app,
        Method::PUT,
        "/v1/admin/settings/session_verification",
        &w.admin,
        Some(json!({"verifier_url": null})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn v_t14_a_verifier_removed_after_start_fails_closed_at_the_click_or_the_callback() {
    let w = world().await;
    // Removed after the click: the callback fails closed and revokes what it exchanged.
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let mut b = w.browser(D_ALICE, Some("alice")).await;
    let to_discord = b.click_through(&link(&r)).await;
    assert_eq!(to_discord.status, StatusCode::SEE_OTHER);
    let (_, r2) = w.authorize("bob", &["guilds"]).await;
    remove_verifier(&w).await;
    let before = w.revocations().await;
    let at_discord = b.get(&to_discord.location.unwrap()).await;
    let cb = b.get(&at_discord.location.unwrap()).await;
    assert_eq!(cb.status, StatusCode::FORBIDDEN, "{}", cb.body);
    assert!(cb.location.is_none());
    let (_, st) = w.status(r["id"].as_str().unwrap(), 0).await;
    assert_eq!(st["status"], "failed");
    assert_eq!(w.revocations().await, before + 1);
    // Removed before the click (L9): no redirect to Discord, the flow fails closed.
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let page = bob.get(&link(&r2)).await;
    let click = bob
        .post_form(
            &link(&r2),
            &format!("csrf={}", urlencode(&csrf_field(&page.body))),
        )
        .await;
    assert_eq!(click.status, StatusCode::FORBIDDEN, "{}", click.body);
    assert!(click.location.is_none());
    let (_, st) = w.status(r2["id"].as_str().unwrap(), 0).await;
    assert_eq!(st["status"], "failed");
    w.app.stop().await;
}

#[tokio::test]
async fn confirm_user_bad_input_catalogue() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let mut b = w.browser(D_ALICE, None).await;
    let cb = b.consent(&link(&r)).await;
    let flow_id = flow_id_of(&cb.location.unwrap());
    // CU1, CU5: missing, empty, oversized, non-ASCII → 400 and nothing decided.
    for body in [
        json!({"user_id": "alice"}),
        json!({"flow_id": "", "user_id": "alice"}),
        json!({"flow_id": flow_id, "user_id": ""}),
        json!({"flow_id": "x".repeat(600), "user_id": "alice"}),
        json!({"flow_id": "é".repeat(20), "user_id": "alice"}),
        json!({"flow_id": flow_id, "user_id": "a".repeat(2000)}),
    ] {
        let (s, e) = support::call(
            &w.app,
            Method::POST,
            "/v1/auth/confirm_user",
            &w.app_key,
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {e}");
        assert_eq!(e["name"], "invalid_request");
    }
    // CU7: an admin key → 403; no key → 401 without CORS headers (CU8).
    let (s, _) = w.confirm(&w.admin, &flow_id, "alice").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let r2 = reqwest::Client::new()
        .post(format!("{}/api/v1/oauth/confirm_user", w.app.api))
        .header("origin", "https://evil.example")
        .json(&json!({"flow_id": flow_id, "user_id": "alice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r2.status(), StatusCode::UNAUTHORIZED);
    assert!(r2.headers().get("access-control-allow-origin").is_none());
    // CU6: a Unicode variant of the user is a mismatch, and the flow fails.
    let (s, e) = w.confirm(&w.app_key, &flow_id, "ａlice").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["name"], "user_mismatch");
    let (_, st) = w.status(r["id"].as_str().unwrap(), 0).await;
    assert_eq!(st["status"], "failed");
    // CU4: the identical request gets the recorded answer; the right user now gets 404.
    let (s, e2) = w.confirm(&w.app_key, &flow_id, "ａlice").await;
    assert_eq!((s, &e2["name"]), (StatusCode::BAD_REQUEST, &e["name"]));
    let (s, _) = support::call(
        &w.app,
        Method::POST,
        "/api/v1/oauth/confirm_user",
        &w.app_key,
        Some(json!({"flow_id": flow_id, "user_id": "alice"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    w.app.stop().await;
}

#[tokio::test]
async fn callback_head_prefetch_and_ambiguous_answers_consume_nothing() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let to_discord = alice.click_through(&link(&r)).await;
    let at_discord = alice.get(&to_discord.location.unwrap()).await;
    let callback = at_discord.location.unwrap();
    let cookies: Vec<String> = alice
        .cookies(&w.app.api)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Q19: HEAD → 405; a prefetch → 400; Q4: code and error together → 400.
    let head = http
        .head(&callback)
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::METHOD_NOT_ALLOWED);
    let prefetch = http
        .get(&callback)
        .header("cookie", cookies.join("; "))
        .header("sec-purpose", "prefetch")
        .send()
        .await
        .unwrap();
    assert_eq!(prefetch.status(), StatusCode::BAD_REQUEST);
    let both = alice.get(&format!("{callback}&error=access_denied")).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    // Q18: POST → 405.
    let post = http.post(&callback).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    // Still usable by alice.
    let cb = alice.get(&callback).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    // L3: a CSRF value issued for another link is refused.
    let (_, r2) = w.authorize("bob", &["guilds"]).await;
    let (_, r3) = w.authorize("carol", &["guilds"]).await;
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let page = bob.get(&link(&r2)).await;
    let csrf = csrf_field(&page.body);
    let wrong = bob
        .post_form(&link(&r3), &format!("csrf={}", urlencode(&csrf)))
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.location.is_none());
    w.app.stop().await;
}

#[tokio::test]
async fn v_t15_a_cross_site_post_to_the_start_link_is_refused_and_binds_nothing() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let url = link(&r);
    // Another origin auto-submits: no CSRF cookie, foreign Origin.
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&url)
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=abc.def")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get("location").is_none());
    assert!(forged.headers().get("set-cookie").is_none());
    // A valid page and cookie, but a cross-site Origin.
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let page = alice.get(&url).await;
    let csrf = csrf_field(&page.body);
    let cookies = alice.cookies(&w.app.api);
    let cookie: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cross = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(&url)
        .header("origin", "https://evil.example")
        .header("cookie", cookie.join("; "))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={}", urlencode(&csrf)))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
    // alice still can.
    let (page, _) = alice.consent_and_verify(&url).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    w.app.stop().await;
}

#[tokio::test]
async fn v_t3_an_unconfirmed_flow_expires_and_its_tokens_are_revoked() {
    let w = World::start(Options {
        flow_lifetime_secs: Some(3),
        ..Options::default()
    })
    .await;
    let (_, r) = w.authorize("mallory", &["guilds"]).await;
    let before = w.revocations().await;
    // bob consents but is not signed in to the tenant app: nobody confirms.
    let mut bob = w.browser(D_BOB, None).await;
    let (page, flow_id) = bob.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    // The long-poll answers `failed` once the lifetime ends (the reaper ends the flow).
    let t0 = Instant::now();
    let (_, st) = w.status(r["id"].as_str().unwrap(), 20).await;
    assert_eq!(st["status"], "failed", "{st}");
    assert!(t0.elapsed() < Duration::from_secs(15));
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.revocations().await == before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(w.revocations().await, before + 1);
    let (s, _) = w.confirm(&w.app_key, &flow_id, "mallory").await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "an expired flow_id releases nothing"
    );
    assert!(w.connections().await.is_empty());
    w.assert_audited(&["authorization.expired"]).await;
    w.app.stop().await;
}

#[tokio::test]
async fn discord_access_denied_fails_the_authorization_with_a_page() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let mut b = w.browser(D_ALICE, Some("alice")).await;
    let to_discord = b.click_through(&link(&r)).await;
    let at_discord = b
        .get(&format!(
            "{}&sim_decision=deny",
            to_discord.location.unwrap()
        ))
        .await;
    assert_eq!(at_discord.status.as_u16(), 302);
    let page = b.get(&at_discord.location.unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("cancelled"), "{}", page.body);
    // A failed authorization answers a waiting poll after min(wait, 5) s, not at once.
    let t0 = Instant::now();
    let (_, st) = w.status(r["id"].as_str().unwrap(), 2).await;
    assert_eq!(st["status"], "failed");
    assert!(t0.elapsed() >= Duration::from_secs(2));
    assert!(st.get("url").is_none() && st.get("context").is_none());
    w.app.stop().await;
}

#[tokio::test]
async fn authorize_validates_and_reuses_pending_authorizations() {
    let w = world().await;
    let (_, a) = w.authorize("alice", &["guilds"]).await;
    let (_, b) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(a["id"], b["id"], "reused");
    assert_eq!(a["url"], b["url"]);
    let (_, c) = w.authorize("alice", &[]).await;
    assert_eq!(
        c["scopes"],
        json!(["email", "guilds", "guilds.members.read", "identify"]),
        "defaults"
    );
    assert_ne!(a["id"], c["id"]);
    for (body, status, name) in [
        (
            json!({"user_id": "alice", "auth_requirement": {"id": "nope"}}),
            400,
            "unknown_provider",
        ),
        (
            json!({"user_id": "alice", "auth_requirement": {}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord", "provider_type": "api_key"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": ["connections"]}}}),
            403,
            "scope_not_allowed",
        ),
        (
            json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": ["bad scope"]}}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": [""]}}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "", "auth_requirement": {"provider_id": "discord"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "a".repeat(257), "auth_requirement": {"provider_id": "discord"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "al\u{0}ice", "auth_requirement": {"provider_id": "discord"}}),
            400,
            "invalid_request",
        ),
        (
            json!({"user_id": "alice", "next_uri": "https://evil.example/x", "auth_requirement": {"provider_id": "discord"}}),
            400,
            "next_uri_not_allowed",
        ),
        (
            json!({"user_id": "alice", "next_uri": "javascript:alert(1)", "auth_requirement": {"provider_id": "discord"}}),
            400,
            "next_uri_not_allowed",
        ),
        (
            json!({"user_id": "alice", "next_uri": format!("{}@evil.example/", w.tenant_app.origin), "auth_requirement": {"provider_id": "discord"}}),
            400,
            "next_uri_not_allowed",
        ),
    ] {
        let (s, b) = w.authorize_body(body.clone()).await;
        assert_eq!(s.as_u16(), status, "{body} → {b}");
        assert_eq!(b["name"], name, "{body} → {b}");
    }
    // An allowed next_uri is what the verifier gets back.
    let next = format!("{}/home", w.tenant_app.origin);
    let (_, r) = w
        .authorize_body(json!({"user_id": "bob", "next_uri": next, "auth_requirement": {"provider_id": "discord"}}))
        .await;
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let (page, _) = bob.consent_and_verify(&link(&r)).await;
    assert_eq!(page.location.as_deref(), Some(next.as_str()));
    // Status: unknown and malformed ids are 404; bad wait is 400.
    let (s, _) = w.status("auth_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = w.status("nope", 0).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = support::call(
        &w.app,
        Method::GET,
        "/v1/auth/status?id=x&wait=-1",
        &w.app_key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = support::call(&w.app, Method::GET, "/v1/auth/status", &w.app_key, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Only app keys.
    let (s, _) = w.confirm(&w.admin, "x", "alice").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    w.app.stop().await;
}

#[tokio::test]
async fn callback_bad_input_changes_nothing() {
    let w = world().await;
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let to_discord = alice.click_through(&link(&r)).await;
    let at_discord = alice.get(&to_discord.location.unwrap()).await;
    let callback = at_discord.location.unwrap();
    let u = url::Url::parse(&callback).unwrap();
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    let base = format!("{}{}", w.app.api, u.path());
    let other_ref = format!(
        "{}/oauth/callback/prv_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        w.app.api
    );
    let huge = "A".repeat(5000);
    let cases = [
        format!("{base}?code={}", q["code"]),
        format!(
            "{base}?state={}&state={}&code={}",
            q["state"], q["state"], q["code"]
        ),
        format!("{base}?state={}&code={}&code=x", q["state"], q["code"]),
        format!("{base}?state={huge}&code={}", q["code"]),
        format!("{base}?state=not-ours&code={}", q["code"]),
        format!("{base}?state={}&code={huge}", q["state"]),
        format!("{other_ref}?state={}&code={}", q["state"], q["code"]),
        format!("{base}?state={}", q["state"]),
        format!(
            "{base}?state={}&error=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
            "B".repeat(43)
        ),
    ];
    for url in &cases {
        let page = alice.get(url).await;
        assert!(
            page.status == StatusCode::BAD_REQUEST || page.status == StatusCode::NOT_FOUND,
            "{url} → {}",
            page.status
        );
        assert!(!page.body.contains("<script>"), "{url}");
        assert!(page.location.is_none());
    }
    // Another browser replaying the real callback: no binding cookie.
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let page = bob.get(&callback).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    // The flow is untouched: alice completes, once.
    let cb = alice.get(&callback).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER, "{}", cb.body);
    let replay = alice.get(&callback).await;
    assert_ne!(
        replay.status,
        StatusCode::SEE_OTHER,
        "a replayed state is refused"
    );
    w.app.stop().await;
}

/// A world on PostgreSQL and a second replica `b` on the same database (same keys).
async fn two_replicas() -> Option<(World, support::TestApp, support::PgDb)> {
    use latchkey_core::crypto::KeyMaterial;
    let keys = (
        KeyMaterial::generate().to_base64().to_string(),
        KeyMaterial::generate().to_base64().to_string(),
    );
    let (w, db) = pg_world(Some(keys.clone())).await?;
    let b = support::spawn_app_with(Some(db.url.clone()), move |s| {
        s.encryption.master_keys = vec![keys.0.into()];
        s.auth.peppers = vec![keys.1.into()];
    })
    .await;
    Some((w, b, db))
}

#[tokio::test]
async fn v_t1_and_v_t2_on_postgres() {
    let Some((w, db)) = pg_world(None).await else {
        return;
    };
    let done = connect(&w, "alice", D_ALICE, &["guilds"]).await;
    assert_eq!(done["context"]["user_info"]["id"], D_ALICE);
    let (_, r) = w.authorize("mallory", &["guilds"]).await;
    let mut bob = w.browser(D_BOB, Some("bob")).await;
    let (page, _) = bob.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let (_, st) = w.status(r["id"].as_str().unwrap(), 0).await;
    assert_eq!(st["status"], "failed");
    assert_eq!(
        w.connections().await,
        vec![("alice".to_owned(), D_ALICE.to_owned())]
    );
    w.app.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn a_completion_on_one_replica_wakes_a_long_poll_on_another() {
    let Some((w, b, db)) = two_replicas().await else {
        return;
    };
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    let id = r["id"].as_str().unwrap().to_owned();
    let waiter = {
        let api = b.api.clone();
        let key = w.app_key.clone();
        let id = id.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let r: Value = reqwest::Client::new()
                .get(format!("{api}/v1/auth/status?id={id}&wait=50"))
                .header("authorization", key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (r, t0.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let started = Instant::now();
    let (page, _) = alice.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let completed_after = started.elapsed();
    let (body, waited) = waiter.await.unwrap();
    assert_eq!(body["status"], "completed", "{body}");
    assert_eq!(body["context"]["user_info"]["id"], D_ALICE);
    // Woken by the other replica's notice, not by the end of the 50 s hold.
    assert!(
        waited < completed_after + Duration::from_secs(10),
        "waited {waited:?}"
    );
    b.stop().await;
    w.app.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn the_grpc_authorization_service_mirrors_rest() {
    use latchkey_api::grpc::v1 as pb;
    use pb::authorization_client::AuthorizationClient;
    use support::grpc::req;
    let w = world().await;
    let mut c = AuthorizationClient::connect(w.app.api.clone())
        .await
        .unwrap();
    let start = |user: &str, scopes: &[&str]| pb::StartRequest {
        user_id: user.to_owned(),
        auth_requirement: Some(pb::AuthRequirement {
            provider_id: "discord".to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }),
        next_uri: None,
    };
    let a = c
        .start(req(Some(&w.app_key), start("alice", &["guilds"])))
        .await
        .unwrap()
        .into_inner()
        .authorization
        .unwrap();
    assert_eq!(a.status, "pending");
    assert_eq!(a.scopes, ["guilds", "identify"]);
    // The same pending authorization as REST's (reuse across transports).
    let (_, rest) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(rest["id"], a.id.as_str());
    assert_eq!(rest["url"], a.url.clone().unwrap().as_str());

    let mut alice = w.browser(D_ALICE, None).await;
    let cb = alice.consent(a.url.as_deref().unwrap()).await;
    let flow_id = flow_id_of(&cb.location.unwrap());
    let wrong = c
        .confirm_user(req(
            Some(&w.app_key),
            pb::ConfirmUserRequest {
                flow_id: "x".repeat(43),
                user_id: "alice".to_owned(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), tonic::Code::NotFound);
    let ok = c
        .confirm_user(req(
            Some(&w.app_key),
            pb::ConfirmUserRequest {
                flow_id,
                user_id: "alice".to_owned(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.auth_id, a.id);
    let done = c
        .get_status(req(
            Some(&w.app_key),
            pb::GetStatusRequest {
                id: a.id.clone(),
                wait: 5,
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .authorization
        .unwrap();
    assert_eq!(done.status, "completed");
    let ctx = done.context.unwrap();
    let info: Value = serde_json::from_str(&ctx.user_info_json).unwrap();
    assert_eq!(info["id"], D_ALICE);

    // Errors as REST: unknown id, wrong role, bad field.
    let e = c
        .get_status(req(
            Some(&w.app_key),
            pb::GetStatusRequest {
                id: "auth_x".to_owned(),
                wait: 0,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let e = c
        .start(req(Some(&w.admin), start("alice", &["guilds"])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    let e = c
        .start(req(Some(&w.app_key), start("alice", &["connections"])))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::PermissionDenied);
    assert_eq!(
        e.metadata().get("latchkey-error-name").unwrap(),
        "scope_not_allowed"
    );
    let e = c.start(req(None, start("alice", &[]))).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unauthenticated);
    w.app.stop().await;
}

/// 20 concurrent `authorize` calls, spread over `apis`, for alice's grant: their tokens.
async fn concurrent_authorize(w: &World, apis: &[String]) -> Vec<Value> {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let api = apis[i % apis.len()].clone();
        let key = w.app_key.clone();
        tasks.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(format!("{api}/v1/auth/authorize"))
                .header("authorization", key)
                .json(&json!({"user_id": "alice", "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": ["guilds"]}}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

/// Connects alice with a token close to expiry, then lets Discord issue long-lived tokens,
/// slowly (300 ms per token call), so that concurrent refreshes would overlap.
async fn near_expiry(w: &World) {
    w.sim_settings(json!({"token.access_ttl_s": 200})).await;
    connect(w, "alice", D_ALICE, &["guilds"]).await;
    w.sim_settings(json!({"token.access_ttl_s": 604_800})).await;
    w.sim_fault(
        json!({"match": {"method": "POST", "path": "/api/oauth2/token"}, "trigger": {"count": null},
                      "action": {"kind": "delay", "ms": 300}}),
    )
    .await;
}

fn one_token(answers: &[Value]) -> String {
    let token = answers[0]["context"]["token"].as_str().unwrap().to_owned();
    for a in answers {
        assert_eq!(a["status"], "completed", "{a}");
        assert_eq!(
            a["context"]["token"],
            token.as_str(),
            "every caller got the refreshed token"
        );
    }
    token
}

#[tokio::test]
async fn a_grant_close_to_expiry_is_refreshed_exactly_once_before_it_is_released() {
    let w = world().await;
    near_expiry(&w).await;
    let before = w.refreshes().await;
    let answers = concurrent_authorize(&w, std::slice::from_ref(&w.app.api)).await;
    let token = one_token(&answers);
    assert_eq!(
        w.refreshes().await,
        before + 1,
        "one refresh for 20 concurrent callers"
    );
    assert!(w.token_alive(&token).await);
    // Fresh now: no further refresh.
    let (_, again) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(again["context"]["token"], token.as_str());
    assert_eq!(w.refreshes().await, before + 1);
    w.app.stop().await;
}

#[tokio::test]
async fn a_refused_refresh_token_marks_the_grant_reauth_required_and_starts_a_new_flow() {
    let w = world().await;
    near_expiry(&w).await;
    let r = reqwest::Client::new()
        .post(format!(
            "{}/__sim/users/{D_ALICE}/deauthorize/{}",
            w.sim.base_url(),
            support::flow::APP_ID
        ))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let (s, again) = w.authorize("alice", &["guilds"]).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["status"], "pending", "{again}");
    w.assert_audited(&["connection.reauth_required"]).await;
    let (_, list) = support::call(
        &w.app,
        Method::GET,
        "/v1/admin/user_connections",
        &w.admin,
        None,
    )
    .await;
    assert_eq!(
        list["items"][0]["connection_status"], "reauth_required",
        "{list}"
    );
    // Re-authorizing as another Discord account is still an account switch (audited), even
    // though the old grant no longer serves; it is replaced.
    let mut b = w.browser(D_BOB, Some("alice")).await;
    let (page, _) = b.consent_and_verify(&link(&again)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    w.assert_audited(&["account_switched"]).await;
    assert_eq!(
        w.connections().await,
        vec![("alice".to_owned(), D_BOB.to_owned())]
    );
    w.app.stop().await;
}

#[tokio::test]
async fn two_replicas_refresh_a_grant_exactly_once() {
    let Some((w, b, db)) = two_replicas().await else {
        return;
    };
    near_expiry(&w).await;
    let before = w.refreshes().await;
    let answers = concurrent_authorize(&w, &[w.app.api.clone(), b.api.clone()]).await;
    let token = one_token(&answers);
    assert_eq!(
        w.refreshes().await,
        before + 1,
        "one refresh across both replicas"
    );
    assert!(w.token_alive(&token).await);
    b.stop().await;
    w.app.stop().await;
    db.drop_now().await;
}

#[tokio::test]
async fn ended_authorizations_are_purged_after_the_retention_unless_they_back_a_grant() {
    let w = World::start(Options {
        retention_secs: Some(1),
        ..Options::default()
    })
    .await;
    let done = connect(&w, "alice", D_ALICE, &["guilds"]).await;
    let done_id = done["id"].as_str().unwrap().to_owned();
    let (_, r) = w.authorize("bob", &["guilds"]).await;
    let failed_id = r["id"].as_str().unwrap().to_owned();
    let mut b = w.browser(D_BOB, Some("bob")).await;
    let to_discord = b.click_through(&link(&r)).await;
    let at_discord = b
        .get(&format!(
            "{}&sim_decision=deny",
            to_discord.location.unwrap()
        ))
        .await;
    b.get(&at_discord.location.unwrap()).await;
    let (_, st) = w.status(&failed_id, 0).await;
    assert_eq!(st["status"], "failed");
    // The purge runs every 10 s; the failed authorization then answers 404 (which ends
    // Arcade clients' loops on `failed`), the one behind alice's grant stays.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _) = w.status(&failed_id, 0).await;
        if s == StatusCode::NOT_FOUND {
            break;
        }
        assert!(Instant::now() < deadline, "not purged");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, kept) = w.status(&done_id, 0).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kept["status"], "completed");
    assert!(kept["context"]["token"].is_string());
    w.app.stop().await;
}

#[tokio::test]
async fn the_providers_guild_and_role_policy_is_applied_with_its_message() {
    let w = world().await;
    let (s, p) = support::call(
        &w.app,
        Method::PATCH,
        "/v1/admin/auth_providers/discord-prod",
        &w.admin,
        Some(
            json!({"policy": {"required_guild_ids": [support::flow::GUILD],
                               "required_role_ids": [support::flow::ROLE],
                               "message": "Join the <Acme> guild and get the member role first."}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    // alice is a member with the role: connected; the consent asked for guilds.members.read.
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    assert!(
        r["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("guilds.members.read")),
        "{r}"
    );
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let (page, _) = alice.consent_and_verify(&link(&r)).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    // bob is a member without the role, mallory no member: refused with the message, revoked.
    for (user, discord) in [("bob", D_BOB), ("mallory", D_MALLORY)] {
        let before = w.revocations().await;
        let (_, r) = w.authorize(user, &["guilds"]).await;
        let mut b = w.browser(discord, Some(user)).await;
        let cb = b.consent(&link(&r)).await;
        assert_eq!(cb.status, StatusCode::FORBIDDEN, "{user}: {}", cb.body);
        assert!(
            cb.body.contains("Join the &lt;Acme&gt; guild"),
            "{}",
            cb.body
        );
        let (_, st) = w.status(r["id"].as_str().unwrap(), 0).await;
        assert_eq!(st["status"], "failed");
        assert_eq!(w.revocations().await, before + 1, "{user}'s tokens revoked");
    }
    assert_eq!(
        w.connections().await,
        vec![("alice".to_owned(), D_ALICE.to_owned())]
    );
    w.app.stop().await;
}
