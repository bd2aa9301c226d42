//! Early retries of parked task claims when another replica queues tasks:
//! its commit NOTIFYs (tenant, agent, kind, count) and this replica's
//! writer retries that many matching claims. Every parked claim is also
//! retried every [`POLL`], which is all that happens when notices are off
//! or lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use super::link::ClusterLink;
use crate::engine::scheduler::RunScheduler;
use crate::store::Notice;

/// How often every parked claim is retried without a notice.
const POLL: Duration = Duration::from_millis(500);

pub(crate) async fn run(scheduler: RunScheduler, link: Arc<ClusterLink>, mut stop: watch::Receiver<bool>) {
    let mut notices = Some(link.store.notices());
    let mut poll = tokio::time::interval(POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let heard = async {
            match notices.as_mut() {
                Some(notices) => notices.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            notice = heard => match notice {
                Ok(Notice::Tasks { replica, .. }) if replica == link.replica => {}
                Ok(Notice::Tasks { tenant, agent, kind, count, .. }) => {
                    scheduler.recheck(Some((tenant, agent, kind, count))).await;
                }
                Ok(Notice::Lost) | Err(broadcast::error::RecvError::Lagged(_)) => scheduler.recheck(None).await,
                Ok(_) => {}
                // Notices are off: polling alone.
                Err(broadcast::error::RecvError::Closed) => notices = None,
            },
            _ = poll.tick() => scheduler.recheck(None).await,
            _ = stop.changed() => return,
        }
    }
}
