//! What Postgres does its own way around workflows (the rest is
//! `store/workflows.rs`). Writers run side by side here, so a create takes
//! an advisory lock on its request id and an append locks the workflow
//! row: a concurrent append then waits, reads the version this one wrote,
//! and answers VersionConflict rather than a key violation.

use super::PostgresStore;
use crate::store::workflows::WorkflowDialect;

impl WorkflowDialect for PostgresStore {
    const LOCK_REQUEST: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended(?1 || chr(31) || ?2, 0))");
    const LOCK_ROW: &'static str = " FOR UPDATE";
    /// Tags are a JSONB array.
    const HAS_TAG: &'static str = "w.tags @> jsonb_build_array(CAST(?3 AS TEXT))";
}
