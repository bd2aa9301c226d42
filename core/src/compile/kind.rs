//! The closed set of step types. The type itself, [`StepKind`], is a model
//! type (`model/step_kind.rs`), re-exported here; which fields each one
//! uses is the table in `fields.rs`.

pub use crate::model::step_kind::StepKind;
