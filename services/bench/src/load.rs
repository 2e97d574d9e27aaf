//! Load generators: `wrk` (Debian's) for REST, and a small Rust generator for gRPC and for the
//! baseline it is compared with. Every run reports requests per second and latency
//! percentiles, and refuses to report a run in which any answer was not a success.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// One measured run.
#[derive(Debug, Clone, Copy)]
pub struct Figures {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile latency, ms.
    pub p99: f64,
    /// The share of the host's CPU time the hypervisor took for other guests during the run
    /// (`steal` in `/proc/stat`), in percent; `None` where the kernel does not say. Stolen time
    /// stalls whichever thread held the core, so a run with some is slower and has a longer tail
    /// for reasons outside the server.
    pub steal: Option<f64>,
    /// Latchkey's own 99th percentile of the same requests, ms: the upper bound of the bucket
    /// of its request-duration histogram that holds it ([`served_p99`]). Time a request spends
    /// before the server reads it or after it writes the answer — queued in the kernel or
    /// for a thread to run — is in `p99` but not here.
    pub served_p99: Option<f64>,
}

/// The request-duration histogram's buckets for `route` on the operations listener `ops`
/// (`/metrics`): each upper bound in seconds with the requests that took at most that long,
/// over all of the route's label sets, in ascending order.
pub async fn served(ops: &str, route: &str) -> anyhow::Result<Vec<(f64, u64)>> {
    let text = reqwest::get(format!("{ops}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse_served(&text, route))
}

fn parse_served(text: &str, route: &str) -> Vec<(f64, u64)> {
    let wanted = format!("route=\"{route}\"");
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("latchkey_http_request_duration_seconds_bucket{") else {
            continue;
        };
        let Some((labels, count)) = rest.rsplit_once("} ") else {
            continue;
        };
        if !labels.split(',').any(|l| l == wanted) {
            continue;
        }
        let le = labels
            .split(',')
            .find_map(|l| l.strip_prefix("le=\""))
            .map(|v| v.trim_end_matches('"'));
        let le = match le {
            Some("+Inf") => f64::INFINITY,
            Some(v) => match v.parse() {
                Ok(le) => le,
                Err(_) => continue,
            },
            None => continue,
        };
        let Ok(count) = count.trim().parse::<u64>() else {
            continue;
        };
        match buckets.iter_mut().find(|(b, _)| *b == le) {
            Some((_, n)) => *n += count,
            None => buckets.push((le, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The upper bound (ms) of the first bucket that holds 99 % of the requests served between two
/// readings of [`served`]; `None` when none were.
pub fn served_p99(before: &[(f64, u64)], after: &[(f64, u64)]) -> Option<f64> {
    let done = |le: f64| {
        let had = before.iter().find(|(b, _)| *b == le).map_or(0, |(_, n)| *n);
        after
            .iter()
            .find(|(b, _)| *b == le)
            .map_or(0, |(_, n)| n.saturating_sub(had))
    };
    let total = done(f64::INFINITY);
    if total == 0 {
        return None;
    }
    after
        .iter()
        .find(|(le, _)| done(*le) * 100 >= total * 99)
        .map(|(le, _)| le * 1000.0)
}

/// `measure`, a load on Latchkey's `route`, with Latchkey's own p99 of it from its operations
/// listener `ops` ([`Figures::served_p99`]; none if `/metrics` could not be read).
pub async fn with_served(
    ops: &str,
    route: &str,
    measure: impl Future<Output = anyhow::Result<Figures>>,
) -> anyhow::Result<Figures> {
    let before = served(ops, route).await.ok();
    let mut f = measure.await?;
    if let (Some(before), Ok(after)) = (before, served(ops, route).await) {
        f.served_p99 = served_p99(&before, &after);
    }
    Ok(f)
}

/// The host's CPU time in all and the part of it stolen, from `/proc/stat`'s first line (in
/// clock ticks).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CpuTicks {
    total: u64,
    steal: u64,
}

impl CpuTicks {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(stat.lines().next()?)
    }

    /// `cpu  user nice system idle iowait irq softirq steal guest guest_nice` (guest time is
    /// already counted in user time).
    fn parse(line: &str) -> Option<Self> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let ticks = fields
            .take(8)
            .map(|n| n.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        (ticks.len() == 8).then(|| Self {
            total: ticks.iter().sum(),
            steal: ticks[7],
        })
    }

    /// The percentage of the time between `self` and `later` that was stolen.
    fn stolen_until(self, later: Self) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let steal = later.steal.checked_sub(self.steal)?;
        (total > 0).then(|| steal as f64 * 100.0 / total as f64)
    }
}

/// Runs `load` and notes the host's steal during it.
async fn stealing(
    load: impl std::future::Future<Output = anyhow::Result<Figures>>,
) -> anyhow::Result<Figures> {
    let before = CpuTicks::now();
    let mut f = load.await?;
    f.steal = before
        .zip(CpuTicks::now())
        .and_then(|(b, a)| b.stolen_until(a));
    Ok(f)
}

/// Latchkey's figures next to its baseline's, measured in alternating rounds (Latchkey, then
/// the baseline, [`ROUNDS`] times), so that a drift in the shared host's speed between two
/// runs weighs on both sides alike.
#[derive(Debug, Clone, Default)]
pub struct Paired {
    /// Each round: Latchkey's figures, then the baseline's.
    pub rounds: Vec<(Figures, Figures)>,
}

/// Rounds per paired measurement. On this shared host one round's ratio ranges ±0.1 around
/// the run's median within minutes (docs/benchmarks.md), more than the margin to a target:
/// the median of nine is steadier than the median of five.
pub const ROUNDS: usize = 9;

impl Paired {
    /// Each round's requests/s as a ratio of its baseline's, in order.
    pub fn ratios(&self) -> Vec<f64> {
        self.rounds.iter().map(|(f, b)| f.rps / b.rps).collect()
    }

    /// The median (the lower middle one of an even count) of a figure over the rounds, for
    /// Latchkey and for the baseline, each taken on its own: a tail figure is not tied to the
    /// round whose throughput was the median.
    pub fn median_of(&self, figure: impl Fn(&Figures) -> f64) -> Option<(f64, f64)> {
        let middle = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len().saturating_sub(1) / 2).copied()
        };
        Some((
            middle(self.rounds.iter().map(|(f, _)| figure(f)).collect())?,
            middle(self.rounds.iter().map(|(_, b)| figure(b)).collect())?,
        ))
    }

    /// The round whose ratio is the median (the lower middle one of an even count).
    pub fn median(&self) -> Option<(Figures, Figures)> {
        let mut by_ratio = self.rounds.clone();
        by_ratio.sort_by(|(f, b), (g, c)| (f.rps / b.rps).total_cmp(&(g.rps / c.rps)));
        by_ratio.get(by_ratio.len().saturating_sub(1) / 2).copied()
    }
}

/// `wrk` with `connections` connections (two threads) for `secs` seconds, running `script`
/// (Lua) against `url`.
pub async fn wrk(url: &str, script: &str, connections: u32, secs: u32) -> anyhow::Result<Figures> {
    stealing(wrk_run(url, script, connections, secs)).await
}

async fn wrk_run(url: &str, script: &str, connections: u32, secs: u32) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("bench.lua");
    std::fs::write(&path, script)?;
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
        ])
        .arg(&path)
        .arg(url)
        .output()
        .await
        .context("running wrk (apt-get install wrk)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!("wrk failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parse_wrk(&text)
}

