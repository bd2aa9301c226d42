//! One home per step type: what each type does as it starts, when its
//! timer fires, when its work is withdrawn, and with a worker's output.
//! The dispatchers here are exhaustive `match`es over the type, so a new
//! type makes the compiler name every place it must decide (no trait
//! objects: the core stays deterministic and allocation-free).
//!
//! - `agent.rs`: agent steps, and the tasks workers run.
//! - `planner.rs`: a planner's plan, checked and spliced into the DAG.
//! - `transform.rs`, `condition.rs`: computed on the spot.
//! - `delay.rs`: a durable timer.
//! - `parallel.rs`, `map.rs`, `loop.rs`: structure; their sub-steps work.
//! - `approval.rs`, `wait.rs`: step pauses, answered by a person or an event.
//! - `outbound.rs`: webhook, http_request and script, run by the server.
//!
//! What every type shares (readiness, retries, failure routes, pauses,
//! rewinds) stays in the modules of `run/` that own it.

mod agent;
mod approval;
mod condition;
mod delay;
mod r#loop;
mod map;
mod outbound;
mod parallel;
mod planner;
mod transform;
mod wait;

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

pub use r#loop::DEFAULT_LOOP_ITERATIONS;

use super::command::{ReusedStep, TransitionError};
use super::instance::Instance;
use super::outcome::{Effect, Outcome};
use super::pause::StepPause;
use super::state::RunState;
use super::status::StepStatus;
use super::transition::find_live;
use super::tx::Tx;
use crate::compile::{CompiledKind, StepKind, WaitTrigger};

/// What a dispatched task carries besides its inputs.
#[derive(Debug, Default)]
pub(super) struct TaskParts {
    /// The task text: an agent's rendered task, or a built-in step's spec.
    pub(super) task: Option<String>,
    /// The agent name the task is for.
    pub(super) agent: Option<String>,
    /// The per-attempt timeout a worker's claim runs under.
    pub(super) timeout_ms: Option<i64>,
}

impl Tx<'_> {
    /// Starts a ready instance whose inputs were checked: pure steps are
    /// computed now, the rest become effects.
    pub(super) fn start_step(&mut self, inst: Instance) {
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(inst.node) else { return };
        match step.data() {
            CompiledKind::Agent { .. }
            | CompiledKind::Planner { .. }
            | CompiledKind::HttpRequest { .. }
            | CompiledKind::Script { .. } => self.start_task(inst),
            CompiledKind::Webhook { wait_for_callback, .. } => self.start_webhook(inst, *wait_for_callback),
            CompiledKind::Transform { role } => self.start_transform(inst, step, role),
            CompiledKind::Condition => self.start_condition(inst, step),
            CompiledKind::Delay { seconds } => self.start_delay(inst, *seconds),
            CompiledKind::Approval { action, message, options, default_approves } => {
                self.open_step_approval(inst, step, action, message.as_deref(), options, *default_approves)
            }
            CompiledKind::Wait { trigger, .. } => match trigger {
                WaitTrigger::Event(event) => self.open_wait(inst, step, event),
                WaitTrigger::Duration(seconds) => self.start_delay(inst, *seconds),
                WaitTrigger::Condition => self.start_condition_wait(inst, step),
            },
            CompiledKind::Parallel => self.start_parallel(inst),
            CompiledKind::Map { over, concurrency, .. } => self.start_map(inst.node, over, *concurrency),
            CompiledKind::Loop { driver, over, max_iterations, .. } => {
                self.start_loop(inst.node, *driver, over, *max_iterations)
            }
        }
    }

    /// A running step is looked at again: a structural one may finish,
    /// or start more items.
    pub(super) fn revisit_running(&mut self, node: NodeIndex) {
        match self.run.kind(node) {
            StepKind::Parallel => self.check_parallel(node),
            StepKind::Map => self.pump_map(node),
            StepKind::Loop => self.pump_loop(node),
            // Their progress comes from commands, not from other steps.
            StepKind::Agent
            | StepKind::Condition
            | StepKind::Delay
            | StepKind::Approval
            | StepKind::Webhook
            | StepKind::Transform
            | StepKind::Planner
            | StepKind::Wait
            | StepKind::HttpRequest
            | StepKind::Script => {}
        }
    }

    /// What the task of external work `inst` carries.
    pub(super) fn task_parts(&mut self, inst: Instance) -> TaskParts {
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(inst.node) else { return TaskParts::default() };
        match step.data() {
            CompiledKind::Agent { agent } | CompiledKind::Planner { agent } => self.agent_task(inst, step, agent),
            CompiledKind::Webhook { .. } | CompiledKind::HttpRequest { .. } | CompiledKind::Script { .. } => {
                self.outbound_task(inst, step)
            }
            // Computed inside the transition: never dispatched.
            CompiledKind::Parallel
            | CompiledKind::Condition
            | CompiledKind::Delay { .. }
            | CompiledKind::Approval { .. }
            | CompiledKind::Transform { .. }
            | CompiledKind::Map { .. }
            | CompiledKind::Loop { .. }
            | CompiledKind::Wait { .. } => TaskParts::default(),
        }
    }

    /// Takes a worker's output for an instance: a planner's plan is checked
    /// and spliced, any other step completes with it.
    pub(super) fn take_output(&mut self, inst: Instance, output: Value, cost_cents: i64) {
        match self.run.kind(inst.node) {
            StepKind::Planner => self.apply_plan(inst, output, cost_cents),
            StepKind::Agent
            | StepKind::Parallel
            | StepKind::Condition
            | StepKind::Delay
            | StepKind::Approval
            | StepKind::Webhook
            | StepKind::Transform
            | StepKind::Map
            | StepKind::Wait
            | StepKind::HttpRequest
            | StepKind::Script
            | StepKind::Loop => self.complete(inst, output, Some(cost_cents)),
        }
    }

    /// Withdraws what an unfinished instance has in flight, before it is
    /// cancelled or reset: the task of external work (running, or a
    /// webhook waiting for its callback), a delay's timer, or a pause
    /// (closing an open approval as expired, with its timer).
    pub(super) fn withdraw(&mut self, inst: Instance) {
        let status = self.run.status_of(inst);
        match status {
            StepStatus::Paused => return self.cancel_paused(inst),
            StepStatus::Running | StepStatus::Waiting => {}
            StepStatus::Pending
            | StepStatus::Ready
            | StepStatus::Completed
            | StepStatus::Failed
            | StepStatus::Skipped
            | StepStatus::Cancelled => return,
        }
        let step = self.run.key(inst);
        match self.run.kind(inst.node) {
            // A retry kept back by a hold has no task to withdraw.
            StepKind::Agent | StepKind::Planner | StepKind::Webhook | StepKind::HttpRequest | StepKind::Script => {
                if !self.retry_deferred(inst) {
                    self.out.effects.push(Effect::CancelTask { step });
                }
            }
            StepKind::Delay => self.out.effects.push(Effect::CancelTimer { step }),
            // An event wait holds its timer in its pause; a duration or
            // condition wait, unpaused, holds its own.
            StepKind::Wait => {
                if self.wait_timer_armed(inst) {
                    self.out.effects.push(Effect::CancelTimer { step });
                }
            }
            // Approval steps hold their timer in their pause; the others
            // have nothing of their own in flight.
            StepKind::Approval
            | StepKind::Parallel
            | StepKind::Condition
            | StepKind::Transform
            | StepKind::Map
            | StepKind::Loop => {}
        }
    }

    /// The branch a step reused by a retry run took in its source run:
    /// a condition's result, a wait's timeout.
    pub(super) fn reused_branch(&self, node: NodeIndex, reused: &ReusedStep) -> Option<bool> {
        match self.run.kind(node) {
            StepKind::Condition => reused.output.get("result").and_then(Value::as_bool),
            StepKind::Wait => Some(reused.timed_out),
            StepKind::Agent
            | StepKind::Parallel
            | StepKind::Delay
            | StepKind::Approval
            | StepKind::Webhook
            | StepKind::Transform
            | StepKind::Map
            | StepKind::Planner
            | StepKind::HttpRequest
            | StepKind::Script
            | StepKind::Loop => None,
        }
    }
}

