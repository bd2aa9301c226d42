//! Serving over one `WorkerService.ConnectWorker` stream: its hello
//! registers the worker; the worker grants one credit per free slot (never
//! more than the server's limit of 1,000), runs each task the server
//! pushes, and sends the reports its tasks ask for (heartbeats,
//! completions, failures, tool checks), gathered into one message when
//! several are ready. Each answer goes back to the task that asked.
//!
//! A stream that breaks is opened again with backoff and the same worker
//! id (its hello registers the worker again, which also answers a server
//! that forgot it); credits are granted afresh for the slots free then.
//! Tasks in flight keep their leases meanwhile: their reports wait for the
//! new stream, within the lease. On shutdown the worker drains: no more
//! tasks, the ones in flight finish and report, then it half-closes and the
//! server ends the stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};

use super::link::{Asked, Link, answer_of};
use super::task::execute;
use super::{BACKOFF_FIRST, BACKOFF_LONGEST, Setup, Shared, backoff, pause_unless_stopped};
use crate::{Error, Weft, pb};

/// The most unused credits the server lets one stream hold.
const MAX_CREDITS: usize = 1_000;
/// The most reports the server takes in one message.
const MAX_REPORTS_PER_MESSAGE: usize = 256;
/// Reports waiting to be sent before the tasks asking wait too.
const QUEUED_REPORTS: usize = 1_024;

/// An open stream: where to send, what comes back, and the first message
/// (the welcome, perhaps with tasks).
pub(super) struct Connected {
    send: mpsc::Sender<pb::ConnectWorkerRequest>,
    receive: tonic::Streaming<pb::ConnectWorkerResponse>,
    first: pb::ConnectWorkerResponse,
    welcome: pb::RegisterWorkerResponse,
    /// Credits the hello granted.
    credits: usize,
}

/// Opens a stream whose hello registers `hello` and grants `credits`
/// (`drain` for a worker that is stopping).
async fn open(weft: &Weft, hello: pb::RegisterWorkerRequest, credits: usize, drain: bool) -> Result<Connected, Status> {
    let (send, outbound) = mpsc::channel(64);
    let first = pb::ConnectWorkerRequest { hello: Some(hello), credits: credits as u32, reports: Vec::new(), drain };
    let _ = send.send(first).await;
    let mut receive = weft.workers().connect_worker(ReceiverStream::new(outbound)).await?.into_inner();
    let first = receive.message().await?.ok_or_else(|| Status::unavailable("the stream ended before its welcome"))?;
    let welcome = first.welcome.clone().ok_or_else(|| Status::internal("the stream's first message has no welcome"))?;
    Ok(Connected { send, receive, first, welcome, credits })
}

/// The first stream of a worker. `None` when the server has no
/// ConnectWorker (UNIMPLEMENTED): the worker polls instead. Any other
/// refusal is the worker's error.
pub(super) async fn connect_first(setup: &Setup) -> Result<Option<Connected>, Error> {
    let credits = setup.concurrency.min(MAX_CREDITS);
    match open(&setup.weft, setup.registration.clone(), credits, false).await {
        Ok(connected) => Ok(Some(connected)),
        Err(status) if status.code() == Code::Unimplemented => Ok(None),
        Err(status) => Err(status.into()),
    }
}

/// Counts a task in flight until dropped, then says a slot is free.
struct InFlight {
    count: Arc<AtomicUsize>,
    freed: Arc<Notify>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.freed.notify_one();
    }
}

/// What woke a stream's loop.
enum Event {
    Message(Result<Option<pb::ConnectWorkerResponse>, Status>),
    Asked(Asked),
    Freed,
    Stop,
}

/// How a stream ended.
enum Ended {
    /// Drained and closed: the worker is done.
    Finished,
    /// Broken: open another.
    Lost(Status),
}

/// The worker's side of its streams, one after another.
struct Driver {
    shared: Arc<Shared>,
    weft: Weft,
    /// What each new stream's hello registers.
    registration: pb::RegisterWorkerRequest,
    /// Free slots at most, and at most the server's credit limit.
    capacity: usize,
    in_flight: Arc<AtomicUsize>,
    freed: Arc<Notify>,
    /// Credits the current stream holds unused, as far as the worker knows.
    outstanding: usize,
    draining: bool,
    asks: mpsc::Receiver<Asked>,
    stop: watch::Receiver<bool>,
}

