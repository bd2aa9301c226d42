//! Schema migrations, embedded in the binary so `weft serve` migrates on
//! start wherever it runs, without a migrations folder beside it.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// Migrations of the SQLite store, in order.
const SQLITE: &[(i64, &str, &str)] = &[
    (1, "workflows", include_str!("../../migrations/sqlite/0001_workflows.sql")),
    (2, "runs", include_str!("../../migrations/sqlite/0002_runs.sql")),
    (3, "run retry and error code", include_str!("../../migrations/sqlite/0003_run_retry_and_error_code.sql")),
    (4, "task leases", include_str!("../../migrations/sqlite/0004_task_leases.sql")),
    (5, "pauses and approvals", include_str!("../../migrations/sqlite/0005_pauses_and_approvals.sql")),
    (6, "approval decisions", include_str!("../../migrations/sqlite/0006_approval_decisions.sql")),
    (7, "server secrets", include_str!("../../migrations/sqlite/0007_server_secrets.sql")),
    (8, "replicas", include_str!("../../migrations/sqlite/0008_replicas.sql")),
    (9, "step timeouts", include_str!("../../migrations/sqlite/0009_step_timeouts.sql")),
    (10, "workers", include_str!("../../migrations/sqlite/0010_workers.sql")),
    (11, "retention", include_str!("../../migrations/sqlite/0011_retention.sql")),
    (12, "api keys", include_str!("../../migrations/sqlite/0012_api_keys.sql")),
    (13, "tenant secrets", include_str!("../../migrations/sqlite/0013_tenant_secrets.sql")),
    (14, "notifications", include_str!("../../migrations/sqlite/0014_notifications.sql")),
    (15, "workflow names and definition sources", include_str!("../../migrations/sqlite/0015_names_and_sources.sql")),
    (17, "templates", include_str!("../../migrations/sqlite/0017_templates.sql")),
    (18, "webhook triggers", include_str!("../../migrations/sqlite/0018_triggers.sql")),
    (19, "run slots", include_str!("../../migrations/sqlite/0019_run_slots.sql")),
    (16, "schedules", include_str!("../../migrations/sqlite/0016_schedules.sql")),
    (20, "unique workflow names", include_str!("../../migrations/sqlite/0020_unique_workflow_names.sql")),
    (21, "run trace context", include_str!("../../migrations/sqlite/0021_run_trace_context.sql")),
    (22, "task claimed by", include_str!("../../migrations/sqlite/0022_task_claimed_by.sql")),
];

/// Migrations of the Postgres store, numbered as their SQLite twins: the
/// same version is the same schema change on both.
const POSTGRES: &[(i64, &str, &str)] = &[
    (1, "workflows", include_str!("../../migrations/postgres/0001_workflows.sql")),
    (2, "runs", include_str!("../../migrations/postgres/0002_runs.sql")),
    (3, "run retry and error code", include_str!("../../migrations/postgres/0003_run_retry_and_error_code.sql")),
    (4, "task leases", include_str!("../../migrations/postgres/0004_task_leases.sql")),
    (5, "pauses and approvals", include_str!("../../migrations/postgres/0005_pauses_and_approvals.sql")),
    (6, "approval decisions", include_str!("../../migrations/postgres/0006_approval_decisions.sql")),
    (7, "server secrets", include_str!("../../migrations/postgres/0007_server_secrets.sql")),
    (8, "replicas", include_str!("../../migrations/postgres/0008_replicas.sql")),
    (9, "step timeouts", include_str!("../../migrations/postgres/0009_step_timeouts.sql")),
    (10, "workers", include_str!("../../migrations/postgres/0010_workers.sql")),
    (11, "retention", include_str!("../../migrations/postgres/0011_retention.sql")),
    (12, "api keys", include_str!("../../migrations/postgres/0012_api_keys.sql")),
    (13, "tenant secrets", include_str!("../../migrations/postgres/0013_tenant_secrets.sql")),
    (14, "notifications", include_str!("../../migrations/postgres/0014_notifications.sql")),
    (15, "workflow names and definition sources", include_str!("../../migrations/postgres/0015_names_and_sources.sql")),
    (17, "templates", include_str!("../../migrations/postgres/0017_templates.sql")),
    (18, "webhook triggers", include_str!("../../migrations/postgres/0018_triggers.sql")),
    (19, "run slots", include_str!("../../migrations/postgres/0019_run_slots.sql")),
    (16, "schedules", include_str!("../../migrations/postgres/0016_schedules.sql")),
    (20, "unique workflow names", include_str!("../../migrations/postgres/0020_unique_workflow_names.sql")),
    (21, "run trace context", include_str!("../../migrations/postgres/0021_run_trace_context.sql")),
    (22, "task claimed by", include_str!("../../migrations/postgres/0022_task_claimed_by.sql")),
];

/// The migrator of the SQLite store.
pub fn sqlite() -> Migrator {
    build(SQLITE)
}

/// The migrator of the Postgres store.
pub fn postgres() -> Migrator {
    build(POSTGRES)
}

fn build(scripts: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = scripts
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                AssertSqlSafe(*sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    /// A migration added to one store and not the other would let the two
    /// schemas drift apart silently.
    #[test]
    fn both_stores_have_the_same_migrations() {
        fn names(m: &'static [(i64, &'static str, &'static str)]) -> Vec<(i64, &'static str)> {
            m.iter().map(|(v, d, _)| (*v, *d)).collect()
        }
        assert_eq!(names(super::SQLITE), names(super::POSTGRES));
    }
}
