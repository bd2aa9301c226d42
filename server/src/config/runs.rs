//! The `[runs]` section: how long finished runs are kept (retention, swept
//! by [`crate::engine::retention`]) and how long a run may stay paused
//! (`max_paused_lifetime`, a durable timer per pause; see the run state
//! machine's `paused_lifetime`), and the concurrent-run limit per
//! workflow (`max_concurrent_per_workflow`, `paused_runs_hold_a_slot`; see
//! `engine/concurrency.rs`).

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Longest `[runs] retention`: 100 years, far from any overflow in ms.
const MAX_RETENTION: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
/// Longest `[runs] max_paused_lifetime`: 366 days, as a workflow's
/// retention.
const MAX_PAUSED_LIFETIME: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// What is kept of runs, and how long they may wait paused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunSettings {
    /// How long a finished run (completed, failed, partial or cancelled) is
    /// kept after it finished, as a duration ("30d", "12h", "10s"); then it
    /// is deleted in the background with its steps, events, tasks and
    /// approvals. A workflow's `policy.retention` overrides it for its
    /// runs. Between 1 s and 100 years; default 30 days; env
    /// `WEFT_RUN_RETENTION`.
    #[serde(deserialize_with = "duration_text")]
    pub retention: Duration,
    /// Longest time a run may stay paused (an approval or wait step
    /// nobody answers, a step gate, PauseRun) before it fails with
    /// RUN_TIMEOUT, as a duration ("7d"). It applies to pauses that begin
    /// while it is set, and the timer is stored, so it survives restarts.
    /// Between 1 s and 366 days; default: none (approval and wait steps
    /// have their own `timeout`); env `WEFT_MAX_PAUSED_LIFETIME` ("off"
    /// for none).
    #[serde(deserialize_with = "optional_duration_text")]
    pub max_paused_lifetime: Option<Duration>,
    /// Most runs of one workflow running at once; further runs are
    /// accepted and wait Queued, starting in arrival order as others end.
    /// A workflow's `max_concurrent_runs` overrides it. 0 means no limit;
    /// at most 100,000; default 10; env `WORKFLOW_MAX_CONCURRENT_RUNS`.
    pub max_concurrent_per_workflow: u32,
    /// Whether a paused run keeps its slot under that limit (default
    /// true: a run waiting on an approval still counts). When false, its
    /// slot goes to a queued run while it is paused, and it takes one
    /// again when it resumes, even past the limit. Env
    /// `WEFT_PAUSED_RUNS_HOLD_A_SLOT`.
    pub paused_runs_hold_a_slot: bool,
}

/// Default `[runs] max_concurrent_per_workflow`, as the 003 document says.
pub const DEFAULT_MAX_CONCURRENT_RUNS: u32 = 10;

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 60 * 60),
            max_paused_lifetime: None,
            max_concurrent_per_workflow: DEFAULT_MAX_CONCURRENT_RUNS,
            paused_runs_hold_a_slot: true,
        }
    }
}

/// A duration written as text ("30d"), in a TOML file.
pub(super) fn duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("'{text}' is not a duration like \"30d\" or \"12h\": {e}")))
}

fn optional_duration_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration_text(d).map(Some)
}

/// A duration from the variable `name`: "30d", "12h"; "off" for none
/// when `off` allows it.
fn env_duration(name: &'static str, value: String) -> Result<Duration, ConfigError> {
    humantime::parse_duration(&value).map_err(|e| ConfigError::Env {
        name,
        reason: format!("expected a duration like \"30d\" or \"12h\": {e}"),
        value,
    })
}

