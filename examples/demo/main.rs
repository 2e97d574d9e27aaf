//! `make demo`: Latchkey (http://127.0.0.1:8090), the Discord simulator in demo mode
//! (http://127.0.0.1:7300) with real login and consent pages, the example verifier app
//! (http://127.0.0.1:3000), the `Discord.ListServers` tool registered from its declaration, and
//! the example agent app asking alice to connect Discord. Click through in a browser; Ctrl-C
//! stops everything.

use latchkey_discord_sim::Mode;
use latchkey_examples::Demo;

const LATCHKEY_PORT: u16 = 8090;
const SIM_PORT: u16 = 7300;
const APP_PORT: u16 = 3000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let demo = Demo::start(Mode::Demo, LATCHKEY_PORT, SIM_PORT).await?;
    let (mut verifier, app) = demo.start_verifier_app(APP_PORT).await?;

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
    println!(
        "\nLatchkey demo\n\
         =============\n\
         Latchkey            {api}   (API reference: {api}/docs)\n\
         Discord simulator   {sim}   (not discord.com)\n\
         Example app         {app}   (users alice/wonderland, bob/builder)\n\
         \n\
         Keys of the demo tenant (a scratch database, gone when the demo stops):\n\
           admin  {admin}\n\
           app    {app_key}\n\
           tool   {tool_key}   (Discord.ListServers)\n\
         \n\
         1. The agent app below asks alice to connect Discord: open its link in a browser.\n\
         2. Continue, sign in to the simulator as Nelly, and click Authorize.\n\
         3. The example app asks you to sign in (alice / wonderland): its verifier confirms\n\
            it was alice, and the agent app prints the connection.\n\
         4. Then the tool lists alice's Discord servers through Latchkey's proxy.\n",
        sim = demo.sim.base_url(),
        admin = demo.admin_key,
        app_key = demo.app_key,
    );
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
    println!(
        "\nTry it yourself, e.g. with bob:\n  \
         LATCHKEY_BASE_URL={api} LATCHKEY_API_KEY={app_key} target/debug/agent-app bob\n  \
         LATCHKEY_BASE_URL={api} LATCHKEY_API_KEY={tool_key} target/debug/list-servers run bob\n\
         \nThe demo keeps running; Ctrl-C stops it.",
        app_key = demo.app_key,
    );
    tokio::signal::ctrl_c().await?;
    let _ = verifier.kill().await;
    demo.stop().await;
    Ok(())
}
