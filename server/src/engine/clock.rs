//! The one clock the engine reads: milliseconds since the epoch, as the
//! wall clock says, moved by tokio's time.
//!
//! Outside a paused runtime this is the wall clock. Inside a test whose
//! runtime is paused (`tokio::time::pause()`, `start_paused = true`) it
//! stands still and moves only with `tokio::time::advance()` (or tokio's
//! auto-advance when every task is idle), so timers, leases and timeouts
//! can be tested without sleeping. Every time the engine stamps (events,
//! timers, leases, idempotency windows) comes from [`now_ms`].

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0);
    (wall + paused_offset_micros()) / 1000 + shift_ms()
}

#[cfg(test)]
thread_local! {
    /// Unit tests only: how far this thread's clock is set ahead.
    static SHIFT_MS: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
fn shift_ms() -> i64 {
    SHIFT_MS.with(std::cell::Cell::get)
}

#[cfg(not(test))]
fn shift_ms() -> i64 {
    0
}

/// Unit tests only: sets this thread's clock `ms` ahead of the wall clock
/// (a current-thread test runtime and the tasks it spawns all see it),
/// for jumping months ahead where tokio's paused clock cannot go: while
/// it is paused, waiting on SQLite's worker thread lets tokio fire the
/// pool's timeouts.
#[cfg(test)]
pub(crate) fn set_shift_for_tests(ms: i64) {
    SHIFT_MS.with(|shift| shift.set(ms));
}

/// How far tokio's clock is from the real monotonic clock, in µs: about
/// zero on a running clock; the time advanced minus the real time passed
/// on a paused one. Added to the wall clock, it makes the wall clock
/// follow tokio's.
fn paused_offset_micros() -> i64 {
    let tokio_now = tokio::time::Instant::now().into_std();
    let real_now = std::time::Instant::now();
    match tokio_now.checked_duration_since(real_now) {
        Some(ahead) => ahead.as_micros() as i64,
        None => -(real_now.duration_since(tokio_now).as_micros() as i64),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::now_ms;

    #[tokio::test(start_paused = true)]
    async fn paused_time_moves_only_when_advanced() {
        let before = now_ms();
        // Real time passes; the paused clock does not.
        std::thread::sleep(Duration::from_millis(30));
        assert!(now_ms() - before < 5, "{} ms passed on a paused clock", now_ms() - before);
        tokio::time::advance(Duration::from_secs(3600)).await;
        let moved = now_ms() - before;
        assert!((3_600_000..3_600_005).contains(&moved), "advanced an hour, clock moved {moved} ms");
    }

    #[tokio::test]
    async fn a_running_clock_is_the_wall_clock() {
        let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        assert!((now_ms() - wall).abs() < 50, "clock {} vs wall {wall}", now_ms());
    }
}
