//! ResumeRun `from_step` on a live (paused) run: the named step and every
//! step it leads to are put back to pending and run again in the same
//! run; the outputs of everything else are kept.
//!
//! "Leads to" is the same closure RetryRunFrom uses: dependencies,
//! branches, a parallel step's sub-steps, and failure routes. Each reset
//! step gets a step.reset event (status pending); work in flight among
//! them is withdrawn (tasks, timers, open approvals, which close as
//! expired). Attempts keep counting, so a worker still holding an earlier
//! attempt is fenced off. Shared-state writes already made stay.
//!
//! Refused, changing nothing: an unknown step; a step that runs once per
//! item of a map or loop (resume from the map or loop); a run planners
//! spliced steps into, or a reset that would drop map or loop items (a
//! fresh run from RetryRunFrom does both cleanly).

use std::collections::BTreeSet;

use petgraph::graph::NodeIndex;
use serde_json::json;

use super::command::TransitionError;
use super::document;
use super::instance::Instance;
use super::outcome::EventType;
use super::state::RunState;
use super::status::{RunStatus, StepStatus};
use super::tx::Tx;

/// The steps a checked `from_step` resets, in topological order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rewind {
    from: String,
    reset: Vec<NodeIndex>,
}

impl RunState {
    /// Checks that `step` can be run again in this run, and which steps
    /// that resets.
    pub(super) fn check_rewind(&self, step: &str) -> Result<Rewind, TransitionError> {
        let bad = |why: String| TransitionError::BadRewind { step: step.to_owned(), why };
        let node = self.workflow.node(step).ok_or_else(|| TransitionError::UnknownStep(step.to_owned()))?;
        if let Some(owner) = self.template_owner(node) {
            let owner = self.id(owner);
            return Err(bad(format!("it runs once per item of step '{owner}'; resume from '{owner}'")));
        }
        if self.splices.is_some() {
            return Err(bad("a planner spliced steps into this run; retry it with RetryRunFrom".into()));
        }
        let mut downstream = BTreeSet::from([node]);
        let mut stack = vec![node];
        while let Some(v) = stack.pop() {
            let goto = self.workflow.step(v).and_then(|s| s.failure_goto());
            for w in self.workflow.successors(v).map(|(w, _)| w).chain(goto) {
                if downstream.insert(w) {
                    stack.push(w);
                }
            }
        }
        let reset: Vec<NodeIndex> =
            self.workflow.topological_order().iter().copied().filter(|v| downstream.contains(v)).collect();
        for &v in &reset {
            let items = self.workflow.step(v).and_then(|s| s.map_step().or_else(|| s.children().first().copied()));
            if self.kind(v).iterates() && items.is_some_and(|t| self.maps.contains_key(&t)) {
                let why = format!("step '{}' has run items already; retry the run with RetryRunFrom", self.id(v));
                return Err(bad(why));
            }
        }
        Ok(Rewind { from: step.to_owned(), reset })
    }
}

impl Tx<'_> {
    /// Puts the checked steps back to pending, withdrawing their work.
    pub(super) fn rewind(&mut self, plan: Rewind) {
        let reset: BTreeSet<NodeIndex> = plan.reset.iter().copied().collect();
        for &node in &plan.reset {
            let inst = Instance::step(node);
            if self.run.status_of(inst) == StepStatus::Pending {
                continue;
            }
            self.withdraw(inst);
            if let Some(hold) = self.run.hold.as_mut() {
                hold.retries.remove(&inst);
            }
            // A recovery step stays routed to unless the failure that
            // routed to it is run again too.
            let rerouted = self.wf.steps().any(|(u, s)| s.failure_goto() == Some(node) && reset.contains(&u));
            if let Some(record) = self.run.record_mut(inst) {
                record.started_ms = None;
                record.completed_ms = None;
                record.error = None;
                record.error_code = None;
                record.branch = None;
                if rerouted {
                    record.routed = false;
                }
            }
            let id = self.run.id(node).to_owned();
            document::remove_output(&mut self.run.document, &id);
            let event = self.step_event(inst, StepStatus::Pending, EventType::StepReset);
            event.data = Some(json!({ "fromStep": plan.from }));
        }
        if self.run.pauses.is_empty() && self.run.hold.is_none() && self.run.status == RunStatus::Paused {
            self.run.status = RunStatus::Running;
            let event = self.emit(EventType::RunResumed, None, RunStatus::Running.as_str());
            event.data = Some(json!({ "fromStep": plan.from }));
        }
    }
}
