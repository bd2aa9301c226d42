//! Errors of the storage layer. A database failure is never the client's
//! fault: it is reported as `Unavailable`/`Internal` without the raw database
//! message leaking past the api layer.

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row (unknown id, or unknown version).
    #[error("{what} not found")]
    NotFound {
        /// What was looked up, e.g. "workflow 'wf_…'".
        what: String,
    },
    /// Another writer appended a version first; re-read and try again.
    #[error("version conflict: latest version is {latest}")]
    VersionConflict {
        /// The latest version now stored.
        latest: u32,
    },
    /// A stored document could not be read back; the data is damaged.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed (I/O, lock timeout, lost connection).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A failure of the connection the run writer commits through.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The group commit was decided under partition leases this replica no
    /// longer holds (another replica took them over): nothing was written.
    #[error("partitions {0:?} are owned by another replica now; nothing was written")]
    Fenced(Vec<u16>),
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
        Self::NotFound { what: format!("workflow '{id}'") }
    }
}
