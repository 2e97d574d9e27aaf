//! The demo harness behind `make demo` and the examples' tests: the Discord simulator with the
//! demo fixtures, a Latchkey on embedded SQLite in a scratch directory, and a tenant whose
//! Discord provider is the simulator's "Acme Agent" app. The example programs then run against
//! it as separate processes, exactly as a tenant's programs would.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use latchkey_conformance::{Latchkey, ok};
use latchkey_discord_sim::{Fixtures, Mode, SimConfig, Simulator};
use reqwest::Method;
use serde_json::json;

/// The simulator's demo world (`services/discord-sim/fixtures/demo.json`).
pub const FIXTURES: &str = include_str!("../../services/discord-sim/fixtures/demo.json");
/// The demo Discord app's id and secret (in the fixtures).
const APP_ID: &str = "1100000000000000001";
const APP_SECRET: &str = "acme-secret-1";
/// The demo fixtures' Discord user, Nelly.
pub const NELLY: &str = "80351110224678912";
/// The provider the demo tenant registers.
pub const PROVIDER: &str = "discord-demo";

/// A running demo world.
pub struct Demo {
    /// The Discord simulator.
    pub sim: Simulator,
    /// Latchkey.
    pub latchkey: Latchkey,
    /// The demo tenant's admin key.
    pub admin_key: String,
    /// The demo tenant's app key.
    pub app_key: String,
}

impl Demo {
    /// Starts the simulator (in `mode`, on `sim_port`) and Latchkey (on `latchkey_port`; 0 for
    /// any free port), creates the tenant and its provider, and points the simulator's app at
    /// the provider's redirect URI.
    pub async fn start(mode: Mode, latchkey_port: u16, sim_port: u16) -> anyhow::Result<Demo> {
        let sim = Simulator::start(SimConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, sim_port)),
            mode,
            fixtures: Some(Fixtures::from_json(FIXTURES)?),
            ..SimConfig::default()
        })
        .await
        .with_context(|| {
            format!("starting the Discord simulator on port {sim_port} (is another demo or `make sim` running?)")
        })?;
        let origin = sim.base_url();
        let latchkey = Latchkey::start(&origin, latchkey_port)
            .await
            .with_context(|| format!("starting Latchkey on port {latchkey_port}"))?;
        let api = &latchkey.api;
        let tenant = ok(
            Method::POST,
            &format!("{api}/v1/platform/tenants"),
            &latchkey.operator_key,
            Some(json!({"name": "Demo tenant"})),
        )
        .await?;
        let admin_key = tenant["admin_key"]
            .as_str()
            .context("no admin key")?
            .to_owned();
        let app_key = tenant["app_key"].as_str().context("no app key")?.to_owned();
        let provider = ok(
            Method::POST,
            &format!("{api}/v1/admin/auth_providers"),
            &admin_key,
            Some(json!({"id": PROVIDER, "provider_id": "discord",
                        "description": "The simulator's Acme Agent app",
                        "oauth2": {"client_id": APP_ID, "client_secret": APP_SECRET},
                        "scopes": ["identify", "guilds"], "endpoint_origin": origin})),
        )
        .await?;
        let redirect = provider["oauth2"]["redirect_uri"]
            .as_str()
            .context("no redirect URI")?;
        // The fixtures' app, now redirecting to this Latchkey's provider.
        latchkey_conformance::redirect_sim_app(&origin, FIXTURES, redirect).await?;
        Ok(Demo {
            sim,
            latchkey,
            admin_key,
            app_key,
        })
    }

    /// Sets the tenant's verifier URL.
    pub async fn set_verifier(&self, url: &str) -> anyhow::Result<()> {
        ok(
            Method::PUT,
            &format!(
                "{}/v1/admin/settings/session_verification",
                self.latchkey.api
            ),
            &self.admin_key,
            Some(json!({"verifier_url": url})),
        )
        .await?;
        Ok(())
    }

    /// The command for one of the example programs, configured for this Latchkey with `key`.
    pub fn example(&self, name: &str, key: &str) -> anyhow::Result<tokio::process::Command> {
        let mut cmd = tokio::process::Command::new(example_path(name)?);
        cmd.env("LATCHKEY_BASE_URL", &self.latchkey.api)
            .env("LATCHKEY_API_KEY", key)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        Ok(cmd)
    }

    /// Starts the example verifier app on `port` (0: any free port) and makes it the tenant's
    /// verifier: the running app and its origin.
    pub async fn start_verifier_app(
        &self,
        port: u16,
    ) -> anyhow::Result<(tokio::process::Child, String)> {
        let port = match port {
            0 => latchkey_conformance::free_port()?,
            p => p,
        };
        let app = format!("http://127.0.0.1:{port}");
        let child = self
            .example("verifier-app", &self.app_key)?
            .env("PORT", port.to_string())
            .spawn()?;
        wait_until_serving(&format!("{app}/login")).await?;
        self.set_verifier(&format!("{app}/latchkey/verify")).await?;
        Ok((child, app))
    }

    /// Stops Latchkey (the simulator stops when dropped).
    pub async fn stop(self) {
        self.latchkey.stop().await;
    }
}

/// An example program next to the running executable (`target/<profile>/<name>`).
pub fn example_path(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    // Tests run from target/<profile>/deps; the binaries are one level up.
    for dir in exe.ancestors().skip(1).take(2) {
        let p = dir.join(name);
        if p.exists() {
            return Ok(p);
        }
    }
    bail!(
        "{name} is not built next to {}: run `cargo build -p latchkey-examples`",
        exe.display()
    )
}

/// Waits until `url` answers (any status), for at most 30 s.
pub async fn wait_until_serving(url: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(url).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
