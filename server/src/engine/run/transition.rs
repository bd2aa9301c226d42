//! [`transition`]: applies one command to a run. Commands are checked
//! before anything changes, so a refused command leaves the state as it
//! was; an accepted one is applied in full, pure steps included.

use std::collections::BTreeSet;
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::{Value, json};

use super::command::{Command, RUN_TIMER_KEY, TransitionError};
use super::command::{RetryOrigin, ReusedStep};
use super::document;
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::outcome::{Effect, EventType, Outcome, RunEvent};
use super::pause::{StepPause, normalize_option};
use super::state::RunState;
use super::status::{RunStatus, StepStatus};
use crate::engine::compile::{CompiledWorkflow, StepKind};
use crate::model::json_limits::check_depth;

/// Applies `command` to `run` and says what to record and what to do.
///
/// Deterministic: the same state and command always give the same state,
/// events and effects. Pure steps that become ready (transform, condition,
/// the structure of parallel and map) are computed within the call, so the
/// returned state only waits on external work, timers or nothing.
///
/// Fails, changing nothing, when the run is terminal, not started (step
/// commands) or already started (`Start`), when the instance is unknown or
/// not in flight, or when the attempt is not the current one.
pub fn transition(run: &mut RunState, command: Command) -> Result<Outcome, TransitionError> {
    match command {
        Command::Start { input, shared_state, now_ms } => {
            check_pending(run)?;
            let mut tx = Tx::new(run, now_ms);
            tx.start_run(input, shared_state, None, &[]);
            Ok(tx.out)
        }
        Command::StartFrom { input, shared_state, origin, reused, now_ms } => {
            check_pending(run)?;
            let mut tx = Tx::new(run, now_ms);
            tx.start_run(input, shared_state, Some(&origin), &reused);
            Ok(tx.out)
        }
        Command::TimerFired { step, now_ms } if step == RUN_TIMER_KEY => {
            match run.status {
                RunStatus::Pending => return Err(TransitionError::NotStarted),
                status if status.is_terminal() => return Err(TransitionError::Finished { status }),
                _ => {}
            }
            let mut tx = Tx::new(run, now_ms);
            let seconds = tx.wf.definition().timeout;
            tx.fail_run(ErrorCode::RunTimeout, format!("the run did not finish within its timeout of {seconds} s"));
            Ok(tx.out)
        }
        Command::StepSucceeded { step, attempt, output, cost_cents, now_ms, state_writes } => {
            let inst = accept_attempt(run, &step, attempt)?;
            if let Some(writes) = &state_writes {
                let declared = run.workflow.step_def(inst.node).map(|d| d.state_writes.clone()).unwrap_or_default();
                let keys: Vec<String> = writes.keys().filter(|k| !declared.contains(k)).cloned().collect();
                if !keys.is_empty() {
                    return Err(TransitionError::UndeclaredStateWrites { step, keys, declared });
                }
            }
            let mut tx = Tx::new(run, now_ms);
            tx.state_writes = state_writes.map(|writes| (inst, writes));
            tx.add_cost(inst, cost_cents);
            if tx.run.total_over_cap(0).is_some() {
                // The work is done and paid for: keep it, then stop the run.
                tx.take_output(inst, output, cost_cents);
                tx.enforce_total_cap();
            } else if let Some((cost, limit)) = tx.run.step_over_cap(inst, 0) {
                tx.pause_over_cost(inst, cost, limit, Some(output));
            } else {
                tx.take_output(inst, output, cost_cents);
                tx.advance();
            }
            Ok(tx.out)
        }
        Command::StepFailed { step, attempt, error, retryable, cost_cents, now_ms } => {
            let inst = accept_attempt(run, &step, attempt)?;
            let mut tx = Tx::new(run, now_ms);
            tx.add_cost(inst, cost_cents);
            if !tx.enforce_total_cap() {
                tx.attempt_failed(inst, error, retryable, cost_cents);
                tx.advance();
            }
            Ok(tx.out)
        }
        Command::LeaseExpired { step, attempt, now_ms } => {
            // A worker may vanish while its step is paused, too.
            let inst = accept_attempt_in(
                run,
                &step,
                attempt,
                &[StepStatus::Running, StepStatus::Paused, StepStatus::Waiting],
            )?;
            // A waiting webhook holds its lease until its callback deadline;
            // it expires here when the server restarted during the wait.
            let error = if run.status_of(inst) == StepStatus::Waiting {
                format!("no callback arrived for attempt {attempt} before its deadline")
            } else {
                format!("the worker's lease on attempt {attempt} ran out without a heartbeat")
            };
            let mut tx = Tx::new(run, now_ms);
            tx.lease_lost_while_paused(inst, "system:lease_expired");
            tx.attempt_failed_as(inst, ErrorCode::LeaseExpired, error, true, 0);
            tx.advance();
            Ok(tx.out)
        }
        Command::StepTimedOut { step, attempt, timeout_ms, now_ms } => {
            // The clock runs from the claim, pauses included.
            let inst = accept_attempt_in(run, &step, attempt, &[StepStatus::Running, StepStatus::Paused])?;
            let timeout = humantime::format_duration(std::time::Duration::from_millis(timeout_ms.max(0) as u64));
            let error = format!("attempt {attempt} passed the step's timeout of {timeout}");
            let mut tx = Tx::new(run, now_ms);
            tx.lease_lost_while_paused(inst, "system:step_timeout");
            tx.attempt_failed_as(inst, ErrorCode::StepTimeout, error, true, 0);
            tx.advance();
            Ok(tx.out)
        }
        Command::OutputRejected { step, attempt, error, fault, cost_cents, now_ms } => {
            let inst = accept_attempt(run, &step, attempt)?;
            let mut tx = Tx::new(run, now_ms);
            tx.add_cost(inst, cost_cents);
            if !tx.enforce_total_cap() {
                tx.attempt_failed_as(inst, fault.code(), error, false, cost_cents);
                tx.advance();
            }
            Ok(tx.out)
        }
        Command::TimerFired { step, now_ms } => {
            let inst = find_live(run, &step)?;
            let status = run.status_of(inst);
            let approval = matches!(run.pauses.get(&inst), Some(StepPause::StepApproval { timed: true, .. }));
            if approval {
                let mut tx = Tx::new(run, now_ms);
                tx.expire_step_approval(inst);
                return Ok(tx.out);
            }
            if matches!(run.pauses.get(&inst), Some(StepPause::Event { timed: true, .. })) {
                let mut tx = Tx::new(run, now_ms);
                tx.expire_wait(inst);
                return Ok(tx.out);
            }
            if status != StepStatus::Waiting || run.kind(inst.node) != StepKind::Delay {
                return Err(TransitionError::NotInFlight { step, status, expected: "waiting on a timer".into() });
            }
            let mut tx = Tx::new(run, now_ms);
            tx.complete(inst, json!({}), None);
            tx.advance();
            Ok(tx.out)
        }
        Command::ToolApprovalRequested { step, attempt, approval_id, tool, arguments, now_ms } => {
            let inst = accept_attempt(run, &step, attempt)?;
            let mut tx = Tx::new(run, now_ms);
            tx.request_tool_approval(inst, approval_id, tool, arguments);
            Ok(tx.out)
        }
        Command::CostReported { step, attempt, cost_cents, now_ms } => {
            let inst = accept_attempt(run, &step, attempt)?;
            if run.total_over_cap(cost_cents).is_some() {
                let mut tx = Tx::new(run, now_ms);
                // The attempt ends here: what it spent is the step's cost.
                tx.add_cost(inst, cost_cents);
                tx.enforce_total_cap();
                return Ok(tx.out);
            }
            let Some((cost, limit)) = run.step_over_cap(inst, cost_cents) else {
                return Err(TransitionError::WithinCaps { step });
            };
            let mut tx = Tx::new(run, now_ms);
            tx.pause_over_cost(inst, cost, limit, None);
            Ok(tx.out)
        }
        Command::Answer { step, option, decided_by, comment, approval_id, now_ms } => {
            let inst = find_live(run, &step)?;
            let Some(pause) = run.pauses.get(&inst) else {
                return Err(TransitionError::NotPaused { step, status: run.status_of(inst) });
            };
            if approval_id.is_some() && approval_id.as_deref() != pause.approval_id() {
                return Err(TransitionError::NotPaused { step, status: run.status_of(inst) });
            }
            let option = normalize_option(&option);
            if !pause.takes(&option) {
                return Err(TransitionError::BadAnswer { step, option, options: pause.options() });
            }
            let mut tx = Tx::new(run, now_ms);
            tx.answer(inst, &option, &decided_by, &comment);
            Ok(tx.out)
        }
        Command::Event { event, payload, now_ms } => {
            match run.status {
                RunStatus::Pending => return Err(TransitionError::NotStarted),
                status if status.is_terminal() => return Err(TransitionError::Finished { status }),
                _ => {}
            }
            let waiting = run.pauses.iter().find_map(|(inst, pause)| match pause {
                StepPause::Event { event: name, .. } if *name == event => Some(*inst),
                _ => None,
            });
            let Some(inst) = waiting else {
                return Err(TransitionError::NoWait { event });
            };
            let mut tx = Tx::new(run, now_ms);
            tx.deliver_event(inst, payload);
            Ok(tx.out)
        }
        Command::Pause { reason, now_ms } => {
            match run.status {
                RunStatus::Running => {}
                RunStatus::Pending => return Err(TransitionError::NotStarted),
                status => return Err(TransitionError::NotRunning { status }),
            }
            let mut tx = Tx::new(run, now_ms);
            tx.hold(reason);
            Ok(tx.out)
        }
        Command::Continue { from_step, now_ms } => {
            match run.status {
                RunStatus::Pending => return Err(TransitionError::NotStarted),
                status if status.is_terminal() => return Err(TransitionError::Finished { status }),
                _ => {}
            }
            let rewind = match from_step {
                Some(step) => Some(run.check_rewind(&step)?),
                None if run.hold.is_none() => return Err(TransitionError::NotHeld { status: run.status }),
                None => None,
            };
            let mut tx = Tx::new(run, now_ms);
            if let Some(plan) = rewind {
                tx.rewind(plan);
            }
            if tx.run.hold.is_some() {
                tx.release();
            } else {
                tx.revisit_all();
                tx.advance();
            }
            Ok(tx.out)
        }
        Command::Cancel { reason, now_ms } => {
            if run.status.is_terminal() {
                return Err(TransitionError::Finished { status: run.status });
            }
            let mut tx = Tx::new(run, now_ms);
            tx.cancel_run(reason);
            Ok(tx.out)
        }
    }
}

