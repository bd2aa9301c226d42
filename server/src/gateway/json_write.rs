//! Writes a protobuf message straight to REST JSON bytes, with the REST
//! surface's conventions applied on the way (documented enum spelling,
//! 64-bit integers as numbers, optionally the top-level defaults).
//!
//! Answers are written from their protobuf bytes by [`super::json_wire`],
//! which reuses the scalar writers here; this walk of a `DynamicMessage`
//! serves the small messages the gateway decodes anyway (error details)
//! and is the reference the wire writer is tested against.
//!
//! The answer path is the gateway's hot path: going through
//! `serde_json::Value` and rewriting enums afterwards allocated a node per
//! field and cost REST about a third of its throughput. Well-known types
//! (`Struct`, `Value`, `Timestamp`, …) keep prost-reflect's canonical
//! serializer, which also writes straight to the buffer.

use base64::Engine as _;
use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MapKey, ReflectMessage, SerializeOptions, Value,
};

use super::enum_names::strip_enum_prefix;

/// Appends `text` as a JSON string.
pub(super) fn write_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

/// Appends an enum value: its documented spelling (`running`), or the bare
/// number when the descriptor does not know it.
pub(super) fn write_enum(out: &mut Vec<u8>, descriptor: &EnumDescriptor, number: i32) {
    if descriptor.full_name() == "google.protobuf.NullValue" {
        out.extend_from_slice(b"null");
        return;
    }
    match descriptor.get_value(number) {
        Some(value) => {
            out.push(b'"');
            let short = strip_enum_prefix(descriptor.name(), value.name());
            out.extend(short.bytes().map(|b| b.to_ascii_lowercase()));
            out.push(b'"');
        }
        None => out.extend_from_slice(number.to_string().as_bytes()),
    }
}

fn write_number<N: serde::Serialize>(out: &mut Vec<u8>, number: &N) {
    serde_json::to_writer(&mut *out, number).expect("an integer is valid JSON");
}

fn write_float(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" });
    } else {
        serde_json::to_writer(&mut *out, &value).expect("a finite float is valid JSON");
    }
}

/// Appends a well-known type (`google.protobuf.<name>`) in its canonical
/// JSON form. Timestamps and the `Struct` family, which every run carries,
/// are written here: prost-reflect's serializer re-encodes each of them
/// through prost_types first, which was the largest cost of an answer.
fn write_well_known(out: &mut Vec<u8>, name: &str, message: &DynamicMessage) {
    let number = |n: u32| message.get_field_by_number(n);
    match name {
        "Timestamp" | "Duration" => {
            let seconds = number(1).and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = number(2).and_then(|v| v.as_i32()).unwrap_or(0);
            let text = if name == "Timestamp" {
                prost_types::Timestamp { seconds, nanos }.to_string()
            } else {
                prost_types::Duration { seconds, nanos }.to_string()
            };
            write_str(out, &text);
        }
        "Value" => match message.fields().next() {
            Some((field, value)) => match (field.number(), value) {
                (2, Value::F64(n)) => write_json_number(out, *n),
                (_, Value::EnumNumber(_)) => out.extend_from_slice(b"null"),
                (_, value) => write_value(out, &field, value),
            },
            None => out.extend_from_slice(b"null"),
        },
        "Struct" | "ListValue" => match message.fields().next() {
            Some((field, value)) => write_value(out, &field, value),
            None => out.extend_from_slice(if name == "Struct" { b"{}" } else { b"[]" }),
        },
        _ => {
            let mut serializer = serde_json::Serializer::new(&mut *out);
            message
                .serialize_with_options(&mut serializer, &SerializeOptions::new().stringify_64_bit_integers(false))
                .expect("well-known types always serialize to JSON");
        }
    }
}

/// A JSON number the way people write it: `9`, not `9.0`, for a whole
/// value a double holds exactly.
pub(super) fn write_json_number(out: &mut Vec<u8>, value: f64) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if value.fract() == 0.0 && value.abs() <= EXACT {
        write_number(out, &(value as i64));
    } else {
        write_float(out, value);
    }
}

/// Appends one singular or repeated value of `field`. The field's kind is
/// looked up only for enums: it is not free, and a value knows its type.
fn write_value(out: &mut Vec<u8>, field: &FieldDescriptor, value: &Value) {
    match value {
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::I32(n) => write_number(out, n),
        Value::I64(n) => write_number(out, n),
        Value::U32(n) => write_number(out, n),
        Value::U64(n) => write_number(out, n),
        Value::F32(n) => write_json_number(out, f64::from(*n)),
        Value::F64(n) => write_json_number(out, *n),
        Value::String(text) => write_str(out, text),
        Value::Bytes(bytes) => {
            out.push(b'"');
            out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes());
            out.push(b'"');
        }
        Value::EnumNumber(number) => match field.kind() {
            Kind::Enum(descriptor) => write_enum(out, &descriptor, *number),
            _ => write_number(out, number),
        },
        Value::Message(message) => write_message(out, message),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, field, item);
            }
            out.push(b']');
        }
        Value::Map(entries) => write_map(out, field, entries),
    }
}

