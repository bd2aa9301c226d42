//! Messages to and from the JSON the REST API speaks: proto3 JSON through
//! the API's own descriptor set (camelCase, the documented `json_name`s),
//! with enum values spelled as REST writes them (`RUN_STATUS_RUNNING` is
//! `running`) and 64-bit integers as numbers. Reading accepts either enum
//! spelling, so a definition written for REST applies unchanged.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};
use prost_reflect::{DeserializeOptions, SerializeOptions};
use serde_json::Value;

/// The pool of every message of the API.
fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(weft_proto::FILE_DESCRIPTOR_SET).expect("the built-in descriptor set is valid")
    })
}

fn descriptor(full_name: &str) -> MessageDescriptor {
    pool().get_message_by_name(full_name).unwrap_or_else(|| panic!("{full_name} is in the descriptor set"))
}

/// A generated message (`full_name` such as `weft.v1.Run`) as REST JSON,
/// written as a unary answer is: its own unset scalar, list and map fields
/// with their defaults (`"valid": false`, `"steps": []`).
pub fn to_json<M: prost::Message>(full_name: &str, message: &M) -> Value {
    to_json_with(full_name, message, true)
}

fn to_json_with<M: prost::Message>(full_name: &str, message: &M, top_level_defaults: bool) -> Value {
    let descriptor = descriptor(full_name);
    let dynamic = DynamicMessage::decode(descriptor.clone(), message.encode_to_vec().as_slice())
        .expect("a generated message decodes against its own descriptor");
    // Enums as numbers first: the walk below knows their enum and respells them.
    let options = SerializeOptions::new().stringify_64_bit_integers(false).use_enum_numbers(true);
    let mut json = dynamic
        .serialize_with_options(serde_json::value::Serializer, &options)
        .expect("protobuf JSON always serializes");
    respell_message(&descriptor, &mut json, top_level_defaults);
    json
}

/// The answer of `method` (`weft.v1.RunService.GetRun`) as its REST route
/// writes it: the whole answer, or only the field its primary HTTP rule
/// names in `response_body` (GetRun answers the run itself), read from the
/// `google.api.http` option in the descriptor set.
pub fn answer<M: prost::Message>(method: &str, message: &M) -> Value {
    let (service, name) = method.rsplit_once('.').expect("a method name is Service.Method");
    let method = pool()
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == name))
        .unwrap_or_else(|| panic!("{service}.{name} is in the descriptor set"));
    let output = method.output();
    let Some(field) = response_body(&method).and_then(|name| output.get_field_by_name(&name)) else {
        return to_json(output.full_name(), message);
    };
    let mut json = to_json_with(output.full_name(), message, false);
    match json.get_mut(field.json_name()).map(Value::take) {
        // The body is the top-level document, so it gets the defaults.
        Some(mut inner) => {
            if let (Kind::Message(body), false) = (field.kind(), field.is_list() || field.is_map()) {
                fill_defaults(&body, &mut inner);
            }
            inner
        }
        // An empty list is omitted by proto3 JSON; REST writes [].
        None if field.is_list() => Value::Array(Vec::new()),
        None if field.is_map() => Value::Object(Default::default()),
        None => Value::Null,
    }
}

/// The `response_body` of a method's primary HTTP rule, when it has one.
fn response_body(method: &prost_reflect::MethodDescriptor) -> Option<String> {
    let extension = pool().get_extension_by_name("google.api.http")?;
    let options = method.options();
    if !options.has_extension(&extension) {
        return None;
    }
    let rule = options.get_extension(&extension);
    let body = rule.as_message()?.get_field_by_name("response_body")?;
    body.as_str().filter(|b| !b.is_empty()).map(str::to_owned)
}

/// REST JSON (either enum spelling, camelCase or proto field names) into a
/// generated message. Unknown fields and wrong types are an error naming
/// the field.
pub fn from_json<M: prost::Message + Default>(full_name: &str, mut json: Value) -> Result<M, String> {
    let descriptor = descriptor(full_name);
    unspell_message(&descriptor, &mut json);
    let dynamic = DynamicMessage::deserialize_with_options(descriptor, json, &DeserializeOptions::new())
        .map_err(|e| e.to_string())?;
    dynamic.transcode_to::<M>().map_err(|e| e.to_string())
}

