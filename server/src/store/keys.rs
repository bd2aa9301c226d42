//! API keys as the store keeps them: one row per key, holding the SHA-256
//! of its secret (never the secret), its tenant and scope, and when it was
//! revoked. The engine (`engine/keys.rs`) makes secrets, hashes them and
//! caches lookups; the store only remembers.
//!
//! [`KeyStore`] is written once here for both databases, over [`Dialect`].
//! Lookups by id are not scoped to a tenant: a presented key names its id,
//! and the row says which tenant it acts for.

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;
use crate::model::KeyScope;

/// One API key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The key id (`key_…`).
    pub id: String,
    /// The tenant it acts for.
    pub tenant_id: String,
    /// A label for people.
    pub name: String,
    /// What it may do.
    pub scope: KeyScope,
    /// SHA-256 of the secret, lowercase hex.
    pub secret_hash: String,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// When it was revoked; `None` while it is live.
    pub revoked_ms: Option<i64>,
}

/// Where API keys live; both stores implement it.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key.
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError>;

    /// The key with this id, revoked or not, of any tenant.
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;

    /// A tenant's keys, live ones first, each group oldest first, at most
    /// `limit` (so revoked keys piling up never hide a live one).
    async fn list_keys(&self, tenant: &str, limit: u32) -> Result<Vec<KeyRecord>, StoreError>;

    /// How many live (unrevoked) keys a tenant has.
    async fn count_live_keys(&self, tenant: &str) -> Result<u32, StoreError>;

    /// Marks a tenant's key revoked at `now_ms` (a revoked key keeps its
    /// first revocation time) and answers it; `None` when the tenant has
    /// no key of that id.
    async fn revoke_key(&self, tenant: &str, id: &str, now_ms: i64) -> Result<Option<KeyRecord>, StoreError>;

    /// Whether any key was ever made, revoked ones included.
    async fn any_key_exists(&self) -> Result<bool, StoreError>;
}

const KEY_COLUMNS: &str = "id, tenant_id, name, scope, secret_hash, created_at, revoked_at";

fn decode(row: &impl Columns) -> Result<KeyRecord, StoreError> {
    let id = row.text("id")?;
    let scope_text = row.text("scope")?;
    let scope = KeyScope::parse(&scope_text)
        .ok_or_else(|| StoreError::Corrupt(format!("key '{id}' has an unknown scope '{scope_text}'")))?;
    Ok(KeyRecord {
        tenant_id: row.text("tenant_id")?,
        name: row.text("name")?,
        scope,
        secret_hash: row.text("secret_hash")?,
        created_ms: row.int("created_at")?,
        revoked_ms: row.opt_int("revoked_at")?,
        id,
    })
}

#[async_trait]
impl<D: Dialect> KeyStore for D {
    async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        let sql = format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        let args = [
            Arg::Text(&key.id),
            Arg::Text(&key.tenant_id),
            Arg::Text(&key.name),
            Arg::Text(key.scope.as_str()),
            Arg::Text(&key.secret_hash),
            Arg::Int(key.created_ms),
            Arg::OptInt(key.revoked_ms),
        ];
        D::execute(&mut *self.acquire().await?, &sql, &args).await?;
        Ok(())
    }

    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1");
        let row = D::fetch_optional(&mut *self.acquire().await?, &sql, &[Arg::Text(id)]).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_keys(&self, tenant: &str, limit: u32) -> Result<Vec<KeyRecord>, StoreError> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 \
             ORDER BY (revoked_at IS NOT NULL), created_at, id LIMIT ?2"
        );
        let rows =
            D::fetch_all(&mut *self.acquire().await?, &sql, &[Arg::Text(tenant), Arg::Int(i64::from(limit))]).await?;
        // One damaged row never fails a listing.
        Ok(rows
            .iter()
            .filter_map(|row| match decode(row) {
                Ok(key) => Some(key),
                Err(err) => {
                    tracing::error!(error = %err, "a stored API key was skipped");
                    None
                }
            })
            .collect())
    }

    async fn count_live_keys(&self, tenant: &str) -> Result<u32, StoreError> {
        let sql = "SELECT COUNT(*) AS n FROM api_keys WHERE tenant_id = ?1 AND revoked_at IS NULL";
        let row = D::fetch_optional(&mut *self.acquire().await?, sql, &[Arg::Text(tenant)]).await?;
        let n = match row {
            Some(row) => row.int("n")?,
            None => 0,
        };
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn revoke_key(&self, tenant: &str, id: &str, now_ms: i64) -> Result<Option<KeyRecord>, StoreError> {
        let mut conn = self.acquire().await?;
        let update = "UPDATE api_keys SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND revoked_at IS NULL";
        D::execute(&mut *conn, update, &[Arg::Text(tenant), Arg::Text(id), Arg::Int(now_ms)]).await?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = ?1 AND id = ?2");
        let row = D::fetch_optional(&mut *conn, &sql, &[Arg::Text(tenant), Arg::Text(id)]).await?;
        row.as_ref().map(decode).transpose()
    }

    async fn any_key_exists(&self) -> Result<bool, StoreError> {
        let sql = "SELECT id FROM api_keys LIMIT 1";
        Ok(D::fetch_optional(&mut *self.acquire().await?, sql, &[]).await?.is_some())
    }
}
