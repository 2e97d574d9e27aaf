//! Change notices ([`Change`]) announced by the store's writes, for the caches of every process:
//! in-process on a broadcast channel after the write commits, and on PostgreSQL also by
//! `NOTIFY latchkey_changes` inside the write's transaction (delivered only if it commits) to
//! every replica's listener, which re-announces them in its own process.

use std::time::Duration;

use latchkey_core::cache::Change;
use tokio::sync::broadcast;

/// The PostgreSQL channel.
pub(crate) const CHANNEL: &str = "latchkey_changes";

/// Notices a subscriber may fall behind by before it is told to drop everything.
const BACKLOG: usize = 1024;

/// The in-process side: one broadcast channel per opened store.
#[derive(Clone)]
pub(crate) struct Notices(broadcast::Sender<Change>);

impl Notices {
    pub(crate) fn new() -> Self {
        Self(broadcast::channel(BACKLOG).0)
    }

    /// Announces a committed change (nobody listening is fine).
    pub(crate) fn send(&self, change: Change) {
        let _ = self.0.send(change);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.0.subscribe()
    }
}

/// The next notice for a subscriber; [`Change::All`] when it fell behind and missed some.
/// `None` once the store is gone.
pub async fn next(rx: &mut broadcast::Receiver<Change>) -> Option<Change> {
    match rx.recv().await {
        Ok(c) => Some(c),
        Err(broadcast::error::RecvError::Lagged(_)) => Some(Change::All),
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

/// PostgreSQL: listens on [`CHANNEL`] and re-announces every notice in this process. After each
/// (re)connection it announces [`Change::All`], since notices sent meanwhile were missed. Ends
/// when the pool closes.
pub(crate) async fn listen(pool: sqlx::PgPool, notices: Notices) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    notices.send(Change::All);
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => match Change::decode(n.payload()) {
                                Some(c) => notices.send(c),
                                None => tracing::warn!("ignored a malformed change notice"),
                            },
                            // The connection was lost: listen again on a new one, which
                            // announces `All` once it is listening (not before, or loads in
                            // between could cache what a missed notice changed).
                            Ok(None) => {
                                tracing::warn!("change listener lost its connection; reconnecting");
                                break;
                            }
                            Err(sqlx::Error::PoolClosed) => return,
                            Err(e) => {
                                tracing::warn!(error = %e, "change listener failed");
                                break;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not LISTEN for change notices"),
            },
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::warn!(error = %e, "could not connect the change listener"),
        }
        if pool.is_closed() {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
