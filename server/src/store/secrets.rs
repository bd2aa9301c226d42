//! Secrets the server keeps for itself (e.g. the key webhook signatures
//! are checked with), so every replica and every restart agrees on them.
//! Written once for both databases over [`Dialect`].

use async_trait::async_trait;

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;

/// Where the server's own secrets live.
#[async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// The secret kept under `name`: `candidate` is stored when there is
    /// none yet, and whichever value is stored is returned (a race between
    /// two starts keeps one value).
    async fn server_secret(&self, name: &str, candidate: &str, now_ms: i64) -> Result<String, StoreError>;
}

#[async_trait]
impl<D: Dialect> SecretStore for D {
    async fn server_secret(&self, name: &str, candidate: &str, now_ms: i64) -> Result<String, StoreError> {
        let mut conn = self.acquire().await?;
        let insert = "INSERT INTO server_secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
        D::execute(&mut *conn, insert, &[Arg::Text(name), Arg::Text(candidate), Arg::Int(now_ms)]).await?;
        let read = "SELECT value FROM server_secrets WHERE name = ?1";
        match D::fetch_optional(&mut *conn, read, &[Arg::Text(name)]).await? {
            Some(row) => row.text("value"),
            None => Err(StoreError::Corrupt(format!("server secret '{name}' is gone right after it was written"))),
        }
    }
}