fn parse_wrk(text: &str) -> anyhow::Result<Figures> {
    if let Some(l) = text
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"))
    {
        bail!("the run had failures ({}):\n{text}", l.trim());
    }
    if let Some(l) = text
        .lines()
        .find(|l| l.trim_start().starts_with("Socket errors"))
    {
        bail!("the run had socket errors ({}):\n{text}", l.trim());
    }
    let pct = |p: &str| -> anyhow::Result<f64> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(p))
            .with_context(|| format!("no {p} line in wrk's output:\n{text}"))?;
        duration_ms(line.split_whitespace().nth(1).unwrap_or_default())
    };
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    Ok(Figures {
        rps,
        p50: pct("50%")?,
        p99: pct("99%")?,
        steal: None,
        served_p99: None,
    })
}

fn duration_ms(s: &str) -> anyhow::Result<f64> {
    let (n, unit) = s
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| s.split_at(i))
        .with_context(|| format!("a duration: {s}"))?;
    let n: f64 = n.parse().with_context(|| format!("a duration: {s}"))?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        other => bail!("unknown unit {other} in {s}"),
    })
}

/// A `wrk` script that POSTs `body` to `path` with `key`.
pub fn post_script(path: &str, key: &str, body: &str) -> String {
    format!(
        "wrk.method = \"POST\"\nwrk.path = \"{path}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.headers[\"Authorization\"] = \"{key}\"\nwrk.body = '{body}'\n"
    )
}

