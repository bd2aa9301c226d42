//! The server-wide limit on how long a run may stay paused
//! (`[runs] max_paused_lifetime`): when a run becomes Paused (a step gate,
//! an approval or wait step, PauseRun) a timer is armed; when it runs
//! again or ends, the timer is withdrawn; when the timer fires on a run
//! still in that same pause, the run fails with RUN_TIMEOUT.
//!
//! The timer's key carries the time the pause began, so a timer of an
//! earlier pause (the timer loop fires withdrawn timers too) never ends a
//! later one. The limit itself is the server's setting, given to the run
//! by its owner before each command ([`RunState::set_max_paused_ms`]); it
//! shapes only the effects (timers), never the state, so replaying the
//! stored commands under another setting rebuilds the same run.

use super::command::TransitionError;
use super::error_code::ErrorCode;
use super::outcome::{Effect, Outcome};
use super::state::RunState;
use super::status::RunStatus;
use super::tx::Tx;

/// Prefix of the timer key of a pause; the rest is when the pause began
/// (ms since the epoch).
pub const PAUSED_TIMER_PREFIX: &str = "@paused:";

fn timer_key(since_ms: i64) -> String {
    format!("{PAUSED_TIMER_PREFIX}{since_ms}")
}

impl RunState {
    /// The server's longest pause, in ms (`None`: no limit), for the
    /// pauses that begin from now on.
    pub fn set_max_paused_ms(&mut self, max_paused_ms: Option<i64>) {
        self.max_paused_ms = max_paused_ms;
    }
}

/// After a command: notes when the run began or stopped being Paused,
/// arming or withdrawing the pause's timer.
pub(super) fn track(run: &mut RunState, before: RunStatus, outcome: &mut Outcome) {
    let paused = run.status == RunStatus::Paused;
    if (before == RunStatus::Paused) == paused {
        return;
    }
    let Some(now_ms) = outcome.events.last().map(|e| e.now_ms) else { return };
    if paused {
        let armed = run.max_paused_ms.is_some();
        run.paused_since = Some((now_ms, armed));
        if let Some(max) = run.max_paused_ms {
            let due_ms = now_ms.saturating_add(max);
            outcome.effects.push(Effect::ArmTimer { step: timer_key(now_ms), due_ms });
        }
    } else if let Some((since, true)) = run.paused_since.take() {
        outcome.effects.push(Effect::CancelTimer { step: timer_key(since) });
    }
}

/// `TimerFired` of a pause timer (`key` starts with
/// [`PAUSED_TIMER_PREFIX`]): fails the run when it is still in the pause
/// the timer was armed for.
pub(super) fn fire(run: &mut RunState, key: &str, now_ms: i64) -> Result<Outcome, TransitionError> {
    if run.status.is_terminal() {
        return Err(TransitionError::Finished { status: run.status });
    }
    let since = key[PAUSED_TIMER_PREFIX.len()..].parse::<i64>().ok();
    match (since, run.paused_since) {
        (Some(since), Some((current, _))) if since == current && run.status == RunStatus::Paused => {
            // This timer is spent: nothing to withdraw when the run fails.
            run.paused_since = None;
            let mut tx = Tx::new(run, now_ms);
            let seconds = (now_ms - since).max(0) / 1000;
            tx.fail_run(
                ErrorCode::RunTimeout,
                format!("the run stayed paused for {seconds} s, longer than the server allows (max_paused_lifetime)"),
            );
            Ok(tx.out)
        }
        // The timer of a pause that has ended: nothing it names is live.
        _ => Err(TransitionError::UnknownStep(key.to_owned())),
    }
}
