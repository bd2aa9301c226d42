//! The Postgres store: the same contract as the SQLite store, on a
//! connection pool, for deployments that outgrow one file.
//!
//! SQLite serialises every writer with `BEGIN IMMEDIATE`; Postgres runs
//! writers side by side under READ COMMITTED, so each read-then-write here
//! takes the lock it needs (`FOR UPDATE` on the workflow row, an advisory
//! lock on a create's request id) and callers see the same outcomes: a
//! version conflict, one workflow per request id.
//!
//! The reads and the workflow and worker writes are the shared ones
//! (`store/workflows.rs`, `store/runs.rs`, …) over this folder's
//! `dialect.rs`; the run writer's group commit is `commit.rs` (with the
//! table writers in `runs.rs`, `tasks.rs`, `approvals.rs`), what several
//! replicas share is `cluster.rs` and `listen.rs`, and `sql.rs` and
//! `text.rs` are the helpers they all use.

mod approvals;
mod cluster;
mod commit;
mod dialect;
mod listen;
mod probe;
mod retention;
mod runs;
mod slots;
mod sql;
mod tasks;
mod text;
mod workflows;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::{Mutex, broadcast, watch};

use super::cluster::Notice;
use super::{StoreError, migrate};

/// Notices a slow subscriber may fall behind before it polls instead.
const NOTICE_BUFFER: usize = 4096;

/// Connections per process: the run writer holds one per commit, reads and
/// heartbeats share the rest.
const MAX_CONNECTIONS: u32 = 10;

/// The Postgres implementation of [`Store`](super::Store).
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    listen: Arc<Listening>,
}

/// Notices between replicas: whether they are on, and what is heard.
struct Listening {
    /// How to connect, for the listening connection.
    options: PgConnectOptions,
    /// Whether to NOTIFY and LISTEN (polling runs either way).
    notify: AtomicBool,
    /// What the listening connection hears.
    notices: broadcast::Sender<Notice>,
    /// Stops the listening task.
    stop: Mutex<Option<watch::Sender<bool>>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, with any libpq
    /// parameters sqlx understands, e.g. `options=-csearch_path%3Dschema`)
    /// and runs the migrations in the connection's schema. A server that
    /// cannot be reached fails within [`probe::PROBE_TIMEOUT`], naming the
    /// address and the cause.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        probe::probe(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        migrate::postgres().run(&pool).await?;
        let (notices, _) = broadcast::channel(NOTICE_BUFFER);
        let listen = Listening { options, notify: AtomicBool::new(true), notices, stop: Mutex::default() };
        Ok(Self { pool, listen: Arc::new(listen) })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Whether commits and inbox posts NOTIFY other replicas.
    pub(super) fn notifying(&self) -> bool {
        self.listen.notify.load(Ordering::Relaxed)
    }

    pub(super) fn subscribe_notices(&self) -> broadcast::Receiver<Notice> {
        self.listen.notices.subscribe()
    }

    /// Starts listening for other replicas' notifications, or, with
    /// `notify` false, turns NOTIFY and LISTEN off (replicas then learn of
    /// each other's work by polling alone).
    pub async fn start_listening(&self, notify: bool) {
        self.listen.notify.store(notify, Ordering::Relaxed);
        let mut listening = self.listen.stop.lock().await;
        if !notify || listening.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let (options, notices) = (self.listen.options.clone(), self.listen.notices.clone());
        tokio::spawn(listen::run(options, notices, stopped));
        *listening = Some(stop);
    }

    /// Stops listening and closes every connection.
    pub async fn close(&self) {
        if let Some(stop) = self.listen.stop.lock().await.take() {
            let _ = stop.send(true);
        }
        self.pool.close().await;
    }
}
