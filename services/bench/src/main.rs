//! `latchkey-bench`: the measurements behind `make bench` (issue 10). `run` starts Latchkey
//! (release build, its own process) on SQLite and on PostgreSQL, measures each hot path next to
//! an in-run baseline — a bare axum handler in its own process answering the same JSON body —
//! and writes docs/benchmarks.md. `baseline` is that handler.

mod cold;
mod load;
mod report;
mod waiters;
mod world;

use std::time::Duration;

use axum::routing::any;
use clap::{Parser, Subcommand};
use load::{Figures, Paired};
use world::{Db, Deployment, Replica, Tenant};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves `body` as JSON on every path (the baseline).
    Baseline {
        /// Port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// The JSON body to answer.
        #[arg(long)]
        body: String,
    },
    /// Measures everything and writes the report.
    Run {
        /// Where the report goes.
        #[arg(long, default_value = "docs/benchmarks.md")]
        out: String,
        /// A URL to PostgreSQL's `postgres` database (a scratch database is created beside it).
        #[arg(
            long,
            env = "PG_ADMIN_URL",
            default_value = "postgres://postgres@127.0.0.1:5432/postgres"
        )]
        pg: String,
        /// Seconds per throughput run.
        #[arg(long, default_value_t = 10)]
        secs: u32,
        /// Concurrent long-poll waiters.
        #[arg(long, default_value_t = 10_000)]
        waiters: usize,
        /// The refresh-race test's output (`make bench` runs it first).
        #[arg(long)]
        race: Option<String>,
    },
    /// Only the long-poll waiters on one replica, printed (for profiling: the replica runs
    /// under `LATCHKEY_BENCH_WRAP`, e.g. `heaptrack`, when it is set).
    Waiters {
        /// Concurrent long-poll waiters.
        #[arg(long, default_value_t = 10_000)]
        n: usize,
        /// On PostgreSQL (a scratch database beside this `postgres` database URL) rather
        /// than SQLite.
        #[arg(long)]
        pg: Option<String>,
    },
    /// Only the warm token fetch on one replica (SQLite, or PostgreSQL with `--pg`), then its
    /// baseline, printed with the CPU each spent a request (for profiling, as `waiters`).
    Fetch {
        /// Seconds of load.
        #[arg(long, default_value_t = 10)]
        secs: u32,
        /// Fetch on PostgreSQL: an admin URL (a scratch database is created and dropped).
        #[arg(long)]
        pg: Option<String>,
        /// Over gRPC with the Rust generator (whose own CPU a request is printed too) instead
        /// of REST with `wrk`.
        #[arg(long)]
        grpc: bool,
        /// `auth.start` (`POST /v1/auth/authorize` for a new user each time) instead of the
        /// token fetch, without a baseline.
        #[arg(long, conflicts_with = "grpc")]
        start: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Baseline { port, body } => rt.block_on(baseline(port, body)),
        Command::Run {
            out,
            pg,
            secs,
            waiters,
            race,
        } => rt.block_on(async {
            let report = run(&pg, secs, waiters).await?;
            let race = race.and_then(|p| std::fs::read_to_string(p).ok());
            std::fs::write(&out, report::markdown(&report, race.as_deref()))?;
            println!("wrote {out}");
            Ok(())
        }),
        Command::Waiters { n, pg } => rt.block_on(async {
            let db = match pg {
                Some(url) => Db::postgres(&url)?,
                None => Db::sqlite()?,
            };
            let sim = world::simulator().await?;
            let dep = Deployment::new(db, &sim.base_url());
            let (a, _) = dep.start(true, &[]).await?;
            let tenant = Tenant::set_up(&dep, sim, &a.api).await?;
            let f = waiters::measure(&dep, &tenant, a, n).await;
            dep.db().drop_now();
            println!("{:?}", f?.one);
            Ok(())
        }),
        Command::Fetch {
            secs,
            pg,
            grpc,
            start,
        } => rt.block_on(async {
            let db = match pg {
                Some(url) => Db::postgres(&url)?,
                None => Db::sqlite()?,
            };
            let sim = world::simulator().await?;
            let dep = Deployment::new(db, &sim.base_url());
            let (a, _) = dep.start(true, &[]).await?;
            let tenant = Tenant::set_up(&dep, sim, &a.api).await?;
            if start {
                let url = format!("{}/v1/auth/authorize", a.api);
                let script = load::authorize_script(&tenant.app);
                let f = measured(a.pid(), secs, load::wrk(&url, &script, 64, secs)).await?;
                println!("auth.start {f}");
                a.stop().await;
                dep.db().drop_now();
                return Ok(());
            }
            tenant.connect(&a.api, "nelly").await?;
            let script = load::post_script("/v1/tokens", &tenant.tool, TOKEN_BODY);
            let f = measured(a.pid(), secs, async {
                if grpc {
                    load::with_served(&a.ops, GET_TOKEN, grpc_tokens(&a.api, &tenant.tool, secs))
                        .await
                } else {
                    let url = format!("{}/v1/tokens", a.api);
                    load::with_served(&a.ops, "/v1/tokens", load::wrk(&url, &script, 64, secs))
                        .await
                }
            })
            .await?;
            let body = token_body(&a, &tenant).await?;
            a.stop().await;
            dep.db().drop_now();
            let base = Baseline::start(&body).await?;
            let pid = base.child.id().unwrap_or(0);
            let url = format!("{}/v1/tokens", base.url);
            let b = measured(pid, secs, async {
                if grpc {
                    grpc_tokens(&base.url, &tenant.tool, secs).await
                } else {
                    load::wrk(&url, &script, 64, secs).await
                }
            })
            .await?;
            println!(
                "latchkey {f}\nbaseline {b}\nratio {}",
                report::ratio(f.0.rps / b.0.rps)
            );
            if grpc {
                let json = measured(pid, secs, http_drive(&base.url, secs)).await?;
                println!("baseline's JSON over HTTP/1.1, same generator: {json}");
            }
            Ok(())
        }),
    }
}

