//! Where `{{ secrets.NAME }}` header references find their values: the
//! run's tenant's stored secrets (sealed with the `[secrets] key`), then
//! the config secrets of that tenant (`[secrets.values.<tenant>]`). Also
//! what SecretService stores through. Values leave this module only as
//! the return of [`SecretVault::resolve`], to the request being built;
//! every error names a secret, never holds its value.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::SecretSettings;
use crate::engine::EngineError;
use crate::engine::scheduler::now_ms;
use crate::expr::{MAX_SECRET_NAME_LEN, is_secret_name};
use crate::outbound::SealingKey;
use crate::store::{Store, TenantSecretInfo};

/// Secrets of every tenant; cheap to clone.
#[derive(Clone)]
pub struct SecretVault {
    store: Arc<dyn Store>,
    key: Option<SealingKey>,
    config: Arc<BTreeMap<String, BTreeMap<String, String>>>,
}

impl std::fmt::Debug for SecretVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretVault").field("sealing", &self.key.is_some()).finish_non_exhaustive()
    }
}

/// The name checked, as a request field.
fn check_name(name: &str) -> Result<(), EngineError> {
    if is_secret_name(name) {
        return Ok(());
    }
    let shown: String = name.chars().take(MAX_SECRET_NAME_LEN + 8).collect();
    Err(EngineError::invalid(
        "name",
        format!(
            "'{shown}' is not a secret name: a letter or '_', then letters, digits or '_', at most \
             {MAX_SECRET_NAME_LEN} bytes"
        ),
    ))
}

impl SecretVault {
    /// A vault over `store` with the `[secrets]` settings.
    pub fn new(store: Arc<dyn Store>, settings: &SecretSettings) -> Self {
        Self { store, key: settings.sealing_key(), config: Arc::new(settings.values.clone()) }
    }

    fn key(&self) -> Result<&SealingKey, EngineError> {
        self.key.as_ref().ok_or_else(|| EngineError::FailedPrecondition {
            message: "storing secrets needs a sealing key: set [secrets] key (or WEFT_SECRETS_KEY) to base64 of \
                      32 random bytes"
                .into(),
            reason: "SECRETS_KEY_NOT_CONFIGURED",
        })
    }

    /// Stores `value` under `name` for `tenant`, sealed: its times, and
    /// whether the name is new.
    pub async fn put(&self, tenant: &str, name: &str, value: &str) -> Result<(TenantSecretInfo, bool), EngineError> {
        check_name(name)?;
        if value.is_empty() {
            return Err(EngineError::invalid("value", "a secret's value must not be empty"));
        }
        if let Some(problem) = SecretSettings::value_problem(value) {
            return Err(EngineError::invalid("value", format!("the value {problem}")));
        }
        let sealed = self.key()?.seal(tenant, name, value).map_err(|e| {
            tracing::error!(error = %e, "cannot seal a secret");
            EngineError::Unavailable("the secret could not be sealed; retry")
        })?;
        Ok(self.store.put_tenant_secret(tenant, name, &sealed, now_ms()).await?)
    }

    /// A page of `tenant`'s stored secrets (names and times), after `after`.
    pub async fn list(&self, tenant: &str, after: &str, limit: u32) -> Result<Vec<TenantSecretInfo>, EngineError> {
        Ok(self.store.list_tenant_secrets(tenant, after, limit).await?)
    }

    /// Deletes `tenant`'s stored `name`; NotFound when there is none.
    pub async fn delete(&self, tenant: &str, name: &str) -> Result<(), EngineError> {
        check_name(name)?;
        if self.store.delete_tenant_secret(tenant, name).await? {
            Ok(())
        } else {
            Err(EngineError::NotFound { what: format!("secret '{name}'"), reason: "SECRET_NOT_FOUND" })
        }
    }

    /// The value `name` has for `tenant`: stored first, then config.
    /// `Ok(None)` when neither has it.
    pub async fn resolve(&self, tenant: &str, name: &str) -> Result<Option<String>, ResolveError> {
        if let Some(sealed) = self.store.tenant_secret(tenant, name).await.map_err(|_| ResolveError::Unavailable)? {
            let Some(key) = &self.key else { return Err(ResolveError::Unopenable) };
            return key.open(tenant, name, &sealed).map(Some).map_err(|_| ResolveError::Unopenable);
        }
        Ok(self.config.get(tenant).and_then(|values| values.get(name)).cloned())
    }
}

/// Why a stored secret could not be read as a request was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveError {
    /// The store did not answer; the attempt may be retried.
    Unavailable,
    /// Stored, but not openable with the configured key (none, or another).
    Unopenable,
}
