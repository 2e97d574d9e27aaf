//! The audit pipeline on SQLite and PostgreSQL: a batch's worth of accepted events is written
//! as soon as it is queued, without waiting for the flush interval; fewer wait for it; stopping
//! writes everything accepted and refuses what comes after; a backlog goes in batch by batch,
//! oldest first, and one accepted on several threads (into several shards) in whole batches,
//! every event once; a flusher that cannot write is abandoned at the shutdown's deadline.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use latchkey_core::audit::{AuditEvent, AuditFilter};
use latchkey_core::audit_pipeline::{AuditPipeline, FLUSH_BATCH, Finished};
use latchkey_core::{CoreError, TenantId};
use support::{TestDb, actor, new_tenant, world};

const ACTION: &str = "token.release";

/// The targets of `t`'s written releases, sorted.
async fn written(w: &support::World, t: TenantId) -> Vec<String> {
    let filter = AuditFilter {
        action: Some(ACTION.to_owned()),
        ..AuditFilter::default()
    };
    let events = w.store.list_audit_events(t, &filter).await.unwrap();
    let mut targets: Vec<String> = events.into_iter().filter_map(|e| e.target).collect();
    targets.sort_unstable();
    targets
}

async fn released(w: &support::World, t: TenantId) -> usize {
    written(w, t).await.len()
}

/// Stops a flusher running on the test's runtime; how many events it wrote in all.
async fn stop_run(
    stop: tokio::sync::watch::Sender<bool>,
    run: tokio::task::JoinHandle<u64>,
) -> u64 {
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap()
}

