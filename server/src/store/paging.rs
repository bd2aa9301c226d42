//! What every listing (workflows, runs, approvals) does around its own
//! statements: count the matches, position a page after (created ms, id),
//! read one row past the page to learn whether another follows, and leave
//! out the rows that cannot be read (`unreadable.rs`).

use super::StoreError;
use super::dialect::{Arg, Dialect};
use super::rows::Columns;
use super::unreadable::listed;

/// The `n` of a `SELECT COUNT(*) AS n …` statement.
pub(crate) async fn count<D: Dialect>(conn: &mut D::Conn, sql: &str, args: &[Arg<'_>]) -> Result<u32, StoreError> {
    let n = match D::fetch_optional(conn, sql, args).await? {
        Some(row) => row.int("n")?,
        None => 0,
    };
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// The arguments that position a page after (created ms, id): both NULL
/// for the first page.
pub(crate) fn after(position: &Option<(i64, String)>) -> [Arg<'_>; 2] {
    match position {
        Some((ms, id)) => [Arg::OptInt(Some(*ms)), Arg::OptText(Some(id))],
        None => [Arg::OptInt(None), Arg::OptText(None)],
    }
}

/// The LIMIT that reads one row more than a page of `limit`.
pub(crate) fn limit_plus_one(limit: u32) -> Arg<'static> {
    Arg::Int(i64::from(limit) + 1)
}

/// The records of `rows` read by `read` (those that cannot be read are
/// logged and left out), cut to `limit`, and whether more rows followed.
pub(crate) fn page<R: Columns, T>(
    rows: &[R],
    what: &str,
    limit: u32,
    read: impl Fn(&R) -> Result<T, StoreError>,
) -> (Vec<T>, bool) {
    let mut records: Vec<T> =
        rows.iter().filter_map(|row| listed(what, &row.text("id").unwrap_or_default(), read(row))).collect();
    let has_more = records.len() > limit as usize;
    records.truncate(limit as usize);
    (records, has_more)
}
