//! REST JSON decoding: a body for one of the gateway's routes, from raw
//! bytes or generated from the route's request message descriptor (field
//! names in both spellings, enum names and numbers, 64-bit integers as
//! strings, well-known types, and wrong types on purpose), transcoded to the
//! protobuf request exactly as the gateway does.
//!
//! Invariants: nothing panics; an accepted body is a well-formed frame
//! whose message decodes; and it round-trips: written back as JSON by the
//! answer writer, re-encoded and written again, the JSON is unchanged.

use std::sync::OnceLock;

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use serde_json::{Map, Value, json};
use weft_core::model::definition::Definition;
use weft_proto::v1 as pb;
use weft_server::api::convert::definition_from_pb;
use weft_server::api::descriptors::pool;
use weft_server::gateway::fuzzing::{RequestParts, request_frame, write};
use weft_server::gateway::routes::{BodyMapping, Route, RouteTable};

use crate::input::Input;
use crate::json_gen;

/// The server's default message limit (`max_message_bytes`).
const LIMIT: usize = 4 * 1024 * 1024;

/// Message nesting the generator follows (recursive messages such as
/// step definitions stop here).
const MAX_MESSAGE_DEPTH: usize = 6;

fn routes() -> &'static [Route] {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| RouteTable::from_pool(pool()).expect("the gateway's route table builds")).routes()
}

/// One body for one route. True when the gateway accepted it.
pub fn check(bytes: &[u8]) -> bool {
    if let Some(accepted) = request_text(bytes) {
        return accepted;
    }
    let mut input = Input::new(bytes);
    let all = routes();
    let with_body: Vec<&Route> = all.iter().filter(|r| !matches!(r.body, BodyMapping::None)).collect();
    let route = if input.one_in(8) { input.pick(all) } else { *input.pick(&with_body) };
    let descriptor = route.method.input();
    let body: Vec<u8> = match input.below(4) {
        0 => input.rest().to_vec(),
        _ => {
            let doc = match &route.body {
                BodyMapping::Field(name) => match descriptor.get_field_by_name(name) {
                    Some(field) => field_value(&mut input, &field.kind(), field.is_list(), field.is_map(), 0),
                    None => json_gen::value(&mut input, 3),
                },
                BodyMapping::Whole | BodyMapping::None => message(&mut input, &descriptor, 0),
            };
            let mut text = serde_json::to_vec(&doc).expect("a JSON value serializes");
            damage(&mut text, &mut input);
            text
        }
    };
    let parts = RequestParts { body: Bytes::from(body), path_values: Vec::new(), query: None, last_event_id: None };
    let Ok(frame) = request_frame(route, &parts, LIMIT) else {
        return false;
    };
    round_trip(route, &frame);
    true
}

/// A definition the way `POST /v1/workflows` reads one: the JSON body
/// transcoded into a `CreateWorkflowRequest`, decoded, and converted by
/// the API. `None` where a request would be refused before compiling.
pub fn definition_via_api(body: &[u8]) -> Option<Definition> {
    let route = routes().iter().find(|r| r.http_method == http::Method::POST && r.template == "/v1/workflows")?;
    let parts =
        RequestParts { body: Bytes::from(body.to_vec()), path_values: Vec::new(), query: None, last_event_id: None };
    let frame = request_frame(route, &parts, LIMIT).ok()?;
    let request = pb::CreateWorkflowRequest::decode(&frame[5..]).expect("an accepted body decodes as its request");
    definition_from_pb(&request.workflow.unwrap_or_default()).ok()
}

/// A corpus file written as a request, `POST /v1/workflows` on its first
/// line and the body after it: matched against the route table (path
/// variables bound as the gateway binds them) and transcoded. `None` when
/// the bytes are not written that way.
fn request_text(bytes: &[u8]) -> Option<bool> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (line, body) = text.split_once('\n').unwrap_or((text, ""));
    let (method, path) = line.split_once(' ')?;
    let method = http::Method::from_bytes(method.as_bytes()).ok()?;
    if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
        return None;
    }
    let (path, query) = match path.trim().split_once('?') {
        Some((path, query)) => (path, Some(query.to_string())),
        None => (path.trim(), None),
    };
    let table = routes();
    let Some(route) = table.iter().find(|r| r.http_method == method && matches_template(r, path)) else {
        return Some(false);
    };
    let path_values = bind(route, path);
    let parts = RequestParts { body: Bytes::from(body.as_bytes().to_vec()), path_values, query, last_event_id: None };
    Some(match request_frame(route, &parts, LIMIT) {
        Ok(frame) => {
            if parts.path_values.is_empty() && parts.query.is_none() {
                round_trip(route, &frame);
            }
            true
        }
        Err(_) => false,
    })
}