/// `running` for `RUN_STATUS_RUNNING` of `RunStatus`.
pub fn enum_short_name(descriptor: &EnumDescriptor, number: i32) -> Option<String> {
    let value = descriptor.get_value(number)?;
    let prefix = enum_prefix(descriptor);
    let name = value.name();
    Some(name.strip_prefix(&prefix).unwrap_or(name).to_ascii_lowercase())
}

/// The number of `text` (either spelling) in the enum `full_name`.
pub fn enum_number(full_name: &str, text: &str) -> Option<i32> {
    let descriptor = pool().get_enum_by_name(full_name)?;
    lookup_enum(&descriptor, text)
}

fn lookup_enum(descriptor: &EnumDescriptor, text: &str) -> Option<i32> {
    if let Some(value) = descriptor.get_value_by_name(text) {
        return Some(value.number());
    }
    let long = format!("{}{}", enum_prefix(descriptor), text.to_ascii_uppercase());
    descriptor.get_value_by_name(&long).map(|v| v.number())
}

/// `RunStatus` -> `RUN_STATUS_`.
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

/// Well-known types keep their canonical JSON (Timestamp, Struct, Value…).
fn is_well_known(descriptor: &MessageDescriptor) -> bool {
    descriptor.full_name().starts_with("google.protobuf.")
}

/// Calls `visit` on the JSON of every value of `field` in `json`: each
/// element of a list, each value of a map, or the single value.
fn each_value(field: &FieldDescriptor, json: &mut Value, visit: &mut dyn FnMut(&mut Value)) {
    if field.is_list() {
        if let Value::Array(items) = json {
            items.iter_mut().for_each(visit);
        }
    } else if field.is_map() {
        if let Value::Object(entries) = json {
            entries.values_mut().for_each(visit);
        }
    } else {
        visit(json);
    }
}

/// The kind of a field's values (a map's value kind for a map).
fn value_kind(field: &FieldDescriptor) -> Kind {
    match field.kind() {
        Kind::Message(entry) if field.is_map() => entry.map_entry_value_field().kind(),
        kind => kind,
    }
}

/// The fields of message `full_name` that REST writes even when zero,
/// because there zero is a value (a cost of 0, a step that took 0 s): the
/// server's REST writer keeps the same list.
fn zero_is_a_value(full_name: &str) -> &'static [&'static str] {
    match full_name {
        "weft.v1.Money" => &["amount"],
        "weft.v1.BlockPosition" => &["x", "y"],
        "weft.v1.Run" | "weft.v1.StepRun" => &["duration"],
        _ => &[],
    }
}

/// The JSON of an unset field that REST writes anyway; None for messages,
/// enums and bytes, which stay omitted.
fn default_json(field: &FieldDescriptor) -> Option<Value> {
    if field.is_map() {
        return Some(Value::Object(Default::default()));
    }
    if field.is_list() {
        return Some(Value::Array(Vec::new()));
    }
    match field.kind() {
        Kind::Bool => Some(Value::Bool(false)),
        Kind::String => Some(Value::String(String::new())),
        Kind::Message(_) | Kind::Enum(_) | Kind::Bytes => None,
        Kind::Double
        | Kind::Float
        | Kind::Int32
        | Kind::Int64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Fixed32
        | Kind::Fixed64
        | Kind::Sfixed32
        | Kind::Sfixed64 => Some(Value::from(0)),
    }
}

/// Adds the unset fields of a top-level answer (`wanted` names only the
/// zero-is-a-value fields when not top level).
fn add_defaults(descriptor: &MessageDescriptor, json: &mut Value, top_level: bool) {
    let Value::Object(object) = json else { return };
    let zero_fields = zero_is_a_value(descriptor.full_name());
    for field in descriptor.fields() {
        let wanted = top_level || zero_fields.contains(&field.name());
        if !wanted || field.containing_oneof().is_some() || object.contains_key(field.json_name()) {
            continue;
        }
        if let Some(default) = default_json(&field) {
            object.insert(field.json_name().to_string(), default);
        }
    }
}