/// `Start` and `StartFrom` need a run that has not started.
fn check_pending(run: &RunState) -> Result<(), TransitionError> {
    match run.status {
        RunStatus::Pending => Ok(()),
        status if status.is_terminal() => Err(TransitionError::Finished { status }),
        _ => Err(TransitionError::AlreadyStarted),
    }
}

/// The instance `key` names, in a started, live run.
fn find_live(run: &RunState, key: &str) -> Result<Instance, TransitionError> {
    match run.status {
        RunStatus::Pending => return Err(TransitionError::NotStarted),
        status if status.is_terminal() => return Err(TransitionError::Finished { status }),
        _ => {}
    }
    run.locate(key).ok_or_else(|| TransitionError::UnknownStep(key.to_owned()))
}

/// The instance a worker reports on, when it runs external work at `attempt`.
/// (External work is Waiting only for a webhook awaiting its callback.)
fn accept_attempt(run: &RunState, key: &str, attempt: u32) -> Result<Instance, TransitionError> {
    accept_attempt_in(run, key, attempt, &[StepStatus::Running, StepStatus::Waiting])
}

/// [`accept_attempt`], with the instance in one of `statuses`.
fn accept_attempt_in(
    run: &RunState,
    key: &str,
    attempt: u32,
    statuses: &[StepStatus],
) -> Result<Instance, TransitionError> {
    let inst = find_live(run, key)?;
    let status = run.status_of(inst);
    if !statuses.contains(&status) || !is_external(run.kind(inst.node)) {
        let expected = "running external work";
        return Err(TransitionError::NotInFlight { step: key.to_owned(), status, expected: expected.into() });
    }
    let current = run.record(inst).map_or(0, |r| r.attempts);
    if attempt != current {
        return Err(TransitionError::StaleAttempt { step: key.to_owned(), attempt, current });
    }
    Ok(inst)
}

