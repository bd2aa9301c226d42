//! [`Tx`]: one transition in progress, and the toolkit every step type
//! uses through it: emitting events, changing an instance's status,
//! queueing what to look at again, completing an instance.

use std::collections::BTreeSet;
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use super::document;
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::outcome::{EventType, Outcome, RunEvent};
use super::state::RunState;
use super::status::StepStatus;
use crate::compile::CompiledWorkflow;
use crate::model::json_limits::check_depth;

/// One transition in progress: the run, what it has produced so far, and
/// the nodes whose readiness must be looked at again.
pub(super) struct Tx<'r> {
    pub(super) run: &'r mut RunState,
    /// A second handle on the workflow, so steps can be read while the run
    /// is changed.
    pub(super) wf: Arc<CompiledWorkflow>,
    pub(super) now_ms: i64,
    pub(super) out: Outcome,
    /// Nodes to visit, lowest index first, so the order is deterministic.
    pub(super) work: BTreeSet<NodeIndex>,
    /// Explicit state writes of the completion being applied, for its
    /// instance: taken by that instance's `complete` (or held with its
    /// output by a cost pause), never by another step completing later in
    /// the same transition.
    pub(super) state_writes: Option<(Instance, serde_json::Map<String, Value>)>,
}

impl<'r> Tx<'r> {
    pub(super) fn new(run: &'r mut RunState, now_ms: i64) -> Self {
        let wf = Arc::clone(&run.workflow);
        Self { run, wf, now_ms, out: Outcome::default(), work: BTreeSet::new(), state_writes: None }
    }

    /// Records an event with the next sequence number; the caller fills in
    /// the fields that apply.
    pub(super) fn emit(
        &mut self,
        event_type: EventType,
        step: Option<Instance>,
        status: &'static str,
    ) -> &mut RunEvent {
        let sequence = self.run.next_sequence;
        self.run.next_sequence += 1;
        let step_id = step.map(|inst| self.run.key(inst));
        self.out.events.push(RunEvent {
            sequence,
            event_type,
            step_id,
            status,
            output: None,
            error: None,
            cost_cents: None,
            total_cost_cents: None,
            can_retry_from: None,
            action: None,
            data: None,
            duration_ms: None,
            now_ms: self.now_ms,
        });
        self.out.events.last_mut().expect("an event was just pushed")
    }

    /// Changes an instance's status and emits the matching step event;
    /// step.completed and step.failed carry how long the step took.
    pub(super) fn step_event(&mut self, inst: Instance, status: StepStatus, event_type: EventType) -> &mut RunEvent {
        let was_writing = self.run.writing.contains(&inst);
        self.run.set_status(inst, status);
        if was_writing && !self.run.writing.contains(&inst) {
            self.wake_writers(inst.node);
        }
        let mut duration_ms = None;
        if status.is_terminal() {
            let now = self.now_ms;
            if let Some(record) = self.run.record_mut(inst) {
                record.completed_ms = Some(now);
                if matches!(status, StepStatus::Completed | StepStatus::Failed) {
                    duration_ms = record.started_ms.map(|started| (now - started).max(0));
                }
            }
        }
        let event = self.emit(event_type, Some(inst), status.as_str());
        event.duration_ms = duration_ms;
        event
    }

    /// How long the run has taken, for its terminal event.
    pub(super) fn run_duration_ms(&self) -> Option<i64> {
        self.run.started_ms.map(|started| (self.now_ms - started).max(0))
    }

    pub(super) fn add_cost(&mut self, inst: Instance, cost_cents: i64) {
        if let Some(record) = self.run.record_mut(inst) {
            record.cost_cents = record.cost_cents.saturating_add(cost_cents);
        }
        self.run.total_cost_cents = self.run.total_cost_cents.saturating_add(cost_cents);
    }

    /// Queues every node that may become ready, skipped or complete
    /// because `node` changed: what waits for it, and its sub-steps.
    /// A recovery step (goto target) stands in for the failed steps routed
    /// to it, so what waits for those is queued as well.
    pub(super) fn touch(&mut self, node: NodeIndex) {
        self.work.extend(self.wf.successors(node).map(|(v, _)| v));
        if let Some(step) = self.wf.step(node) {
            self.work.extend(step.children().iter().copied());
        }
        let mut recovered = vec![node];
        let mut seen = BTreeSet::new();
        while let Some(target) = recovered.pop() {
            if !self.run.steps.get(target.index()).is_some_and(|r| r.routed) || !seen.insert(target) {
                continue;
            }
            for (v, step) in self.wf.steps() {
                if step.failure_goto() == Some(target) && self.run.status_of(Instance::step(v)) == StepStatus::Failed {
                    self.work.extend(self.wf.successors(v).map(|(w, _)| w));
                    recovered.push(v);
                }
            }
        }
    }

    /// The explicit state writes of the completion being applied, if they
    /// are `inst`'s.
    pub(super) fn take_state_writes(&mut self, inst: Instance) -> Option<serde_json::Map<String, Value>> {
        match &self.state_writes {
            Some((owner, _)) if *owner == inst => self.state_writes.take().map(|(_, writes)| writes),
            _ => None,
        }
    }

    /// Marks an instance completed with `output` and lets what waits for
    /// it proceed.
    ///
    /// Every output passes here, including those the engine builds (a
    /// transform's, a map's array of item outputs, a parallel's object), so
    /// one nested deeper than the JSON limit fails the step with
    /// OUTPUT_TOO_DEEP instead of being kept. (Outputs from workers and the
    /// network were checked before their command, so they are never stored.)
    /// The run output, gathering sink outputs by step id, is at most one
    /// level deeper, which the limit's margin allows for.
    pub(super) fn complete(&mut self, inst: Instance, output: Value, cost_cents: Option<i64>) {
        if let Err(fault) = check_depth(&output, "output") {
            let message = format!("the output of step '{}' was refused: {fault}", self.run.key(inst));
            return self.step_failed_as(inst, ErrorCode::OutputTooDeep, message);
        }
        let event = self.step_event(inst, StepStatus::Completed, EventType::StepCompleted);
        event.output = Some(output.clone());
        event.cost_cents = cost_cents;
        let id = self.run.id(inst.node).to_owned();
        let wf = Arc::clone(&self.wf);
        if let Some(keys) = wf.step(inst.node).map(|s| &s.shared().state_writes).filter(|k| !k.is_empty()) {
            document::write_state(&mut self.run.document, keys, &output);
        }
        if let Some(writes) = self.take_state_writes(inst) {
            let keys: Vec<String> = writes.keys().cloned().collect();
            document::write_state(&mut self.run.document, &keys, &Value::Object(writes));
        }
        match inst.item {
            None => {
                document::set_output(&mut self.run.document, &id, output);
                self.touch(inst.node);
                // Outputs and shared state changed: condition waits look again.
                self.work.extend(wf.condition_waits().iter().copied());
            }
            Some(i) => self.item_finished(inst.node, i, Some(output)),
        }
    }

    /// Bookkeeping of a map item that completed (with its output) or
    /// failed: frees its slot and has the map looked at again.
    pub(super) fn item_finished(&mut self, template: NodeIndex, index: usize, output: Option<Value>) {
        if let Some(map) = self.run.maps.get_mut(&template) {
            map.in_flight = map.in_flight.saturating_sub(1);
            if let Some(run) = map.runs.get_mut(index) {
                run.output = output;
            }
        }
        if let Some(map_node) = self.wf.step(template).and_then(|s| s.parent()) {
            self.work.insert(map_node);
        }
    }
}
