//! Behaviour of the run state machine, driven the way the writer will
//! drive it: commands in, events and effects out, a test standing in for
//! workers and the timer loop.

mod approval_step;
mod data;
mod depth;
mod failures;
mod flow;
mod leases;
mod loops;
mod map;
mod orders;
mod outbound_steps;
mod paused_lifetime;
mod policy;
mod properties;
mod queue;
mod retry;
mod run_hold;
mod seed;
mod semantics;
mod splice;
mod step_timeout;
mod timing;
mod unclaimed;
mod wait_forms;
mod wait_step;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::compile::{CompiledWorkflow, compile};
use crate::model::definition::Definition;

pub(super) fn workflow(value: Value) -> Arc<CompiledWorkflow> {
    let def: Definition = serde_json::from_value(value).expect("test definition deserializes");
    match compile(&def) {
        Ok(workflow) => Arc::new(workflow),
        Err(problems) => panic!("expected a valid definition, got {problems:#?}"),
    }
}

/// A run plus everything it produced, checked as it goes: event sequences
/// are consecutive from 1, and tasks are tracked from dispatch to their
/// end so a test can ask what is in flight.
#[derive(Clone)]
pub(super) struct Harness {
    pub(super) run: RunState,
    pub(super) events: Vec<RunEvent>,
    pub(super) effects: Vec<Effect>,
    /// Tasks dispatched and not yet finished or cancelled, by instance key.
    pub(super) tasks: BTreeMap<String, TaskDispatch>,
    /// Timers armed and not yet fired or cancelled: key → due.
    pub(super) timers: BTreeMap<String, i64>,
    pub(super) now_ms: i64,
    pub(super) transitions: usize,
}

impl Harness {
    pub(super) fn new(workflow: Arc<CompiledWorkflow>) -> Self {
        Self {
            run: RunState::new("wfrun_test", "wf_test", 1, workflow),
            events: Vec::new(),
            effects: Vec::new(),
            tasks: BTreeMap::new(),
            timers: BTreeMap::new(),
            now_ms: 1_000,
            transitions: 0,
        }
    }

    pub(super) fn started(value: Value, input: Value) -> Self {
        let mut h = Self::new(workflow(value));
        h.start(input);
        h
    }

    pub(super) fn apply(&mut self, command: Command) -> Result<Outcome, TransitionError> {
        let outcome = transition(&mut self.run, command)?;
        self.transitions += 1;
        for event in &outcome.events {
            assert_eq!(event.sequence, self.events.len() as u64 + 1, "sequences are consecutive: {event:?}");
            self.events.push(event.clone());
        }
        assert_eq!(self.run.next_sequence(), self.events.len() as u64 + 1);
        for effect in &outcome.effects {
            match effect {
                Effect::DispatchTask(task) => {
                    self.tasks.insert(task.step.clone(), task.clone());
                }
                Effect::CancelTask { step } => {
                    assert!(self.tasks.remove(step).is_some(), "cancelled task {step} was in flight");
                }
                Effect::ArmTimer { step, due_ms } => {
                    self.timers.insert(step.clone(), *due_ms);
                }
                Effect::CancelTimer { step } => {
                    assert!(self.timers.remove(step).is_some(), "cancelled timer {step} was armed");
                }
                // The writer's rows; their events are checked by the tests.
                Effect::ApprovalOpened(_) | Effect::ApprovalDecided(_) => {}
            }
            self.effects.push(effect.clone());
        }
        Ok(outcome)
    }

    pub(super) fn start(&mut self, input: Value) -> Outcome {
        let now_ms = self.tick();
        self.apply(Command::Start { input, shared_state: Value::Null, now_ms }).expect("start is accepted")
    }

    fn tick(&mut self) -> i64 {
        self.now_ms += 10;
        self.now_ms
    }

    /// The task in flight for `key`; panics when there is none.
    pub(super) fn task(&self, key: &str) -> &TaskDispatch {
        self.tasks.get(key).unwrap_or_else(|| panic!("no task in flight for {key}; in flight: {:?}", self.keys()))
    }

    /// Keys of the tasks in flight.
    pub(super) fn keys(&self) -> Vec<String> {
        self.tasks.keys().cloned().collect()
    }

    pub(super) fn succeed(&mut self, key: &str, output: Value) -> Outcome {
        self.try_succeed(key, output, 0).unwrap_or_else(|e| panic!("completion of {key} refused: {e}"))
    }

    pub(super) fn try_succeed(
        &mut self,
        key: &str,
        output: Value,
        cost_cents: i64,
    ) -> Result<Outcome, TransitionError> {
        let attempt = self.tasks.get(key).map_or(1, |t| t.attempt);
        let now_ms = self.tick();
        let command =
            Command::StepSucceeded { step: key.to_owned(), attempt, output, cost_cents, now_ms, state_writes: None };
        let outcome = self.apply(command)?;
        self.tasks.remove(key);
        Ok(outcome)
    }

    pub(super) fn fail(&mut self, key: &str, error: &str, retryable: bool) -> Outcome {
        let attempt = self.task(key).attempt;
        let now_ms = self.tick();
        self.tasks.remove(key);
        let command = Command::StepFailed {
            step: key.to_owned(),
            attempt,
            error: error.to_owned(),
            retryable,
            cost_cents: 0,
            now_ms,
        };
        self.apply(command).unwrap_or_else(|e| panic!("failure of {key} refused: {e}"))
    }

    pub(super) fn fire(&mut self, key: &str) -> Outcome {
        let now_ms = self.timers.remove(key).unwrap_or_else(|| panic!("no timer armed for {key}"));
        self.apply(Command::TimerFired { step: key.to_owned(), now_ms }).expect("timer is accepted")
    }

    pub(super) fn status(&self, key: &str) -> StepStatus {
        self.run.step(key).unwrap_or_else(|| panic!("no step {key}")).status
    }

    pub(super) fn output(&self, key: &str) -> Option<Value> {
        self.run.step(key).and_then(|s| s.output.cloned())
    }

    /// Event types with their step, e.g. "step.completed a".
    pub(super) fn trace(&self) -> Vec<String> {
        self.events
            .iter()
            .map(|e| match &e.step_id {
                Some(step) => format!("{} {step}", e.event_type.as_str()),
                None => e.event_type.as_str().to_owned(),
            })
            .collect()
    }
}
