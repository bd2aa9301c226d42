//! Administration from the command line, straight on the store (no running
//! server needed): the `weft keys …` commands. They open the database the
//! configuration names, migrate it like `weft serve` would, act, and close.
//! Through a running server, the same is KeyService.

pub mod keys;

use std::sync::Arc;

use crate::config::Config;
use crate::store::{OpenStore, Store};

/// Why an administration command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The database URL names no supported store.
    #[error("unsupported database URL '{0}': use sqlite:<file> or postgres://…")]
    UnsupportedDatabase(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The engine refused the request.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

/// The store of `config`, migrated.
pub async fn open(config: &Config) -> Result<(OpenStore, Arc<dyn Store>), AdminError> {
    let opened = match OpenStore::open(&config.database_url).await {
        Some(opened) => opened?,
        None => return Err(AdminError::UnsupportedDatabase(crate::store::redacted_url(&config.database_url))),
    };
    let shared = opened.shared();
    Ok((opened, shared))
}
