//! What the process tells its operator: log lines (text, or JSON with
//! `log_format = "json"`, see [`json`]), OTLP trace export ([`otlp`]) and
//! the W3C trace context it receives and hands on ([`propagation`]).
//! `weft serve` calls [`init`] once, before the server starts.

pub mod json;
pub mod otlp;
pub mod propagation;

pub mod metrics;

use anyhow::Context;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Config, LogFormat};

/// Keeps telemetry alive for the life of the process; dropping it flushes
/// what is buffered.
#[must_use = "dropping the guard stops telemetry"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Sends the spans batched so far now (exports otherwise leave every
    /// few seconds); a no-op without an exporter.
    pub fn flush(&self) {
        if let Some(provider) = &self.provider
            && let Err(err) = provider.force_flush()
        {
            tracing::warn!(error = %err, "cannot flush trace export");
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("weft: trace export did not shut down cleanly: {err}");
        }
    }
}

/// Installs the global tracing subscriber the configuration describes:
/// the log filter and format on stderr, and, with an OTLP endpoint, the
/// span exporter. Must run inside the Tokio runtime.
pub fn init(config: &Config) -> anyhow::Result<TelemetryGuard> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid log filter")?;
    let Some(endpoint) = &config.telemetry.otlp_endpoint else {
        // No export: the log filter is global, as it always was, so spans
        // and events it refuses cost nothing at all.
        let logs = log_layer(config.log_format);
        tracing_subscriber::registry().with(filter).with(logs).try_init().context("cannot install tracing")?;
        return Ok(TelemetryGuard { provider: None });
    };
    let (provider, tracer) = otlp::start(endpoint)?;
    // Spans are exported whatever the log filter says: the run writer's
    // `batch` and `run` spans are debug-level, so they would otherwise
    // vanish from traces at the default `info`.
    let spans = Targets::new().with_default(LevelFilter::INFO).with_target("weft_server", LevelFilter::DEBUG);
    let traces = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans);
    let logs = log_layer(config.log_format).with_filter(filter);
    tracing_subscriber::registry().with(logs).with(traces).try_init().context("cannot install tracing")?;
    Ok(TelemetryGuard { provider: Some(provider) })
}

/// The stderr log layer in `format`.
fn log_layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(json::JsonLines)
            .with_writer(std::io::stderr)
            .boxed(),
    }
}
