//! What the process tells its operator: log lines (and, with #22, their
//! format, OTLP trace export and Prometheus metrics). `weft serve` calls
//! [`init`] once, before the server starts.

pub mod metrics;

use anyhow::Context;

use crate::config::Config;

/// Keeps telemetry alive for the life of the process; dropping it flushes
/// what is buffered.
#[must_use = "dropping the guard stops telemetry"]
pub struct TelemetryGuard {
    _private: (),
}

/// Installs the global tracing subscriber the configuration describes.
pub fn init(config: &Config) -> anyhow::Result<TelemetryGuard> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid log filter")?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    Ok(TelemetryGuard { _private: () })
}
