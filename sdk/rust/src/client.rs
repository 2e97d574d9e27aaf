//! The HTTP client: configuration, authentication, error bodies and retries.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error, parse_name};

/// The environment variable holding the API key (`lk_…`).
pub const ENV_API_KEY: &str = "LATCHKEY_API_KEY";
/// The environment variable holding Latchkey's base URL (default `http://127.0.0.1:8080`).
pub const ENV_BASE_URL: &str = "LATCHKEY_BASE_URL";
/// The base URL when none is configured: `make run`'s server.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

/// A Latchkey client. Cheap to clone (clones share connections); one per key.
///
/// Which calls work depends on the key's role: an **app** key for [`Client::auth`] and
/// [`Tools::authorize`](crate::Tools::authorize)/[`grant`](crate::Tools::grant), an **admin**
/// key for [`Tools::register`](crate::Tools::register), a **tool** key for
/// [`Client::tool_context`].
///
/// ```no_run
/// # async fn f() -> Result<(), latchkey_sdk::Error> {
/// // LATCHKEY_API_KEY=lk_… and, optionally, LATCHKEY_BASE_URL=https://latchkey.example.com
/// let client = latchkey_sdk::Client::from_env()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) base_url: String,
    key: String,
    http: reqwest::Client,
    timeout: Duration,
    retry: Retry,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .finish_non_exhaustive()
    }
}

/// How failed requests are retried: only when no answer came (transport errors) or Latchkey
/// answered 5xx, never on a 4xx (the request itself is wrong, or the user must act).
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Retries after the first attempt (default 2).
    pub max_retries: u32,
    /// The first back-off (default 250 ms); doubled on each retry, with up to 50 % jitter.
    pub base_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_retries: 2,
            base_delay: Duration::from_millis(250),
        }
    }
}

impl Retry {
    fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay.saturating_mul(1 << attempt.min(16));
        let jitter = rand::random::<f64>() * 0.5;
        base.mul_f64(1.0 + jitter)
    }
}

/// Builds a [`Client`].
///
/// ```no_run
/// # fn f() -> Result<(), latchkey_sdk::Error> {
/// use std::time::Duration;
/// let client = latchkey_sdk::Client::builder()
///     .api_key("lk_key_…")
///     .base_url("https://latchkey.example.com")
///     .timeout(Duration::from_secs(10))
///     .max_retries(3)
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct ClientBuilder {
    key: Option<String>,
    base_url: Option<String>,
    timeout: Option<Duration>,
    retry: Retry,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The API key (`lk_<key id>_<secret>`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Latchkey's base URL, e.g. `https://latchkey.example.com` (default
    /// [`DEFAULT_BASE_URL`]).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The time one request may take (default 30 s); a long-poll adds its `wait` to it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Retries after a transport error or a 5xx (default 2; 0 turns retries off).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.retry.max_retries = n;
        self
    }

    /// The first retry's back-off (default 250 ms).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry.base_delay = delay;
        self
    }

    /// Use this `reqwest` client (proxies, TLS roots, connection pools).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client, or [`Error::Config`] without a key or with a base URL that is not `http(s)`.
    pub fn build(self) -> Result<Client, Error> {
        let key = self
            .key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Error::Config(format!("no API key: set {ENV_API_KEY}")))?;
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::Config("the API key has whitespace in it".to_owned()));
        }
        let base_url = self
            .base_url
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "the base URL must start with http:// or https://: {base_url}"
            )));
        }
        Ok(Client {
            inner: Arc::new(Inner {
                base_url,
                key,
                http: self.http.unwrap_or_default(),
                timeout: self.timeout.unwrap_or(Duration::from_secs(30)),
                retry: self.retry,
            }),
        })
    }
}

/// One request to make (and maybe make again).
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) body: Option<serde_json::Value>,
    pub(crate) headers: Vec<(&'static str, String)>,
    /// Added to the client's timeout (long-polls).
    pub(crate) extra_time: Duration,
    /// Send no key (a tool grant authenticates the call).
    pub(crate) anonymous: bool,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, path: &'a str) -> Self {
        Call {
            method,
            path,
            query: Vec::new(),
            body: None,
            headers: Vec::new(),
            extra_time: Duration::ZERO,
            anonymous: false,
        }
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self, Error> {
        self.body = Some(serde_json::to_value(body).map_err(|e| Error::Config(e.to_string()))?);
        Ok(self)
    }
}

