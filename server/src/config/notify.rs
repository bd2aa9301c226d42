//! The `[notifications]` section: how notification webhooks are delivered
//! (`engine/notify`) and the bounds of subscriptions.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, env_flag, env_parsed};

/// Delivery, retry and bound settings of notification webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifySettings {
    /// Whether this replica sends notifications. Events are recorded
    /// either way; a replica that does not send leaves them to the others
    /// (or to itself after a restart). Default true; env
    /// `WEFT_NOTIFICATIONS_DISPATCH`.
    pub dispatch: bool,
    /// Attempts per delivery, the first included; then it is given up
    /// (status `failed`). Between 1 and 50; default 12; env
    /// `WEFT_NOTIFICATIONS_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// Wait before the second attempt, ms; each later wait doubles, up to
    /// `max_backoff_ms`. Between 10 ms and 1 h; default 5000; env
    /// `WEFT_NOTIFICATIONS_BACKOFF_MS`.
    pub initial_backoff_ms: u64,
    /// Longest wait between two attempts, ms. At least
    /// `initial_backoff_ms`, at most 24 h; default 3600000 (1 h).
    pub max_backoff_ms: u64,
    /// Whole-request timeout of one attempt, ms. Between 100 ms and 60 s;
    /// default 10000.
    pub request_timeout_ms: u64,
    /// How often the dispatcher looks for new events and due retries, ms.
    /// Between 10 ms and 60 s; default 500; env
    /// `WEFT_NOTIFICATIONS_POLL_MS`.
    pub poll_interval_ms: u64,
    /// Subscriptions one tenant may hold. Between 1 and 10000; default 100.
    pub max_subscriptions: u32,
    /// How long a delivered or failed delivery stays in the log after it
    /// ended, as a duration ("7d", "12h"). Between 1 s and 10 years;
    /// default 7 days.
    #[serde(deserialize_with = "super::runs::duration_text")]
    pub log_retention: Duration,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            dispatch: true,
            max_attempts: 12,
            initial_backoff_ms: 5_000,
            max_backoff_ms: 3_600_000,
            request_timeout_ms: 10_000,
            poll_interval_ms: 500,
            max_subscriptions: 100,
            log_retention: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}

impl NotifySettings {
    /// Applies the `WEFT_NOTIFICATIONS_*` variables.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(dispatch) = env_flag(env, "WEFT_NOTIFICATIONS_DISPATCH")? {
            self.dispatch = dispatch;
        }
        if let Some(attempts) = env_parsed(env, "WEFT_NOTIFICATIONS_MAX_ATTEMPTS")? {
            self.max_attempts = attempts;
        }
        if let Some(ms) = env_parsed(env, "WEFT_NOTIFICATIONS_BACKOFF_MS")? {
            self.initial_backoff_ms = ms;
        }
        if let Some(ms) = env_parsed(env, "WEFT_NOTIFICATIONS_POLL_MS")? {
            self.poll_interval_ms = ms;
        }
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |name, reason: &str| Err(ConfigError::Invalid { name, reason: reason.to_owned() });
        if !(1..=50).contains(&self.max_attempts) {
            return invalid("notifications.max_attempts", "must be between 1 and 50");
        }
        if !(10..=3_600_000).contains(&self.initial_backoff_ms) {
            return invalid("notifications.initial_backoff_ms", "must be between 10 ms and 1 h");
        }
        if !(self.initial_backoff_ms..=86_400_000).contains(&self.max_backoff_ms) {
            return invalid("notifications.max_backoff_ms", "must be between initial_backoff_ms and 24 h");
        }
        if !(100..=60_000).contains(&self.request_timeout_ms) {
            return invalid("notifications.request_timeout_ms", "must be between 100 ms and 60 s");
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return invalid("notifications.poll_interval_ms", "must be between 10 ms and 60 s");
        }
        if !(1..=10_000).contains(&self.max_subscriptions) {
            return invalid("notifications.max_subscriptions", "must be between 1 and 10000");
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(10 * 365 * 24 * 60 * 60)).contains(&self.log_retention) {
            return invalid("notifications.log_retention", "must be between 1s and 10 years (e.g. \"7d\")");
        }
        Ok(())
    }

    /// The wait after attempt `attempt` (1 for the first) failed:
    /// `initial_backoff_ms` doubled per earlier attempt, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(40);
        let ms = self.initial_backoff_ms.saturating_mul(1u64 << doublings).min(self.max_backoff_ms);
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_wait_and_stops_at_the_cap() {
        let settings = NotifySettings { initial_backoff_ms: 100, max_backoff_ms: 1_000, ..Default::default() };
        let waits: Vec<u64> = (1..=6).map(|a| settings.backoff(a).as_millis() as u64).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(settings.backoff(u32::MAX).as_millis(), 1_000);
    }

    #[test]
    fn env_sets_the_section_and_bad_values_name_the_setting() {
        let mut settings = NotifySettings::default();
        let env = |name: &str| match name {
            "WEFT_NOTIFICATIONS_DISPATCH" => Some("false".to_owned()),
            "WEFT_NOTIFICATIONS_MAX_ATTEMPTS" => Some("3".to_owned()),
            "WEFT_NOTIFICATIONS_BACKOFF_MS" => Some("50".to_owned()),
            "WEFT_NOTIFICATIONS_POLL_MS" => Some("20".to_owned()),
            _ => None,
        };
        settings.apply_env(&env).unwrap();
        assert!(!settings.dispatch);
        assert_eq!((settings.max_attempts, settings.initial_backoff_ms, settings.poll_interval_ms), (3, 50, 20));
        settings.validate().unwrap();
        let none = NotifySettings { max_attempts: 0, ..settings.clone() };
        assert!(none.validate().unwrap_err().to_string().contains("notifications.max_attempts"));
        let inverted = NotifySettings { max_backoff_ms: 10, ..settings };
        assert!(inverted.validate().unwrap_err().to_string().contains("notifications.max_backoff_ms"));
    }
}
