//! Text as Postgres can hold it. A Rust `String` may contain U+0000 (a
//! client can send one in any protobuf or JSON string, and a step's task
//! text is rendered from run input), SQLite stores it, but Postgres `TEXT`
//! and `JSONB` refuse it, which would fail the whole group commit and every
//! run in it. So every string this store binds goes through [`nul_safe`]
//! and every string it reads back through its `Columns` impl: U+0001 is the
//! escape, U+0001 becomes U+0001 U+0001 and U+0000 becomes U+0001 '0'.
//! Text without either control character (all real text) is stored as is,
//! and equal strings encode equal, so `=` filters still work.
//!
//! JSON documents need nothing: serde_json writes both characters as
//! `\u0000` and `\u0001` escapes, never raw.

use std::borrow::Cow;

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::store::StoreError;
use crate::store::dialect::plain_columns;
use crate::store::rows::Columns;

const ESCAPE: char = '\u{1}';

/// `text` in the form Postgres stores.
pub(super) fn nul_safe(text: &str) -> Cow<'_, str> {
    if !text.contains(['\0', ESCAPE]) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\0' => out.extend([ESCAPE, '0']),
            ESCAPE => out.extend([ESCAPE, ESCAPE]),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`nul_safe`] of an optional string.
pub(super) fn nul_safe_opt(text: Option<&str>) -> Option<Cow<'_, str>> {
    text.map(nul_safe)
}

/// The string [`nul_safe`] was given.
pub(super) fn restore(stored: String) -> String {
    if !stored.contains(ESCAPE) {
        return stored;
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c != ESCAPE {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            // ESCAPE ESCAPE, or a lone one at the end (never written).
            _ => out.push(ESCAPE),
        }
    }
    out
}

/// Postgres rows as the shared decoders read them: text through
/// [`restore`].
impl Columns for PgRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(restore(self.try_get(column)?))
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get::<Option<String>, _>(column)?.map(restore))
    }

    plain_columns!();

    fn string_list(&self, column: &str) -> Result<Vec<String>, StoreError> {
        let list: Vec<String> = serde_json::from_value(self.try_get(column)?)
            .map_err(|e| StoreError::Corrupt(format!("{column} is not a list of strings: {e}")))?;
        Ok(list.into_iter().map(restore).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::{nul_safe, restore};

    #[test]
    fn every_string_survives_and_plain_text_is_untouched() {
        for text in ["", "plain", "a\0b", "\0", "\u{1}", "\u{1}0", "x\u{1}\0\u{1}\u{1}0y", "ünï\0cødé"] {
            let stored = nul_safe(text);
            assert!(!stored.contains('\0'), "{text:?}");
            assert_eq!(restore(stored.into_owned()), text);
        }
        assert!(matches!(nul_safe("plain"), std::borrow::Cow::Borrowed(_)));
        assert_ne!(nul_safe("a\0"), nul_safe("a\u{1}0"), "distinct strings stay distinct");
    }
}
