//! The `[auth]` section: whether every call needs an API key.

use serde::Deserialize;

use super::ConfigError;

/// How callers prove who they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Refuse every call without a valid API key, even on loopback with no
    /// keys in the store. Default false; env `WEFT_REQUIRE_AUTH`; flag
    /// `--require-auth`.
    pub required: bool,
}

impl AuthSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(required) = super::env_flag(env, "WEFT_REQUIRE_AUTH")? {
            self.required = required;
        }
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
