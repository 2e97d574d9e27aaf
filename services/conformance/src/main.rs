//! `latchkey-verifier-check`: checks a tenant's verifier against the linking attacks
//! (docs/verifier.md). It starts Latchkey and the Discord simulator, then the tenant app with
//! `LATCHKEY_URL` and `LATCHKEY_APP_KEY` in its environment, and drives the app's verifier.
//! Exit status 0 when every scenario passes, 1 when the verifier fails one, 2 when the check
//! could not run.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use latchkey_conformance::{Routes, check, report};

/// Checks a tenant's verifier route against Attack A, Attack B and a query-string tamper.
#[derive(Parser, Debug)]
#[command(name = "latchkey-verifier-check", version)]
struct Args {
    /// The command that starts the tenant app (run with `sh -c`); it gets `LATCHKEY_URL` and
    /// `LATCHKEY_APP_KEY` and must serve at `--app-url`.
    #[arg(long)]
    app_command: String,
    /// Where the started app serves, e.g. `http://127.0.0.1:3000`.
    #[arg(long)]
    app_url: String,
    /// The verifier route.
    #[arg(long, default_value = "/verify")]
    verifier_path: String,
    /// The app's test login, `{user}` standing for the user id to sign in as.
    #[arg(long, default_value = "/login?user={user}")]
    login_path: String,
}

/// Starts the app and waits (30 s at most) until it answers HTTP.
async fn start_app(
    command: &str,
    url: &str,
    latchkey: &str,
    key: &str,
) -> anyhow::Result<tokio::process::Child> {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("LATCHKEY_URL", latchkey)
        .env("LATCHKEY_APP_KEY", key)
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(url).await.is_err() {
        if Instant::now() > deadline {
            anyhow::bail!("the app did not answer at {url} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(child)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let routes = Routes {
        verifier_path: args.verifier_path.clone(),
        login_path: args.login_path.clone(),
    };
    let mut child = None;
    let outcome = check(&routes, |latchkey, key| {
        let (command, url) = (args.app_command.clone(), args.app_url.clone());
        let child = &mut child;
        async move {
            *child = Some(start_app(&command, &url, &latchkey, &key).await?);
            Ok(url)
        }
    })
    .await;
    if let Some(mut c) = child {
        let _ = c.kill().await;
    }
    match outcome {
        Ok(outcomes) => {
            let (text, passed) = report(&outcomes);
            print!("{text}");
            if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("the check could not run: {e:#}");
            ExitCode::from(2)
        }
    }
}
