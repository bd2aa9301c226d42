//! A worker stream's claims (WorkerService.ConnectWorker), as the engine sees
//! them: the credits the worker granted and the claims kept outstanding
//! for them.
//!
//! A [`WorkerStream`] keeps up to [`MAX_OUTSTANDING_CLAIMS`] claims waiting
//! in the run writer, never more than its unused credits. Each goes through
//! the same path as PollTask (`TaskQueue::claim_waiting`), so the writer
//! answers a waiting claim in the group commit that queues its task, and on
//! Postgres a claim also takes tasks of runs other replicas hold.
//!
//! Nothing claimed is lost when the stream ends: dropping the
//! [`WorkerStream`] drops its waiting claims, which the writer sees before
//! claiming for them (a claim whose answer already came is taken first and
//! its task handed back), and a claimed task not yet pushed
//! ([`ClaimedTask`] dropped without [`ClaimedTask::pushed`]) is handed back
//! to the queue in the writer's next commit, same attempt.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;

use super::{PolledTask, SERVED_KINDS, TaskQueue};
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::store::ClaimScope;

/// Most claims one stream keeps waiting in the writer at once, whatever its
/// credits: each claim is made in a group commit, so a few dozen keep a
/// busy worker's slots full, and a parked claim costs the writer a scan.
pub const MAX_OUTSTANDING_CLAIMS: u32 = 64;
/// How long one claim waits in the writer before it is made again (which
/// also tells the registry the worker is still there).
const CLAIM_WAIT: Duration = Duration::from_secs(30);

/// A claim in flight: resolves with a task, with `None` when its wait ran
/// out, or with the error that ends the stream.
type Claim = Pin<Box<dyn Future<Output = Result<Option<ClaimedTask>, EngineError>> + Send>>;

impl Drop for WorkerStream {
    fn drop(&mut self) {
        self.withdraw();
    }
}

/// A task claimed for a stream, under its lease. Handed back to the queue
/// when dropped before [`Self::pushed`] says the worker was sent it.
pub struct ClaimedTask {
    polled: Option<PolledTask>,
    queue: TaskQueue,
    tenant: String,
}

impl ClaimedTask {
    /// The claimed task and what it carries.
    pub fn task(&self) -> &PolledTask {
        self.polled.as_ref().expect("a claimed task until pushed")
    }

    /// The task was handed to the transport: its lease is the worker's now.
    pub fn pushed(mut self) {
        self.polled = None;
    }
}

impl Drop for ClaimedTask {
    fn drop(&mut self) {
        if let Some(polled) = self.polled.take() {
            tracing::debug!(task_id = %polled.leased.task_id, "a claimed task was not pushed; handing it back");
            self.queue.grants.forget(&polled.leased.task_id, polled.leased.lease_token);
            self.queue.runs.scheduler().release(std::mem::take(&mut self.tenant), polled.leased);
        }
    }
}

/// One worker stream's credits and claims. Dropping it withdraws the
/// claims.
pub struct WorkerStream {
    queue: TaskQueue,
    tenant: String,
    worker_id: String,
    agents: Vec<String>,
    /// Most unused credits at once.
    credit_limit: u32,
    /// Granted and not yet used by a pushed task.
    credits: u32,
    draining: bool,
    claims: FuturesUnordered<Claim>,
    closing: watch::Receiver<bool>,
}

impl WorkerStream {
    /// Unused credits: how many more tasks may be pushed.
    pub fn credits(&self) -> u32 {
        self.credits
    }

    /// Most unused credits at once.
    pub fn credit_limit(&self) -> u32 {
        self.credit_limit
    }

    /// Claims waiting in the writer.
    pub fn outstanding(&self) -> usize {
        self.claims.len()
    }

    /// Whether `more` credits may be granted now: InvalidArgument naming
    /// `credits` when the unused ones would pass the limit. Changes nothing.
    pub fn check_grant(&self, more: u32) -> Result<(), EngineError> {
        if self.draining { Ok(()) } else { check_credits(self.credits, more, self.credit_limit) }
    }

    /// Grants `more` credits (checked with [`Self::check_grant`]) and makes
    /// claims for them. Ignored once draining.
    pub fn grant(&mut self, more: u32) -> Result<(), EngineError> {
        self.check_grant(more)?;
        if !self.draining {
            self.credits += more;
            self.refill();
        }
        Ok(())
    }

    /// Stops pushing for good: forgets the credits and withdraws the
    /// claims.
    pub fn drain(&mut self) {
        self.draining = true;
        self.credits = 0;
        self.withdraw();
    }

    /// Drops the claims. A claim the writer answered since it was last
    /// polled holds its task in the answer: polling the answered ones once
    /// more turns each into a [`ClaimedTask`], which hands the task back
    /// when dropped.
    fn withdraw(&mut self) {
        while let Some(Some(answered)) = self.claims.next().now_or_never() {
            drop(answered);
        }
        self.claims = FuturesUnordered::new();
    }

