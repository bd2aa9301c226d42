//! SQLite rows as the shared decoders (`rows.rs`) read them.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::StoreError;
use super::rows::Columns;

impl Columns for SqliteRow {
    fn text(&self, column: &str) -> Result<String, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn json_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(column)?)
    }

    fn string_list(&self, column: &str) -> Result<Vec<String>, StoreError> {
        let text: String = self.try_get(column)?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{column} is not a list of strings: {e}")))
    }
}
