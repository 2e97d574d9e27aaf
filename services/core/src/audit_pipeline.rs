//! The audit pipeline for the token hot path (security.md I7, R11): every token release is
//! *accepted* into a bounded in-memory queue before the token leaves Latchkey, and a flusher
//! persists the queue in batches — every second or every 5,000 events, whichever comes first
//! (both settings), one transaction each, of statements of up to 1,000 events (on SQLite, one
//! tenant's).
//! When the queue cannot accept (it is full, the flusher's writes are failing, or the process
//! is shutting down), the release fails closed: nothing leaves. On shutdown the queue is
//! flushed before the database closes. A crash can lose at most one flush interval of events —
//! the documented difference from Vault's stricter ordering, chosen for the hot path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, TryAcquireError, watch};

use crate::TenantId;
use crate::audit::{AuditEventRef, PackedAudits};
use crate::error::CoreError;
use crate::ports::Store;

/// How often accepted events are persisted, at the latest.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// At most this many events go in one write (one transaction), by default.
pub const FLUSH_BATCH: usize = 5_000;

/// Accepted, unwritten events (queued or being written) before releases stop, by default:
/// ten batches, so a flush that stalls for a moment under load does not hold up releases
/// (10,000 did: PostgreSQL's REST p99 52.8 ms against 8.6 ms, docs/benchmarks.md). About
/// 250 bytes each (an event's strings and its entry, [`PackedAudits`]): 12.5 MB when full.
pub const QUEUE_CAPACITY: usize = 50_000;

/// Room made in the queue's text for each event: its id, actor, action, target, outcome and
/// request id are about 170 bytes.
const EVENT_BYTES: usize = 192;

/// How long a release waits for room in a full queue (a burst the flusher is about to absorb)
/// before it is refused. Writes that fail refuse at once.
pub const ACCEPT_WAIT: Duration = Duration::from_millis(500);

/// Accepts audit events for the flusher. Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct AuditPipeline {
    queue: Arc<Queue>,
    /// Cleared while the flusher's writes fail, so releases stop instead of piling up events
    /// that may never be written.
    healthy: Arc<AtomicBool>,
    /// One permit per event that may still be accepted: taken on accept, given back once the
    /// event is written.
    room: Arc<Semaphore>,
    /// Refusals not logged yet, and the second of the last log line: under overload every
    /// refused release would otherwise add an error line.
    refusals: Arc<(AtomicU64, AtomicU64)>,
    /// Events in one write.
    batch: usize,
}

/// Accepted events not yet taken by the flusher: packed buffers behind a lock, which a release
/// copies its event into without allocating (tokio's unbounded channel allocated a block every
/// 32 events, and the flusher popped them one by one: about 1.5 % of the warm fetch's
/// samples; queued as separate strings, the events were freed by the flusher's thread,
/// [`PackedAudits`]).
struct Queue {
    pending: Mutex<Pending>,
    /// Wakes the flusher: the first event after it took the queue.
    arrived: Notify,
    /// Wakes the flusher before its interval ends: a batch's worth is queued.
    full: Notify,
}

struct Pending {
    events: PackedAudits,
    /// Shutting down: nothing more is accepted.
    closed: bool,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Nothing panics while holding it; a poisoned lock still holds whole events.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Persists what the pipeline accepted. Run it with [`Flusher::run`].
pub struct Flusher {
    queue: Arc<Queue>,
    store: Arc<dyn Store>,
    healthy: Arc<AtomicBool>,
    room: Arc<Semaphore>,
    interval: Duration,
    batch: usize,
}

impl AuditPipeline {
    /// A pipeline into `store` holding at most `capacity` accepted, unwritten events, flushed
    /// at least every `interval` and whenever `batch` are queued (at most `batch` a write);
    /// returns the flusher to run.
    pub fn new(
        store: Arc<dyn Store>,
        capacity: usize,
        interval: Duration,
        batch: usize,
    ) -> (Self, Flusher) {
        let batch = batch.max(1);
        let queue = Arc::new(Queue {
            pending: Mutex::new(Pending {
                events: PackedAudits::with_capacity(batch, EVENT_BYTES),
                closed: false,
            }),
            arrived: Notify::new(),
            full: Notify::new(),
        });
        let healthy = Arc::new(AtomicBool::new(true));
        let room = Arc::new(Semaphore::new(capacity.clamp(1, Semaphore::MAX_PERMITS)));
        (
            Self {
                queue: Arc::clone(&queue),
                healthy: Arc::clone(&healthy),
                room: Arc::clone(&room),
                refusals: Arc::default(),
                batch,
            },
            Flusher {
                queue,
                store,
                healthy,
                room,
                interval,
                batch,
            },
        )
    }

