//! Telemetry for every ordo process: `tracing` with JSON (or pretty) logs, OpenTelemetry spans
//! exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, and W3C trace context
//! carried in NATS message headers so one trace covers HTTP → outbox → event → consumer.
//!
//! ```no_run
//! let cfg = ordo_config::ServiceConfig::defaults("order", 8080);
//! let _guard = ordo_telemetry::init("order", &cfg.telemetry).unwrap();
//! tracing::info!("ready");
//! ```

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use ordo_config::TelemetryConfig;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, layer::SubscriberExt, util::SubscriberInitExt};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    #[error("a global subscriber is already set: {0}")]
    AlreadySet(String),
}

/// Flushes and shuts the tracer provider down when dropped.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.force_flush();
        let _ = self.provider.shutdown();
    }
}

/// A tracer provider: with an OTLP/HTTP batch exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
/// otherwise without exporter (spans still get ids, so trace context still propagates).
pub fn tracer_provider(service: &str) -> Result<SdkTracerProvider, TelemetryError> {
    match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(base) if !base.is_empty() => {
            tracer_provider_exporting_to(service, Some(format!("{}/v1/traces", base.trim_end_matches('/'))))
        }
        _ => tracer_provider_exporting_to(service, None),
    }
}

/// A tracer provider exporting OTLP/HTTP (protobuf) to the full `traces_url`, or not at all.
pub fn tracer_provider_exporting_to(
    service: &str,
    traces_url: Option<String>,
) -> Result<SdkTracerProvider, TelemetryError> {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(format!("ordo-{service}"))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    if let Some(url) = traces_url {
        use opentelemetry_otlp::WithExportConfig as _;
        // The blocking reqwest client runs in the SDK's own batch thread (no tokio reactor there).
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(url)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder.with_batch_exporter(exporter);
    }
    Ok(builder.build())
}

/// Install the global subscriber: env filter (`RUST_LOG` or the configured filter), JSON or
/// pretty logs, and the OpenTelemetry layer.
pub fn init(service: &str, cfg: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let provider = tracer_provider(service)?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.filter));
    let fmt = if cfg.log_format == "pretty" {
        tracing_subscriber::fmt::layer().with_target(false).compact().boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .flatten_event(true)
            .boxed()
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("ordo"));
    Registry::default()
        .with(filter)
        .with(secrets_cap())
        .with(fmt)
        .with(otel)
        .try_init()
        .map_err(|e| TelemetryError::AlreadySet(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// A filter that holds back, whatever the configured filter or `RUST_LOG` says, the few
/// third-party events that would print message contents or credentials: `async_nats::connection`
/// traces every protocol operation with its payload (an RPC reply carries download links) and
/// CONNECT with the credentials, so it is held to `debug`. Stacked after the configured filter
/// (both must let an event through), it only ever lowers a level.
pub fn secrets_cap() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_default(tracing::level_filters::LevelFilter::TRACE)
        .with_target("async_nats::connection", tracing::level_filters::LevelFilter::DEBUG)
}

struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsHeadersRef<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsHeadersRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_ref()).collect()
    }
}

struct Pairs<'a>(&'a mut Vec<(String, String)>);

impl Injector for Pairs<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// The W3C trace-context headers (`traceparent`, `tracestate`) of `span`, as pairs to store
/// (the outbox keeps them until the relay publishes). Empty when the span is not traced.
pub fn trace_headers(span: &Span) -> Vec<(String, String)> {
    let mut out = Vec::new();
    TraceContextPropagator::new().inject_context(&span.context(), &mut Pairs(&mut out));
    out
}

/// Inject `span`'s trace context into NATS headers.
pub fn inject_nats(span: &Span, headers: &mut async_nats::HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut NatsHeaders(headers));
}

/// Make the trace context found in NATS headers the parent of `span`.
pub fn set_parent_from_nats(span: &Span, headers: Option<&async_nats::HeaderMap>) {
    if let Some(h) = headers {
        let cx = TraceContextPropagator::new().extract(&NatsHeadersRef(h));
        let _ = span.set_parent(cx);
    }
}

struct HttpHeaders<'a>(&'a [(String, String)]);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Make an incoming HTTP request's `traceparent` the parent of `span`.
pub fn set_parent_from_pairs(span: &Span, headers: &[(String, String)]) {
    if headers.is_empty() {
        return;
    }
    let cx = TraceContextPropagator::new().extract(&HttpHeaders(headers));
    let _ = span.set_parent(cx);
}

/// The trace id of `span` as 32 hex digits, when traced (for log correlation).
pub fn trace_id(span: &Span) -> Option<String> {
    use opentelemetry::trace::TraceContextExt as _;
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}
