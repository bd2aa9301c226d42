//! `weft keys create | list | revoke`: API keys made, shown and revoked on
//! the store. The secret is printed once, by `create`, and never again.

use std::io::Write;

use crate::admin::{AdminError, open};
use crate::config::Config;
use crate::engine::keys::KeyRing;
use crate::engine::scheduler::now_ms;
use crate::model::KeyScope;
use crate::store::KeyRecord;

/// Makes a key and writes its secret, then how to use it, to `out`.
pub async fn create(
    config: &Config,
    tenant: &str,
    scope: KeyScope,
    name: &str,
    out: &mut impl Write,
) -> Result<(), AdminError> {
    let (store, shared) = open(config).await?;
    let made = KeyRing::new(shared, false).create(tenant, scope, name, now_ms()).await;
    store.close().await;
    let made = made?;
    let _ = writeln!(out, "{}", made.token);
    let _ = writeln!(
        out,
        "\ncreated {} (tenant '{}', scope {}). The key is shown once: store it now. \
         Send it as `authorization: Bearer <key>`.",
        made.record.id, made.record.tenant_id, made.record.scope
    );
    Ok(())
}

/// Writes a table of a tenant's keys to `out`.
pub async fn list(config: &Config, tenant: &str, out: &mut impl Write) -> Result<(), AdminError> {
    let (store, shared) = open(config).await?;
    let keys = KeyRing::new(shared, false).list(tenant).await;
    store.close().await;
    let keys = keys?;
    let _ = writeln!(out, "{:<31}  {:<7}  {:<24}  {:<10}  NAME", "ID", "SCOPE", "CREATED", "STATE");
    for key in &keys {
        let _ = writeln!(out, "{}", row(key));
    }
    if keys.is_empty() {
        let _ = writeln!(out, "(tenant '{tenant}' has no keys)");
    }
    Ok(())
}

/// Revokes a key of `tenant`.
pub async fn revoke(config: &Config, tenant: &str, id: &str, out: &mut impl Write) -> Result<(), AdminError> {
    let (store, shared) = open(config).await?;
    let revoked = KeyRing::new(shared, false).revoke(tenant, id, now_ms()).await;
    store.close().await;
    let revoked = revoked?;
    let _ = writeln!(
        out,
        "revoked {} (tenant '{}'); running servers refuse it within {} s",
        revoked.id,
        revoked.tenant_id,
        crate::engine::keys::KEY_CACHE_TTL.as_secs()
    );
    Ok(())
}

fn row(key: &KeyRecord) -> String {
    let created = humantime::format_rfc3339_seconds(ms_to_time(key.created_ms)).to_string();
    let state = if key.revoked_ms.is_some() { "revoked" } else { "live" };
    format!("{:<31}  {:<7}  {:<24}  {:<10}  {}", key.id, key.scope.as_str(), created, state, key.name)
}

fn ms_to_time(ms: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