impl Client {
    /// A client from `LATCHKEY_API_KEY` and `LATCHKEY_BASE_URL` (default
    /// [`DEFAULT_BASE_URL`]).
    pub fn from_env() -> Result<Client, Error> {
        let mut b = Client::builder();
        if let Ok(k) = std::env::var(ENV_API_KEY) {
            b = b.api_key(k);
        }
        if let Ok(u) = std::env::var(ENV_BASE_URL) {
            b = b.base_url(u);
        }
        b.build()
    }

    /// A [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The base URL this client talks to.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// Sends `call`, retrying transport errors and 5xx answers; any other non-2xx answer is
    /// an error at once.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<reqwest::Response, Error> {
        let i = &self.inner;
        let mut attempt = 0;
        loop {
            let mut r = i
                .http
                .request(call.method.clone(), format!("{}{}", i.base_url, call.path))
                .timeout(i.timeout + call.extra_time);
            if !call.anonymous {
                r = r.header(reqwest::header::AUTHORIZATION, format!("Bearer {}", i.key));
            }
            if !call.query.is_empty() {
                r = r.query(&call.query);
            }
            for (k, v) in &call.headers {
                r = r.header(*k, v);
            }
            if let Some(b) = &call.body {
                r = r.json(b);
            }
            let retryable = match r.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) if resp.status().is_server_error() && attempt < i.retry.max_retries => {
                    true
                }
                Ok(resp) => return Err(error_of(resp).await),
                Err(e) if attempt < i.retry.max_retries && !e.is_builder() => true,
                Err(e) => return Err(Error::Transport(e)),
            };
            debug_assert!(retryable);
            tokio::time::sleep(i.retry.delay(attempt)).await;
            attempt += 1;
        }
    }

    /// [`Client::send`], then the JSON body as `T`.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: &Call<'_>) -> Result<T, Error> {
        let resp = self.send(call).await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(Error::Transport)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Decode {
            status,
            message: e.to_string(),
        })
    }
}

/// The error an unsuccessful answer stands for.
async fn error_of(resp: reqwest::Response) -> Error {
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Error::Transport(e),
    };
    #[derive(serde::Deserialize)]
    struct Body {
        name: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        request_id: String,
        #[serde(default)]
        authorization_id: Option<String>,
        #[serde(default)]
        url: Option<String>,
    }
    let Ok(b) = serde_json::from_slice::<Body>(&bytes) else {
        return Error::Upstream {
            status: status.as_u16(),
            body: serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            }),
        };
    };
    if status == StatusCode::FORBIDDEN
        && b.name == latchkey_api::ErrorName::AuthorizationRequired.as_str()
        && let (Some(authorization_id), Some(url)) = (b.authorization_id, b.url.clone())
    {
        return Error::AuthorizationRequired {
            authorization_id,
            url,
        };
    }
    Error::Api(ApiError {
        status: status.as_u16(),
        name: parse_name(&b.name),
        raw_name: b.name,
        message: b.message,
        request_id: b.request_id,
    })
}

/// A path segment, percent-encoded.
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_refuses_what_cannot_work() {
        assert!(matches!(Client::builder().build(), Err(Error::Config(_))));
        assert!(matches!(
            Client::builder().api_key("lk_a b").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::builder()
                .api_key("lk_x")
                .base_url("ftp://x")
                .build(),
            Err(Error::Config(_))
        ));
        let c = Client::builder()
            .api_key("lk_secret")
            .base_url("http://h:1/")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://h:1");
        assert!(!format!("{c:?}").contains("lk_secret"));
    }

    #[test]
    fn back_off_doubles_with_bounded_jitter() {
        let r = Retry::default();
        for attempt in 0..4 {
            let d = r.delay(attempt);
            let base = Duration::from_millis(250 * (1 << attempt));
            assert!(d >= base && d <= base.mul_f64(1.5), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("Discord.ListServers"), "Discord.ListServers");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }
}