/// Appends a map field's object. Keys are sorted so equal messages give
/// equal bytes (the map is a hash map underneath).
fn write_map(out: &mut Vec<u8>, field: &FieldDescriptor, entries: &std::collections::HashMap<MapKey, Value>) {
    let Kind::Message(entry) = field.kind() else { unreachable!("a map field's kind is its entry message") };
    let value_field = entry.map_entry_value_field();
    let mut keyed: Vec<(String, &Value)> = entries
        .iter()
        .map(|(key, value)| {
            let text = match key {
                MapKey::Bool(b) => b.to_string(),
                MapKey::I32(n) => n.to_string(),
                MapKey::I64(n) => n.to_string(),
                MapKey::U32(n) => n.to_string(),
                MapKey::U64(n) => n.to_string(),
                MapKey::String(s) => s.clone(),
            };
            (text, value)
        })
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out.push(b'{');
    for (i, (key, value)) in keyed.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, key);
        out.push(b':');
        write_value(out, &value_field, value);
    }
    out.push(b'}');
}

/// The JSON a field holds when unset, for the fields the documented answers
/// show anyway (`"valid": false`, `"total": 0`, `"errors": []`); `None` for
/// messages, enums and bytes, which stay omitted.
pub(super) fn default_json(field: &FieldDescriptor) -> Option<&'static str> {
    if field.is_map() {
        return Some("{}");
    }
    if field.is_list() {
        return Some("[]");
    }
    match field.kind() {
        Kind::Bool => Some("false"),
        Kind::String => Some("\"\""),
        Kind::Double | Kind::Float => Some("0"),
        Kind::Message(_) | Kind::Enum(_) | Kind::Bytes => None,
        _ => Some("0"),
    }
}

/// The fields of message `full_name` that REST writes even when zero,
/// because there zero is a value, not "unset": a cost of 0, a step that
/// took 0 s, a block at the canvas origin. Proto3 cannot say so without
/// giving the fields explicit presence, which changes the generated code
/// (buf breaking refuses it), so the writer keeps this list.
pub(super) fn zero_is_a_value(full_name: &str) -> &'static [&'static str] {
    match full_name {
        "weft.v1.Money" => &["amount"],
        "weft.v1.BlockPosition" => &["x", "y"],
        "weft.v1.Run" | "weft.v1.StepRun" => &["duration"],
        _ => &[],
    }
}

/// Appends `message` as REST JSON: camelCase keys, unset fields omitted.
pub fn write_message(out: &mut Vec<u8>, message: &DynamicMessage) {
    write_message_with(out, message, false);
}

/// Appends `message`; with `top_level_defaults` its own unset scalar, list
/// and map fields are written with their default value (nested messages
/// keep defaults omitted, so a step shows only its own fields).
pub fn write_message_with(out: &mut Vec<u8>, message: &DynamicMessage, top_level_defaults: bool) {
    if let Some(name) = message.descriptor().full_name().strip_prefix("google.protobuf.") {
        write_well_known(out, name, message);
        return;
    }
    out.push(b'{');
    let zero_fields = zero_is_a_value(message.descriptor().full_name());
    if !top_level_defaults && zero_fields.is_empty() {
        for (i, (field, value)) in message.fields().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_str(out, field.json_name());
            out.push(b':');
            write_value(out, &field, value);
        }
        out.push(b'}');
        return;
    }
    let mut first = true;
    for field in message.descriptor().fields() {
        let set = message.has_field(&field);
        let wanted = top_level_defaults || zero_fields.contains(&field.name());
        let default = if set || !wanted || field.containing_oneof().is_some() { None } else { default_json(&field) };
        if !set && default.is_none() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, field.json_name());
        out.push(b':');
        match default {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => write_value(out, &field, &message.get_field(&field)),
        }
    }
    out.push(b'}');
}

/// Appends the value of one field of `message`, or its default when unset
/// (`[]`, `{}`, `0`, `""`; `{}` for a message; the first value for an enum).
/// Answers are written from their bytes by [`super::json_wire`]; this is
/// the reference its tests compare with.
#[cfg(test)]
pub fn write_field(out: &mut Vec<u8>, message: &DynamicMessage, field: &FieldDescriptor) {
    if message.has_field(field) {
        write_value(out, field, &message.get_field(field));
        return;
    }
    match (default_json(field), field.kind()) {
        (Some(text), _) => out.extend_from_slice(text.as_bytes()),
        (None, Kind::Message(_)) => out.extend_from_slice(b"{}"),
        (None, _) => write_value(out, field, &Value::default_value_for_field(field)),
    }
}

