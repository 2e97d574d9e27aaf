//! What the benchmarks run against: `latchkey serve` as its own process (the release binary
//! next to this one), on SQLite in a scratch directory or on a fresh PostgreSQL database, with
//! the Discord simulator in this process; a tenant in skip mode (verification is not on any path
//! measured here), its provider and one tool; and users connected through the real browser flow.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use latchkey_conformance::browser::Browser;
use latchkey_conformance::{free_port, ok};
use latchkey_discord_sim::{Fixtures, SimConfig, Simulator};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const APP_ID: &str = "1100000000000000001";
const APP_SECRET: &str = "acme-secret-1";
/// The demo fixtures (the simulator's app, and Nelly).
const FIXTURES: &str = include_str!("../../discord-sim/fixtures/demo.json");
/// Nelly, the fixtures' Discord user.
pub const NELLY: &str = "80351110224678912";

/// The `latchkey` binary beside this one (both built by `make bench`).
pub fn latchkey_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let bin = me.with_file_name("latchkey");
    if !bin.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p latchkey-server`",
            bin.display()
        );
    }
    Ok(bin)
}

/// Where replicas keep their data: a scratch SQLite directory or a PostgreSQL database.
pub enum Db {
    /// Embedded SQLite under this directory.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database created for the run (dropped at the end).
    Postgres {
        admin: String,
        name: String,
        url: String,
    },
}

impl Db {
    /// A scratch SQLite directory.
    pub fn sqlite() -> anyhow::Result<Self> {
        Ok(Db::Sqlite(tempfile::tempdir()?))
    }

    /// A fresh PostgreSQL database next to `admin` (a URL to the `postgres` database).
    pub fn postgres(admin: &str) -> anyhow::Result<Self> {
        let name = format!("latchkey_test_bench_{}", std::process::id());
        psql(
            admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )?;
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        let base = admin.rsplit_once('/').context("a database URL")?.0;
        Ok(Db::Postgres {
            admin: admin.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// `sqlite` or `PostgreSQL`.
    pub fn label(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "SQLite",
            Db::Postgres { .. } => "PostgreSQL",
        }
    }

    /// Drops the PostgreSQL database.
    pub fn drop_now(&self) {
        if let Db::Postgres { admin, name, .. } = self {
            let _ = psql(
                admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}

fn psql(admin: &str, sql: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("psql")
        .args([admin, "-Atqc", sql])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("psql: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// One `latchkey serve` process.
pub struct Replica {
    child: tokio::process::Child,
    /// `http://127.0.0.1:<port>`.
    pub api: String,
    /// The operations listener.
    pub ops: String,
}

impl Replica {
    /// The process id (for its RSS).
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Resident set size in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// SIGTERM, then waits.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = self.child.kill().await;
    }
}

/// CPU time `pid` has used (user and system, all threads), from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Duration {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // After the command name in parentheses: state is field 3, utime 14, stime 15.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    // Linux reports these in USER_HZ, 100 a second on every architecture we run on.
    Duration::from_millis(ticks * 10)
}

/// `VmRSS` of `pid` in KiB (0 when unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The environment every replica of one deployment shares.
pub struct Deployment {
    db: Db,
    env: Vec<(String, String)>,
    /// The master key and pepper every replica shares (base64).
    keys: (String, String),
    /// The port of the replica browsers and Discord reach (the public URL).
    pub public_port: u16,
}

impl Deployment {
    /// A deployment on `db` trusting the simulator at `sim`.
    pub fn new(db: Db, sim: &str) -> Self {
        let public_port = free_port().unwrap_or(18080);
        let master = latchkey_core::crypto::KeyMaterial::generate()
            .to_base64()
            .to_string();
        let pepper = latchkey_core::crypto::KeyMaterial::generate()
            .to_base64()
            .to_string();
        let mut env: Vec<(String, String)> = vec![
            (
                "LATCHKEY__SERVER__PUBLIC_URL".into(),
                format!("http://127.0.0.1:{public_port}"),
            ),
            (
                "LATCHKEY__DISCORD__ALLOWED_ENDPOINT_ORIGINS".into(),
                format!("[\"{sim}\"]"),
            ),
            (
                "LATCHKEY__AUTH__ALLOW_INSECURE_LOOPBACK_URLS".into(),
                "true".into(),
            ),
            (
                "LATCHKEY__AUTH__ALLOW_UNSAFE_SKIP_VERIFICATION".into(),
                "true".into(),
            ),
            ("LATCHKEY__DATABASE__AUTO_MIGRATE".into(), "true".into()),
            ("LATCHKEY__ENCRYPTION__MASTER_KEYS".into(), master.clone()),
            ("LATCHKEY__AUTH__PEPPERS".into(), pepper.clone()),
            ("LATCHKEY__LOG__LEVEL".into(), "error".into()),
        ];
        if let Db::Postgres { url, .. } = &db {
            env.push(("LATCHKEY__DATABASE__URL".into(), url.clone()));
        }
        Self {
            db,
            env,
            keys: (master, pepper),
            public_port,
        }
    }

