//! OTLP/gRPC export of the server's tracing spans, when
//! `[telemetry] otlp_endpoint` is set: a batch exporter (spans leave on
//! its own thread, never on a request's path) under the service name
//! `weft`. Unset, none of this exists and [`enabled`] is false, so the
//! request path pays one relaxed load for tracing.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// Whether this process exports spans (set once, by [`start`]).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported: then the current span's context is the
/// trace context to hand on.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Builds the exporter to `endpoint` and the provider batching into it;
/// must run inside the Tokio runtime (the gRPC channel lives there).
pub fn start(endpoint: &str) -> anyhow::Result<(SdkTracerProvider, SdkTracer)> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("cannot build the OTLP exporter for {endpoint}"))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("weft").build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let tracer = provider.tracer("weft");
    // Libraries (and an in-process SDK) that use the global API reach the
    // same pipeline.
    opentelemetry::global::set_tracer_provider(provider.clone());
    ENABLED.store(true, Ordering::Relaxed);
    Ok((provider, tracer))
}
