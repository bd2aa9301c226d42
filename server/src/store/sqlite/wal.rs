//! WAL checkpoints beside the commits rather than inside them.
//!
//! SQLite's automatic checkpoint runs synchronously in whichever commit
//! pushes the WAL past 1,000 pages; bench/README.md traced the fan-out p99
//! tail to exactly those commits. Every connection of the store turns it
//! off (`wal_autocheckpoint = 0`), and this thread, on a connection of its
//! own, copies the WAL into the database with `wal_checkpoint(PASSIVE)`
//! every [`EVERY`]: that takes no lock a commit waits for.
//!
//! A passive checkpoint alone lets the WAL grow under steady load: SQLite
//! rewinds the WAL only when a write begins with every frame already
//! copied, and with a commit always in flight that moment never comes. So
//! once the WAL passes [`RESTART_PAGES`], one more passive checkpoint runs
//! as a chore on the commit thread, between two batches: it copies only
//! what was committed since this thread's last checkpoint, and as no
//! commit can come between it and the next, that next commit starts the
//! WAL from its beginning. (A RESTART or TRUNCATE checkpoint there would
//! wait for readers in the busy handler, holding up every commit.) When
//! the writer has been idle for [`IDLE`], this thread truncates the WAL,
//! giving its disk space back, unless a reader or writer is busy (it does
//! not wait).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::commit::Job;
use crate::store::StoreError;

/// How often the WAL is copied into the database: often enough that the
/// chore on the commit thread finds little left to copy.
pub(super) const EVERY: Duration = Duration::from_millis(25);

/// WAL size, in pages, past which the WAL is rewound (about 4 MiB of 4 KiB
/// pages, SQLite's own auto-checkpoint mark).
pub(super) const RESTART_PAGES: i64 = 1000;

/// How long the writer must have written nothing before the WAL file is
/// truncated.
pub(super) const IDLE: Duration = Duration::from_secs(1);

/// Figures of the checkpoints made on the commit thread, for benchmarks.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    /// Checkpoints run on the commit thread to rewind the WAL.
    pub chores: AtomicU64,
    /// Their total time on the commit thread, microseconds.
    pub chore_micros: AtomicU64,
    /// The longest of them, microseconds.
    pub max_chore_micros: AtomicU64,
    /// PASSIVE checkpoints run beside the commits.
    pub passive: AtomicU64,
}

/// The checkpointing thread and how to stop it.
pub(super) struct Checkpointer {
    stop: Mutex<Option<mpsc::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<CheckpointStats>,
}

impl Checkpointer {
    /// Starts checkpointing the database at `path`; `chores` reaches the
    /// commit thread, `batches` counts its commits.
    pub(super) fn start(path: &Path, chores: mpsc::Sender<Job>, batches: Arc<AtomicU64>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        // Never wait: a truncation that finds anyone busy tries again later.
        conn.busy_timeout(Duration::ZERO)?;
        let stats = Arc::new(CheckpointStats::default());
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = stats.clone();
        let thread = std::thread::Builder::new()
            .name("weft-sqlite-checkpoint".into())
            .spawn(move || run(conn, stopped, chores, batches, shared))
            .map_err(|e| StoreError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self { stop: Mutex::new(Some(stop)), thread: Mutex::new(Some(thread)), stats })
    }

    pub(super) fn stats(&self) -> Arc<CheckpointStats> {
        self.stats.clone()
    }

