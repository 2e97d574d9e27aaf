//! One notifier per process for long-poll waiters (DESIGN.md §5 "Wait"): a waiter registers
//! interest in one authorization and sleeps; the store's change notices — in-process on
//! SQLite, `LISTEN/NOTIFY` from every replica on PostgreSQL — wake exactly the waiters of the
//! authorization that changed (everyone on [`Change::All`], after a missed notice). Waiting
//! never polls the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use latchkey_core::AuthorizationId;
use latchkey_core::cache::Change;
use tokio::sync::Notify;

/// The registry of waiters, by authorization.
pub struct Waiters {
    by_id: Mutex<HashMap<AuthorizationId, Arc<Notify>>>,
    /// Long-polls holding now (a metric).
    held: AtomicUsize,
    /// Set at shutdown: every hold ends and answers the current status.
    stopping: tokio::sync::watch::Sender<bool>,
}

impl Default for Waiters {
    fn default() -> Self {
        Self {
            by_id: Mutex::default(),
            held: AtomicUsize::new(0),
            stopping: tokio::sync::watch::Sender::new(false),
        }
    }
}

/// One waiter's registration; dropping it forgets the authorization when nobody else waits.
pub struct Watch<'a> {
    waiters: &'a Waiters,
    id: AuthorizationId,
    notify: Arc<Notify>,
}

impl Watch<'_> {
    /// What to await (create it, and `enable` it, before re-reading the state).
    pub fn notify(&self) -> &Notify {
        &self.notify
    }
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        self.waiters.held.fetch_sub(1, Ordering::Relaxed);
        let mut map = self
            .waiters
            .by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's reference and ours: nobody else waits.
        if Arc::strong_count(&self.notify) <= 2 {
            map.remove(&self.id);
        }
    }
}

impl Waiters {
    /// Ends every hold, now and later: long-polls answer with the current status at once
    /// (graceful shutdown, so that no client waits out the grace period for nothing).
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Whether [`Waiters::stop`] was called.
    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once [`Waiters::stop`] is called.
    pub async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Registers interest in `id`.
    pub fn watch(&self, id: AuthorizationId) -> Watch<'_> {
        let notify = self
            .by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(id)
            .or_default()
            .clone();
        self.held.fetch_add(1, Ordering::Relaxed);
        Watch {
            waiters: self,
            id,
            notify,
        }
    }

    /// Wakes what `change` concerns.
    pub fn apply(&self, change: &Change) {
        let map = self.by_id.lock().unwrap_or_else(PoisonError::into_inner);
        match change {
            Change::Authorization(_, id) => {
                if let Some(n) = map.get(id) {
                    n.notify_waiters();
                }
            }
            Change::All => map.values().for_each(|n| n.notify_waiters()),
            Change::Providers(_)
            | Change::Tools(_)
            | Change::Key(_)
            | Change::Tenant(_)
            | Change::Grant(..) => {}
        }
    }

    /// Authorizations somebody waits for (metrics, tests).
    pub fn len(&self) -> usize {
        self.by_id
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Long-polls holding now, across all authorizations (the `long-poll waiters` metric).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_core::TenantId;
    use std::time::Duration;

    #[tokio::test]
    async fn a_change_wakes_the_waiters_of_its_authorization_only() {
        let w = Waiters::default();
        let (a, b) = (AuthorizationId::generate(), AuthorizationId::generate());
        let wa = w.watch(a);
        let wb = w.watch(b);
        let wb2 = w.watch(b);
        assert_eq!((w.len(), w.held()), (2, 3));
        drop(wb2);
        {
            let fa = wa.notify().notified();
            let fb = wb.notify().notified();
            tokio::pin!(fa, fb);
            fa.as_mut().enable();
            fb.as_mut().enable();
            w.apply(&Change::Authorization(TenantId::generate(), a));
            tokio::time::timeout(Duration::from_secs(1), fa)
                .await
                .expect("woken");
            assert!(
                tokio::time::timeout(Duration::from_millis(50), fb)
                    .await
                    .is_err()
            );
        }
        drop(wa);
        assert_eq!((w.len(), w.held()), (1, 1));
        drop(wb);
        assert!(w.is_empty());
        assert_eq!(w.held(), 0);
    }
}