/// Writes `message` into a fresh buffer.
pub fn to_bytes(message: &DynamicMessage, top_level_defaults: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    write_message_with(&mut out, message, top_level_defaults);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::descriptors::pool;
    use crate::gateway::json::from_json;
    use serde_json::json;

    fn message(name: &str, json: serde_json::Value) -> DynamicMessage {
        from_json(&pool().get_message_by_name(name).unwrap(), json).unwrap()
    }

    fn written(message: &DynamicMessage, top_level_defaults: bool) -> serde_json::Value {
        serde_json::from_slice(&to_bytes(message, top_level_defaults)).unwrap()
    }

    #[test]
    fn a_run_is_written_in_the_documented_shape() {
        let shape = json!({
            "id": "wfrun_1", "status": "running", "workflowVersion": 3,
            "input": {"a": [1, 2.5, "x", null, true], "nested": {"k": "v\"q"}, "empty": {}, "none": []},
            "sharedState": {"n": 1},
            "steps": [
                {"id": "s1", "status": "completed", "attempts": 1, "output": "text", "duration": 0,
                 "startedAt": "2026-11-22T01:02:03.123Z", "itemIndex": 0},
                {"id": "s2", "status": "failed", "error": "boom", "duration": 0}
            ],
            "cost": {"amount": 125, "currency": "usd"}, "duration": 0,
            "pendingAction": {"step": "s3", "options": ["yes", "no"]}
        });
        let mut proto_spelling = shape.clone();
        proto_spelling["steps"][1]["status"] = json!("STEP_STATUS_FAILED");
        let run = message("weft.v1.Run", proto_spelling);
        assert_eq!(written(&run, false), shape);
        let with_defaults = written(&run, true);
        assert_eq!(with_defaults["cancelReason"], "");
        assert_eq!(with_defaults["duration"], 0);
        assert_eq!(with_defaults["steps"], shape["steps"]);
        assert!(with_defaults.get("error").is_none(), "unset messages stay omitted");
    }

    #[test]
    fn zero_costs_durations_and_positions_are_written() {
        let run = message("weft.v1.Run", json!({"cost": {"currency": "usd"}, "steps": [{"id": "s"}]}));
        let written = written(&run, false);
        assert_eq!(written["cost"], json!({"amount": 0, "currency": "usd"}));
        assert_eq!((&written["duration"], &written["steps"][0]["duration"]), (&json!(0), &json!(0)));
        let block = message("weft.v1.Block", json!({"id": "b", "position": {}}));
        let text = String::from_utf8(to_bytes(&block, false)).unwrap();
        assert!(text.contains(r#""position":{"x":0,"y":0}"#), "whole, and at the origin: {text}");
        let step = message("weft.v1.Step", json!({"id": "s"}));
        assert_eq!(String::from_utf8(to_bytes(&step, false)).unwrap(), r#"{"id":"s"}"#, "other zeros stay unset");
    }

    #[test]
    fn whole_numbers_are_written_without_a_fraction() {
        let run = message("weft.v1.Run", json!({"output": {"n": 9, "big": 1e300, "half": 0.5}}));
        let text = String::from_utf8(to_bytes(&run, false)).unwrap();
        assert!(text.contains(r#""n":9"#), "{text}");
        assert!(text.contains(r#""half":0.5"#), "{text}");
        assert_eq!(written(&run, false)["output"]["big"], 1e300);
    }

    #[test]
    fn maps_are_sorted_and_enums_use_the_documented_spelling() {
        let workflow = message(
            "weft.v1.Workflow",
            json!({"name": "w", "status": "paused", "tags": ["b", "a"],
                "steps": [{"id": "t", "type": "transform", "output": {"z": "$.a", "a": "$.b"}}]}),
        );
        let text = String::from_utf8(to_bytes(&workflow, false)).unwrap();
        assert!(text.contains(r#""output":{"a":"$.b","z":"$.a"}"#), "{text}");
        assert!(text.contains(r#""status":"paused""#), "{text}");
        assert!(text.contains(r#""tags":["b","a"]"#), "{text}");
    }

    #[test]
    fn a_selected_field_is_written_alone_or_as_its_default() {
        let response = message("weft.v1.GetRunResponse", json!({}));
        let field = response.descriptor().get_field_by_name("run").unwrap();
        let mut out = Vec::new();
        write_field(&mut out, &response, &field);
        assert_eq!(out, b"{}");
    }
}
