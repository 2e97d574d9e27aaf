//! `make demo`: Latchkey (http://127.0.0.1:8090), the Discord simulator in demo mode
//! (http://127.0.0.1:7300) with real login and consent pages, the example verifier app
//! (http://127.0.0.1:3000), the `Discord.ListServers` tool registered from its declaration, and
//! the example agent app asking alice to connect Discord. Click through in a browser; Ctrl-C
//! (or SIGTERM) stops everything. `DEMO_LATCHKEY_PORT`, `DEMO_SIM_PORT` and `DEMO_APP_PORT`
//! change the ports.

use latchkey_discord_sim::Mode;
use latchkey_examples::Demo;
use tokio::signal::unix::{SignalKind, signal};

/// A port from `var`, else `default`.
fn port(var: &str, default: u16) -> u16 {
    std::env::var(var)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let demo = Demo::start(
        Mode::Demo,
        port("DEMO_LATCHKEY_PORT", 8090),
        port("DEMO_SIM_PORT", 7300),
    )
    .await?;
    let (mut verifier, app) = demo.start_verifier_app(port("DEMO_APP_PORT", 3000)).await?;
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    tokio::pin!(stop);
    tokio::select! {
        r = walk_through(&demo, &app) => {
            r?;
            println!("\nThe demo keeps running; Ctrl-C stops it.");
            (&mut stop).await;
        }
        () = &mut stop => {}
    }
    let _ = verifier.kill().await;
    demo.stop().await;
    Ok(())
}

/// Registers the tool, prints the guide, runs the agent for alice and then the tool.
async fn walk_through(demo: &Demo, app: &str) -> anyhow::Result<()> {
    let reg = demo
        .example("list-servers", &demo.admin_key)?
        .arg("register")
        .output()
        .await?;
    let reg = String::from_utf8_lossy(&reg.stdout).into_owned();
    let tool_key = reg
        .lines()
        .find_map(|l| l.strip_prefix("LATCHKEY_TOOL_KEY="))
        .unwrap_or_default()
        .to_owned();

    let api = &demo.latchkey.api;
    let sim = demo.sim.base_url();
    let lines = [
        String::new(),
        "Latchkey demo".to_owned(),
        "=============".to_owned(),
        format!("Latchkey            {api}   (API reference: {api}/docs)"),
        format!("Discord simulator   {sim}   (not discord.com)"),
        format!("Example app         {app}   (users alice/wonderland, bob/builder)"),
        String::new(),
        "Keys of the demo tenant (a scratch database, gone when the demo stops):".to_owned(),
        format!("  admin  {}", demo.admin_key),
        format!("  app    {}", demo.app_key),
        format!("  tool   {tool_key}   (Discord.ListServers)"),
        String::new(),
        "1. The agent app below asks alice to connect Discord: open its link in a browser."
            .to_owned(),
        "2. Continue, sign in to the simulator as Nelly, and click Authorize.".to_owned(),
        "3. The example app asks you to sign in (alice / wonderland): its verifier confirms"
            .to_owned(),
        "   it was alice, and the agent app prints the connection.".to_owned(),
        "4. Then the tool lists alice's Discord servers through Latchkey's proxy.".to_owned(),
        String::new(),
    ];
    println!("{}", lines.join("\n"));
    let agent = demo
        .example("agent-app", &demo.app_key)?
        .arg("alice")
        .status()
        .await?;
    if agent.success() {
        demo.example("list-servers", &tool_key)?
            .args(["run", "alice"])
            .status()
            .await?;
    }
    let bin = |name: &str| latchkey_examples::example_path(name).map(|p| p.display().to_string());
    println!(
        "\nTry it yourself, e.g. with bob:\n  LATCHKEY_BASE_URL={api} LATCHKEY_API_KEY={} {} bob\n  \
         LATCHKEY_BASE_URL={api} LATCHKEY_API_KEY={tool_key} {} run bob",
        demo.app_key,
        bin("agent-app")?,
        bin("list-servers")?,
    );
    Ok(())
}
