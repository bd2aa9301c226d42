//! Following runs: event streams that replay from the store and then tail
//! the writer's live events without gap or duplicate, and starting a run to
//! follow it: waiting for it to finish (synchronous execution) or streaming
//! its events as it goes (streamed execution).
//!
//! A stream subscribes to live events *before* it reads the store, so an
//! event committed in between is seen either way; live events at or below
//! the last sequence sent are skipped. A subscriber that lags behind the
//! broadcast buffer, or sees a gap, goes back to the store.
//!
//! With several replicas, a run's events may be committed by another
//! replica, whose live events never reach this one: the follower reads the
//! store again when that replica's commit notice arrives, and every
//! [`TAIL_POLL`] anyway (the store is the truth; the notice only hurries).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use crate::engine::EngineError;
use crate::engine::cluster::link::notice_or_deadline;
use crate::engine::runs::{RunDetail, RunEngine, StartRun};
use crate::model::EventRecord;
use crate::store::{Notice, Store};

/// Events read from the store per query while replaying.
const REPLAY_PAGE: u32 = 500;
/// Events buffered between the follower task and a slow client.
const STREAM_BUFFER: usize = 64;
/// With several replicas: how long a follower waits without a live event
/// before it reads the store again.
const TAIL_POLL: Duration = Duration::from_millis(500);

/// Why a follower stopped reading live events.
enum Follow {
    /// The client went away, the run ended, or the server is stopping.
    Done,
    /// Events may have been missed: read the store again.
    Reread,
}

struct Follower {
    store: Arc<dyn Store>,
    tenant: String,
    run_id: String,
    last: u64,
    out: mpsc::Sender<Result<EventRecord, EngineError>>,
    closing: watch::Receiver<bool>,
    /// Several replicas: other replicas' commit notices, and this one's id.
    notices: Option<(broadcast::Receiver<Notice>, String)>,
}

/// Waits until another replica says it committed events of `run_id` (or
/// notices may have been lost), or `TAIL_POLL` passes; never returns on a
/// single replica.
async fn remote_events(notices: &mut Option<(broadcast::Receiver<Notice>, String)>, run_id: &str) {
    let Some((notices, replica)) = notices else { return std::future::pending().await };
    let from_elsewhere = |notice: &Notice| matches!(notice, Notice::Events { replica: from, run_id: run } if from != replica && run == run_id);
    notice_or_deadline(notices, tokio::time::Instant::now() + TAIL_POLL, from_elsewhere).await
}

impl Follower {
    /// Sends stored events after `last`; true when the terminal one was sent
    /// or the client is gone.
    async fn replay(&mut self) -> bool {
        loop {
            let page = self.store.list_run_events(&self.tenant, &self.run_id, self.last, REPLAY_PAGE).await;
            let events = match page {
                Ok(events) => events,
                Err(err) => {
                    let _ = self.out.send(Err(err.into())).await;
                    return true;
                }
            };
            let full = events.len() as u32 == REPLAY_PAGE;
            for event in events {
                if self.send(event).await {
                    return true;
                }
            }
            if !full {
                return false;
            }
        }
    }

    /// Sends one event; true when the stream is over.
    async fn send(&mut self, event: EventRecord) -> bool {
        self.last = event.sequence;
        let terminal = event.is_terminal();
        self.out.send(Ok(event)).await.is_err() || terminal
    }

