//! docs/benchmarks.md, written from one run: the machine, the commands, and every figure next to
//! its in-run baseline and its target.

use std::fmt::Write as _;

use crate::load::{Figures, Paired, ROUNDS};
use crate::{Report, StoreRun};

/// The 2-core machine's description from /proc.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cores} cores ({cpu}), {mem_gib:.0} GiB")
}

/// A ratio to three decimals, rounded down: one just under a target never prints as the
/// target itself (0.5998 is 0.599, not 0.60).
pub fn ratio(r: f64) -> String {
    format!("{:.3}", (r * 1000.0).floor() / 1000.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}

fn row(out: &mut String, what: &str, paired: &Paired) {
    let (Some((f, base)), Some((p50, base_p50)), Some((p99, base_p99))) = (
        paired.median(),
        paired.median_of(|f| f.p50),
        paired.median_of(|f| f.p99),
    ) else {
        failed(out, what, "no rounds");
        return;
    };
    let r = f.rps / base.rps;
    let rounds = paired
        .rounds
        .iter()
        .map(|(f, b)| round(f, b))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        out,
        "| {what} | {:.0} | {:.0} | {} ({}) | {rounds} | {} / {} | {} ({}) | {} / {} |",
        f.rps,
        base.rps,
        ratio(r),
        verdict(r >= RATIO_TARGET),
        ms(p50),
        ms(p99),
        ms(p99),
        verdict(p99 <= P99_TARGET_MS),
        ms(base_p50),
        ms(base_p99),
    );
}

/// A round's ratio and Latchkey's p99, with the host's steal during each side's run when
/// either reached [`STEAL_SHOWN`] percent, and — when the p99 missed its target — Latchkey's
/// own p99 of those requests (its request-duration histogram's bucket).
fn round(f: &Figures, b: &Figures) -> String {
    let r = format!("{} · {}", ratio(f.rps / b.rps), ms(f.p99));
    let mut notes = Vec::new();
    if let (Some(x), Some(y)) = (f.steal, b.steal)
        && (x >= STEAL_SHOWN || y >= STEAL_SHOWN)
    {
        notes.push(format!("steal {x:.1} / {y:.1} %"));
    }
    if f.p99 > P99_TARGET_MS
        && let Some(own) = f.served_p99
    {
        notes.push(format!("in the handler ≤ {}", ms(own)));
    }
    if notes.is_empty() {
        r
    } else {
        format!("{r} ({})", notes.join("; "))
    }
}

/// The steal, in percent of the host's CPU time, from which a round says how much it had.
const STEAL_SHOWN: f64 = 0.5;

/// The warm fetch's targets (issue 10): requests/s at least this share of the baseline's …
const RATIO_TARGET: f64 = 0.6;

/// … and a p99 of at most this many ms.
const P99_TARGET_MS: f64 = 5.0;

/// A row of the warm-fetch table (eight columns) for a run that failed.
fn failed(out: &mut String, store: &str, why: &str) {
    failed_row(out, store, why, 8);
}

/// A row of `columns` cells saying why `store`'s run failed (the first line of it).
fn failed_row(out: &mut String, store: &str, why: &str, columns: usize) {
    let why = why.lines().next().unwrap_or_default().replace('|', "/");
    let empty = " |".repeat(columns.saturating_sub(2));
    let _ = writeln!(out, "| {store} | run failed: {why} |{empty}");
}

fn store_rows(out: &mut String, s: &StoreRun) {
    row(out, &format!("{} · REST (wrk)", s.store), &s.rest);
    row(
        out,
        &format!(
            "{} · REST (wrk), `log.level = info`: {:.0} bytes of log a request",
            s.store, s.rest_logging.1
        ),
        &s.rest_logging.0,
    );
    row(out, &format!("{} · gRPC", s.store), &s.grpc);
}