impl RunSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = env("WEFT_RUN_RETENTION") {
            self.retention = env_duration("WEFT_RUN_RETENTION", value)?;
        }
        if let Some(value) = env("WEFT_MAX_PAUSED_LIFETIME") {
            self.max_paused_lifetime = match value.trim() {
                "off" | "" => None,
                _ => Some(env_duration("WEFT_MAX_PAUSED_LIFETIME", value)?),
            };
        }
        if let Some(limit) = super::env_parsed(env, "WORKFLOW_MAX_CONCURRENT_RUNS")? {
            self.max_concurrent_per_workflow = limit;
        }
        if let Some(hold) = super::env_flag(env, "WEFT_PAUSED_RUNS_HOLD_A_SLOT")? {
            self.paused_runs_hold_a_slot = hold;
        }
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(Duration::from_secs(1)..=MAX_RETENTION).contains(&self.retention) {
            let reason = "must be between 1s and 100 years (e.g. \"30d\")".into();
            return Err(ConfigError::Invalid { name: "runs.retention", reason });
        }
        if let Some(lifetime) = self.max_paused_lifetime
            && !(Duration::from_secs(1)..=MAX_PAUSED_LIFETIME).contains(&lifetime)
        {
            let reason = "must be between 1s and 366 days (e.g. \"7d\"), or left out for none".into();
            return Err(ConfigError::Invalid { name: "runs.max_paused_lifetime", reason });
        }
        if self.max_concurrent_per_workflow > weft_core::model::definition::MAX_CONCURRENT_RUNS {
            let reason = "must be between 0 (no limit) and 100000".into();
            return Err(ConfigError::Invalid { name: "runs.max_concurrent_per_workflow", reason });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_paused_lifetime_is_off_by_default_and_read_from_env_and_file() {
        let mut runs = RunSettings::default();
        assert_eq!(runs.max_paused_lifetime, None);
        runs.apply_env(&|name: &str| (name == "WEFT_MAX_PAUSED_LIFETIME").then(|| "7d".to_owned())).unwrap();
        assert_eq!(runs.max_paused_lifetime, Some(Duration::from_secs(7 * 86_400)));
        runs.validate().unwrap();
        runs.apply_env(&|name: &str| (name == "WEFT_MAX_PAUSED_LIFETIME").then(|| "off".to_owned())).unwrap();
        assert_eq!(runs.max_paused_lifetime, None);
        let bad = runs.apply_env(&|name: &str| (name == "WEFT_MAX_PAUSED_LIFETIME").then(|| "soon".to_owned()));
        assert!(bad.unwrap_err().to_string().contains("WEFT_MAX_PAUSED_LIFETIME"));
        let file: RunSettings = toml::from_str("max_paused_lifetime = \"400d\"").unwrap();
        assert!(file.validate().unwrap_err().to_string().contains("runs.max_paused_lifetime"));
        let file: RunSettings = toml::from_str("max_paused_lifetime = \"2h\"").unwrap();
        assert_eq!(file.max_paused_lifetime, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn the_concurrent_run_limit_defaults_to_ten_and_is_read_from_env_and_file() {
        let mut runs = RunSettings::default();
        assert_eq!((runs.max_concurrent_per_workflow, runs.paused_runs_hold_a_slot), (10, true));
        let env = |name: &str| match name {
            "WORKFLOW_MAX_CONCURRENT_RUNS" => Some("0".to_owned()),
            "WEFT_PAUSED_RUNS_HOLD_A_SLOT" => Some("false".to_owned()),
            _ => None,
        };
        runs.apply_env(&env).unwrap();
        assert_eq!((runs.max_concurrent_per_workflow, runs.paused_runs_hold_a_slot), (0, false));
        let bad = runs.apply_env(&|name: &str| (name == "WORKFLOW_MAX_CONCURRENT_RUNS").then(|| "-1".to_owned()));
        assert!(bad.unwrap_err().to_string().contains("WORKFLOW_MAX_CONCURRENT_RUNS"));
        let file: RunSettings = toml::from_str("max_concurrent_per_workflow = 100001").unwrap();
        assert!(file.validate().unwrap_err().to_string().contains("runs.max_concurrent_per_workflow"));
        let file: RunSettings = toml::from_str("max_concurrent_per_workflow = 3").unwrap();
        assert_eq!(file.max_concurrent_per_workflow, 3);
        file.validate().unwrap();
    }
}
