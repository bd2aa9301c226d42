//! The W3C trace context a run was started in, kept on its row (columns
//! `trace_parent`, `trace_state`, migration 0021) so every task of the run
//! hands it to its worker, also after a restart. Written once, in the
//! commit that creates the run; read by the claim that leases a task.

/// A run's trace context, as the W3C `traceparent` and `tracestate`
/// headers spell it. Already validated when it reaches the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// `00-<trace id>-<parent span id>-<flags>`.
    pub traceparent: String,
    /// Vendor entries, if the caller sent any.
    pub tracestate: Option<String>,
}

/// The trace context to store for a run the batch creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTrace {
    /// `wfrun_…`.
    pub run_id: String,
    /// What it was started in.
    pub context: TraceContext,
}

impl TraceContext {
    /// From the two stored columns: no `trace_parent`, no context.
    pub(crate) fn from_columns(traceparent: Option<String>, tracestate: Option<String>) -> Option<Self> {
        traceparent.map(|traceparent| Self { traceparent, tracestate })
    }
}
