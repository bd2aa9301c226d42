//! Driving a run forward inside one transition: which pending steps are
//! ready or skipped, starting them, and finishing the run when nothing is
//! left to wait for.
//!
//! Readiness of a pending step (its gate):
//! - a sub-step of a parallel step waits for its parent to start, and is
//!   skipped when the parent is skipped, failed or cancelled;
//! - branch edges (`onTrue`/`onFalse`/`onTimeout`): when the step is a
//!   target of branches, at least one of them must be taken, else it is
//!   skipped;
//! - `dependsOn`: every dependency must be finished. The step is skipped
//!   when *all* of them were skipped (skips propagate), or when *any* failed
//!   with no recovery (dependents of a failed step never run). A mix of
//!   completed and skipped dependencies runs the step: that is how branches
//!   join again after a condition.
//! - A failed step whose failure was routed (goto) counts as whatever its
//!   recovery step becomes: dependents wait for the recovery step and run
//!   when it completes.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::{Value, json};

use super::command::{RUN_TIMER_KEY, RetryOrigin, ReusedStep};
use super::document;
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::outcome::{Effect, EventType, TaskDispatch};
use super::status::{RunStatus, StepStatus};
use super::steps::TaskParts;
use super::tx::Tx;
use crate::compile::EdgeKind;

/// What a pending step's gate says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Wait,
    Skip,
    Open,
}

/// What a dependency amounts to for the steps waiting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DepOutcome {
    Wait,
    Done,
    /// Skipped or cancelled.
    Dead,
    /// Failed with no recovery.
    Failed,
}

