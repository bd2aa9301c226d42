//! The JSON conventions of the REST surface on top of protobuf's canonical
//! mapping: enum values are written the way the documents write them
//! (`running`, `active`, `stop`) and read in either spelling, and 64-bit
//! integers are written as numbers. Requests are read by
//! [`super::json_encode`], answers written by [`super::json_write`].

#[cfg(test)]
use prost_reflect::MessageDescriptor;
use prost_reflect::{DynamicMessage, EnumDescriptor};
use serde_json::Value;

/// `RunStatus` -> `RUN_STATUS_`, the prefix every value of the enum carries.
fn enum_prefix(descriptor: &EnumDescriptor) -> String {
    let mut prefix = String::new();
    for (i, c) in descriptor.name().chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            prefix.push('_');
        }
        prefix.extend(c.to_uppercase());
    }
    prefix.push('_');
    prefix
}

/// `RUN_STATUS_RUNNING` without the prefix its enum `RunStatus` gives every
/// value (`RUNNING`); the whole name when it lacks the prefix. Compares as
/// it goes, so the hot answer path allocates nothing.
pub fn strip_enum_prefix<'a>(enum_name: &str, value_name: &'a str) -> &'a str {
    let bytes = value_name.as_bytes();
    let mut at = 0;
    let mut matches = |expected: u8| {
        let ok = bytes.get(at) == Some(&expected);
        at += 1;
        ok
    };
    for (i, c) in enum_name.bytes().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !matches(b'_') {
            return value_name;
        }
        if !matches(c.to_ascii_uppercase()) {
            return value_name;
        }
    }
    if !matches(b'_') {
        return value_name;
    }
    &value_name[at..]
}

/// The documented spelling of an enum value: `RUN_STATUS_RUNNING` ->
/// `running`.
pub fn enum_value_json_name(descriptor: &EnumDescriptor, proto_name: &str) -> String {
    strip_enum_prefix(descriptor.name(), proto_name).to_ascii_lowercase()
}

/// The number of an enum value written either way (`running` or
/// `RUN_STATUS_RUNNING`); `None` when it names no value.
pub fn enum_value_number(descriptor: &EnumDescriptor, written: &str) -> Option<i32> {
    if let Some(value) = descriptor.get_value_by_name(written) {
        return Some(value.number());
    }
    let candidate = format!("{}{}", enum_prefix(descriptor), written.to_ascii_uppercase());
    descriptor.get_value_by_name(&candidate).map(|value| value.number())
}

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
    fn enum_prefixes_are_stripped_only_when_whole() {
        assert_eq!(strip_enum_prefix("RunStatus", "RUN_STATUS_RUNNING"), "RUNNING");
        assert_eq!(strip_enum_prefix("RunStatus", "RUN_STATUSX"), "RUN_STATUSX");
        assert_eq!(strip_enum_prefix("RunStatus", "RUN_STAT"), "RUN_STAT");
        assert_eq!(strip_enum_prefix("FailureMode", "FAILURE_MODE_STOP"), "STOP");
    }

    #[test]
    fn snake_case_keys_are_accepted() {
        let descriptor = pool().get_message_by_name("weft.v1.Workflow").unwrap();
        let message = from_json(&descriptor, serde_json::json!({"trigger_type": "manual"})).unwrap();
        assert_eq!(to_json(&message)["triggerType"], "manual");
    }
}
