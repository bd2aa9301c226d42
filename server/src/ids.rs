//! Fresh resource ids: a type prefix (`crate::model::ids`) plus a
//! lower-case ULID, so ids sort by creation time and say what they name.
//! They read the clock and a random source, so they are made here, outside
//! the pure core.

use crate::model::ids::{APPROVAL_PREFIX, RUN_PREFIX, TASK_PREFIX, WORKER_PREFIX, WORKFLOW_PREFIX};

fn fresh(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A new workflow id, `wf_` and 26 lower-case Crockford base32 characters.
pub fn new_workflow_id() -> String {
    fresh(WORKFLOW_PREFIX)
}

/// A new run id, `wfrun_` and 26 lower-case Crockford base32 characters.
pub fn new_run_id() -> String {
    fresh(RUN_PREFIX)
}

/// A new task id, `task_` and 26 lower-case Crockford base32 characters.
pub fn new_task_id() -> String {
    fresh(TASK_PREFIX)
}

/// A new worker id, `wkr_` and 26 lower-case Crockford base32 characters.
pub fn new_worker_id() -> String {
    fresh(WORKER_PREFIX)
}

/// A new approval id, `appr_` and 26 lower-case Crockford base32 characters.
pub fn new_approval_id() -> String {
    fresh(APPROVAL_PREFIX)
}

/// A new schedule id, `sched_` and 26 lower-case Crockford base32 characters.
pub fn new_schedule_id() -> String {
    fresh("sched_")
}
