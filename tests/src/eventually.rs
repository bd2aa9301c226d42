//! Waiting for something to become true without guessing how long it takes:
//! poll a check until it holds, with a deadline that only guards against a
//! hang. Tests use this instead of a fixed `sleep` before looking, and
//! instead of asserting how fast something happened.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

/// How often [`eventually`] checks again.
const EVERY: Duration = Duration::from_millis(20);

/// Calls `check` every 20 ms until it answers `Ok`, and returns that value.
/// Fails the test, naming `what` and the last `Err` it saw, if no answer is
/// `Ok` within `secs` seconds: a guard against a hang, so make it generous.
pub async fn eventually<T, E, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) => assert!(tokio::time::Instant::now() < deadline, "{what} (not within {secs} s): {last:?}"),
        }
        tokio::time::sleep(EVERY).await;
    }
}