    /// The deployment's database and keys opened in this process, as a replica opens them.
    pub async fn open(&self) -> anyhow::Result<latchkey_server::Context> {
        let Db::Postgres { url, .. } = &self.db else {
            bail!("only PostgreSQL deployments are opened in-process");
        };
        let mut settings = latchkey_server::Settings::default();
        settings.database.url = Some(url.clone());
        settings.encryption.master_keys = vec![self.keys.0.clone().into()];
        settings.auth.peppers = vec![self.keys.1.clone().into()];
        Ok(latchkey_server::Context::open(
            settings,
            latchkey_server::context::Migrations::AsConfigured,
        )
        .await?)
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    fn dir(&self) -> PathBuf {
        match &self.db {
            Db::Sqlite(d) => d.path().to_owned(),
            Db::Postgres { .. } => std::env::temp_dir(),
        }
    }

    fn command(
        &self,
        args: &[&str],
        extra: &[(&str, &str)],
    ) -> anyhow::Result<tokio::process::Command> {
        // A profiler the replica runs under, e.g. `heaptrack -o /tmp/latchkey`.
        let wrap = std::env::var("LATCHKEY_BENCH_WRAP").unwrap_or_default();
        let mut wrap = wrap.split_whitespace();
        let mut c = match wrap.next() {
            Some(profiler) if args.first() == Some(&"serve") => {
                let mut c = tokio::process::Command::new(profiler);
                c.args(wrap).arg(latchkey_bin()?);
                c
            }
            _ => tokio::process::Command::new(latchkey_bin()?),
        };
        c.args(args).current_dir(self.dir()).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            c.env("PATH", path);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        for (k, v) in extra {
            c.env(k, v);
        }
        Ok(c)
    }

    /// Starts a replica (on the public port when `public`) and waits until it is ready; answers
    /// it and how long it took from spawn to ready.
    pub async fn start(
        &self,
        public: bool,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<(Replica, Duration)> {
        self.spawn(public, extra, Stdio::inherit()).await
    }

    /// Starts a replica (not on the public port) logging at `info` — the default — with its
    /// stderr on a pipe that a task here reads, as a log collector would; answers it and the
    /// count of bytes it has logged so far.
    pub async fn start_logging(
        &self,
    ) -> anyhow::Result<(Replica, Arc<std::sync::atomic::AtomicU64>)> {
        use tokio::io::AsyncReadExt;
        let (mut replica, _) = self
            .spawn(false, &[("LATCHKEY__LOG__LEVEL", "info")], Stdio::piped())
            .await?;
        let logged = Arc::new(std::sync::atomic::AtomicU64::new(0));
        if let Some(mut err) = replica.child.stderr.take() {
            let logged = logged.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    logged.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
        Ok((replica, logged))
    }

    async fn spawn(
        &self,
        public: bool,
        extra: &[(&str, &str)],
        stderr: Stdio,
    ) -> anyhow::Result<(Replica, Duration)> {
        let api_port = if public {
            self.public_port
        } else {
            free_port()?
        };
        let ops_port = free_port()?;
        let started = Instant::now();
        let child = self
            .command(&["serve"], extra)?
            .env(
                "LATCHKEY__SERVER__API_ADDR",
                format!("127.0.0.1:{api_port}"),
            )
            .env(
                "LATCHKEY__SERVER__OPS_ADDR",
                format!("127.0.0.1:{ops_port}"),
            )
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .context("spawning latchkey serve")?;
        let replica = Replica {
            child,
            api: format!("http://127.0.0.1:{api_port}"),
            ops: format!("http://127.0.0.1:{ops_port}"),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", replica.ops)).send().await
                && r.status() == StatusCode::OK
            {
                return Ok((replica, started.elapsed()));
            }
            if Instant::now() > deadline {
                bail!("latchkey serve did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Creates a tenant with the CLI: (admin key, app key).
    pub async fn tenant(&self) -> anyhow::Result<(String, String)> {
        let out = self
            .command(&["tenant", "create", "Bench", "--json"], &[])?
            .output()
            .await?;
        if !out.status.success() {
            bail!("tenant create: {}", String::from_utf8_lossy(&out.stderr));
        }
        let t: Value = serde_json::from_slice(&out.stdout)?;
        let key = |k: &str| t[k].as_str().map(str::to_owned).context("tenant keys");
        Ok((key("admin_key")?, key("app_key")?))
    }
}

/// The tenant set up on a deployment: its keys, the tool's key, the simulator.
pub struct Tenant {
    /// The simulator.
    pub sim: Simulator,
    /// The tenant's app key.
    pub app: String,
    /// The tool `Discord.Guilds` (scope `guilds`).
    pub tool: String,
}

/// The simulator with the demo fixtures.
pub async fn simulator() -> anyhow::Result<Simulator> {
    Ok(Simulator::start(SimConfig {
        fixtures: Some(Fixtures::from_json(FIXTURES)?),
        ..SimConfig::default()
    })
    .await?)
}

impl Tenant {
    /// Creates the tenant (skip mode), its provider (the simulator's app) and the tool through
    /// replica `api`.
    pub async fn set_up(dep: &Deployment, sim: Simulator, api: &str) -> anyhow::Result<Self> {
        let (admin, app) = dep.tenant().await?;
        let origin = sim.base_url();
        let provider = ok(
            Method::POST,
            &format!("{api}/v1/admin/auth_providers"),
            &admin,
            Some(json!({"id": "discord", "provider_id": "discord",
                        "oauth2": {"client_id": APP_ID, "client_secret": APP_SECRET},
                        "scopes": ["identify", "guilds"], "endpoint_origin": origin})),
        )
        .await?;
        let redirect = provider["oauth2"]["redirect_uri"]
            .as_str()
            .context("redirect URI")?;
        latchkey_conformance::redirect_sim_app(&origin, FIXTURES, redirect).await?;
        ok(
            Method::PUT,
            &format!("{api}/v1/admin/settings/session_verification"),
            &admin,
            Some(json!({"unsafe_skip_verification": true})),
        )
        .await?;
        let tool = ok(
            Method::POST,
            &format!("{api}/v1/admin/tools"),
            &admin,
            Some(json!({"name": "Discord.Guilds", "version": "1.0.0",
                        "requirement": {"oauth2": {"scopes": ["guilds"]}}})),
        )
        .await?;
        let tool = tool["key"]["secret"]
            .as_str()
            .context("tool key")?
            .to_owned();
        Ok(Self { sim, app, tool })
    }

    /// Starts an authorization for `user` at `api`: its id and start link.
    pub async fn authorize(&self, api: &str, user: &str) -> anyhow::Result<(String, String)> {
        let a = ok(
            Method::POST,
            &format!("{api}/v1/auth/authorize"),
            &self.app,
            Some(json!({"user_id": user, "auth_requirement": {"provider_id": "discord", "oauth2": {"scopes": ["guilds"]}}})),
        )
        .await?;
        let id = a["id"].as_str().context("authorization id")?.to_owned();
        let url = a["url"].as_str().context("start link")?.to_owned();
        Ok((id, url))
    }

    /// Completes a started authorization in a browser signed in to Discord as Nelly (skip mode:
    /// the callback completes it).
    pub async fn consent(&self, link: &str) -> anyhow::Result<()> {
        let mut browser = Browser::new()?;
        browser.set_cookie(&self.sim.base_url(), "sim_user", NELLY);
        let page = browser.consent(link).await?;
        if page.status != StatusCode::SEE_OTHER {
            bail!("the callback answered {}: {}", page.status, page.body);
        }
        Ok(())
    }

    /// Connects `user` at `api` (authorization, consent).
    pub async fn connect(&self, api: &str, user: &str) -> anyhow::Result<()> {
        let (_, link) = self.authorize(api, user).await?;
        self.consent(&link).await
    }
}
