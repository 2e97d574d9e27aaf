//! The examples, run as their own processes against Latchkey and the Discord simulator (issue
//! 7, item 3): the tool registers from its declaration, the agent app starts an authorization
//! and waits, a browser consents at Discord and signs in to the verifier app, whose verifier
//! confirms the user; then the tool lists the user's servers through Latchkey's proxy. The
//! verifier app refuses someone else's link.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use latchkey_conformance::browser::Browser;
use latchkey_discord_sim::Mode;
use latchkey_examples::Demo;
use reqwest::StatusCode;
use support::{consent, next, sign_in};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Runs an example to its end: exit code and stdout.
async fn run(demo: &Demo, name: &str, key: &str, args: &[&str]) -> (i32, String) {
    let out = demo
        .example(name, key)
        .unwrap()
        .args(args)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{name} {args:?}: {stdout}{stderr}");
    (out.status.code().unwrap_or(-1), stdout)
}

/// Starts the agent app for `user`; answers it and the link it shows.
async fn agent(
    demo: &Demo,
    user: &str,
) -> (
    tokio::process::Child,
    String,
    BufReader<tokio::process::ChildStdout>,
) {
    let mut child = demo
        .example("agent-app", &demo.app_key)
        .unwrap()
        .args([user, "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).await.unwrap();
    let url = line
        .split_whitespace()
        .last()
        .filter(|u| u.starts_with("http"))
        .unwrap_or_else(|| panic!("no link in {line:?}"))
        .to_owned();
    (child, url, out)
}

#[tokio::test]
async fn the_examples_complete_a_flow_and_refuse_someone_elses_link() {
    let demo = Demo::start(Mode::Test, 0, 0).await.unwrap();
    let (_verifier, app) = demo.start_verifier_app(0).await.unwrap();

    // The tool registers from its declaration; again, it is brought in line (no new key).
    let (code, out) = run(&demo, "list-servers", &demo.admin_key, &["register"]).await;
    assert_eq!(code, 0, "{out}");
    let tool_key = out
        .lines()
        .find_map(|l| l.strip_prefix("LATCHKEY_TOOL_KEY="))
        .unwrap()
        .to_owned();
    let (code, out) = run(&demo, "list-servers", &demo.admin_key, &["register"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("registered already"), "{out}");
    assert!(out.contains(r#"["guilds", "identify"]"#), "{out}");

    // Before alice connects, the tool is told to show her a link.
    let (code, out) = run(&demo, "list-servers", &tool_key, &["run", "alice"]).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("authorization required: open http"), "{out}");

    // The agent app waits while alice consents and signs in to the app.
    let (mut child, link, mut out) = agent(&demo, "alice").await;
    let mut b = Browser::new().unwrap();
    let verify = consent(&mut b, &demo, &link).await;
    assert!(
        verify.starts_with(&format!("{app}/latchkey/verify?flow_id=")),
        "{verify}"
    );
    // Not signed in yet: to the login page and back, with the flow id kept.
    let to_login = b.get(&verify).await.unwrap();
    assert_eq!(to_login.status, StatusCode::SEE_OTHER);
    let login = next(&verify, &to_login);
    let back_path = url::Url::parse(&login)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(format!("{app}{back_path}"), verify);
    let wrong = sign_in(&mut b, &app, "alice", "not-her-password", &back_path).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let signed_in = sign_in(&mut b, &app, "alice", "wonderland", &back_path).await;
    assert_eq!(next(&app, &signed_in), verify);
    let confirmed = b.get(&verify).await.unwrap();
    let alice_verify = verify.clone();
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );
    assert!(next(&verify, &confirmed).starts_with(&demo.latchkey.api));
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    let mut rest = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut out, &mut rest)
        .await
        .unwrap();
    assert!(status.success(), "{rest}");
    assert!(
        rest.contains("alice is connected to Discord as nelly with scopes guilds identify"),
        "{rest}"
    );

    // The tool now lists her servers through the proxy, and can get the token itself.
    let (code, out) = run(&demo, "list-servers", &tool_key, &["run", "alice"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("alice is nelly on Discord"), "{out}");
    assert!(out.contains("- 1337 Krew (290926798626357250)"), "{out}");
    let (code, out) = run(
        &demo,
        "list-servers",
        &tool_key,
        &["run", "alice", "--token"],
    )
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("a token for nelly (scopes guilds identify), usable until 20"),
        "{out}"
    );

    // Someone else's link: bob's authorization, completed in alice's signed-in browser, is
    // refused by the verifier and bob's agent is told it failed.
    let (mut child, link, _) = agent(&demo, "bob").await;
    let verify = consent(&mut b, &demo, &link).await;
    let refused = b.get(&verify).await.unwrap();
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(refused.body.contains("This link was not for you"));
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    // Reloading gets the same answer; a decided link opened by anyone else is gone.
    let again = b.get(&verify).await.unwrap();
    assert_eq!(again.status, StatusCode::FORBIDDEN, "{}", again.body);
    let mut bob = Browser::new().unwrap();
    sign_in(&mut bob, &app, "bob", "builder", "/").await;
    for used in [&verify, &alice_verify] {
        let gone = bob.get(used).await.unwrap();
        assert_eq!(gone.status, StatusCode::GONE, "{}", gone.body);
        assert!(gone.body.contains("Link expired"));
    }

    demo.stop().await;
}
