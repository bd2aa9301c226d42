//! The `[secrets]` section: secrets step headers may reference as
//! `{{ secrets.NAME }}`, and the key tenant secrets are sealed with.
//!
//! ```toml
//! [secrets]
//! key = "<base64 of 32 random bytes>"   # or env WEFT_SECRETS_KEY
//!
//! [secrets.values.default]              # config secrets of tenant "default"
//! API_TOKEN = "…"
//! ```
//!
//! A header's reference is looked up in the run's tenant's store first
//! (SecretService), then here. Debug output shows names, never values.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::ConfigError;
use crate::expr::is_secret_name;
use crate::outbound::SealingKey;

/// Largest secret value, bytes (a header value, not a document).
pub const MAX_SECRET_VALUE_BYTES: usize = 8 * 1024;

/// Secrets kept by the server for steps.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretSettings {
    /// Base64 of 32 bytes: the key values stored through SecretService are
    /// sealed with (XChaCha20-Poly1305). Without it, storing a secret is
    /// refused (FAILED_PRECONDITION); config secrets still work. Env
    /// `WEFT_SECRETS_KEY`. Changing it makes stored secrets unreadable.
    pub key: Option<String>,
    /// Config secrets by tenant, then name: `[secrets.values.<tenant>]`
    /// `NAME = "value"`. Names `[A-Za-z_][A-Za-z0-9_]{0,127}`; values at
    /// most 8 KiB, no control characters but tab.
    pub values: BTreeMap<String, BTreeMap<String, String>>,
}

impl std::fmt::Debug for SecretSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: BTreeMap<&str, Vec<&str>> =
            self.values.iter().map(|(t, v)| (t.as_str(), v.keys().map(String::as_str).collect())).collect();
        f.debug_struct("SecretSettings").field("key", &self.key.as_ref().map(|_| "…")).field("values", &names).finish()
    }
}

/// Why a secret value cannot be used in a header; never quotes it.
fn value_problem(value: &str) -> Option<String> {
    if value.len() > MAX_SECRET_VALUE_BYTES {
        return Some(format!("is {} bytes; the limit is {MAX_SECRET_VALUE_BYTES}", value.len()));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Some("holds a control character (a header value cannot)".into());
    }
    None
}

impl SecretSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(key) = env("WEFT_SECRETS_KEY").filter(|k| !k.is_empty()) {
            self.key = Some(key);
        }
        Ok(())
    }

    /// Checks what serde cannot. Messages name settings, never values.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(key) = &self.key
            && let Err(err) = SealingKey::from_base64(key)
        {
            return Err(ConfigError::Invalid { name: "secrets.key", reason: err.to_string() });
        }
        for (tenant, values) in &self.values {
            if !crate::model::tenancy::is_valid_tenant_id(tenant) {
                let reason = format!("'{tenant}' is not a tenant id ([a-z0-9][a-z0-9_-]{{0,62}})");
                return Err(ConfigError::Invalid { name: "secrets.values", reason });
            }
            for (name, value) in values {
                if !is_secret_name(name) {
                    let reason = format!(
                        "[secrets.values.{tenant}] has name '{}', which is not [A-Za-z_][A-Za-z0-9_]{{0,127}}",
                        name.chars().take(140).collect::<String>()
                    );
                    return Err(ConfigError::Invalid { name: "secrets.values", reason });
                }
                if let Some(problem) = value_problem(value) {
                    let reason = format!("the value of [secrets.values.{tenant}] {name} {problem}");
                    return Err(ConfigError::Invalid { name: "secrets.values", reason });
                }
            }
        }
        Ok(())
    }

    /// Why `value` cannot be a secret (too long, a control character);
    /// never quotes it.
    pub fn value_problem(value: &str) -> Option<String> {
        value_problem(value)
    }

    /// The sealing key, when one is configured (validated already).
    pub fn sealing_key(&self) -> Option<SealingKey> {
        self.key.as_deref().and_then(|k| SealingKey::from_base64(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml_text: &str) -> SecretSettings {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn values_and_key_are_checked_without_quoting_values() {
        let ok = settings("key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n[values.default]\nA_1 = \"v\"");
        assert!(ok.validate().is_ok());
        assert!(ok.sealing_key().is_some());
        assert!(!format!("{ok:?}").contains("AAEC"), "Debug hides the key");
        let bad_key = settings("key = \"c2hvcnQ=\"");
        assert!(bad_key.validate().unwrap_err().to_string().contains("secrets.key"));
        let bad_name = settings("[values.default]\n\"1A\" = \"v\"");
        assert!(bad_name.validate().unwrap_err().to_string().contains("'1A'"));
        let bad_value = settings("[values.default]\nA = \"line\\nbreak-canary\"");
        let message = bad_value.validate().unwrap_err().to_string();
        assert!(message.contains("control character") && !message.contains("canary"), "{message}");
        let bad_tenant = settings("[values.Default]\nA = \"v\"");
        assert!(bad_tenant.validate().is_err());
        let big = settings(&format!("[values.default]\nA = \"{}\"", "x".repeat(MAX_SECRET_VALUE_BYTES + 1)));
        assert!(big.validate().unwrap_err().to_string().contains("8192"));
    }

    #[test]
    fn the_key_comes_from_the_environment_too() {
        let mut s = SecretSettings::default();
        s.apply_env(&|name| (name == "WEFT_SECRETS_KEY").then(|| "k".to_owned())).unwrap();
        assert_eq!(s.key.as_deref(), Some("k"));
    }
}
