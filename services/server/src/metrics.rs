//! Metrics: one OpenTelemetry meter provider per application, read two ways — exported over
//! OTLP when the `OTEL_*` variables ask for it (see [`crate::telemetry::otlp_enabled`]), and
//! rendered in the Prometheus text format on the ops listener's `/metrics`. Instrument names
//! follow OpenTelemetry (`latchkey.http.requests`); `/metrics` shows them the Prometheus way
//! (`latchkey_http_requests_total`). Every attribute comes from a small fixed vocabulary or a
//! route template, never from the raw path or a secret.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use latchkey_core::sharded::Sharded;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, Pipeline, SdkMeterProvider, Temporality,
};

/// Upper bounds (seconds) of the request-duration histogram: 0.5 ms to about 16 s.
const DURATION_BOUNDS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    4.096, 8.192, 16.384,
];

/// Labels of one served request.
pub struct HttpLabels {
    /// `api` or `ops`.
    pub listener: &'static str,
    /// The route template (or the gRPC method), or `unmatched`.
    pub route: String,
    /// The method (`other` for one outside HTTP's usual set).
    pub method: &'static str,
    /// The status code.
    pub status: u16,
}

/// The labels of [`HttpLabels`], as the key of a request count.
type RequestKey = (&'static str, String, &'static str, u16);

/// Requests served, by their labels: counted here and read by `latchkey.http.requests`'s
/// callback at each collection. A counter's `add` (its attributes hashed and looked up under
/// the SDK's lock, beside the histogram's own) was half of the request metrics' 2.7 % of the
/// warm token fetch's samples; a look-up under a read lock and an atomic add cost a fraction.
type RequestCounts = Arc<RwLock<HashMap<RequestKey, Served>>>;

/// Durations a shard holds before they go into the histogram.
const STAGED: usize = 256;

/// One label set's requests: their count, and their durations for the histogram.
///
/// The SDK's histogram keeps a label set's buckets behind one lock, which every request took:
/// under the warm token fetch the two runtime workers blocked on it about 80 times a second,
/// and one holding it while its core was taken held up every request. The durations wait in
/// shards instead ([`Sharded`]), a few hundred at a time, and reach the histogram before every
/// collection (`latchkey.http.requests`'s callback runs first).
struct Served {
    count: AtomicU64,
    duration: Histogram<f64>,
    labels: [KeyValue; 4],
    staged: Sharded<Vec<f64>>,
}

impl Served {
    fn new(duration: &Histogram<f64>, labels: [KeyValue; 4]) -> Self {
        Self {
            count: AtomicU64::new(0),
            duration: duration.clone(),
            labels,
            staged: Sharded::per_core(Vec::new),
        }
    }

    fn record(&self, staged: &mut Vec<f64>) {
        for s in staged.drain(..) {
            self.duration.record(s, &self.labels);
        }
    }

    /// Counts one request that took `secs`.
    fn served(&self, secs: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        match self.staged.try_any() {
            Some(mut staged) => {
                staged.push(secs);
                if staged.len() >= STAGED {
                    self.record(&mut staged);
                }
            }
            // Every shard held (by other requests, or by a collection): straight in.
            None => self.duration.record(secs, &self.labels),
        }
    }

    /// Puts every staged duration into the histogram.
    fn flush(&self) {
        for i in 0..self.staged.len() {
            self.record(&mut self.staged.lock(i));
        }
    }
}

