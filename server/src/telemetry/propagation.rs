//! W3C trace context in and out: the `traceparent`/`tracestate` a caller
//! sends (gRPC metadata or REST headers, both HTTP headers at the outer
//! [`crate::request_span`]) are checked here, bounded, and made the parent
//! of the request; [`current`] is what a run started now remembers and
//! hands to its workers.
//!
//! A malformed header is ignored, never an error: tracing is advice, and a
//! caller's broken propagator must not fail its calls.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::store::TraceContext;

/// Longest `tracestate` kept (the W3C limit of 32 entries fits in it for
/// any sensible vendor; longer is dropped, the traceparent kept).
pub const MAX_TRACESTATE_LEN: usize = 512;
/// Longest `traceparent` looked at: version 00 is 55 characters; later
/// versions may append fields, which are ignored.
pub const MAX_TRACEPARENT_LEN: usize = 256;

tokio::task_local! {
    /// The caller's trace context for the request being served, when the
    /// server exports no traces itself (then the current span says it).
    static INCOMING: Option<TraceContext>;
}

/// The caller's trace context from the request headers, if it sent a
/// well-formed one.
pub fn extract(headers: &http::HeaderMap) -> Option<TraceContext> {
    let traceparent = parse_traceparent(headers.get("traceparent")?.to_str().ok()?)?;
    let tracestate = headers
        .get("tracestate")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|state| !state.is_empty() && state.len() <= MAX_TRACESTATE_LEN)
        .map(str::to_owned);
    Some(TraceContext { traceparent, tracestate })
}

/// `traceparent` in its version-00 form, if `text` is a valid one (of any
/// version but the forbidden `ff`), per W3C Trace Context §3.2.
pub fn parse_traceparent(text: &str) -> Option<String> {
    let text = text.trim();
    if text.len() < 55 || text.len() > MAX_TRACEPARENT_LEN {
        return None;
    }
    let (head, tail) = text.split_at(55);
    let parts: Vec<&str> = head.split('-').collect();
    let [version, trace_id, span_id, flags] = parts.as_slice() else { return None };
    let lower_hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let valid = lower_hex(version, 2)
        && lower_hex(trace_id, 32)
        && lower_hex(span_id, 16)
        && lower_hex(flags, 2)
        && *version != "ff"
        && trace_id.bytes().any(|b| b != b'0')
        && span_id.bytes().any(|b| b != b'0')
        // Version 00 has exactly four fields; a later one may add more.
        && (tail.is_empty() || (*version != "00" && tail.starts_with('-')));
    valid.then(|| format!("00-{trace_id}-{span_id}-{flags}"))
}

/// Serves `request` with `incoming` as the caller's trace context: the
/// parent of `span` when traces are exported, else remembered as is.
pub async fn serve_in<F: std::future::Future>(
    incoming: Option<TraceContext>,
    span: &tracing::Span,
    request: F,
) -> F::Output {
    if super::otlp::enabled() {
        if let Some(context) = &incoming {
            let _ = span.set_parent(TraceContextPropagator::new().extract(&as_map(context)));
        }
        request.await
    } else if incoming.is_some() {
        INCOMING.scope(incoming, request).await
    } else {
        request.await
    }
}

/// The trace context a run started now remembers: the current span's when
/// this server exports traces (a child of the caller's, or a trace of the
/// server's own), else the caller's as it came, else none.
pub fn current() -> Option<TraceContext> {
    if super::otlp::enabled() {
        let mut map = HashMap::new();
        TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut map);
        let traceparent = map.remove("traceparent")?;
        let tracestate = map.remove("tracestate").filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE_LEN);
        return Some(TraceContext { traceparent, tracestate });
    }
    INCOMING.try_with(Clone::clone).ok().flatten()
}

fn as_map(context: &TraceContext) -> HashMap<String, String> {
    let mut map = HashMap::from([("traceparent".to_owned(), context.traceparent.clone())]);
    if let Some(state) = &context.tracestate {
        map.insert("tracestate".to_owned(), state.clone());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn well_formed_traceparents_are_kept_in_version_00_form() {
        assert_eq!(parse_traceparent(GOOD).as_deref(), Some(GOOD));
        assert_eq!(parse_traceparent(&format!(" {GOOD} ")).as_deref(), Some(GOOD));
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert_eq!(parse_traceparent(later).as_deref(), Some(GOOD));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "garbage",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad:?}");
        }
        assert_eq!(parse_traceparent(&format!("01-{}", "a".repeat(MAX_TRACEPARENT_LEN))), None);
    }

    #[test]
    fn headers_give_the_context_and_an_oversized_tracestate_is_dropped() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(extract(&headers), None);
        headers.insert("traceparent", GOOD.parse().unwrap());
        headers.insert("tracestate", "vendor=opaque".parse().unwrap());
        let context = extract(&headers).unwrap();
        assert_eq!((context.traceparent.as_str(), context.tracestate.as_deref()), (GOOD, Some("vendor=opaque")));
        headers.insert("tracestate", "v=".repeat(MAX_TRACESTATE_LEN).parse().unwrap());
        assert_eq!(extract(&headers).unwrap().tracestate, None);
        headers.insert("traceparent", "00-nope".parse().unwrap());
        assert_eq!(extract(&headers), None);
    }

    #[tokio::test]
    async fn without_export_the_run_remembers_the_callers_context() {
        let context = TraceContext { traceparent: GOOD.into(), tracestate: None };
        let seen = serve_in(Some(context.clone()), &tracing::Span::none(), async { current() }).await;
        assert_eq!(seen, Some(context));
        assert_eq!(current(), None, "outside a request there is none");
    }
}