/// [`add_defaults`] for a top-level message, the way unary answers are written.
fn fill_defaults(descriptor: &MessageDescriptor, json: &mut Value) {
    add_defaults(descriptor, json, true);
}

fn respell_message(descriptor: &MessageDescriptor, json: &mut Value, top_level: bool) {
    if is_well_known(descriptor) {
        return;
    }
    add_defaults(descriptor, json, top_level);
    let Value::Object(object) = json else { return };
    for field in descriptor.fields() {
        let Some(slot) = object.get_mut(field.json_name()) else { continue };
        match value_kind(&field) {
            Kind::Enum(enum_descriptor) => {
                if enum_descriptor.full_name() == "google.protobuf.NullValue" {
                    continue;
                }
                each_value(&field, slot, &mut |v| {
                    if let Some(short) = v
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .and_then(|n| enum_short_name(&enum_descriptor, n))
                    {
                        *v = Value::String(short);
                    }
                });
            }
            Kind::Message(inner) => each_value(&field, slot, &mut |v| respell_message(&inner, v, false)),
            _ => {}
        }
    }
}

fn unspell_message(descriptor: &MessageDescriptor, json: &mut Value) {
    if is_well_known(descriptor) {
        return;
    }
    let Value::Object(object) = json else { return };
    for field in descriptor.fields() {
        // Either key spelling may be present; prost-reflect reads both.
        for key in [field.json_name().to_string(), field.name().to_string()] {
            let Some(slot) = object.get_mut(&key) else { continue };
            match value_kind(&field) {
                Kind::Enum(enum_descriptor) => each_value(&field, slot, &mut |v| {
                    if let Some(number) = v.as_str().and_then(|text| lookup_enum(&enum_descriptor, text)) {
                        *v = Value::from(number);
                    }
                }),
                Kind::Message(inner) => each_value(&field, slot, &mut |v| unspell_message(&inner, v)),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_proto::v1 as pb;

    #[test]
    fn enums_are_written_short_and_lower_case_and_read_both_ways() {
        let run = pb::Run { id: "wfrun_1".into(), status: pb::RunStatus::Running as i32, ..Default::default() };
        let json = to_json("weft.v1.Run", &run);
        assert_eq!(json["status"], "running");
        assert_eq!(json["id"], "wfrun_1");
        let back: pb::Run = from_json("weft.v1.Run", serde_json::json!({"status": "paused"})).unwrap();
        assert_eq!(back.status, pb::RunStatus::Paused as i32);
        let back: pb::Run = from_json("weft.v1.Run", serde_json::json!({"status": "RUN_STATUS_FAILED"})).unwrap();
        assert_eq!(back.status, pb::RunStatus::Failed as i32);
    }

    #[test]
    fn answers_are_unwrapped_as_their_rest_route_does() {
        let run = pb::Run { id: "wfrun_1".into(), ..Default::default() };
        let json = answer("weft.v1.RunService.GetRun", &pb::GetRunResponse { run: Some(run) });
        assert_eq!(json["id"], "wfrun_1");
        assert_eq!(json["cancelReason"], "", "the body gets the top-level defaults");
        assert!(json.get("error").is_none(), "unset messages stay omitted");
        let json = answer("weft.v1.RunService.ListRuns", &pb::ListRunsResponse::default());
        assert_eq!(json, serde_json::json!([]));
        let json = answer("weft.v1.ApprovalService.ListApprovals", &pb::ListApprovalsResponse::default());
        assert_eq!(json, serde_json::json!({"approvals": [], "nextPageToken": "", "total": 0}));
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let error = from_json::<pb::Workflow>("weft.v1.Workflow", serde_json::json!({"stepz": []})).unwrap_err();
        assert!(error.contains("stepz"), "{error}");
    }
}
