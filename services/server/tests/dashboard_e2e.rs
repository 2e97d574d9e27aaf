//! The dashboard end to end (issue 8, item 9): `dashboard/e2e/run.mjs` drives real headless
//! Chromium (Debian's `chromium` with playwright-core) against this live Latchkey and the
//! Discord simulator — sign in, create a provider, register a tool, set the verifier, see a
//! connection appear after a flow this harness completes, revoke it, keys, audit log, keyboard
//! and phone width, sign out — and saves screenshots of each page in `docs/screenshots/`.
//! With `CI=true` a missing Chromium, playwright-core or dashboard build is a failure, never a
//! skip (`make dashboard` builds it; `.ci/run` installs Chromium).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::flow::{D_ALICE, Options, World};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What is missing to run the browser test, if anything.
fn missing() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    [
        (
            PathBuf::from(chromium),
            "Chromium (apt-get install chromium)",
        ),
        (
            repo().join("dashboard/node_modules/playwright-core"),
            "playwright-core (make dashboard)",
        ),
        (
            repo().join("dashboard/dist/index.html"),
            "the dashboard build (make dashboard)",
        ),
    ]
    .into_iter()
    .find(|(p, _)| !p.exists())
    .map(|(_, what)| what.to_owned())
}

/// Starts an authorization for `user` through the tenant's `discord-prod` (named, as the
/// dashboard adds a second provider for a while).
async fn start(w: &World, user: &str) -> serde_json::Value {
    let (s, a) = w
        .authorize_body(serde_json::json!({"user_id": user, "auth_requirement": {"id": "discord-prod", "oauth2": {"scopes": ["guilds"]}}}))
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{a}");
    a
}

#[tokio::test]
async fn the_dashboard_in_chromium_manages_a_tenant_end_to_end() {
    if let Some(what) = missing() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the dashboard's browser test needs {what}"
        );
        eprintln!("skipping: the dashboard's browser test needs {what}");
        return;
    }
    let w = World::start(Options::default()).await;
    let mut child = Command::new("node")
        .arg(repo().join("dashboard/e2e/run.mjs"))
        .env("LATCHKEY_URL", &w.app.api)
        .env("ADMIN_KEY", &w.admin)
        .env("SIM_ORIGIN", w.sim.base_url())
        .env("TENANT_APP", &w.tenant_app.origin)
        .env("VERIFIER_URL", format!("{}/verify", w.tenant_app.origin))
        .env("SCREENSHOTS", repo().join("docs/screenshots"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut rx = support::lines(stdout);
    let mut oks = Vec::new();
    while let Some(line) = rx.recv().await {
        match line.split(' ').collect::<Vec<_>>().as_slice() {
            ["FLOW", user] => {
                let a = start(&w, user).await;
                w.complete(a["url"].as_str().unwrap(), user, D_ALICE).await;
                writeln!(stdin, "done").unwrap();
            }
            ["START", user] => {
                start(&w, user).await;
                writeln!(stdin, "started").unwrap();
            }
            ["OK", step] => oks.push((*step).to_owned()),
            _ => eprintln!("e2e: {line}"),
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the browser test failed (see docs/screenshots/failure.png): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        oks,
        [
            "sign-in",
            "provider",
            "tool",
            "skip-banner",
            "verifier",
            "connection",
            "authorizations",
            "usage",
            "keys-and-audit",
            "accessible",
            "sign-out"
        ]
    );
    // The dashboard's writes went through the session: they are in the audit log, by the admin key.
    w.assert_audited(&[
        "dashboard.sign_in",
        "provider.create",
        "tool.create",
        "settings.session_verification.update",
        "connection.delete",
        "provider.delete",
        "api_key.revoke",
        "dashboard.sign_out",
    ])
    .await;
    w.app.stop().await;
}
