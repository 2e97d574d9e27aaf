//! `discord-sim`: runs the Discord simulator as a process. Prints its base URL and exits
//! cleanly on SIGTERM or SIGINT.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow_free::Result;
use clap::{Parser, ValueEnum};
use latchkey_discord_sim::{Fixtures, Mode, Settings, SimConfig, Simulator};

/// Tiny local alias so `main` reads naturally without pulling in `anyhow`.
mod anyhow_free {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ModeArg {
    Test,
    Demo,
}

/// Discord OAuth2 and REST simulator (not discord.com).
#[derive(Debug, Parser)]
#[command(name = "discord-sim", version)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 7300)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Consent mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Test)]
    mode: ModeArg,
    /// Fixture file (JSON, specs/discord.md §10.3).
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// Settings file (TOML, §10.8).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let fixtures = match &args.fixtures {
        Some(path) => Some(Fixtures::from_json(&std::fs::read_to_string(path)?)?),
        None => None,
    };
    let settings = match &args.config {
        Some(path) => Settings::from_toml(&std::fs::read_to_string(path)?)?,
        None => Settings::default(),
    };
    let mode = match args.mode {
        ModeArg::Test => Mode::Test,
        ModeArg::Demo => Mode::Demo,
    };
    let config = SimConfig {
        listen: SocketAddr::new(args.host, args.port),
        mode,
        fixtures,
        settings,
    };
    let sim = Simulator::start(config).await?;
    println!("{}", sim.base_url());
    shutdown_signal().await;
    sim.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
