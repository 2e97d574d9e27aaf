//! The invalid-request breaker (specs/discord.md §7.5, §7.6; security.md DEC9). Discord
//! restricts an IP after 10,000 responses of 401, 403 or 429 (except `shared` 429s) in
//! 10 minutes. Latchkey counts those answers over a sliding window and, well before that limit
//! (default 2,000), fails every Discord call fast for a while, then lets one probe through.
//!
//! The count here is per process; sharing it across replicas through the database is the token
//! service's job (issue 6).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::DiscordError;

/// Breaker thresholds.
#[derive(Debug, Clone)]
pub struct BreakerConfig {
    /// The sliding window.
    pub window: Duration,
    /// Log a warning once this many invalid answers fall in the window.
    pub warn_at: usize,
    /// Open the breaker at this many.
    pub trip_at: usize,
    /// How long an open breaker fails calls before letting a probe through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(600),
            warn_at: 1_000,
            trip_at: 2_000,
            open_for: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    invalid: VecDeque<Instant>,
    open_until: Option<Instant>,
    /// When the one half-open probe was let through, if one is out.
    probe_started: Option<Instant>,
    warned: bool,
}

/// Counts invalid answers and fails calls fast when there were too many.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a call may go out now. While open: no. After `open_for`: one probe at a time;
    /// a probe that is never resolved (its caller gave up) is replaced after another `open_for`.
    /// Call this immediately before sending, and resolve the call with `record_*`.
    pub fn check(&self) -> Result<(), DiscordError> {
        let now = Instant::now();
        let mut g = self.lock();
        match (g.open_until, g.probe_started) {
            (None, _) => Ok(()),
            (Some(until), _) if now < until => Err(DiscordError::BreakerOpen),
            (Some(_), Some(started)) if now.duration_since(started) < self.config.open_for => {
                Err(DiscordError::BreakerOpen)
            }
            (Some(_), _) => {
                g.probe_started = Some(now);
                Ok(())
            }
        }
    }

    fn reopen(&self, g: &mut Inner, now: Instant) {
        g.open_until = Some(now + self.config.open_for);
        g.probe_started = None;
    }

    /// Records a 401, 403 or non-shared 429.
    pub fn record_invalid(&self) {
        let now = Instant::now();
        let mut g = self.lock();
        g.invalid.push_back(now);
        while g
            .invalid
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.config.window)
        {
            g.invalid.pop_front();
        }
        let n = g.invalid.len();
        if n >= self.config.warn_at && !g.warned {
            g.warned = true;
            tracing::warn!(
                invalid = n,
                window_s = self.config.window.as_secs(),
                "many invalid Discord responses"
            );
        }
        if g.probe_started.is_some() || n >= self.config.trip_at {
            if g.open_until.is_none() || g.probe_started.is_some() {
                tracing::error!(
                    invalid = n,
                    "Discord invalid-request breaker open; calls fail fast"
                );
            }
            self.reopen(&mut g, now);
        }
    }

    /// Records a call that got no answer (network error, timeout): a half-open probe failed.
    pub fn record_failure(&self) {
        let mut g = self.lock();
        if g.probe_started.is_some() {
            self.reopen(&mut g, Instant::now());
        }
    }

    /// Records an answer that was not invalid; closes a half-open breaker.
    pub fn record_ok(&self) {
        let mut g = self.lock();
        if g.probe_started.is_some() {
            tracing::info!("Discord invalid-request breaker closed");
            *g = Inner::default();
        }
    }

    /// Opens the breaker at once (Discord says the egress is blocked).
    pub fn trip(&self) {
        let mut g = self.lock();
        self.reopen(&mut g, Instant::now());
    }

    /// Invalid answers currently in the window.
    pub fn invalid_count(&self) -> usize {
        self.lock().invalid.len()
    }

    /// Whether calls currently fail fast.
    pub fn is_open(&self) -> bool {
        self.lock().open_until.is_some_and(|u| Instant::now() < u)
    }

    /// Where the breaker stands (a metric: 0 closed, 1 half-open, 2 open).
    pub fn state(&self) -> BreakerState {
        match self.lock().open_until {
            None => BreakerState::Closed,
            Some(until) if Instant::now() < until => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }
}

/// See [`Breaker::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go out.
    Closed,
    /// The open period is over: one probe at a time decides.
    HalfOpen,
    /// Calls fail fast.
    Open,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_at_the_threshold_then_half_opens() {
        let b = Breaker::new(BreakerConfig {
            window: Duration::from_secs(600),
            warn_at: 2,
            trip_at: 3,
            open_for: Duration::from_millis(50),
        });
        for _ in 0..2 {
            b.record_invalid();
            assert!(b.check().is_ok());
        }
        assert_eq!(b.state(), BreakerState::Closed);
        b.record_invalid();
        assert_eq!(b.check(), Err(DiscordError::BreakerOpen));
        assert_eq!(b.state(), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.check().is_ok(), "one probe");
        assert_eq!(
            b.check(),
            Err(DiscordError::BreakerOpen),
            "only one probe at a time"
        );
        b.record_invalid();
        assert_eq!(
            b.check(),
            Err(DiscordError::BreakerOpen),
            "a failed probe reopens"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.check().is_ok());
        b.record_ok();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(
            b.check().is_ok() && b.check().is_ok(),
            "a good probe closes"
        );
        assert_eq!(b.invalid_count(), 0);
    }
}
