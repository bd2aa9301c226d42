//! The JSON conventions of the REST surface on top of protobuf's canonical
//! mapping: enum values are written the way the documents write them
//! (`running`, `active`, `stop`, spelled by [`super::enum_names`]) and read
//! in either spelling, and 64-bit integers are written and read as numbers
//! only. Requests are read by [`super::json_encode`], answers written by
//! [`super::json_write`]; this module wraps them for the places that want a
//! `serde_json::Value`.

use prost_reflect::DynamicMessage;
#[cfg(test)]
use prost_reflect::MessageDescriptor;
use serde_json::Value;

/// A message as REST JSON (see [`super::json_write`]) in `Value` form, for
/// the few places that look inside an answer (stream events, error details).
pub fn to_json(message: &DynamicMessage) -> Value {
    serde_json::from_slice(&super::json_write::to_bytes(message, false)).expect("the JSON writer writes valid JSON")
}

/// Like [`to_json`], with the message's own unset scalar, list and map
/// fields written as their defaults, the way unary answers are sent.
pub fn to_json_with_top_level_defaults(message: &DynamicMessage) -> Value {
    serde_json::from_slice(&super::json_write::to_bytes(message, true)).expect("the JSON writer writes valid JSON")
}

/// REST JSON into a message of `descriptor`, through the request encoder
/// ([`super::json_encode`]): either enum spelling, camelCase or snake_case
/// keys. Unknown fields are an error naming the field.
#[cfg(test)]
pub fn from_json(descriptor: &MessageDescriptor, json: Value) -> Result<DynamicMessage, String> {
    let text = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let target = super::json_encode::Target::Message(descriptor);
    super::json_encode::encode(&mut out, 0, usize::MAX, &text, target).map_err(|e| e.message())?;
    DynamicMessage::decode(descriptor.clone(), out.as_slice()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::descriptors::pool;

    #[test]
    fn enums_are_written_lower_case_and_read_both_ways() {
        let descriptor = pool().get_message_by_name("weft.v1.Workflow").unwrap();
        let message =
            from_json(&descriptor, serde_json::json!({"status": "paused", "onFailure": "FAILURE_MODE_RETRY"})).unwrap();
        let json = to_json(&message);
        assert_eq!(json["status"], "paused");
        assert_eq!(json["onFailure"], "retry");
    }

    #[test]
    fn unknown_fields_and_enum_values_are_refused_by_name() {
        let descriptor = pool().get_message_by_name("weft.v1.Workflow").unwrap();
        let err = from_json(&descriptor, serde_json::json!({"nmae": "x"})).unwrap_err();
        assert!(err.contains("nmae"), "{err}");
        assert!(from_json(&descriptor, serde_json::json!({"status": "sleeping"})).is_err());
    }

    #[test]
    fn snake_case_keys_are_accepted() {
        let descriptor = pool().get_message_by_name("weft.v1.Workflow").unwrap();
        let message = from_json(&descriptor, serde_json::json!({"trigger_type": "manual"})).unwrap();
        assert_eq!(to_json(&message)["triggerType"], "manual");
    }
}
