//! Resource ids: a type prefix plus a lower-case ULID, so ids sort by
//! creation time and say what they name (`wf_01jd…`, `wfrun_01jd…`).

/// Prefix of workflow ids.
pub const WORKFLOW_PREFIX: &str = "wf_";

/// A new workflow id, `wf_` and 26 lower-case Crockford base32 characters.
pub fn new_workflow_id() -> String {
    format!("{WORKFLOW_PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Prefix of run ids.
pub const RUN_PREFIX: &str = "wfrun_";

/// A new run id, `wfrun_` and 26 lower-case Crockford base32 characters.
pub fn new_run_id() -> String {
    format!("{RUN_PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Prefix of task ids.
pub const TASK_PREFIX: &str = "task_";

/// A new task id, `task_` and 26 lower-case Crockford base32 characters.
pub fn new_task_id() -> String {
    format!("{TASK_PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Prefix of server-assigned worker ids.
pub const WORKER_PREFIX: &str = "wkr_";

/// A new worker id, `wkr_` and 26 lower-case Crockford base32 characters.
pub fn new_worker_id() -> String {
    format!("{WORKER_PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// Prefix of approval ids.
pub const APPROVAL_PREFIX: &str = "appr_";

/// A new approval id, `appr_` and 26 lower-case Crockford base32 characters.
pub fn new_approval_id() -> String {
    format!("{APPROVAL_PREFIX}{}", ulid::Ulid::new().to_string().to_lowercase())
}
