//! Secrets tenants keep for their steps' headers (`{{ secrets.NAME }}`),
//! stored sealed: the store only ever sees the ciphertext the engine made
//! (`outbound::sealing`), never a value. Written once for both databases
//! over [`Dialect`].

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;

/// A stored secret's name and times; never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSecretInfo {
    /// The name steps reference.
    pub name: String,
    /// When it was first stored, ms since the epoch.
    pub created_ms: i64,
    /// When its value last changed, ms since the epoch.
    pub updated_ms: i64,
}

/// Where tenants' sealed secrets live.
#[async_trait]
pub trait TenantSecretStore: Send + Sync + 'static {
    /// Stores `sealed` under (tenant, name), replacing any value: its
    /// times after, and whether the name was new.
    async fn put_tenant_secret(
        &self,
        tenant: &str,
        name: &str,
        sealed: &str,
        now_ms: i64,
    ) -> Result<(TenantSecretInfo, bool), StoreError>;

    /// The sealed value under (tenant, name), if any.
    async fn tenant_secret(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError>;

    /// At most `limit` of a tenant's secrets by name, those after `after`.
    async fn list_tenant_secrets(
        &self,
        tenant: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<TenantSecretInfo>, StoreError>;

    /// Deletes (tenant, name); false when there was none.
    async fn delete_tenant_secret(&self, tenant: &str, name: &str) -> Result<bool, StoreError>;
}

#[async_trait]
impl<D: Dialect> TenantSecretStore for D {
    async fn put_tenant_secret(
        &self,
        tenant: &str,
        name: &str,
        sealed: &str,
        now_ms: i64,
    ) -> Result<(TenantSecretInfo, bool), StoreError> {
        let mut conn = self.acquire().await?;
        // An insert that adds nothing when the name exists tells "new"
        // apart from "replaced" on both databases; then the replace. Two
        // puts racing both end with one of their values; a delete racing
        // between the two statements sends the put round again.
        let insert = "INSERT INTO tenant_secrets (tenant_id, name, sealed, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (tenant_id, name) DO NOTHING";
        let update = "UPDATE tenant_secrets SET sealed = ?3, updated_at = ?4 WHERE tenant_id = ?1 AND name = ?2 \
             RETURNING created_at, updated_at";
        let args = [Arg::Text(tenant), Arg::Text(name), Arg::Text(sealed), Arg::Int(now_ms)];
        loop {
            if D::execute(&mut *conn, insert, &args).await? > 0 {
                let info = TenantSecretInfo { name: name.to_owned(), created_ms: now_ms, updated_ms: now_ms };
                return Ok((info, true));
            }
            if let Some(row) = D::fetch_optional(&mut *conn, update, &args).await? {
                let info = TenantSecretInfo {
                    name: name.to_owned(),
                    created_ms: row.int("created_at")?,
                    updated_ms: row.int("updated_at")?,
                };
                return Ok((info, false));
            }
        }
    }

    async fn tenant_secret(&self, tenant: &str, name: &str) -> Result<Option<String>, StoreError> {
        let sql = "SELECT sealed FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2";
        let row = D::fetch_optional(&mut *self.acquire().await?, sql, &[Arg::Text(tenant), Arg::Text(name)]).await?;
        row.map(|row| row.text("sealed")).transpose()
    }

    async fn list_tenant_secrets(
        &self,
        tenant: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<TenantSecretInfo>, StoreError> {
        let sql = "SELECT name, created_at, updated_at FROM tenant_secrets WHERE tenant_id = ?1 AND name > ?2 \
             ORDER BY name LIMIT ?3";
        let args = [Arg::Text(tenant), Arg::Text(after), Arg::Int(i64::from(limit))];
        let rows = D::fetch_all(&mut *self.acquire().await?, sql, &args).await?;
        rows.iter()
            .map(|row| {
                Ok(TenantSecretInfo {
                    name: row.text("name")?,
                    created_ms: row.int("created_at")?,
                    updated_ms: row.int("updated_at")?,
                })
            })
            .collect()
    }

    async fn delete_tenant_secret(&self, tenant: &str, name: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM tenant_secrets WHERE tenant_id = ?1 AND name = ?2";
        let deleted = D::execute(&mut *self.acquire().await?, sql, &[Arg::Text(tenant), Arg::Text(name)]).await?;
        Ok(deleted > 0)
    }
}
