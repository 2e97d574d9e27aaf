//! Logging and traces. Logs go to stderr, as text or JSON lines, written by one thread
//! ([`LogSink`]) that redacts anything shaped like a Latchkey key (`lk_…`), as a last line of
//! defence behind types that never print secrets (security.md B3, K18). Spans are exported over OTLP
//! when the standard `OTEL_*` variables ask for it (see [`otlp_enabled`]): spans only, never
//! log events, so no message text reaches a trace; span fields are the stable, low-cardinality
//! ones each span declares. W3C trace context comes in on requests ([`parent_from`]) and goes
//! out on Discord calls ([`discord_propagator`]).

use std::io::Write;
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, LogSettings};

/// The process's span exporter, kept to flush it at shutdown.
static TRACES: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether OTLP export of `signal` (`TRACES` or `METRICS`) is asked for: not when
/// `OTEL_SDK_DISABLED=true` or `OTEL_<signal>_EXPORTER` names anything but `otlp`; otherwise when
/// an endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_<signal>_ENDPOINT`)
/// or `OTEL_<signal>_EXPORTER=otlp` says so explicitly (then the default endpoint is used).
pub fn otlp_enabled(signal: &str) -> bool {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return false;
    }
    match var(&format!("OTEL_{signal}_EXPORTER")) {
        Some(v) if v.trim().eq_ignore_ascii_case("otlp") => true,
        Some(_) => false,
        None => {
            var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || var(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some()
        }
    }
}

/// The resource every exported span and metric carries: `service.name` from
/// `OTEL_SERVICE_NAME` (default `latchkey`), `OTEL_RESOURCE_ATTRIBUTES`, and the version.
pub fn resource() -> opentelemetry_sdk::Resource {
    let builder = opentelemetry_sdk::Resource::builder().with_attribute(
        opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
    );
    if std::env::var_os("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder.with_service_name("latchkey").build()
    }
}

fn span_exporter() -> Option<SdkTracerProvider> {
    if !otlp_enabled("TRACES") {
        return None;
    }
    // The protocol (`grpc` or `http/protobuf`), endpoint, headers and timeout come from the
    // standard variables.
    let exporter = match opentelemetry_otlp::SpanExporter::builder().build() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("latchkey: OTLP trace export disabled: {e}");
            return None;
        }
    };
    let batch =
        opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
            exporter,
            opentelemetry_sdk::runtime::Tokio,
        )
        .build();
    Some(
        SdkTracerProvider::builder()
            .with_span_processor(batch)
            .with_resource(resource())
            .build(),
    )
}

/// Installs the global tracing subscriber (once per process; later calls do nothing), with the
/// OTLP span exporter when configured. Call it inside the Tokio runtime: the exporter runs on it.
pub fn init_logging(log: &LogSettings) {
    let filter = EnvFilter::try_new(&log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    if LOG_THREAD.get().is_some() {
        return;
    }
    let sink = match LogSink::spawn(std::io::stderr()) {
        Ok(sink) => LOG_THREAD.get_or_init(|| sink).clone(),
        Err(e) => {
            eprintln!("latchkey: cannot start the log thread: {e}");
            return;
        }
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(sink);
    let fmt = match log.format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt.fmt_fields(TextFields).with_filter(filter).boxed(),
    };
    let traces = if TRACES.get().is_none() {
        span_exporter()
    } else {
        None
    };
    let otel = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("latchkey"))
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            // Spans at INFO and above, never events (log messages stay in the logs).
            // Store calls only inside a request's trace: the background loops' polling would
            // otherwise start a trace every second.
            .with_filter(tracing_subscriber::filter::dynamic_filter_fn(|meta, cx| {
                meta.is_span()
                    && *meta.level() <= tracing::Level::INFO
                    && (!meta.name().starts_with("store.") || cx.lookup_current().is_some())
            }))
    });
    if tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok()
        && let Some(provider) = traces
    {
        let _ = TRACES.set(provider);
    }
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
        flush_logs();
    }));
}

/// The text log's fields: tracing-subscriber's own format, without the `otel.*` fields the
/// request span carries for the trace exporter (its name repeats the method and the route, its
/// kind is always `server`, its status the status code). Formatting a span's fields happens
/// for every request at `info`: about 4 % of the warm fetch's samples (docs/benchmarks.md).
struct TextFields;

