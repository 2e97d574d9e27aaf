//! Rate limiting (§10.5.7, §7): per-route fixed windows keyed by (identity, bucket, top-level
//! resource), the per-identity global limit, `X-RateLimit-*` headers, and the per-IP
//! invalid-request counter with its temporary ban.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::http::{api_error, html, json_response};
use crate::settings::{BanResponse, Profile, RateLimitSettings, RouteLimit};

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: i64,
    count: u32,
}

/// Counters, bans and the "retry not before" marks used by the `early_retry` check.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    windows: HashMap<(String, String, String), Window>,
    global: HashMap<String, Window>,
    invalid: HashMap<IpAddr, VecDeque<i64>>,
    bans: HashMap<IpAddr, i64>,
    blocked_until: HashMap<(String, String), i64>,
    global_blocked_until: HashMap<String, i64>,
}

/// Outcome of a bucket check.
pub(crate) struct BucketState {
    pub headers: Vec<(&'static str, String)>,
    /// `Some(reset_after_s)` when the request is over the limit.
    pub limited: Option<f64>,
}

/// The limit of a route (`"GET /users/@me"`), from the routes table or the profile.
pub(crate) fn route_limit(settings: &RateLimitSettings, route: &str) -> Option<RouteLimit> {
    if let Some(limit) = settings.routes.get(route) {
        return Some(*limit);
    }
    let lenient = RouteLimit {
        limit: 1000,
        window_s: 1.0,
    };
    match settings.profile {
        Profile::Lenient | Profile::Custom => Some(lenient),
        Profile::Realistic if route.starts_with("PUT /guilds/") => Some(RouteLimit {
            limit: 10,
            window_s: 10.0,
        }),
        Profile::Realistic if route.contains("/@me") => Some(RouteLimit {
            limit: 5,
            window_s: 5.0,
        }),
        Profile::Realistic => Some(lenient),
    }
}

/// A stable opaque bucket id for a route.
pub(crate) fn bucket_id(seed: u64, route: &str) -> String {
    hex::encode(&Sha256::digest(format!("{seed}:{route}").as_bytes())[..8])
}

impl Limiter {
    /// Counts one request against the bucket; headers always, `limited` when exhausted.
    pub(crate) fn hit(
        &mut self,
        now: i64,
        identity: &str,
        bucket: &str,
        resource: &str,
        limit: RouteLimit,
    ) -> BucketState {
        let window_ms = (limit.window_s * 1000.0).max(1.0) as i64;
        let key = (identity.to_owned(), bucket.to_owned(), resource.to_owned());
        let w = self.windows.entry(key).or_insert(Window {
            start_ms: now,
            count: 0,
        });
        if now >= w.start_ms + window_ms {
            *w = Window {
                start_ms: now,
                count: 0,
            };
        }
        let over = w.count >= limit.limit;
        if !over {
            w.count += 1;
        }
        let reset_ms = w.start_ms + window_ms;
        let reset_after = (reset_ms - now) as f64 / 1000.0;
        let headers = vec![
            ("x-ratelimit-limit", limit.limit.to_string()),
            (
                "x-ratelimit-remaining",
                limit.limit.saturating_sub(w.count).to_string(),
            ),
            (
                "x-ratelimit-reset",
                format!("{:.3}", reset_ms as f64 / 1000.0),
            ),
            ("x-ratelimit-reset-after", format!("{reset_after:.3}")),
            ("x-ratelimit-bucket", bucket.to_owned()),
        ];
        if over {
            self.blocked_until
                .insert((identity.to_owned(), bucket.to_owned()), reset_ms);
        }
        BucketState {
            headers,
            limited: over.then_some(reset_after),
        }
    }

    /// The per-identity global limit; `Some(retry_after_s)` when exceeded.
    pub(crate) fn hit_global(&mut self, now: i64, identity: &str, per_s: u32) -> Option<f64> {
        let w = self.global.entry(identity.to_owned()).or_insert(Window {
            start_ms: now,
            count: 0,
        });
        if now >= w.start_ms + 1000 {
            *w = Window {
                start_ms: now,
                count: 0,
            };
        }
        if w.count >= per_s {
            let reset = w.start_ms + 1000;
            self.global_blocked_until.insert(identity.to_owned(), reset);
            return Some((reset - now) as f64 / 1000.0);
        }
        w.count += 1;
        None
    }

    /// True when the identity calls a bucket (or anything, after a global 429) too early.
    pub(crate) fn is_early(&self, now: i64, identity: &str, bucket: &str) -> bool {
        let bucket_block = self
            .blocked_until
            .get(&(identity.to_owned(), bucket.to_owned()));
        let global_block = self.global_blocked_until.get(identity);
        bucket_block.is_some_and(|&t| now < t) || global_block.is_some_and(|&t| now < t)
    }

    /// Counts an invalid answer (401, 403, non-shared 429); returns true when this bans the IP.
    pub(crate) fn count_invalid(&mut self, ip: IpAddr, now: i64, s: &RateLimitSettings) -> bool {
        let q = self.invalid.entry(ip).or_default();
        q.push_back(now);
        let horizon = now - s.invalid_window_s * 1000;
        while q.front().is_some_and(|&t| t <= horizon) {
            q.pop_front();
        }
        if q.len() >= s.invalid_limit as usize {
            q.clear();
            self.ban(ip, now, s.ban_duration_s);
            return true;
        }
        false
    }

    pub(crate) fn ban(&mut self, ip: IpAddr, now: i64, duration_s: i64) {
        self.bans.insert(ip, now + duration_s * 1000);
    }

    pub(crate) fn is_banned(&self, ip: IpAddr, now: i64) -> bool {
        self.bans.get(&ip).is_some_and(|&until| now < until)
    }

    pub(crate) fn clear(&mut self) {
        *self = Limiter::default();
    }
}

/// The answer every request from a banned IP gets.
pub(crate) fn ban_response(kind: BanResponse) -> Response {
    match kind {
        BanResponse::Cloudflare1015Html => html(
            StatusCode::TOO_MANY_REQUESTS,
            "<!DOCTYPE html><html><head><title>Access denied | discord.com used Cloudflare to restrict access</title></head>\
             <body><h1>Error 1015</h1><p>You are being rate limited</p><p>error code: 1015</p></body></html>"
                .to_owned(),
        ),
        BanResponse::Json40333 => api_error(StatusCode::FORBIDDEN, 40333, "Cloudflare is blocking your request. Set a proper User-Agent and try again later."),
        BanResponse::Discord429Blocked => json_response(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"message": "You are being blocked from accessing our API temporarily due to exceeding our rate limits frequently. Please read our docs at https://discord.com/developers/docs/topics/rate-limits to prevent this moving forward.",
                    "retry_after": 86400.0, "global": true, "code": 0}),
        ),
    }
}
