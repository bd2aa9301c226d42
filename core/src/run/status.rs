//! Run and step statuses live in `crate::model` (the store keeps them and
//! the api shows them); re-exported here so the run core names them as
//! before.

pub use crate::model::{RunStatus, StepStatus};