/// True when `path` has the shape of `route`'s template, each `{var}`
/// one segment.
fn matches_template(route: &Route, path: &str) -> bool {
    let (template, verb) = split_verb(&route.template);
    let (path, path_verb) = split_verb(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    verb == path_verb && t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

fn split_verb(path: &str) -> (&str, Option<&str>) {
    match path.rsplit_once(':') {
        Some((head, verb)) if !verb.contains('/') => (head, Some(verb)),
        _ => (path, None),
    }
}

/// The path variables of `path` under `route`'s template.
fn bind(route: &Route, path: &str) -> Vec<(String, String)> {
    let (template, _) = split_verb(&route.template);
    let (path, _) = split_verb(path);
    template
        .split('/')
        .zip(path.split('/'))
        .filter_map(|(t, p)| {
            let name = t.strip_prefix('{')?.strip_suffix('}')?;
            Some((name.split('=').next().unwrap_or(name).to_string(), p.to_string()))
        })
        .collect()
}

/// The checks on an accepted frame.
fn round_trip(route: &Route, frame: &[u8]) {
    let descriptor = &route.method.input();
    assert!(frame.len() >= 5 && frame[0] == 0, "the frame has no uncompressed gRPC prefix");
    let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    let message = &frame[5..];
    assert_eq!(len, message.len(), "the frame's length prefix is wrong");
    assert!(message.len() <= LIMIT, "the message is over the limit");
    if let Err(e) = DynamicMessage::decode(descriptor.clone(), message) {
        panic!("an accepted body encoded to a message that does not decode: {e}");
    }
    let mut first = Vec::new();
    if let Err(e) = write(&mut first, descriptor, message, false) {
        panic!("an accepted message cannot be written back as JSON: {e}");
    }
    if let Err(e) = serde_json::from_slice::<Value>(&first) {
        panic!("the written JSON is not JSON ({e}): {}", String::from_utf8_lossy(&first));
    }
    // The written JSON is the whole message, whatever the route's body is.
    let whole = Route { body: BodyMapping::Whole, ..route.clone() };
    let again =
        RequestParts { body: Bytes::from(first.clone()), path_values: Vec::new(), query: None, last_event_id: None };
    let frame = match request_frame(&whole, &again, LIMIT) {
        Ok(frame) => frame,
        Err(refusal) => panic!(
            "the JSON written from an accepted message is refused ({}): {}",
            refusal.message,
            String::from_utf8_lossy(&first)
        ),
    };
    let mut second = Vec::new();
    write(&mut second, descriptor, &frame[5..], false).expect("a re-encoded message writes");
    assert_eq!(
        String::from_utf8_lossy(&first),
        String::from_utf8_lossy(&second),
        "a message changed on its way through JSON and back"
    );
}

/// Truncates, flips or splices a byte now and then, so the lexer sees
/// almost-valid JSON.
fn damage(text: &mut Vec<u8>, input: &mut Input<'_>) {
    if text.is_empty() {
        return;
    }
    match input.below(8) {
        0 => text.truncate(input.below(text.len())),
        1 => {
            let at = input.below(text.len());
            text[at] = input.byte();
        }
        2 => {
            let at = input.below(text.len());
            let splice = *input.pick(&[&b"\\u"[..], b"\\ud800", b"1e400", b"-", b"\"", b"{", b"]", b",", b"\xff"]);
            text.splice(at..at, splice.iter().copied());
        }
        _ => {}
    }
}

/// A JSON object for `descriptor`: a few of its fields, named either way.
fn message(input: &mut Input<'_>, descriptor: &MessageDescriptor, depth: usize) -> Value {
    let fields: Vec<_> = descriptor.fields().collect();
    let mut map = Map::new();
    if fields.is_empty() || depth > MAX_MESSAGE_DEPTH {
        return Value::Object(map);
    }
    for _ in 0..input.below(fields.len().min(6) + 1) {
        let field = input.pick(&fields);
        let name = match input.below(8) {
            0 => field.name().to_string(),
            1 => input.text(8),
            _ => field.json_name().to_string(),
        };
        let value = field_value(input, &field.kind(), field.is_list(), field.is_map(), depth);
        map.insert(name, value);
    }
    Value::Object(map)
}

/// A value for a field: a list or map of values, or one value.
fn field_value(input: &mut Input<'_>, kind: &Kind, list: bool, map: bool, depth: usize) -> Value {
    if input.one_in(12) {
        return json_gen::value(input, 2);
    }
    if map && let Kind::Message(entry) = kind {
        let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let mut out = Map::new();
        for _ in 0..input.below(4) {
            let k = match single(input, &key.kind(), depth) {
                Value::String(s) => s,
                other => other.to_string(),
            };
            out.insert(k, single(input, &value.kind(), depth + 1));
        }
        return Value::Object(out);
    }
    if list {
        return Value::Array((0..input.below(5)).map(|_| single(input, kind, depth + 1)).collect());
    }
    single(input, kind, depth)
}

/// One value of `kind`.
fn single(input: &mut Input<'_>, kind: &Kind, depth: usize) -> Value {
    let big = ["9223372036854775807", "-9223372036854775808", "18446744073709551615", "9007199254740993", "1e2"];
    match kind {
        Kind::Bool => json!(input.one_in(2)),
        Kind::String => match input.below(3) {
            0 => json!(input.text(16)),
            1 => json!(*input.pick(json_gen::KEYS)),
            _ => json!(input.pick(crate::expr::TOKENS)),
        },
        Kind::Bytes => json!(*input.pick(&["", "aGVsbG8=", "aGVsbG8", "a-_b", "!!", "AA=="])),
        Kind::Double | Kind::Float => match input.below(4) {
            0 => json!(*input.pick(&["NaN", "Infinity", "-Infinity", "1e39", "-0"])),
            1 => json!(input.u64() as f64 / 7.0),
            _ => json!(f64::from(input.byte()) - 3.5),
        },
        Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Uint32
        | Kind::Fixed32
        | Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64
        | Kind::Uint64
        | Kind::Fixed64 => match input.below(4) {
            0 => json!(*input.pick(&big)),
            1 => json!(input.u64() as i64),
            2 => json!(input.u64().to_string()),
            _ => json!(i64::from(input.byte()) - 8),
        },
        Kind::Enum(e) => {
            let values: Vec<_> = e.values().collect();
            match input.below(4) {
                0 => json!(input.byte()),
                1 => json!(input.text(8)),
                _ if values.is_empty() => Value::Null,
                _ => {
                    let v = input.pick(&values);
                    if input.one_in(3) { json!(v.number()) } else { json!(v.name()) }
                }
            }
        }
        Kind::Message(m) => well_known(input, m).unwrap_or_else(|| message(input, m, depth + 1)),
    }
}

/// A JSON value for a well-known type, or `None` for any other message.
fn well_known(input: &mut Input<'_>, m: &MessageDescriptor) -> Option<Value> {
    let value = match m.full_name() {
        "google.protobuf.Value" => json_gen::value(input, 6),
        "google.protobuf.Struct" => {
            let mut map = Map::new();
            for _ in 0..input.below(4) {
                map.insert(input.pick(json_gen::KEYS).to_string(), json_gen::value(input, 5));
            }
            Value::Object(map)
        }
        "google.protobuf.ListValue" => json!([json_gen::value(input, 4)]),
        "google.protobuf.Timestamp" => json!(*input.pick(&[
            "2026-12-07T01:00:00Z",
            "1970-01-01T00:00:00.123456789Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2026-02-30T00:00:00Z",
            "2026-12-07T01:00:00+05:30",
            "2026-12-07",
            "",
        ])),
        "google.protobuf.Duration" => {
            json!(*input.pick(&["1s", "1.5s", "-3s", "0.000000001s", "315576000000s", "315576000001s", "1h", "s", ""]))
        }
        "google.protobuf.FieldMask" => json!(*input.pick(&["name,steps", "inputSchema", "a.b.c", "", ",", "UPPER"])),
        "google.protobuf.Empty" => json!({}),
        name if name.starts_with("google.protobuf.") && name.ends_with("Value") => {
            json!(*input.pick(&[json!(1), json!("x"), json!(true), json!("18446744073709551615"), Value::Null]))
        }
        _ => return None,
    };
    Some(value)
}
