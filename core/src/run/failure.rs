//! Failures and stops: retrying an attempt, routing a final failure
//! (goto, continue, stop), failing or cancelling the whole run.
//!
//! A failed attempt is retried first: up to the step's `retries`, or the
//! workflow's `retries` when the step sets none, whatever `onFailure` says.
//! Only a failure with no attempt left is routed. A step's route is its
//! `onStepFailure.action`; without one, the run-level `onFailure` decides:
//! "continue" continues, anything else ("stop", "retry" once retries are
//! spent, or nothing) stops. A failed map item fails its map step, whose
//! own route then applies.

use petgraph::graph::NodeIndex;
use serde_json::json;

use super::command::RUN_TIMER_KEY;
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::outcome::{Effect, EventType};
use super::status::{RunStatus, StepStatus};
use super::tx::Tx;
use crate::compile::FailureAction;
use crate::model::FailureMode;

/// Where a final failure goes.
enum Route {
    Goto(NodeIndex),
    Continue,
    Stop,
}

impl Tx<'_> {
    /// A worker reported a failed attempt: dispatch the next attempt when
    /// the error is retryable and attempts remain, else fail the step.
    pub(super) fn attempt_failed(&mut self, inst: Instance, error: String, retryable: bool, cost_cents: i64) {
        self.attempt_failed_as(inst, ErrorCode::StepFailed, error, retryable, cost_cents);
    }

    /// [`Self::attempt_failed`], failing the step with `code` when no
    /// attempt follows.
    pub(super) fn attempt_failed_as(
        &mut self,
        inst: Instance,
        code: ErrorCode,
        error: String,
        retryable: bool,
        cost_cents: i64,
    ) {
        let attempts = self.run.record(inst).map_or(0, |r| r.attempts);
        if retryable && attempts < self.retries(inst.node).saturating_add(1) {
            if let Some(record) = self.run.record_mut(inst) {
                record.attempts += 1;
                record.error = Some(error.clone().into());
            }
            let event = self.emit(EventType::StepRetrying, Some(inst), StepStatus::Running.as_str());
            event.error = Some(error);
            event.cost_cents = Some(cost_cents);
            event.data = Some(json!({ "attempt": attempts + 1 }));
            if !self.defer_retry(inst) {
                self.dispatch(inst);
            }
            return;
        }
        self.step_failed_with_cost(inst, code, error, Some(cost_cents));
    }

    /// Extra attempts a step gets: its own `retries`, or the workflow's
    /// `retries` when the step sets none, whatever `onFailure` says (it
    /// decides only once they are spent).
    fn retries(&self, node: NodeIndex) -> u32 {
        let own = self.wf.step(node).map_or(0, |s| s.shared().retries);
        if own == 0 { self.wf.definition().retries } else { own }
    }

    /// Fails an instance for good (STEP_FAILED) and routes the failure.
    pub(super) fn step_failed(&mut self, inst: Instance, error: String) {
        self.step_failed_with_cost(inst, ErrorCode::StepFailed, error, None);
    }

    /// Fails an instance for good with `code` and routes the failure.
    pub(super) fn step_failed_as(&mut self, inst: Instance, code: ErrorCode, error: String) {
        self.step_failed_with_cost(inst, code, error, None);
    }

    /// Fails an instance for good and then the run, whatever its route
    /// says: a state machine's fail state. `data` goes on step.failed.
    pub(super) fn fail_run_at(&mut self, inst: Instance, code: ErrorCode, error: String, data: serde_json::Value) {
        self.record_failure(inst, code, &error, None);
        if let Some(event) = self.out.events.iter_mut().rev().find(|e| e.event_type == EventType::StepFailed) {
            event.data = Some(data);
        }
        self.fail_run(code, error);
    }

    /// Records an instance's final failure and emits step.failed.
    fn record_failure(&mut self, inst: Instance, code: ErrorCode, error: &str, cost_cents: Option<i64>) {
        if let Some(record) = self.run.record_mut(inst) {
            record.error = Some(error.to_owned().into());
            record.error_code = Some(code);
        }
        let event = self.step_event(inst, StepStatus::Failed, EventType::StepFailed);
        event.error = Some(error.to_owned());
        event.cost_cents = cost_cents;
        event.data = Some(json!({ "code": code.as_str() }));
    }

    fn step_failed_with_cost(&mut self, inst: Instance, code: ErrorCode, error: String, cost_cents: Option<i64>) {
        self.record_failure(inst, code, &error, cost_cents);
        if let Some(index) = inst.item {
            return self.item_failed(inst.node, index, code, &error);
        }
        match self.route(inst.node) {
            Route::Goto(target) => {
                self.run.steps[target.index()].routed = true;
                self.work.insert(target);
                self.touch(inst.node);
            }
            Route::Continue => self.touch(inst.node),
            Route::Stop => self.fail_run(code, error),
        }
    }

    fn route(&self, node: NodeIndex) -> Route {
        let step = self.wf.step(node);
        match (step.and_then(|s| s.shared().failure_action), step.and_then(|s| s.failure_goto())) {
            (Some(FailureAction::Goto), Some(target)) => Route::Goto(target),
            (Some(FailureAction::Continue), _) => Route::Continue,
            (Some(FailureAction::Goto | FailureAction::Stop), _) => Route::Stop,
            (None, _) if self.wf.failure_mode() == FailureMode::Continue => Route::Continue,
            (None, _) => Route::Stop,
        }
    }

    /// A map item failed for good: the other items are cancelled and the
    /// map step fails.
    fn item_failed(&mut self, template: NodeIndex, index: usize, code: ErrorCode, error: &str) {
        self.item_finished(template, index, None);
        let count = self.run.maps.get(&template).map_or(0, |m| m.runs.len());
        for other in 0..count {
            self.cancel_instance(Instance::item(template, other));
        }
        let Some(map_node) = self.wf.step(template).and_then(|s| s.parent()) else { return };
        let kind = self.run.kind(map_node).as_str();
        let message = format!("item {index} of {kind} step '{}' failed: {error}", self.run.id(map_node));
        self.step_failed_as(Instance::step(map_node), code, message);
    }

    /// Cancels an unfinished instance, withdrawing its task or timer.
    fn cancel_instance(&mut self, inst: Instance) {
        if self.run.status_of(inst).is_terminal() {
            return;
        }
        self.withdraw(inst);
        self.step_event(inst, StepStatus::Cancelled, EventType::StepCancelled);
    }

    /// Cancels every unfinished instance, in definition order with map
    /// items after their map.
    fn cancel_everything(&mut self) {
        let nodes: Vec<NodeIndex> = self.wf.steps().map(|(v, _)| v).collect();
        for node in nodes {
            if let Some(count) = self.run.maps.get(&node).map(|m| m.runs.len()) {
                for index in 0..count {
                    self.cancel_instance(Instance::item(node, index));
                }
            } else if !self.run.in_template(node) {
                self.cancel_instance(Instance::step(node));
            }
        }
        self.work.clear();
        self.run.hold = None;
    }

    /// A failure with nowhere to go: everything unfinished is cancelled
    /// and the run fails with `code`.
    pub(super) fn fail_run(&mut self, code: ErrorCode, error: String) {
        self.cancel_everything();
        // The run timer that fired is spent already; any other is withdrawn.
        if code != ErrorCode::RunTimeout {
            self.disarm_run_timer();
        }
        let retry_from = self.first_unrecovered_failure();
        self.run.status = RunStatus::Failed;
        self.run.completed_ms = Some(self.now_ms);
        self.run.error = Some(error.clone());
        self.run.error_code = Some(code);
        self.run.can_retry_from = retry_from.clone();
        let total = self.run.total_cost_cents;
        let duration_ms = self.run_duration_ms();
        let event = self.emit(EventType::RunFailed, None, RunStatus::Failed.as_str());
        event.error = Some(error);
        event.total_cost_cents = Some(total);
        event.can_retry_from = retry_from;
        event.duration_ms = duration_ms;
        event.data = Some(json!({ "code": code.as_str() }));
    }

    /// Withdraws the run's timeout timer, when the workflow set one.
    pub(super) fn disarm_run_timer(&mut self) {
        if self.wf.definition().timeout > 0 {
            self.out.effects.push(Effect::CancelTimer { step: RUN_TIMER_KEY.to_owned() });
        }
    }

    /// `Cancel`: everything unfinished is cancelled; completed outputs stay.
    pub(super) fn cancel_run(&mut self, reason: String) {
        // A queued run never starts now, and never armed its timer.
        let was_queued = self.run.queued.take().is_some();
        self.cancel_everything();
        self.run.status = RunStatus::Cancelled;
        self.run.completed_ms = Some(self.now_ms);
        self.run.cancel_reason = Some(reason.clone());
        if !was_queued {
            self.disarm_run_timer();
        }
        let total = self.run.total_cost_cents;
        let duration_ms = self.run_duration_ms();
        let event = self.emit(EventType::RunCancelled, None, RunStatus::Cancelled.as_str());
        event.total_cost_cents = Some(total);
        event.duration_ms = duration_ms;
        event.data = Some(json!({ "reason": reason }));
    }
}