/// A run's figures with the CPU time a request of the measured process and of this one (the
/// generator, when it is not `wrk`), in microseconds.
struct Measured(Figures, f64, f64);

impl std::fmt::Display for Measured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {:.1} µs CPU a request (this process: {:.1})",
            self.0, self.1, self.2
        )
    }
}

/// Runs `load` and reads the CPU time it cost `pid` and this process.
async fn measured(
    pid: u32,
    secs: u32,
    load: impl std::future::Future<Output = anyhow::Result<Figures>>,
) -> anyhow::Result<Measured> {
    let me = std::process::id();
    let (server, generator) = (world::cpu_time(pid), world::cpu_time(me));
    let f = load.await?;
    let per = |used: Duration| used.as_secs_f64() * 1e6 / (f.rps * f64::from(secs));
    Ok(Measured(
        f,
        per(world::cpu_time(pid) - server),
        per(world::cpu_time(me) - generator),
    ))
}

/// The warm token fetch's request body.
const TOKEN_BODY: &str = r#"{"user_id":"nelly"}"#;

/// gRPC `GetToken`'s path, which is also its route in Latchkey's request metrics.
const GET_TOKEN: &str = "/latchkey.v1.Token/GetToken";

/// One warm token fetch's answer: the body the baseline serves.
async fn token_body(a: &Replica, tenant: &Tenant) -> anyhow::Result<String> {
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/tokens", a.api))
        .header("authorization", &tenant.tool)
        .header("content-type", "application/json")
        .body(TOKEN_BODY)
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "token: {}", answer.status());
    Ok(answer.text().await?)
}

/// The baseline: every path answers `body` (the token response's JSON), and gRPC's
/// `latchkey.v1.Token/GetToken` answers the same token as a bare handler (no key check, no
/// store), so the gRPC rounds compare the same generator over the same protocol.
async fn baseline(port: u16, body: String) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let token = BareToken::from_json(&body)?;
    let body: &'static str = Box::leak(body.into_boxed_str());
    // The request's body is read, as any handler of a POST would.
    let json = axum::Router::new().fallback(any(move |_: axum::body::Bytes| async move {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
    }));
    let app = json.route_service(
        GET_TOKEN,
        latchkey_api::grpc::v1::token_server::TokenServer::new(token),
    );
    // Small HTTP/2 frames must not wait for Nagle's algorithm (Latchkey sets it too).
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await?
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    axum::serve(listener, app).await?;
    Ok(())
}

