//! REST errors, rate limits, fault rules, the request log, fixture validation and the demo
//! consent form.

mod common;

use common::*;
use latchkey_discord_sim::{Fixtures, Mode};
use serde_json::{Value, json};

#[tokio::test]
async fn member_not_found_codes_follow_the_setting() {
    let h = start().await;
    let tok = h.tokens("identify guilds guilds.members.read").await;
    let at = tok["access_token"].as_str().unwrap();
    let member: Value = h
        .get_bearer(&format!("/users/@me/guilds/{GUILD}/member"), at)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(member["roles"], json!(["41771983423143936"]));
    let del = h
        .http
        .delete(h.url(&format!("/__sim/guilds/{GUILD}/members/{USER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    let gone = h
        .get_bearer(&format!("/users/@me/guilds/{GUILD}/member"), at)
        .await;
    assert_eq!(gone.status(), 404);
    assert_eq!(
        gone.json::<Value>().await.unwrap(),
        json!({"message": "Unknown Guild", "code": 10004})
    );
    h.settings(json!({"rest.member_not_found_code": "10007"}))
        .await;
    let gone = h
        .get_bearer(&format!("/users/@me/guilds/{GUILD}/member"), at)
        .await;
    assert_eq!(
        gone.json::<Value>().await.unwrap(),
        json!({"message": "Unknown Member", "code": 10007})
    );
}

#[tokio::test]
async fn guild_limit_out_of_range_is_50035_and_unknown_routes_404() {
    let h = start().await;
    let at = h.tokens("guilds").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let resp = h.get_bearer("/users/@me/guilds?limit=201", &at).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 50035);
    assert_eq!(body["message"], "Invalid Form Body");
    assert!(body["errors"]["limit"]["_errors"].is_array());
    assert_eq!(
        h.get_bearer("/users/@me/guilds?limit=0", &at)
            .await
            .status(),
        400
    );
    let nf = h.get_bearer("/nope", &at).await;
    assert_eq!(nf.status(), 404);
    assert_eq!(
        nf.json::<Value>().await.unwrap(),
        json!({"message": "404: Not Found", "code": 0})
    );
    let v3 = h
        .http
        .get(h.url("/api/v3/users/@me"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(v3.json::<Value>().await.unwrap()["code"], 50041);
    // Missing scope → 401.
    assert_eq!(h.get_bearer("/users/@me", &at).await.status(), 401);
}

#[tokio::test]
async fn per_route_limit_gives_429_with_headers() {
    let h = start().await;
    h.settings(json!({"rate_limits.routes": {"GET /users/@me": {"limit": 2, "window_s": 5}}}))
        .await;
    let at = h.tokens("identify").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let first = h.get_bearer("/users/@me", &at).await;
    assert_eq!(first.headers()["x-ratelimit-limit"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "1");
    assert!(first.headers().contains_key("x-ratelimit-bucket"));
    assert_eq!(h.get_bearer("/users/@me", &at).await.status(), 200);
    let limited = h.get_bearer("/users/@me", &at).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(limited.headers()["x-ratelimit-scope"], "user");
    let retry_header: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["message"], "You are being rate limited.");
    assert_eq!(body["global"], false);
    let retry = body["retry_after"].as_f64().unwrap();
    assert!(retry > 0.0 && retry <= 5.0);
    assert_eq!(retry_header, retry.ceil() as u64);
    // An early retry is a violation; the clock moving on resets the window.
    assert_eq!(h.get_bearer("/users/@me", &at).await.status(), 429);
    let kinds: Vec<Value> = h
        .admin_get("/violations")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].clone())
        .collect();
    assert!(kinds.contains(&json!("early_retry")));
    h.admin_post("/clock/advance", json!({"seconds": 6})).await;
    assert_eq!(h.get_bearer("/users/@me", &at).await.status(), 200);
}

#[tokio::test]
async fn fault_502_then_success() {
    let h = start().await;
    let code = h.code("identify").await;
    let rule = h
        .admin_post("/faults", json!({"match": {"method": "POST", "path": "/api/*oauth2/token", "grant_type": "authorization_code"},
                                      "action": {"kind": "status", "status": 502}}))
        .await;
    assert_eq!(rule.status(), 201);
    let failed = h.exchange(&code).await;
    assert_eq!(failed.status(), 502);
    assert!(failed.text().await.unwrap().contains("502 Bad Gateway"));
    assert_eq!(h.exchange(&code).await.status(), 200);
    let faults = h.admin_get("/faults").await;
    assert_eq!(faults[0]["fired"], 1);
}

#[tokio::test]
async fn commit_then_drop_consumes_the_code_without_answering() {
    let h = start().await;
    let code = h.code("identify").await;
    h.admin_post(
        "/faults",
        json!({"match": {"path": "/api/oauth2/token"}, "action": {"kind": "commit_then_drop"}}),
    )
    .await;
    let dropped = h
        .http
        .post(h.url("/api/oauth2/token"))
        .header("authorization", basic())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await;
    assert!(
        dropped.is_err(),
        "the connection must close without a response"
    );
    let retry = h.exchange(&code).await;
    assert_eq!(
        retry.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    assert!(h.last_notes().await.contains(&"code_reused".to_owned()));
}

#[tokio::test]
async fn request_log_never_shows_secrets() {
    let h = start().await;
    let code = h.code("identify").await;
    let tok: Value = h.exchange(&code).await.json().await.unwrap();
    let at = tok["access_token"].as_str().unwrap();
    let rt = tok["refresh_token"].as_str().unwrap();
    h.get_bearer("/users/@me", at).await;
    let log = h
        .http
        .get(h.url("/__sim/requests"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for secret in [code.as_str(), at, rt, VERIFIER, SECRET] {
        assert!(!log.contains(secret), "log leaks {secret}");
    }
    let entries: Value = serde_json::from_str(&log).unwrap();
    let token_call = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/api/oauth2/token")
        .unwrap();
    assert_eq!(token_call["client_auth"], "basic");
    assert_eq!(token_call["client_id"], APP);
    assert!(
        token_call["form"]["code"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert_eq!(token_call["form"]["code"].as_str().unwrap().len(), 19);
    assert_eq!(token_call["headers"]["user-agent"], UA);
    assert_eq!(token_call["status"], 200);
    let filtered = h.admin_get("/requests?path=/api/v10&status=200").await;
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["api_version"], 10);
}

#[tokio::test]
async fn fixture_validation_errors_are_clear() {
    let named = include_str!("../fixtures/demo.json").replace("Acme Agent", "My Discord Bot");
    let err = Fixtures::from_json(&named).unwrap_err().to_string();
    assert!(
        err.contains("Application name cannot contain \"discord\""),
        "{err}"
    );
    let unknown_member = include_str!("../fixtures/demo.json").replace(
        "\"members\": [{\"user_id\": \"80351110224678912\"",
        "\"members\": [{\"user_id\": \"42\"",
    );
    assert!(
        Fixtures::from_json(&unknown_member)
            .unwrap_err()
            .to_string()
            .contains("unknown user 42")
    );
    let many: Vec<String> = (0..11).map(|i| format!("http://h/{i}")).collect();
    let doc = json!({"apps": [{"id": "1", "name": "a", "secret": "s", "redirect_uris": many}]});
    assert!(
        Fixtures::from_json(&doc.to_string())
            .unwrap_err()
            .to_string()
            .contains("redirect URIs")
    );
    let dup = json!({"users": [{"id": "5", "username": "a"}, {"id": "5", "username": "b"}]});
    assert!(
        Fixtures::from_json(&dup.to_string())
            .unwrap_err()
            .to_string()
            .contains("duplicate id 5")
    );
    let h = start().await;
    let resp = h
        .admin_post(
            "/fixtures",
            json!({"apps": [{"id": "x", "name": "n", "secret": "s"}]}),
        )
        .await;
    assert_eq!(resp.status(), 400);
    let settings = h
        .http
        .patch(h.url("/__sim/settings"))
        .json(&json!({"oauth.bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(settings.status(), 400);
    assert!(settings.text().await.unwrap().contains("oauth.bogus"));
}

#[tokio::test]
async fn guild_join_adds_then_reports_existing_member() {
    let h = start().await;
    let tok = h.tokens("identify guilds.join").await;
    let at = tok["access_token"].as_str().unwrap();
    h.http
        .delete(h.url(&format!("/__sim/guilds/{GUILD}/members/{USER}")))
        .send()
        .await
        .unwrap();
    let put = |body: Value| {
        h.http
            .put(h.url(&format!("/api/v10/guilds/{GUILD}/members/{USER}")))
            .header("authorization", "Bot acme-bot-token")
            .json(&body)
            .send()
    };
    let missing = put(json!({})).await.unwrap();
    assert_eq!(missing.status(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["errors"]["access_token"]["_errors"][0]["code"],
        "BASE_TYPE_REQUIRED"
    );
    let added = put(json!({"access_token": at})).await.unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(
        put(json!({"access_token": at})).await.unwrap().status(),
        204
    );
    let stale = put(json!({"access_token": "nope"})).await.unwrap();
    assert_eq!(
        stale.json::<Value>().await.unwrap(),
        json!({"message": "Invalid OAuth2 access token", "code": 50025})
    );
}

#[tokio::test]
async fn demo_consent_form_round_trip() {
    let h = start_mode(Mode::Demo).await;
    let first = h.authorize("identify", &[]).await;
    assert_eq!(first.status(), 302);
    let login = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(login.starts_with("/__sim/login?next="));
    let page = h
        .http
        .get(h.url(&login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Discord simulator — not discord.com"));
    let next: String = form_urlencoded::parse(login.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .into_owned();
    let logged_in = h
        .http
        .post(h.url("/__sim/login"))
        .form(&[("user_id", USER), ("next", next.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), 302);
    let cookie = logged_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let consent = h
        .http
        .get(h.url(&next))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), 200);
    assert_eq!(consent.headers()["x-frame-options"], "DENY");
    let html = consent.text().await.unwrap();
    assert!(html.contains("Authorize") && html.contains("Cancel") && html.contains("Acme Agent"));
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    let field = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = html.find(&marker).unwrap() + marker.len();
        html[start..].split('"').next().unwrap().to_owned()
    };
    let (pending, csrf) = (field("pending"), field("csrf"));
    let forged = h
        .http
        .post(h.url("/__sim/consent"))
        .form(&[
            ("pending", pending.as_str()),
            ("csrf", "bad"),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    // A forged attempt burns the pending request; start again.
    let consent = h
        .http
        .get(h.url(&next))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grab = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        let start = consent.find(&marker).unwrap() + marker.len();
        consent[start..].split('"').next().unwrap().to_owned()
    };
    let done = h
        .http
        .post(h.url("/__sim/consent"))
        .form(&[
            ("pending", grab("pending").as_str()),
            ("csrf", grab("csrf").as_str()),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    let params = location_params(&done);
    assert_eq!(param(&params, "state"), Some(STATE));
    let code = param(&params, "code").unwrap().to_owned();
    assert_eq!(h.exchange(&code).await.status(), 200);
    let _ = (pending, csrf);
}

#[tokio::test]
async fn fixtures_merge_with_what_is_loaded() {
    let sim = latchkey_discord_sim::Simulator::start(latchkey_discord_sim::SimConfig {
        fixtures: Some(
            latchkey_discord_sim::Fixtures::from_json(include_str!("../fixtures/demo.json"))
                .unwrap(),
        ),
        ..Default::default()
    })
    .await
    .unwrap();
    let demo: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/demo.json")).unwrap();
    let user = demo["users"][0]["id"].as_str().unwrap().to_owned();
    let http = reqwest::Client::new();
    let url = format!("{}/__sim/fixtures", sim.base_url());
    // A guild owned by a user loaded earlier: accepted.
    let ok = serde_json::json!({"guilds": [{"id": "500000000000000000", "name": "later", "owner_id": user,
        "roles": [{"id": "500000000000000000", "name": "@everyone", "permissions": "0"}], "members": [{"user_id": user, "roles": []}]}]});
    assert_eq!(
        http.post(&url)
            .json(&ok)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    // A guild owned by nobody known: refused, and nothing changes.
    let bad = serde_json::json!({"guilds": [{"id": "500000000000000001", "name": "orphan", "owner_id": "42", "roles": [], "members": []}]});
    let r = http.post(&url).json(&bad).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("unknown owner"));
    sim.shutdown().await;
}
