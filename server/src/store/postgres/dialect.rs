//! Postgres as the shared store code runs on it. The shared statements
//! are spelled with SQLite's `?N` placeholders; here they become `$N`.
//! Text is bound through [`nul_safe`] (and read back through the
//! `Columns` impl in `text.rs`), lists of strings as JSONB.

use std::borrow::Cow;

use serde_json::Value;
use sqlx::Postgres;

use super::PostgresStore;
use super::sql::partition_ids;
use super::text::nul_safe;
use crate::store::StoreError;
use crate::store::dialect::{Arg, sqlx_dialect};
use crate::store::runs::RunDialect;

type Query = sqlx::query::Query<'static, Postgres, <Postgres as sqlx::Database>::Arguments>;

/// `sql` with `?N` placeholders numbered the Postgres way (`$N`). The
/// shared statements use no `?` operator and no `?` inside a literal.
fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let placeholder = c == '?' && chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if placeholder { '$' } else { c });
    }
    Cow::Owned(out)
}

/// Tags and other lists as JSONB holds them: JSONB refuses `\u0000` even
/// escaped.
fn list_json(list: &[String]) -> Value {
    list.iter().map(|item| Value::from(nul_safe(item).into_owned())).collect()
}

/// `sql` with `args` bound.
fn bound(sql: &str, args: &[Arg<'_>]) -> Query {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(numbered(sql).into_owned()));
    for arg in args {
        query = match *arg {
            Arg::Text(text) => query.bind(nul_safe(text).into_owned()),
            Arg::OptText(text) => query.bind(text.map(|t| nul_safe(t).into_owned())),
            // JSON text never holds a raw NUL: serde_json escapes it.
            Arg::Json(text) => query.bind(text.to_owned()),
            Arg::Int(value) => query.bind(value),
            Arg::OptInt(value) => query.bind(value),
            Arg::List(list) => query.bind(list_json(list)),
            Arg::OptList(list) => query.bind(list.map(list_json)),
            // JSON text, so pairs holding NUL go through the escape first.
            Arg::Pairs(pairs) => {
                query.bind(Value::from_iter(pairs.iter().map(|(a, b)| list_json(&[a.clone(), b.clone()]))).to_string())
            }
            Arg::Partitions(ids) => query.bind(partition_ids(ids)),
        };
    }
    query
}

sqlx_dialect!(PostgresStore, Postgres, |pool| pool.begin());

impl RunDialect for PostgresStore {
    const KEY_PAIRS: &'static str = "SELECT value->>0 AS tenant_id, value->>1 AS idempotency_key \
         FROM jsonb_array_elements(CAST(?1 AS jsonb))";

    fn in_list(column: &str, n: usize) -> String {
        format!("AND {column} IN (SELECT jsonb_array_elements_text(CAST(?{n} AS jsonb)))")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_the_postgres_way() {
        assert_eq!(numbered("a = ?1 AND b = ?12 OR c ? d"), "a = $1 AND b = $12 OR c ? d");
        assert!(matches!(numbered("no placeholders"), Cow::Borrowed(_)));
    }
}
