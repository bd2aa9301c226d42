//! The `[schedules]` section: whether this replica fires cron schedules,
//! how often it re-reads them, and how many a workflow and a tenant hold.

use serde::Deserialize;

use super::{ConfigError, env_flag, env_parsed};

/// Fire loop and bound settings of cron schedules.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSettings {
    /// Whether this replica fires schedules. Several replicas may all fire:
    /// each tick still starts one run. Default true; env
    /// `WEFT_SCHEDULES_FIRE`.
    pub fire: bool,
    /// How often the fire loop re-reads the schedules due soon, ms, so
    /// changes made through another replica are seen. Between 50 ms and
    /// 60 s; default 2000; env `WEFT_SCHEDULES_POLL_MS`.
    pub poll_interval_ms: u64,
    /// Schedules one workflow may hold. Between 1 and 100000; default 100.
    pub max_per_workflow: u32,
    /// Schedules one tenant may hold. Between 1 and 1000000; default
    /// 10000; env `WEFT_SCHEDULES_MAX_PER_TENANT`.
    pub max_per_tenant: u32,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self { fire: true, poll_interval_ms: 2_000, max_per_workflow: 100, max_per_tenant: 10_000 }
    }
}

impl ScheduleSettings {
    /// Applies the `WEFT_SCHEDULES_*` variables.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(fire) = env_flag(env, "WEFT_SCHEDULES_FIRE")? {
            self.fire = fire;
        }
        if let Some(ms) = env_parsed(env, "WEFT_SCHEDULES_POLL_MS")? {
            self.poll_interval_ms = ms;
        }
        if let Some(max) = env_parsed(env, "WEFT_SCHEDULES_MAX_PER_TENANT")? {
            self.max_per_tenant = max;
        }
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason: &str| Err(ConfigError::Invalid { name, reason: reason.to_owned() });
        if !(50..=60_000).contains(&self.poll_interval_ms) {
            return invalid("schedules.poll_interval_ms", "must be between 50 ms and 60 s");
        }
        if !(1..=100_000).contains(&self.max_per_workflow) {
            return invalid("schedules.max_per_workflow", "must be between 1 and 100000");
        }
        if !(1..=1_000_000).contains(&self.max_per_tenant) {
            return invalid("schedules.max_per_tenant", "must be between 1 and 1000000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_setting() {
        assert!(ScheduleSettings::default().validate().is_ok());
        let fast = ScheduleSettings { poll_interval_ms: 1, ..Default::default() };
        assert!(fast.validate().unwrap_err().to_string().contains("schedules.poll_interval_ms"));
        let none = ScheduleSettings { max_per_workflow: 0, ..Default::default() };
        assert!(none.validate().unwrap_err().to_string().contains("schedules.max_per_workflow"));
    }
}