/// `GetToken` answering one token.
struct BareToken(latchkey_api::grpc::v1::GetTokenResponse);

impl BareToken {
    /// From the token response's JSON.
    fn from_json(body: &str) -> anyhow::Result<Self> {
        let v: serde_json::Value = serde_json::from_str(body)?;
        let text = |k: &str| v[k].as_str().map(str::to_owned).unwrap_or_default();
        Ok(Self(latchkey_api::grpc::v1::GetTokenResponse {
            access_token: text("access_token"),
            token_type: text("token_type"),
            expires_at: text("expires_at"),
            scopes: v["scopes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
            user_info_json: v["user_info"].to_string(),
        }))
    }
}

#[tonic::async_trait]
impl latchkey_api::grpc::v1::token_server::Token for BareToken {
    async fn get_token(
        &self,
        _: tonic::Request<latchkey_api::grpc::v1::GetTokenRequest>,
    ) -> Result<tonic::Response<latchkey_api::grpc::v1::GetTokenResponse>, tonic::Status> {
        Ok(tonic::Response::new(self.0.clone()))
    }
}

/// The baseline process, answering `body`.
struct Baseline {
    child: tokio::process::Child,
    url: String,
}

impl Baseline {
    async fn start(body: &str) -> anyhow::Result<Self> {
        let port = latchkey_conformance::free_port()?;
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["baseline", "--port", &port.to_string(), "--body", body])
            .kill_on_drop(true)
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..500 {
            if reqwest::get(&url).await.is_ok() {
                return Ok(Self { child, url });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        anyhow::bail!("the baseline did not start")
    }
}

/// One store's figures.
pub struct StoreRun {
    /// `SQLite` or `PostgreSQL`.
    pub store: &'static str,
    /// Warm token fetch over REST (wrk, 64 connections) and its baseline.
    pub rest: Paired,
    /// Warm token fetch over REST as above, on a replica at the default `log.level = info`
    /// (one round), with the bytes it logged a request.
    pub rest_logging: (Paired, f64),
    /// Warm token fetch over gRPC (64 concurrent calls) and its baseline (the same generator
    /// calling the baseline's bare `GetToken`).
    pub grpc: Paired,
    /// The baseline's JSON over 64 HTTP/1.1 connections from the gRPC generator (for
    /// reference: what HTTP/2 and gRPC's framing cost).
    pub grpc_http1: Figures,
    /// `auth.start` (wrk, 64 connections, a new user each time), or why the run was refused
    /// (a failed or timed-out call: the other figures stand).
    pub start: Result<Figures, String>,
    /// Token fetch with the warm cache off over 100,000 grants (PostgreSQL only).
    pub cold: Option<Figures>,
    /// Long-poll waiters.
    pub waiters: waiters::WaiterFigures,
}

/// Everything measured.
pub struct Report {
    /// Per store: its figures, or why the run failed.
    pub stores: Vec<Result<StoreRun, (&'static str, String)>>,
    /// Start-up: the first start on an empty SQLite database, and restarts (median).
    pub startup: (Duration, Duration),
    /// Idle RSS after start-up, KiB.
    pub idle_rss_kib: u64,
    /// Seconds per throughput run.
    pub secs: u32,
}

async fn run(pg: &str, secs: u32, waiters: usize) -> anyhow::Result<Report> {
    anyhow::ensure!(
        load::have_wrk(),
        "wrk is not installed (apt-get install wrk)"
    );
    let (startup, idle_rss_kib) = startup().await?;
    let mut stores = Vec::new();
    for db in [Db::sqlite()?, Db::postgres(pg)?] {
        let label = db.label();
        eprintln!("== {label}");
        let sim = world::simulator().await?;
        let dep = Deployment::new(db, &sim.base_url());
        let r = store_run(&dep, sim, secs, waiters).await;
        dep.db().drop_now();
        stores.push(r.map_err(|e| {
            eprintln!("{label}: {e:#}");
            (label, format!("{e:#}"))
        }));
    }
    Ok(Report {
        stores,
        startup,
        idle_rss_kib,
        secs,
    })
}

/// First start on an empty SQLite database, then five restarts on it; the idle RSS.
async fn startup() -> anyhow::Result<((Duration, Duration), u64)> {
    let sim = world::simulator().await?;
    let dep = Deployment::new(Db::sqlite()?, &sim.base_url());
    let (r, first) = dep.start(true, &[]).await?;
    r.stop().await;
    let mut again = Vec::new();
    let mut rss = 0;
    for _ in 0..5 {
        let (r, took) = dep.start(true, &[]).await?;
        again.push(took);
        tokio::time::sleep(Duration::from_secs(2)).await;
        rss = r.rss_kib();
        r.stop().await;
    }
    again.sort();
    Ok(((first, again[again.len() / 2]), rss))
}

async fn store_run(
    dep: &Deployment,
    sim: latchkey_discord_sim::Simulator,
    secs: u32,
    waiters: usize,
) -> anyhow::Result<StoreRun> {
    let (a, _) = dep.start(true, &[]).await?;
    let tenant = Tenant::set_up(dep, sim, &a.api).await?;
    tenant.connect(&a.api, "nelly").await?;
    let body = token_body(&a, &tenant).await?;
    let base = Baseline::start(&body).await?;

    let script = load::post_script("/v1/tokens", &tenant.tool, TOKEN_BODY);
    let mut rest = Paired::default();
    let mut grpc = Paired::default();
    for round in 1..=load::ROUNDS {
        eprintln!("warm token fetch, REST, round {round}");
        rest.rounds.push((
            load::with_served(
                &a.ops,
                "/v1/tokens",
                load::wrk(&format!("{}/v1/tokens", a.api), &script, 64, secs),
            )
            .await?,
            load::wrk(&format!("{}/v1/tokens", base.url), &script, 64, secs).await?,
        ));
    }
    eprintln!("warm token fetch, REST, log.level = info");
    let rest_logging = {
        let (logging, logged) = dep.start_logging().await?;
        let url = format!("{}/v1/tokens", logging.api);
        let before = logged.load(std::sync::atomic::Ordering::Relaxed);
        let f = load::wrk(&url, &script, 64, secs).await?;
        let bytes = logged.load(std::sync::atomic::Ordering::Relaxed) - before;
        logging.stop().await;
        let b = load::wrk(&format!("{}/v1/tokens", base.url), &script, 64, secs).await?;
        let per_request = bytes as f64 / (f.rps * f64::from(secs));
        anyhow::ensure!(per_request > 0.0, "the logging replica logged nothing");
        (
            Paired {
                rounds: vec![(f, b)],
            },
            per_request,
        )
    };
    for round in 1..=load::ROUNDS {
        eprintln!("warm token fetch, gRPC, round {round}");
        grpc.rounds.push((
            load::with_served(&a.ops, GET_TOKEN, grpc_tokens(&a.api, &tenant.tool, secs)).await?,
            grpc_tokens(&base.url, &tenant.tool, secs).await?,
        ));
    }

    eprintln!("the baseline's JSON over HTTP/1.1 from the gRPC generator");
    let grpc_http1 = http_drive(&base.url, secs).await?;

    eprintln!("auth.start");
    let start = load::wrk(
        &format!("{}/v1/auth/authorize", a.api),
        &load::authorize_script(&tenant.app),
        64,
        secs,
    )
    .await
    .map_err(|e| e.to_string());
    drop(base.child);

    let cold = match dep.db() {
        Db::Postgres { .. } => {
            eprintln!("cold token fetch over {} grants", cold::GRANTS);
            cold::seed(dep).await?;
            Some(cold::measure(dep, &tenant, secs).await?)
        }
        Db::Sqlite(_) => None,
    };

    eprintln!("long-poll waiters");
    let waiters = waiters::measure(dep, &tenant, a, waiters).await?;
    Ok(StoreRun {
        store: dep.db().label(),
        rest,
        rest_logging,
        grpc,
        grpc_http1,
        start,
        cold,
        waiters,
    })
}

/// 64 concurrent `GetToken` calls over 8 HTTP/2 connections to `url`: Latchkey, or the
/// baseline's bare `GetToken`. Written with `h2` directly (the request's gRPC message encoded
/// once), not tonic's client: its channel sends each call through a buffer task and hyper's
/// dispatch task, and cost more CPU a call than the server it measured — on cores it shares
/// with that server (docs/benchmarks.md). Every call must answer HTTP 200, a message and
/// `grpc-status: 0`.
async fn grpc_tokens(url: &str, tool: &str, secs: u32) -> anyhow::Result<Figures> {
    use anyhow::Context as _;
    use prost::Message as _;
    let uri: axum::http::Uri = format!("{url}{GET_TOKEN}").parse()?;
    let authority = uri
        .authority()
        .context("the URL's host and port")?
        .to_string();
    let mut senders = Vec::new();
    for _ in 0..8 {
        let tcp = tokio::net::TcpStream::connect(&authority).await?;
        tcp.set_nodelay(true)?;
        let (send, connection) = h2::client::handshake(tcp).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        senders.push(send);
    }
    let message = latchkey_api::grpc::v1::GetTokenRequest {
        user_id: "nelly".to_owned(),
        grant: String::new(),
    }
    .encode_to_vec();
    // gRPC's framing: not compressed, the message's length, the message.
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len())?.to_be_bytes());
    frame.extend_from_slice(&message);
    let frame = bytes::Bytes::from(frame);
    let key = axum::http::HeaderValue::from_str(tool)?;
    load::drive(64, u64::from(secs), move |t| {
        let send = senders[t % senders.len()].clone();
        let (uri, key, frame) = (uri.clone(), key.clone(), frame.clone());
        async move {
            let mut send = send.ready().await?;
            let mut req = axum::http::Request::post(uri).body(())?;
            let headers = req.headers_mut();
            headers.insert(
                "content-type",
                axum::http::HeaderValue::from_static("application/grpc"),
            );
            headers.insert("te", axum::http::HeaderValue::from_static("trailers"));
            headers.insert("authorization", key);
            let (answer, mut stream) = send.send_request(req, false)?;
            stream.send_data(frame, true)?;
            let answer = answer.await?;
            anyhow::ensure!(
                answer.status().is_success(),
                "GetToken: HTTP {}",
                answer.status()
            );
            let mut body = answer.into_body();
            let mut read = 0;
            while let Some(chunk) = body.data().await {
                let chunk = chunk?;
                read += chunk.len();
                body.flow_control().release_capacity(chunk.len())?;
            }
            let status = body.trailers().await?;
            let status = status.as_ref().and_then(|t| t.get("grpc-status"));
            anyhow::ensure!(
                read > 5 && status.is_some_and(|s| s == "0"),
                "GetToken failed: grpc-status {status:?}"
            );
            Ok(())
        }
    })
    .await
}

/// The same generator posting the token request over 64 HTTP/1.1 connections to `url` (the
/// baseline's JSON, for reference beside the gRPC figures).
async fn http_drive(url: &str, secs: u32) -> anyhow::Result<Figures> {
    let clients: Vec<reqwest::Client> = (0..64)
        .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build())
        .collect::<Result<_, _>>()?;
    let url = format!("{url}/v1/tokens");
    load::drive(64, u64::from(secs), move |t| {
        let c = clients[t].clone();
        let url = url.clone();
        async move {
            let r = c.post(&url).body(TOKEN_BODY).send().await?;
            anyhow::ensure!(r.status().is_success());
            r.bytes().await?;
            Ok(())
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bare_get_token_answers_the_token_of_the_json() {
        let t = BareToken::from_json(
            r#"{"access_token":"tok","token_type":"Bearer","expires_at":"2026-12-06T07:00:00Z",
               "scopes":["guilds","identify"],"user_info":{"id":"80351110224678912"}}"#,
        )
        .map(|t| t.0)
        .unwrap_or_default();
        assert_eq!(t.access_token, "tok");
        assert_eq!(t.token_type, "Bearer");
        assert_eq!(t.expires_at, "2026-12-06T07:00:00Z");
        assert_eq!(t.scopes, ["guilds", "identify"]);
        assert_eq!(t.user_info_json, r#"{"id":"80351110224678912"}"#);
        assert!(BareToken::from_json("not json").is_err());
    }
}
