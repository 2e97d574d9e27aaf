//! `latchkey-discord-sim` is a faithful, stateful Discord simulator (specs/discord.md §10):
//! the authorize page, token, revoke and REST endpoints with Discord's exact behaviour and
//! error bodies, an admin API under `/__sim` for fixtures, settings, time and fault rules, and
//! a request log plus client-conformance violations for assertions. It depends on nothing of
//! Latchkey's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), latchkey_discord_sim::SimError> {
//! use latchkey_discord_sim::{Fixtures, SimConfig, Simulator};
//! let fixtures = Fixtures::from_json(include_str!("../fixtures/demo.json"))?;
//! let sim = Simulator::start(SimConfig { fixtures: Some(fixtures), ..SimConfig::default() }).await?;
//! println!("token URL: {}/api/oauth2/token", sim.base_url());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

// Handlers return early `Response`s through `Result<_, Response>`, the usual axum pattern;
// boxing them would only add noise.
#![allow(clippy::result_large_err)]

mod admin;
mod api;
mod authorize;
mod clock;
mod consent;
mod entry;
mod error;
mod faults;
mod fixtures;
mod grants;
mod http;
mod ids;
mod log;
mod model;
mod pages;
mod ratelimit;
mod rest;
mod revoke;
mod routes;
mod scopes;
mod server;
mod settings;
mod state;
mod token;

use std::net::{Ipv4Addr, SocketAddr};

pub use error::SimError;
pub use fixtures::Fixtures;
pub use server::Simulator;
pub use settings::Settings;

/// Which consent experience the simulator offers (§10.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Consent decided without UI; `sim_user` / `sim_decision` query selectors allowed.
    #[default]
    Test,
    /// Real HTML login and consent pages; query selectors refused.
    Demo,
}

/// How to start a [`Simulator`].
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to bind; `127.0.0.1:0` by default.
    pub listen: SocketAddr,
    /// Test (default) or demo mode.
    pub mode: Mode,
    /// Starting world; empty when `None`.
    pub fixtures: Option<Fixtures>,
    /// Starting settings.
    pub settings: Settings,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            mode: Mode::Test,
            fixtures: None,
            settings: Settings::default(),
        }
    }
}
