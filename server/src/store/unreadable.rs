//! What reads do with stored data they cannot read: one bad value or row
//! must never fail every read of its run, nor a whole list. Such data
//! cannot be written any more (values are held to the JSON nesting limit
//! on the way in), but a database from before that limit, or one changed
//! by hand, may hold it.

use serde_json::Value;

use super::StoreError;

/// Stored JSON text as a value; text that does not parse (damaged, or
/// nested past serde_json's 128 levels) is logged with `id` and read as a
/// string saying so.
pub(super) fn json_or_marker(text: &str, column: &str, id: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|err| {
        tracing::warn!(id, column, error = %err, "a stored JSON value cannot be read; answering a marker instead");
        Value::String(format!("[value omitted: the stored {column} cannot be read: {err}]"))
    })
}

/// A listed row as `read` made it, or `None` when it cannot be read: logged
/// with `id` and left out, so the list answers the rows it can.
pub(super) fn listed<T>(what: &str, id: &str, read: Result<T, StoreError>) -> Option<T> {
    match read {
        Ok(record) => Some(record),
        Err(err) => {
            tracing::warn!(what, id, error = %err, "a stored row cannot be read; it is left out of the list");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_json_becomes_a_marker_and_unreadable_rows_are_left_out() {
        assert_eq!(json_or_marker("[1]", "input", "wfrun_1"), serde_json::json!([1]));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let marker = json_or_marker(&deep, "input", "wfrun_1");
        assert!(marker.as_str().is_some_and(|m| m.contains("stored input cannot be read")), "{marker}");
        assert_eq!(listed("run", "wfrun_1", Ok::<_, StoreError>(1)), Some(1));
        assert_eq!(listed::<u8>("run", "wfrun_2", Err(StoreError::Corrupt("bad".into()))), None);
    }
}
