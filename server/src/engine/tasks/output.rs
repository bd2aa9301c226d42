//! What a worker's output must be for the step to keep it: JSON (no NaN or
//! infinity, which the protobuf `Value` can carry but JSON cannot) and at
//! most [`MAX_OUTPUT_BYTES`] once serialized. Anything else fails the step
//! with OUTPUT_INVALID instead of leaving the run waiting on a retry that
//! would give the same output.

use serde_json::Value;

/// Largest output a step keeps, as serialized JSON.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// An output as the api layer received it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutput {
    /// A JSON value.
    Json(Value),
    /// Something JSON cannot hold; the text says what and where.
    NotJson(String),
}

/// The output to keep, or why it is refused.
pub(super) fn check(output: TaskOutput) -> Result<Value, String> {
    match output {
        TaskOutput::NotJson(why) => Err(format!("the output is not JSON: {why}")),
        TaskOutput::Json(value) => {
            let size = serde_json::to_vec(&value).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
            if size > MAX_OUTPUT_BYTES {
                return Err(format!("the output is {size} bytes of JSON, over the cap of {MAX_OUTPUT_BYTES} bytes"));
            }
            Ok(value)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn outputs_over_the_cap_or_not_json_are_refused() {
        assert_eq!(check(TaskOutput::Json(json!({"a": 1}))), Ok(json!({"a": 1})));
        let big = Value::String("x".repeat(MAX_OUTPUT_BYTES));
        assert!(check(TaskOutput::Json(big)).unwrap_err().contains("over the cap"));
        assert!(check(TaskOutput::NotJson("NaN at output.score".into())).unwrap_err().contains("not JSON"));
    }
}
