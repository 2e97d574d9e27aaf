//! The audit pipeline for the token hot path (security.md I7, R11): every token release is
//! *accepted* into a bounded in-memory queue before the token leaves Latchkey, and a flusher
//! persists the queue in batches — every second or every 5,000 events, whichever comes first
//! (both settings), one transaction each, of statements of up to 1,000 events (on SQLite, one
//! tenant's).
//! When the queue cannot accept (it is full, the flusher's writes are failing, or the process
//! is shutting down), the release fails closed: nothing leaves. On shutdown the queue is
//! flushed before the database closes. A crash can lose at most one flush interval of events —
//! the documented difference from Vault's stricter ordering, chosen for the hot path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, TryAcquireError, watch};

use crate::TenantId;
use crate::audit::{AuditEventRef, PackedAudits};
use crate::error::CoreError;
use crate::ports::Store;
use crate::sharded::Sharded;

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

/// Accepted events not yet taken by the flusher: packed buffers behind locks, which a release
/// copies its event into without allocating (tokio's unbounded channel allocated a block every
/// 32 events, and the flusher popped them one by one: about 1.5 % of the warm fetch's
/// samples; queued as separate strings, the events were freed by the flusher's thread,
/// [`PackedAudits`]).
///
/// The buffers are shards ([`Sharded`]): releases never wait for each other, nor for one
/// holding the lock that lost its core. Behind one lock, workers blocked on it about 70 times
/// a second under the warm fetch.
struct Queue {
    shards: Sharded<Pending>,
    /// Events in all the shards (counted under the shard's lock, so never below zero).
    queued: AtomicUsize,
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
            shards: Sharded::per_core(|| Pending {
                // A shard grows as needed; together they start with room for a batch.
                events: PackedAudits::with_capacity(
                    batch.div_ceil(crate::sharded::per_core()),
                    EVENT_BYTES,
                ),
                closed: false,
            }),
            queued: AtomicUsize::new(0),
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
            let mut pending = self.queue.shards.any();
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
            // Counted before the shard is let go, so the flusher never takes it uncounted.
            self.queue.queued.fetch_add(1, Ordering::AcqRel) + 1
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
        // The shard the next batch starts from: each in turn, so a backlog is taken from all.
        let mut first = 0usize;
        loop {
            // The first events of the next batch (or the end).
            while self.queue.queued.load(Ordering::Acquire) == 0 {
                if stopping {
                    // Every shard is closed and empty.
                    return written;
                }
                tokio::select! {
                    () = self.queue.arrived.notified() => {}
                    _ = stop.wait_for(|s| *s) => {
                        stopping = true;
                        // New events are refused; what is queued is still written.
                        self.close();
                    }
                }
            }
            if !stopping {
                let deadline = tokio::time::Instant::now() + self.interval;
                while self.queue.queued.load(Ordering::Acquire) < self.batch {
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
            self.take(first, &mut batch);
            first = first.wrapping_add(1);
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

    /// Moves up to a batch's worth of queued events into `batch` (empty): a share from each
    /// shard, oldest first within it ([`shares`]), the shards' turns starting from the
    /// `first`th.
    fn take(&self, first: usize, batch: &mut PackedAudits) {
        let shards = &self.queue.shards;
        // Shards only grow until this flusher takes from them.
        let queued: Vec<usize> = (0..shards.len())
            .map(|i| shards.lock(i).events.len())
            .collect();
        for (i, n) in shares(&queued, first, self.batch).into_iter().enumerate() {
            if n == 0 {
                continue;
            }
            let mut pending = shards.lock(i);
            // A whole shard into the empty batch: the buffers trade places (the shard keeps
            // the emptied one, with its room). Otherwise the events are copied; moving at most a
            // batch's worth cannot fail, as they fitted where they were.
            if batch.is_empty() && pending.events.len() == n {
                std::mem::swap(&mut pending.events, batch);
            } else if pending.events.move_front(n, batch).is_err() {
                continue;
            }
            self.queue.queued.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// Refuses new events from now on.
    fn close(&self) {
        for i in 0..self.queue.shards.len() {
            self.queue.shards.lock(i).closed = true;
        }
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

/// How many events to take from each shard holding `queued` for a batch of at most `room`:
/// first an even share of what room is left from each in turn, starting from the `first`th
/// (what a shard does not have goes to those after it), then whatever room remains from the
/// shards with more, in the same turn. Under a backlog every shard's oldest events go first,
/// rather than one shard's newest before another's oldest.
fn shares(queued: &[usize], first: usize, room: usize) -> Vec<usize> {
    let n = queued.len();
    let mut take = vec![0; n];
    let mut room = room;
    for k in 0..n {
        let i = first.wrapping_add(k) % n;
        let t = queued[i].min(room.div_ceil(n - k));
        take[i] = t;
        room -= t;
    }
    for k in 0..n {
        let i = first.wrapping_add(k) % n;
        let t = (queued[i] - take[i]).min(room);
        take[i] += t;
        room -= t;
    }
    take
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

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn a_backlog_is_taken_evenly_from_every_shard() {
        assert_eq!(shares(&[10_000; 4], 0, 5_000), vec![1_250; 4]);
        assert_eq!(shares(&[63, 62, 62, 62], 2, 250), vec![63, 62, 62, 62]);
        assert_eq!(shares(&[100, 100, 100], 1, 250), vec![83, 84, 83]);
    }

    #[test]
    fn what_a_shard_lacks_is_taken_from_the_others() {
        assert_eq!(shares(&[10_000, 0, 0, 0], 1, 5_000), vec![5_000, 0, 0, 0]);
        // 100 from the first, an even share of the rest from the next two, then more.
        assert_eq!(
            shares(&[100, 3_000, 0, 3_000], 0, 5_000),
            vec![100, 1_900, 0, 3_000]
        );
        assert_eq!(shares(&[3, 0, 4], 0, 5_000), vec![3, 0, 4]);
        assert_eq!(shares(&[0, 0], 1, 10), vec![0, 0]);
    }
}