/// Whether a field is left out of the text log.
fn for_traces_only(field: &tracing::field::Field) -> bool {
    field.name().starts_with("otel.")
}

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for TextFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut v = LogFields(tracing_subscriber::fmt::format::DefaultVisitor::new(
            writer, true,
        ));
        fields.record(&mut v);
        tracing_subscriber::field::VisitOutput::finish(v.0)
    }

    fn add_fields(
        &self,
        current: &'w mut tracing_subscriber::fmt::FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> std::fmt::Result {
        let mut kept = Kept(false);
        fields.record(&mut kept);
        if !kept.0 {
            return Ok(());
        }
        if !current.fields.is_empty() {
            current.fields.push(' ');
        }
        self.format_fields(current.as_writer(), fields)
    }
}

/// tracing-subscriber's field visitor, skipping [`for_traces_only`] fields.
struct LogFields<'w>(tracing_subscriber::fmt::format::DefaultVisitor<'w>);

impl tracing::field::Visit for LogFields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if !for_traces_only(field) {
            self.0.record_str(field, value);
        }
    }

    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        if !for_traces_only(field) {
            self.0.record_error(field, value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if !for_traces_only(field) {
            self.0.record_debug(field, value);
        }
    }
}

/// Whether a record holds any field the text log keeps.
struct Kept(bool);

