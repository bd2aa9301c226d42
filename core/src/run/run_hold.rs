//! PauseRun and the plain ResumeRun: a run-level hold, apart from the
//! per-step pauses of `pause.rs`.
//!
//! While held, the run is Paused with pending action type "manual" and no
//! work starts: no step, no map or loop item, no retry of a failed
//! attempt (it is counted and kept for later). What is already in flight
//! goes on: completions, failures, timers and step gates are recorded as
//! usual, and workers learn of the hold through their heartbeat. A step
//! gate opening meanwhile emits no second run.paused. The run's own
//! timeout still applies. Ending the hold (run.resumed) dispatches the
//! kept retries and looks at every step again, so what became ready
//! meanwhile starts; the run stays Paused while a step gate is still open.

use serde_json::json;

use super::instance::Instance;
use super::outcome::EventType;
use super::state::Hold;
use super::status::{RunStatus, StepStatus};
use super::tx::Tx;

impl Tx<'_> {
    /// Holds a Running run (checked by the caller).
    pub(super) fn hold(&mut self, reason: String) {
        let data = json!({ "type": "manual", "reason": reason });
        self.run.hold = Some(Box::new(Hold { reason, since_ms: self.now_ms, retries: Default::default() }));
        self.run.status = RunStatus::Paused;
        let event = self.emit(EventType::RunPaused, None, RunStatus::Paused.as_str());
        event.data = Some(data);
    }

    /// Ends the hold (the caller checked there is one): kept retries are
    /// dispatched and every step is looked at again.
    pub(super) fn release(&mut self) {
        let Some(hold) = self.run.hold.take() else { return };
        if self.run.pauses.is_empty() {
            self.run.status = RunStatus::Running;
            let held_ms = (self.now_ms - hold.since_ms).max(0);
            let event = self.emit(EventType::RunResumed, None, RunStatus::Running.as_str());
            event.data = Some(json!({ "type": "manual", "heldMs": held_ms }));
        }
        for inst in hold.retries {
            if self.run.status_of(inst) == StepStatus::Running && self.run.kind(inst.node).is_external() {
                self.dispatch(inst);
            }
        }
        self.revisit_all();
        self.advance();
    }

    /// Queues every step, and the running parallel, map and loop steps'
    /// bookkeeping with them, to be looked at again.
    pub(super) fn revisit_all(&mut self) {
        let wf = std::sync::Arc::clone(&self.wf);
        self.work.extend(wf.topological_order().iter().copied());
    }

    /// Whether a due retry of `inst` must wait for the hold to end; if so
    /// it is kept for then.
    pub(super) fn defer_retry(&mut self, inst: Instance) -> bool {
        match self.run.hold.as_mut() {
            Some(hold) => {
                hold.retries.insert(inst);
                true
            }
            None => false,
        }
    }

    /// Whether `inst` is a retry kept back by the hold (it has no task).
    pub(super) fn retry_deferred(&self, inst: Instance) -> bool {
        self.run.hold.as_ref().is_some_and(|h| h.retries.contains(&inst))
    }
}
