//! Protobuf bytes straight to REST JSON, driven by the answer's
//! `MessageDescriptor`: the same output as [`super::json_write`] (which
//! walks a `DynamicMessage`), without decoding the answer into one first.
//! A `DynamicMessage` costs a few hundred bytes for each
//! `google.protobuf.Value` of a run's input or outputs, about fifty times
//! the answer's size; here an answer costs its JSON, plus one small index
//! per message (its fields' positions) and per `Struct` (its keys, to sort
//! them) while that message is written.
//!
//! Fields are written in field-number order, or in declaration order with
//! the top-level defaults, like the `DynamicMessage` writer; map and
//! `Struct` keys are sorted. Bytes that do not parse (a truncated field,
//! invalid UTF-8, nesting past [`MAX_MESSAGE_DEPTH`]) are an error, as
//! `DynamicMessage::decode` would give.

use base64::Engine as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor};

use super::json_write::{default_json, write_enum, write_json_number, write_message, write_str, zero_is_a_value};
use super::profile::Naming;

/// Messages an answer may nest (prost's decoding limit).
pub const MAX_MESSAGE_DEPTH: usize = 100;

/// Why an answer could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("undecodable protobuf answer: {0}")]
pub struct WireError(&'static str);

/// One field as it lies on the wire.
#[derive(Debug, Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or(WireError("truncated varint"))?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError("varint over 10 bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end =
            self.at.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or(WireError("truncated field"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// The next field: (number, value); `None` at the end.
    fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, WireError> {
        if self.at == self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError("field number out of range"))?;
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"))),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError("length out of range"))?;
                Wire::Bytes(self.take(len)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"))),
            _ => return Err(WireError("unsupported wire type")),
        };
        Ok(Some((number, value)))
    }
}

/// Every field of a message, in wire order.
fn fields(bytes: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, WireError> {
    let mut reader = Reader::new(bytes);
    let mut all = Vec::new();
    while let Some(field) = reader.field()? {
        all.push(field);
    }
    Ok(all)
}

/// Appends the message of `descriptor` encoded in `bytes` as REST JSON;
/// with `top_level_defaults` its own unset scalar, list and map fields are
/// written with their defaults (see [`super::json_write::write_message_with`]).
pub fn write(
    out: &mut Vec<u8>,
    descriptor: &MessageDescriptor,
    bytes: &[u8],
    top_level_defaults: bool,
) -> Result<(), WireError> {
    write_named(out, descriptor, bytes, top_level_defaults, &Naming::JSON)
}

/// [`write`] with the field keys of `naming` (a path family's spelling).
pub fn write_named(
    out: &mut Vec<u8>,
    descriptor: &MessageDescriptor,
    bytes: &[u8],
    top_level_defaults: bool,
    naming: &Naming,
) -> Result<(), WireError> {
    Writer { out, depth: 0, naming }.message(descriptor, bytes, top_level_defaults)
}

/// Appends one field of the message in `bytes`, or its default when unset
/// (see [`super::json_write::write_field`]).
pub fn write_field(
    out: &mut Vec<u8>,
    descriptor: &MessageDescriptor,
    bytes: &[u8],
    field: &FieldDescriptor,
    naming: &Naming,
) -> Result<(), WireError> {
    let all = fields(bytes)?;
    let mut writer = Writer { out, depth: 0, naming };
    let present: Vec<Wire<'_>> = all.iter().filter(|(n, _)| *n == field.number()).map(|(_, w)| *w).collect();
    if !present.is_empty() {
        return writer.field(field, &present);
    }
    let _ = descriptor;
    match (default_json(field), field.kind()) {
        (Some(text), _) => writer.out.extend_from_slice(text.as_bytes()),
        (None, Kind::Message(_)) => writer.out.extend_from_slice(b"{}"),
        (None, Kind::Enum(e)) => write_enum(writer.out, &e, e.default_value().number()),
        (None, _) => writer.out.extend_from_slice(b"\"\""),
    }
    Ok(())
}

struct Writer<'o> {
    out: &'o mut Vec<u8>,
    depth: usize,
    naming: &'o Naming,
}

impl Writer<'_> {
    fn enter(&mut self) -> Result<(), WireError> {
        self.depth += 1;
        if self.depth > MAX_MESSAGE_DEPTH {
            return Err(WireError("messages nested too deeply"));
        }
        Ok(())
    }

    fn message(&mut self, descriptor: &MessageDescriptor, bytes: &[u8], defaults: bool) -> Result<(), WireError> {
        self.enter()?;
        if let Some(name) = descriptor.full_name().strip_prefix("google.protobuf.") {
            self.well_known(name, descriptor, bytes)?;
            self.depth -= 1;
            return Ok(());
        }
        let mut all = fields(bytes)?;
        // Stable: repeated values keep their order.
        all.sort_by_key(|(number, _)| *number);
        self.out.push(b'{');
        let mut first = true;
        let mut comma = |out: &mut Vec<u8>| {
            if !std::mem::take(&mut first) {
                out.push(b',');
            }
        };
        let zero_fields = zero_is_a_value(descriptor.full_name());
        if defaults || !zero_fields.is_empty() {
            for field in descriptor.fields() {
                let present = group(&all, field.number());
                if present.is_empty() {
                    if field.containing_oneof().is_some() || !(defaults || zero_fields.contains(&field.name())) {
                        continue;
                    }
                    let Some(text) = default_json(&field) else { continue };
                    comma(self.out);
                    write_str(self.out, &self.naming.key(&field));
                    self.out.push(b':');
                    self.out.extend_from_slice(text.as_bytes());
                } else {
                    comma(self.out);
                    write_str(self.out, &self.naming.key(&field));
                    self.out.push(b':');
                    self.field(&field, &values(present))?;
                }
            }
        } else {
            let mut at = 0;
            while at < all.len() {
                let number = all[at].0;
                let end = at + all[at..].iter().take_while(|(n, _)| *n == number).count();
                if let Some(field) = descriptor.get_field(number) {
                    comma(self.out);
                    write_str(self.out, &self.naming.key(&field));
                    self.out.push(b':');
                    self.field(&field, &values(&all[at..end]))?;
                }
                at = end;
            }
        }
        self.out.push(b'}');
        self.depth -= 1;
        Ok(())
    }

    /// The value of `field` from its occurrences on the wire.
    fn field(&mut self, field: &FieldDescriptor, present: &[Wire<'_>]) -> Result<(), WireError> {
        let kind = field.kind();
        if field.is_map() {
            return self.map(&kind, present);
        }
        if field.is_list() {
            self.out.push(b'[');
            let mut first = true;
            for wire in present {
                match (wire, packable(&kind)) {
                    (Wire::Bytes(packed), Some(width)) => {
                        let mut reader = Reader::new(packed);
                        while reader.at < packed.len() {
                            let element = match width {
                                Width::Varint => Wire::Varint(reader.varint()?),
                                Width::Fixed64 => {
                                    Wire::Fixed64(u64::from_le_bytes(reader.take(8)?.try_into().expect("8 bytes")))
                                }
                                Width::Fixed32 => {
                                    Wire::Fixed32(u32::from_le_bytes(reader.take(4)?.try_into().expect("4 bytes")))
                                }
                            };
                            if !std::mem::take(&mut first) {
                                self.out.push(b',');
                            }
                            self.value(&kind, element)?;
                        }
                    }
                    _ => {
                        if !std::mem::take(&mut first) {
                            self.out.push(b',');
                        }
                        self.value(&kind, *wire)?;
                    }
                }
            }
            self.out.push(b']');
            return Ok(());
        }
        // A singular field given twice: the last one counts, as in prost.
        let last = present.last().copied().ok_or(WireError("no value"))?;
        self.value(&kind, last)
    }

    fn map(&mut self, kind: &Kind, present: &[Wire<'_>]) -> Result<(), WireError> {
        let Kind::Message(entry) = kind else { return Err(WireError("a map without an entry message")) };
        let key_kind = entry.map_entry_key_field().kind();
        let value_kind = entry.map_entry_value_field().kind();
        let mut entries: Vec<(String, Option<Wire<'_>>)> = Vec::with_capacity(present.len());
        for wire in present {
            let Wire::Bytes(bytes) = wire else { return Err(WireError("a map entry is not a message")) };
            let (mut key, mut value) = (None, None);
            let mut reader = Reader::new(bytes);
            while let Some((number, wire)) = reader.field()? {
                match number {
                    1 => key = Some(wire),
                    2 => value = Some(wire),
                    _ => {}
                }
            }
            entries.push((map_key_text(&key_kind, key)?, value));
        }
        // Sorted, and the last of equal keys wins (as a decoded map keeps it).
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        self.out.push(b'{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, key);
            self.out.push(b':');
            match value {
                Some(wire) => self.value(&value_kind, *wire)?,
                None => self.default_value(&value_kind)?,
            }
        }
        self.out.push(b'}');
        Ok(())
    }

    /// An absent map value: its type's default.
    fn default_value(&mut self, kind: &Kind) -> Result<(), WireError> {
        match kind {
            Kind::Message(message) => self.message(message, &[], false),
            Kind::Enum(e) => {
                write_enum(self.out, e, e.default_value().number());
                Ok(())
            }
            Kind::String | Kind::Bytes => {
                self.out.extend_from_slice(b"\"\"");
                Ok(())
            }
            Kind::Bool => {
                self.out.extend_from_slice(b"false");
                Ok(())
            }
            Kind::Double | Kind::Float => {
                self.out.extend_from_slice(b"0.0");
                Ok(())
            }
            _ => {
                self.out.push(b'0');
                Ok(())
            }
        }
    }

    /// One value of type `kind`.
    fn value(&mut self, kind: &Kind, wire: Wire<'_>) -> Result<(), WireError> {
        let out = &mut *self.out;
        match (kind, wire) {
            (Kind::Bool, Wire::Varint(v)) => out.extend_from_slice(if v != 0 { b"true" } else { b"false" }),
            (Kind::Int32, Wire::Varint(v)) => number(out, v as i32),
            (Kind::Int64, Wire::Varint(v)) => number(out, v as i64),
            (Kind::Uint32, Wire::Varint(v)) => number(out, v as u32),
            (Kind::Uint64, Wire::Varint(v)) => number(out, v),
            (Kind::Sint32, Wire::Varint(v)) => number(out, ((v >> 1) as i32) ^ -((v & 1) as i32)),
            (Kind::Sint64, Wire::Varint(v)) => number(out, ((v >> 1) as i64) ^ -((v & 1) as i64)),
            (Kind::Enum(e), Wire::Varint(v)) => write_enum(out, e, v as i32),
            (Kind::Double, Wire::Fixed64(v)) => write_json_number(out, f64::from_bits(v)),
            (Kind::Fixed64, Wire::Fixed64(v)) => number(out, v),
            (Kind::Sfixed64, Wire::Fixed64(v)) => number(out, v as i64),
            (Kind::Float, Wire::Fixed32(v)) => write_json_number(out, f64::from(f32::from_bits(v))),
            (Kind::Fixed32, Wire::Fixed32(v)) => number(out, v),
            (Kind::Sfixed32, Wire::Fixed32(v)) => number(out, v as i32),
            (Kind::String, Wire::Bytes(b)) => {
                write_str(out, std::str::from_utf8(b).map_err(|_| WireError("a string is not UTF-8"))?)
            }
            (Kind::Bytes, Wire::Bytes(b)) => {
                out.push(b'"');
                out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(b).as_bytes());
                out.push(b'"');
            }
            (Kind::Message(message), Wire::Bytes(b)) => return self.message(message, b, false),
            _ => return Err(WireError("a field's wire type does not match its type")),
        }
        Ok(())
    }

    fn well_known(&mut self, name: &str, descriptor: &MessageDescriptor, bytes: &[u8]) -> Result<(), WireError> {
        match name {
            "Timestamp" | "Duration" => {
                let (mut seconds, mut nanos) = (0i64, 0i32);
                let mut reader = Reader::new(bytes);
                while let Some((number, wire)) = reader.field()? {
                    match (number, wire) {
                        (1, Wire::Varint(v)) => seconds = v as i64,
                        (2, Wire::Varint(v)) => nanos = v as i32,
                        _ => {}
                    }
                }
                let text = if name == "Timestamp" {
                    prost_types::Timestamp { seconds, nanos }.to_string()
                } else {
                    prost_types::Duration { seconds, nanos }.to_string()
                };
                write_str(self.out, &text);
            }
            "Value" => {
                let mut reader = Reader::new(bytes);
                let mut last = None;
                while let Some(field) = reader.field()? {
                    last = Some(field);
                }
                match last {
                    None | Some((1, _)) => self.out.extend_from_slice(b"null"),
                    Some((2, Wire::Fixed64(v))) => write_json_number(self.out, f64::from_bits(v)),
                    Some((3, Wire::Bytes(b))) => {
                        write_str(self.out, std::str::from_utf8(b).map_err(|_| WireError("a string is not UTF-8"))?)
                    }
                    Some((4, Wire::Varint(v))) => self.out.extend_from_slice(if v != 0 { b"true" } else { b"false" }),
                    Some((5, Wire::Bytes(b))) => self.struct_fields(b)?,
                    Some((6, Wire::Bytes(b))) => self.list_values(b)?,
                    Some(_) => return Err(WireError("a Value with an unexpected field")),
                }
            }
            "Struct" => self.struct_fields(bytes)?,
            "ListValue" => self.list_values(bytes)?,
            _ => {
                // Types answers rarely carry (Any in error details,
                // FieldMask, Empty, wrappers): small, decoded as before.
                let message = DynamicMessage::decode(descriptor.clone(), bytes)
                    .map_err(|_| WireError("an undecodable well-known type"))?;
                write_message(self.out, &message);
            }
        }
        Ok(())
    }

    /// A `Struct` as an object with sorted keys (the last of equal keys wins).
    fn struct_fields(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.enter()?;
        let mut entries: Vec<(&str, Option<&[u8]>)> = Vec::new();
        let mut reader = Reader::new(bytes);
        while let Some((number, wire)) = reader.field()? {
            let (1, Wire::Bytes(entry)) = (number, wire) else { continue };
            let (mut key, mut value) = ("", None);
            let mut inner = Reader::new(entry);
            while let Some(field) = inner.field()? {
                match field {
                    (1, Wire::Bytes(k)) => key = std::str::from_utf8(k).map_err(|_| WireError("a key is not UTF-8"))?,
                    (2, Wire::Bytes(v)) => value = Some(v),
                    _ => {}
                }
            }
            entries.push((key, value));
        }
        entries.reverse();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        self.out.push(b'{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_str(self.out, key);
            self.out.push(b':');
            self.value_message(value.unwrap_or(&[]))?;
        }
        self.out.push(b'}');
        self.depth -= 1;
        Ok(())
    }

    fn list_values(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.enter()?;
        self.out.push(b'[');
        let mut reader = Reader::new(bytes);
        let mut first = true;
        while let Some((number, wire)) = reader.field()? {
            let (1, Wire::Bytes(value)) = (number, wire) else { continue };
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            self.value_message(value)?;
        }
        self.out.push(b']');
        self.depth -= 1;
        Ok(())
    }

    /// A `google.protobuf.Value` message's bytes.
    fn value_message(&mut self, bytes: &[u8]) -> Result<(), WireError> {
        self.enter()?;
        let result = self.well_known("Value", &value_descriptor(), bytes);
        self.depth -= 1;
        result
    }
}

fn value_descriptor() -> MessageDescriptor {
    crate::api::descriptors::pool()
        .get_message_by_name("google.protobuf.Value")
        .expect("the pool has google.protobuf.Value")
}

/// The occurrences of field `number` in `all` (sorted by number).
fn group<'s, 'a>(all: &'s [(u32, Wire<'a>)], number: u32) -> &'s [(u32, Wire<'a>)] {
    let start = all.partition_point(|(n, _)| *n < number);
    let end = all.partition_point(|(n, _)| *n <= number);
    &all[start..end]
}