impl tracing::field::Visit for Kept {
    fn record_debug(&mut self, field: &tracing::field::Field, _: &dyn std::fmt::Debug) {
        self.0 |= !for_traces_only(field);
    }
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

/// Sends the spans still queued (graceful shutdown); bounded by the exporter's timeout.
pub async fn flush_traces() {
    if let Some(provider) = TRACES.get() {
        let provider = provider.clone();
        let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
    }
}

/// The W3C trace context of an incoming request's headers, made the parent of `span` (a
/// malformed or missing `traceparent` starts a new trace).
pub fn parent_from(span: &tracing::Span, headers: &http::HeaderMap) {
    // Most requests carry no trace context: then the span is a root, as it already is.
    if !headers.contains_key("traceparent") {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(cx);
}

/// Renames `span` in the exported trace (a gRPC request, once tonic has recognised its method).
pub fn rename(span: &tracing::Span, name: String) {
    use opentelemetry::trace::TraceContextExt as _;
    span.context().span().update_name(name);
}

/// Adds the current span's W3C trace context to outgoing Discord requests.
pub fn discord_propagator() -> latchkey_discord::transport::Propagator {
    std::sync::Arc::new(|headers: &mut http::HeaderMap| {
        let cx = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
    })
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Lines waiting for the log thread before a logging call waits for room (a few MB of text). A
/// full queue holds the caller up, as a slow stderr would; nothing is dropped.
const LOG_QUEUE: usize = 8_192;

/// How long the log thread lets lines gather while lines keep coming.
const LOG_BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

enum LogLine {
    Line(Vec<u8>),
    /// Everything sent before is written and flushed; then the sender is told.
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The process's log thread, once logging is set up.
static LOG_THREAD: OnceLock<LogSink> = OnceLock::new();

/// A `MakeWriter` whose lines go to one thread that redacts key-shaped tokens and writes them
/// to its output (stderr) in batches: a request thread formats its line and hands it over, and
/// the system call (one for many lines under load, instead of one a line — and one wake-up of
/// whatever reads the pipe) happens elsewhere. Lines keep their order; none is dropped.
#[derive(Clone)]
pub struct LogSink {
    tx: std::sync::mpsc::SyncSender<LogLine>,
}

impl LogSink {
    /// Starts the thread writing to `out`.
    pub fn spawn(out: impl Write + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<LogLine>(LOG_QUEUE);
        std::thread::Builder::new()
            .name("latchkey-log".to_owned())
            .spawn(move || {
                let mut out = std::io::BufWriter::with_capacity(64 * 1024, out);
                let write = |line: LogLine, out: &mut std::io::BufWriter<_>| match line {
                    LogLine::Line(bytes) => {
                        let text = String::from_utf8_lossy(&bytes);
                        let _ = out.write_all(redact_keys(&text).as_bytes());
                    }
                    LogLine::Flush(done) => {
                        let _ = out.flush();
                        let _ = done.send(());
                    }
                };
                // Idle, the thread waits for a line. Busy, it takes what queued every
                // LOG_BATCH_WAIT instead: waking it for each line (a futex call, a switch of
                // threads) cost the request path more than the write it saved.
                while let Ok(first) = rx.recv() {
                    write(first, &mut out);
                    loop {
                        let mut taken = 0;
                        while let Ok(line) = rx.try_recv() {
                            write(line, &mut out);
                            taken += 1;
                        }
                        let _ = out.flush();
                        if taken == 0 {
                            break;
                        }
                        std::thread::sleep(LOG_BATCH_WAIT);
                    }
                }
            })?;
        Ok(Self { tx })
    }

    /// Waits (up to `limit`) until every line sent before is written.
    pub fn flush(&self, limit: std::time::Duration) {
        let (done, written) = std::sync::mpsc::sync_channel(1);
        if self.tx.send(LogLine::Flush(done)).is_ok() {
            let _ = written.recv_timeout(limit);
        }
    }
}

/// Waits (up to a second) until the log lines emitted so far are written: before the process
/// exits, and after a panic's line.
pub fn flush_logs() {
    if let Some(sink) = LOG_THREAD.get() {
        sink.flush(std::time::Duration::from_secs(1));
    }
}

impl<'a> MakeWriter<'a> for LogSink {
    type Writer = LogLineWriter;
    fn make_writer(&'a self) -> Self::Writer {
        LogLineWriter {
            line: Vec::new(),
            tx: self.tx.clone(),
        }
    }
}

/// One event's text, handed to the log thread whole when the event is written (so a key is
/// never split between two pieces the redaction sees apart).
pub struct LogLineWriter {
    line: Vec<u8>,
    tx: std::sync::mpsc::SyncSender<LogLine>,
}

impl Write for LogLineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLineWriter {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.line);
        if let Err(std::sync::mpsc::SendError(LogLine::Line(line))) =
            self.tx.send(LogLine::Line(line))
        {
            // The log thread is gone: straight to stderr.
            let text = String::from_utf8_lossy(&line);
            let _ = std::io::stderr().write_all(redact_keys(&text).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LogSink, redact_keys};
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// What the log thread wrote, and how many writes reached it.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
            c.0.extend_from_slice(buf);
            c.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_text_log_leaves_the_trace_only_fields_out() {
        let out = Captured::default();
        let sink = LogSink::spawn(out.clone()).unwrap_or_else(|e| panic!("{e}"));
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .fmt_fields(super::TextFields)
            .with_writer(sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "request",
                otel.name = "POST /v1/tokens",
                otel.kind = "server",
                otel.status_code = tracing::field::Empty,
                http.route = "/v1/tokens",
                http.response.status_code = tracing::field::Empty,
                request_id = "req_1",
            );
            span.record("http.response.status_code", 503);
            span.record("otel.status_code", "ERROR");
            span.in_scope(|| tracing::info!(latency_ms = 1.5, "served"));
        });
        sink.flush(std::time::Duration::from_secs(10));
        let text = String::from_utf8(out.0.lock().unwrap_or_else(|p| p.into_inner()).0.clone())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            text.contains(
                r#"request{http.route="/v1/tokens" request_id="req_1" http.response.status_code=503}: "#
            ),
            "{text}"
        );
        assert!(text.contains("served latency_ms=1.5"), "{text}");
        assert!(!text.contains("otel"), "{text}");
    }

    #[test]
    fn the_log_thread_writes_every_line_in_order_redacted_and_in_batches() {
        let out = Captured::default();
        let sink = LogSink::spawn(out.clone()).unwrap_or_else(|e| panic!("{e}"));
        let key = "lk_key_0190a1b2c3d4e5f60718293a4b5c6d7e_AbCdEfGhIjKlMnOpQrStUvWxYz0123";
        // The output is held up while the lines are logged (a slow stderr): they queue.
        let slow = out.0.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..1000 {
            let mut w = sink.make_writer();
            // One event written in two pieces with the key split between them: the line
            // goes over whole, so the redaction still sees the key.
            let _ = write!(w, "line {i} {}", &key[..20]);
            let _ = writeln!(w, "{}", &key[20..]);
        }
        drop(slow);
        sink.flush(std::time::Duration::from_secs(10));
        let (bytes, writes) = out.0.lock().map(|c| c.clone()).unwrap_or_default();
        let text = String::from_utf8(bytes).unwrap_or_default();
        let expected: String = (0..1000)
            .map(|i| format!("line {i} lk_[REDACTED]\n"))
            .collect();
        assert_eq!(text, expected);
        assert!(!text.contains("AbCdEf"));
        // What queued behind the slow write went out together: at most the write that was
        // held up, then one more.
        assert!(writes <= 2, "{writes} writes for 1,000 lines");
    }

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
