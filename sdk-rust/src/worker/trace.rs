//! The span each handler runs in: `weft.task`, with the task's run, step,
//! agent and attempt as fields, so an app's logs say which run a line is
//! about. With the `opentelemetry` feature its parent is the run's trace
//! context (`Task.trace_context`, W3C `traceparent`/`tracestate`), so the
//! worker's spans join the trace the run was started in, once the app has
//! installed a tracer provider and a `tracing-opentelemetry` layer.

use crate::pb;

/// The span a task's handler runs in.
pub(super) fn task_span(task: &pb::Task) -> tracing::Span {
    let span = tracing::info_span!(
        "weft.task",
        run_id = %task.run_id,
        step_id = %task.step_id,
        agent = %task.agent,
        task_id = %task.task_id,
        attempt = task.attempt,
    );
    #[cfg(feature = "opentelemetry")]
    if let Some(parent) = otel::parent(&task.trace_context) {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        // Fails only when no OpenTelemetry layer is installed: then there
        // is no trace to join, and the span stays a plain tracing span.
        let _ = span.set_parent(parent);
    }
    span
}

#[cfg(feature = "opentelemetry")]
mod otel {
    use std::collections::HashMap;
    use std::str::FromStr;

    use opentelemetry::Context;
    use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

    /// The remote parent `trace_context` names, if it holds a valid W3C
    /// `traceparent` (the field is always W3C, whatever propagator the app
    /// set globally, so it is read here rather than through one).
    pub(super) fn parent(trace_context: &HashMap<String, String>) -> Option<Context> {
        let traceparent = trace_context.get("traceparent")?;
        let mut parts = traceparent.trim().split('-');
        let (_version, trace_id, span_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let trace_id = TraceId::from_hex(trace_id).ok().filter(|id| *id != TraceId::INVALID)?;
        let span_id = SpanId::from_hex(span_id).ok().filter(|id| *id != SpanId::INVALID)?;
        let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()?);
        let state = trace_context.get("tracestate").and_then(|s| TraceState::from_str(s).ok()).unwrap_or_default();
        let remote = SpanContext::new(trace_id, span_id, flags, true, state);
        Some(Context::new().with_remote_span_context(remote))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_valid_traceparent_is_the_remote_parent_and_garbage_is_none() {
            let map = |v: &str| HashMap::from([("traceparent".to_owned(), v.to_owned())]);
            let cx = parent(&map("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")).unwrap();
            let span = cx.span();
            let sc = span.span_context();
            assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(sc.span_id().to_string(), "00f067aa0ba902b7");
            assert!(sc.is_remote() && sc.is_sampled());
            for bad in ["", "00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"] {
                assert!(parent(&map(bad)).is_none(), "{bad}");
            }
            assert!(parent(&HashMap::new()).is_none());
        }
    }
}