/// Serves on `connected` and the streams after it until `stop`, then
/// drains. Never fails after the first stream opened.
pub(super) async fn serve(setup: Setup, connected: Connected, stop: watch::Receiver<bool>) -> Result<(), Error> {
    let (asker, asks) = mpsc::channel(QUEUED_REPORTS);
    let mut registration = setup.registration.clone();
    // Opening again keeps the id, the server-assigned one included.
    registration.worker_id = connected.welcome.worker_id.clone();
    let (weft, capacity) = (setup.weft.clone(), setup.concurrency.min(MAX_CREDITS));
    let welcome = connected.welcome.clone();
    let shared = Arc::new(Shared::new(setup, welcome.worker_id, welcome.lease_seconds, Link::Stream(asker)));
    let mut driver = Driver {
        shared,
        weft,
        registration,
        capacity,
        in_flight: Arc::new(AtomicUsize::new(0)),
        freed: Arc::new(Notify::new()),
        outstanding: connected.credits,
        draining: false,
        asks,
        stop,
    };
    let mut next = Some(connected);
    let mut failures = 0;
    loop {
        let connected = match next.take() {
            Some(connected) => connected,
            None => {
                if driver.draining && driver.idle() {
                    return Ok(());
                }
                let credits = if driver.draining { 0 } else { driver.capacity.saturating_sub(driver.in_flight()) };
                match open(&driver.weft, driver.registration.clone(), credits, driver.draining).await {
                    Ok(connected) => {
                        driver.outstanding = connected.credits;
                        connected
                    }
                    Err(status) => {
                        failures += 1;
                        tracing::warn!(code = ?status.code(), message = status.message(), "opening the worker stream failed");
                        driver.pause(failures).await;
                        continue;
                    }
                }
            }
        };
        match driver.run(connected).await {
            Ended::Finished => return Ok(()),
            Ended::Lost(status) => {
                failures = if status.code() == Code::NotFound { 0 } else { failures + 1 };
                tracing::warn!(code = ?status.code(), message = status.message(), "the worker stream broke; opening another");
                driver.pause(failures.max(1)).await;
            }
        }
    }
}

impl Driver {
    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Nothing left to report.
    fn idle(&self) -> bool {
        self.in_flight() == 0 && self.asks.is_empty()
    }

    /// Waits before opening another stream; a stop meanwhile starts the
    /// drain (the stream opened next only finishes the reports).
    async fn pause(&mut self, failures: u32) {
        if !pause_unless_stopped(backoff(failures, BACKOFF_FIRST, BACKOFF_LONGEST), &mut self.stop).await {
            self.draining = true;
        }
    }

    /// Credits to grant now: one per free slot not yet granted.
    fn grant(&mut self) -> u32 {
        if self.draining {
            return 0;
        }
        let free = self.capacity.saturating_sub(self.in_flight());
        let more = free.saturating_sub(self.outstanding);
        self.outstanding += more;
        more as u32
    }

    /// Runs a task pushed on the stream.
    fn start(&mut self, task: pb::Task) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight { count: self.in_flight.clone(), freed: self.freed.clone() };
        let shared = self.shared.clone();
        tokio::spawn(async move {
            execute(shared, task, Instant::now()).await;
            drop(guard);
        });
    }

    /// Serves one stream until it ends.
    async fn run(&mut self, connected: Connected) -> Ended {
        let Connected { send, mut receive, first, .. } = connected;
        let mut send = Some(send);
        let mut waiting: HashMap<u64, oneshot::Sender<Result<pb::report_answer::Answer, Status>>> = HashMap::new();
        let mut next_id: u64 = 1;
        self.take(first, &mut waiting);
        loop {
            // Drained: every task reported. Half-close; the server ends
            // the stream once it has answered everything.
            if self.draining && send.is_some() && self.idle() && waiting.is_empty() {
                send = None;
            }
            let open = send.is_some();
            let event = tokio::select! {
                message = receive.message() => Event::Message(message),
                Some(first) = self.asks.recv(), if open => Event::Asked(first),
                () = self.freed.notified(), if open => Event::Freed,
                _ = self.stop.wait_for(|stop| *stop), if !self.draining => Event::Stop,
            };
            let message = match event {
                Event::Message(Ok(Some(message))) => {
                    self.take(message, &mut waiting);
                    None
                }
                Event::Message(Ok(None)) if send.is_none() => return Ended::Finished,
                Event::Message(Ok(None)) => {
                    return Ended::Lost(Status::unavailable("the server ended the worker stream"));
                }
                Event::Message(Err(status)) => return Ended::Lost(status),
                Event::Asked(first) => {
                    let mut asked = vec![first];
                    while asked.len() < MAX_REPORTS_PER_MESSAGE {
                        match self.asks.try_recv() {
                            Ok(more) => asked.push(more),
                            Err(_) => break,
                        }
                    }
                    let mut reports = Vec::with_capacity(asked.len());
                    for Asked { report, answer } in asked {
                        reports.push(pb::WorkerReport { report_id: next_id, report: Some(report) });
                        waiting.insert(next_id, answer);
                        next_id += 1;
                    }
                    Some(pb::ConnectWorkerRequest { credits: self.grant(), reports, ..Default::default() })
                }
                Event::Freed => {
                    let credits = self.grant();
                    (credits > 0).then(|| pb::ConnectWorkerRequest { credits, ..Default::default() })
                }
                Event::Stop => {
                    self.draining = true;
                    self.outstanding = 0;
                    Some(pb::ConnectWorkerRequest { drain: true, ..Default::default() })
                }
            };
            if let (Some(message), Some(send)) = (message, &send)
                && send.send(message).await.is_err()
            {
                return Ended::Lost(Status::unavailable("the worker stream closed"));
            }
        }
    }

    /// Takes a message from the server: runs its tasks, routes its answers.
    fn take(
        &mut self,
        message: pb::ConnectWorkerResponse,
        waiting: &mut HashMap<u64, oneshot::Sender<Result<pb::report_answer::Answer, Status>>>,
    ) {
        for task in message.tasks {
            self.start(task);
        }
        for answer in message.answers {
            if let Some(asker) = waiting.remove(&answer.report_id) {
                let _ = asker.send(answer_of(answer));
            }
        }
    }
}
