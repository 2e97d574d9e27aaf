//! The example tool: `Discord.ListServers` lists the Discord servers a user is in. Its
//! requirement is declared here, in code, and registered from this declaration — the single
//! source of truth for what Latchkey lets the tool do.
//!
//! ```sh
//! # once, with an admin key: registers the tool (or brings it in line with the code)
//! LATCHKEY_API_KEY=lk_…(admin key) list-servers register
//! # at run time, with the tool key `register` printed:
//! LATCHKEY_API_KEY=lk_…(tool key) list-servers run alice
//! ```
//!
//! `run` calls Discord through Latchkey's proxy, so the tool never holds the user's token;
//! `run --token` instead gets the token (`ctx.token()`) and shows how long it may be used.
//! Exit status: 0 done, 1 an error, 2 the user must authorize first (the link is printed).

use latchkey_sdk::{Client, Discord, Error, Tool};

/// The tool's declaration.
fn tool() -> Tool {
    Tool::new("Discord.ListServers")
        .version("1.0.0")
        .description("Lists the Discord servers the user is a member of.")
        .requires(Discord::scopes(["identify", "guilds"]))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = match Client::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(1);
        }
    };
    let outcome = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["register"] => register(&client).await,
        ["run", user] => list(&client, user).await,
        ["run", user, "--token"] => token(&client, user).await,
        _ => {
            eprintln!("usage: list-servers register | list-servers run <user id> [--token]");
            return std::process::ExitCode::from(1);
        }
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Error::AuthorizationRequired { url, .. }) => {
            println!("authorization required: open {url}");
            std::process::ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn register(admin: &Client) -> Result<(), Error> {
    let reg = admin.tools().register(&tool()).await?;
    match reg.key {
        Some(key) => {
            println!("registered {}; its tool key (shown once):", reg.tool.name);
            println!("LATCHKEY_TOOL_KEY={key}");
        }
        None => println!(
            "{} was registered already; its requirement now matches the code: {:?}",
            reg.tool.name, reg.tool.requirement.oauth2.scopes
        ),
    }
    Ok(())
}

async fn list(tool_client: &Client, user: &str) -> Result<(), Error> {
    let ctx = tool_client.tool_context(user);
    let me = ctx.discord().current_user().await?;
    println!("{user} is {} on Discord; servers:", me.username);
    for g in ctx.discord().guilds().await? {
        println!("- {} ({})", g.name, g.id);
    }
    Ok(())
}

async fn token(tool_client: &Client, user: &str) -> Result<(), Error> {
    let t = tool_client.tool_context(user).token().await?;
    println!(
        "a token for {} (scopes {}), usable until {}",
        t.user_info["username"].as_str().unwrap_or("?"),
        t.scopes.join(" "),
        t.expires_at
    );
    Ok(())
}
