//! What a worker's output must be for the step to keep it: JSON (no NaN or
//! infinity, which the protobuf `Value` can carry but JSON cannot), at
//! most [`MAX_OUTPUT_BYTES`] once serialized, and nested no deeper than
//! [`crate::model::json_limits::MAX_JSON_DEPTH`] (its explicit state writes too). Outputs read from
//! the network (response and callback bodies) must also hold no integer
//! beyond ±2^53. Anything else fails the step with OUTPUT_TOO_LARGE (the
//! message names the size and the cap), OUTPUT_INVALID, OUTPUT_TOO_DEEP or
//! OUTPUT_NUMBER_TOO_LARGE instead of leaving the run waiting on a retry
//! that would give the same output; the output is never stored. Built-in
//! steps whose response body or stdout passed their own cap while being
//! read report [`TaskOutput::TooLarge`] and fail the same way.

use serde_json::{Map, Value};

use crate::engine::run::OutputFault;
use crate::model::json_limits::{JsonFault, check_depth};

/// Largest output a step keeps, as serialized JSON.
pub const MAX_OUTPUT_BYTES: usize = 1024 * 1024;

/// An output as the api layer (or the built-in executor) received it.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutput {
    /// A JSON value.
    Json(Value),
    /// Something JSON cannot hold; the text says what and where.
    NotJson(String),
    /// JSON from the network that breaks a limit of `json_limits`.
    Refused(JsonFault),
    /// More than a cap allowed, found while it was read (a response body,
    /// a script's stdout); the text names the size and the cap.
    TooLarge(String),
}

/// Why an output is refused: the rule broken and the words for the step's error.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rejection {
    pub fault: OutputFault,
    pub message: String,
}

fn too_deep(fault: JsonFault) -> Rejection {
    let fault_code = match fault {
        JsonFault::TooDeep { .. } => OutputFault::TooDeep,
        JsonFault::InexactInteger { .. } => OutputFault::NumberTooLarge,
    };
    Rejection { fault: fault_code, message: format!("the output was refused: {fault}") }
}

/// The output to keep, or why it (or one of `state_writes`) is refused.
pub(super) fn check(output: TaskOutput, state_writes: Option<&Map<String, Value>>) -> Result<Value, Rejection> {
    let value = match output {
        TaskOutput::NotJson(why) => {
            return Err(Rejection { fault: OutputFault::Invalid, message: format!("the output is not JSON: {why}") });
        }
        TaskOutput::Refused(fault) => return Err(too_deep(fault)),
        TaskOutput::TooLarge(message) => return Err(Rejection { fault: OutputFault::TooLarge, message }),
        TaskOutput::Json(value) => value,
    };
    let size = serde_json::to_vec(&value).map(|bytes| bytes.len()).unwrap_or(usize::MAX);
    if size > MAX_OUTPUT_BYTES {
        let message = format!(
            "the output is {size} bytes of JSON, over the cap of {MAX_OUTPUT_BYTES} bytes (MAX_OUTPUT_BYTES, 1 MiB)"
        );
        return Err(Rejection { fault: OutputFault::TooLarge, message });
    }
    check_depth(&value, "output").map_err(too_deep)?;
    // Each written value is kept under its key in the shared state, as
    // deep as an output may be.
    for (key, written) in state_writes.into_iter().flatten() {
        check_depth(written, &format!("state_writes.{key}")).map_err(too_deep)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::json_limits::MAX_JSON_DEPTH;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn outputs_over_the_cap_or_not_json_are_refused() {
        assert_eq!(check(TaskOutput::Json(json!({"a": 1})), None), Ok(json!({"a": 1})));
        let at_cap = Value::String("x".repeat(MAX_OUTPUT_BYTES - 2));
        assert!(check(TaskOutput::Json(at_cap), None).is_ok(), "the quotes count: exactly the cap is kept");
        let big = Value::String("x".repeat(MAX_OUTPUT_BYTES - 1));
        let refused = check(TaskOutput::Json(big), None).unwrap_err();
        assert_eq!(refused.fault, OutputFault::TooLarge);
        let words = format!("is {} bytes of JSON, over the cap of {MAX_OUTPUT_BYTES} bytes", MAX_OUTPUT_BYTES + 1);
        assert!(refused.message.contains(&words), "{}", refused.message);
        let read = check(TaskOutput::TooLarge("stdout over 10 bytes".into()), None).unwrap_err();
        assert_eq!((read.fault, read.message.as_str()), (OutputFault::TooLarge, "stdout over 10 bytes"));
        let not_json = check(TaskOutput::NotJson("NaN at output.score".into()), None).unwrap_err();
        assert_eq!(not_json.fault, OutputFault::Invalid);
        assert!(not_json.message.contains("not JSON"));
    }

    #[test]
    fn outputs_and_state_writes_deeper_than_the_limit_are_refused_as_too_deep() {
        assert!(check(TaskOutput::Json(nested(MAX_JSON_DEPTH)), None).is_ok());
        let deep = check(TaskOutput::Json(nested(MAX_JSON_DEPTH + 1)), None).unwrap_err();
        assert_eq!(deep.fault, OutputFault::TooDeep);
        assert!(deep.message.contains(&format!("output{}", "[0]".repeat(MAX_JSON_DEPTH))), "{}", deep.message);
        let writes = Map::from_iter([("k".to_owned(), nested(MAX_JSON_DEPTH + 1))]);
        let deep = check(TaskOutput::Json(json!(1)), Some(&writes)).unwrap_err();
        assert_eq!(deep.fault, OutputFault::TooDeep);
        assert!(deep.message.contains("state_writes.k"), "{}", deep.message);
    }

    #[test]
    fn refused_network_json_keeps_its_rule() {
        let fault = JsonFault::InexactInteger { path: "output.body.id".into() };
        let refused = check(TaskOutput::Refused(fault), None).unwrap_err();
        assert_eq!(refused.fault, OutputFault::NumberTooLarge);
        assert!(refused.message.contains("output.body.id"), "{}", refused.message);
    }
}
