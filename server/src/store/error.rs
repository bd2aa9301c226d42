//! Errors of the storage layer. A database failure is never the client's
//! fault: it is reported as `Unavailable`/`Internal` without the raw database
//! message leaking past the api layer.
//!
//! The store classifies driver errors itself: a failure that retrying may
//! cure (a lost connection, a pool timeout, a serialization failure, a busy
//! SQLite file) becomes [`StoreError::Unavailable`], so the layers above map
//! kinds of failure and never name `sqlx` or `rusqlite`.

use std::fmt;

/// What a [`StoreError::NotFound`] looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A workflow (its latest version).
    Workflow,
    /// One version of a known workflow.
    WorkflowVersion(u32),
    /// A run.
    Run,
}

impl Entity {
    /// How an error message names the entity with id `id`, e.g.
    /// "version 3 of workflow 'wf_1'".
    pub fn describe(self, id: &str) -> String {
        match self {
            Self::Workflow => format!("workflow '{id}'"),
            Self::WorkflowVersion(version) => format!("version {version} of workflow '{id}'"),
            Self::Run => format!("run '{id}'"),
        }
    }
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (unknown id, or unknown version).
    #[error("{} not found", .entity.describe(.id))]
    NotFound {
        /// What was looked up.
        entity: Entity,
        /// Its id (the workflow's, for a version).
        id: String,
    },
    /// Another writer appended a version first; re-read and try again.
    #[error("version conflict: latest version is {latest}")]
    VersionConflict {
        /// The latest version now stored.
        latest: u32,
    },
    /// Another workflow of the tenant has this name: the unique index on
    /// (tenant, name) refused the write (names are unique per tenant,
    /// migration 0020). Nothing was written.
    #[error("a workflow named '{name}' already exists")]
    NameTaken {
        /// The name asked for.
        name: String,
    },
    /// A stored document could not be read back; the data is damaged.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database cannot answer now but may later: the connection was
    /// lost, the pool had no free connection in time, the transaction lost
    /// a serialization race, or the SQLite file stayed busy. Nothing was
    /// written.
    #[error("database unavailable: {0}")]
    Unavailable(Transient),
    /// The database failed in a way retrying will not cure.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A failure of the connection the run writer commits through.
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The group commit was decided under partition leases this replica no
    /// longer holds (another replica took them over): nothing was written.
    #[error("partitions {0:?} are owned by another replica now; nothing was written")]
    Fenced(Vec<u16>),
    /// The database could not be reached at start-up; the text names the
    /// address and the cause (never a password).
    #[error("{0}")]
    Unreachable(String),
    /// The store was closed (the server is stopping).
    #[error("the store is closed")]
    Closed,
    /// Migrations failed at start.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// A `NotFound` for a workflow id.
    pub fn workflow_not_found(id: &str) -> Self {
        Self::NotFound { entity: Entity::Workflow, id: id.to_owned() }
    }

    /// Whether this is the database refusing, through the pool, a row that
    /// breaks a unique index (SQLite's UNIQUE or PRIMARY KEY constraint,
    /// Postgres's SQLSTATE 23505), e.g. a second workflow with a taken name.
    pub(crate) fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }

    /// A `NotFound` for a run id.
    pub fn run_not_found(id: &str) -> Self {
        Self::NotFound { entity: Entity::Run, id: id.to_owned() }
    }

    /// A stored value of `column` in row `id` of `table` that the domain
    /// type does not know (a status written by a newer server, or by hand).
    pub fn unknown_value(table: &str, id: &str, column: &str, value: &str) -> Self {
        Self::Corrupt(format!("{table} '{id}' has unknown {column} '{value}'"))
    }
}

/// The driver error behind a [`StoreError::Unavailable`].
#[derive(Debug)]
pub enum Transient {
    /// From the pool and async reads.
    Sqlx(sqlx::Error),
    /// From the SQLite commit thread.
    Sqlite(rusqlite::Error),
}

impl fmt::Display for Transient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlx(err) => err.fmt(f),
            Self::Sqlite(err) => err.fmt(f),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if sqlx_is_transient(&err) { Self::Unavailable(Transient::Sqlx(err)) } else { Self::Database(err) }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        let busy = matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if busy { Self::Unavailable(Transient::Sqlite(err)) } else { Self::Sqlite(err) }
    }
}

/// Postgres SQLSTATEs a retry may cure: serialization failure, deadlock,
/// and the server going away under the connection.
const TRANSIENT_SQLSTATES: [&str; 5] = ["40001", "40P01", "57P01", "57P02", "57P03"];

/// SQLite primary result codes a retry may cure: SQLITE_BUSY, SQLITE_LOCKED.
const TRANSIENT_SQLITE_CODES: [i64; 2] = [5, 6];

fn sqlx_is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => match db.code() {
            // SQLite reports its (extended) result code as a number; the
            // primary code is its low byte. Postgres reports a SQLSTATE;
            // class 08 is a connection exception.
            Some(code) => match code.parse::<i64>() {
                Ok(number) => TRANSIENT_SQLITE_CODES.contains(&(number & 0xff)),
                Err(_) => code.starts_with("08") || TRANSIENT_SQLSTATES.contains(&code.as_ref()),
            },
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_entity_as_before() {
        assert_eq!(StoreError::workflow_not_found("wf_1").to_string(), "workflow 'wf_1' not found");
        assert_eq!(StoreError::run_not_found("wfrun_1").to_string(), "run 'wfrun_1' not found");
        let version = StoreError::NotFound { entity: Entity::WorkflowVersion(3), id: "wf_1".into() };
        assert_eq!(version.to_string(), "version 3 of workflow 'wf_1' not found");
    }

    #[test]
    fn lost_connections_and_busy_files_are_transient() {
        assert!(matches!(StoreError::from(sqlx::Error::PoolTimedOut), StoreError::Unavailable(_)));
        assert!(matches!(StoreError::from(sqlx::Error::RowNotFound), StoreError::Database(_)));
        let busy = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None);
        assert!(matches!(StoreError::from(busy), StoreError::Unavailable(_)));
        let constraint = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(19), None);
        assert!(matches!(StoreError::from(constraint), StoreError::Sqlite(_)));
    }
}
