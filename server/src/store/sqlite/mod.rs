//! The SQLite store: one file, WAL journal, synchronous=FULL, write
//! transactions begun IMMEDIATE so two writers never deadlock upgrading a
//! read lock, and a busy timeout so they queue instead of failing.
//!
//! No connection checkpoints the WAL on its own: `wal.rs` does it
//! beside the commits. New files are made with incremental auto-vacuum, so
//! pages retention frees can be given back (`retention.rs`); a file
//! made before keeps reusing its free pages but never shrinks until it is
//! vacuumed once by hand (README, "Retention").
//!
//! The reads and the workflow and worker writes are the shared ones
//! (`store/workflows.rs`, `store/runs.rs`, …) over this folder's
//! `dialect.rs`; the run writer's commits (`commit.rs`) and the retention
//! sweeps (`retention.rs`) run on the rusqlite commit thread.

mod commit;
mod dialect;
mod retention;
mod slots;
pub(super) mod wal;
mod workflows;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use self::commit::CommitThread;
use self::wal::{CheckpointStats, Checkpointer};
use super::{StoreError, migrate};

/// The SQLite implementation of [`Store`](super::Store).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The run writer's commits, on a connection and thread of their own.
    commits: Arc<CommitThread>,
    /// WAL checkpoints, beside the commits.
    checkpoints: Arc<Checkpointer>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite:weft.db`,
    /// `sqlite://path`, or a bare file path) and runs the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") { url.to_owned() } else { format!("sqlite://{url}") };
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Takes effect only in a new file (see the module header).
            .auto_vacuum(SqliteAutoVacuum::Incremental)
            .pragma("wal_autocheckpoint", "0")
            // A WAL grown under a burst is cut back to 16 MiB when it rewinds.
            .pragma("journal_size_limit", "16777216");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options.clone()).await?;
        migrate::sqlite().run(&pool).await?;
        let file = options.get_filename();
        if file.as_os_str() == ":memory:" {
            return Err(StoreError::Corrupt("an in-memory SQLite database cannot be shared; give a file path".into()));
        }
        let auto_vacuum: i64 = sqlx::query_scalar("PRAGMA auto_vacuum").fetch_one(&pool).await?;
        if auto_vacuum != 2 {
            tracing::info!(
                file = %file.display(),
                "this database was made without incremental auto-vacuum: space retention frees is reused \
                 but the file does not shrink; see README, Retention, to convert it once"
            );
        }
        let commits = Arc::new(CommitThread::open(file)?);
        let chores = commits.chores().ok_or(StoreError::Closed)?;
        let checkpoints = Arc::new(Checkpointer::start(file, chores, commits.batches())?);
        Ok(Self { pool, commits, checkpoints })
    }

    /// Closes every connection, checkpointing the WAL.
    pub async fn close(&self) {
        self.checkpoints.stop().await;
        self.commits.close().await;
        self.pool.close().await;
    }

    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Figures of the WAL checkpoints made on the commit thread.
    pub fn checkpoint_stats(&self) -> Arc<CheckpointStats> {
        self.checkpoints.stats()
    }

    /// Goes back to SQLite's own checkpoints inside commits (every 1,000
    /// WAL pages) and stops the checkpoint thread: how this store worked
    /// before, for benchmarks that compare the two.
    #[doc(hidden)]
    pub async fn checkpoint_inside_commits(&self) -> Result<(), StoreError> {
        self.checkpoints.stop().await;
        self.commits.run(|conn| Ok(conn.pragma_update(None, "wal_autocheckpoint", 1000)?)).await
    }
}