fn values<'a>(group: &[(u32, Wire<'a>)]) -> Vec<Wire<'a>> {
    group.iter().map(|(_, wire)| *wire).collect()
}

enum Width {
    Varint,
    Fixed64,
    Fixed32,
}

/// How a packed repeated field of `kind` lays out its elements.
fn packable(kind: &Kind) -> Option<Width> {
    match kind {
        Kind::Bool
        | Kind::Int32
        | Kind::Int64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Enum(_) => Some(Width::Varint),
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Some(Width::Fixed64),
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Some(Width::Fixed32),
        Kind::String | Kind::Bytes | Kind::Message(_) => None,
    }
}

fn number<N: std::fmt::Display>(out: &mut Vec<u8>, value: N) {
    use std::io::Write as _;
    let _ = write!(out, "{value}");
}

/// A map key as JSON object key text.
fn map_key_text(kind: &Kind, key: Option<Wire<'_>>) -> Result<String, WireError> {
    Ok(match (kind, key) {
        (Kind::String, Some(Wire::Bytes(b))) => {
            std::str::from_utf8(b).map_err(|_| WireError("a map key is not UTF-8"))?.to_string()
        }
        (Kind::String, None) => String::new(),
        (Kind::Bool, Some(Wire::Varint(v))) => (v != 0).to_string(),
        (Kind::Int32, Some(Wire::Varint(v))) => (v as i32).to_string(),
        (Kind::Int64, Some(Wire::Varint(v))) => (v as i64).to_string(),
        (Kind::Uint32, Some(Wire::Varint(v))) => (v as u32).to_string(),
        (Kind::Uint64, Some(Wire::Varint(v))) => v.to_string(),
        (Kind::Sint32, Some(Wire::Varint(v))) => (((v >> 1) as i32) ^ -((v & 1) as i32)).to_string(),
        (Kind::Sint64, Some(Wire::Varint(v))) => (((v >> 1) as i64) ^ -((v & 1) as i64)).to_string(),
        (Kind::Fixed32, Some(Wire::Fixed32(v))) => v.to_string(),
        (Kind::Sfixed32, Some(Wire::Fixed32(v))) => (v as i32).to_string(),
        (Kind::Fixed64, Some(Wire::Fixed64(v))) => v.to_string(),
        (Kind::Sfixed64, Some(Wire::Fixed64(v))) => (v as i64).to_string(),
        (Kind::Bool, None) => "false".into(),
        (_, None) => "0".into(),
        _ => return Err(WireError("a map key's wire type does not match its type")),
    })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use serde_json::json;

    fn varint(value: usize) -> Vec<u8> {
        let mut out = Vec::new();
        prost::encoding::encode_varint(value as u64, &mut out);
        out
    }

    use super::*;
    use crate::api::descriptors::pool;
    use crate::gateway::json::from_json;
    use crate::gateway::json_write;

    /// The wire writer and the `DynamicMessage` writer give the same bytes.
    fn same(name: &str, value: serde_json::Value) {
        let descriptor = pool().get_message_by_name(name).unwrap();
        let message = from_json(&descriptor, value).unwrap();
        let bytes = message.encode_to_vec();
        for defaults in [false, true] {
            let mut out = Vec::new();
            write(&mut out, &descriptor, &bytes, defaults).unwrap();
            let expected = json_write::to_bytes(&message, defaults);
            assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(expected).unwrap(), "{name}");
        }
        for field in descriptor.fields() {
            let mut out = Vec::new();
            write_field(&mut out, &descriptor, &bytes, &field, &Naming::JSON).unwrap();
            let mut expected = Vec::new();
            json_write::write_field(&mut expected, &message, &field);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{name}.{}",
                field.name()
            );
        }
    }

    #[test]
    fn writes_what_the_dynamic_message_writer_writes() {
        same(
            "weft.v1.Run",
            json!({
                "id": "wfrun_1", "status": "running", "workflowVersion": 3,
                "input": {"a": [1, 2.5, "x", null, true, 9007199254740992_u64, 1e300], "nested": {"k": "v\"q"},
                          "empty": {}, "none": [], "z": 0, "b": -0.5},
                "sharedState": {"n": 1},
                "steps": [
                    {"id": "s1", "status": "completed", "attempts": 1, "output": "text",
                     "startedAt": "2026-11-22T01:02:03.123Z", "itemIndex": 0},
                    {"id": "s2", "status": "STEP_STATUS_FAILED", "error": "boom"}
                ],
                "cost": {"amount": 125, "currency": "usd"},
                "pendingAction": {"step": "s3", "options": ["yes", "no"]}
            }),
        );
        same(
            "weft.v1.Workflow",
            json!({"name": "w", "status": "paused", "tags": ["b", "a"], "onFailure": "retry",
                "steps": [{"id": "t", "type": "transform", "output": {"z": "$.a", "a": "$.b"},
                           "inputMap": {"q": "$.x"}, "dependsOn": ["s"]}]}),
        );
        same("weft.v1.CompleteTaskRequest", json!({"leaseToken": 18446744073709551615_u64}));
        same("weft.v1.ListRunsResponse", json!({}));
    }

    #[test]
    fn broken_bytes_are_an_error_not_a_panic() {
        let descriptor = pool().get_message_by_name("weft.v1.Run").unwrap();
        for bytes in [&[0x0a, 0x05, b'a'][..], &[0xff; 11][..], &[0x0b][..], &[0x0a, 0x01, 0xff][..]] {
            assert!(write(&mut Vec::new(), &descriptor, bytes, false).is_err(), "{bytes:?}");
        }
        // A Value nested past the cap.
        let mut value = vec![0x08, 0x00];
        for _ in 0..200 {
            let mut list = vec![0x0a];
            list.extend(varint(value.len()));
            list.extend(&value);
            let mut wrapped = vec![0x32];
            wrapped.extend(varint(list.len()));
            wrapped.extend(list);
            value = wrapped;
        }
        let run = pool().get_message_by_name("weft.v1.Run").unwrap();
        let input = run.get_field_by_name("input").unwrap().number();
        let mut bytes = varint((input << 3 | 2) as usize);
        bytes.extend(varint(value.len()));
        bytes.extend(value);
        assert_eq!(write(&mut Vec::new(), &run, &bytes, false), Err(WireError("messages nested too deeply")));
    }
}
