//! Each step's latest attempt as reads of a run show it: the input its
//! task was handed and the worker that claimed it (GetRun's
//! `StepRun.input` and `StepRun.workerId`).
//!
//! Read from the run's task rows at read time, like the READY projection
//! (`waiting.rs`), rather than recorded in the run: a claim changes only
//! the task row, and recording it in the run would add a transition, an
//! event and a step row to every claim on the hot path. The task row is
//! the durable truth every replica reads, so the answer survives a restart
//! and is the same whichever replica answers.

use std::collections::HashMap;

use serde_json::Value;

use super::TaskQueue;
use crate::engine::builtin;

/// What the latest attempt of one step instance ran with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepAttempt {
    /// The task's input as its worker received it; `None` when the stored
    /// input cannot be read.
    pub input: Option<Value>,
    /// The worker that claimed the attempt; empty before a claim, and for
    /// the types the server runs itself (its built-in executor is not a
    /// worker anyone registered).
    pub worker_id: String,
}

/// The latest attempt of each step of a run that ran as a task, by
/// instance key (`id`, `id[i]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepAttempts(HashMap<String, StepAttempt>);

impl StepAttempts {
    /// The latest attempt of the step `key`; `None` for a step that never
    /// ran as a task.
    pub fn get(&self, key: &str) -> Option<&StepAttempt> {
        self.0.get(key)
    }
}

impl TaskQueue {
    /// The latest attempt of each step of run `run_id` handed to a worker
    /// or the built-in executor. A store failure is logged and answers
    /// none: a read of the run never fails for these fields.
    pub async fn step_attempts(&self, tenant: &str, run_id: &str) -> StepAttempts {
        match self.runs.store().step_tasks_of_run(tenant, run_id).await {
            Ok(tasks) => StepAttempts(
                tasks
                    .into_iter()
                    .map(|task| {
                        let worker_id = task.claimed_by.filter(|owner| owner != builtin::OWNER).unwrap_or_default();
                        (task.step_key, StepAttempt { input: task.input, worker_id })
                    })
                    .collect(),
            ),
            Err(err) => {
                tracing::warn!(run_id, error = %err, "cannot read the run's tasks; showing no step input or worker");
                StepAttempts::default()
            }
        }
    }
}