    /// Stops the thread and waits for it (it holds a way to the commit
    /// thread, which must be gone before that thread can close).
    pub(super) async fn stop(&self) {
        drop(self.stop.lock().expect("checkpoint stop lock").take());
        let thread = self.thread.lock().expect("checkpoint thread lock").take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The thread's loop: a passive checkpoint every [`EVERY`], and a rewind or
/// truncation on the commit thread when the WAL calls for one.
fn run(
    conn: Connection,
    stopped: mpsc::Receiver<()>,
    chores: mpsc::Sender<Job>,
    batches: Arc<AtomicU64>,
    stats: Arc<CheckpointStats>,
) {
    let pending = Arc::new(AtomicBool::new(false));
    let (mut seen, mut changed) = (batches.load(Ordering::Relaxed), Instant::now());
    // The batch count at the last rewind: a WAL rewinds only at the next
    // write, so until one comes another chore would do nothing.
    let mut rewound_at = None;
    loop {
        match stopped.recv_timeout(EVERY) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let wal_pages = match checkpoint(&conn, "PASSIVE") {
            Ok(pages) => pages,
            Err(err) => {
                tracing::warn!(error = %err, "WAL checkpoint failed; trying again");
                continue;
            }
        };
        stats.passive.fetch_add(1, Ordering::Relaxed);
        let now = batches.load(Ordering::Relaxed);
        if now != seen {
            (seen, changed) = (now, Instant::now());
        }
        if changed.elapsed() >= IDLE {
            if wal_pages > 0 {
                // Busy (a reader, a late writer) is fine: the next look tries again.
                let _ = checkpoint(&conn, "TRUNCATE");
            }
            continue;
        }
        if wal_pages < RESTART_PAGES || rewound_at == Some(now) {
            continue;
        }
        // One chore at a time: the next look waits for it to be done.
        if pending.swap(true, Ordering::AcqRel) {
            continue;
        }
        rewound_at = Some(now);
        let (done, stats) = (pending.clone(), stats.clone());
        let chore = Job::Chore(Box::new(move |conn| {
            let started = Instant::now();
            if let Err(err) = checkpoint(conn, "PASSIVE") {
                tracing::warn!(error = %err, "WAL checkpoint on the commit thread failed");
            }
            let micros = started.elapsed().as_micros() as u64;
            stats.chores.fetch_add(1, Ordering::Relaxed);
            stats.chore_micros.fetch_add(micros, Ordering::Relaxed);
            stats.max_chore_micros.fetch_max(micros, Ordering::Relaxed);
            done.store(false, Ordering::Release);
        }));
        if chores.send(chore).is_err() {
            return;
        }
    }
}

/// Runs a checkpoint; answers the WAL's size in pages (0 once truncated or
/// rewound).
fn checkpoint(conn: &Connection, mode: &str) -> Result<i64, rusqlite::Error> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| row.get::<_, i64>(1))
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;
    use std::time::Duration;

    use serde_json::json;

    use super::{IDLE, RESTART_PAGES};
    use crate::model::RunRecord;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{CommitStore, RunBatch};

    /// A running run of about five pages.
    pub(in crate::store) fn run(i: usize) -> RunRecord {
        RunRecord {
            id: format!("wfrun_{i:026}"),
            tenant_id: "default".into(),
            workflow_id: "wf_x".into(),
            workflow_version: 1,
            user_id: String::new(),
            status: crate::model::RunStatus::Running,
            // About five pages a commit.
            input: Some(json!({"pad": "x".repeat(16000)})),
            output: None,
            shared_state: None,
            error: None,
            error_code: None,
            cancel_reason: None,
            can_retry_from: None,
            pending_action: None,
            cost_cents: 0,
            trigger: "manual".into(),
            idempotency_key: String::new(),
            retry_of_run_id: None,
            created_ms: 1,
            started_ms: None,
            completed_ms: None,
            retention_ms: None,
            schedule_id: None,
            scheduled_ms: None,
        }
    }

    fn wal_bytes(db: &Path) -> u64 {
        std::fs::metadata(db.with_extension("db-wal")).map(|m| m.len()).unwrap_or(0)
    }

    /// Commits one after another never leave the checkpointer a moment
    /// with the whole WAL copied, so without the RESTART chore the WAL
    /// would grow with every commit; idle, it is truncated.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_rewinds_under_steady_commits_and_is_truncated_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wal.db");
        let store = SqliteStore::open(db.to_str().unwrap()).await.unwrap();
        let mut largest = 0;
        // About 5 x RESTART_PAGES pages of WAL in all.
        for i in 0..(RESTART_PAGES as usize) {
            store.commit_runs(&RunBatch { runs: vec![run(i)], ..RunBatch::default() }).await.unwrap();
            largest = largest.max(wal_bytes(&db));
        }
        let stats = store.checkpoint_stats();
        assert!(stats.chores.load(std::sync::atomic::Ordering::Relaxed) >= 1, "{stats:?}");
        // A rewind waits for the passive checkpoints and the chore queue:
        // allow three times the mark, far under the ~20 MiB written.
        assert!(largest < 3 * RESTART_PAGES as u64 * 4096, "the WAL reached {largest} bytes");
        tokio::time::sleep(IDLE + Duration::from_millis(800)).await;
        assert_eq!(wal_bytes(&db), 0, "an idle writer's WAL is truncated");
        store.close().await;
    }
}
