//! Waiting, briefly, for a run just started to settle: to pause for
//! something outside it (an approval, a wait event, PauseRun) or to end.
//! StartRun's `settle_wait_ms` uses it so that a run which pauses or
//! finishes within a moment is answered as it then is, not as "running".
//!
//! The wait wakes on the run's live events and reads the run again; it
//! also reads it every [`SETTLE_POLL`], since with several replicas the
//! events may be committed elsewhere.

use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::engine::EngineError;
use crate::engine::runs::{RunDetail, RunEngine};
use crate::model::RunStatus;

/// Longest time between two reads of the run while waiting.
const SETTLE_POLL: Duration = Duration::from_millis(200);

/// Whether a run in `status` has settled: nothing more happens to it
/// without something from outside (or ever).
fn settled(status: RunStatus) -> bool {
    match status {
        RunStatus::Queued | RunStatus::Pending | RunStatus::Running => false,
        RunStatus::Paused | RunStatus::Completed | RunStatus::Failed | RunStatus::Partial | RunStatus::Cancelled => {
            true
        }
    }
}

impl RunEngine {
    /// The run `run_id` once it has settled, or as it is when `wait`
    /// passes first (or the server begins to stop).
    pub async fn settle(&self, tenant: &str, run_id: &str, wait: Duration) -> Result<RunDetail, EngineError> {
        let deadline = Instant::now() + wait;
        // Subscribed before the first read, so no event falls in between.
        let mut live = self.subscribe();
        let mut closing = self.closing();
        loop {
            let detail = self.get(tenant, run_id).await?;
            if settled(detail.0.status) || Instant::now() >= deadline || *closing.borrow() {
                return Ok(detail);
            }
            let wake = deadline.min(Instant::now() + SETTLE_POLL);
            tokio::select! {
                () = next_event_of(&mut live, run_id) => {}
                () = tokio::time::sleep_until(wake) => {}
                _ = closing.changed() => {}
            }
        }
    }
}

/// Returns at the next live event of `run_id`, or when events may have
/// been missed (the run is read again either way).
async fn next_event_of(live: &mut broadcast::Receiver<std::sync::Arc<crate::model::EventRecord>>, run_id: &str) {
    loop {
        match live.recv().await {
            Ok(event) if event.run_id != run_id => {}
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => return,
            // No more live events: the poll keeps the wait going.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}
