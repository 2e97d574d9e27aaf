//! A value split over several locks, for state every request touches (the audit queue, the
//! request-duration histogram): a thread takes the first shard not held, starting from its
//! own, so threads do not wait for each other — and one that loses its core while holding a
//! shard (to a woken thread, or to the hypervisor for milliseconds) holds up nobody else.
//! Behind one lock each, two runtime workers blocked on the two about 150 times a second under
//! the warm token fetch (`perf` of the futex calls, docs/benchmarks.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

/// The next thread's first shard.
static NEXT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's first shard (threads take them in turn).
    static HOME: usize = NEXT.fetch_add(1, Ordering::Relaxed);
}

/// How many shards [`Sharded::per_core`] makes: twice as many as cores (2 to 64), so that a
/// thread finds a free one at its first or second try.
pub fn per_core() -> usize {
    let n = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
    n.clamp(2, 64)
}

/// `T` in shards, each behind its own lock.
pub struct Sharded<T> {
    shards: Box<[Mutex<T>]>,
}

impl<T> Sharded<T> {
    /// `n` shards (at least one), each made by `make`.
    pub fn new(n: usize, make: impl FnMut() -> T) -> Self {
        let mut make = make;
        Self {
            shards: (0..n.max(1)).map(|_| Mutex::new(make())).collect(),
        }
    }

    /// [`per_core`] shards.
    pub fn per_core(make: impl FnMut() -> T) -> Self {
        Self::new(per_core(), make)
    }

    /// How many shards there are.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Never: there is at least one shard.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The first shard not held, from this thread's own on; `None` when every one is held.
    pub fn try_any(&self) -> Option<MutexGuard<'_, T>> {
        let n = self.shards.len();
        let home = HOME.with(|h| *h);
        (0..n).find_map(
            |i| match self.shards.get(home.wrapping_add(i) % n)?.try_lock() {
                Ok(shard) => Some(shard),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            },
        )
    }

    /// The first shard not held; when every one is held, this thread's own once it is free.
    pub fn any(&self) -> MutexGuard<'_, T> {
        self.try_any()
            .unwrap_or_else(|| self.lock(HOME.with(|h| *h)))
    }

    /// The `i`th shard (modulo their number), once it is free.
    pub fn lock(&self, i: usize) -> MutexGuard<'_, T> {
        // Every caller keeps the shards whole while holding one (nothing panics halfway), so a
        // poisoned lock still holds a whole value.
        self.shards[i % self.shards.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_shard_is_passed_over() {
        let s = Sharded::new(3, Vec::<u32>::new);
        let mine = s.any();
        // Every other shard is still free, and taken instead of waiting.
        let second = s.try_any().map(|g| std::ptr::from_ref(&*g));
        let third = s.try_any().map(|g| std::ptr::from_ref(&*g));
        assert!(second.is_some());
        assert!(!std::ptr::eq(second.unwrap(), &*mine));
        assert!(!std::ptr::eq(third.unwrap(), &*mine));
        drop(mine);
    }

    #[test]
    fn with_every_shard_held_none_is_taken() {
        let s = Sharded::new(2, || 0u8);
        let a = s.lock(0);
        let b = s.lock(1);
        assert!(s.try_any().is_none());
        drop((a, b));
        assert!(s.try_any().is_some());
    }

    #[test]
    fn values_land_in_some_shard_and_are_all_found() {
        let s = Sharded::new(4, Vec::<u32>::new);
        std::thread::scope(|scope| {
            for t in 0..8u32 {
                let s = &s;
                scope.spawn(move || {
                    for i in 0..1000 {
                        s.any().push(t * 1000 + i);
                    }
                });
            }
        });
        let mut all: Vec<u32> = (0..s.len()).flat_map(|i| s.lock(i).clone()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..8000).collect::<Vec<_>>());
    }
}
