//! The timer loop: sleeps until the earliest armed timer (or until a new,
//! earlier one arrives) and sends `TimerFired` to the writer. The timer row
//! is deleted in the commit of that transition, so a timer fires once; a
//! duplicate firing is refused by `transition` and changes nothing.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::Request;
use crate::engine::clock::now_ms;
use crate::engine::run::Command;
use crate::model::TimerRecord;

/// Longest sleep with nothing armed; any arm wakes the loop earlier.
const IDLE: Duration = Duration::from_secs(3600);

pub(super) async fn run(
    mut arms: mpsc::UnboundedReceiver<TimerRecord>,
    requests: mpsc::Sender<Request>,
    mut shutdown: watch::Receiver<bool>,
) {
    // (due ms, run id, step key, tenant), earliest first.
    let mut due: BTreeSet<(i64, String, String, String)> = BTreeSet::new();
    let armed = crate::telemetry::metrics::engine::timers_armed();
    loop {
        // Cancelled timers stay until due (their firing changes nothing).
        armed.set(due.len() as f64);
        let sleep = match due.first() {
            Some((ms, ..)) => Duration::from_millis((*ms - now_ms()).max(0) as u64),
            None => IDLE,
        };
        tokio::select! {
            arm = arms.recv() => match arm {
                Some(t) => {
                    due.insert((t.due_ms, t.run_id, t.step_key, t.tenant_id));
                }
                None => break,
            },
            _ = tokio::time::sleep(sleep) => {
                let now = now_ms();
                while let Some(first) = due.first().filter(|t| t.0 <= now).cloned() {
                    due.remove(&first);
                    let (_, run_id, step, tenant) = first;
                    let command = Command::TimerFired { step, now_ms: now };
                    if requests.send(Request::Command { tenant, run_id, command, reply: None, inbox: None }).await.is_err() {
                        return;
                    }
                }
            }
            _ = shutdown.changed() => break,
        }
    }
}
