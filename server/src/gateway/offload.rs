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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// On a one-thread runtime, work that ran inline would run on the test's
    /// own thread, one job at a time.
    #[tokio::test]
    async fn heavy_work_runs_off_the_workers_a_bounded_number_at_a_time() {
        let offload = Offload::new();
        let worker = std::thread::current().id();
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs: Vec<_> = (0..12)
            .map(|_| {
                let (offload, running, most) = (offload.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    offload
                        .run(HEAVY_BYTES, move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            std::thread::current().id()
                        })
                        .await
                })
            })
            .collect();
        for job in jobs {
            assert_ne!(job.await.unwrap(), worker, "heavy work ran on the async worker");
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most <= offload.permits(), "{most} ran at once, over {}", offload.permits());
        assert!(most >= 2, "the jobs ran one at a time");
        let inline = offload.run(HEAVY_BYTES - 1, || std::thread::current().id()).await;
        assert_eq!(inline, worker, "small work stays inline");
    }
}