/// The whole document.
pub fn markdown(r: &Report, race: Option<&str>) -> String {
    let mut o = String::new();
    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let _ = write!(
        o,
        "# Benchmarks

Written by `make bench` ({date}); never edit by hand. Speed and memory are measured here, never
asserted in tests (specs/security.md §6). Every throughput figure is measured side by side with
an **in-run baseline**: a bare axum handler (`latchkey-bench baseline`), in its own process on
the same machine, answering the same JSON body as Latchkey's token response.

- Machine: {machine}; everything on one host (loopback), so the load generator competes with
  the server for the same cores — the ratio to the baseline is the meaningful figure.
- Latchkey: the release build of `latchkey serve`, its own process, default settings (SQLite in
  a scratch directory; PostgreSQL 15 on loopback, a scratch database, pool of 10) except
  `log.level = error` (and the loopback and skip-verification allowances the scripted consent
  needs): at the default `info` every request writes an access-log line, a cost the rows marked
  `log.level = info` measure on their own — one round each, on a second replica whose stderr is
  a pipe read as a log collector would.
- Commands: `make bench` = `cargo build --release -p latchkey-server -p latchkey-bench`, the
  refresh race (below), then `target/release/latchkey-bench run --out docs/benchmarks.md`.
  REST load: `wrk -t2 -c64 -d{secs}s --latency`; gRPC load: 64 concurrent `GetToken` calls over
  8 HTTP/2 connections from a Rust generator (`h2`, the request encoded once; every answer
  must be HTTP 200 with a message and `grpc-status: 0`), whose baseline is the same
  generator calling a bare `GetToken` in the baseline process (a tonic service in its axum
  router answering the same token, with no key check and no store), so that both sides pay
  HTTP/2 and gRPC's framing alike. A run with any non-2xx answer (or gRPC error) is refused.

## Token fetch by a tool, warm grant, 64 connections

Targets: requests/s at least {ratio_target} × the baseline; p99 at most {p99_target} ms. Each is measured in
{rounds} alternating rounds of {secs} s (Latchkey, then the baseline), so that a drift in the
shared host's speed weighs on both sides alike. The row shows the round with the median ratio
(its requests/s), the median of the rounds' p50 and of their p99 (each side's own), and every
round's ratio and Latchkey's p99 in order. This machine is a virtual one: a round whose runs had at least
{steal_shown} % of the host's CPU time stolen by the hypervisor (`steal` in `/proc/stat`) says
how much (Latchkey's run / the baseline's), since stolen time stalls whichever thread held the
core and lengthens that run's tail. A round whose p99 missed {p99_target} ms also gives Latchkey's own p99
of those requests — from the moment its handler had the request to its answer, read from its
request-duration histogram (`/metrics`) before and after the run as the upper bound of a
bucket — so the time spent in Latchkey's code can be told from the time spent queued in the
kernel or waiting for a thread to run.

| Store · transport | Latchkey req/s | Baseline req/s | Ratio (≥ {ratio_target}) | Each round: ratio · p99 | Latchkey p50 / p99 | p99 (≤ {p99_target} ms) | Baseline p50 / p99 |
|---|---|---|---|---|---|---|---|
",
        machine = machine(),
        secs = r.secs,
        rounds = ROUNDS,
        steal_shown = STEAL_SHOWN,
        ratio_target = RATIO_TARGET,
        p99_target = P99_TARGET_MS,
    );
    for s in &r.stores {
        match s {
            Ok(s) => store_rows(&mut o, s),
            Err((store, why)) => failed(&mut o, store, why),
        }
    }
    let reference: Vec<String> = r
        .stores
        .iter()
        .flatten()
        .filter_map(|s| {
            let (f, _) = s.grpc.median()?;
            Some(format!(
                "{} {:.0} req/s (Latchkey's gRPC {} of it)",
                s.store,
                s.grpc_http1.rps,
                ratio(f.rps / s.grpc_http1.rps)
            ))
        })
        .collect();
    if !reference.is_empty() {
        let _ = writeln!(
            o,
            "\nFor reference, the baseline's JSON over 64 HTTP/1.1 connections from the same \
             generator (one run of {secs} s after the gRPC rounds): {}. The difference from the \
             gRPC baseline is HTTP/2's and gRPC's own cost on these cores, which Latchkey's \
             gRPC figures include.",
            reference.join("; "),
            secs = r.secs
        );
    }
    let _ = write!(
        o,
        "
## `auth.start` throughput

`POST /v1/auth/authorize` for a new user each time (`wrk`, 64 connections): every call writes an
authorization and its flow.

| Store | req/s | p50 / p99 |
|---|---|---|
"
    );
    for s in r.stores.iter().flatten() {
        match &s.start {
            Ok(f) => {
                let _ = writeln!(
                    o,
                    "| {} | {:.0} | {} / {} |",
                    s.store,
                    f.rps,
                    ms(f.p50),
                    ms(f.p99)
                );
            }
            Err(why) => failed_row(&mut o, s.store, why, 3),
        }
    }
    let _ = write!(
        o,
        "
## Token fetch with a cold cache over 100,000 grants

100,000 grants written to the PostgreSQL database (sealed with its keys, as a completed
authorization seals them); a replica with the warm-token cache off
(`auth.token_cache_ttl_secs = 0`) answers `wrk`'s token requests (64 connections) for users
picked at random, so every fetch reads its grant and decrypts it.

| Store | req/s | p50 / p99 |
|---|---|---|
"
    );
    for s in r.stores.iter().flatten() {
        if let Some(c) = &s.cold {
            let _ = writeln!(
                o,
                "| {} | {:.0} | {} / {} |",
                s.store,
                c.rps,
                ms(c.p50),
                ms(c.p99)
            );
        }
    }
    let _ = write!(
        o,
        "
## Long-poll waiters

Each authorization gets a `GET /v1/auth/status?wait=59` on its own connection; once the
replica's `latchkey_longpoll_waiters` gauge shows all held, its RSS is read again. Then 100 of
them are completed through the browser flow (skip mode, so the callback completes them) and
the wake-up latency is the time from the callback's answer to the waiter's answer. Targets: extra
RSS at most 100 MB (95.4 MiB); wake-up p99 at most 50 ms.

| Store · where | Waiters | RSS before → held | Extra (≤ 100 MB) | Wake-up p50 / p99 (≤ 50 ms) |
|---|---|---|---|---|
"
    );
    for s in r.stores.iter().flatten() {
        let mut holds = vec![("one process", s.waiters.one)];
        if let Some(two) = s.waiters.two {
            holds.push(("waiters on B, callbacks on A", two));
        }
        for (place, h) in holds {
            let extra_kib = h.rss_kib.1.saturating_sub(h.rss_kib.0);
            let _ = writeln!(
                o,
                "| {} · {place} | {} | {:.0} → {:.0} MiB | {:.0} MiB = {:.0} MB ({}) | {} / {} ({}) |",
                s.store,
                h.n,
                h.rss_kib.0 as f64 / 1024.0,
                h.rss_kib.1 as f64 / 1024.0,
                extra_kib as f64 / 1024.0,
                extra_kib as f64 * 1024.0 / 1e6,
                verdict(extra_kib * 1024 <= 100_000_000),
                ms(h.wake.0),
                ms(h.wake.1),
                verdict(h.wake.1 <= 50.0),
            );
        }
    }
    let _ = write!(
        o,
        "
## Start-up and idle memory (`latchkey serve`, SQLite)

From spawning the process to `/healthz` answering 200.

| First start (empty database: migrations, key files) | Restart (median of 5) | Idle RSS after start |
|---|---|---|
| {} | {} | {:.1} MiB |
",
        ms(r.startup.0.as_secs_f64() * 1000.0),
        ms(r.startup.1.as_secs_f64() * 1000.0),
        r.idle_rss_kib as f64 / 1024.0,
    );
    let _ = write!(
        o,
        "
## Refresh storm (two processes, PostgreSQL)

`LATCHKEY_RACE_REQUESTS=1000 cargo test -p latchkey-server --test refresh_race` (debug build):
two `latchkey serve` processes, alice's access token expired, the simulator holding every token
call 300 ms, 1,000 concurrent `POST /v1/tokens` alternating between the replicas. Asserted:
exactly **one** refresh call at the simulator, every request gets 200 and the same new token.
The baseline is the same burst once the grant is fresh.

{}
",
        race.map_or_else(
            || "(not run)".to_owned(),
            |t| t
                .lines()
                .filter(|l| l.starts_with("refresh race:"))
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    );
    o.push_str(HISTORY);
    o
}

/// What earlier runs found and what was changed (kept with the figures they explain).
const HISTORY: &str = "
## Profiles and fixes (2026-12-03 to 2026-12-06)

The first runs of this harness missed targets; each cause was found and fixed, and the figures
above are after the fixes.

