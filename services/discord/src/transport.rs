//! One way out to Discord. Every call passes, in order: the breaker, the rate limiter's wait,
//! the request with its timeout, a capped body read, header learning, invalid-answer counting,
//! ban detection, and the retry decision (bounded attempts with full-jitter exponential
//! backoff; 429s wait `retry_after`, never less). Redirects are never followed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::breaker::Breaker;
use crate::error::DiscordError;
use crate::ratelimit::RateLimiter;
use crate::types::{RateLimitBody, RestErrorBody};

/// Retry limits and waits.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Most attempts for calls that may be repeated (REST reads, revocation).
    pub max_attempts: u32,
    /// First backoff; doubles each attempt, with full jitter.
    pub backoff_base: Duration,
    /// Longest single backoff.
    pub backoff_max: Duration,
    /// Longest total wait for rate limits within one call; beyond it the caller gets
    /// [`DiscordError::RateLimited`] with the remaining wait.
    pub max_rate_limit_wait: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            max_rate_limit_wait: Duration::from_secs(10),
        }
    }
}

/// How a call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Up to `max_attempts` on network errors, timeouts and 5xx (idempotent calls).
    Idempotent,
    /// One retry on network errors, timeouts and 5xx (refresh: a lost response is retried once
    /// under the caller's lock; `invalid_grant` then means re-authorization, rule 24).
    Once,
    /// One retry, only when the request surely did not reach Discord (connection failure) or
    /// Discord answered 5xx: the code exchange, whose code is single use (rule 24).
    OnceIfUnsent,
}

/// A prepared call.
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    /// Method and route template, e.g. `GET /users/@me/guilds/{guild}/member`.
    pub route: &'static str,
    /// Rate-limit identity (hash of the token, or of the client id for the token endpoint).
    pub identity: u64,
    pub headers: HeaderMap,
    /// A form-encoded body.
    pub form: Option<String>,
    pub retry: Retry,
}

/// A received answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub json: bool,
}

/// Adds headers to every request from the caller's context (W3C trace context); the server
/// supplies it, so this crate stays free of any telemetry framework.
pub type Propagator = Arc<dyn Fn(&mut HeaderMap) + Send + Sync>;

/// Rate-limit waits so far (metrics).
#[derive(Debug, Default)]
pub struct RateLimitWaits {
    count: AtomicU64,
    micros: AtomicU64,
}

