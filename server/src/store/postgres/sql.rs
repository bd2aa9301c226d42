//! SQL helpers every Postgres table writer and reader uses: the arrays an
//! `UNNEST` statement binds, and the partition condition of the cluster's
//! reads. A leaf: it uses nothing else of the store but the text escape.

use std::borrow::Cow;

use super::text::nul_safe;
use crate::store::cluster::partition_sql;

/// Collects one column of `rows` as the array an `UNNEST` parameter takes.
pub(super) fn column<'a, T, U>(rows: &'a [T], get: impl Fn(&'a T) -> U) -> Vec<U> {
    rows.iter().map(get).collect()
}

/// Splits (run id, step key) pairs into the two arrays a keyed statement takes.
pub(super) fn key_columns(keys: &[(String, String)]) -> (Vec<Cow<'_, str>>, Vec<Cow<'_, str>>) {
    keys.iter().map(|(run, key)| (nul_safe(run), nul_safe(key))).unzip()
}

/// `AND <partition of column> = ANY($n)`, for a parameter `$n` holding
/// partition ids.
pub(super) fn in_partitions(column: &str, n: usize) -> String {
    format!("AND {} = ANY(${n}::int[])", partition_sql(column))
}

/// Partition ids as Postgres binds them.
pub(super) fn partition_ids(partitions: &[u16]) -> Vec<i32> {
    partitions.iter().map(|&p| i32::from(p)).collect()
}
