//! The fire loop: one task per process that starts the runs of due
//! schedules.
//!
//! It keeps only the schedules due soon in memory, a
//! `BTreeSet<(due ms, schedule id)>` re-read from the store every
//! `poll_interval_ms` (and at once when a change through this process
//! wakes it), so 10,000 schedules cost a query, not 10,000 timers, and
//! changes made through another replica are seen within a poll. It sleeps
//! until the earliest due tick.
//!
//! One fire, for tick `t` read from the row:
//!
//! 1. it starts the run with trigger `schedule` and idempotency key
//!    `<schedule id>:<tick>`: a second replica, or this one after a crash
//!    between steps 1 and 2, asking for the same tick gets the same run
//!    (the key is decided by one writer, the key's partition, and kept
//!    24 h);
//! 2. it moves `next_fire_ms` on with a compare-and-set on `t`, so only
//!    one fire of a tick records it.
//!
//! A tick that is not the latest one due (the server was down across
//! several) is a missed window: CATCH_UP ONCE fires one run standing for
//! the latest missed tick, NONE fires nothing; either way the schedule
//! goes on at the first tick after now. NONE also treats a single tick
//! more than [`LATE_MS`] late as missed.
//!
//! Overlap: unless ALLOW, a tick whose previous run is unfinished starts
//! nothing (SKIP), or is held back on the row (`buffered_ms`, BUFFER_ONE,
//! at most one) and started by a later pass once that run has ended.
//!
//! A fire the engine refuses for good (workflow deleted, paused or
//! archived, input no longer matching its inputSchema, a tenant limit)
//! is logged and counted as skipped; the schedule stays and fires at
//! its next tick. A fire it cannot do now (the writer busy, the store
//! down) is tried again a second later without moving the timer.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::cron::CronSpec;
use crate::engine::clock::now_ms;
use crate::engine::runs::StartRun;
use crate::engine::scheduler::IDEMPOTENCY_TTL_MS;
use crate::engine::{EngineError, RunEngine};
use crate::store::schedules::{CatchUp, FireRecord, Overlap, ScheduleRecord};
use crate::store::{Store, StoreError};

/// A lone tick later than this, ms, counts as missed under CATCH_UP NONE.
pub const LATE_MS: i64 = 2_000;
/// Wait before a fire that could not be done now is tried again.
const RETRY_MS: i64 = 1_000;
/// Most due schedules read per pass.
const DUE_PER_PASS: u32 = 4_096;
/// Most fires under way at once.
const FIRES_IN_FLIGHT: usize = 64;

/// What the loop has done, for logs, tests and benchmarks.
#[derive(Debug, Default)]
pub struct FireStats {
    /// Runs started (or found by their key).
    pub started: AtomicU64,
    /// Ticks that started nothing (overlap, catch-up NONE, refusals).
    pub skipped: AtomicU64,
    /// Fires recorded by another fire first (another replica).
    pub lost_races: AtomicU64,
}

/// The running loop and how to stop it.
pub struct ScheduleFirer {
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    stats: Arc<FireStats>,
}

impl ScheduleFirer {
    /// Starts the loop over `store`, starting runs through `runs`; `wake`
    /// makes it re-read what is due.
    pub fn start(store: Arc<dyn Store>, runs: RunEngine, poll: Duration, wake: Arc<Notify>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(FireStats::default());
        let firing = Firing { store, runs, stats: stats.clone() };
        let task = tokio::spawn(firing.run(poll, wake, stopped));
        Self { stop, task: std::sync::Mutex::new(Some(task)), stats }
    }

    /// What it has done so far.
    pub fn stats(&self) -> &Arc<FireStats> {
        &self.stats
    }

