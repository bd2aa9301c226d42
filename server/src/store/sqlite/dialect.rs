//! SQLite as the shared store code runs on it: statements on the pool
//! (reads) or in a `BEGIN IMMEDIATE` transaction, arguments bound as they
//! are, and rows read through [`Columns`].

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite};

use super::SqliteStore;
use crate::store::StoreError;
use crate::store::dialect::{Arg, plain_columns, sqlx_dialect};
use crate::store::rows::Columns;
use crate::store::runs::RunDialect;

type Query = sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

fn list_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings always serializes")
}

/// `sql` with `args` bound.
fn bound(sql: &str, args: &[Arg<'_>]) -> Query {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for arg in args {
        query = match *arg {
            Arg::Text(text) | Arg::Json(text) => query.bind(text.to_owned()),
            Arg::OptText(text) => query.bind(text.map(str::to_owned)),
            Arg::Int(value) => query.bind(value),
            Arg::OptInt(value) => query.bind(value),
            Arg::List(list) => query.bind(list_json(list)),
            Arg::OptList(list) => query.bind(list.map(list_json)),
            Arg::Pairs(pairs) => query.bind(serde_json::to_string(pairs).expect("pairs of strings serialize")),
            Arg::Partitions(ids) => query.bind(serde_json::to_string(ids).expect("integers serialize")),
        };
    }
    query
}

sqlx_dialect!(SqliteStore, Sqlite, |pool| pool.begin_with("BEGIN IMMEDIATE"));

impl RunDialect for SqliteStore {
    const KEY_PAIRS: &'static str = "SELECT json_extract(value, '$[0]') AS tenant_id, \
         json_extract(value, '$[1]') AS idempotency_key FROM json_each(?1)";

    fn in_list(column: &str, n: usize) -> String {
        format!("AND {column} IN (SELECT value FROM json_each(?{n}))")
    }
}

impl Columns for SqliteRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    plain_columns!();

    fn string_list(&self, column: &str) -> Result<Vec<String>, StoreError> {
        let text: String = self.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} is not a list of strings: {e}")))
    }
}
