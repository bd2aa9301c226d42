//! What SQLite does its own way around workflows (the rest is
//! `store/workflows.rs`).

use super::SqliteStore;
use crate::store::workflows::WorkflowDialect;

impl WorkflowDialect for SqliteStore {
    /// `BEGIN IMMEDIATE` already makes a second create with the same
    /// request id wait for the first, and an append's read lock the file.
    const LOCK_REQUEST: Option<&'static str> = None;
    const LOCK_ROW: &'static str = "";
    /// Tags are a JSON text array.
    const HAS_TAG: &'static str = "EXISTS (SELECT 1 FROM json_each(w.tags) t WHERE t.value = ?3)";
}
