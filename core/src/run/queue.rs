//! A run over its workflow's concurrent-run limit: `Enqueue` creates it
//! Queued, keeping the start it will apply, and `Admit` applies that start
//! once the run's owner gives it a slot. Which run gets a slot, and when,
//! is the engine's business (it counts slots across replicas); the core
//! only guarantees that a queued run has started nothing, that `Admit`
//! starts it exactly as a direct start would have, and that a queued run
//! can be cancelled.

use super::command::DeferredStart;
use super::outcome::EventType;
use super::status::RunStatus;
use super::tx::Tx;

impl Tx<'_> {
    /// `Enqueue`: the run waits, Queued, with its start kept.
    pub(super) fn enqueue(&mut self, start: DeferredStart) {
        self.run.status = RunStatus::Queued;
        self.run.queued = Some(Box::new(start));
        self.emit(EventType::RunQueued, None, RunStatus::Queued.as_str());
    }

    /// `Admit`: the queued start is applied now. A queued run always
    /// holds its start; one without (impossible by construction) starts
    /// with no input rather than panicking.
    pub(super) fn admit(&mut self) {
        let start = self.run.queued.take().map_or_else(
            || DeferredStart {
                input: serde_json::Value::Null,
                shared_state: serde_json::Value::Null,
                origin: None,
                reused: Vec::new(),
            },
            |start| *start,
        );
        self.start_run(start.input, start.shared_state, start.origin.as_ref(), &start.reused);
    }
}
