//! Resource ids: a type prefix plus a lower-case ULID, so ids sort by
//! creation time and say what they name (`wf_01jd…`, `wfrun_01jd…`).
//!
//! Only the prefixes live here: a fresh id reads the clock, which the core
//! never does; the server makes them (`weft_server::ids`).

/// Prefix of workflow ids.
pub const WORKFLOW_PREFIX: &str = "wf_";

/// Prefix of run ids.
pub const RUN_PREFIX: &str = "wfrun_";

/// Prefix of task ids.
pub const TASK_PREFIX: &str = "task_";

/// Prefix of server-assigned worker ids.
pub const WORKER_PREFIX: &str = "wkr_";

/// Prefix of approval ids.
pub const APPROVAL_PREFIX: &str = "appr_";
