//! The `[limits]` section: per-tenant admission limits.

use serde::Deserialize;

use super::ConfigError;

/// Per-tenant limits on starting runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {}

impl LimitSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
