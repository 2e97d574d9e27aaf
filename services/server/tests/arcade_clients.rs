//! The real Arcade clients, unchanged, against a live Latchkey (issue 5, item 7;
//! specs/arcade-compat.md §15): `tests/arcade/clients.py` runs arcadepy 1.10.0 and
//! `tests/arcade/clients.mjs` runs @arcadeai/arcadejs 2.4.1, both installed from the registries
//! by `make arcade-clients` (which `make test` runs first). Each script drives the API; this
//! test plays the user's browser when the script prints `CONSENT`/`DENY`, and counts its `OK`
//! lines. With `CI=true` a missing client is a failure, never a skip.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use reqwest::StatusCode;
use support::flow::{D_ALICE, D_BOB, D_MALLORY, Options, World};

fn arcade_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/arcade")
}

fn discord_account(name: &str) -> &'static str {
    match name {
        "alice" => D_ALICE,
        "bob" => D_BOB,
        "mallory" => D_MALLORY,
        other => panic!("no Discord account for {other}"),
    }
}

/// The command running `script` (in `tests/arcade`) with a client, or `None` (a skip outside
/// CI) when it is not installed.
fn client_command(which: &str, script: &str) -> Option<Command> {
    let dir = arcade_dir();
    let (program, script, ready) = match which {
        "python" => {
            let python = std::env::var("LATCHKEY_ARCADE_PYTHON")
                .map(PathBuf::from)
                .unwrap_or_else(|_| {
                    PathBuf::from(std::env::var("HOME").unwrap_or_default())
                        .join(".cache/latchkey/arcade-venv/bin/python")
                });
            let ready = python.exists();
            (python, dir.join(script), ready)
        }
        _ => (
            PathBuf::from("node"),
            dir.join(script),
            dir.join("node_modules/@arcadeai/arcadejs").exists(),
        ),
    };
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the {which} Arcade client is not installed: run `make arcade-clients`"
        );
        eprintln!("skipping: the {which} Arcade client is not installed (make arcade-clients)");
        return None;
    }
    let mut cmd = Command::new(program);
    cmd.arg(script).current_dir(dir);
    Some(cmd)
}

async fn run(which: &str) {
    let script = if which == "python" {
        "clients.py"
    } else {
        "clients.mjs"
    };
    let Some(mut cmd) = client_command(which, script) else {
        return;
    };
    let w = World::start(Options::default()).await;
    w.tool("Discord.Whoami", &["identify"]).await;
    let mut child = cmd
        .env("ARCADE_API_KEY", &w.app_key)
        .env("ARCADE_BASE_URL", &w.app.api)
        .env("LK_D_ALICE", D_ALICE)
        .env("LK_D_BOB", D_BOB)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut rx = support::lines(stdout);
    let mut oks = Vec::new();
    while let Some(line) = rx.recv().await {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["CONSENT", app_user, discord, url] => {
                let mut b = w.browser(discord_account(discord), Some(app_user)).await;
                let (page, _) = b.consent_and_verify(url).await;
                assert!(
                    page.status == StatusCode::SEE_OTHER || page.status == StatusCode::BAD_REQUEST,
                    "{}",
                    page.body
                );
            }
            ["DENY", url] => {
                let mut b = w.browser(D_BOB, None).await;
                let to_discord = b.click_through(url).await;
                let at_discord = b
                    .get(&format!(
                        "{}&sim_decision=deny",
                        to_discord.location.unwrap()
                    ))
                    .await;
                let page = b.get(&at_discord.location.unwrap()).await;
                assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            }
            ["OK", scenario] => oks.push((*scenario).to_owned()),
            _ => eprintln!("{which}: {line}"),
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the {which} client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(oks, ["C1", "C2", "C3", "C4", "C5", "C6", "C7"], "{which}");
    w.app.stop().await;
}

#[tokio::test]
async fn arcadepy_works_unchanged() {
    run("python").await;
}

#[tokio::test]
async fn arcadejs_works_unchanged() {
    run("node").await;
}

/// arcade-mcp-server 1.32.1 (C10): a tool declared `requires_auth=Discord(...)` is told to ask
/// for authorization on its first call and gets the user's token from Latchkey on the next,
/// with the instance pinned or not, and with an org/project context in the client config
/// (which makes it send `/v1/orgs/{org}/projects/{project}/auth/authorize`).
async fn mcp(w: &World, user: &str, discord: &str, instance: Option<&str>, org_context: bool) {
    let Some(mut cmd) = client_command("python", "mcp_tool.py") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    if org_context {
        std::fs::write(
            work.path().join("credentials.yaml"),
            "cloud:\n  context:\n    org_id: o_latchkey\n    org_name: Org\n    project_id: p_test\n    project_name: Project\n",
        )
        .unwrap();
    }
    let mut child = cmd
        .arg("client")
        .env("ARCADE_API_KEY", &w.app_key)
        .env("ARCADE_API_URL", &w.app.api)
        .env("ARCADE_USER_ID", user)
        .env("ARCADE_WORK_DIR", work.path())
        .env("ARCADE_USAGE_TRACKING", "0")
        .env("LK_DISCORD_API", format!("{}/api/v10", w.sim.base_url()))
        .env("LK_PROVIDER_INSTANCE", instance.unwrap_or(""))
        .current_dir(work.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut rx = support::lines(stdout);
    let mut result = None;
    while let Some(line) = rx.recv().await {
        if let Some(url) = line.strip_prefix("CONSENT ") {
            w.complete(url, user, discord).await;
            std::io::Write::write_all(&mut stdin, b"done\n").unwrap();
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            result = Some(serde_json::from_str::<serde_json::Value>(r).unwrap());
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "arcade-mcp-server: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = result.expect("no RESULT line");
    assert_eq!(r["user_id"], user, "{r}");
    assert_eq!(r["user_info_id"], discord, "{r}");
    let username = if discord == D_ALICE {
        "alice_d"
    } else {
        "bob_d"
    };
    assert_eq!(r["discord_username"], username, "{r}");
}

#[tokio::test]
async fn arcade_mcp_server_tools_get_their_token_from_latchkey() {
    let w = World::start(Options::default()).await;
    mcp(&w, "alice", D_ALICE, None, false).await;
    mcp(&w, "bob", D_BOB, Some("discord-prod"), true).await;
    w.app.stop().await;
}