    /// Stops after the fire in hand.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().expect("fire task").take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

/// What one fire did.
enum Fired {
    /// Done (or nothing to do); the schedule's next tick, if any.
    Next(Option<i64>),
    /// Done, to be recorded: the timer as the fire read it, what it
    /// changes, and the next tick once recorded.
    Record((Option<i64>, Option<i64>), FireRecord, Option<i64>),
    /// Not possible now; try again later.
    Retry,
}

/// What starting a tick's run came to.
enum Start {
    /// The run (new, or the one the tick's key already named).
    Started(String),
    /// Refused for good (logged): the tick is skipped.
    Refused,
    /// Not possible now: try again later.
    Later,
}

/// The idempotency key of a schedule's tick: one run per tick.
pub fn fire_key(schedule_id: &str, tick_ms: i64) -> String {
    format!("{schedule_id}:{tick_ms}")
}

struct Firing {
    store: Arc<dyn Store>,
    runs: RunEngine,
    stats: Arc<FireStats>,
}

impl Firing {
    async fn run(self, poll: Duration, wake: Arc<Notify>, mut stopped: watch::Receiver<bool>) {
        let poll_ms = poll.as_millis() as i64;
        let mut due: BTreeSet<(i64, String)> = BTreeSet::new();
        let mut next_read = i64::MIN;
        loop {
            if *stopped.borrow() {
                return;
            }
            let now = now_ms();
            if now >= next_read {
                // Twice the poll ahead: whatever falls due before the next
                // read is already in the set.
                match self.store.due_schedules(now + 2 * poll_ms, DUE_PER_PASS).await {
                    Ok(rows) => {
                        due = rows.into_iter().map(|(id, at)| (at, id)).collect();
                        next_read = now + poll_ms;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the due schedules; trying again");
                        next_read = now + RETRY_MS;
                    }
                }
            }
            // Everything due fires together: the starts share the writer's
            // group commits, so a thousand schedules on one minute do not
            // queue behind one another.
            let now = now_ms();
            let mut batch = Vec::new();
            while let Some((at, _)) = due.first()
                && *at <= now
            {
                if let Some((_, id)) = due.pop_first()
                    && !batch.contains(&id)
                {
                    batch.push(id);
                }
            }
            if !batch.is_empty() {
                // One read for the whole batch, too.
                let (mut rows, read_failed) = match self.store.schedules_by_ids(&batch).await {
                    Ok(rows) => (rows.into_iter().map(|row| (row.id.clone(), row)).collect(), false),
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the due schedules; trying again");
                        (std::collections::HashMap::new(), true)
                    }
                };
                let this = &self;
                let work: Vec<(String, Option<ScheduleRecord>)> =
                    batch.into_iter().map(|id| (id.clone(), rows.remove(&id))).collect();
                let fired: Vec<(String, Fired)> = futures_util::stream::iter(work)
                    .map(|(id, schedule)| async move {
                        let fired = match schedule {
                            Some(schedule) => this.fire(schedule).await,
                            // Deleted since the read of what is due, or
                            // the read failed.
                            None if read_failed => Fired::Retry,
                            None => Fired::Next(None),
                        };
                        (id, fired)
                    })
                    .buffer_unordered(FIRES_IN_FLIGHT)
                    .collect()
                    .await;
                // One transaction records the whole batch: on SQLite one
                // fsync rather than one per fire.
                let mut records = Vec::new();
                for (id, fired) in fired {
                    match fired {
                        Fired::Next(Some(next)) if next < next_read + 2 * poll_ms => {
                            due.insert((next, id));
                        }
                        Fired::Next(_) => {}
                        Fired::Record(seen, record, next) => records.push((id, seen, record, next)),
                        Fired::Retry => {
                            due.insert((now_ms() + RETRY_MS, id));
                        }
                    }
                }
                if !records.is_empty() {
                    let batch: Vec<_> =
                        records.iter().map(|(id, seen, record, _)| (id.clone(), *seen, record.clone())).collect();
                    match self.store.record_fires(&batch).await {
                        Ok(recorded) => {
                            for ((id, _, _, next), recorded) in records.into_iter().zip(recorded) {
                                if !recorded {
                                    // Another fire moved it on first; the
                                    // next read shows where to.
                                    self.stats.lost_races.fetch_add(1, Ordering::Relaxed);
                                } else if let Some(next) = next.filter(|at| *at < next_read + 2 * poll_ms) {
                                    due.insert((next, id));
                                }
                            }
                        }
                        Err(err) => {
                            // The runs started are named by their ticks' keys:
                            // firing again adopts them.
                            tracing::warn!(error = %err, "cannot record the fires; trying them again");
                            for (id, ..) in records {
                                due.insert((now_ms() + RETRY_MS, id));
                            }
                        }
                    }
                }
                continue;
            }
            let until = due.first().map_or(next_read, |(at, _)| (*at).min(next_read));
            let wait = Duration::from_millis((until - now_ms()).clamp(0, poll_ms) as u64);
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = wake.notified() => next_read = i64::MIN,
                _ = stopped.changed() => return,
            }
        }
    }

    /// Fires schedule `id` if it is due: its buffered tick, then its next.
    async fn fire(&self, schedule: ScheduleRecord) -> Fired {
        let id = schedule.id.clone();
        match self.fire_fallible(schedule).await {
            Ok(fired) => fired,
            Err(err) => {
                tracing::warn!(schedule = %id, error = %err, "a schedule could not fire; trying again");
                Fired::Retry
            }
        }
    }

    async fn fire_fallible(&self, schedule: ScheduleRecord) -> Result<Fired, StoreError> {
        let id = schedule.id.as_str();
        let spec = match CronSpec::parse(&schedule.cron_expression, &schedule.timezone) {
            Ok(spec) => spec,
            Err(problem) => {
                // Only stored data could do this: never fire it, keep it
                // readable.
                tracing::error!(schedule = %id, field = problem.field, problem = %problem.message, "a stored schedule does not parse; it is stopped");
                let stopped = FireRecord {
                    next_fire_ms: None,
                    buffered_ms: None,
                    last_fire_ms: schedule.last_fire_ms,
                    last_run_id: None,
                };
                self.store.record_fire(id, (schedule.next_fire_ms, schedule.buffered_ms), &stopped).await?;
                return Ok(Fired::Next(None));
            }
        };
        if let Some(buffered) = schedule.buffered_ms
            && !self.previous_run_live(&schedule).await?
        {
            return self.fire_buffered(&schedule, buffered).await;
        }
        let now = now_ms();
        let Some(tick) = schedule.next_fire_ms.filter(|at| *at <= now) else {
            return Ok(Fired::Next(schedule.next_fire_ms));
        };
        let latest = spec.latest_until(tick, now);
        let missed = latest != tick || (schedule.catch_up == CatchUp::Skip && now - tick > LATE_MS);
        let next = spec.next_after(now.max(latest));
        let seen = (schedule.next_fire_ms, schedule.buffered_ms);
        let fire_for = match (missed, schedule.catch_up) {
            (false, _) | (true, CatchUp::Once) => Some(latest),
            (true, CatchUp::Skip) => None,
        };
        let mut record = FireRecord {
            next_fire_ms: next,
            buffered_ms: schedule.buffered_ms,
            last_fire_ms: Some(latest),
            last_run_id: None,
        };
        if let Some(at) = fire_for
            && let Some(run_id) = self.started_before(&schedule, at).await?
        {
            // A fire of this tick started its run and stopped before
            // recording it (a crash, or another replica): adopt the run.
            record.last_run_id = Some(run_id);
        } else if let Some(at) = fire_for {
            let live = schedule.overlap != Overlap::Allow && self.previous_run_live(&schedule).await?;
            match (live, schedule.overlap) {
                (true, Overlap::BufferOne) => record.buffered_ms = record.buffered_ms.or(Some(at)),
                (true, Overlap::Skip | Overlap::Allow) => {}
                (false, _) => match self.start(&schedule, at).await? {
                    Start::Started(run_id) => record.last_run_id = Some(run_id),
                    Start::Later => return Ok(Fired::Retry),
                    Start::Refused => {}
                },
            }
        }
        if record.last_run_id.is_none() {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Fired::Record(seen, record, next))
    }

    /// Starts the tick a BUFFER_ONE schedule held back, now that the run
    /// before it has ended.
    async fn fire_buffered(&self, schedule: &ScheduleRecord, tick: i64) -> Result<Fired, StoreError> {
        let mut record = FireRecord {
            next_fire_ms: schedule.next_fire_ms,
            buffered_ms: None,
            last_fire_ms: schedule.last_fire_ms,
            last_run_id: None,
        };
        match self.start(schedule, tick).await? {
            Start::Started(run_id) => record.last_run_id = Some(run_id),
            Start::Later => return Ok(Fired::Retry),
            Start::Refused => {}
        }
        let seen = (schedule.next_fire_ms, schedule.buffered_ms);
        // The regular tick may be due too: it is looked at once recorded.
        Ok(Fired::Record(seen, record, schedule.next_fire_ms))
    }

    /// Whether the last run the schedule started is unfinished.
    async fn previous_run_live(&self, schedule: &ScheduleRecord) -> Result<bool, StoreError> {
        let Some(run_id) = &schedule.last_run_id else { return Ok(false) };
        match self.store.get_run(&schedule.tenant_id, run_id).await {
            Ok((run, _)) => Ok(run.status.is_live()),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The run an earlier fire of `tick` started, if one did.
    async fn started_before(&self, schedule: &ScheduleRecord, tick: i64) -> Result<Option<String>, StoreError> {
        let since = now_ms() - IDEMPOTENCY_TTL_MS;
        self.store.find_idempotent_run(&schedule.tenant_id, &fire_key(&schedule.id, tick), since).await
    }

    /// Starts the run of `tick`.
    async fn start(&self, schedule: &ScheduleRecord, tick: i64) -> Result<Start, StoreError> {
        let input = match &schedule.input {
            Some(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            None => Value::Null,
        };
        let request = StartRun {
            workflow_id: schedule.workflow_id.clone(),
            version: Some(schedule.version).filter(|v| *v > 0),
            input,
            shared_state: Value::Null,
            user_id: schedule.user_id.clone(),
            trigger: "schedule".into(),
            idempotency_key: fire_key(&schedule.id, tick),
            schedule_id: schedule.id.clone(),
            scheduled_ms: Some(tick),
        };
        match self.runs.start_run_id(&schedule.tenant_id, request).await {
            Ok(run_id) => {
                self.stats.started.fetch_add(1, Ordering::Relaxed);
                Ok(Start::Started(run_id))
            }
            Err(err @ (EngineError::Unavailable(_) | EngineError::Internal(_) | EngineError::Store(_))) => {
                tracing::warn!(schedule = %schedule.id, tick, error = %err, "a schedule's run cannot start now");
                Ok(Start::Later)
            }
            Err(err) => {
                tracing::warn!(schedule = %schedule.id, tick, error = %err, "a schedule's fire was refused; skipped");
                Ok(Start::Refused)
            }
        }
    }
}