impl RateLimitWaits {
    fn record(&self, wait: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(
            u64::try_from(wait.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// How many waits, and their total length.
    pub fn total(&self) -> (u64, Duration) {
        (
            self.count.load(Ordering::Relaxed),
            Duration::from_micros(self.micros.load(Ordering::Relaxed)),
        )
    }
}

pub(crate) struct Transport {
    pub http: reqwest::Client,
    pub limiter: Arc<RateLimiter>,
    pub breaker: Arc<Breaker>,
    pub retry: RetryConfig,
    pub max_body_bytes: usize,
    pub waits: RateLimitWaits,
    pub propagate: Option<Propagator>,
}

enum Outcome {
    Done(Answer),
    /// Retry after the delay. `unsent_or_5xx` says whether a single-use request may be retried.
    RetryAfter {
        delay: Duration,
        error: DiscordError,
        unsent_or_5xx: bool,
    },
    Fail(DiscordError),
}

impl Transport {
    /// Runs `call` in a client span named by its route (never its URL: ids stay out of spans).
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer, DiscordError> {
        let span = tracing::info_span!(
            "discord",
            otel.name = %format_args!("Discord {}", call.route),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.route = call.route,
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        );
        let result = tracing::Instrument::instrument(self.run(call), span.clone()).await;
        match &result {
            Ok(a) => {
                span.record("http.response.status_code", a.status.as_u16());
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("error.type", e.kind());
            }
        }
        result
    }

    async fn run(&self, call: Call) -> Result<Answer, DiscordError> {
        let max_attempts = match call.retry {
            Retry::Idempotent => self.retry.max_attempts.max(1),
            Retry::Once | Retry::OnceIfUnsent => 2,
        };
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let wait = self.limiter.wait_before(call.identity, call.route);
            if !wait.is_zero() {
                if waited + wait > self.retry.max_rate_limit_wait {
                    return Err(DiscordError::RateLimited {
                        retry_after: wait,
                        global: false,
                    });
                }
                waited += wait;
                self.waits.record(wait);
                tokio::time::sleep(wait).await;
            }
            while let Err(wait) = self.limiter.claim(call.identity) {
                if waited + wait > self.retry.max_rate_limit_wait {
                    return Err(DiscordError::RateLimited {
                        retry_after: wait,
                        global: true,
                    });
                }
                waited += wait;
                self.waits.record(wait);
                tokio::time::sleep(wait).await;
            }
            // Checked right before sending, so a half-open probe is always resolved below.
            self.breaker.check()?;
            match self.attempt(&call, attempt).await {
                Outcome::Done(a) => return Ok(a),
                Outcome::Fail(e) => return Err(e),
                Outcome::RetryAfter {
                    delay,
                    error,
                    unsent_or_5xx,
                } => {
                    let rate_limited = matches!(error, DiscordError::RateLimited { .. });
                    let may_retry =
                        rate_limited || call.retry != Retry::OnceIfUnsent || unsent_or_5xx;
                    let out_of_budget = if rate_limited {
                        waited + delay > self.retry.max_rate_limit_wait
                    } else {
                        attempt >= max_attempts
                    };
                    if out_of_budget || !may_retry {
                        return Err(error);
                    }
                    if rate_limited {
                        waited += delay;
                        self.waits.record(delay);
                    }
                    tracing::debug!(route = call.route, attempt, delay_ms = delay.as_millis() as u64, error = %error, "retrying Discord call");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn headers(&self, call: &Call) -> HeaderMap {
        let mut headers = call.headers.clone();
        if let Some(propagate) = &self.propagate {
            propagate(&mut headers);
        }
        headers
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .retry
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.retry.backoff_max);
        let jitter = rand::thread_rng().gen_range(0.0..=1.0);
        exp.mul_f64(jitter).max(Duration::from_millis(10))
    }

    async fn attempt(&self, call: &Call, attempt_no: u32) -> Outcome {
        let mut req = self
            .http
            .request(call.method.clone(), call.url.clone())
            .headers(self.headers(call));
        if let Some(form) = &call.form {
            req = req
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(form.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.breaker.record_failure();
                let (kind, unsent) = if e.is_connect() {
                    ("connection failed", true)
                } else if e.is_timeout() {
                    ("timeout", false)
                } else {
                    ("request failed", false)
                };
                return Outcome::RetryAfter {
                    delay: self.backoff(attempt_no),
                    error: DiscordError::Transient(kind.to_owned()),
                    unsent_or_5xx: unsent,
                };
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        // Resolve the breaker from the status before the body is read, so nothing can leave a
        // half-open probe unresolved.
        let scope_shared = headers
            .get("x-ratelimit-scope")
            .and_then(|v| v.to_str().ok())
            == Some("shared");
        let invalid = matches!(status.as_u16(), 401 | 403)
            || (status == StatusCode::TOO_MANY_REQUESTS && !scope_shared);
        if invalid {
            self.breaker.record_invalid();
        } else {
            self.breaker.record_ok();
        }
        self.limiter.observe(call.identity, call.route, &headers);
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/json")
            });
        let body = match read_capped(resp, self.max_body_bytes).await {
            Ok(b) => b,
            Err(e @ DiscordError::InvalidResponse(_)) => return Outcome::Fail(e),
            Err(e) => {
                return Outcome::RetryAfter {
                    delay: self.backoff(attempt_no),
                    error: e,
                    unsent_or_5xx: false,
                };
            }
        };
        if is_ban(status, json, &body) {
            self.breaker.trip();
            tracing::error!(
                route = call.route,
                status = status.as_u16(),
                "Discord egress restricted (invalid-request ban)"
            );
            return Outcome::Fail(DiscordError::EgressBanned);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            let (retry_after, global) = retry_after(&headers, json, &body);
            self.limiter
                .pause(call.identity, call.route, retry_after, global);
            return Outcome::RetryAfter {
                delay: retry_after,
                error: DiscordError::RateLimited {
                    retry_after,
                    global,
                },
                unsent_or_5xx: true,
            };
        }
        if status.is_server_error() {
            return Outcome::RetryAfter {
                delay: self.backoff(attempt_no),
                error: DiscordError::Transient(format!("Discord answered {}", status.as_u16())),
                unsent_or_5xx: true,
            };
        }
        Outcome::Done(Answer { status, body, json })
    }
}

async fn read_capped(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, DiscordError> {
    let too_large =
        || DiscordError::InvalidResponse(format!("response body larger than {max} bytes"));
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > max {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                let kind = if e.is_timeout() {
                    "timeout reading the response"
                } else {
                    "connection lost reading the response"
                };
                return Err(DiscordError::Transient(kind.to_owned()));
            }
        }
    }
}

/// `retry_after` from the body (float seconds) or the `Retry-After` header; 1 s if neither.
fn retry_after(headers: &HeaderMap, json: bool, body: &[u8]) -> (Duration, bool) {
    let global_header = headers
        .get("x-ratelimit-global")
        .and_then(|v| v.to_str().ok())
        == Some("true");
    if json
        && let Ok(b) = serde_json::from_slice::<RateLimitBody>(body)
        && b.retry_after.is_finite()
        && b.retry_after >= 0.0
    {
        return (
            Duration::from_secs_f64(b.retry_after.min(86_400.0)),
            b.global || global_header,
        );
    }
    let header = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0);
    (
        Duration::from_secs_f64(header.unwrap_or(1.0).min(86_400.0)),
        global_header,
    )
}

/// Cloudflare's 1015 page, JSON code 40333, or a 429 saying the client is blocked.
fn is_ban(status: StatusCode, json: bool, body: &[u8]) -> bool {
    if !matches!(status.as_u16(), 403 | 429) {
        return false;
    }
    if !json {
        return String::from_utf8_lossy(body).contains("error code: 1015");
    }
    match serde_json::from_slice::<RestErrorBody>(body) {
        Ok(b) => {
            b.code == Some(40333)
                || b.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("You are being blocked from accessing our API"))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_prefers_the_float_body() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("65"));
        let (d, g) = retry_after(
            &h,
            true,
            br#"{"message":"You are being rate limited.","retry_after":64.57,"global":false}"#,
        );
        assert_eq!((d, g), (Duration::from_secs_f64(64.57), false));
        let (d, _) = retry_after(&h, false, b"<html>");
        assert_eq!(d, Duration::from_secs(65));
        h.insert("x-ratelimit-global", HeaderValue::from_static("true"));
        assert!(retry_after(&h, true, br#"{"retry_after":1.0}"#).1);
    }

    #[test]
    fn recognises_bans() {
        assert!(is_ban(
            StatusCode::TOO_MANY_REQUESTS,
            false,
            b"<html>error code: 1015</html>"
        ));
        assert!(is_ban(
            StatusCode::FORBIDDEN,
            true,
            br#"{"message":"Cloudflare...","code":40333}"#
        ));
        assert!(is_ban(StatusCode::TOO_MANY_REQUESTS, true, br#"{"message":"You are being blocked from accessing our API temporarily due to exceeding our rate limits frequently.","retry_after":1}"#));
        assert!(!is_ban(
            StatusCode::TOO_MANY_REQUESTS,
            true,
            br#"{"message":"You are being rate limited.","retry_after":1,"global":false}"#
        ));
        assert!(!is_ban(
            StatusCode::UNAUTHORIZED,
            true,
            br#"{"message":"401: Unauthorized","code":0}"#
        ));
    }
}
