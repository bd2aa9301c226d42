//! The `sort` and `order` parameters of ListWorkflows, read into the
//! store's order. Empty means the default (newest first); anything else
//! that is not listed is refused naming the field and the allowed values.

use tonic::Status;

use crate::api::error;
use crate::store::{SortOrder, WorkflowSort};

/// `sort`: "createdAt" (default), "updatedAt" or "name"; the snake_case
/// spellings are read too, for the documents that write them so.
pub fn list_sort(value: &str) -> Result<WorkflowSort, Status> {
    match value {
        "" | "createdAt" | "created_at" => Ok(WorkflowSort::CreatedAt),
        "updatedAt" | "updated_at" => Ok(WorkflowSort::UpdatedAt),
        "name" => Ok(WorkflowSort::Name),
        other => Err(error::invalid_argument(
            "sort",
            format!("'{}' is not a sort; use createdAt, updatedAt or name", shown(other)),
        )),
    }
}

/// `order`: "desc" (default) or "asc", in any letter case.
pub fn list_order(value: &str) -> Result<SortOrder, Status> {
    if value.is_empty() || value.eq_ignore_ascii_case("desc") {
        Ok(SortOrder::Desc)
    } else if value.eq_ignore_ascii_case("asc") {
        Ok(SortOrder::Asc)
    } else {
        Err(error::invalid_argument("order", format!("'{}' is not an order; use asc or desc", shown(value))))
    }
}

/// A refused value as echoed in the message: at most 64 characters.
fn shown(value: &str) -> String {
    value.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_spellings_and_refusals() {
        assert_eq!(list_sort("").unwrap(), WorkflowSort::CreatedAt);
        assert_eq!(list_sort("updated_at").unwrap(), WorkflowSort::UpdatedAt);
        assert_eq!(list_sort("name").unwrap(), WorkflowSort::Name);
        assert_eq!(list_order("").unwrap(), SortOrder::Desc);
        assert_eq!(list_order("ASC").unwrap(), SortOrder::Asc);
        let refused = list_sort("size").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        assert!(refused.message().contains("createdAt, updatedAt or name"), "{}", refused.message());
        assert_eq!(list_order("up").unwrap_err().code(), tonic::Code::InvalidArgument);
    }
}
