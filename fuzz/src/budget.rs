//! How long a fuzz target runs under `cargo test`, and the line it prints.
//!
//! - `WEFT_FUZZ_SECONDS=N`: N seconds per target (a longer local run).
//! - else under `CI=true`: 60 seconds per target, as `.ci/run` wants.
//! - else 3 seconds, so a local `cargo test --workspace` stays quick.
//!
//! A target split over several tests gives each a share of its time.
//! bolero's own `BOLERO_RANDOM_TEST_TIME_MS` still overrides all of this.
//! Under libFuzzer (`cargo bolero test`) the time is the fuzzer's to set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seconds per target in CI.
pub const CI_SECONDS: f64 = 60.0;
/// Seconds per target in a local test run.
pub const LOCAL_SECONDS: f64 = 3.0;

/// The time one target gets, from the environment.
pub fn target_seconds() -> f64 {
    match std::env::var("WEFT_FUZZ_SECONDS").ok().and_then(|s| s.trim().parse::<f64>().ok()) {
        Some(seconds) if seconds.is_finite() && seconds > 0.0 => seconds,
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => CI_SECONDS,
        _ => LOCAL_SECONDS,
    }
}

/// Counts what one test of a target did; `Sync` and unwind-safe, as bolero
/// wants of anything its test closure holds.
#[derive(Debug)]
pub struct Run {
    name: &'static str,
    time: Duration,
    started: Instant,
    inputs: AtomicU64,
    accepted: AtomicU64,
    slowest_micros: AtomicU64,
}

impl Run {
    /// A test of target `name` that gets `share` of the target's time.
    pub fn new(name: &'static str, share: f64) -> Self {
        let time = Duration::from_secs_f64(target_seconds() * share);
        Self {
            name,
            time,
            started: Instant::now(),
            inputs: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            slowest_micros: AtomicU64::new(0),
        }
    }

    /// The time to hand bolero's `with_test_time`.
    pub fn time(&self) -> Duration {
        self.time
    }

    /// Runs `target` on one input, counting it, whether the input was
    /// accepted (the target's `true`), and the slowest input seen.
    pub fn one(&self, bytes: &[u8], target: fn(&[u8]) -> bool) {
        let start = Instant::now();
        let accepted = target(bytes);
        let micros = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.inputs.fetch_add(1, Ordering::Relaxed);
        if accepted {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        }
        self.slowest_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// Inputs run so far.
    pub fn inputs(&self) -> u64 {
        self.inputs.load(Ordering::Relaxed)
    }

    /// Prints the run's line (shown with `--nocapture`, and in CI logs when
    /// the test fails), and returns it.
    pub fn report(&self) -> String {
        let line = format!(
            "fuzz {}: {} inputs ({} accepted) in {:.1}s, slowest input {:.1} ms",
            self.name,
            self.inputs(),
            self.accepted.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64(),
            self.slowest_micros.load(Ordering::Relaxed) as f64 / 1000.0,
        );
        eprintln!("{line}");
        line
    }
}
