//! Wait steps, in three forms:
//!
//! - an `event`: the step pauses as it starts, waiting for its named event
//!   (pendingAction type "event"), with a timer for its `timeout`. The event
//!   (ResumeRun's event form, [`super::Command::Event`]) completes it with
//!   the event's payload as its output. The pause itself is the shared
//!   step-pause machinery of `pause.rs`.
//! - a `duration`: exactly a delay (`delay.rs`); it completes with `{}`.
//! - a condition: the step waits (not paused: nothing outside the run can
//!   answer it) until its condition holds over the run state document. It
//!   is checked as the step starts and again whenever a step completes,
//!   which is when step outputs and shared state change; it then completes
//!   with `{}`.
//!
//! An event or condition wait whose timer (`timeout`) fires first completes
//! with output null and takes its `onTimeout` branch, so the steps that
//! depend on it are skipped; without `onTimeout` it fails with
//! WAIT_TIMEOUT, so its onStepFailure route applies.

use petgraph::graph::NodeIndex;
use serde_json::{Value, json};

use crate::compile::{CompiledKind, CompiledStep, StepKind, WaitTrigger};

use crate::run::error_code::ErrorCode;
use crate::run::instance::Instance;
use crate::run::outcome::{Effect, EventType};
use crate::run::pause::StepPause;
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Whether `node` is a wait step that timed out down its onTimeout
    /// branch: what depends on it is then the branch not taken.
    pub(in crate::run) fn took_timeout_branch(&self, node: NodeIndex) -> bool {
        self.run.kind(node) == StepKind::Wait
            && self.run.record(Instance::step(node)).and_then(|r| r.branch) == Some(true)
    }

    /// A wait step starts: it pauses until its event arrives, with a
    /// timer for its timeout when it has one.
    pub(super) fn open_wait(&mut self, inst: Instance, step: &CompiledStep, event: &str) {
        let event = event.to_owned();
        let timeout = step.timeout();
        let due_ms = timeout.map(|t| self.now_ms.saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 2)));
        self.begin(inst, StepStatus::Running);
        if let Some(due_ms) = due_ms {
            self.out.effects.push(Effect::ArmTimer { step: self.run.key(inst), due_ms });
        }
        self.open_pause(inst, StepPause::Event { event, due_ms });
    }

    /// The event a wait step waits for arrived: the step completes with
    /// the payload as its output.
    pub(in crate::run) fn deliver_event(&mut self, inst: Instance, payload: Value) {
        let Some(StepPause::Event { due_ms, .. }) = self.close_pause(inst) else { return };
        if due_ms.is_some() {
            self.out.effects.push(Effect::CancelTimer { step: self.run.key(inst) });
        }
        if let Some(record) = self.run.record_mut(inst) {
            record.branch = Some(false);
        }
        self.complete(inst, payload, None);
        self.advance();
    }

    /// A wait step's timer fired before its event: it completes with
    /// output null down its `onTimeout` branch, or fails with
    /// WAIT_TIMEOUT when it has none.
    pub(super) fn expire_wait(&mut self, inst: Instance) {
        let Some(StepPause::Event { event, .. }) = self.close_pause(inst) else { return };
        let data = self.wf.step(inst.node).map(|s| s.data());
        let routed = matches!(data, Some(CompiledKind::Wait { on_timeout: true, .. }));
        if routed {
            if let Some(record) = self.run.record_mut(inst) {
                record.branch = Some(true);
            }
            self.complete(inst, Value::Null, None);
            // Marked, so a retry run reusing this step takes the same branch
            // (the null output alone cannot tell).
            let completed = self.out.events.iter_mut().rev().find(|e| e.event_type == EventType::StepCompleted);
            if let Some(event) = completed {
                event.data = Some(serde_json::json!({ "timedOut": true }));
            }
        } else {
            let message = format!("step '{}' timed out waiting for event '{event}'", self.run.key(inst));
            self.step_failed_as(inst, ErrorCode::WaitTimeout, message);
        }
        self.advance();
    }

    /// A condition wait starts: done at once when its condition holds,
    /// else waiting, with a timer for its timeout when it has one.
    pub(super) fn start_condition_wait(&mut self, inst: Instance, step: &CompiledStep) {
        self.begin(inst, StepStatus::Waiting);
        if self.condition_holds(step) {
            return self.condition_met(inst);
        }
        if let Some(timeout) = step.timeout() {
            let due_ms = self.now_ms.saturating_add(i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 2));
            self.out.effects.push(Effect::ArmTimer { step: self.run.key(inst), due_ms });
        }
    }

    /// Something changed: a waiting condition wait whose condition now
    /// holds completes. Other waiting steps are left alone.
    pub(in crate::run) fn recheck_condition_wait(&mut self, inst: Instance) {
        let wf = std::sync::Arc::clone(&self.wf);
        let Some(step) = wf.step(inst.node) else { return };
        if self.run.wait_trigger(inst.node) != Some(&WaitTrigger::Condition) || !self.condition_holds(step) {
            return;
        }
        if step.timeout().is_some() {
            self.out.effects.push(Effect::CancelTimer { step: self.run.key(inst) });
        }
        self.condition_met(inst);
    }

    /// Whether a duration or condition wait has a timer of its own armed
    /// (an event wait's timer belongs to its pause).
    pub(in crate::run) fn wait_timer_armed(&self, inst: Instance) -> bool {
        if self.run.status_of(inst) != StepStatus::Waiting {
            return false;
        }
        match self.run.wait_trigger(inst.node) {
            Some(WaitTrigger::Duration(_)) => true,
            Some(WaitTrigger::Condition) => self.wf.step(inst.node).and_then(|s| s.timeout()).is_some(),
            Some(WaitTrigger::Event(_)) | None => false,
        }
    }

    /// A condition wait's timer fired before its condition held.
    pub(super) fn expire_condition_wait(&mut self, inst: Instance) {
        let data = self.wf.step(inst.node).map(|s| s.data());
        if matches!(data, Some(CompiledKind::Wait { on_timeout: true, .. })) {
            if let Some(record) = self.run.record_mut(inst) {
                record.branch = Some(true);
            }
            self.complete(inst, Value::Null, None);
            let completed = self.out.events.iter_mut().rev().find(|e| e.event_type == EventType::StepCompleted);
            if let Some(event) = completed {
                event.data = Some(json!({ "timedOut": true }));
            }
        } else {
            let message = format!("step '{}' timed out waiting for its condition", self.run.key(inst));
            self.step_failed_as(inst, ErrorCode::WaitTimeout, message);
        }
        self.advance();
    }

    fn condition_holds(&self, step: &CompiledStep) -> bool {
        step.condition().is_some_and(|c| c.evaluate(self.run.document()))
    }

    fn condition_met(&mut self, inst: Instance) {
        if let Some(record) = self.run.record_mut(inst) {
            record.branch = Some(false);
        }
        self.complete(inst, json!({}), None);
    }
}