/// A `wrk` script that starts an authorization for a new user on every request.
pub fn authorize_script(key: &str) -> String {
    format!(
        "local n = 0\nlocal threads = 0\n\
         function setup(thread) threads = threads + 1; thread:set(\"tid\", threads) end\n\
         function init(args) tid = wrk.thread:get(\"tid\") end\n\
         function request()\n  n = n + 1\n  return wrk.format(\"POST\", \"/v1/auth/authorize\", \
         {{[\"Content-Type\"] = \"application/json\", [\"Authorization\"] = \"{key}\"}}, \
         '{{\"user_id\":\"bench-' .. tid .. '-' .. n .. '\",\"auth_requirement\":{{\"provider_id\":\"discord\",\
         \"oauth2\":{{\"scopes\":[\"guilds\"]}}}}}}')\nend\n"
    )
}

/// Runs `call` from `tasks` concurrent tasks for `secs` seconds; any failed call fails the run.
pub async fn drive<F, Fut>(tasks: usize, secs: u64, call: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    stealing(drive_run(tasks, secs, call)).await
}

async fn drive_run<F, Fut>(tasks: usize, secs: u64, call: F) -> anyhow::Result<Figures>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (call, stop) = (call.clone(), stop.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                call(t).await?;
                lat.push(started.elapsed());
            }
            anyhow::Ok(lat)
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Figures {
        rps: all.len() as f64 / elapsed,
        p50: percentile(&mut all, 0.50),
        p99: percentile(&mut all, 0.99),
        steal: None,
        served_p99: None,
    })
}

/// The `q` quantile of `samples`, in ms.
pub fn percentile(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1000.0
}