    async fn follow(&mut self, live: &mut broadcast::Receiver<Arc<EventRecord>>) -> Follow {
        loop {
            let received = tokio::select! {
                received = live.recv() => received,
                _ = self.out.closed() => return Follow::Done,
                _ = self.closing.changed() => return Follow::Done,
                _ = remote_events(&mut self.notices, &self.run_id) => return Follow::Reread,
            };
            match received {
                Ok(event) if event.run_id != self.run_id || event.sequence <= self.last => {}
                Ok(event) if event.sequence > self.last + 1 => return Follow::Reread,
                Ok(event) => {
                    if self.send(event.as_ref().clone()).await {
                        return Follow::Done;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => return Follow::Reread,
                Err(broadcast::error::RecvError::Closed) => return Follow::Done,
            }
        }
    }
}

impl RunEngine {
    /// The events of a run after `after`: stored ones first, then live ones
    /// as they are committed; ends after the terminal event (at once after
    /// the replay for a finished run). NotFound for an unknown run.
    pub async fn stream_events(
        &self,
        tenant: &str,
        run_id: &str,
        after: u64,
    ) -> Result<mpsc::Receiver<Result<EventRecord, EngineError>>, EngineError> {
        let mut live = self.subscribe();
        let notices = self.scheduler().cluster().map(|link| (link.store.notices(), link.replica.clone()));
        let (run, _) = self.get(tenant, run_id).await?;
        let (out, receiver) = mpsc::channel(STREAM_BUFFER);
        let mut follower = Follower {
            store: self.store().clone(),
            tenant: tenant.to_string(),
            run_id: run_id.to_string(),
            last: after,
            out,
            closing: self.closing(),
            notices,
        };
        let finished = run.status.is_terminal();
        tokio::spawn(async move {
            loop {
                // A run finished before we looked has every event stored.
                if follower.replay().await || finished {
                    return;
                }
                match follower.follow(&mut live).await {
                    Follow::Done => return,
                    Follow::Reread => live = live.resubscribe(),
                }
            }
        });
        Ok(receiver)
    }

    /// Starts a run and streams its events from the first one until its
    /// terminal event; when `timeout` passes first, the stream ends with a
    /// Timeout error, and the run goes on unless `cancel_on_timeout`. An
    /// idempotency key naming an earlier run streams that run's events
    /// from the start. Start failures (unknown workflow, input failing the
    /// schema) are returned before any stream exists.
    pub async fn execute_stream(
        &self,
        tenant: &str,
        request: StartRun,
        timeout: Duration,
        cancel_on_timeout: bool,
    ) -> Result<mpsc::Receiver<Result<EventRecord, EngineError>>, EngineError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (run, _) = self.start(tenant, request).await?;
        let mut events = self.stream_events(tenant, &run.id, 0).await?;
        let (out, receiver) = mpsc::channel(STREAM_BUFFER);
        let engine = self.clone();
        let tenant = tenant.to_string();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    item = events.recv() => match item {
                        Some(item) => {
                            if out.send(item).await.is_err() {
                                return;
                            }
                        }
                        None => return,
                    },
                    _ = tokio::time::sleep_until(deadline) => {
                        if cancel_on_timeout {
                            // It may have finished meanwhile; then there is nothing to cancel.
                            let _ = engine.cancel(&tenant, &run.id, "execution timeout".into()).await;
                        }
                        let message = format!("run '{}' did not finish within {} s", run.id, timeout.as_secs());
                        let _ = out.send(Err(EngineError::Timeout { message, run_id: run.id })).await;
                        return;
                    }
                    _ = out.closed() => return,
                }
            }
        });
        Ok(receiver)
    }

    /// Starts a run and waits until it finishes or `timeout` passes; on
    /// timeout the run goes on, or is cancelled with `cancel_on_timeout`.
    pub async fn execute(
        &self,
        tenant: &str,
        request: StartRun,
        timeout: Duration,
        cancel_on_timeout: bool,
    ) -> Result<RunDetail, EngineError> {
        let started = self.start(tenant, request).await?;
        let run_id = started.0.id.clone();
        if started.0.status.is_terminal() {
            return Ok(started);
        }
        let mut closing = self.closing();
        let wait = async {
            loop {
                tokio::select! {
                    () = self.scheduler().finished(&run_id) => {}
                    // A waiting call must not hold the graceful drain open.
                    _ = closing.changed() => return Err(EngineError::Unavailable("the server is stopping; follow the run by id")),
                }
                let detail = self.get(tenant, &run_id).await?;
                if detail.0.status.is_terminal() {
                    return Ok(detail);
                }
                // Only a failed commit (the writer reloads the run) gets
                // here with the run still open: look again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => {
                if cancel_on_timeout {
                    // It may have finished meanwhile; then there is nothing to cancel.
                    let _ = self.cancel(tenant, &run_id, "execution timeout".into()).await;
                }
                Err(EngineError::Timeout {
                    message: format!("run '{run_id}' did not finish within {} s", timeout.as_secs()),
                    run_id,
                })
            }
        }
    }
}
