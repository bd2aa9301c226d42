//! The order of a workflow listing (by creation time, last update or name,
//! either way) and the keyset position a page ends at, turned into the
//! listing's ORDER BY and "after" clause. Every order ends with the id, so
//! equal keys (two workflows named alike, or created in one millisecond)
//! still page without gaps or repeats.

/// What a listing is ordered by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkflowSort {
    /// Creation time of the workflow (its version 1).
    #[default]
    CreatedAt,
    /// Time of the latest version or status change.
    UpdatedAt,
    /// The name of the latest version, compared byte by byte on both
    /// databases (`COLLATE "C"` on Postgres).
    Name,
}

/// Which way a listing runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Smallest (oldest, A) first.
    Asc,
    /// Largest (newest, Z) first.
    #[default]
    Desc,
}

/// The sort key of the last row a page served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorKey {
    /// A creation or update time, Unix milliseconds.
    Time(i64),
    /// A name.
    Name(String),
}

/// Where a page ended: the sort key and id of its last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowCursor {
    /// The last row's key under the listing's sort.
    pub key: CursorKey,
    /// The last row's id.
    pub id: String,
}

impl WorkflowSort {
    /// The column of the key in `w` (workflows); the name is the latest
    /// version's, kept beside it by every write (migration 0015).
    fn column(self) -> &'static str {
        match self {
            Self::CreatedAt => "w.created_at",
            Self::UpdatedAt => "w.updated_at",
            Self::Name => "w.name",
        }
    }

    /// The cursor key of `workflow` under this sort.
    pub fn key_of(self, workflow: &crate::model::Workflow) -> CursorKey {
        match self {
            Self::CreatedAt => CursorKey::Time(workflow.created_at_ms),
            Self::UpdatedAt => CursorKey::Time(workflow.updated_at_ms),
            Self::Name => CursorKey::Name(workflow.definition.name.clone()),
        }
    }
}

impl SortOrder {
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            Self::Asc => ("ASC", ">"),
            Self::Desc => ("DESC", "<"),
        }
    }
}

/// The ORDER BY of a listing, and its "after the cursor" condition whose
/// key is parameter `?key` and id `?id` (both NULL on a first page).
pub(crate) fn order_sql(sort: WorkflowSort, order: SortOrder, key: u8, id: u8) -> (String, String) {
    let column = sort.column();
    let (direction, past) = order.sql();
    let cast = match sort {
        WorkflowSort::CreatedAt | WorkflowSort::UpdatedAt => "BIGINT",
        WorkflowSort::Name => "TEXT",
    };
    let after = format!(
        "(CAST(?{key} AS {cast}) IS NULL OR {column} {past} ?{key} OR ({column} = ?{key} AND w.id {past} ?{id}))"
    );
    (format!("ORDER BY {column} {direction}, w.id {direction}"), after)
}
