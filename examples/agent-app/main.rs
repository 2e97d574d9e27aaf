//! The example agent app: it needs one of its users' Discord account, so it starts an
//! authorization, shows the user the link, and waits until the user has consented at Discord
//! and the app's verifier has confirmed them.
//!
//! ```sh
//! LATCHKEY_BASE_URL=http://127.0.0.1:8080 LATCHKEY_API_KEY=lk_…(app key) agent-app alice
//! ```
//!
//! Exit status: 0 connected, 1 the authorization failed or timed out, 2 a usage or
//! configuration error.

use std::time::Duration;

use latchkey_sdk::{Client, Error};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(user) = args.next() else {
        eprintln!("usage: agent-app <user id> [timeout seconds, default 600]");
        return std::process::ExitCode::from(2);
    };
    let timeout = Duration::from_secs(args.next().and_then(|t| t.parse().ok()).unwrap_or(600));
    let client = match Client::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(&client, &user, timeout).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("not connected: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(client: &Client, user: &str, timeout: Duration) -> Result<(), Error> {
    // The scopes the agent's tools need; `identify` is always included.
    let auth = client
        .auth()
        .start(user, "discord", ["identify", "guilds"])
        .await?;
    if let Some(url) = &auth.url {
        println!("{user}: open this link to connect your Discord account: {url}");
    }
    // Long-polls; stops on completion, failure (consent denied, verifier refused) or timeout.
    let done = client.auth().wait_for_completion(&auth, timeout).await?;
    let who = done
        .user_info
        .as_ref()
        .and_then(|u| u["username"].as_str())
        .unwrap_or("?");
    println!(
        "{user} is connected to Discord as {who} with scopes {}",
        done.scopes.join(" ")
    );
    Ok(())
}
