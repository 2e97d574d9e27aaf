//! Logging and metrics. Logs go to stderr, as text or JSON lines; every line passes through a
//! writer that redacts anything shaped like a Latchkey key (`lk_…`), as a last line of defence
//! behind types that never print secrets (security.md B3, K18). Metrics are a
//! `prometheus-client` registry held in the application state (no global recorder).

use std::io::Write;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::settings::{LogFormat, LogSettings};

/// Installs the global tracing subscriber (once per process; later calls do nothing).
pub fn init_logging(log: &LogSettings) {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(RedactingStderr);
    let _ = match log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    std::panic::set_hook(Box::new(|info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(location, "panic: {}", redact_keys(&payload));
    }));
}

/// Replaces every `lk_` key-shaped token with `lk_[REDACTED]`.
pub fn redact_keys(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("lk_") {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 3..];
        let token_len = tail
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if token_len >= 16 {
            out.push_str("lk_[REDACTED]");
        } else {
            out.push_str(&rest[i..i + 3 + token_len]);
        }
        rest = &tail[token_len..];
    }
    out.push_str(rest);
    out
}

/// A `MakeWriter` for stderr that redacts key-shaped tokens.
#[derive(Clone, Copy)]
pub struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter
    }
}

/// See [`RedactingStderr`].
pub struct RedactingWriter;

impl Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::stderr().write_all(redact_keys(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Labels of an HTTP request metric: low-cardinality by construction (the matched route
/// template, never the raw path).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// `api` or `ops`.
    pub listener: &'static str,
    /// The route template, or `unmatched`.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// Latchkey's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests served.
    pub requests: Family<HttpLabels, Counter>,
    /// Request duration in seconds.
    pub duration: Family<HttpLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with Latchkey's metrics registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("latchkey");
        let requests = Family::<HttpLabels, Counter>::default();
        let duration = Family::<HttpLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0005, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register("http_requests", "HTTP requests served", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request duration",
            duration.clone(),
        );
        let build = Family::<Vec<(String, String)>, Gauge>::default();
        build
            .get_or_create(&vec![(
                "version".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            )])
            .set(1);
        registry.register("build_info", "Build information", build);
        Self {
            registry,
            requests,
            duration,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::redact_keys;

    #[test]
    fn redacts_key_shaped_tokens_only() {
        let key =
            "lk_key_0190a1b2c3d4e5f60718293a4b5c6d7e_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg";
        assert_eq!(
            redact_keys(&format!("got {key} here")),
            "got lk_[REDACTED] here"
        );
        assert_eq!(redact_keys(&format!("{key}{key}")), "lk_[REDACTED]");
        assert_eq!(
            redact_keys("block_lk_x and lk_ alone"),
            "block_lk_x and lk_ alone"
        );
        assert_eq!(
            redact_keys("é lk_0123456789abcdefXYZ é"),
            "é lk_[REDACTED] é"
        );
    }
}