    /// Accepts `event` for persisting within one flush interval, or refuses with
    /// [`CoreError::AuditUnavailable`] — then the caller must not release anything. A full
    /// queue is waited on for up to [`ACCEPT_WAIT`]; failing writes refuse at once.
    pub async fn accept(
        &self,
        tenant: TenantId,
        event: AuditEventRef<'_>,
    ) -> Result<(), CoreError> {
        if !self.healthy.load(Ordering::Acquire) {
            return Err(self.refused("writes are failing"));
        }
        let permit = match self.room.try_acquire() {
            Ok(p) => p,
            Err(TryAcquireError::NoPermits) => {
                match tokio::time::timeout(ACCEPT_WAIT, self.room.acquire()).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) | Err(_) => return Err(self.refused("the queue is full")),
                }
            }
            Err(TryAcquireError::Closed) => return Err(self.refused("shutting down")),
        };
        // Given back by the flusher once the event is written.
        permit.forget();
        let queued = {
            let mut pending = self.queue.lock();
            if pending.closed {
                // Shutting down: the flusher no longer takes events.
                drop(pending);
                self.room.add_permits(1);
                return Err(self.refused("shutting down"));
            }
            if pending.events.push(tenant, event).is_err() {
                drop(pending);
                self.room.add_permits(1);
                return Err(self.refused("the queue is full"));
            }
            pending.events.len()
        };
        if queued == 1 {
            self.queue.arrived.notify_one();
        }
        if queued == self.batch {
            self.queue.full.notify_one();
        }
        Ok(())
    }

    /// Counts a refusal; logs at most one line a second, with how many were refused since.
    fn refused(&self, why: &'static str) -> CoreError {
        let (count, last) = &*self.refusals;
        let refused = count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let before = last.load(Ordering::Relaxed);
        if now > before
            && last
                .compare_exchange(before, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            count.fetch_sub(refused, Ordering::Relaxed);
            tracing::error!(
                refused,
                reason = why,
                "token releases refused: the audit pipeline cannot accept events"
            );
        }
        CoreError::AuditUnavailable
    }
}

