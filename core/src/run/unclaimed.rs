//! `TaskUnclaimed`: a task nobody claimed, told once. The watcher that
//! sees the queue and the workers (the server's `engine/tasks/unclaimed.rs`)
//! decides when an attempt has waited too long with nobody polling for its
//! agent; the transition only records it, once per attempt, as
//! task.unclaimed, so the event log, the streams and the SSE routes say
//! what the run is waiting for. Nothing else changes: the step stays
//! Running in the state machine (it is shown READY while its task is
//! queued, a read-time projection), and a worker arriving later claims
//! the task as usual.

use serde_json::json;

use super::command::TransitionError;
use super::instance::Instance;
use super::outcome::EventType;
use super::state::RunState;
use super::status::StepStatus;
use super::tx::Tx;
use crate::compile::StepKind;

/// Refused unless the instance is an agent or planner step: the server
/// runs every other external step itself, so no worker can be missing.
pub(super) fn check_served_by_workers(run: &RunState, inst: Instance, key: &str) -> Result<(), TransitionError> {
    match run.kind(inst.node) {
        StepKind::Agent | StepKind::Planner => Ok(()),
        StepKind::Parallel
        | StepKind::Condition
        | StepKind::Delay
        | StepKind::Approval
        | StepKind::Webhook
        | StepKind::Transform
        | StepKind::Map
        | StepKind::Wait
        | StepKind::HttpRequest
        | StepKind::Script
        | StepKind::Loop => Err(TransitionError::NotInFlight {
            step: key.to_owned(),
            status: run.status_of(inst),
            expected: "an agent or planner task waiting for a worker".into(),
        }),
    }
}

/// Refused unless the attempt was not noted yet.
pub(super) fn check_not_noted(run: &RunState, inst: Instance, key: &str, attempt: u32) -> Result<(), TransitionError> {
    if run.unclaimed.get(&inst) == Some(&attempt) {
        return Err(TransitionError::AlreadyNoted { step: key.to_owned(), attempt });
    }
    Ok(())
}

impl Tx<'_> {
    /// Records task.unclaimed for the current attempt of `inst`.
    pub(super) fn note_unclaimed(&mut self, inst: Instance, attempt: u32, agent: String) {
        self.run.unclaimed.insert(inst, attempt);
        let event = self.emit(EventType::TaskUnclaimed, Some(inst), StepStatus::Ready.as_str());
        event.data = Some(json!({ "agent": agent, "attempt": attempt }));
    }
}