/// The application's meter provider and the instruments the server records itself.
pub struct Metrics {
    provider: SdkMeterProvider,
    reader: Arc<ManualReader>,
    meter: Meter,
    requests: RequestCounts,
    duration: Histogram<f64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A meter provider read by `/metrics`, and by the OTLP exporter when configured.
    pub fn new() -> Self {
        let reader = Arc::new(ManualReader::builder().build());
        let mut builder = SdkMeterProvider::builder()
            .with_resource(crate::telemetry::resource())
            .with_reader(Shared(reader.clone()));
        if crate::telemetry::otlp_enabled("METRICS") {
            match opentelemetry_otlp::MetricExporter::builder().build() {
                Ok(exporter) => {
                    builder = builder.with_reader(
                        opentelemetry_sdk::metrics::periodic_reader_with_async_runtime::PeriodicReader::builder(
                            exporter,
                            opentelemetry_sdk::runtime::Tokio,
                        )
                        .build(),
                    );
                }
                Err(e) => tracing::error!(error = %e, "OTLP metric export disabled"),
            }
        }
        let provider = builder.build();
        let meter = provider.meter("latchkey");
        let requests = RequestCounts::default();
        let counted = Arc::clone(&requests);
        meter
            .u64_observable_counter("latchkey.http.requests")
            .with_description("HTTP and gRPC requests served")
            .with_callback(move |o| {
                let counts = counted.read().unwrap_or_else(PoisonError::into_inner);
                for served in counts.values() {
                    // Before the histogram is read, in this collection.
                    served.flush();
                    o.observe(served.count.load(Ordering::Relaxed), &served.labels);
                }
            })
            .build();
        let duration = meter
            .f64_histogram("latchkey.http.request.duration")
            .with_unit("s")
            .with_description("HTTP and gRPC request duration")
            .with_boundaries(DURATION_BOUNDS.to_vec())
            .build();
        meter
            .u64_observable_gauge("latchkey.build.info")
            .with_description("Build information")
            .with_callback(|o| o.observe(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]))
            .build();
        Self {
            provider,
            reader,
            meter,
            requests,
            duration,
        }
    }

    /// The meter the services' instruments are made from.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// Records one served request.
    pub fn request(&self, l: HttpLabels, elapsed: Duration) {
        let key = (l.listener, l.route, l.method, l.status);
        let secs = elapsed.as_secs_f64();
        if let Some(served) = self
            .requests
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            served.served(secs);
            return;
        }
        // The first request with these labels.
        let (listener, route, method, status) = key;
        let labels = attributes(listener, route.clone(), method, status);
        self.requests
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((listener, route, method, status))
            .or_insert_with(|| Served::new(&self.duration, labels))
            .served(secs);
    }

    /// Observes the process's live state: long-poll waiters, the Discord breaker and the
    /// rate-limit waits.
    pub fn observe(
        &self,
        waiters: Arc<latchkey_authorization::Waiters>,
        discord: latchkey_discord::DiscordClient,
    ) {
        self.meter
            .u64_observable_gauge("latchkey.longpoll.waiters")
            .with_description("Long-polls holding for a status change")
            .with_callback(move |o| o.observe(waiters.held() as u64, &[]))
            .build();
        let breaker = discord.clone();
        self.meter
            .u64_observable_gauge("latchkey.discord.breaker.state")
            .with_description("Discord invalid-request breaker: 0 closed, 1 half-open, 2 open")
            .with_callback(move |o| {
                let state = match breaker.breaker().state() {
                    latchkey_discord::breaker::BreakerState::Closed => 0,
                    latchkey_discord::breaker::BreakerState::HalfOpen => 1,
                    latchkey_discord::breaker::BreakerState::Open => 2,
                };
                o.observe(state, &[]);
            })
            .build();
        let waits = discord.clone();
        self.meter
            .u64_observable_counter("latchkey.discord.rate_limit.waits")
            .with_description("Waits before Discord calls because of rate limits")
            .with_callback(move |o| o.observe(waits.rate_limit_waits().total().0, &[]))
            .build();
        self.meter
            .f64_observable_counter("latchkey.discord.rate_limit.wait")
            .with_unit("s")
            .with_description("Time spent waiting for Discord's rate limits")
            .with_callback(move |o| {
                o.observe(discord.rate_limit_waits().total().1.as_secs_f64(), &[]);
            })
            .build();
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut rm = ResourceMetrics::default();
        if self.reader.collect(&mut rm).is_err() {
            return String::new();
        }
        let mut out = String::new();
        for scope in rm.scope_metrics() {
            for m in scope.metrics() {
                match m.data() {
                    AggregatedMetrics::F64(d) => {
                        family(&mut out, m.name(), m.unit(), m.description(), d)
                    }
                    AggregatedMetrics::U64(d) => {
                        family(&mut out, m.name(), m.unit(), m.description(), d)
                    }
                    AggregatedMetrics::I64(d) => {
                        family(&mut out, m.name(), m.unit(), m.description(), d)
                    }
                }
            }
        }
        out
    }

    /// Exports what is pending and stops the exporter (graceful shutdown).
    pub async fn shutdown(&self) {
        let provider = self.provider.clone();
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

/// A request's attributes.
fn attributes(
    listener: &'static str,
    route: String,
    method: &'static str,
    status: u16,
) -> [KeyValue; 4] {
    [
        KeyValue::new("listener", listener),
        KeyValue::new("route", route),
        KeyValue::new("method", method),
        KeyValue::new("status", i64::from(status)),
    ]
}

/// A number as Prometheus prints it.
trait Number: Copy {
    fn text(self) -> String;
}

impl Number for u64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Number for i64 {
    fn text(self) -> String {
        self.to_string()
    }
}

impl Number for f64 {
    fn text(self) -> String {
        if self.is_infinite() {
            if self > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
        } else {
            self.to_string()
        }
    }
}

/// One metric family: `# HELP`, `# TYPE` and its samples.
fn family<T: Number>(out: &mut String, name: &str, unit: &str, help: &str, data: &MetricData<T>) {
    let mut base = name.replace(['.', '-'], "_");
    if unit == "s" {
        base.push_str("_seconds");
    }
    let kind = match data {
        MetricData::Sum(s) if s.is_monotonic() => {
            base.push_str("_total");
            "counter"
        }
        MetricData::Sum(_) | MetricData::Gauge(_) => "gauge",
        MetricData::Histogram(_) => "histogram",
        MetricData::ExponentialHistogram(_) => return,
    };
    let sample = base.as_str();
    let _ = writeln!(out, "# HELP {base} {help}");
    let _ = writeln!(out, "# TYPE {base} {kind}");
    match data {
        MetricData::Sum(s) => {
            for p in s.data_points() {
                sample_line(out, sample, &labels(p.attributes(), None), p.value().text());
            }
        }
        MetricData::Gauge(g) => {
            for p in g.data_points() {
                sample_line(out, sample, &labels(p.attributes(), None), p.value().text());
            }
        }
        MetricData::Histogram(h) => {
            for p in h.data_points() {
                let mut cumulative = 0;
                let bounds: Vec<String> = p
                    .bounds()
                    .map(Number::text)
                    .chain(["+Inf".to_owned()])
                    .collect();
                for (bound, count) in bounds.iter().zip(p.bucket_counts()) {
                    cumulative += count;
                    let le = labels(p.attributes(), Some(bound));
                    sample_line(out, &format!("{base}_bucket"), &le, cumulative.to_string());
                }
                let plain = labels(p.attributes(), None);
                sample_line(out, &format!("{base}_sum"), &plain, p.sum().text());
                sample_line(out, &format!("{base}_count"), &plain, p.count().to_string());
            }
        }
        MetricData::ExponentialHistogram(_) => {}
    }
}

fn sample_line(out: &mut String, name: &str, labels: &str, value: String) {
    let _ = writeln!(out, "{name}{labels} {value}");
}

/// `{k="v",…}` sorted by name (with `le` last for buckets), or nothing without labels.
fn labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>, le: Option<&str>) -> String {
    let mut parts: Vec<String> = attrs
        .map(|kv| {
            format!(
                "{}=\"{}\"",
                kv.key.as_str().replace(['.', '-'], "_"),
                escape(&kv.value.as_str())
            )
        })
        .collect();
    // Sorted, so every scrape prints a series the same way.
    parts.sort();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// Lets the provider and `/metrics` share one manual reader.
#[derive(Debug)]
struct Shared(Arc<ManualReader>);

impl MetricReader for Shared {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges_the_prometheus_way() {
        let m = Metrics::new();
        m.request(
            HttpLabels {
                listener: "api",
                route: "/v1/health".to_owned(),
                method: "GET",
                status: 200,
            },
            Duration::from_millis(3),
        );
        let text = m.render();
        assert!(
            text.contains("# TYPE latchkey_http_requests_total counter"),
            "{text}"
        );
        assert!(!text.contains(r#"status="503""#), "{text}");
        for status in [200, 503] {
            m.request(
                HttpLabels {
                    listener: "api",
                    route: "/v1/health".to_owned(),
                    method: "GET",
                    status,
                },
                Duration::from_millis(3),
            );
        }
        let later = m.render();
        assert!(
            later.contains(r#"latchkey_http_requests_total{listener="api",method="GET",route="/v1/health",status="200"} 2"#),
            "{later}"
        );
        assert!(
            later.contains(r#"latchkey_http_requests_total{listener="api",method="GET",route="/v1/health",status="503"} 1"#),
            "{later}"
        );
        assert!(
            text.contains(r#"latchkey_http_requests_total{listener="api",method="GET",route="/v1/health",status="200"} 1"#),
            "{text}"
        );
        assert!(text.contains("# TYPE latchkey_http_request_duration_seconds histogram"));
        assert!(text.contains(r#"latchkey_http_request_duration_seconds_bucket{listener="api",method="GET",route="/v1/health",status="200",le="0.002"} 0"#), "{text}");
        assert!(text.contains(r#"le="0.004"} 1"#));
        assert!(text.contains(r#"le="+Inf"} 1"#));
        assert!(text.contains(r#"latchkey_http_request_duration_seconds_count{listener="api",method="GET",route="/v1/health",status="200"} 1"#));
        assert!(text.contains(r#"latchkey_build_info{version=""#));
    }

    /// Durations staged in shards (more than a shard holds, from several threads, and one
    /// after a collection) are all in the histogram when it is read.
    #[test]
    fn every_duration_reaches_the_histogram_by_the_next_collection() {
        let m = Metrics::new();
        let health = || HttpLabels {
            listener: "api",
            route: "/v1/health".to_owned(),
            method: "GET",
            status: 200,
        };
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1_000 {
                        m.request(health(), Duration::from_micros(250));
                    }
                });
            }
        });
        let series = r#"{listener="api",method="GET",route="/v1/health",status="200"}"#;
        let value = |text: &str, name: &str| -> f64 {
            let prefix = format!("{name}{series} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let text = m.render();
        assert_eq!(
            value(&text, "latchkey_http_request_duration_seconds_count"),
            4_000.0
        );
        assert_eq!(value(&text, "latchkey_http_requests_total"), 4_000.0);
        assert!((value(&text, "latchkey_http_request_duration_seconds_sum") - 1.0).abs() < 1e-9);
        assert!(text.contains(&format!(
            "latchkey_http_request_duration_seconds_bucket{}",
            series.replace('}', r#",le="0.0005"} 4000"#)
        )));
        m.request(health(), Duration::from_millis(3));
        let later = m.render();
        assert_eq!(
            value(&later, "latchkey_http_request_duration_seconds_count"),
            4_001.0
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
