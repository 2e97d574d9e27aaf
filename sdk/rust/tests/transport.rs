//! The SDK's transport rules against a scripted HTTP server: transport errors and 5xx answers
//! are retried with back-off, a 4xx never is, error bodies become typed errors, and the key goes
//! in `Authorization` (never with a tool grant). Latchkey's behaviour itself is exercised by
//! `examples/tests/sdk.rs` against a real server.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use latchkey_sdk::{Client, Error, ErrorName};
use serde_json::json;

/// A server answering the scripted `(status, body)`s in order (the last one repeats), and
/// recording each request's `Authorization` header.
async fn scripted(
    answers: Vec<(u16, serde_json::Value)>,
) -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let log = seen.clone();
    let answers = Arc::new(answers);
    let handler = move |headers: HeaderMap| {
        let log = log.clone();
        let answers = answers.clone();
        async move {
            let mut l = log.lock().unwrap();
            l.push(
                headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned()),
            );
            let (status, body) = answers[(l.len() - 1).min(answers.len() - 1)].clone();
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
    };
    let app = axum::Router::new().fallback(handler);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn client(url: &str) -> Client {
    Client::builder()
        .api_key("lk_key_test_secret")
        .base_url(url)
        .retry_delay(Duration::from_millis(10))
        .build()
        .unwrap()
}

fn err(name: &str) -> serde_json::Value {
    json!({"name": name, "message": "m", "request_id": "req_1"})
}

fn pending() -> serde_json::Value {
    json!({"id": "auth_1", "status": "pending", "url": "http://x/oauth/start/t", "provider_id": "discord", "scopes": ["identify"], "user_id": "alice"})
}

#[tokio::test]
async fn five_hundreds_are_retried_with_the_key_then_succeed() {
    let (url, seen) = scripted(vec![
        (503, err("unavailable")),
        (502, err("upstream_unavailable")),
        (200, pending()),
    ])
    .await;
    let a = client(&url)
        .auth()
        .start("alice", "discord", ["identify"])
        .await
        .unwrap();
    assert_eq!(a.id, "auth_1");
    assert_eq!(a.url.as_deref(), Some("http://x/oauth/start/t"));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|h| h.as_deref() == Some("Bearer lk_key_test_secret"))
    );
}

#[tokio::test]
async fn retries_stop_after_the_budget_with_the_last_error() {
    let (url, seen) = scripted(vec![(503, err("unavailable"))]).await;
    let e = client(&url)
        .auth()
        .status("auth_1", None)
        .await
        .unwrap_err();
    assert_eq!(e.name(), Some(ErrorName::Unavailable));
    assert_eq!(seen.lock().unwrap().len(), 3, "one try and two retries");
}

#[tokio::test]
async fn four_hundreds_are_never_retried_and_keep_their_name() {
    for (status, name, known) in [
        (400, "user_mismatch", Some(ErrorName::UserMismatch)),
        (401, "unauthorized", Some(ErrorName::Unauthorized)),
        (404, "not_found", Some(ErrorName::NotFound)),
        (429, "rate_limited", Some(ErrorName::RateLimited)),
        (400, "a_future_name", None),
    ] {
        let (url, seen) = scripted(vec![(status, err(name)), (200, pending())]).await;
        let e = client(&url)
            .auth()
            .confirm_user("flow", "alice")
            .await
            .unwrap_err();
        let Error::Api(api) = e else {
            panic!("{name}: {e:?}")
        };
        assert_eq!(
            (api.status, api.name, api.raw_name.as_str()),
            (status, known, name)
        );
        assert_eq!(api.request_id, "req_1");
        assert_eq!(seen.lock().unwrap().len(), 1, "{name} was retried");
    }
}

#[tokio::test]
async fn transport_errors_are_retried_then_reported() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let e = client(&format!("http://127.0.0.1:{port}"))
        .auth()
        .status("auth_1", None)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    // Two back-offs of at least 10 ms and 20 ms were slept.
    assert!(started.elapsed() >= Duration::from_millis(30));
}

#[tokio::test]
async fn authorization_required_carries_the_link_and_grants_send_no_key() {
    let body = json!({"name": "authorization_required", "message": "m", "request_id": "r",
                      "authorization_id": "auth_9", "url": "http://x/oauth/start/s"});
    let (url, seen) = scripted(vec![(403, body)]).await;
    let c = client(&url);
    let e = c.tool_context("alice").token().await.unwrap_err();
    let Error::AuthorizationRequired {
        authorization_id,
        url: link,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (authorization_id.as_str(), link.as_str()),
        ("auth_9", "http://x/oauth/start/s")
    );
    assert_eq!(e.name(), Some(ErrorName::AuthorizationRequired));
    let _ = c.tool_context_with_grant("eyJ.grant").token().await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].as_deref(), Some("Bearer lk_key_test_secret"));
    assert_eq!(seen[1], None, "a grant authenticates alone");
}

#[tokio::test]
async fn discords_own_errors_through_the_proxy_are_upstream_errors() {
    let (url, _) = scripted(vec![(
        404,
        json!({"message": "Unknown Guild", "code": 10004}),
    )])
    .await;
    let e = client(&url)
        .tool_context("alice")
        .discord()
        .guilds()
        .await
        .unwrap_err();
    let Error::Upstream { status, body } = e else {
        panic!("{e:?}")
    };
    assert_eq!((status, body["code"].as_i64()), (404, Some(10004)));
}

#[tokio::test]
async fn tokens_are_kept_until_shortly_before_they_expire() {
    let token = |exp: &str| json!({"access_token": "t", "token_type": "Bearer", "expires_at": exp, "scopes": ["identify"], "user_info": {}});
    let (url, seen) = scripted(vec![(200, token("2999-01-01T00:00:00Z"))]).await;
    let ctx = client(&url).tool_context("alice");
    for _ in 0..3 {
        assert_eq!(ctx.token().await.unwrap().access_token, "t");
    }
    assert_eq!(seen.lock().unwrap().len(), 1, "kept");
    ctx.forget_token().await;
    ctx.token().await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
    // One that expires within the margin is asked for each time.
    let (url, seen) = scripted(vec![(200, token("2000-01-01T00:00:00Z"))]).await;
    let ctx = client(&url).tool_context("alice");
    ctx.token().await.unwrap();
    ctx.token().await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 2);
}

#[test]
fn debug_output_never_shows_a_key_or_token() {
    let c = client("http://127.0.0.1:1");
    assert!(!format!("{c:?}").contains("secret"));
}
