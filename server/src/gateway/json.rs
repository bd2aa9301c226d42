//! The JSON conventions of the REST surface on top of protobuf's canonical
//! mapping: enum values are written the way the documents write them
//! (`running`, `active`, `stop`) and read in either spelling, and 64-bit
//! integers are written as numbers.

use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor, ReflectMessage, SerializeOptions,
};
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

/// The documented spelling of an enum value: `RUN_STATUS_RUNNING` ->
/// `running`.
pub fn enum_value_json_name(descriptor: &EnumDescriptor, proto_name: &str) -> String {
    let prefix = enum_prefix(descriptor);
    proto_name.strip_prefix(&prefix).unwrap_or(proto_name).to_ascii_lowercase()
}

/// The proto name for a value written either way (`running` or
/// `RUN_STATUS_RUNNING`); `None` when it names no value.
fn enum_value_proto_name(descriptor: &EnumDescriptor, written: &str) -> Option<String> {
    if descriptor.get_value_by_name(written).is_some() {
        return Some(written.to_string());
    }
    let candidate = format!("{}{}", enum_prefix(descriptor), written.to_ascii_uppercase());
    descriptor.get_value_by_name(&candidate).map(|_| candidate)
}

fn is_well_known(descriptor: &MessageDescriptor) -> bool {
    descriptor.full_name().starts_with("google.protobuf.")
}

fn field_by_json_key(message: &MessageDescriptor, key: &str) -> Option<FieldDescriptor> {
    message.get_field_by_json_name(key).or_else(|| message.get_field_by_name(key))
}

/// Rewrites enum values of `json` (shaped as `message`) between spellings:
/// `to_short` writes the documented form, otherwise the proto form is
/// restored so the protobuf JSON parser accepts it.
fn rewrite_enums(json: &mut Value, message: &MessageDescriptor, to_short: bool) {
    let Value::Object(object) = json else { return };
    for (key, value) in object.iter_mut() {
        let Some(field) = field_by_json_key(message, key) else { continue };
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else { continue };
            let Some(entry_value) = entry.get_field_by_name("value") else { continue };
            if let Value::Object(entries) = value {
                entries.values_mut().for_each(|item| rewrite_value(&entry_value.kind(), item, to_short));
            }
        } else if field.is_list() {
            if let Value::Array(items) = value {
                items.iter_mut().for_each(|item| rewrite_value(&field.kind(), item, to_short));
            }
        } else {
            rewrite_value(&field.kind(), value, to_short);
        }
    }
}

/// Rewrites one value of type `kind`: an enum string, or the enums inside a
/// (non well-known) message.
fn rewrite_value(kind: &Kind, value: &mut Value, to_short: bool) {
    match kind {
        Kind::Enum(descriptor) => {
            if let Value::String(text) = value {
                let rewritten = if to_short {
                    Some(enum_value_json_name(descriptor, text))
                } else {
                    enum_value_proto_name(descriptor, text)
                };
                if let Some(rewritten) = rewritten {
                    *text = rewritten;
                }
            }
        }
        Kind::Message(inner) if !is_well_known(inner) => rewrite_enums(value, inner, to_short),
        _ => {}
    }
}

/// A message as REST JSON: camelCase, defaults omitted, enums documented
/// spelling, 64-bit integers as numbers.
pub fn to_json(message: &DynamicMessage) -> Value {
    let options = SerializeOptions::new().stringify_64_bit_integers(false);
    let mut json = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("protobuf messages always serialize to JSON");
    rewrite_enums(&mut json, &message.descriptor(), true);
    json
}

/// Like [`to_json`], but the message's own scalar and list fields are
/// written even when they hold their default (`"valid": false`,
/// `"total": 0`, `"errors": []`), as the documented answers show them.
/// Nested messages keep defaults omitted, so a step shows only its fields.
pub fn to_json_with_top_level_defaults(message: &DynamicMessage) -> Value {
    let mut json = to_json(message);
    let Value::Object(object) = &mut json else { return json };
    for field in message.descriptor().fields() {
        if field.containing_oneof().is_some() || object.contains_key(field.json_name()) {
            continue;
        }
        let default = if field.is_map() {
            Value::Object(Default::default())
        } else if field.is_list() {
            Value::Array(Vec::new())
        } else {
            match field.kind() {
                Kind::Bool => Value::Bool(false),
                Kind::String => Value::String(String::new()),
                Kind::Double | Kind::Float => Value::from(0.0),
                Kind::Message(_) | Kind::Enum(_) | Kind::Bytes => continue,
                _ => Value::from(0),
            }
        };
        object.insert(field.json_name().to_string(), default);
    }
    json
}

/// REST JSON into a message of `descriptor`: either enum spelling, camelCase
/// or snake_case keys. Unknown fields are an error naming the field.
pub fn from_json(descriptor: &MessageDescriptor, mut json: Value) -> Result<DynamicMessage, String> {
    rewrite_enums(&mut json, descriptor, false);
    DynamicMessage::deserialize(descriptor.clone(), json).map_err(|e| e.to_string())
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