| Finding | Cause (how found) | Fix | Before → after |
|---|---|---|---|
| gRPC token fetch at 1,456 req/s, p50 44 ms | every small HTTP/2 frame waited for Nagle's algorithm and the peer's delayed ACK (40 ms: the latency was a constant 44 ms at any load) | `TCP_NODELAY` on accepted connections (both listeners) | SQLite: 1,456 → 17,525 req/s; p50 44.0 → 3.4 ms |
| PostgreSQL: 3,500–19,000 token requests a second refused with 503 under load; SQLite: 148,891 of 346,380 answers refused | the audit pipeline wrote one `INSERT` per event, in batches of 500: slower than releases arrive, so its queue filled (`perf`: the flusher's round trips; the refusals' log line) | one bulk statement per batch (`UNNEST` of arrays on PostgreSQL, 500-row `VALUES` on SQLite), 5,000 events per transaction, and a release waits up to 500 ms for room before it is refused | PostgreSQL: refusals → none, 23,873 req/s; SQLite: 34,571 req/s with 43 % refused → 27,590 req/s, none refused |
| a log line per refused release (147,000 lines in ten seconds) | the refusal logged at ERROR each time | one line a second with the count | — |
| 10,000 held long-polls cost 265–292 MiB (about 28 KiB each) | `heaptrack` of a replica holding 5,000 (`LATCHKEY_BENCH_WRAP=\"heaptrack -o …\" latchkey-bench waiters --n 5000`): hyper's read buffer was 16 KiB a connection — `axum::serve` (hyper-util's `auto` builder) reads HTTP/2's 24-byte preface itself and hands hyper a rewound stream, whose first read then grows hyper's 8 KiB buffer to 16 KiB; the status handler's future was 6.7 KiB, because the store queries' futures (and the API-key look-up's) were laid out inside it for the whole hold; two `from_fn` middlewares, each a boxed future | an accept loop of our own that peeks at the preface (the bytes stay in the socket, so hyper reads the request into its usual 8 KiB); the status wait and the key look-ups box their store futures, and the request's URI is dropped before the wait; the body check runs inside `request_context` | `latchkey-bench waiters`, SQLite: 285 → 195 MiB extra (28.5 → 19.9 KiB each); `make bench` (next day, another host): 265 → 182 MiB (SQLite), 289 → 212 MiB (PostgreSQL), 292 → 217 MiB (two processes) |
| every token release deep-copied the tenant's provider list and its tool record out of the look-up cache (about 25 allocations), and each audit event's UUID v7 took a `getrandom` system call | reading the hot path after `perf` showed `malloc`/`free` at about 8 % | releases read the cached lists shared (`shared_providers`, `shared_tools`: an `Arc`, nothing copied) and keep only the provider's endpoint origin; `uuid`'s `fast-rng` (a thread-local CSPRNG) | runs before and after, same host and day: SQLite REST 37,171 → 46,452 req/s (p99 5.62 → 4.88 ms), PostgreSQL REST 33,860 → 33,527, gRPC 33,829 → 32,912 (SQLite) and 28,294 → 30,149 (PostgreSQL); cold fetch over 100,000 grants 6,206 → 10,717 req/s (p99 44.1 → 20.7 ms). The baseline moved as much between the runs (93,360 → 119,919 req/s), so the ratios did not: this host's run-to-run spread is wide |
| held long-polls still about 19 KiB each (SQLite) after the fixes above | `heaptrack` of 5,000 held: hyper's two 8 KiB buffers per connection — with glibc's `malloc` an untouched buffer still costs the page holding its inline chunk header; `request_context`'s `from_fn` future (2.4 KiB: an `async fn` middleware keeps a copy of the request in each of its nested states); the handler's boxed future (1.9 KiB), holding copies of the 16-field `Authorizer` state | jemalloc as the global allocator (metadata out of line: an untouched buffer costs nothing resident); `request_context` a hand-written `tower` layer whose future is a small struct around the route's; `Authorizer` and `Tokens` one `Arc` each | `latchkey-bench waiters --n 10000`, SQLite, runs in one hour on one host: 186 → 146 MiB extra (jemalloc) → 122 MiB (the layer) → 115–119 MiB (`Arc` state); `make bench`: SQLite 183 → 109 MiB. PostgreSQL did not improve: 150–237 MiB across today's runs (192 before) — see below |
| `malloc`/`free` about 10 % of the token hot path's samples (`perf record`, `latchkey-bench fetch`) | glibc's allocator on many small, short-lived allocations | jemalloc (above) | `latchkey-bench fetch`, runs interleaved with and without it (`LD_PRELOAD` of Debian's jemalloc): 10,435 and 10,909 → 11,418 and 12,263 req/s (+9–12 %) |
| the audit flusher woken for every release (its receive, with a timer armed, for each event) | the flusher's task and SQLite's worker thread at about 13 % of the server's samples (`perf record` of `latchkey-bench fetch`) | woken by a batch's first event, then only when 5,000 are queued (a `Notify`) or the interval ends; the queue taken with `recv_many` | `latchkey-bench fetch`: 48,314 → 49,242 req/s (within the run-to-run spread) |
| every warm release deep-copied the Discord user object (a `serde_json` map) and serialized it again | `perf`: the map's clone and `Value`'s serialization about 2 % of the samples | warm tokens keep the object's JSON text (`RawValue`), written into the answer as it is | `latchkey-bench fetch` (which now prints each process's CPU time a request, from `/proc`): ratio 0.40 → 0.43, Latchkey's CPU 27.1–27.4 → 25.5–26.1 µs a request |
| 10,000 held long-polls still 122–127 MiB extra (`latchkey-bench waiters --n 10000`, SQLite) | `heaptrack` of 5,000 held (glibc build): every connection's task laid out for an HTTP/2 connection's state, though the held ones speak HTTP/1.1; SQLite's page caches at 25 MB (up to 2 MiB on each of ten pooled connections); the request context's future with room for the route's future and a refusal side by side; 41 MB of hyper's 8 KiB buffers that jemalloc never makes resident (an experiment with hyper's `half_close`, which drops the read that detects a vanished client mid-request, changed nothing resident and was not kept) | the HTTP/2 serving future boxed; SQLite `cache_size` 512 KiB a connection; the context's future one enum (route or refusal) | `latchkey-bench waiters --n 10000`: 122–127 → 102–113 MiB; `make bench`: 109 → 103 MiB (SQLite), 237 → 179 and 269 → 156 MiB (PostgreSQL, which varies run to run) |
| 10,000 held long-polls still 103 MiB extra on SQLite and 146–179 MiB on PostgreSQL, where the 10,000 first reads queue for the pool | not garbage the allocator keeps: jemalloc's `background_thread:true` with a 0.1–1 s decay, RSS read again 12 s after all were held, returned nothing (`_RJEM_MALLOC_CONF` through `LATCHKEY_BENCH_WRAP=\"env …\"`). jemalloc keeps freed pages dirty for 10 s and hands them out again first, and a recycled page is resident even under a buffer nobody has written — hyper's 8 KiB buffers of every new connection, which fresh pages would leave unbacked | jemalloc built with `dirty_decay_ms:0,muzzy_decay_ms:0` (`.cargo/config.toml`): freed pages go back to the system at once, new buffers get fresh ones | `latchkey-bench waiters --n 10000`: SQLite 103–108 → 89–91 MiB, PostgreSQL 146 → 87 MiB; the warm fetch unchanged (`latchkey-bench fetch`, three alternating runs: ratio 0.49, 0.44, 0.50 → 0.45, 0.48, 0.51) |
| SQLite's audit flush wrote 0.58 pages and read 0.2 a released token | `strace -c -f` of the replica under `latchkey-bench fetch`: a 5,000-row flush changes more pages than a connection's 512 KiB cache holds, so SQLite wrote them to the WAL before the commit (spilled) and read them back | `cache_spill` off: a transaction's changed pages stay in memory until it commits (freed then) | 0.58 → 0.34 page writes and 0.2 → 0.12 reads a released token |
| PostgreSQL's audit flush: the foreign key's trigger checked every row | `perf record -a` under `latchkey-bench fetch --pg`: the PostgreSQL backend a quarter of the samples and the CPU idle a fifth of the time (releases waiting for room in the audit queue); `psql`, 5,000 rows through the flusher's statement: ~100 ms with the key, ~64 ms without | migration 0012 drops the key: the flusher locks each tenant of a batch once (`FOR KEY SHARE` until it commits) and skips deleted ones; deleting a tenant deletes its events after locking it | 5,000 rows: ~100 → ~64 ms (`psql`); the figures above are after it |
| every token release wrote its ids and times through `format!` (the request and event ids, the expiry's RFC 3339 text, the pepper's id rebuilt as a string to compare), and extracted a W3C trace context from requests that carry none | `perf record --call-graph dwarf` of `latchkey-bench fetch`: `core::fmt::write` 3.1 % of Latchkey's samples, `parent_from` 0.6 % | ids written from `uuid`'s hex encoder into one allocation; the time digit by digit; the pepper's id compared in place; no extraction without a `traceparent` header | `fmt::write` 3.1 → 0.3 %, `parent_from` 0.6 → 0.2 % of the samples |
| page faults and `madvise` 4.8 % of the warm fetch's samples | jemalloc returns freed pages at once (the waiters' fix above), and SQLite's 500-row audit statement bound 4,000 values into a 64 KiB argument buffer: a fresh mapping for each statement, faulted in page by page and returned once it ran (`perf`: the callers of `exc_page_fault` and `madvise`) | 64-row statements: an 8 KiB buffer, which jemalloc's thread cache reuses (since replaced: one JSON value a statement, below) | 4.8 → 3.3 % of the samples |
| one pair of 10 s runs per warm-fetch figure moved with the host: one build gave ratios from 0.44 to 0.60 within an hour (`latchkey-bench fetch`) | the shared host's speed drifts between Latchkey's run and the baseline's | three alternating rounds; the table shows the median round and every round's ratio | the 00:08 run: SQLite REST rounds 0.50, 0.55, 0.48 |
| PostgreSQL's warm fetch p99 7–8 ms; with the audit statements cut to 1,000 rows, 131–142 ms at a ratio of 0.26–0.31 | sqlx 0.9.0 no longer set `TCP_NODELAY` on database connections (transact-rs/sqlx#4335): a statement whose message ended in a partial TCP segment waited for PostgreSQL's delayed ACK, 40 ms, so the flusher fell behind and releases waited for room in the audit queue (`perf record -a`: the CPU 57 % idle under full load, the PostgreSQL backend 5 %) | sqlx 0.9.1, which sets it again | `latchkey-bench fetch --pg`, runs alternating with the build before: p99 8.0 and 7.3 → 5.4 and 4.8 ms; `make bench` (with the fixes below): PostgreSQL `auth.start` 673 → 1,090 req/s, the cold fetch 7,314 → 11,569 req/s (p99 33.0 → 11.9 ms) |
| SQLite's audit writes: binding eight values a row | `perf record --call-graph dwarf` of `latchkey-bench fetch`: binding (sqlx's argument list, SQLite's copy of each value, the arguments freed on another thread) a fifth of SQLite's worker thread, and building the statements 5 % of the server's samples | a tenant's events go in as one JSON text that `jsonb_each` unpacks, a statement per 1,000 (`json_each` first: it turned each row back into text for `->>` to parse, 40 % of the worker) | SQLite's worker 12.2 → 9.5 %, the flusher's share of the runtime 5.1 → 2.6 % of the samples; Latchkey's CPU 17.3–17.9 → 14.5–14.7 µs a request, ratio 0.55–0.56 → 0.58–0.62 (`latchkey-bench fetch`, one hour, one host) |
| PostgreSQL's audit writes: `ON CONFLICT DO NOTHING` on every batch | `perf record -a` under `latchkey-bench fetch --pg`: the conflict probe (`ExecCheckIndexConstraints`, an index scan before each row on top of the insert's own uniqueness check) a quarter of the backend's samples | a batch goes in as plain inserts (its ids are fresh); only one that collides — a retry of a batch that had committed — is written again skipping what is there | ratio 0.50–0.51 → 0.51–0.53 (`latchkey-bench fetch --pg`, back to back) |
| four cache look-ups a release, each about as dear as the next | `perf`: the tools' and the providers' look-ups 1.9 and 1.5 % of the samples | one entry for a tenant's providers and tools (`Store::shared_catalog`) | 3.3 → 2.1 % |
| the audit queue's channel | `perf`: tokio's unbounded channel allocated a block every 32 events; the release's send and the flusher's pops one by one about 1.5 % of the samples | a vector behind a lock: a release pushes (the flusher hands back the emptied vector with its room) and wakes the flusher only as the first event or the last of a batch; the flusher swaps the queue out whole | the channel's samples gone; throughput within the host's spread (`latchkey-bench fetch`, alternating: 0.54–0.56 → 0.55–0.67) |
| the token route copied every request header (axum's `HeaderMap` extractor) to read one | `perf`: the copy and its drop 0.65 % of the samples | a `Credential` extractor keeps the `Authorization` value alone (and refuses a key in the query string, which the token route and the Discord proxy had not checked) | the copy's samples gone |
| each audit event went into three B-trees on SQLite (the rows by rowid, the key (tenant_id, id), the index (tenant_id, at)) and two indexes on PostgreSQL | `perf stat -e syscalls:sys_enter_pwrite64` of the replica under `latchkey-bench fetch`: 0.31 page writes a release; `sqlite3`, 200,000 events: 18,678 pages | migration 0013: the key is (tenant_id, at, id) and serves the listing and the daily usage; SQLite's table is `WITHOUT ROWID` (one B-tree), PostgreSQL's time index goes | 0.31 → 0.20 page writes a release (200,000 events: 12,505 pages); SQLite's worker 12.2 → 9.1 % of the samples; PostgreSQL's CPU a release 4.1 and 3.9 → 3.7 and 3.6 µs (the postmaster's children, two alternating pairs); ratios in three alternating pairs of `latchkey-bench fetch`: SQLite 0.59, 0.58, 0.58 → 0.61, 0.55, 0.60; PostgreSQL 0.51, 0.54, 0.54 → 0.56, 0.54, 0.54 (p99 6.21, 5.87, 5.66 → 5.45, 5.70, 5.57 ms) |
| the gRPC fetch's ratio (0.49–0.53) measured HTTP/2 more than Latchkey | `latchkey-bench fetch --grpc` (it now prints each side's CPU and the generator's): Latchkey 32.7–34.8 µs of CPU a gRPC call against 14.5–20 µs a REST request; `perf`: hyper's HTTP/2 connection task (frames, HPACK, flow control) 38 % of Latchkey's samples, the token route 18 %. The baseline was the bare handler's JSON over 64 HTTP/1.1 connections, which pays none of that, from a client (reqwest) that also left more of the shared cores to its server (18–21 against 21–27 µs a call) | the gRPC rounds' baseline is a bare `GetToken` in the baseline process (a tonic service in its axum router answering the same token, no key check, no store), driven by the same generator over the same 8 HTTP/2 connections; the HTTP/1.1 figure stays in the report for reference. The baseline also sets `TCP_NODELAY`, as Latchkey does (without it the bare `GetToken` answered 2,027 calls/s, p50 44 ms), and reads the request's body (an HTTP/2 answer sent before its request's body is read resets the stream, and hyper closes a connection after a thousand of those) | `latchkey-bench fetch --grpc`, SQLite, three runs: 0.65, 0.75 and 0.70 of the bare `GetToken` (26,725–35,548 against 41,415–50,921 calls/s), while the same runs' JSON over HTTP/1.1 answered 54,342–62,985 req/s; the bare `GetToken`'s own p99 is 4.96–5.20 ms |
| at the default `log.level = info` the warm fetch fell to 0.45 × the baseline (0.53–0.55 at `error`), and to 0.38 with stderr on a pipe, as under a log collector; the harness ran at `error` without saying so | `latchkey-bench fetch` with `LATCHKEY_BENCH_WRAP=\"env LATCHKEY__LOG__LEVEL=info\"`: 21–22 µs of CPU a request against 16.6–18 at `error`; `perf`: formatting the access-log line and the span's fields 10 % of the samples, writing it from the request's thread 3 % (a system call a line, and on a pipe a wake-up of its reader) | one thread writes the logs: a request formats its line and queues it, the thread redacts and writes what gathered every 20 ms while lines keep coming (a first version woke the thread for every line, and was slower than writing in place: 0.40 and 0.43 against 0.46 and 0.45); the report states the log level and measures `info` in rows of its own | alternating runs at `info`, stderr a pipe: 0.38, 0.38 → 0.46, 0.46 (49,496–50,819 → 62,470–64,779 req/s); stderr `/dev/null`: 0.42, 0.41 → 0.45, 0.43 |
| the warm fetch's own work, after the fixes above: four moka reads a release (the user's grant id, then the grant; the key; the catalog), each recording the read for the cache's policy, with the async caches' futures on top; the request metrics' and the release counter's attribute look-ups; the answer's JSON grown from 128 bytes twice; the body parsed with per-field path tracking; every request id's UUID through a lock shared by the process | `perf record --call-graph dwarf` of `latchkey-bench fetch` (Xeon host): moka 7.3 % of Latchkey's samples (the catalog 2.7, the warm token's two reads 3.0, the key 1.6), metrics 3.5 % (0.6 of it the release counter), the answer's JSON 2.9 %, the UUID lock 0.7 % | warm tokens keyed by the user alone: a grant's change marks its epoch in one of 4,096 slots, and an entry loaded before the latest change in its grant's slot is not served; the catalog one `Arc`; warm tokens, catalogs and the key's hits in moka's sync caches (a key's miss still loads once, through an async cache); releases counted in atomics that an observable counter reads; the answer written into a buffer of its size; the body read by plain `serde_json` (the path only to word a refusal); request ids from a per-thread UUID clock sequence | alternating `latchkey-bench fetch` pairs, each change against the commit before it (Latchkey's CPU a request in µs; ratio): 24.1, 23.8, 24.3 → 22.0, 22.3, 22.5 (0.54, 0.54, 0.54 → 0.58, 0.58, 0.57); 22.5, 22.7, 22.5 → 21.3, 22.3, 21.7 (0.58, 0.58, 0.58 → 0.60, 0.59, 0.61); 21.6, 21.5, 21.9 → 21.1, 21.1, 21.6 (0.60, 0.59, 0.57 → 0.60, 0.61, 0.59) |
| the gRPC rounds' tail: the bare `GetToken`'s own p99 5.25–5.6 ms | the generator, tonic's client (each call through its channel's buffer task and hyper's dispatch task), spent 21–25 µs of CPU a call — more than either server it measured, on the same two cores (`latchkey-bench fetch --grpc` prints the generator's CPU) | the generator writes HTTP/2 with `h2` directly, the request's message encoded once; every answer must still be HTTP 200 with a message and `grpc-status: 0` | `latchkey-bench fetch --grpc`, SQLite, AMD EPYC host (12-06 11:45): the generator 24.6–24.9 → 17.1–17.8 µs a call; the bare `GetToken`'s p99 5.44–5.62 → 3.70–4.17 ms; Latchkey's 5.77–5.94 → 5.01–5.14 ms, ratio 0.69–0.72 → 0.68–0.75 |
| PostgreSQL's warm fetch p99 5.5–6.9 ms while SQLite's was 3.8–4.9 ms | a diagnostic build that skipped the audit writes (not kept): p99 3.66 and 3.92 ms against 6.08 and 6.84, ratio 0.73 and 0.70 against 0.60 and 0.59 — the writes make the tail. Not the PostgreSQL backend's CPU: with its processes at `SCHED_IDLE` (`chrt -i`) the p99 stayed at 6.2 ms. The flusher ran on a runtime worker: building and encoding a 1,000-row statement (its arrays, then TLS), and freeing a written batch, held the worker for up to 1.5 ms at a time (runs of three consecutive `perf` samples at 2 kHz), some 50 times a second, while the requests queued on that worker waited | the flusher runs on a thread of its own (`latchkey-audit`, driven with the runtime's I/O and timers), as SQLite's worker thread does; at shutdown it is abandoned once the grace period is over | alternating pairs of `latchkey-bench fetch --pg` (six, AMD EPYC host, 11:40–11:53): p99 6.86, 6.16, 6.41, 5.72, 5.90, 5.90 → 6.53, 6.01, 5.86, 5.14, 5.24, 6.00 ms (mean 6.16 → 5.80), ratios within the host's spread (0.52–0.69 both); SQLite, two pairs: p99 4.43, 4.39 → 4.29, 4.16 ms |
| on an Intel Xeon host (12-06 13:15) the warm fetch missed 0.6 on both stores (SQLite 0.55–0.57, PostgreSQL 0.55, p99 4.9–5.1 ms) | per-thread CPU under `latchkey-bench fetch` (`/proc/<pid>/task/*/stat`): SQLite's four worker threads and the `latchkey-audit` thread together about 20 % of a core at 79,000 releases a second, some 2.5 µs a release, writing each event as a key in the audit table's B-tree (the runtime's workers 108 %); on PostgreSQL the same rows were the backend's work (the row before) | migration 0014: the pipeline writes a tenant's events of one flush, up to 1,000, as one row of `audit_batches` (a JSON array, stored uncompressed out of line on PostgreSQL), with the earliest and latest event's time; the view `audit_log` shows them with `audit_events` as one table, and the listing and the daily usage read it, skipping batches outside the window before unpacking them. A retried batch that collides is written again without the events already stored | three alternating pairs each of `latchkey-bench fetch` (Xeon, 13:35–13:45): SQLite 0.559, 0.562, 0.564 → 0.604, 0.572, 0.585 (Latchkey's CPU 16.1, 16.3, 15.8 → 14.8, 15.1, 15.1 µs a release); PostgreSQL 0.547, 0.540, 0.541 → 0.564, 0.586, 0.559, p99 5.30, 5.43, 5.80 → 4.95, 4.74, 4.65 ms |
| after migration 0014, large temporary buffers of the audit flush: page faults and `madvise` 3 % of the warm fetch's samples (SQLite), and two fifths of the `latchkey-audit` thread's on PostgreSQL, where copying the batches into the statement's arguments was another third | `perf record --call-graph dwarf` of the replica, and of the audit thread alone (`-t`): jemalloc returns freed pages at once (`.cargo/config.toml`, for the waiters' memory), so every buffer of 16 KiB or more — the flush's index by tenant, a row list beside each batch's JSON, the JSON itself, its copy for SQLite, PostgreSQL's argument buffer grown by doubling — was mapped, faulted in page by page and unmapped with a TLB shootdown of the other core; the API key check also keyed its HMAC (two of its five SHA-256 blocks) on every request | no index of the flush (a flush holds a few tenants), no row list, group vectors sized up front, the JSON bound to SQLite by value; on PostgreSQL a statement a batch whose JSON is written straight into the arguments (a custom `Encode`); each pepper's HMAC keyed once | alternating pairs of `latchkey-bench fetch` (Xeon, 14:05–14:30): SQLite, Latchkey's CPU 15.4, 15.6, 15.4 → 15.2, 14.7, 14.3 µs a release, ratio 0.598, 0.593, 0.576 → 0.590, 0.601, 0.608; PostgreSQL (the argument change alone) p99 4.94, 4.98, 5.71 → 4.36, 4.36, 5.10 ms, ratio 0.567, 0.552, 0.564 → 0.569, 0.581, 0.564 |
| the warm fetch on PostgreSQL still 0.58 × the baseline (Xeon host, 12-06 15:35) | per-thread context switches and CPU (`/proc/<pid>/task/*/status`), `strace -c -f` and `perf record -e syscalls:sys_enter_madvise --call-graph dwarf` of the replica: 1,522 `madvise` calls in 5 s, 3,006 of 3,110 in the `latchkey-audit` thread freeing the flushed events — six strings an event, allocated by the runtime's workers and freed on the audit thread, so whole allocator pages of the workers emptied and were handed back at once (`.cargo/config.toml`), each with a TLB shootdown of the other core; dropping the events was two fifths of the audit thread's samples | the queue holds events packed (`PackedAudits`): each event's strings copied into one text and a 56-byte entry pointing into it, both buffers handed back and forth between the queue and the flusher and reused; the release's event is built from borrowed strings; the stores write the JSON of each row straight from the packed text (the rows' groups are positions in it) | `madvise` 1,522 → 365 in 5 s; four alternating PostgreSQL pairs of `latchkey-bench fetch` (Xeon, 16:04–16:12): Latchkey's CPU 18.2, 18.5, 17.9, 18.1 → 17.3, 17.7, 17.8, 17.0 µs a release, ratio 0.586, 0.578, 0.592, 0.578 → 0.606, 0.594, 0.594, 0.605; SQLite, three pairs: 18.5, 19.5, 18.5 → 18.2, 18.6, 17.5 µs, ratio 0.624, 0.598, 0.607 → 0.615, 0.602, 0.630 |
| after the packed queue: the release's audit event id 1.0 % of the warm fetch's samples, the request metrics 3.1 % | `perf record --call-graph dwarf` of the replica (PostgreSQL, Xeon, 16:10): the event's UUIDv7 taken through `uuid`'s process-wide lock (`now_v7`, two fifths of the id's samples) and its time read from the clock a second time; the request counter's `add` hashed and looked up the four attributes under the SDK's lock beside the histogram's own record | the event id made as the request ids are (time-sorted per thread; events of two threads in one millisecond may sort either way) with its time taken from the id's clock reading; `latchkey.http.requests` an observable counter over atomic counts by label (a read lock and an atomic add), the same series on `/metrics` and over OTLP | shares of the profile (16:38): the event id 1.0 → 0.46 %, the request metrics 3.1 → 2.6 %; four alternating PostgreSQL pairs (16:32–16:37) could not tell it apart: the host slowed in the last two (the baseline at 88,000–97,000 req/s against 101,000–110,000), ratio 0.626, 0.616, 0.667, 0.651 → 0.608, 0.618, 0.596, 0.567, Latchkey's CPU 18.2, 17.4, 19.7, 19.2 → 17.2, 18.0, 19.8, 19.1 µs a release |
| at `log.level = info` the warm fetch at 0.489 × the baseline, 27.3 µs of CPU a request (SQLite, 17:03) | `perf record --call-graph dwarf` of the replica: `tracing-subscriber` 16.8 % of the samples — the request span's fields formatted when it opens 4.1 %, the access line 6.7 %, recorded fields 2.2 %; two of the span's five fields (`otel.name`, repeating the method and the route, and `otel.kind`, always `server`) are there for the trace exporter only | the text log formats fields as `tracing-subscriber` does but leaves the `otel.*` fields out (`json` keeps every field) | the span's formatting 4.1 → 2.7 %, `tracing-subscriber` 16.8 → 15.8 % (17:13); three alternating pairs at `info` (17:09–17:12) could not tell it apart: 26.4, 25.5, 26.1 → 25.5, 25.9, 27.1 µs a request, ratio 0.461, 0.486, 0.467 → 0.446, 0.452, 0.469 |
| `make bench`'s SQLite run failed at 18:24 (12-06): one `auth.start` call of 18,043 took over `wrk`'s 2 s, and a failed run discarded the store's other figures; `auth.start` on SQLite p99 181–268 ms | `latchkey-bench fetch --start` (new) and `perf record --call-graph dwarf` of the replica: writers competed for SQLite's one write lock from up to ten pooled connections, each retrying in SQLite's busy handler, which sleeps 1 ms growing to 100 ms between tries, in no order — a writer could lose to newcomers again and again; 43 % of the samples were the handoffs to and from the ten connections' threads | every write goes through one writer connection of its own (`SqliteStore::writer`), taken first come first served; reads stay on the pool (WAL lets them run beside the writer); the harness reports a failed `auth.start` run in its row and keeps the rest | `latchkey-bench fetch --start`, SQLite, three runs each: p99 181, 268, 245 → 43, 42, 71 ms; 1,778, 1,641, 1,751 → 2,027, 1,875, 1,817 calls/s; 636–688 → 540–577 µs of CPU a call |
| the PostgreSQL warm fetch's p99 26–62 ms in 3 of 11 `latchkey-bench fetch --pg` runs (18:00–18:04) against 3.7–5.8 ms in the others, with the same build | `vmstat 1` beside the runs: 5–10 % of the host's CPU time stolen by the hypervisor (`st`) during each slow run's Latchkey half, 0–1 % in the others — this machine is a virtual one, and stolen time stalls whichever thread held the core | not a fix of Latchkey but of the measurement: five alternating rounds instead of three; each run reads the host's steal from `/proc/stat` and a round with 0.5 % or more says how much; the p50 and p99 shown are the medians of the rounds' own, not those of the round whose throughput was the median | — |
| the warm fetch's REST p99 in rounds with steal (14.93–58.17 ms against the baseline's 4.4 ms, run above) | the handler's own time, from the replica's request-duration histogram after a quiet run (20:40): 99.95 % of the fetches under 0.5 ms, 8.5 µs on average — the p99 `wrk` sees (3.4–4.3 ms) is spent before the handler has the request or after it answered. `perf record -e syscalls:sys_enter_futex --call-graph dwarf` of the replica (4 s, 20:35): the two runtime workers blocked 328 times on the lock of the SDK's request-duration histogram and 281 times on the audit queue's, both taken by every release; a worker that loses its core while holding one — to a woken `wrk` thread, ten thousand times a second, or to the hypervisor for milliseconds — holds up every release behind it, which the baseline, with no shared lock, cannot do | both are sharded (`latchkey_core::sharded`): a release takes the first free shard from its thread's own (twice as many as cores), so it never waits on another; the durations wait in shards a few hundred at a time and reach the histogram before every collection, and the flusher takes an even share of a backlog from each shard. The harness now reads the handler's p99 around each REST round and gives it for a round whose p99 missed 5 ms | the futex profile (20:43): no blocking on either lock; three alternating pairs of `latchkey-bench fetch` (SQLite, quiet host, 21:19–21:23): ratio 0.591, 0.565, 0.574 → 0.596, 0.578, 0.591, CPU 16.6, 16.8, 17.4 → 16.7, 16.7, 15.7 µs a release. Whether it cures the rounds with steal is for a run with steal to show (an emulation — the workers pinned one to a core and a real-time thread taking one core 10 ms in 100 — lengthened both sides alike: p99 8.73 and 9.07 ms before and after, the baseline 8.16 and 8.39) |
| one run's rounds spread wider than the margin to the target: PostgreSQL over REST 0.512–0.742 at 22:59 (AMD EPYC host, five rounds, the median 0.595), with no round's host time stolen | the host's speed moving within minutes; the median of five rounds moved with it from run to run | not a fix of Latchkey but of the measurement: nine alternating rounds instead of five (the median of nine moves less between runs; it does not rise); the gRPC rounds also read Latchkey's own p99 (its `GetToken` route in the request-duration histogram) | two runs of the same build, nine rounds each (23:15, 23:34): PostgreSQL over REST 0.663 (rounds 0.510–0.821) and 0.622 (0.552–0.692) — the rounds spread as widely as before |

Still missed, with what the profile shows (figures above: 2026-12-06 23:34–23:50, AMD EPYC
host, nine alternating rounds a figure; no round had 0.5 % of the host's time stolen):

- **The warm fetch's p99 over gRPC: 6.10 ms on SQLite and 5.19 ms on PostgreSQL** (medians of
  nine rounds). In the same rounds the bare `GetToken`'s own p99 was 5.23 and 4.27 ms — on
  SQLite above the target itself — and Latchkey's own p99, from the handler having the call to
  its answer, was at most 0.5 ms in every round over 5 ms (the harness reads it for the gRPC
  rounds too now). The rest of the tail is time spent waiting for a core, on two cores shared
  with the generator (in the bench process, 16–19 µs of CPU a call) and, on PostgreSQL, with
  the backend writing the audit batches. Latchkey's HTTP/2 path costs more CPU a call than its
  REST path (`latchkey-bench fetch --grpc`, 23:33: 30.5 µs a call, the bare `GetToken` 22.9;
  REST 17.5–22.9 µs a request at 22:46), hyper's HTTP/2 connection task 38 % of its samples in
  an earlier profile. Every other warm-fetch target is met in this run: ratios 0.654 (SQLite,
  REST), 0.622 (PostgreSQL, REST), 0.746 and 0.698 (gRPC); REST p99 4.32 and 4.82 ms. This is
  as far as this machine can tell: with the load generator on the server's two cores, 5 ms is
  the bare baseline's own tail (its p99 3.9–5.2 ms in the runs of this evening), so showing the
  p99 target either way needs a machine where the generator has cores of its own.
- The runs before it, same build: at 23:15 (nine rounds) every ratio was met (REST 0.670 and
  0.663, gRPC 0.736 and 0.719) and the p99 missed on PostgreSQL over REST (5.03 ms against the
  baseline's 4.34; the handler's own at most 0.5 ms in the five rounds over 5 ms) and on SQLite
  over gRPC (5.17 against 4.44); at 22:59 (five rounds) PostgreSQL over REST missed both
  targets (0.595, rounds 0.512–0.742; p99 5.26 ms) and gRPC the p99 on both stores (5.29 and
  6.09 ms against the baseline's 4.57 and 5.06). On the Intel Xeon host (21:22, five rounds)
  SQLite over REST and gRPC on both stores met both targets (gRPC p99 3.50 and 4.14 ms), and
  PostgreSQL over REST missed both (0.581, 5.06 ms, the handler's own at most 0.5 ms); on this
  host type at 12:40 the gRPC p99 was 6.77 and 6.02 ms against the bare `GetToken`'s 5.34 and
  4.12. At 18:55 REST rounds with steal had p99 of 14.93–58.17 ms against the baseline's 4.4;
  the locks every release took are gone since (table above), and no round of a run since had
  0.5 % stolen, so whether that cured it is still to be seen — the harness gives the handler's
  own p99 for every round that misses, to tell the two apart. A quiet run's p99 is about one
  scheduler tick (4 ms): `perf record -e sched:sched_switch -g` of the replica (19:12) shows the
  workers preempted a tick at a time, and running the audit and SQLite threads at `nice 10` did
  not tell apart (three pairs, 19:20: p99 3.85, 6.17, 3.74 → 4.39, 3.91, 3.20 ms).
- Where the ratio's margin goes: Latchkey's own CPU a request (1.8 × the bare handler's) and the
  preemption that brings (per-thread counts at 15:40, `/proc/<pid>/task/*/status` over 5 s:
  Latchkey's two workers 53,000–55,000 involuntary switches each, the baseline's 31,000–33,000
  at 1.7 × the requests). What PostgreSQL adds is the database's share of the two cores the
  server and `wrk` share. `perf record -a` under
  `latchkey-bench fetch --pg` (13:55, after migration 0014): the PostgreSQL backend 4.7 % of
  the host's samples (11.5 % with a row an event, on the AMD EPYC host), mostly the kernel
  writing its WAL and the batches' out-of-line pages. Tried earlier and not kept: `COPY`
  instead of `INSERT … UNNEST` (no clear difference in eight alternating `psql` pairs); TLS off
  on the loopback connection (`PGSSLMODE=disable`: no difference in p99); jemalloc's
  `dirty_decay_ms` at 30 s (within the spread; at 10 s, three pairs at 15:45 before the packed
  queue: 0.577, 0.632, 0.587 against 0.566, 0.568, 0.537 — most of what it saved, the audit
  thread's page returns, the packed queue saves without keeping dirty pages); the backend's
  processes at `SCHED_IDLE` (releases then wait for room in the audit queue). Tried after
  migration 0014 (14:45–14:58, three alternating pairs each) and not kept: the batches
  compressed with lz4 instead of stored uncompressed (0.570, 0.585, 0.585 against 0.584,
  0.569, 0.583) and `auth.audit_flush_batch` = 20,000 (0.587, 0.574, 0.564 against 0.569,
  0.585, 0.571 at 5,000).
- The host's speed moves: on the AMD EPYC host the same binaries used 18–20 µs of CPU a request
  from 11:00 to 11:55 and 27–30 µs from 12:10, and gave ratios of 0.61–0.72 and then 0.50–0.58;
  one build's rounds spread by up to ±0.08. A change smaller than about 5 % cannot be told apart
  from a single run, so each fix above was judged on alternating pairs of runs and on its share
  of the profile.
- The access log at the default `info`: 0.410 on SQLite and 0.599 on PostgreSQL (one round
  each, a 280-byte line a request on a pipe, 23:34–23:50; at 21:22 on the Xeon host 0.457 and
  0.428) against 0.654 and 0.622 at `error`: formatting
  the line and the request span's fields is most of that cost (`perf` at 17:03:
  `tracing-subscriber` 16.8 % of the samples, the log thread 3.3 %), the write having moved to
  the log thread (the run above is after the `otel.*` fields left the text log: 326 → 281
  bytes a line).
- Where the time goes (`perf record --call-graph dwarf` of `latchkey-bench fetch --pg`, Xeon
  host, 16:38, after this session's fixes; shares of Latchkey's samples): the kernel 50 %, most
  of it writing the answers (`writev` 26 %: loopback TCP delivering each answer and waking a
  `wrk` thread, which the baseline pays too) and switching threads (11 %); hyper parsing the
  requests 4.7 %; the token route 21 % — the release 6.0 %, the catalog's look-up 2.2 %, the
  key's check 2.1 %, the answer's JSON 2.3 %, the audit queue 1.2 %; the request's record
  3.5 %, of it the metrics 2.6 % (the duration histogram most of it); the moka caches' reads
  5.0 % in all; the `latchkey-audit` thread 3.2 %. (SQLite, 13:50, before the packed queue:
  the kernel 53 %, the token route 19.5 %, SQLite's worker and the audit thread 2.5 %.)
  Side by side (SQLite, 12-06 17:50, `perf record` of each process in its own half of one
  `latchkey-bench fetch`): Latchkey 15.1 µs of CPU a request, 7.5 µs of it in the kernel and
  6.8 in its workers' user code; the baseline 8.3 µs, 5.3 and 3.0. The same system calls a
  request on both (`strace -c -f`: one `recvfrom` and one `writev`; Latchkey adds SQLite's page
  writes, 0.15 a release). In the kernel, waking `wrk`'s thread from the answer's write
  (`sock_def_readable`) is 14 % of Latchkey's samples and 15 % of the baseline's — 2.0 against
  1.2 µs a request — and the switches and preemptions that follow 17 % against 11 %. The user
  code beyond the baseline's (3.8 µs) has no part above 1 µs: the token route's own code 1.05,
  the moka caches 0.7, the metrics 0.4, the request's context 0.3, the key's check 0.24, the
  answer's JSON 0.2.
- The scheduler: `perf record -e sched:sched_switch -a` under the fetch shows 0.62 context
  switches a request against the baseline's 0.15 (`vmstat`), nearly all a `wrk` thread woken by
  an answer preempting the worker that wrote it. A slower server leaves `wrk`'s threads waiting
  for answers, so each answer wakes one: sharing the two cores with the load generator costs
  more the more the server itself costs, and the ratio falls faster than the CPU a request.
  As a check (05:12), alternating pairs of `latchkey-bench fetch` with `wrk` as `SCHED_BATCH`
  (`chrt -b 0`; such a thread does not preempt on waking): 7,000–7,800 context switches a
  second under Latchkey's load instead of 43,000–44,000, and ratios 0.73 and 0.64 against 0.59
  and 0.60. The harness keeps `wrk`'s default policy, so the figures above include this cost.
- Next candidates, each about 1 % of the samples or less: one request metric instead of a
  counter and a histogram with the same attributes (the histogram's count is the counter; an
  operator-facing change) — the counter now counts by label with atomics behind an observable
  counter (its share 3.1 → 2.6 % of the profile; an earlier per-thread version changed nothing
  measurable in alternating pairs: 20.8, 21.0, 21.5 against 20.8, 20.7, 21.3 µs a request);
  the key's tool id kept parsed in the cached key record; the tool's scope set kept with the
  catalog instead of built on each release (0.5 %); fewer moves of the routing layers' futures
  (about 1 %). On PostgreSQL, `auth.audit_flush_batch`
  = 20,000 gave p99 5.6–5.9 ms against 7.6–8.4 ms at 5,000 in back-to-back runs before the
  `TCP_NODELAY` fix, and 5.1–5.9 against 5.6–6.4 ms after it (three alternating pairs of
  `latchkey-bench fetch --pg`, 03:10): still above 5 ms. With the audit re-keyed (05:07),
  1,000 gave p99 5.88, 4.95 and 5.22 ms against 5.96, 5.50 and 6.05 at 5,000, at ratios 0.54,
  0.58 and 0.56 against 0.61, 0.56 and 0.57: within the host's spread either way, so the
  default stays at 5,000. On the Xeon host (07:30, two alternating pairs): 1,000 gave p99 4.68
  and 4.96 ms against 5.30 and 5.00 at 5,000, at ratios 0.48 and 0.47 against 0.51 and 0.51 —
  the same trade of throughput for tail. (The same pairs ran at 71,000–79,000 req/s, against
  47,412 in the 07:05 run's median round half an hour earlier: the host's speed, not the code.)
  After this session's fixes (10:25, three alternating pairs), 2,000 gave p99 5.95, 6.50 and
  6.53 ms against 6.09, 5.24 and 6.05 at 5,000, at ratios 0.584, 0.541 and 0.567 against
  0.574, 0.597 and 0.573: no better either way. On the AMD EPYC host (11:30, three alternating
  pairs), 1,000 gave p99 5.65, 5.93 and 5.84 ms against 5.48, 5.91 and 6.29 at 5,000, at ratios
  0.602, 0.571 and 0.644 against 0.585, 0.544 and 0.572: the same.
";

#[cfg(test)]
mod tests {
    use super::{HISTORY, failed, failed_row, markdown, ratio, round};
    use crate::load::Figures;
    use std::time::Duration;

    #[test]
    fn a_ratio_just_under_its_target_never_prints_as_the_target() {
        assert_eq!(ratio(59_016.0 / 98_400.0), "0.599");
        assert_eq!(ratio(0.6), "0.600");
        assert_eq!(ratio(0.61289), "0.612");
        assert_eq!(ratio(1.0), "1.000");
    }

    #[test]
    fn a_failed_run_fills_its_row_and_keeps_the_table_whole() {
        let mut out = String::new();
        failed_row(&mut out, "SQLite", "socket errors | timeout 1\nmore", 3);
        assert_eq!(
            out,
            "| SQLite | run failed: socket errors / timeout 1 | |\n"
        );
        let mut out = String::new();
        failed(&mut out, "SQLite", "no rounds");
        assert_eq!(out, "| SQLite | run failed: no rounds | | | | | | |\n");
    }

    #[test]
    fn the_report_states_the_targets_it_judges_by() {
        let r = crate::Report {
            stores: vec![Err(("SQLite", "no rounds".to_owned()))],
            startup: (Duration::from_millis(40), Duration::from_millis(25)),
            idle_rss_kib: 28_000,
            secs: 10,
        };
        let text = markdown(&r, None);
        assert!(
            text.contains("Targets: requests/s at least 0.6 × the baseline; p99 at most 5 ms.")
        );
        assert!(text.contains("| Ratio (≥ 0.6) |") && text.contains("| p99 (≤ 5 ms) |"));
        assert!(text.contains("A round whose p99 missed 5 ms also"));
        assert!(text.contains("| SQLite | run failed: no rounds |"));
        assert!(text.ends_with(HISTORY));
    }

    #[test]
    fn a_round_says_how_much_was_stolen_only_when_it_mattered() {
        let fig = |rps: f64, steal: Option<f64>| Figures {
            rps,
            p50: 0.5,
            p99: 4.0,
            steal,
            served_p99: None,
        };
        let quiet = round(&fig(60.0, Some(0.2)), &fig(100.0, Some(0.0)));
        assert_eq!(quiet, "0.600 · 4.00 ms");
        let stolen = round(&fig(55.0, Some(6.04)), &fig(100.0, Some(0.1)));
        assert_eq!(stolen, "0.550 · 4.00 ms (steal 6.0 / 0.1 %)");
        let on_the_baseline = round(&fig(70.0, Some(0.0)), &fig(100.0, Some(0.5)));
        assert_eq!(on_the_baseline, "0.700 · 4.00 ms (steal 0.0 / 0.5 %)");
        assert_eq!(
            round(&fig(70.0, None), &fig(100.0, Some(3.0))),
            "0.700 · 4.00 ms"
        );
        // A missed p99 says how much of it Latchkey's handler took.
        let slow = |steal, own| Figures {
            p99: 14.2,
            served_p99: own,
            ..fig(60.0, steal)
        };
        assert_eq!(
            round(&slow(Some(1.6), Some(0.5)), &fig(100.0, Some(0.2))),
            "0.600 · 14.20 ms (steal 1.6 / 0.2 %; in the handler ≤ 0.50 ms)"
        );
        assert_eq!(
            round(&slow(None, Some(16.0)), &fig(100.0, None)),
            "0.600 · 14.20 ms (in the handler ≤ 16.00 ms)"
        );
        assert_eq!(
            round(&slow(None, None), &fig(100.0, None)),
            "0.600 · 14.20 ms"
        );
        let met = Figures {
            served_p99: Some(0.5),
            ..fig(60.0, None)
        };
        assert_eq!(round(&met, &fig(100.0, None)), "0.600 · 4.00 ms");
    }
}