impl Tx<'_> {
    /// Visits queued nodes until nothing changes; then, when nothing is in
    /// flight, skips dormant goto targets and finishes the run.
    pub(super) fn advance(&mut self) {
        // A held run starts nothing and does not finish; ending the hold
        // looks at every step again.
        if self.run.hold.is_some() {
            self.work.clear();
            return;
        }
        loop {
            while let Some(node) = self.work.pop_first() {
                if self.run.status.is_terminal() {
                    self.work.clear();
                    return;
                }
                self.visit(node);
            }
            if self.run.status.is_terminal() || self.run.active > 0 {
                return;
            }
            if !self.skip_unrouted_dormant() {
                self.finish_run();
                return;
            }
        }
    }

    fn visit(&mut self, node: NodeIndex) {
        if self.run.in_template(node) {
            return;
        }
        let inst = Instance::step(node);
        match self.run.status_of(inst) {
            StepStatus::Pending => match self.gate(node) {
                Gate::Wait => {}
                Gate::Skip => self.skip(inst),
                // Ready, unless a writer of one of its shared-state keys
                // is in flight; that writer's end queues it again.
                Gate::Open if self.write_blocked(inst) => {}
                Gate::Open => self.start(inst),
            },
            // A structural step may finish, or start more items.
            StepStatus::Running => self.revisit_running(node),
            // A condition wait looks at its condition again.
            StepStatus::Waiting => self.recheck_condition_wait(inst),
            StepStatus::Ready
            | StepStatus::Paused
            | StepStatus::Completed
            | StepStatus::Failed
            | StepStatus::Skipped
            | StepStatus::Cancelled => {}
        }
    }

    fn gate(&self, node: NodeIndex) -> Gate {
        if let Some(parent) = self.wf.step(node).and_then(|s| s.parent()) {
            match self.run.status_of(Instance::step(parent)) {
                StepStatus::Running => {}
                status if status.is_terminal() => return Gate::Skip,
                _ => return Gate::Wait,
            }
        }
        let (mut branches, mut taken) = (0, 0);
        let (mut done, mut dead, mut failed) = (0, 0, 0);
        for (u, kind) in self.wf.predecessors(node) {
            match kind {
                EdgeKind::DependsOn => match self.dep_outcome(u) {
                    DepOutcome::Wait => return Gate::Wait,
                    DepOutcome::Done => done += 1,
                    DepOutcome::Dead => dead += 1,
                    DepOutcome::Failed => failed += 1,
                },
                EdgeKind::OnTrue | EdgeKind::OnFalse | EdgeKind::OnTimeout => {
                    let record = self.run.record(Instance::step(u));
                    let status = record.map_or(StepStatus::Pending, |r| r.status);
                    if !status.is_terminal() {
                        return Gate::Wait;
                    }
                    branches += 1;
                    // A wait step's timeout branch is taken when its timer
                    // fired first (its branch is then true).
                    let want = match kind {
                        EdgeKind::OnTrue | EdgeKind::OnTimeout => Some(true),
                        EdgeKind::OnFalse => Some(false),
                        EdgeKind::DependsOn | EdgeKind::SubStepDone | EdgeKind::ParentStart | EdgeKind::StateOrder => {
                            None
                        }
                    };
                    if status == StepStatus::Completed && want.is_some() && record.and_then(|r| r.branch) == want {
                        taken += 1;
                    }
                }
                // Sub-steps start with their parent, checked above; a parent
                // waits for its sub-steps as a running step, not as a gate.
                EdgeKind::SubStepDone | EdgeKind::ParentStart => {}
                // Another writer of one of its shared-state keys goes first;
                // how it ends does not matter, only that it has.
                EdgeKind::StateOrder => {
                    let writer = self.run.template_owner(u).unwrap_or(u);
                    if !self.run.status_of(Instance::step(writer)).is_terminal() {
                        return Gate::Wait;
                    }
                }
            }
        }
        if self.run.dormant.binary_search(&node).is_ok() && !self.run.steps[node.index()].routed {
            return Gate::Wait;
        }
        if (branches > 0 && taken == 0) || failed > 0 || (done == 0 && dead > 0) {
            return Gate::Skip;
        }
        Gate::Open
    }

    /// What step `u` amounts to for its dependents.
    pub(super) fn dep_outcome(&self, u: NodeIndex) -> DepOutcome {
        let mut at = self.run.template_owner(u).unwrap_or(u);
        // Goto chains are followed at most once per step, so a route back
        // to an earlier failed step cannot loop.
        for _ in 0..=self.wf.len() {
            match self.run.status_of(Instance::step(at)) {
                // A wait step that timed out took its onTimeout branch:
                // what depends on it is the other branch, not taken.
                StepStatus::Completed if self.took_timeout_branch(at) => return DepOutcome::Dead,
                StepStatus::Completed => return DepOutcome::Done,
                StepStatus::Skipped | StepStatus::Cancelled => return DepOutcome::Dead,
                StepStatus::Failed => match self.wf.step(at).and_then(|s| s.failure_goto()) {
                    Some(target) => at = target,
                    None => return DepOutcome::Failed,
                },
                _ => return DepOutcome::Wait,
            }
        }
        DepOutcome::Failed
    }

    pub(super) fn skip(&mut self, inst: Instance) {
        self.step_event(inst, StepStatus::Skipped, EventType::StepSkipped);
        self.touch(inst.node);
    }

    /// Goto targets never routed to are skipped once nothing else can
    /// happen. True when one was.
    fn skip_unrouted_dormant(&mut self) -> bool {
        let mut skipped = false;
        for node in self.run.dormant.clone() {
            let inst = Instance::step(node);
            if self.run.status_of(inst) == StepStatus::Pending && !self.run.steps[node.index()].routed {
                self.skip(inst);
                skipped = true;
            }
        }
        skipped
    }

    /// Begins an attempt: counts it, stamps the start and emits
    /// step.started on the first one.
    pub(super) fn begin(&mut self, inst: Instance, status: StepStatus) {
        let now = self.now_ms;
        let Some(record) = self.run.record_mut(inst) else { return };
        record.attempts += 1;
        let first = record.started_ms.is_none();
        record.started_ms.get_or_insert(now);
        self.run.set_status(inst, status);
        if first {
            self.emit(EventType::StepStarted, Some(inst), status.as_str());
        }
    }

    /// Starts a ready instance: pure steps are computed now, the rest
    /// become effects (each type's start is in `steps/`). An `inputMap`
    /// query that selects nothing fails the step as it starts (external
    /// work checks it as it is dispatched).
    pub(super) fn start(&mut self, inst: Instance) {
        if !self.run.kind(inst.node).is_external()
            && let Err((code, message)) = self.resolve_input(inst)
        {
            self.begin(inst, StepStatus::Running);
            return self.step_failed_as(inst, code, message);
        }
        self.start_step(inst);
    }

    /// Emits the task of the current attempt of external work, with its
    /// inputs resolved and its task rendered now; fails the step instead
    /// when an `inputMap` query selects nothing.
    pub(super) fn dispatch(&mut self, inst: Instance) {
        let input = match self.resolve_input(inst) {
            Ok(input) => input,
            Err((code, message)) => return self.step_failed_as(inst, code, message),
        };
        let kind = self.run.kind(inst.node);
        let TaskParts { task, agent, timeout_ms } = self.task_parts(inst);
        let attempt = self.run.record(inst).map_or(1, |r| r.attempts);
        let dispatch = TaskDispatch { step: self.run.key(inst), attempt, kind, agent, task, input, timeout_ms };
        self.out.effects.push(Effect::DispatchTask(dispatch));
    }

    /// Evaluates `f` against the document as `inst` sees it: with the map
    /// item bound under the map's `as` name for a map item.
    pub(super) fn with_item<R>(&mut self, inst: Instance, f: impl FnOnce(&Value) -> R) -> R {
        let Some(index) = inst.item else { return f(&self.run.document) };
        let wf = Arc::clone(&self.wf);
        let map_node = wf.step(inst.node).and_then(|s| s.parent());
        let name = map_node.and_then(|m| wf.step(m)).and_then(|m| m.data().item_name()).unwrap_or("item");
        let item = self.run.maps.get_mut(&inst.node).and_then(|m| m.items.get_mut(index)).map(Value::take);
        let (result, item) = document::with_binding(&mut self.run.document, name, item.unwrap_or(Value::Null), f);
        if let Some(slot) = self.run.maps.get_mut(&inst.node).and_then(|m| m.items.get_mut(index)) {
            *slot = item;
        }
        result
    }

    /// Starts the run: arms its timeout, takes over the outputs a retry
    /// reuses, then runs whatever is ready.
    pub(super) fn start_run(
        &mut self,
        input: Value,
        shared_state: Value,
        origin: Option<&RetryOrigin>,
        reused: &[ReusedStep],
    ) {
        self.run.status = RunStatus::Running;
        self.run.started_ms = Some(self.now_ms);
        self.run.document = document::initial(input, shared_state);
        let event = self.emit(EventType::RunStarted, None, RunStatus::Running.as_str());
        if let Some(origin) = origin {
            event.data = Some(json!({ "retryOf": origin.run_id, "retryFrom": origin.step_id }));
        }
        let timeout = self.wf.definition().timeout;
        if timeout > 0 {
            let due_ms = self.now_ms.saturating_add(i64::from(timeout) * 1000);
            self.out.effects.push(Effect::ArmTimer { step: RUN_TIMER_KEY.to_owned(), due_ms });
        }
        if let Some(origin) = origin {
            self.reuse(origin, reused);
        }
        self.work.extend(self.wf.topological_order().iter().copied());
        self.advance();
    }

    /// Ends a run with nothing left in flight: Partial when a failure was
    /// not recovered, else Completed, or Failed when the output does not
    /// match the workflow's outputSchema.
    fn finish_run(&mut self) {
        // Nothing is in flight and no route can change, so a step still
        // pending can never start (e.g. a goto target inside a parallel
        // that never started).
        let wf = Arc::clone(&self.wf);
        for &node in wf.topological_order() {
            if !self.run.in_template(node) && self.run.status_of(Instance::step(node)) == StepStatus::Pending {
                self.step_event(Instance::step(node), StepStatus::Skipped, EventType::StepSkipped);
            }
        }
        let first_failed = self.first_unrecovered_failure();
        let output = self.run_output();
        let violation = match self.wf.output_schema() {
            Some(schema) if first_failed.is_none() => schema.iter_errors(&output).next().map(|e| e.to_string()),
            _ => None,
        };
        if let Some(violation) = violation {
            let message = format!("the run output does not match outputSchema: {violation}");
            return self.fail_run(ErrorCode::OutputSchemaViolation, message);
        }
        let (status, event_type) = match first_failed {
            Some(_) => (RunStatus::Partial, EventType::RunPartial),
            None => (RunStatus::Completed, EventType::RunCompleted),
        };
        self.run.status = status;
        self.run.completed_ms = Some(self.now_ms);
        self.run.output = Some(output.clone());
        self.run.can_retry_from = first_failed.clone();
        self.disarm_run_timer();
        let total = self.run.total_cost_cents;
        let duration_ms = self.run_duration_ms();
        let event = self.emit(event_type, None, status.as_str());
        event.output = Some(output);
        event.total_cost_cents = Some(total);
        event.can_retry_from = first_failed;
        event.duration_ms = duration_ms;
    }

    /// Id of the first step, in topological order, that failed and was not
    /// recovered by a goto route.
    pub(super) fn first_unrecovered_failure(&self) -> Option<String> {
        self.wf
            .topological_order()
            .iter()
            .find(|&&v| {
                self.run.status_of(Instance::step(v)) == StepStatus::Failed && self.dep_outcome(v) == DepOutcome::Failed
            })
            .map(|&v| self.run.id(v).to_owned())
    }

    /// The output of the top-level steps nothing waits for: that step's
    /// output when there is one, else an object of the completed ones by id.
    fn run_output(&self) -> Value {
        let sinks: Vec<NodeIndex> = self
            .wf
            .steps()
            .filter(|(v, s)| {
                s.parent().is_none()
                    && !self.wf.successors(*v).any(|(_, kind)| {
                        matches!(kind, EdgeKind::DependsOn | EdgeKind::OnTrue | EdgeKind::OnFalse | EdgeKind::OnTimeout)
                    })
            })
            .map(|(v, _)| v)
            .collect();
        let completed = |v: NodeIndex| {
            let inst = Instance::step(v);
            (self.run.status_of(inst) == StepStatus::Completed).then(|| self.run.output_of(inst)).flatten()
        };
        match sinks.as_slice() {
            [one] => completed(*one).cloned().unwrap_or(Value::Null),
            many => Value::Object(
                many.iter().filter_map(|&v| Some((self.run.id(v).to_owned(), completed(v)?.clone()))).collect(),
            ),
        }
    }
}
