//! The `[limits]` section: per-tenant admission limits on starting runs,
//! enforced by [`crate::engine::admission`].

use serde::Deserialize;

use super::{ConfigError, env_parsed};

/// Per-tenant limits on starting runs. A value of 0 turns its limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Sustained run starts per second per tenant (a token bucket's refill
    /// rate); every call that makes a run (StartRun, ExecuteWorkflow,
    /// RetryRunFrom, a ResumeRun of a finished run) takes one.
    /// Over it: RESOURCE_EXHAUSTED `RUN_START_RATE_LIMITED` with RetryInfo
    /// (REST: 429 with Retry-After). 0 means unlimited. Default 500; env
    /// `WEFT_RUN_STARTS_PER_SECOND`.
    pub run_starts_per_second: u32,
    /// Starts a tenant may make at once after being idle (the bucket's
    /// size). At least 1 when the rate is on. Default 1000; env
    /// `WEFT_RUN_START_BURST`.
    pub run_start_burst: u32,
    /// Runs per tenant that may be open (pending, running or paused) at
    /// once. Over it: RESOURCE_EXHAUSTED `OPEN_RUNS_LIMIT` with RetryInfo
    /// (REST: 429). 0 means unlimited. Default 100000; env
    /// `WEFT_MAX_OPEN_RUNS`.
    pub max_open_runs: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self { run_starts_per_second: 500, run_start_burst: 1000, max_open_runs: 100_000 }
    }
}

/// Highest rate and burst accepted: far beyond what one store commits,
/// and small enough that token arithmetic in f64 stays exact.
const MAX_RATE: u32 = 1_000_000;

impl LimitSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(rate) = env_parsed(env, "WEFT_RUN_STARTS_PER_SECOND")? {
            self.run_starts_per_second = rate;
        }
        if let Some(burst) = env_parsed(env, "WEFT_RUN_START_BURST")? {
            self.run_start_burst = burst;
        }
        if let Some(open) = env_parsed(env, "WEFT_MAX_OPEN_RUNS")? {
            self.max_open_runs = open;
        }
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.run_starts_per_second > MAX_RATE {
            let reason = format!("must be at most {MAX_RATE} (0 turns the limit off)");
            return Err(ConfigError::Invalid { name: "limits.run_starts_per_second", reason });
        }
        if self.run_starts_per_second > 0 && !(1..=MAX_RATE).contains(&self.run_start_burst) {
            let reason = format!("must be between 1 and {MAX_RATE} while limits.run_starts_per_second is on");
            return Err(ConfigError::Invalid { name: "limits.run_start_burst", reason });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_sets_each_limit_and_bad_values_name_the_setting() {
        let mut limits = LimitSettings::default();
        let env = |name: &str| match name {
            "WEFT_RUN_STARTS_PER_SECOND" => Some("7".to_owned()),
            "WEFT_RUN_START_BURST" => Some("3".to_owned()),
            "WEFT_MAX_OPEN_RUNS" => Some("0".to_owned()),
            _ => None,
        };
        limits.apply_env(&env).unwrap();
        assert_eq!(limits, LimitSettings { run_starts_per_second: 7, run_start_burst: 3, max_open_runs: 0 });
        limits.validate().unwrap();
        let no_burst = LimitSettings { run_start_burst: 0, ..limits.clone() };
        assert!(no_burst.validate().unwrap_err().to_string().contains("limits.run_start_burst"));
        let off = LimitSettings { run_starts_per_second: 0, run_start_burst: 0, max_open_runs: 0 };
        off.validate().unwrap();
        let fast = LimitSettings { run_starts_per_second: MAX_RATE + 1, ..off };
        assert!(fast.validate().unwrap_err().to_string().contains("limits.run_starts_per_second"));
    }
}
