//! Authorize, code exchange, refresh and revocation against a started simulator.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn happy_code_flow_reaches_users_me() {
    let h = start().await;
    let code = h.code("identify email guilds").await;
    let resp = h.exchange(&code).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["pragma"], "no-cache");
    let tok: Value = resp.json().await.unwrap();
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["expires_in"], 604800);
    assert_eq!(tok["scope"], "identify email guilds");
    let at = tok["access_token"].as_str().unwrap();
    assert_eq!(at.len(), 30);
    assert!(tok["refresh_token"].is_string());

    let me: Value = h.get_bearer("/users/@me", at).await.json().await.unwrap();
    assert_eq!(me["id"], USER);
    assert_eq!(me["username"], "nelly");
    assert_eq!(me["discriminator"], "0");
    assert_eq!(me["email"], "nelly@example.test");

    let auth: Value = h.get_bearer("/oauth2/@me", at).await.json().await.unwrap();
    assert_eq!(auth["scopes"], json!(["email", "guilds", "identify"]));
    assert_eq!(auth["application"]["id"], APP);
    assert!(auth["expires"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(auth["user"]["id"], USER);

    let guilds: Value = h
        .get_bearer("/users/@me/guilds", at)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(guilds[0]["id"], GUILD);
    assert_eq!(guilds[0]["owner"], true);
    assert_eq!(guilds[0]["permissions"], "18014398509481983");
    assert!(
        h.admin_get("/violations")
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn code_reuse_and_expiry_give_invalid_grant() {
    let h = start().await;
    let code = h.code("identify").await;
    assert_eq!(h.exchange(&code).await.status(), 200);
    let again = h.exchange(&code).await;
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "Invalid \"code\" in request."})
    );
    assert!(h.last_notes().await.contains(&"code_reused".to_owned()));

    let code = h.code("identify").await;
    h.admin_post("/clock/advance", json!({"seconds": 101}))
        .await;
    let late = h.exchange(&code).await;
    assert_eq!(late.status(), 400);
    assert_eq!(
        late.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert!(h.last_notes().await.contains(&"code_expired".to_owned()));
}

#[tokio::test]
async fn redirect_mismatch_is_a_page_error() {
    let h = start().await;
    let resp = h
        .http
        .get(h.url("/oauth2/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", APP),
            ("scope", "identify"),
            ("redirect_uri", "http://127.0.0.1:8080/other"),
            ("sim_user", USER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.headers()["x-discord-sim-error"],
        "invalid_redirect_uri"
    );
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("<meta name=\"discord-sim-error\" content=\"invalid_redirect_uri\">"));
    assert!(html.contains("Invalid OAuth2 redirect_uri"));
    assert!(html.contains("Discord simulator — not discord.com"));

    let unknown = h
        .http
        .get(h.url("/oauth2/authorize?client_id=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.headers()["x-discord-sim-error"], "unknown_client");
}

#[tokio::test]
async fn pkce_missing_short_and_mismatched_verifiers() {
    let h = start().await;
    let code = h.code("identify").await;
    let err = |d: &str| json!({"error": "invalid_request", "error_description": d});
    let missing = h
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        err("Missing \"code_verifier\"")
    );
    let short = h
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "short"),
        ])
        .await;
    assert_eq!(
        short.json::<Value>().await.unwrap(),
        err("Invalid \"code_verifier\"")
    );
    let wrong = "x".repeat(43);
    let mismatch = h
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong),
        ])
        .await;
    assert_eq!(
        mismatch.json::<Value>().await.unwrap(),
        err("Invalid \"code_verifier\"")
    );
    // Failed PKCE checks do not consume the code.
    assert_eq!(h.exchange(&code).await.status(), 200);
}

