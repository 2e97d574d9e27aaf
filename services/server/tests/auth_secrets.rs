//! V-T13 and invariant I-series for the authorization flow: during a whole flow — start, the
//! interstitial, the click, Discord's callback, the verifier's `confirm_user`, the long-poll —
//! with every Latchkey log at TRACE (spans included), no secret reaches a log line, a metric,
//! an API answer or the audit log: not the `flow_id`, the start token, `state`, the code, the
//! Discord access token, the client secret or the API keys. (Its own test binary, because it
//! installs the process-wide log subscriber.)
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::flow::{D_ALICE, Options, SECRET, World, flow_id_of};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn query_param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn no_secret_of_a_flow_reaches_logs_metrics_answers_or_the_audit_log() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "trace,latchkey_discord_sim=off,hyper=debug,h2=info,reqwest=debug",
        ))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .init();

    let w = World::start(Options::default()).await;
    let mut answers: Vec<Value> = Vec::new();
    let (_, r) = w.authorize("alice", &["guilds"]).await;
    answers.push(r.clone());
    let link = r["url"].as_str().unwrap().to_owned();
    let start_token = link.rsplit('/').next().unwrap().to_owned();
    let mut alice = w.browser(D_ALICE, Some("alice")).await;
    let to_discord = alice.click_through(&link).await;
    let discord_url = to_discord.location.unwrap();
    let state = query_param(&discord_url, "state");
    let at_discord = alice.get(&discord_url).await;
    let callback = at_discord.location.unwrap();
    let code = query_param(&callback, "code");
    let cb = alice.get(&callback).await;
    assert_eq!(cb.status, StatusCode::SEE_OTHER);
    let to_verifier = cb.location.unwrap();
    let flow_id = flow_id_of(&to_verifier);
    let page = alice.get(&to_verifier).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let (_, done) = w.status(r["id"].as_str().unwrap(), 5).await;
    let token = done["context"]["token"].as_str().unwrap().to_owned();
    answers.push(done);
    let (_, audit) = support::call(
        &w.app,
        Method::GET,
        "/v1/admin/audit_events?limit=100",
        &w.admin,
        None,
    )
    .await;
    answers.push(audit);
    let (_, connections) = support::call(
        &w.app,
        Method::GET,
        "/v1/admin/user_connections",
        &w.admin,
        None,
    )
    .await;
    answers.push(connections);
    let metrics = reqwest::get(format!("{}/metrics", w.app.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    w.app.stop().await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("served"),
        "the capture works: {}",
        &logs[..logs.len().min(500)]
    );
    let secrets = [
        ("flow_id", flow_id.as_str()),
        ("start token", start_token.as_str()),
        ("state", state.as_str()),
        ("code", code.as_str()),
        ("access token", token.as_str()),
        ("client secret", SECRET),
        ("app key", w.app_key.as_str()),
        ("admin key", w.admin.as_str()),
    ];
    for (what, secret) in secrets {
        assert!(secret.len() >= 16, "{what} is long enough to search for");
        assert!(!logs.contains(secret), "the {what} reached a log line");
        assert!(!metrics.contains(secret), "the {what} reached a metric");
        for (i, a) in answers.iter().skip(2).enumerate() {
            assert!(
                !a.to_string().contains(secret),
                "the {what} is in answer {i}"
            );
        }
    }
    // The completed answer carries the token, and nothing else secret.
    for (what, secret) in &secrets[..4] {
        assert!(
            !answers[1].to_string().contains(secret),
            "{what} in the status answer"
        );
        assert!(
            !answers[0].to_string().contains(secret) || *what == "start token",
            "{what} in the start answer"
        );
    }
}
