//! Black-box helpers: a fresh data directory per test, the real `latchkey` binary run as a
//! process, an in-process `Application` on port 0, and uniquely named PostgreSQL databases that
//! are dropped afterwards (with `CI=true`, an unreachable PostgreSQL fails the test).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod flow;
pub mod grpc;
pub mod pair;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod sim;

use latchkey_core::crypto::KeyMaterial;
use latchkey_server::{Application, Settings};

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_latchkey"))
}

/// A scratch directory with `latchkey` commands run inside it, isolated from the caller's
/// environment (only the variables given here reach the process).
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join("latchkey-data").join(name)
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args).current_dir(self.dir.path()).env_clear();
        for keep in ["PATH", "HOME", "TEST_LOG"] {
            if let Ok(v) = std::env::var(keep) {
                c.env(keep, v);
            }
        }
        c.env(
            "LATCHKEY__LOG__LEVEL",
            if std::env::var("TEST_LOG").is_ok() {
                "debug"
            } else {
                "warn"
            },
        );
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).output().unwrap();
        Run::from(out)
    }

    /// Starts `latchkey serve` on free ports and waits until it answers.
    pub fn serve(&self) -> Server {
        self.serve_at(free_port())
    }

    /// Starts `latchkey serve` with its API listener on `api` and waits until it answers.
    pub fn serve_at(&self, api: u16) -> Server {
        self.serve_with(api, Stdio::piped())
    }

    /// `latchkey serve` with its log (stderr) written to `log` instead of a pipe, for runs that
    /// log more than a pipe holds.
    pub fn serve_logging_to(&self, log: &Path) -> Server {
        self.serve_with(free_port(), std::fs::File::create(log).unwrap().into())
    }

    fn serve_with(&self, api: u16, stderr: Stdio) -> Server {
        let ops = free_port();
        let child = self
            .command(&["serve"])
            .env("LATCHKEY__SERVER__API_ADDR", format!("127.0.0.1:{api}"))
            .env("LATCHKEY__SERVER__OPS_ADDR", format!("127.0.0.1:{ops}"))
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let server = Server {
            child: Some(child),
            api: format!("http://127.0.0.1:{api}"),
            ops: format!("http://127.0.0.1:{ops}"),
        };
        server.wait_ready();
        server
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    pub fn ok(self) -> Self {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// A clear configuration/start-up failure: exit 2, the message present, never a panic.
    pub fn refused(self, needle: &str) -> Self {
        assert_eq!(
            self.code, 2,
            "expected exit 2; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr should mention {needle:?}:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }
}

pub struct Server {
    child: Option<Child>,
    pub api: String,
    pub ops: String,
}

impl Server {
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(200) = reqwest::blocking_get(&format!("{}/healthz", self.ops)) {
                return;
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends SIGTERM and waits; returns the exit code, stdout and stderr.
    pub fn stop(mut self) -> Run {
        let child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        Run::from(child.wait_with_output().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

mod reqwest {
    /// A tiny blocking GET returning the status (std only, to keep helpers synchronous).
    pub fn blocking_get(url: &str) -> std::io::Result<u16> {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest
            .split_once('/')
            .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
        let mut s = std::net::TcpStream::connect(host)?;
        s.set_read_timeout(Some(std::time::Duration::from_secs(2)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }
}

/// A uniquely named PostgreSQL database, dropped on `drop_now`.
pub struct PgDb {
    pub url: String,
    admin: String,
    name: String,
}

pub fn pg_admin_url() -> String {
    std::env::var("LATCHKEY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

impl PgDb {
    /// `None` when PostgreSQL is unreachable outside CI.
    pub async fn create() -> Option<Self> {
        let admin = pg_admin_url();
        let pool = match sqlx::PgPool::connect(&admin).await {
            Ok(p) => p,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!(
                    "SKIPPED: PostgreSQL unreachable at {admin}: {e} (set CI=true to fail instead)"
                );
                return None;
            }
            Err(e) => panic!("CI=true and PostgreSQL is unreachable at {admin}: {e}"),
        };
        let name = format!("latchkey_test_{}", uuid_like());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        let base = admin.rsplit_once('/').unwrap().0;
        Some(Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        })
    }

    pub async fn drop_now(&self) {
        let pool = sqlx::PgPool::connect(&self.admin).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{nanos:x}{:x}", std::process::id())
}

pub struct TestApp {
    pub api: String,
    pub ops: String,
    /// The running app's store and vault (to seed grants, which only a Discord flow makes).
    pub store: std::sync::Arc<dyn latchkey_core::ports::Store>,
    pub vault: std::sync::Arc<latchkey_core::crypto::Vault>,
    /// The operator key created at start (shown once).
    pub operator_key: String,
    /// The database URL in force (the embedded SQLite file unless one was given).
    pub database_url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

pub async fn spawn_app(database_url: Option<String>) -> TestApp {
    spawn_app_with(database_url, |_| {}).await
}

/// As [`spawn_app`], with a chance to adjust the settings first.
pub async fn spawn_app_with(
    database_url: Option<String>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        data_dir: dir.path().join("data"),
        ..Settings::default()
    };
    settings.server.api_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.ops_addr = "127.0.0.1:0".parse().unwrap();
    if let Some(url) = database_url {
        settings.database.url = Some(url);
        settings.database.auto_migrate = Some(true);
        settings.database.acquire_timeout_secs = 2;
        settings.encryption.master_keys =
            vec![KeyMaterial::generate().to_base64().to_string().into()];
        settings.auth.peppers = vec![KeyMaterial::generate().to_base64().to_string().into()];
    }
    tweak(&mut settings);
    if std::env::var("TEST_LOG").is_ok() {
        latchkey_server::telemetry::init_logging(&settings.log);
    }
    let database_url = settings.database_url();
    let mut app = Application::build(settings).await.unwrap();
    let operator_key = app
        .take_new_operator_key()
        .map(|k| secrecy::ExposeSecret::expose_secret(&k).to_owned())
        .unwrap_or_default();
    let api = format!("http://{}", app.api_addr());
    let ops = format!("http://{}", app.ops_addr());
    let store = app.context().store.clone();
    let vault = app.context().vault.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    TestApp {
        api,
        store,
        vault,
        operator_key,
        database_url,
        ops,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

impl TestApp {
    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops, and hands over the data directory so that the database can be read afterwards.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().unwrap();
        self._dir
    }
}

/// What a JSON API call answered.
pub struct Reply {
    pub status: ::reqwest::StatusCode,
    pub body: serde_json::Value,
    pub raw: String,
    pub request_id: String,
    pub headers: ::reqwest::header::HeaderMap,
}

/// Calls the API listener with an optional key and JSON body.
pub async fn request(
    app: &TestApp,
    method: ::reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<&serde_json::Value>,
) -> Reply {
    let mut req = ::reqwest::Client::new().request(method, format!("{}{path}", app.api));
    if let Some(k) = key {
        req = req.header("authorization", k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let request_id = r
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let headers = r.headers().clone();
    let raw = r.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&raw).unwrap_or(serde_json::Value::Null),
        raw,
        request_id,
        headers,
    }
}

/// Stores an active grant for `user_id` through the tenant's provider `slug`, as a completed
/// Discord flow would (tokens sealed by the app's vault). Returns its id.
pub async fn seed_grant(
    app: &TestApp,
    tenant: &str,
    slug: &str,
    user_id: &str,
    scopes: &[&str],
    tokens: (&str, Option<&str>),
    discord_user: serde_json::Value,
) -> String {
    use latchkey_core::grant::{self, GrantRecord, GrantSecrets, GrantStatus};
    let tenant = latchkey_core::TenantId::parse(tenant).unwrap();
    let provider = app.store.get_provider(tenant, slug).await.unwrap().unwrap();
    let id = latchkey_core::GrantId::generate();
    let (user_info, access_token, refresh_token) = grant::seal(
        &app.vault,
        tenant,
        id,
        &GrantSecrets {
            user_info: discord_user.clone(),
            access_token: tokens.0.into(),
            refresh_token: tokens.1.map(Into::into),
        },
    )
    .await
    .unwrap();
    let now = latchkey_core::time::UnixMillis::now();
    let g = GrantRecord {
        id,
        user_id: user_id.to_owned(),
        provider: provider.id,
        discord_user_id: discord_user["id"].as_str().unwrap_or("1").to_owned(),
        user_info,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        access_token,
        refresh_token,
        expires_at: latchkey_core::time::UnixMillis(now.0 + 3_600_000),
        generation: 0,
        status: GrantStatus::Active,
        created_at: now,
        updated_at: now,
        authorization: None,
        cooldown_until: None,
    };
    let actor = latchkey_core::audit::Actor {
        id: "test".to_owned(),
        request_id: None,
    };
    app.store
        .insert_grant(
            tenant,
            &g,
            &latchkey_core::audit::AuditEvent::success(&actor, "grant.create", id.to_string()),
        )
        .await
        .unwrap();
    id.to_string()
}

/// [`request`] with a key, answering the status and the JSON body.
pub async fn call(
    app: &TestApp,
    method: ::reqwest::Method,
    path: &str,
    key: &str,
    body: Option<serde_json::Value>,
) -> (::reqwest::StatusCode, serde_json::Value) {
    let r = request(app, method, path, Some(key), body.as_ref()).await;
    (r.status, r.body)
}

/// The lines a child process prints, as they come.
pub fn lines(stdout: std::process::ChildStdout) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use std::io::BufRead;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
