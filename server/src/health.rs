//! Whether this server should get traffic, as `grpc.health.v1` reports it
//! for every service: SERVING unless it is draining for shutdown, its store
//! does not answer, or its run writer stopped (the server then exits too,
//! so a supervisor restarts it and recovery replays its runs).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::store::Store;

/// How often the store is asked whether it answers.
pub const PROBE_EVERY: Duration = Duration::from_millis(1500);
/// A probe that takes longer than this counts as unreachable.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What keeps the server from serving; it serves when none holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Conditions {
    /// Shutting down: connections are draining.
    pub draining: bool,
    /// The last store probe failed or timed out.
    pub store_unreachable: bool,
    /// The run writer ended before shutdown; the process is exiting.
    pub writer_stopped: bool,
}

impl Conditions {
    /// Whether the server should get traffic.
    pub fn serving(&self) -> bool {
        !(self.draining || self.store_unreachable || self.writer_stopped)
    }
}

/// The server's health; cheap to clone, every clone sees one state.
#[derive(Clone)]
pub struct Health(Arc<watch::Sender<Conditions>>);

impl Default for Health {
    fn default() -> Self {
        Self(Arc::new(watch::channel(Conditions::default()).0))
    }
}

impl Health {
    /// Serving, until a condition says otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shutting down: stop sending traffic here.
    pub fn set_draining(&self) {
        self.0.send_if_modified(|c| !std::mem::replace(&mut c.draining, true));
    }

    /// The outcome of a store probe.
    pub fn set_store_reachable(&self, reachable: bool) {
        self.0.send_if_modified(|c| std::mem::replace(&mut c.store_unreachable, !reachable) == reachable);
    }

    /// The run writer ended before shutdown.
    pub fn set_writer_stopped(&self) {
        self.0.send_if_modified(|c| !std::mem::replace(&mut c.writer_stopped, true));
    }

    /// The conditions now.
    pub fn conditions(&self) -> Conditions {
        *self.0.borrow()
    }

    /// Whether the server should get traffic now.
    pub fn serving(&self) -> bool {
        self.conditions().serving()
    }

    /// Keeps `reporter` telling every one of `services` what the conditions
    /// say, until every clone of this health is gone.
    pub async fn report(self, reporter: HealthReporter, services: &'static [&'static str]) {
        let mut conditions = self.0.subscribe();
        drop(self);
        loop {
            let serving = conditions.borrow_and_update().serving();
            let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
            for name in services {
                reporter.set_service_status(*name, status).await;
            }
            if conditions.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Asks the store a cheap question every [`PROBE_EVERY`] until `stop`, and
/// marks it unreachable while the answer is an error or comes too late.
pub async fn probe_store(health: Health, store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.changed() => return,
        }
        // One indexed read, tenant-free: the earliest lease deadline.
        let answered = tokio::time::timeout(PROBE_TIMEOUT, store.next_lease_deadline()).await;
        let reachable = matches!(answered, Ok(Ok(_)));
        // Said once per change, not every probe.
        let was_reachable = !health.conditions().store_unreachable;
        if reachable != was_reachable {
            match &answered {
                Ok(Ok(_)) => tracing::info!("the store answers again; serving"),
                Ok(Err(err)) => tracing::error!(error = %err, "the store does not answer; not serving"),
                Err(_) => tracing::error!(timeout = ?PROBE_TIMEOUT, "the store does not answer in time; not serving"),
            }
        }
        health.set_store_reachable(reachable);
    }
}
