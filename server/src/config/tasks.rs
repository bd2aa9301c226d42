//! The `[tasks]` section: when a queued worker task counts as unclaimed
//! (`unclaimed_after`). Past it, with no worker polling for the task's
//! agent, the step says what it waits for (`waitingFor`), the run records
//! task.unclaimed once and the server logs a warning; see
//! `engine/tasks/unclaimed.rs`.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// Shortest and longest `[tasks] unclaimed_after`: shorter would call
/// every ordinary claim late; longer than a day says nothing useful.
const MIN_UNCLAIMED_AFTER: Duration = Duration::from_millis(100);
const MAX_UNCLAIMED_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// How the task queue tells a task nobody serves.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskSettings {
    /// How long an agent or planner task may wait queued, with no worker
    /// polling for its agent, before it counts as unclaimed, as a duration
    /// ("10s", "500ms"). Between 100 ms and 1 day; default 10 s; env
    /// `WEFT_TASK_UNCLAIMED_AFTER`.
    #[serde(deserialize_with = "super::runs::duration_text")]
    pub unclaimed_after: Duration,
}

impl Default for TaskSettings {
    fn default() -> Self {
        Self { unclaimed_after: Duration::from_secs(10) }
    }
}

impl TaskSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        const NAME: &str = "WEFT_TASK_UNCLAIMED_AFTER";
        if let Some(value) = env(NAME) {
            self.unclaimed_after = humantime::parse_duration(value.trim()).map_err(|e| ConfigError::Env {
                name: NAME,
                reason: format!("expected a duration like \"10s\" or \"500ms\": {e}"),
                value,
            })?;
        }
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_UNCLAIMED_AFTER..=MAX_UNCLAIMED_AFTER).contains(&self.unclaimed_after) {
            let reason = "must be between 100ms and 1 day (e.g. \"10s\")".into();
            return Err(ConfigError::Invalid { name: "tasks.unclaimed_after", reason });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unclaimed_after_defaults_to_ten_seconds_and_is_read_from_env_and_file() {
        let mut tasks = TaskSettings::default();
        assert_eq!(tasks.unclaimed_after, Duration::from_secs(10));
        tasks.apply_env(&|name: &str| (name == "WEFT_TASK_UNCLAIMED_AFTER").then(|| "500ms".to_owned())).unwrap();
        assert_eq!(tasks.unclaimed_after, Duration::from_millis(500));
        tasks.validate().unwrap();
        let file: TaskSettings = toml::from_str("unclaimed_after = \"2m\"").unwrap();
        assert_eq!(file.unclaimed_after, Duration::from_secs(120));
        file.validate().unwrap();
    }

    #[test]
    fn unclaimed_after_out_of_range_or_malformed_is_refused_by_name() {
        let bad = TaskSettings::default()
            .apply_env(&|name: &str| (name == "WEFT_TASK_UNCLAIMED_AFTER").then(|| "soon".to_owned()))
            .unwrap_err();
        assert!(bad.to_string().contains("WEFT_TASK_UNCLAIMED_AFTER"), "{bad}");
        for text in ["99ms", "0s", "2d"] {
            let file: TaskSettings = toml::from_str(&format!("unclaimed_after = \"{text}\"")).unwrap();
            let err = file.validate().unwrap_err().to_string();
            assert!(err.contains("tasks.unclaimed_after"), "{text}: {err}");
        }
        let edges = ["100ms", "1day"];
        for text in edges {
            let file: TaskSettings = toml::from_str(&format!("unclaimed_after = \"{text}\"")).unwrap();
            file.validate().unwrap_or_else(|e| panic!("{text}: {e}"));
        }
        assert!(toml::from_str::<TaskSettings>("unclaimed_after = \"x\"").is_err());
    }
}
