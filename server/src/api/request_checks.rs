//! Checks of request fields shared by the services: ids and versions that
//! must be present, with the same wording everywhere.

use tonic::Status;

use crate::api::error;

/// INVALID_ARGUMENT unless `id` is present and at most 128 bytes.
pub fn required_id(id: &str, field: &str) -> Result<(), Status> {
    if id.trim().is_empty() {
        return Err(error::invalid_argument(field, "is required"));
    }
    if id.len() > 128 {
        return Err(error::invalid_argument(field, "is longer than 128 characters"));
    }
    Ok(())
}

/// INVALID_ARGUMENT unless `version` is set (versions start at 1).
pub fn required_version(version: u32, field: &str) -> Result<(), Status> {
    if version == 0 { Err(error::invalid_argument(field, "is required and starts at 1")) } else { Ok(()) }
}
