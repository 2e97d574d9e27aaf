//! `make demo` (issue 7, item 3): the `demo` binary starts Latchkey, the simulator in **demo
//! mode** and the examples; a browser clicks through the simulator's real login and consent
//! pages and the example app's login; the demo's agent reports the connection and its tool
//! lists the user's servers; SIGTERM stops everything, the verifier app included.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use latchkey_conformance::browser::Browser;
use reqwest::StatusCode;
use support::{next, sign_in};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The value of the first `name="…" value="…"` field of `html`, unescaped.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let raw = &html[at..at + html[at..].find('"').unwrap()];
    raw.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The demo's standard output, read line by line.
struct Output {
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    printed: Vec<String>,
}

impl Output {
    /// The next line containing `needle` (within a minute).
    async fn line_with(&mut self, needle: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("waiting for {needle:?} after {:#?}", self.printed))
                .unwrap()
                .unwrap_or_else(|| panic!("the demo ended before {needle:?}: {:#?}", self.printed));
            self.printed.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }
}

#[tokio::test]
async fn make_demo_can_be_clicked_through_in_a_browser() {
    let port = || latchkey_conformance::free_port().unwrap();
    let (latchkey, sim, app) = (port(), port(), port());
    let mut demo = tokio::process::Command::new(latchkey_examples::example_path("demo").unwrap())
        .env("DEMO_LATCHKEY_PORT", latchkey.to_string())
        .env("DEMO_SIM_PORT", sim.to_string())
        .env("DEMO_APP_PORT", app.to_string())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = Output {
        lines: BufReader::new(demo.stdout.take().unwrap()).lines(),
        printed: Vec::new(),
    };
    let guide = out.line_with("Example app").await;
    assert!(
        guide.contains(&format!("http://127.0.0.1:{app}")),
        "{guide}"
    );
    let link = out.line_with("alice: open this link").await;
    let link = link.split_whitespace().last().unwrap().to_owned();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{latchkey}/oauth/start/")),
        "{link}"
    );

    // Latchkey's interstitial → the simulator, which asks who is signing in.
    let mut b = Browser::new().unwrap();
    let to_discord = b.click_through(&link).await.unwrap();
    let authorize = next(&link, &to_discord);
    let to_login = b.get(&authorize).await.unwrap();
    let login_page = next(&authorize, &to_login);
    let page = b.get(&login_page).await.unwrap();
    assert!(
        page.body.contains("Choose a simulated user"),
        "{}",
        page.body
    );
    assert!(page.body.contains("not discord.com"));
    let signed_in = b
        .post_form(
            &format!("http://127.0.0.1:{sim}/__sim/login"),
            &form(&[
                ("user_id", &field(&page.body, "user_id")),
                ("next", &field(&page.body, "next")),
            ]),
        )
        .await
        .unwrap();
    // The consent page, with the scopes the agent asked for; Authorize.
    let consent_url = next(&authorize, &signed_in);
    let consent = b.get(&consent_url).await.unwrap();
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("Acme Agent"));
    let back = b
        .post_form(
            &format!("http://127.0.0.1:{sim}/__sim/consent"),
            &form(&[
                ("pending", &field(&consent.body, "pending")),
                ("csrf", &field(&consent.body, "csrf")),
                ("decision", "approve"),
            ]),
        )
        .await
        .unwrap();
    let callback = next(&consent_url, &back);
    // Latchkey's callback → the example app's verifier → its login → confirmed.
    let to_verifier = b.get(&callback).await.unwrap();
    let verify = next(&callback, &to_verifier);
    let to_app_login = b.get(&verify).await.unwrap();
    let app_origin = format!("http://127.0.0.1:{app}");
    let back_path = url::Url::parse(&next(&verify, &to_app_login))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "next")
        .unwrap()
        .1
        .into_owned();
    sign_in(&mut b, &app_origin, "alice", "wonderland", &back_path).await;
    let confirmed = b.get(&verify).await.unwrap();
    assert_eq!(
        confirmed.status,
        StatusCode::SEE_OTHER,
        "{}",
        confirmed.body
    );

    // The demo's agent and tool report what happened.
    out.line_with("alice is connected to Discord as nelly")
        .await;
    out.line_with("- 1337 Krew (290926798626357250)").await;
    out.line_with("The demo keeps running").await;

    // SIGTERM stops the demo and the verifier app it started.
    let pid = demo.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), demo.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        reqwest::get(format!("{app_origin}/login")).await.is_err(),
        "the verifier app still runs"
    );
}
