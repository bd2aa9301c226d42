//! The `[http]` section: which browser origins and Host names the server answers.

use serde::Deserialize;

use super::ConfigError;

/// What browsers and Host headers may reach the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Origins (`https://console.example.com`) whose pages may call the
    /// server from a browser (CORS). Default none; env
    /// `WEFT_CORS_ORIGINS`, comma-separated.
    pub cors_origins: Vec<String>,
}

impl HttpSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Checks ranges that serde cannot.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
