//! Which store a database URL names, opened and migrated.

use std::sync::Arc;

use super::postgres::PostgresStore;
use super::sqlite::SqliteStore;
use super::{ClusterStore, Store, StoreError};

/// The kind of store a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `sqlite:<file>`, `sqlite://<path>`, or a bare file path.
    Sqlite,
    /// `postgres://…` or `postgresql://…`.
    Postgres,
}

impl StoreKind {
    /// The store `url` names; `None` for a scheme no store speaks
    /// (`mysql://…`).
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") || !url.contains("://") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// `url` without a password, for logs: `postgres://weft:secret@h/db`
/// becomes `postgres://weft:***@h/db`.
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// An open store of either kind, to share with the engine and to close at
/// shutdown.
#[derive(Clone)]
pub enum OpenStore {
    /// The embedded SQLite file.
    Sqlite(SqliteStore),
    /// A Postgres database.
    Postgres(PostgresStore),
}

impl OpenStore {
    /// Opens the store `url` names and runs its migrations; `None` for a
    /// URL scheme no store speaks.
    pub async fn open(url: &str) -> Option<Result<Self, StoreError>> {
        Some(match StoreKind::of(url)? {
            StoreKind::Sqlite => SqliteStore::open(url).await.map(Self::Sqlite),
            StoreKind::Postgres => PostgresStore::open(url).await.map(Self::Postgres),
        })
    }

    /// What several replicas share, for a store that several replicas can
    /// share (Postgres); `None` for SQLite, whose one replica owns every
    /// run. Starts listening for other replicas unless `notify` is false.
    pub async fn cluster(&self, notify: bool) -> Option<Arc<dyn ClusterStore>> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(store) => {
                store.start_listening(notify).await;
                Some(Arc::new(store.clone()))
            }
        }
    }

    /// The store behind the trait the engine speaks.
    pub fn shared(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Closes every connection (on SQLite, checkpointing the WAL).
    pub async fn close(&self) {
        match self {
            Self::Sqlite(store) => store.close().await,
            Self::Postgres(store) => store.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StoreKind;

    #[test]
    fn urls_name_their_store() {
        assert_eq!(StoreKind::of("sqlite:weft.db"), Some(StoreKind::Sqlite));
        assert_eq!(StoreKind::of("sqlite:///tmp/weft.db"), Some(StoreKind::Sqlite));
        assert_eq!(StoreKind::of("weft.db"), Some(StoreKind::Sqlite));
        assert_eq!(StoreKind::of("postgres://postgres@127.0.0.1/test"), Some(StoreKind::Postgres));
        assert_eq!(StoreKind::of("postgresql://h/db"), Some(StoreKind::Postgres));
        assert_eq!(StoreKind::of("mysql://h/db"), None);
    }

    #[test]
    fn logged_urls_hide_the_password() {
        assert_eq!(super::redacted_url("postgres://weft:s3cret@db:5432/weft"), "postgres://weft:***@db:5432/weft");
        assert_eq!(super::redacted_url("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test");
        assert_eq!(super::redacted_url("sqlite:weft.db"), "sqlite:weft.db");
    }
}