/// Step types whose work happens outside the transition, as a task.
pub(super) fn is_external(kind: StepKind) -> bool {
    !matches!(
        kind,
        StepKind::Transform
            | StepKind::Condition
            | StepKind::Parallel
            | StepKind::Map
            | StepKind::Loop
            | StepKind::Delay
            | StepKind::Approval
            | StepKind::Wait
    )
}

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
    fn new(run: &'r mut RunState, now_ms: i64) -> Self {
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

    /// Starts the run: arms its timeout, takes over the outputs a retry
    /// reuses, then runs whatever is ready.
    fn start_run(&mut self, input: Value, shared_state: Value, origin: Option<&RetryOrigin>, reused: &[ReusedStep]) {
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

    /// Takes a worker's output for an instance: a planner's plan is checked
    /// and spliced, any other step completes with it.
    pub(super) fn take_output(&mut self, inst: Instance, output: Value, cost_cents: i64) {
        if self.run.kind(inst.node) == StepKind::Planner {
            self.apply_plan(inst, output, cost_cents);
        } else {
            self.complete(inst, output, Some(cost_cents));
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
        if let Some(def) = self.wf.step_def(inst.node)
            && !def.state_writes.is_empty()
        {
            document::write_state(&mut self.run.document, &def.state_writes, &output);
        }
        if let Some(writes) = self.take_state_writes(inst) {
            let keys: Vec<String> = writes.keys().cloned().collect();
            document::write_state(&mut self.run.document, &keys, &Value::Object(writes));
        }
        match inst.item {
            None => {
                document::set_output(&mut self.run.document, &id, output);
                self.touch(inst.node);
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