#[tokio::test]
async fn refresh_rotates_and_kills_the_old_pair() {
    let h = start().await;
    let tok = h.tokens("identify").await;
    let (old_at, old_rt) = (
        tok["access_token"].as_str().unwrap(),
        tok["refresh_token"].as_str().unwrap(),
    );
    let resp = h
        .token(&[("grant_type", "refresh_token"), ("refresh_token", old_rt)])
        .await;
    assert_eq!(resp.status(), 200);
    let new: Value = resp.json().await.unwrap();
    assert_ne!(new["access_token"], tok["access_token"]);
    assert_ne!(new["refresh_token"], tok["refresh_token"]);

    let reuse = h
        .token(&[("grant_type", "refresh_token"), ("refresh_token", old_rt)])
        .await;
    assert_eq!(reuse.status(), 400);
    assert_eq!(
        reuse.json::<Value>().await.unwrap(),
        json!({"error": "invalid_grant", "error_description": "Invalid \"refresh_token\" in request"})
    );
    assert!(
        h.last_notes()
            .await
            .contains(&"refresh_token_already_used".to_owned())
    );
    let old = h.get_bearer("/users/@me", old_at).await;
    assert_eq!(old.status(), 401);
    assert_eq!(
        old.json::<Value>().await.unwrap(),
        json!({"message": "401: Unauthorized", "code": 0})
    );
    assert_eq!(
        h.get_bearer("/users/@me", new["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    let kinds: Vec<Value> = h
        .admin_get("/violations")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].clone())
        .collect();
    assert!(kinds.contains(&json!("refresh_token_reused")));
}

#[tokio::test]
async fn revocation_kills_every_token_of_the_pair() {
    let h = start().await;
    let first = h.tokens("identify").await;
    let second = h.tokens("identify").await;
    let resp = h
        .http
        .post(h.url("/api/oauth2/token/revoke"))
        .header("authorization", basic())
        .form(&[
            ("token", first["access_token"].as_str().unwrap()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({}));
    for tok in [&first, &second] {
        assert_eq!(
            h.get_bearer("/users/@me", tok["access_token"].as_str().unwrap())
                .await
                .status(),
            401
        );
        let rt = h
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tok["refresh_token"].as_str().unwrap()),
            ])
            .await;
        assert_eq!(rt.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn json_body_and_get_are_rejected_like_discord() {
    let h = start().await;
    let resp = h
        .http
        .post(h.url("/api/oauth2/token"))
        .header("authorization", basic())
        .json(&json!({"grant_type": "authorization_code", "code": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "unsupported_grant_type", "error_description": "Grant type None is not supported"})
    );
    assert!(h.last_notes().await.contains(&"json_body".to_owned()));
    let get = h
        .http
        .get(h.url("/api/v10/oauth2/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    assert_eq!(
        get.json::<Value>().await.unwrap(),
        json!({"message": "405: Method Not Allowed", "code": 0})
    );
}

#[tokio::test]
async fn invalid_client_status_follows_the_setting() {
    let h = start().await;
    let bad_basic = |h: &Harness| {
        h.http
            .post(h.url("/api/oauth2/token"))
            .basic_auth(APP, Some("wrong"))
            .form(&[("grant_type", "client_credentials"), ("scope", "identify")])
            .send()
    };
    let resp = bad_basic(&h).await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Basic");
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"error": "invalid_client"})
    );
    let body_auth = h
        .http
        .post(h.url("/api/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", APP),
            ("client_secret", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(body_auth.status(), 400);
    h.settings(json!({"token.invalid_client_status": "400"}))
        .await;
    assert_eq!(bad_basic(&h).await.unwrap().status(), 400);
    h.settings(json!({"token.invalid_client_status": 401}))
        .await;
    assert_eq!(bad_basic(&h).await.unwrap().status(), 401);
}

#[tokio::test]
async fn consent_deny_redirects_with_access_denied_and_state() {
    let h = start().await;
    let plan = h
        .admin_post(
            "/consent/plan",
            json!({"user_id": USER, "decision": "deny"}),
        )
        .await;
    assert_eq!(plan.status(), 200);
    let resp = h.authorize("identify", &[]).await;
    assert_eq!(resp.status(), 302);
    let loc = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(REDIRECT));
    assert!(loc.contains(
        "error_description=The+resource+owner+or+authorization+server+denied+the+request"
    ));
    let params = location_params(&resp);
    assert_eq!(param(&params, "error"), Some("access_denied"));
    assert_eq!(param(&params, "state"), Some(STATE));
    let deny_query = h
        .authorize("identify", &[("sim_user", USER), ("sim_decision", "deny")])
        .await;
    assert_eq!(
        param(&location_params(&deny_query), "error"),
        Some("access_denied")
    );
}

#[tokio::test]
async fn legacy_authorize_redirects_to_the_page() {
    let h = start().await;
    let resp = h
        .http
        .get(h.url("/api/v9/oauth2/authorize?client_id=1&scope=identify"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(
        resp.headers()["location"],
        "/oauth2/authorize?client_id=1&scope=identify"
    );
}
