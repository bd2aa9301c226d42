//! Heavy JSON work off the async workers: transcoding a large request body
//! and writing a large answer run on tokio's blocking pool, at most
//! [`Offload::permits`] at a time, so a burst of maximum-size bodies can
//! neither stall the workers that serve health checks and small calls nor
//! hold more than that many bodies' working memory at once. Work on less
//! than [`HEAVY_BYTES`] stays inline: it takes microseconds.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// Below this many bytes (body or answer), work runs inline.
pub const HEAVY_BYTES: usize = 64 * 1024;

/// The bounded pool of heavy work.
#[derive(Debug, Clone)]
pub struct Offload {
    permits: Arc<Semaphore>,
    count: usize,
}

impl Offload {
    /// One permit per CPU, at least two: the work is CPU-bound, and each
    /// holds at most a body and its encoding (about twice the message
    /// limit) or one answer's tree.
    pub fn new() -> Self {
        let count = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2);
        Self { permits: Arc::new(Semaphore::new(count)), count }
    }

    /// How many heavy jobs run at once.
    pub fn permits(&self) -> usize {
        self.count
    }

    /// Runs `work` (over `size` bytes of input) inline when small, else on
    /// the blocking pool once a permit is free.
    pub async fn run<T, F>(&self, size: usize, work: F) -> T
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        if size < HEAVY_BYTES {
            return work();
        }
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => value,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => panic!("the blocking pool shut down under a request"),
        }
    }
}