impl Flusher {
    /// Persists accepted events until `stop` turns true; then refuses new events, persists
    /// everything already accepted, and returns how many events it wrote in all. A failing
    /// write is retried (with backoff, never dropped) while accepting stops; during shutdown
    /// the caller bounds the wait.
    ///
    /// The first event of a batch wakes the flusher; the rest are taken together when the
    /// interval has passed or a batch's worth is queued ([`AuditPipeline::accept`] says so), so
    /// a busy token path wakes it a few times a second, not once per release.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> u64 {
        let mut written = 0u64;
        let mut batch = PackedAudits::with_capacity(self.batch, EVENT_BYTES);
        let mut stopping = false;
        loop {
            // The first events of the next batch (or the end).
            loop {
                let (empty, closed) = {
                    let pending = self.queue.lock();
                    (pending.events.is_empty(), pending.closed)
                };
                if !empty {
                    break;
                }
                if closed {
                    return written;
                }
                tokio::select! {
                    () = self.queue.arrived.notified() => {}
                    _ = stop.wait_for(|s| *s), if !stopping => {
                        stopping = true;
                        // New events are refused; what is queued is still written.
                        self.close();
                    }
                }
            }
            if !stopping {
                let deadline = tokio::time::Instant::now() + self.interval;
                while self.queue.lock().events.len() < self.batch {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => break,
                        () = self.queue.full.notified() => {}
                        _ = stop.wait_for(|s| *s) => {
                            stopping = true;
                            self.close();
                            break;
                        }
                    }
                }
            }
            {
                let mut pending = self.queue.lock();
                // The empty buffers (with their room) go back for the next events. (Moving a
                // batch's worth out of a backlog cannot fail: they fitted where they were.)
                if pending.events.len() <= self.batch
                    || pending.events.move_front(self.batch, &mut batch).is_err()
                {
                    std::mem::swap(&mut pending.events, &mut batch);
                }
            }
            self.write(&batch).await;
            self.room.add_permits(batch.len());
            written += batch.len() as u64;
            batch.clear();
            // A backlog's room is not kept.
            if batch.capacity().0 > 2 * self.batch {
                batch = PackedAudits::with_capacity(self.batch, EVENT_BYTES);
            }
        }
    }

    /// Runs [`run`](Self::run) on a thread of its own, driven with the runtime's I/O and
    /// timers (`Handle::block_on`): building a batch's statements (thousands of rows) and freeing
    /// a written batch then take turns with request handling through the operating system's
    /// scheduler, as SQLite's own worker thread does, instead of holding a runtime worker — and
    /// the requests queued on it — for a millisecond or more (docs/benchmarks.md). Call from
    /// within the runtime.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> std::io::Result<FlusherThread> {
        let handle = tokio::runtime::Handle::current();
        let (done, written) = tokio::sync::oneshot::channel();
        let (abandon, abandoned) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("latchkey-audit".to_owned())
            .spawn(move || {
                let finished = handle.block_on(async move {
                    tokio::select! {
                        written = self.run(stop) => Some(written),
                        // Abandoned (or its handle dropped): the flusher's future is dropped here,
                        // on its thread, while the runtime still runs.
                        _ = abandoned => None,
                    }
                });
                if let Some(n) = finished {
                    let _ = done.send(n);
                }
            })?;
        Ok(FlusherThread {
            written,
            abandon: Some(abandon),
        })
    }

    /// Refuses new events from now on.
    fn close(&self) {
        self.queue.lock().closed = true;
    }

    /// Writes one batch, retrying until it is stored.
    async fn write(&self, batch: &PackedAudits) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.store.record_audits(batch).await {
                Ok(()) => {
                    if !self.healthy.swap(true, Ordering::AcqRel) {
                        tracing::info!("audit writes succeed again; token releases resume");
                    }
                    return;
                }
                Err(e) => {
                    if self.healthy.swap(false, Ordering::AcqRel) {
                        tracing::error!(error = %e, events = batch.len(), "audit writes fail; token releases stop until they succeed");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// A [`Flusher`] on its thread ([`Flusher::spawn`]). Dropping it abandons the flusher.
pub struct FlusherThread {
    written: tokio::sync::oneshot::Receiver<u64>,
    abandon: Option<tokio::sync::oneshot::Sender<()>>,
}

/// How a [`FlusherThread`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// Stopped with everything accepted written: this many events in all.
    Written(u64),
    /// Still writing when the wait ended (the database unreachable): abandoned, with what it
    /// still held unwritten.
    Abandoned,
    /// Its thread ended without finishing (a panic).
    Died,
}

impl FlusherThread {
    /// Waits up to `grace` for the flusher to finish once its stop is sent; past it, abandons
    /// it and waits (a second at most) for its thread to let go of it.
    pub async fn finish(mut self, grace: Duration) -> Finished {
        match tokio::time::timeout(grace, &mut self.written).await {
            Ok(Ok(n)) => Finished::Written(n),
            Ok(Err(_)) => Finished::Died,
            Err(_) => {
                if let Some(abandon) = self.abandon.take() {
                    let _ = abandon.send(());
                }
                // The thread drops its end once the flusher's future is gone.
                let _ = tokio::time::timeout(Duration::from_secs(1), &mut self.written).await;
                Finished::Abandoned
            }
        }
    }
}