/// Waits (up to a minute, far less than the interval) until `n` events of `t` are written.
async fn wait_until_released(w: &support::World, t: TenantId, n: usize, db: &TestDb, what: &str) {
    let mut waited = Duration::ZERO;
    while released(w, t).await < n {
        assert!(
            waited < Duration::from_secs(60),
            "{}: {what} not written before the interval",
            db.kind
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
}

/// A tenant and a pipeline into its store with a batch size of its own
/// (`auth.audit_flush_batch`, not the default), room for three batches, and an interval far
/// longer than a test: only full batches can be written before the stop.
async fn pipeline(
    db: &TestDb,
) -> (
    support::World,
    TenantId,
    AuditPipeline,
    latchkey_core::audit_pipeline::Flusher,
    usize,
) {
    let w = world(db);
    let t = new_tenant(&w, "A").await.tenant.id;
    let batch = FLUSH_BATCH / 20;
    let (pipeline, flusher) = AuditPipeline::new(
        w.store.clone(),
        3 * batch,
        Duration::from_secs(3_600),
        batch,
    );
    (w, t, pipeline, flusher, batch)
}

async fn batches(db: &TestDb) {
    let (w, t, pipeline, flusher, batch) = pipeline(db).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // On its own thread, as the server runs it.
    let run = flusher.spawn(stopped).unwrap();
    let extra = 7;
    for i in 0..batch + extra {
        let e = AuditEvent::success(&actor(), ACTION, format!("grt_{i}"));
        pipeline.accept(t, e.borrowed()).await.unwrap();
    }
    wait_until_released(&w, t, batch, db, "a full batch").await;
    // The rest is not a batch: it waits for the interval (or the stop).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(released(&w, t).await, batch, "{}", db.kind);

    stop.send(true).unwrap();
    assert_eq!(
        run.finish(Duration::from_secs(30)).await,
        Finished::Written((batch + extra) as u64),
        "{}",
        db.kind
    );
    assert_eq!(released(&w, t).await, batch + extra, "{}", db.kind);
    let late = AuditEvent::success(&actor(), ACTION, "grt_late".to_owned());
    assert!(matches!(
        pipeline.accept(t, late.borrowed()).await,
        Err(CoreError::AuditUnavailable)
    ));
}

/// A backlog bigger than a batch (events accepted while no write could run) goes in batch by
/// batch, oldest first, without waiting for the interval; what is left over waits for it.
async fn backlog(db: &TestDb) {
    let (w, t, pipeline, flusher, batch) = pipeline(db).await;
    let extra = 7;
    let total = 2 * batch + extra;
    for i in 0..total {
        let e = AuditEvent::success(&actor(), ACTION, format!("grt_{i}"));
        pipeline.accept(t, e.borrowed()).await.unwrap();
    }
    // Only now does the flusher start: it finds the whole backlog queued.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(flusher.run(stopped));
    wait_until_released(&w, t, 2 * batch, db, "the backlog's batches").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut oldest: Vec<usize> = written(&w, t)
        .await
        .iter()
        .map(|target| target.trim_start_matches("grt_").parse().unwrap())
        .collect();
    oldest.sort_unstable();
    assert_eq!(
        oldest,
        (0..2 * batch).collect::<Vec<_>>(),
        "{}: the oldest two batches, and only they",
        db.kind
    );
    assert_eq!(stop_run(stop, run).await, total as u64, "{}", db.kind);
    assert_eq!(released(&w, t).await, total, "{}", db.kind);
}

/// Releases accepted on several threads go into several shards of the queue; a backlog of them
/// is written in full batches taken across the shards, every event once.
async fn threads(db: &TestDb) {
    let (w, t, pipeline, flusher, batch) = pipeline(db).await;
    let (threads, each) = (4, batch / 2 + 3);
    let total = threads * each;
    let runtime = tokio::runtime::Handle::current();
    std::thread::scope(|s| {
        for thread in 0..threads {
            let (pipeline, runtime) = (&pipeline, &runtime);
            s.spawn(move || {
                for i in 0..each {
                    let e = AuditEvent::success(&actor(), ACTION, format!("grt_{thread}_{i}"));
                    runtime.block_on(pipeline.accept(t, e.borrowed())).unwrap();
                }
            });
        }
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(flusher.run(stopped));
    wait_until_released(&w, t, 2 * batch, db, "two batches across the shards").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        released(&w, t).await,
        2 * batch,
        "{}: whole batches only",
        db.kind
    );
    assert_eq!(stop_run(stop, run).await, total as u64, "{}", db.kind);
    let mut accepted: Vec<String> = (0..threads)
        .flat_map(|thread| (0..each).map(move |i| format!("grt_{thread}_{i}")))
        .collect();
    accepted.sort_unstable();
    assert_eq!(
        written(&w, t).await,
        accepted,
        "{}: every event once",
        db.kind
    );
}

/// A flusher whose writes keep failing (its table is gone) is abandoned once the wait for it
/// ends, rather than holding the shutdown (`batches` shows one that can write finishing with
/// everything).
async fn abandoned(db: &TestDb) {
    let (_w, t, pipeline, flusher, _) = pipeline(db).await;
    db.exec("DROP VIEW audit_log", &[]).await.unwrap();
    db.exec("DROP TABLE audit_batches", &[]).await.unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let run = flusher.spawn(stopped).unwrap();
    let e = AuditEvent::success(&actor(), ACTION, "grt_0".to_owned());
    pipeline.accept(t, e.borrowed()).await.unwrap();
    stop.send(true).unwrap();
    assert_eq!(
        run.finish(Duration::from_millis(500)).await,
        Finished::Abandoned,
        "{}",
        db.kind
    );
}

on_both_stores! {
    a_full_batch_is_written_before_the_interval => batches;
    a_backlog_is_written_batch_by_batch => backlog;
    releases_on_many_threads_are_written_once_each => threads;
    a_flusher_that_cannot_write_is_abandoned_at_the_deadline => abandoned;
}

/// Every SQLite connection keeps a transaction's changed pages until it commits (an
/// audit flush changes more than its 512 KiB cache holds; spilling them early wrote and read
/// them back, docs/benchmarks.md) and caches at most 512 KiB otherwise.
#[tokio::test]
async fn sqlite_connections_do_not_spill_a_flush_and_cache_512_kib() {
    let db = TestDb::sqlite().await;
    let latchkey_store::AnyStore::Sqlite(s) = &db.store else {
        panic!("not SQLite");
    };
    let mut conns = Vec::new();
    // Two of the readers' pool and the writer (which writes the flushes).
    for pool in [s.pool(), s.pool(), s.writer()] {
        let mut c = pool.acquire().await.unwrap();
        let (spill,): (i64,) = sqlx::query_as("PRAGMA cache_spill")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        let (size,): (i64,) = sqlx::query_as("PRAGMA cache_size")
            .fetch_one(&mut *c)
            .await
            .unwrap();
        assert_eq!((spill, size), (0, -512));
        conns.push(c);
    }
}