/// Whether `wrk` is installed.
pub fn have_wrk() -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| Path::new(&d).join("wrk").exists()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(rps: f64, p99: f64) -> Figures {
        Figures {
            rps,
            p50: 1.0,
            p99,
            steal: None,
            served_p99: None,
        }
    }

    #[test]
    fn the_median_round_is_reported_whole() {
        let p = Paired {
            rounds: vec![
                (fig(50.0, 4.0), fig(100.0, 2.0)),
                (fig(30.0, 9.0), fig(100.0, 2.0)),
                (fig(70.0, 3.0), fig(100.0, 2.5)),
            ],
        };
        assert_eq!(p.ratios(), vec![0.5, 0.3, 0.7]);
        let (f, b) = p.median().unwrap_or_else(|| (fig(0.0, 0.0), fig(1.0, 0.0)));
        assert_eq!((f.rps, f.p99, b.rps), (50.0, 4.0, 100.0));
        let two = Paired {
            rounds: p.rounds[..2].to_vec(),
        };
        assert_eq!(two.median().map(|(f, _)| f.rps), Some(30.0));
        assert!(Paired::default().median().is_none());
        // Tails are the median of each side's own, not the median round's.
        assert_eq!(p.median_of(|f| f.p99), Some((4.0, 2.0)));
        let p = Paired {
            rounds: vec![
                (fig(60.0, 40.0), fig(100.0, 2.0)),
                (fig(61.0, 4.0), fig(100.0, 9.0)),
                (fig(59.0, 3.0), fig(100.0, 3.0)),
            ],
        };
        assert_eq!(p.median().map(|(f, _)| f.p99), Some(40.0));
        assert_eq!(p.median_of(|f| f.p99), Some((4.0, 3.0)));
        assert!(Paired::default().median_of(|f| f.p99).is_none());
    }

    #[test]
    fn reads_wrk_output() {
        let out = "Running 10s test @ http://127.0.0.1:8080/v1/tokens
  2 threads and 64 connections
  Latency Distribution
     50%  812.00us
     75%    1.20ms
     90%    2.01ms
     99%    4.50ms
  123456 requests in 10.00s, 50.00MB read
Requests/sec:  12345.60
Transfer/sec:      5.00MB
";
        let f = parse_wrk(out).unwrap();
        assert_eq!((f.rps, f.p50, f.p99), (12345.6, 0.812, 4.5));
        assert!(parse_wrk(&format!("{out}  Non-2xx or 3xx responses: 3\n")).is_err());
    }

    #[test]
    fn reads_the_servers_own_p99_from_its_histogram() {
        let metrics = |fast: u64, slow: u64| {
            let mut t = String::from("# TYPE latchkey_http_request_duration_seconds histogram\n");
            for (route, status, scale) in [
                ("/v1/tokens", 200, 1),
                ("/v1/tokens", 403, 0),
                ("/healthz", 200, 9),
                ("/latchkey.v1.Token/GetToken", 200, 3),
            ] {
                for (le, n) in [
                    ("0.0005", fast),
                    ("0.004", fast),
                    ("0.008", fast + slow),
                    ("+Inf", fast + slow),
                ] {
                    t.push_str(&format!(
                        "latchkey_http_request_duration_seconds_bucket{{listener=\"api\",method=\"POST\",route=\"{route}\",status=\"{status}\",le=\"{le}\"}} {}\n",
                        n * scale
                    ));
                }
            }
            t.push_str("latchkey_http_request_duration_seconds_count{route=\"/v1/tokens\"} 1\n");
            t
        };
        let before = parse_served(&metrics(100, 0), "/v1/tokens");
        assert_eq!(
            before,
            vec![
                (0.0005, 100),
                (0.004, 100),
                (0.008, 100),
                (f64::INFINITY, 100)
            ]
        );
        // 990 more under 0.5 ms and 10 between 4 and 8 ms: 99 % within 0.5 ms.
        let after = parse_served(&metrics(1090, 10), "/v1/tokens");
        assert_eq!(served_p99(&before, &after), Some(0.5));
        // One more slow one: the 99th percentile is in the 8 ms bucket.
        let after = parse_served(&metrics(1090, 11), "/v1/tokens");
        assert_eq!(served_p99(&before, &after), Some(8.0));
        assert_eq!(served_p99(&before, &before), None);
        assert!(parse_served(&metrics(5, 5), "/v1/other").is_empty());
        // A gRPC method's route is its path.
        let grpc = parse_served(&metrics(10, 1), "/latchkey.v1.Token/GetToken");
        assert_eq!(grpc.last(), Some(&(f64::INFINITY, 33)));
    }

    #[test]
    fn reads_the_hosts_steal() {
        let before = CpuTicks::parse("cpu  100 0 50 800 10 0 5 20 0 0").unwrap();
        assert_eq!(
            before,
            CpuTicks {
                total: 985,
                steal: 20
            }
        );
        let later = CpuTicks::parse("cpu  150 0 80 855 10 0 5 35 7 0").unwrap();
        // 15 of the 150 ticks between them were stolen (guest time is not counted twice).
        assert_eq!(before.stolen_until(later), Some(10.0));
        assert_eq!(before.stolen_until(before), None);
        assert_eq!(later.stolen_until(before), None);
        assert!(CpuTicks::parse("cpu0 1 2 3 4 5 6 7 8").is_none());
        assert!(CpuTicks::parse("cpu  1 2 3").is_none());
        assert!(CpuTicks::parse("cpu  1 2 3 4 5 6 7 x").is_none());
        // This kernel's own line reads (the figure is only ever None off Linux).
        if cfg!(target_os = "linux") {
            assert!(CpuTicks::now().is_some());
        }
    }

    #[test]
    fn percentiles() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&mut v, 0.5), 50.0);
        assert_eq!(percentile(&mut v, 0.99), 99.0);
    }
}
