//! The run writer's group commit on Postgres: one transaction that checks
//! the fence, writes every table (`runs.rs`, `tasks.rs`, `approvals.rs`),
//! hands back released leases, makes the claims, answers the inbox and
//! notifies other replicas (`cluster.rs`), all or nothing.
//!
//! Column-wise arrays rather than multi-row `VALUES`: the statement text is
//! the same for every batch, so it is prepared once per connection, and no
//! batch can reach Postgres's 65,535 bound-parameter limit.

use async_trait::async_trait;
use sqlx::PgPool;

use super::PostgresStore;
use super::{approvals, cluster, runs, slots, tasks};
use crate::store::StoreError;
use crate::store::runs::{CommitStore, RunBatch};
use crate::store::tasks::LeasedTask;

#[async_trait]
impl CommitStore for PostgresStore {
    async fn commit_runs(&self, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
        cluster::outlived_lease(write_batch(self.pool(), batch).await, batch.fence.as_ref())
    }
}

async fn write_batch(pool: &PgPool, batch: &RunBatch) -> Result<Vec<Option<LeasedTask>>, StoreError> {
    let mut tx = pool.begin().await?;
    if let Some(fence) = &batch.fence {
        cluster::check_fence(&mut tx, fence).await?;
    }
    runs::write_runs(&mut tx, &batch.runs).await?;
    runs::write_run_traces(&mut tx, &batch.run_traces).await?;
    runs::write_steps(&mut tx, &batch.steps).await?;
    runs::write_events(&mut tx, &batch.events).await?;
    runs::write_commands(&mut tx, &batch.commands).await?;
    runs::write_timers(&mut tx, &batch.timers_done, &batch.timers).await?;
    tasks::write(&mut tx, batch).await?;
    approvals::write(&mut tx, batch).await?;
    runs::write_idempotency(&mut tx, &batch.idempotency).await?;
    slots::write_in_commit(&mut tx, batch).await?;
    tasks::release(&mut tx, &batch.releases).await?;
    let mut claimed = Vec::with_capacity(batch.claims.len());
    for claim in &batch.claims {
        claimed.push(tasks::claim(&mut tx, &claim.as_claim()).await?);
    }
    cluster::answer_in_commit(&mut tx, &batch.inbox_done).await?;
    if batch.notify {
        cluster::notify_in_commit(&mut tx, batch).await?;
    }
    tx.commit().await?;
    Ok(claimed)
}
