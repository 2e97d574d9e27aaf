//! Per-bucket and global rate limiting learned from Discord's headers (specs/discord.md §7).
//! Buckets are keyed by (identity, bucket id): for Bearer calls the identity is the token's
//! user (a hash of the token stands in for it), so one user's exhausted bucket never delays
//! another's. When a bucket's `Remaining` reaches 0, the next call to it waits for
//! `Reset-After` instead of earning a 429; a global 429 pauses every call of that identity.
//! Waits use the monotonic clock, never `X-RateLimit-Reset` (rule 29).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;

#[derive(Debug, Clone, Copy)]
struct BucketState {
    remaining: u64,
    reset_at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    route_bucket: HashMap<&'static str, String>,
    buckets: HashMap<(u64, String), BucketState>,
    global_until: HashMap<u64, Instant>,
    /// Send times within the last second, per identity (the proactive global limit).
    recent: HashMap<u64, VecDeque<Instant>>,
}

/// Past this many identities, entries that no longer matter are dropped (tokens rotate on every
/// refresh, so identities come and go).
const PRUNE_AT: usize = 4096;

/// Discord's global limit: 50 requests per second per identity (§7.3).
pub const GLOBAL_PER_SECOND: usize = 50;

/// The limiter shared by every call of one process.
#[derive(Debug)]
pub struct RateLimiter {
    inner: Mutex<Inner>,
    per_second: usize,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(GLOBAL_PER_SECOND)
    }
}

fn header_f64(h: &HeaderMap, name: &str) -> Option<f64> {
    h.get(name)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

impl RateLimiter {
    /// A limiter that sends at most `per_second` requests per identity per second.
    pub fn new(per_second: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            per_second: per_second.max(1),
        }
    }

    /// Claims a send slot for `identity` now, or says how long to wait for one.
    pub fn claim(&self, identity: u64) -> Result<(), Duration> {
        let now = Instant::now();
        let second = Duration::from_secs(1);
        let mut g = self.lock();
        let sent = g.recent.entry(identity).or_default();
        while sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= second)
        {
            sent.pop_front();
        }
        if sent.len() >= self.per_second {
            let oldest = sent.front().copied().unwrap_or(now);
            return Err((oldest + second)
                .saturating_duration_since(now)
                .max(Duration::from_millis(1)));
        }
        sent.push_back(now);
        if g.recent.len() > PRUNE_AT {
            g.recent
                .retain(|_, d| d.back().is_some_and(|t| now.duration_since(*t) < second));
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How long a call on `route` for `identity` must wait before it may be sent.
    pub fn wait_before(&self, identity: u64, route: &'static str) -> Duration {
        let now = Instant::now();
        let g = self.lock();
        let global = g
            .global_until
            .get(&identity)
            .map_or(Duration::ZERO, |u| u.saturating_duration_since(now));
        let bucket = g
            .route_bucket
            .get(route)
            .and_then(|b| g.buckets.get(&(identity, b.clone())))
            .filter(|s| s.remaining == 0)
            .map_or(Duration::ZERO, |s| {
                s.reset_at.saturating_duration_since(now)
            });
        global.max(bucket)
    }

    /// Learns from a response's `X-RateLimit-*` headers.
    pub fn observe(&self, identity: u64, route: &'static str, headers: &HeaderMap) {
        let Some(bucket) = headers
            .get("x-ratelimit-bucket")
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        let (Some(remaining), Some(reset_after)) = (
            header_f64(headers, "x-ratelimit-remaining"),
            header_f64(headers, "x-ratelimit-reset-after"),
        ) else {
            return;
        };
        let reset_at = Instant::now() + Duration::from_secs_f64(reset_after.min(86_400.0));
        let mut g = self.lock();
        g.route_bucket.insert(route, bucket.to_owned());
        // `remaining` is a small non-negative integer; truncation is intended.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let remaining = remaining as u64;
        g.buckets.insert(
            (identity, bucket.to_owned()),
            BucketState {
                remaining,
                reset_at,
            },
        );
        if g.buckets.len() > PRUNE_AT {
            let now = Instant::now();
            g.buckets.retain(|_, b| b.reset_at > now);
            g.global_until.retain(|_, until| *until > now);
        }
    }

    /// Pauses the identity after a 429 (globally when the limit hit was global).
    pub fn pause(&self, identity: u64, route: &'static str, wait: Duration, global: bool) {
        let until = Instant::now() + wait;
        let mut g = self.lock();
        if global {
            let e = g.global_until.entry(identity).or_insert(until);
            *e = (*e).max(until);
        } else if let Some(b) = g.route_bucket.get(route).cloned() {
            g.buckets.insert(
                (identity, b),
                BucketState {
                    remaining: 0,
                    reset_at: until,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(remaining: &str, reset_after: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-bucket", HeaderValue::from_static("abcd"));
        h.insert(
            "x-ratelimit-remaining",
            HeaderValue::from_str(remaining).unwrap(),
        );
        h.insert(
            "x-ratelimit-reset-after",
            HeaderValue::from_str(reset_after).unwrap(),
        );
        h
    }

    #[test]
    fn waits_only_when_exhausted_and_per_identity() {
        let l = RateLimiter::default();
        l.observe(1, "GET /users/@me", &headers("1", "2.5"));
        assert_eq!(l.wait_before(1, "GET /users/@me"), Duration::ZERO);
        l.observe(1, "GET /users/@me", &headers("0", "2.5"));
        let w = l.wait_before(1, "GET /users/@me");
        assert!(
            w > Duration::from_secs(2) && w <= Duration::from_millis(2500),
            "{w:?}"
        );
        assert_eq!(
            l.wait_before(2, "GET /users/@me"),
            Duration::ZERO,
            "another user is not delayed"
        );
        l.pause(2, "GET /users/@me/guilds", Duration::from_secs(3), true);
        assert!(
            l.wait_before(2, "GET /oauth2/@me") > Duration::from_secs(2),
            "global pause covers every route"
        );
        l.observe(3, "GET /x", &headers("nan", "1"));
        assert_eq!(
            l.wait_before(3, "GET /x"),
            Duration::ZERO,
            "unparseable headers are ignored"
        );
    }

    #[test]
    fn at_most_n_sends_per_second_per_identity() {
        let l = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(l.claim(7).is_ok());
        }
        let wait = l.claim(7).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(l.claim(8).is_ok(), "other identities are independent");
        std::thread::sleep(wait);
        assert!(l.claim(7).is_ok(), "a slot frees after a second");
    }
}
