//! What the store code written once for both databases needs from one:
//! a connection, a write transaction, and three ways to run a statement
//! with typed arguments ([`Arg`]). SQLite and Postgres each implement
//! [`Dialect`] in a few lines (`sqlite/dialect.rs`, `postgres/dialect.rs`),
//! binding each argument the way their columns hold it (Postgres escapes
//! NUL in text, and keeps lists of strings as JSONB).
//!
//! The SQL text stays per dialect, beside each implementation: placeholders
//! (`?N` vs `$N`), casts and functions differ, and spelling each statement
//! out keeps it greppable and reviewable. What is shared is the logic
//! around the statements. The run writer's commits are not here: each
//! database has its own fast path (`sqlite/commit.rs`, `postgres/commit.rs`).

use std::ops::DerefMut;

use async_trait::async_trait;

use super::StoreError;
use super::rows::Columns;

/// One bound argument.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    /// Text.
    Text(&'a str),
    /// Text or NULL.
    OptText(Option<&'a str>),
    /// An integer.
    Int(i64),
    /// An integer or NULL.
    OptInt(Option<i64>),
    /// A list of strings, stored as a JSON array.
    List(&'a [String]),
    /// A list of strings or NULL.
    OptList(Option<&'a [String]>),
    /// A JSON document, as text.
    Json(&'a str),
    /// (tenant, key) pairs, as a JSON array of two-string arrays.
    Pairs(&'a [(String, String)]),
    /// Partition ids (Postgres binds an integer array, SQLite a JSON one).
    Partitions(&'a [u16]),
}

/// A database the shared store code runs on.
#[async_trait]
pub(crate) trait Dialect: Send + Sync + 'static {
    /// A connection statements run on.
    type Conn: Send;
    /// A result row.
    type Row: Columns + Send + Sync;
    /// A connection taken from the pool.
    type Pooled: DerefMut<Target = Self::Conn> + Send;
    /// An open write transaction.
    type Tx: DerefMut<Target = Self::Conn> + Send;

    /// A connection from the pool, for reads.
    async fn acquire(&self) -> Result<Self::Pooled, StoreError>;

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`, so two
    /// writers queue instead of deadlocking on a lock upgrade).
    async fn begin_write(&self) -> Result<Self::Tx, StoreError>;

    /// Commits `tx`.
    async fn commit(tx: Self::Tx) -> Result<(), StoreError>;

    /// Runs `sql`; the rows it changed.
    async fn execute(conn: &mut Self::Conn, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;

    /// The first row of `sql`, if any.
    async fn fetch_optional(
        conn: &mut Self::Conn,
        sql: &str,
        args: &[Arg<'_>],
    ) -> Result<Option<Self::Row>, StoreError>;

    /// Every row of `sql`.
    async fn fetch_all(conn: &mut Self::Conn, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Self::Row>, StoreError>;
}

/// Implements [`Dialect`] for a store on an sqlx pool of database `$db`
/// (the store has `fn pool(&self)`, and a `fn bound(&str, &[Arg]) ->
/// Query` in scope binds the arguments its way); `$begin` opens a write
/// transaction on `$pool`.
macro_rules! sqlx_dialect {
    ($store:ty, $db:ty, |$pool:ident| $begin:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::dialect::Dialect for $store {
            type Conn = <$db as sqlx::Database>::Connection;
            type Row = <$db as sqlx::Database>::Row;
            type Pooled = sqlx::pool::PoolConnection<$db>;
            type Tx = sqlx::Transaction<'static, $db>;

            async fn acquire(&self) -> Result<Self::Pooled, StoreError> {
                Ok(self.pool().acquire().await?)
            }

            async fn begin_write(&self) -> Result<Self::Tx, StoreError> {
                let $pool = self.pool();
                Ok($begin.await?)
            }

            async fn commit(tx: Self::Tx) -> Result<(), StoreError> {
                Ok(tx.commit().await?)
            }

            async fn execute(conn: &mut Self::Conn, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
                Ok(bound(sql, args).execute(conn).await?.rows_affected())
            }

            async fn fetch_optional(
                conn: &mut Self::Conn,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Option<Self::Row>, StoreError> {
                Ok(bound(sql, args).fetch_optional(conn).await?)
            }

            async fn fetch_all(
                conn: &mut Self::Conn,
                sql: &str,
                args: &[Arg<'_>],
            ) -> Result<Vec<Self::Row>, StoreError> {
                Ok(bound(sql, args).fetch_all(conn).await?)
            }
        }
    };
}

/// The [`Columns`] reads that need no conversion on either database
/// (integers, and JSON text as stored), inside an `impl Columns` of an
/// sqlx row type.
macro_rules! plain_columns {
    () => {
        fn json_text(&self, column: &str) -> Result<Option<String>, StoreError> {
            Ok(sqlx::Row::try_get(self, column)?)
        }

        fn int(&self, column: &str) -> Result<i64, StoreError> {
            Ok(sqlx::Row::try_get(self, column)?)
        }

        fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
            Ok(sqlx::Row::try_get(self, column)?)
        }
    };
}

pub(crate) use {plain_columns, sqlx_dialect};
