//! Checks of request fields shared by the services: ids and versions that
//! must be present, and free-form JSON within the nesting limit, with the
//! same wording everywhere.

use serde_json::Value;
use tonic::Status;

use crate::api::error;
use crate::model::json_limits::check_depth;

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

/// INVALID_ARGUMENT naming the first spot of `value` (the request field
/// `field`) nested deeper than
/// [`crate::model::json_limits::MAX_JSON_DEPTH`], e.g. `input.a.b…`.
/// Every free-form value a client sends is kept and sent back, so it must
/// stay within what every protobuf decoder reads (see `json_limits`).
pub fn json_depth(value: &Value, field: &str) -> Result<(), Status> {
    check_depth(value, field).map_err(|fault| error::invalid_argument(fault.path(), fault.description()))
}
