//! The dashboard's session (issue 8, item 1): an admin key is exchanged for an HttpOnly,
//! `SameSite=Strict` cookie; the cookie stands for that key on admin routes only, writes need
//! the session's CSRF token, and the session ends at sign-out, at expiry and when the key is
//! revoked. The key itself is never stored, in the browser or the database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, call, spawn_app};

struct Browser {
    http: reqwest::Client,
    api: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        Browser {
            http: reqwest::Client::new(),
            api: app.api.clone(),
            cookie: None,
            csrf: None,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut r = self.http.request(method, format!("{}{path}", self.api));
        if let Some(c) = &self.cookie {
            r = r.header("cookie", c);
        }
        if csrf && let Some(t) = &self.csrf {
            r = r.header("x-csrf-token", t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        (status, resp.json().await.unwrap_or(Value::Null), headers)
    }

    async fn sign_in(&mut self, key: &str) -> (StatusCode, Value, Option<String>) {
        let (s, v, h) = self
            .send(
                Method::POST,
                "/v1/dashboard/session",
                Some(json!({"api_key": key})),
                false,
            )
            .await;
        let set = h.get("set-cookie").map(|c| c.to_str().unwrap().to_owned());
        if s == StatusCode::CREATED {
            self.cookie = Some(set.clone().unwrap().split(';').next().unwrap().to_owned());
            self.csrf = v["csrf_token"].as_str().map(str::to_owned);
        }
        (s, v, set)
    }
}

async fn tenant(app: &TestApp) -> (String, String) {
    let (s, t) = call(
        app,
        Method::POST,
        "/v1/platform/tenants",
        &app.operator_key,
        Some(json!({"name": "Dash"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    (
        t["admin_key"].as_str().unwrap().to_owned(),
        t["app_key"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn an_admin_key_becomes_a_session_cookie_for_admin_routes_with_csrf_on_writes() {
    let app = spawn_app(None).await;
    let (admin, app_key) = tenant(&app).await;
    let mut b = Browser::new(&app);

    // Only an admin key signs in; the others are told why, with nothing set.
    for (key, status, name) in [
        (app_key.as_str(), 403, "forbidden"),
        (app.operator_key.as_str(), 403, "forbidden"),
        (
            "lk_key_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa_wrong",
            401,
            "unauthorized",
        ),
        ("not a key", 401, "unauthorized"),
    ] {
        let (s, v, set) = b.sign_in(key).await;
        assert_eq!(
            (s.as_u16(), v["name"].as_str()),
            (status, Some(name)),
            "{v}"
        );
        assert!(set.is_none());
    }
    for bad in [
        json!({"api_key": admin, "extra": 1}),
        json!({"api_key": 5}),
        json!({}),
        json!([admin]),
    ] {
        let (s, v, _) = b
            .send(
                Method::POST,
                "/v1/dashboard/session",
                Some(bad.clone()),
                false,
            )
            .await;
        assert_eq!(
            (s, v["name"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{bad}"
        );
    }

    let (s, session, set) = b.sign_in(&admin).await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    let set = set.unwrap();
    for attr in [
        "latchkey_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=28800",
    ] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    assert!(
        !set.contains(&admin) && !session.to_string().contains(&admin),
        "the key is not handed back"
    );
    assert_eq!(session["tenant_name"], "Dash");
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();

    // Reads with the cookie alone; the session again (after a reload) with the same token.
    let (s, keys, _) = b.send(Method::GET, "/v1/admin/api_keys", None, false).await;
    assert_eq!(s, StatusCode::OK, "{keys}");
    let (s, again, _) = b
        .send(Method::GET, "/v1/dashboard/session", None, false)
        .await;
    assert_eq!(
        (s, again["csrf_token"].as_str()),
        (StatusCode::OK, Some(csrf.as_str()))
    );

    // Writes need the token: without it, or with another, nothing happens.
    let body = json!({"name": "from the dashboard", "role": "app"});
    let (s, v, _) = b
        .send(
            Method::POST,
            "/v1/admin/api_keys",
            Some(body.clone()),
            false,
        )
        .await;
    assert_eq!(
        (s, v["name"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let mut forged = Browser::new(&app);
    forged.cookie = b.cookie.clone();
    forged.csrf = Some("A".repeat(43));
    let (s, _, _) = forged
        .send(Method::POST, "/v1/admin/api_keys", Some(body.clone()), true)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, created, _) = b
        .send(Method::POST, "/v1/admin/api_keys", Some(body), true)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let (_, keys, _) = b.send(Method::GET, "/v1/admin/api_keys", None, false).await;
    assert_eq!(
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["name"] == "from the dashboard")
            .count(),
        1
    );

    // The session is an admin: app and platform routes refuse it; a bad cookie is nobody.
    let (s, _, _) = b
        .send(Method::GET, "/v1/auth/status?id=auth_x", None, false)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = b
        .send(Method::GET, "/v1/platform/tenants", None, false)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let mut stranger = Browser::new(&app);
    stranger.cookie = Some(format!("latchkey_session={}", "B".repeat(43)));
    let (s, v, _) = stranger
        .send(Method::GET, "/v1/admin/api_keys", None, false)
        .await;
    assert_eq!(
        (s, v["name"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    // An Authorization header wins over the cookie.
    let (s, _) = call(
        &app,
        Method::GET,
        "/v1/auth/status?id=auth_x",
        &app_key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Sign-out needs the token too, then ends the session and clears the cookie.
    let (s, _, _) = b
        .send(Method::DELETE, "/v1/dashboard/session", None, false)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, h) = b
        .send(Method::DELETE, "/v1/dashboard/session", None, true)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(
        h.get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let (s, _, _) = b.send(Method::GET, "/v1/admin/api_keys", None, false).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = b
        .send(Method::GET, "/v1/dashboard/session", None, false)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Both ends are in the audit log.
    let (_, log) = call(
        &app,
        Method::GET,
        "/v1/admin/audit_events?action=dashboard.sign_in",
        &admin,
        None,
    )
    .await;
    assert_eq!(log["total_count"], 1, "{log}");
    let (_, log) = call(
        &app,
        Method::GET,
        "/v1/admin/audit_events?action=dashboard.sign_out",
        &admin,
        None,
    )
    .await;
    assert_eq!(log["total_count"], 1, "{log}");
    app.stop().await;
}

#[tokio::test]
async fn sessions_end_when_their_key_is_revoked_or_they_expire() {
    let app = spawn_app(None).await;
    let (admin, _) = tenant(&app).await;
    // A second admin key signs in; revoking it ends its session at once.
    let (_, second) = call(
        &app,
        Method::POST,
        "/v1/admin/api_keys",
        &admin,
        Some(json!({"name": "second", "role": "admin"})),
    )
    .await;
    let mut b = Browser::new(&app);
    assert_eq!(
        b.sign_in(second["secret"].as_str().unwrap()).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        b.send(Method::GET, "/v1/admin/tools", None, false).await.0,
        StatusCode::OK
    );
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/admin/api_keys/{}", second["id"].as_str().unwrap()),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(7);
    while b.send(Method::GET, "/v1/admin/tools", None, false).await.0 != StatusCode::UNAUTHORIZED {
        assert!(
            std::time::Instant::now() < deadline,
            "the session outlived its key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // An expired session is nobody (its expiry moved into the past in the database).
    let mut c = Browser::new(&app);
    assert_eq!(c.sign_in(&admin).await.0, StatusCode::CREATED);
    assert_eq!(
        c.send(Method::GET, "/v1/admin/tools", None, false).await.0,
        StatusCode::OK
    );
    let pool = sqlx::SqlitePool::connect(&app.database_url).await.unwrap();
    let n = sqlx::query("UPDATE dashboard_sessions SET expires_at = 1")
        .execute(&pool)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(
        n, 1,
        "only the live session is stored (the revoked key's went with it)"
    );
    assert_eq!(
        c.send(Method::GET, "/v1/admin/tools", None, false).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The secret is not stored: only its hash.
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT id_hash FROM dashboard_sessions")
        .fetch_all(&pool)
        .await
        .unwrap();
    let secret = c
        .cookie
        .as_ref()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    assert!(
        rows.iter()
            .all(|(h,)| h.len() == 32 && !String::from_utf8_lossy(h).contains(&secret))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_served_under_a_strict_policy_or_says_how_to_build_it() {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Not built: every dashboard path says how to build it.
    let missing = tempfile::tempdir().unwrap();
    let app = support::spawn_app_with(None, |s| {
        s.server.dashboard_dir = missing.path().join("dist");
    })
    .await;
    let r = http
        .get(format!("{}/dashboard/providers", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("make dashboard"));
    app.stop().await;

    // Built: files, the app's index.html for its own paths, and the security headers.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><div id=root></div>",
    )
    .unwrap();
    std::fs::write(dir.path().join("assets/app.js"), "console.log(1)").unwrap();
    let app =
        support::spawn_app_with(None, |s| s.server.dashboard_dir = dir.path().to_owned()).await;
    let r = http
        .get(format!("{}/dashboard", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/dashboard/");
    for (path, body) in [
        ("/dashboard/", "id=root"),
        ("/dashboard/connections", "id=root"),
        ("/dashboard/assets/app.js", "console.log"),
    ] {
        let r = http.get(format!("{}{path}", app.api)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert!(r.text().await.unwrap().contains(body), "{path}");
    }
    let r = http
        .get(format!("{}/dashboard/assets/missing.js", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a missing asset is not the app"
    );
    app.stop().await;
}
