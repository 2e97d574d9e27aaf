//! Per-address limits on the browser routes (specs/security.md A12, Q27, L10): a client address
//! whose start-link or callback requests keep missing — unknown links, unknown `state`s, malformed
//! callbacks, answered 400 or 404 — gets 429 for the rest of the minute, before any lookup and
//! without any call to Discord, so links and `state`s cannot be enumerated and bogus callbacks
//! cannot be used to hammer the store. Only misses count: a busy network address behind NAT
//! whose users open real links is not limited. The address is the TCP peer (a
//! `X-Forwarded-For` header is not trusted, H3); IPv6 peers count per /64.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// Misses per address per [`WINDOW`] before its requests are refused.
pub const MISS_LIMIT: u32 = 100;

/// How long an address's misses are remembered, from its first.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Addresses tracked at most (the oldest are dropped first).
const ADDRESSES: u64 = 100_000;

/// Counts misses per client address.
pub struct MissLimiter {
    misses: moka::sync::Cache<IpAddr, Arc<AtomicU32>>,
    limit: u32,
}

impl Default for MissLimiter {
    fn default() -> Self {
        Self::new(MISS_LIMIT, WINDOW)
    }
}

impl MissLimiter {
    /// At most `limit` misses per address within `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            misses: moka::sync::Cache::builder()
                .max_capacity(ADDRESSES)
                .time_to_live(window)
                .build(),
            limit,
        }
    }

    /// Whether `peer` has used up its misses.
    pub fn limited(&self, peer: Option<IpAddr>) -> bool {
        peer.and_then(|ip| self.misses.get(&subject(ip)))
            .is_some_and(|n| n.load(Ordering::Relaxed) >= self.limit)
    }

    /// Counts the answer given to `peer`: 400 and 404 are misses.
    pub fn record(&self, peer: Option<IpAddr>, answered: StatusCode) {
        if let Some(ip) = peer
            && matches!(answered, StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND)
        {
            self.misses
                .get_with(subject(ip), || Arc::new(AtomicU32::new(0)))
                .fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What is counted for an address: an IPv4 address itself; for IPv6 its /64, which one client
/// usually holds whole (one address per request would otherwise never be limited). An
/// IPv4-mapped IPv6 address counts as its IPv4 address.
fn subject(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The TCP peer's address, when the server was started with connection info.
pub struct Peer(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

/// The page for an address that missed too often.
pub(crate) fn too_many() -> Response {
    let mut r = crate::pages::problem(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "This address opened too many links that do not exist. Wait a minute, then open the link you were given.",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misses_are_counted_per_address_and_per_ipv6_64() {
        let l = MissLimiter::new(3, WINDOW);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(!l.limited(Some(a)));
            l.record(Some(a), StatusCode::NOT_FOUND);
            // Answers that are not misses do not count.
            l.record(Some(a), StatusCode::OK);
            l.record(Some(a), StatusCode::FORBIDDEN);
        }
        assert!(l.limited(Some(a)));
        assert!(!l.limited(Some(b)), "another address is not limited");
        assert!(
            l.limited(Some("::ffff:192.0.2.1".parse().unwrap())),
            "mapped v4"
        );
        // IPv6: the whole /64 counts together; another /64 does not.
        for i in 1..=3 {
            l.record(
                Some(format!("2001:db8:1:2::{i}").parse().unwrap()),
                StatusCode::BAD_REQUEST,
            );
        }
        assert!(l.limited(Some("2001:db8:1:2:ffff::9".parse().unwrap())));
        assert!(!l.limited(Some("2001:db8:1:3::1".parse().unwrap())));
        // No peer address (no connection info): never limited, never counted.
        l.record(None, StatusCode::NOT_FOUND);
        assert!(!l.limited(None));
    }
}