    /// Whether [`Self::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// The next claimed task, using one credit; pending while there are no
    /// credits (forever once draining). Cancel-safe: a claim that resolves
    /// is taken whole or not at all. An error (the worker is no longer
    /// registered, the store failed) ends the stream.
    pub async fn next_task(&mut self) -> Result<ClaimedTask, EngineError> {
        loop {
            let Some(claimed) = self.claims.next().await else {
                return std::future::pending().await;
            };
            match claimed? {
                Some(task) => {
                    self.credits = self.credits.saturating_sub(1);
                    self.refill();
                    return Ok(task);
                }
                // The wait ran out: claim again, unless the server is
                // stopping (claims then answer at once, and the API ends
                // the stream).
                None if *self.closing.borrow() => {}
                None => self.refill(),
            }
        }
    }

    /// Makes claims up to the unused credits (at most
    /// [`MAX_OUTSTANDING_CLAIMS`]).
    fn refill(&mut self) {
        let wanted = self.credits.min(MAX_OUTSTANDING_CLAIMS) as usize;
        while !self.draining && self.claims.len() < wanted {
            let (queue, tenant, worker_id, agents) =
                (self.queue.clone(), self.tenant.clone(), self.worker_id.clone(), self.agents.clone());
            self.claims.push(Box::pin(claim(queue, tenant, worker_id, agents)));
        }
    }
}

/// One claim for the stream of `worker_id`: waits in the writer up to
/// [`CLAIM_WAIT`], then adds what the task carries beyond its row.
async fn claim(
    queue: TaskQueue,
    tenant: String,
    worker_id: String,
    agents: Vec<String>,
) -> Result<Option<ClaimedTask>, EngineError> {
    // Also a sighting: a connected worker is never forgotten as silent.
    if queue.workers.touch(&tenant, &worker_id, now_ms()).await?.is_none() {
        return Err(EngineError::NotFound {
            what: format!("worker '{worker_id}' (connect again with hello)"),
            reason: "WORKER_NOT_FOUND",
        });
    }
    let scope = ClaimScope::Tenant(tenant.clone());
    let Some(leased) = queue.claim_waiting(scope, agents, SERVED_KINDS, &worker_id, CLAIM_WAIT).await? else {
        return Ok(None);
    };
    // Held from here, so a stream that ends meanwhile hands the task back
    // (and so does an error describing it).
    let polled = PolledTask { leased, policy: None, deadline_ms: None };
    let mut claimed = ClaimedTask { polled: Some(polled), queue: queue.clone(), tenant: tenant.clone() };
    if let Some(polled) = claimed.polled.as_mut() {
        queue.fill_in(&tenant, polled).await?;
    }
    Ok(Some(claimed))
}

/// Most unused credits of a stream whose worker registered `concurrency`:
/// that concurrency (at least 1), and never more than `max_credits`.
pub fn credit_limit(concurrency: u32, max_credits: u32) -> u32 {
    concurrency.clamp(1, max_credits)
}

/// InvalidArgument naming `credits` when `more` on top of `unused` would
/// pass `limit` (from [`credit_limit`]). Changes nothing.
pub fn check_credits(unused: u32, more: u32, limit: u32) -> Result<(), EngineError> {
    let total = u64::from(unused) + u64::from(more);
    if total > u64::from(limit) {
        return Err(EngineError::invalid(
            "credits",
            format!(
                "{total} unused credits would be over the limit of {limit} (the registered concurrency, at most \
                 the server's cap); grant one per free slot"
            ),
        ));
    }
    Ok(())
}

impl TaskQueue {
    /// The claims of a worker stream opened by `worker_id` (registered just
    /// before, by the stream's hello) with registered `concurrency`: no
    /// credits yet. NotFound when the worker is not registered.
    pub async fn open_stream(
        &self,
        tenant: &str,
        worker_id: &str,
        concurrency: u32,
        max_credits: u32,
    ) -> Result<WorkerStream, EngineError> {
        let agents = self.workers.touch(tenant, worker_id, now_ms()).await?.ok_or_else(|| EngineError::NotFound {
            what: format!("worker '{worker_id}' (connect again with hello)"),
            reason: "WORKER_NOT_FOUND",
        })?;
        Ok(WorkerStream {
            queue: self.clone(),
            tenant: tenant.to_owned(),
            worker_id: worker_id.to_owned(),
            agents,
            credit_limit: credit_limit(concurrency, max_credits),
            credits: 0,
            draining: false,
            claims: FuturesUnordered::new(),
            closing: self.runs.closing(),
        })
    }

    /// Whether the server is stopping (streams end, claims answer at once).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.runs.closing()
    }
}