/// `TimerFired` for an instance's timer: an approval's timeout applies its
/// default action, a wait's takes its onTimeout branch, a delay completes.
/// Refused, changing nothing, when the instance is not waiting on a timer.
pub(super) fn timer_fired(run: &mut RunState, step: String, now_ms: i64) -> Result<Outcome, TransitionError> {
    let inst = find_live(run, &step)?;
    let status = run.status_of(inst);
    let pause = run.pauses.get(&inst);
    // One exhaustive match over the kinds decides whether the timer is the
    // instance's, and which of the three timed steps it ends.
    enum Fire {
        Approval,
        Wait,
        Delay,
        WaitCondition,
    }
    let fire = match run.kind(inst.node) {
        StepKind::Approval => {
            matches!(pause, Some(StepPause::StepApproval { due_ms: Some(_), .. })).then_some(Fire::Approval)
        }
        StepKind::Wait => match (pause, run.wait_trigger(inst.node)) {
            (Some(StepPause::Event { due_ms: Some(_), .. }), _) => Some(Fire::Wait),
            (None, Some(WaitTrigger::Duration(_))) if status == StepStatus::Waiting => Some(Fire::Delay),
            (None, Some(WaitTrigger::Condition)) if status == StepStatus::Waiting => Some(Fire::WaitCondition),
            _ => None,
        },
        StepKind::Delay => (status == StepStatus::Waiting).then_some(Fire::Delay),
        StepKind::Agent
        | StepKind::Parallel
        | StepKind::Condition
        | StepKind::Webhook
        | StepKind::Transform
        | StepKind::Map
        | StepKind::Planner
        | StepKind::HttpRequest
        | StepKind::Script
        | StepKind::Loop => None,
    };
    let Some(fire) = fire else {
        return Err(TransitionError::NotInFlight { step, status, expected: "waiting on a timer".into() });
    };
    let mut tx = Tx::new(run, now_ms);
    match fire {
        Fire::Approval => tx.expire_step_approval(inst),
        Fire::Wait => tx.expire_wait(inst),
        Fire::Delay => tx.delay_done(inst),
        Fire::WaitCondition => tx.expire_condition_wait(inst),
    }
    Ok(tx.out)
}
