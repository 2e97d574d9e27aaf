//! Long-poll waiters: `n` authorizations, each with a `GET /v1/auth/status?wait=59` held on one
//! replica. Measured: the replica's extra RSS once all are held (its `latchkey_longpoll_waiters`
//! gauge says when), and for a sample of them the wake-up latency — from the moment the
//! browser's callback (which completes the authorization in skip mode) has answered to the
//! moment the waiter's answer arrives. On PostgreSQL the waiters also sit on a second replica
//! while the callbacks go to the first, so the wake-up crosses processes (`LISTEN/NOTIFY`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::load::percentile;
use crate::world::{Db, Deployment, Replica, Tenant};

/// How many of the held authorizations are completed for the latency sample.
const SAMPLE: usize = 100;

/// One hold: the waiters, the memory they cost, the wake-up latency.
#[derive(Debug, Clone, Copy)]
pub struct Hold {
    /// Waiters held at once.
    pub n: usize,
    /// RSS of the waiting replica before and with them held, KiB.
    pub rss_kib: (u64, u64),
    /// Wake-up latency p50 and p99, ms, over [`SAMPLE`] completions.
    pub wake: (f64, f64),
}

/// One process, and (PostgreSQL) across two.
pub struct WaiterFigures {
    /// Waiters and callbacks on the same replica.
    pub one: Hold,
    /// Waiters on replica B, callbacks on replica A (PostgreSQL only).
    pub two: Option<Hold>,
}

/// Measures with `a` (the public replica) and, on PostgreSQL, a second replica.
pub async fn measure(
    dep: &Deployment,
    tenant: &Tenant,
    a: Replica,
    n: usize,
) -> anyhow::Result<WaiterFigures> {
    let one = hold(tenant, &a, n).await?;
    let two = match dep.db() {
        Db::Postgres { .. } => {
            let (b, _) = dep.start(false, &[]).await?;
            let h = hold(tenant, &b, n).await;
            b.stop().await;
            Some(h?)
        }
        Db::Sqlite(_) => None,
    };
    a.stop().await;
    Ok(WaiterFigures { one, two })
}

async fn hold(tenant: &Tenant, waiting: &Replica, n: usize) -> anyhow::Result<Hold> {
    // The authorizations, started on the waiting replica, 64 at a time.
    let mut started = Vec::with_capacity(n);
    let mut pending = Vec::new();
    for i in 0..n {
        let user = format!("waiter-{}-{i}", waiting.pid());
        pending.push(async move { tenant.authorize(&waiting.api, &user).await });
        if pending.len() == 64 || i + 1 == n {
            for r in futures::future::join_all(std::mem::take(&mut pending)).await {
                started.push(r?);
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = waiting.rss_kib();

    // Every authorization gets a long-poll on its own connection.
    let answered: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut polls = Vec::with_capacity(n);
    for (id, _) in &started {
        let (client, answered, id) = (client.clone(), answered.clone(), id.clone());
        let url = format!("{}/v1/auth/status?id={id}&wait=59", waiting.api);
        let key = tenant.app.clone();
        polls.push(tokio::spawn(async move {
            let r = client.get(url).header("authorization", key).send().await?;
            let body: serde_json::Value = r.json().await?;
            if body["status"] == "completed" {
                answered
                    .lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .insert(id, Instant::now());
            }
            anyhow::Ok(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(50);
    while held(&waiting.ops).await.unwrap_or(0) < n {
        if Instant::now() > deadline {
            bail!(
                "only {} of {n} long-polls are held",
                held(&waiting.ops).await.unwrap_or(0)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with = waiting.rss_kib();

    // A sample completes through the public replica's callback.
    let mut done_at = Vec::new();
    for (id, link) in started.iter().take(SAMPLE) {
        tenant.consent(link).await?;
        done_at.push((id.clone(), Instant::now()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answered = answered
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let mut wake = Vec::new();
    for (id, at) in done_at {
        let woke = answered
            .get(&id)
            .with_context(|| format!("the waiter of {id} was not woken"))?;
        wake.push(woke.saturating_duration_since(at));
    }
    for p in polls {
        p.abort();
    }
    Ok(Hold {
        n,
        rss_kib: (before, with),
        wake: (percentile(&mut wake, 0.5), percentile(&mut wake, 0.99)),
    })
}

/// `latchkey_longpoll_waiters` from `ops`'s `/metrics`.
async fn held(ops: &str) -> anyhow::Result<usize> {
    let text = reqwest::get(format!("{ops}/metrics")).await?.text().await?;
    text.lines()
        .find(|l| l.starts_with("latchkey_longpoll_waiters "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .context("no latchkey_longpoll_waiters metric")
}
