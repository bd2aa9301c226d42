//! [`transition`]: applies one command to a run. Commands are checked
//! before anything changes, so a refused command leaves the state as it
//! was; an accepted one is applied in full, pure steps included.

use super::command::{Command, RUN_TIMER_KEY, TransitionError};
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::outcome::Outcome;
use super::pause::{StepPause, normalize_option};
use super::paused_lifetime::{self, PAUSED_TIMER_PREFIX};
use super::state::RunState;
use super::status::{RunStatus, StepStatus};
use super::steps;
use super::tx::Tx;
use super::unclaimed;

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
    let before = run.status;
    let mut outcome = apply(run, command)?;
    paused_lifetime::track(run, before, &mut outcome);
    Ok(outcome)
}

/// [`transition`] before the pause timer is tracked.
fn apply(run: &mut RunState, command: Command) -> Result<Outcome, TransitionError> {
    match command {
        Command::TimerFired { step, now_ms } if step.starts_with(PAUSED_TIMER_PREFIX) => {
            paused_lifetime::fire(run, &step, now_ms)
        }
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
        Command::Enqueue { start, now_ms } => {
            check_pending(run)?;
            let mut tx = Tx::new(run, now_ms);
            tx.enqueue(start);
            Ok(tx.out)
        }
        Command::Admit { now_ms } => {
            match run.status {
                RunStatus::Queued => {}
                status if status.is_terminal() => return Err(TransitionError::Finished { status }),
                _ => return Err(TransitionError::AlreadyStarted),
            }
            let mut tx = Tx::new(run, now_ms);
            tx.admit();
            Ok(tx.out)
        }
        Command::TimerFired { step, now_ms } if step == RUN_TIMER_KEY => {
            match run.status {
                RunStatus::Pending | RunStatus::Queued => return Err(TransitionError::NotStarted),
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
                let declared =
                    run.workflow.step(inst.node).map(|s| s.shared().state_writes.clone()).unwrap_or_default();
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
        Command::TimerFired { step, now_ms } => steps::timer_fired(run, step, now_ms),
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
                RunStatus::Pending | RunStatus::Queued => return Err(TransitionError::NotStarted),
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
                RunStatus::Pending | RunStatus::Queued => return Err(TransitionError::NotStarted),
                status => return Err(TransitionError::NotRunning { status }),
            }
            let mut tx = Tx::new(run, now_ms);
            tx.hold(reason);
            Ok(tx.out)
        }
        Command::Continue { from_step, now_ms } => {
            match run.status {
                RunStatus::Pending | RunStatus::Queued => return Err(TransitionError::NotStarted),
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
        Command::TaskUnclaimed { step, attempt, agent, now_ms } => {
            // Only while the task waits: a held, paused or waiting
            // attempt is not the queue's to explain.
            let inst = accept_attempt_in(run, &step, attempt, &[StepStatus::Running])?;
            unclaimed::check_served_by_workers(run, inst, &step)?;
            unclaimed::check_not_noted(run, inst, &step, attempt)?;
            let mut tx = Tx::new(run, now_ms);
            tx.note_unclaimed(inst, attempt, agent);
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
pub(super) fn find_live(run: &RunState, key: &str) -> Result<Instance, TransitionError> {
    match run.status {
        RunStatus::Pending | RunStatus::Queued => return Err(TransitionError::NotStarted),
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
    if !statuses.contains(&status) || !run.kind(inst.node).is_external() {
        let expected = "running external work";
        return Err(TransitionError::NotInFlight { step: key.to_owned(), status, expected: expected.into() });
    }
    let current = run.record(inst).map_or(0, |r| r.attempts);
    if attempt != current {
        return Err(TransitionError::StaleAttempt { step: key.to_owned(), attempt, current });
    }
    Ok(inst)
}
