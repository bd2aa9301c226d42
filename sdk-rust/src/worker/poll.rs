//! Serving by long polls (the unary PollTask), for servers without the
//! ConnectWorker stream or when [`super::Worker::polling`] asks for it:
//! one poller per free slot, each claiming one task at a time, and
//! registering again by itself when a poll is told NOT_FOUND.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{Semaphore, watch};
use tonic::Code;

use super::link::Link;
use super::task::execute;
use super::{BACKOFF_FIRST, BACKOFF_LONGEST, Setup, Shared, backoff, pause_unless_stopped};
use crate::{Error, Weft, pb};

/// Most concurrent long polls of one worker (one per slot up to this).
const MAX_POLLERS: usize = 64;
/// How long one poll waits on the server for a task.
const POLL_WAIT_SECONDS: u32 = 20;
/// Least time between two registrations of one worker.
const MIN_REGISTRATION_GAP: std::time::Duration = std::time::Duration::from_secs(1);

/// What the pollers share beyond [`Shared`].
struct Pollers {
    shared: Arc<Shared>,
    weft: Weft,
    /// What to register again with.
    registration: pb::RegisterWorkerRequest,
    /// How many registrations went through: a poller told NOT_FOUND
    /// registers again only if none did since its poll went out.
    registrations: AtomicU64,
    /// Held while registering again, so pollers told NOT_FOUND together
    /// register once; holds when the last registration went through.
    registering: tokio::sync::Mutex<Instant>,
}

/// Registers, then polls until `stop`; then lets the tasks in flight
/// finish. Fails only if the registration does.
pub(super) async fn serve(setup: Setup, stop: watch::Receiver<bool>) -> Result<(), Error> {
    let weft = setup.weft.clone();
    let mut registration = setup.registration.clone();
    let registered = weft.workers().register_worker(registration.clone()).await?.into_inner();
    // Registering again keeps the id, the server-assigned one included.
    registration.worker_id = registered.worker_id.clone();
    let concurrency = setup.concurrency;
    let link = Link::Unary(weft.clone());
    let shared = Arc::new(Shared::new(setup, registered.worker_id, registered.lease_seconds, link));
    let pollers = Arc::new(Pollers {
        shared,
        weft,
        registration,
        registrations: AtomicU64::new(1),
        registering: tokio::sync::Mutex::new(Instant::now()),
    });
    let slots = Arc::new(Semaphore::new(concurrency));
    // One poller per slot, at most 64. Each poll takes one task and each
    // claim is made in the server's next group commit, so a poller takes
    // at most one task per commit or two: with 8 pollers a worker of
    // concurrency 64 was held to ~1,900 steps/s, with one per slot it
    // keeps its slots full (~3,700/s). An idle poll costs the server a
    // parked claim, nothing more.
    let running: Vec<_> = (0..concurrency.min(MAX_POLLERS))
        .map(|_| tokio::spawn(poll_loop(pollers.clone(), slots.clone(), stop.clone())))
        .collect();
    for poller in running {
        let _ = poller.await;
    }
    // Every slot back means every task in flight has finished.
    let _all = slots.acquire_many(concurrency as u32).await;
    Ok(())
}

async fn poll_loop(pollers: Arc<Pollers>, slots: Arc<Semaphore>, mut stop: watch::Receiver<bool>) {
    let shared = &pollers.shared;
    let mut failures = 0;
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            _ = stop.wait_for(|s| *s) => return,
        };
        let request = pb::PollTaskRequest {
            worker_id: shared.worker_id.clone(),
            agents: Vec::new(),
            wait_seconds: POLL_WAIT_SECONDS,
        };
        let registrations = pollers.registrations.load(Ordering::Acquire);
        let mut client = pollers.weft.workers();
        let sent = Instant::now();
        let polled = tokio::select! {
            polled = client.poll_task(request) => polled,
            _ = stop.wait_for(|s| *s) => return,
        };
        match polled {
            Ok(response) => {
                failures = 0;
                if let Some(task) = response.into_inner().task {
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        execute(shared, task, sent).await;
                        drop(permit);
                    });
                }
            }
            // The only thing a poll can find missing is this worker.
            Err(status) if status.code() == Code::NotFound => {
                drop(permit);
                if !register_again(&pollers, registrations, &mut stop).await {
                    return;
                }
            }
            Err(status) => {
                drop(permit);
                failures += 1;
                tracing::warn!(code = ?status.code(), message = status.message(), "poll failed");
                if !pause_unless_stopped(backoff(failures, BACKOFF_FIRST, BACKOFF_LONGEST), &mut stop).await {
                    return;
                }
            }
        }
    }
}

/// Registers the worker again after a poll sent when `seen` registrations
/// had gone through was told NOT_FOUND; retries with backoff until it
/// works. Does nothing when another poller registered meanwhile. False
/// when the worker stops first.
async fn register_again(pollers: &Pollers, seen: u64, stop: &mut watch::Receiver<bool>) -> bool {
    let mut last = pollers.registering.lock().await;
    if pollers.registrations.load(Ordering::Acquire) != seen {
        return true;
    }
    // A server that keeps forgetting the worker (say, a replica whose
    // clock is far off) must not turn this into a busy loop.
    if !pause_unless_stopped(MIN_REGISTRATION_GAP.saturating_sub(last.elapsed()), stop).await {
        return false;
    }
    let worker_id = &pollers.shared.worker_id;
    tracing::warn!(worker_id, "the server does not know this worker (any more); registering again");
    let mut failures = 0;
    loop {
        if *stop.borrow() {
            return false;
        }
        match pollers.weft.workers().register_worker(pollers.registration.clone()).await {
            Ok(_) => {
                *last = Instant::now();
                pollers.registrations.fetch_add(1, Ordering::AcqRel);
                return true;
            }
            Err(status) => {
                failures += 1;
                tracing::warn!(code = ?status.code(), message = status.message(), "registering again failed");
                if !pause_unless_stopped(backoff(failures, BACKOFF_FIRST, BACKOFF_LONGEST), stop).await {
                    return false;
                }
            }
        }
    }
}
