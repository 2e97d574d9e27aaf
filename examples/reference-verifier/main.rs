//! The reference verifier (docs/verifier.md; security.md V12): the smallest tenant app route
//! that confirms Latchkey's users correctly. Latchkey sends the user's browser to
//! `GET /verify?flow_id=…` after they consented at Discord; this route
//!
//! 1. takes the user from **its own signed-in session** — never from the query string or
//!    anything else the browser sends besides the session cookie;
//! 2. calls `POST /v1/auth/confirm_user {flow_id, user_id}` from the backend with the app key;
//! 3. redirects on success (so `flow_id` leaves the address bar), and shows a plain error when
//!    Latchkey answers `user_mismatch` (someone else's link) or 404 (expired or used).
//!
//! `/login?user=…` stands in for the app's real login (a demo session, never for production).
//!
//! Run: `LATCHKEY_URL=http://127.0.0.1:8080 LATCHKEY_APP_KEY=lk_… PORT=3000 reference-verifier`.
//! `latchkey-verifier-check --app-command reference-verifier --app-url http://127.0.0.1:3000`
//! checks it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde_json::{Value, json};

#[derive(Clone)]
struct App {
    latchkey: String,
    key: String,
    http: reqwest::Client,
    /// Session id → signed-in user (the demo login's sessions).
    sessions: Arc<Mutex<HashMap<String, String>>>,
}

impl App {
    /// The user of the request's session cookie, if signed in.
    fn session_user(&self, headers: &HeaderMap) -> Option<String> {
        let sid = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .flat_map(|c| c.split(';'))
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == "session")
            .map(|(_, v)| v.to_owned())?;
        self.sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&sid)
            .cloned()
    }
}

/// Demo login: signs the browser in as `user`.
async fn login(State(app): State<App>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(user) = q.get("user").filter(|u| !u.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "user is required").into_response();
    };
    let sid = format!("{:032x}", rand::random::<u128>());
    app.sessions
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(sid.clone(), user.clone());
    (
        [(
            header::SET_COOKIE,
            format!("session={sid}; Path=/; HttpOnly; SameSite=Lax"),
        )],
        "signed in",
    )
        .into_response()
}

/// The verifier route.
async fn verify(
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    // 1. The user comes from our own session, and from nothing else.
    let Some(user) = app.session_user(&headers) else {
        return (
            StatusCode::UNAUTHORIZED,
            "Sign in to the app first, then open the link again.",
        )
            .into_response();
    };
    let Some(flow_id) = q.get("flow_id") else {
        return (StatusCode::BAD_REQUEST, "This link is incomplete.").into_response();
    };
    // 2. Confirm from the backend with the app key.
    let answer = app
        .http
        .post(format!("{}/v1/auth/confirm_user", app.latchkey))
        .header(header::AUTHORIZATION, &app.key)
        .json(&json!({"flow_id": flow_id, "user_id": user}))
        .send()
        .await;
    let (status, body) = match answer {
        Ok(r) => {
            let s = r.status();
            (s, r.json::<Value>().await.unwrap_or(Value::Null))
        }
        Err(_) => {
            return (StatusCode::BAD_GATEWAY, "Latchkey could not be reached.").into_response();
        }
    };
    // 3. Redirect on success; a plain page otherwise.
    match (status.as_u16(), body["name"].as_str()) {
        (200, _) => Redirect::to(body["next_uri"].as_str().unwrap_or("/done")).into_response(),
        (400, Some("user_mismatch")) => (
            StatusCode::FORBIDDEN,
            "This Discord connection was started for a different account: nothing was connected.",
        )
            .into_response(),
        (404, _) => (
            StatusCode::NOT_FOUND,
            "This link has expired or was already used.",
        )
            .into_response(),
        _ => (
            StatusCode::BAD_GATEWAY,
            "The connection could not be confirmed.",
        )
            .into_response(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let latchkey = std::env::var("LATCHKEY_URL")?;
    let key = std::env::var("LATCHKEY_APP_KEY")?;
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "3000".to_owned())
        .parse()?;
    let app = App {
        latchkey: latchkey.trim_end_matches('/').to_owned(),
        key,
        http: reqwest::Client::new(),
        sessions: Arc::default(),
    };
    let router = axum::Router::new()
        .route("/login", get(login))
        .route("/verify", get(verify))
        .route(
            "/done",
            get(|| async { "Connected. You can close this window." }),
        )
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, router).await?;
    Ok(())
}
