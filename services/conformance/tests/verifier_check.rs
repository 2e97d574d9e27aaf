//! The verifier conformance tool (security.md V12, V-T5): the reference verifier passes every
//! scenario through the real command line; a verifier that reads the user id from the query
//! string is reported FAIL on the query tamper (and only there).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latchkey_conformance::{Routes, check, report};
use serde_json::json;

fn free_port() -> u16 {
    latchkey_conformance::free_port().unwrap()
}

#[test]
fn the_reference_verifier_passes_through_the_command_line() {
    let port = free_port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_latchkey-verifier-check"))
        .args([
            "--app-command",
            &format!(
                "PORT={port} exec {}",
                env!("CARGO_BIN_EXE_reference-verifier")
            ),
            "--app-url",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("PASS").count(), 4, "{stdout}");
    assert!(stdout.contains("the verifier passes"), "{stdout}");
}

/// A broken tenant app: its verifier believes a `user_id` in the query string before its own
/// session (V-T5).
#[derive(Clone, Default)]
struct Broken {
    latchkey: String,
    key: String,
    sessions: Arc<Mutex<HashMap<String, String>>>,
}

async fn login(State(app): State<Broken>, Query(q): Query<HashMap<String, String>>) -> Response {
    let sid = format!("s{}", app.sessions.lock().unwrap().len());
    app.sessions
        .lock()
        .unwrap()
        .insert(sid.clone(), q["user"].clone());
    (
        [("set-cookie", format!("session={sid}; Path=/"))],
        "signed in",
    )
        .into_response()
}

async fn verify(
    State(app): State<Broken>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let session = headers
        .get("cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.strip_prefix("session="))
        .and_then(|sid| app.sessions.lock().unwrap().get(sid).cloned());
    let user = q.get("user_id").cloned().or(session).unwrap_or_default();
    let r = reqwest::Client::new()
        .post(format!("{}/v1/auth/confirm_user", app.latchkey))
        .header("authorization", &app.key)
        .json(&json!({"flow_id": q["flow_id"], "user_id": user}))
        .send()
        .await
        .unwrap();
    r.status().as_u16().to_string().into_response()
}

#[tokio::test]
async fn a_verifier_that_reads_the_user_from_the_query_fails_the_tamper_scenario() {
    let routes = Routes {
        verifier_path: "/verify".to_owned(),
        login_path: "/login?user={user}".to_owned(),
    };
    let outcomes = check(&routes, |latchkey, key| async move {
        let app = Broken {
            latchkey,
            key,
            ..Broken::default()
        };
        let router = axum::Router::new()
            .route("/login", axum::routing::get(login))
            .route("/verify", axum::routing::get(verify))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Ok(origin)
    })
    .await
    .unwrap();
    let (text, passed) = report(&outcomes);
    assert!(!passed, "{text}");
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.scenario)
        .collect();
    assert_eq!(
        failed,
        ["query tamper (user named in the query string)"],
        "{text}"
    );
    let tamper = outcomes.iter().find(|o| !o.passed()).unwrap();
    assert_eq!(
        tamper.got, "completed",
        "the tampered user was confirmed: {text}"
    );
    assert!(text.contains("the verifier FAILS"), "{text}");
}
