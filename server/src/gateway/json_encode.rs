//! REST JSON straight to protobuf bytes, driven by the request's
//! `MessageDescriptor`: one pass over the body ([`super::json_lex`]), no
//! `serde_json::Value` tree and no `DynamicMessage`. A request costs its
//! body plus its encoding (itself capped at the message limit), where the
//! two trees cost about two hundred times the body for an array of numbers.
//!
//! The JSON is protobuf's canonical mapping with the REST conventions of
//! [`super::json`]: camelCase or proto field names, enum values in either
//! spelling. Typed numeric fields (32- and 64-bit integers, floats) take
//! JSON numbers only, as the OpenAPI document types them: protobuf's
//! mapping would also read `"7"`, which is refused here naming the field
//! (see `double` and `integer`). On top of it, every
//! body is held to these limits, each refused with the JSON path of the
//! value at fault:
//! - at most [`MAX_JSON_DEPTH`] nested arrays and objects, and at most
//!   [`MAX_MESSAGE_DEPTH`] nested protobuf messages in the encoding (what
//!   the gRPC side can decode): `BODY_TOO_DEEP`, 400;
//! - the encoding at most the message limit (`max_message_bytes`):
//!   `BODY_TOO_LARGE`, 413, checked as it grows;
//! - an integer literal beyond ±2^53 where a double holds it (any value
//!   inside `input`, `variables`, outputs: `google.protobuf.Value`), which
//!   the double would round: `INTEGER_TOO_LARGE`, 400, "send it as a
//!   string". Fractions and exponents (`1.5`, `1e300`) are doubles by
//!   their spelling and are kept as such; a number past the double range
//!   (`1e400`) is `NUMBER_OUT_OF_RANGE`, 400.
//!
//! Nested messages are written with a one-byte length placeholder that is
//! widened in place when the message closes, so a message of over 127
//! bytes shifts its content once per level: bounded by the depth cap.

use std::borrow::Cow;
use std::fmt::Write as _;

use prost::Message as _;
use prost_reflect::{DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use super::json_lex::{Lexer, Next, NumberText, SyntaxError};

/// Arrays and objects a REST body may nest. Above the stored-value limit
/// the API enforces, so it only keeps the gateway's recursion bounded.
pub const MAX_JSON_DEPTH: usize = 64;

/// Protobuf messages the encoding may nest: prost's decoding limit, which
/// the gRPC services would otherwise hit. A JSON object inside a
/// `google.protobuf.Value` takes three levels (Value, Struct, entry).
pub const MAX_MESSAGE_DEPTH: usize = 100;

/// 2^53: every integer up to it in magnitude is exact as a double.
const EXACT_INTEGER_LIMIT: u64 = 1 << 53;

/// Longest key or literal quoted back in an error message.
const QUOTE_LIMIT: usize = 64;

/// What is wrong with a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Not JSON: `what` at byte `at` (line and column from 1).
    Syntax {
        /// What the reader expected or found.
        what: &'static str,
        /// Byte offset.
        at: usize,
        /// Line of `at`.
        line: usize,
        /// Column of `at`.
        column: usize,
    },
    /// JSON that does not fit the request message (wrong type, unknown
    /// field, unknown enum value…).
    Mismatch(String),
    /// Nested deeper than [`MAX_JSON_DEPTH`] or [`MAX_MESSAGE_DEPTH`].
    TooDeep,
    /// The encoding grew over `limit` bytes.
    TooLarge {
        /// The message limit.
        limit: usize,
    },
    /// An integer literal a double would round (beyond ±2^53).
    InexactInteger(String),
    /// A number outside its type's range.
    OutOfRange(String),
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A refused body: the problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    /// What is wrong.
    pub problem: Problem,
    /// Innermost segment first: errors gather their path as they unwind,
    /// so a body that is fine costs nothing to track it.
    path_rev: Vec<Segment>,
}

impl From<SyntaxError> for EncodeError {
    fn from(error: SyntaxError) -> Self {
        Self::new(Problem::Syntax { what: error.what, at: error.at, line: 0, column: 0 })
    }
}

fn quoted(text: &str) -> String {
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

impl EncodeError {
    fn new(problem: Problem) -> Self {
        Self { problem, path_rev: Vec::new() }
    }

    fn mismatch(message: impl Into<String>) -> Self {
        Self::new(Problem::Mismatch(message.into()))
    }

    fn within_key(mut self, key: &str) -> Self {
        self.path_rev.push(Segment::Key(quoted(key)));
        self
    }

    fn within_index(mut self, index: usize) -> Self {
        self.path_rev.push(Segment::Index(index));
        self
    }

    /// The JSON path of the value at fault, from the body's root:
    /// `input.ids[3]`, `steps[0]["odd key"]`; empty for the body itself.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for segment in self.path_rev.iter().rev() {
            match segment {
                Segment::Index(i) => {
                    let _ = write!(path, "[{i}]");
                }
                Segment::Key(key) => {
                    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    if plain {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(key);
                    } else {
                        let _ = write!(path, "[{}]", serde_json::Value::String(key.clone()));
                    }
                }
            }
        }
        path
    }

    /// The `ErrorInfo` reason (`error_code`) of the refusal.
    pub fn reason(&self) -> &'static str {
        match self.problem {
            Problem::Syntax { .. } => "MALFORMED_JSON",
            Problem::Mismatch(_) => "INVALID_ARGUMENT",
            Problem::TooDeep => "BODY_TOO_DEEP",
            Problem::TooLarge { .. } => "BODY_TOO_LARGE",
            Problem::InexactInteger(_) => "INTEGER_TOO_LARGE",
            Problem::OutOfRange(_) => "NUMBER_OUT_OF_RANGE",
        }
    }

    /// The error message, naming the path.
    pub fn message(&self) -> String {
        let path = self.path();
        let at = if path.is_empty() { "the request body".to_string() } else { path };
        match &self.problem {
            Problem::Syntax { what, line, column, .. } => {
                format!("the request body is not valid JSON: {what} at line {line} column {column}")
            }
            Problem::Mismatch(message) => format!("{at}: {message}"),
            Problem::TooDeep => format!(
                "{at}: the request body nests too deeply: the gateway reads at most {MAX_JSON_DEPTH} levels of \
                 arrays and objects, and {MAX_MESSAGE_DEPTH} levels of protobuf messages (an object inside a \
                 JSON value takes three)"
            ),
            Problem::TooLarge { limit } => format!(
                "the request body is over the {limit}-byte message limit (max_message_bytes, \
                 WEFT_MAX_MESSAGE_BYTES) once encoded as protobuf; a number inside a JSON value takes up to \
                 11 bytes"
            ),
            Problem::InexactInteger(text) => format!(
                "{at}: the integer {text} is beyond ±2^53 (9007199254740992), the largest a JSON number keeps \
                 exactly here (values are doubles); send it as a string"
            ),
            Problem::OutOfRange(message) => format!("{at}: {message}"),
        }
    }
}

/// What the JSON text is.
#[derive(Debug, Clone, Copy)]
pub enum Target<'d> {
    /// The fields of a message (a JSON object).
    Message(&'d MessageDescriptor),
    /// The value of one field of the message being written.
    Field(&'d FieldDescriptor),
}

/// Appends the protobuf encoding of the JSON `text` (as `target`) to `out`,
/// whose message began at `base`; the message may not grow past `limit`
/// bytes. On error `out` holds a partial message and is to be dropped.
pub fn encode(
    out: &mut Vec<u8>,
    base: usize,
    limit: usize,
    text: &[u8],
    target: Target<'_>,
) -> Result<(), EncodeError> {
    let text = std::str::from_utf8(text)
        .map_err(|e| EncodeError::from(SyntaxError { at: e.valid_up_to(), what: "invalid UTF-8" }))?;
    let mut encoder = Encoder { lex: Lexer::new(text), out, base, limit, messages: 0 };
    let result = encoder.top(target).and_then(|()| Ok(encoder.lex.finish()?));
    result.map_err(|mut error| {
        if let Problem::Syntax { at, line, column, .. } = &mut error.problem {
            (*line, *column) = encoder.lex.line_column(*at);
        }
        error
    })
}

struct Encoder<'t, 'o> {
    lex: Lexer<'t>,
    out: &'o mut Vec<u8>,
    base: usize,
    limit: usize,
    /// Protobuf messages open around the write position.
    messages: usize,
}

/// Which value of a oneof, if any, a field belongs to.
fn oneof_of(field: &FieldDescriptor) -> Option<String> {
    field.containing_oneof().map(|oneof| oneof.full_name().to_string())
}

impl<'t> Encoder<'t, '_> {
    fn top(&mut self, target: Target<'_>) -> Result<(), EncodeError> {
        match target {
            Target::Message(descriptor) => {
                if self.lex.peek()? != Next::Object {
                    return Err(EncodeError::mismatch("must be a JSON object"));
                }
                let depth = self.enter(0)?;
                self.message_fields(descriptor, depth)
            }
            Target::Field(field) => self.field(field, 0).map(drop),
        }
    }

    // ---- bytes ----

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    fn tag(&mut self, number: u32, wire_type: u8) {
        self.varint((u64::from(number) << 3) | u64::from(wire_type));
    }

    fn check_size(&self) -> Result<(), EncodeError> {
        if self.out.len() - self.base > self.limit {
            return Err(EncodeError::new(Problem::TooLarge { limit: self.limit }));
        }
        Ok(())
    }

    fn bytes_field(&mut self, number: u32, bytes: &[u8]) -> Result<(), EncodeError> {
        self.tag(number, 2);
        self.varint(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
        self.check_size()
    }

    /// Starts a length-delimited message field; returns where its length goes.
    fn open(&mut self, number: u32) -> Result<usize, EncodeError> {
        self.messages += 1;
        if self.messages > MAX_MESSAGE_DEPTH {
            return Err(EncodeError::new(Problem::TooDeep));
        }
        self.tag(number, 2);
        self.out.push(0);
        Ok(self.out.len() - 1)
    }

    /// Ends the message opened at `at`: writes its length, widening the
    /// placeholder when the length needs more than one byte.
    fn close(&mut self, at: usize) -> Result<(), EncodeError> {
        self.messages -= 1;
        let len = self.out.len() - at - 1;
        if len < 0x80 {
            self.out[at] = len as u8;
        } else {
            let mut prefix = [0u8; 10];
            let (mut n, mut value) = (0, len as u64);
            while value >= 0x80 {
                prefix[n] = value as u8 | 0x80;
                value >>= 7;
                n += 1;
            }
            prefix[n] = value as u8;
            n += 1;
            let end = self.out.len();
            self.out.resize(end + n - 1, 0);
            self.out.copy_within(at + 1..end, at + n);
            self.out[at..at + n].copy_from_slice(&prefix[..n]);
        }
        self.check_size()
    }

    fn enter(&self, depth: usize) -> Result<usize, EncodeError> {
        if depth >= MAX_JSON_DEPTH {
            return Err(EncodeError::new(Problem::TooDeep));
        }
        Ok(depth + 1)
    }

    // ---- messages and fields ----

    /// The fields of a message: `{` is next.
    fn message_fields(&mut self, descriptor: &MessageDescriptor, depth: usize) -> Result<(), EncodeError> {
        self.lex.begin_object()?;
        let mut seen: Vec<u32> = Vec::new();
        let mut oneofs: Vec<(String, String)> = Vec::new();
        let mut first = true;
        while let Some(key) = self.lex.next_key(first)? {
            first = false;
            let Some(field) = descriptor.get_field_by_json_name(&key).or_else(|| descriptor.get_field_by_name(&key))
            else {
                return Err(EncodeError::mismatch(format!(
                    "unknown field '{}' in {}",
                    quoted(&key),
                    descriptor.name()
                )));
            };
            if seen.contains(&field.number()) {
                return Err(EncodeError::mismatch(format!("field '{}' is given twice", quoted(&key))));
            }
            seen.push(field.number());
            let written = self.field(&field, depth).map_err(|e| e.within_key(&key))?;
            if let Some(oneof) = oneof_of(&field).filter(|_| written) {
                if let Some((_, other)) = oneofs.iter().find(|(name, _)| *name == oneof) {
                    return Err(EncodeError::mismatch(format!(
                        "'{}' and '{other}' are both given, but only one of them may be",
                        field.json_name()
                    )));
                }
                oneofs.push((oneof, field.json_name().to_string()));
            }
        }
        Ok(())
    }

    /// One field's value; `false` when it wrote nothing (a `null`).
    fn field(&mut self, field: &FieldDescriptor, depth: usize) -> Result<bool, EncodeError> {
        if self.lex.peek()? == Next::Null {
            self.lex.literal("null")?;
            return self.null_field(field);
        }
        if field.is_map() {
            self.map(field, depth)?;
        } else if field.is_list() {
            self.list(field, depth)?;
        } else {
            self.singular(field.number(), &field.kind(), depth)?;
        }
        Ok(true)
    }

    /// `null` for a field: absent, except where it is a value of its own
    /// (a `google.protobuf.Value` or `NullValue`).
    fn null_field(&mut self, field: &FieldDescriptor) -> Result<bool, EncodeError> {
        if field.is_list() || field.is_map() {
            return Ok(false);
        }
        match field.kind() {
            Kind::Message(m) if m.full_name() == "google.protobuf.Value" => {
                self.null_value_field(field.number())?;
                Ok(true)
            }
            Kind::Enum(e) if e.full_name() == "google.protobuf.NullValue" => {
                self.tag(field.number(), 0);
                self.varint(0);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn null_value_field(&mut self, number: u32) -> Result<(), EncodeError> {
        let at = self.open(number)?;
        self.out.extend_from_slice(&[0x08, 0x00]);
        self.close(at)
    }

    fn list(&mut self, field: &FieldDescriptor, depth: usize) -> Result<(), EncodeError> {
        if self.lex.peek()? != Next::Array {
            return Err(EncodeError::mismatch(format!("'{}' is a list: expected an array", field.json_name())));
        }
        let depth = self.enter(depth)?;
        self.lex.begin_array()?;
        let kind = field.kind();
        let is_value = matches!(&kind, Kind::Message(m) if m.full_name() == "google.protobuf.Value");
        let (mut index, mut first) = (0, true);
        while self.lex.next_element(first)? {
            first = false;
            let element = if self.lex.peek()? == Next::Null {
                self.lex.literal("null")?;
                if is_value {
                    self.null_value_field(field.number())
                } else {
                    Err(EncodeError::mismatch("null is not allowed in this list"))
                }
            } else {
                self.singular(field.number(), &kind, depth).and_then(|()| self.check_size())
            };
            element.map_err(|e| e.within_index(index))?;
            index += 1;
        }
        Ok(())
    }

    fn map(&mut self, field: &FieldDescriptor, depth: usize) -> Result<(), EncodeError> {
        if self.lex.peek()? != Next::Object {
            return Err(EncodeError::mismatch(format!("'{}' is a map: expected an object", field.json_name())));
        }
        let Kind::Message(entry) = field.kind() else { unreachable!("a map field's kind is its entry message") };
        let key_kind = entry.map_entry_key_field().kind();
        let value_kind = entry.map_entry_value_field().kind();
        let is_value = matches!(&value_kind, Kind::Message(m) if m.full_name() == "google.protobuf.Value");
        let depth = self.enter(depth)?;
        self.lex.begin_object()?;
        let mut first = true;
        while let Some(key) = self.lex.next_key(first)? {
            first = false;
            let entry = self.map_entry(field.number(), &key_kind, &key, &value_kind, is_value, depth);
            entry.map_err(|e| e.within_key(&key))?;
        }
        Ok(())
    }

    fn map_entry(
        &mut self,
        number: u32,
        key_kind: &Kind,
        key: &str,
        value_kind: &Kind,
        is_value: bool,
        depth: usize,
    ) -> Result<(), EncodeError> {
        let at = self.open(number)?;
        match key_kind {
            Kind::String => self.bytes_field(1, key.as_bytes())?,
            Kind::Bool => {
                let value = match key {
                    "true" => 1,
                    "false" => 0,
                    _ => return Err(EncodeError::mismatch("a map key here is true or false")),
                };
                self.tag(1, 0);
                self.varint(value);
            }
            kind => {
                let value = integer_text(key, kind).map_err(EncodeError::new)?;
                self.integer_field(1, kind, value);
            }
        }
        if self.lex.peek()? == Next::Null {
            self.lex.literal("null")?;
            if !is_value {
                return Err(EncodeError::mismatch("null is not allowed as a value of this map"));
            }
            self.null_value_field(2)?;
        } else {
            self.singular(2, value_kind, depth)?;
        }
        self.close(at)
    }

    /// One (non-null) value of type `kind` as field `number`.
    fn singular(&mut self, number: u32, kind: &Kind, depth: usize) -> Result<(), EncodeError> {
        match kind {
            Kind::Message(message) => self.message_value(number, message, depth),
            Kind::Enum(descriptor) => {
                let value = self.enum_number(descriptor)?;
                self.tag(number, 0);
                self.varint(value as i64 as u64);
                Ok(())
            }
            Kind::Double => {
                let value = self.double()?;
                self.tag(number, 1);
                self.out.extend_from_slice(&value.to_le_bytes());
                Ok(())
            }
            Kind::Float => {
                let value = self.double()?;
                if value.is_finite() && (value as f32).is_infinite() {
                    return Err(EncodeError::new(Problem::OutOfRange(format!("{value} is out of range for a float"))));
                }
                self.tag(number, 5);
                self.out.extend_from_slice(&(value as f32).to_le_bytes());
                Ok(())
            }
            Kind::Bool => {
                let value = match self.lex.peek()? {
                    Next::True => self.lex.literal("true").map(|()| 1)?,
                    Next::False => self.lex.literal("false").map(|()| 0)?,
                    _ => return Err(EncodeError::mismatch("expected true or false")),
                };
                self.tag(number, 0);
                self.varint(value);
                Ok(())
            }
            Kind::String => {
                let text = self.string("a string")?;
                self.bytes_field(number, text.as_bytes())
            }
            Kind::Bytes => {
                let text = self.string("a base64 string")?;
                let bytes = decode_base64(&text).map_err(EncodeError::mismatch)?;
                self.bytes_field(number, &bytes)
            }
            integer => {
                let value = self.integer(integer)?;
                self.integer_field(number, integer, value);
                Ok(())
            }
        }
    }

    /// Writes an integer of kind `kind` (already range-checked).
    fn integer_field(&mut self, number: u32, kind: &Kind, value: i128) {
        match kind {
            Kind::Int32 | Kind::Int64 => {
                self.tag(number, 0);
                self.varint(value as i64 as u64);
            }
            Kind::Uint32 | Kind::Uint64 => {
                self.tag(number, 0);
                self.varint(value as u64);
            }
            Kind::Sint32 | Kind::Sint64 => {
                let v = value as i64;
                self.tag(number, 0);
                self.varint(((v << 1) ^ (v >> 63)) as u64);
            }
            Kind::Fixed32 | Kind::Sfixed32 => {
                self.tag(number, 5);
                self.out.extend_from_slice(&(value as u32).to_le_bytes());
            }
            Kind::Fixed64 | Kind::Sfixed64 => {
                self.tag(number, 1);
                self.out.extend_from_slice(&(value as u64).to_le_bytes());
            }
            Kind::Double | Kind::Float | Kind::Bool | Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Enum(_) => {
                unreachable!("only integer kinds are written as integers")
            }
        }
    }

    fn string(&mut self, expected: &str) -> Result<Cow<'t, str>, EncodeError> {
        if self.lex.peek()? != Next::String {
            return Err(EncodeError::mismatch(format!("expected {expected}")));
        }
        Ok(self.lex.string()?)
    }

    // Typed numbers take JSON numbers only. Protobuf's JSON mapping also
    // reads them from strings ("7", "NaN"), but the OpenAPI document types
    // these fields `number`/`integer`, the gateway writes them as numbers,
    // and a client sending `"7"` has most likely mixed up two fields: the
    // document is the contract, so a string is refused naming the field.
    fn double(&mut self) -> Result<f64, EncodeError> {
        match self.lex.peek()? {
            Next::Number => double_of(self.lex.number()?).map_err(EncodeError::new),
            Next::String => Err(EncodeError::mismatch("expected a number, not a string")),
            _ => Err(EncodeError::mismatch("expected a number")),
        }
    }

    fn integer(&mut self, kind: &Kind) -> Result<i128, EncodeError> {
        match self.lex.peek()? {
            Next::Number => {
                let number = self.lex.number()?;
                integer_text(number.text, kind).map_err(EncodeError::new)
            }
            Next::String => Err(EncodeError::mismatch("expected an integer, not a string")),
            _ => Err(EncodeError::mismatch("expected an integer")),
        }
    }

    fn enum_number(&mut self, descriptor: &EnumDescriptor) -> Result<i32, EncodeError> {
        match self.lex.peek()? {
            Next::String => {
                let text = self.lex.string()?;
                super::enum_names::enum_value_number(descriptor, &text).ok_or_else(|| {
                    EncodeError::mismatch(format!("'{}' is not a value of {}", quoted(&text), descriptor.name()))
                })
            }
            // Numbers are read as protobuf JSON reads them, but only those the
            // OpenAPI document lists: a declared value other than the
            // `…_UNSPECIFIED` zero. An undeclared one would be stored as a
            // value no reader can name.
            Next::Number => {
                let number = self.lex.number()?;
                let value = integer_text(number.text, &Kind::Int32).map_err(EncodeError::new)?;
                let declared = i32::try_from(value).ok().filter(|&n| n != 0 && descriptor.get_value(n).is_some());
                declared.ok_or_else(|| {
                    EncodeError::mismatch(format!(
                        "{} is not a value of {}; write its name, such as '{}'",
                        number.text,
                        descriptor.name(),
                        example_enum_name(descriptor)
                    ))
                })
            }
            _ => Err(EncodeError::mismatch(format!(
                "expected the name of a {} value, such as '{}'",
                descriptor.name(),
                example_enum_name(descriptor)
            ))),
        }
    }

    // ---- well-known types ----

    fn message_value(&mut self, number: u32, message: &MessageDescriptor, depth: usize) -> Result<(), EncodeError> {
        match message.full_name() {
            "google.protobuf.Value" => {
                let at = self.open(number)?;
                self.value(depth)?;
                self.close(at)
            }
            "google.protobuf.Struct" => {
                if self.lex.peek()? != Next::Object {
                    return Err(EncodeError::mismatch("expected an object"));
                }
                let depth = self.enter(depth)?;
                let at = self.open(number)?;
                self.struct_fields(depth)?;
                self.close(at)
            }
            "google.protobuf.ListValue" => {
                if self.lex.peek()? != Next::Array {
                    return Err(EncodeError::mismatch("expected an array"));
                }
                let depth = self.enter(depth)?;
                let at = self.open(number)?;
                self.list_values(depth)?;
                self.close(at)
            }
            "google.protobuf.Timestamp" | "google.protobuf.Duration" => {
                let text = self.string("a timestamp or duration string")?;
                let (seconds, nanos) = if message.name() == "Timestamp" {
                    let t: prost_types::Timestamp = text.parse().map_err(|e| {
                        EncodeError::mismatch(format!("'{}' is not an RFC 3339 timestamp: {e}", quoted(&text)))
                    })?;
                    (t.seconds, t.nanos)
                } else {
                    let d: prost_types::Duration = text.parse().map_err(|e| {
                        EncodeError::mismatch(format!("'{}' is not a duration such as \"1.5s\": {e}", quoted(&text)))
                    })?;
                    (d.seconds, d.nanos)
                };
                let at = self.open(number)?;
                if seconds != 0 {
                    self.tag(1, 0);
                    self.varint(seconds as u64);
                }
                if nanos != 0 {
                    self.tag(2, 0);
                    self.varint(i64::from(nanos) as u64);
                }
                self.close(at)
            }
            name if name.starts_with("google.protobuf.") => {
                // Types no weft.v1 request carries today (Any, wrappers,
                // FieldMask, Empty): prost-reflect reads this one value.
                let text = self.lex.skip_value(MAX_JSON_DEPTH - depth)?;
                let mut deserializer = serde_json::Deserializer::from_str(text);
                let decoded = DynamicMessage::deserialize(message.clone(), &mut deserializer)
                    .map_err(|e| EncodeError::mismatch(e.to_string()))?;
                if self.messages >= MAX_MESSAGE_DEPTH {
                    return Err(EncodeError::new(Problem::TooDeep));
                }
                self.bytes_field(number, &decoded.encode_to_vec())
            }
            _ => {
                if self.lex.peek()? != Next::Object {
                    return Err(EncodeError::mismatch(format!("expected an object ({})", message.name())));
                }
                let depth = self.enter(depth)?;
                let at = self.open(number)?;
                self.message_fields(message, depth)?;
                self.close(at)
            }
        }
    }

    /// The inside of a `google.protobuf.Value`: any JSON.
    fn value(&mut self, depth: usize) -> Result<(), EncodeError> {
        match self.lex.peek()? {
            Next::Null => {
                self.lex.literal("null")?;
                self.out.extend_from_slice(&[0x08, 0x00]);
            }
            Next::True => {
                self.lex.literal("true")?;
                self.out.extend_from_slice(&[0x20, 0x01]);
            }
            Next::False => {
                self.lex.literal("false")?;
                self.out.extend_from_slice(&[0x20, 0x00]);
            }
            Next::Number => {
                let value = double_of(self.lex.number()?).map_err(EncodeError::new)?;
                self.out.push(0x11);
                self.out.extend_from_slice(&value.to_le_bytes());
            }
            Next::String => {
                let text = self.lex.string()?;
                self.bytes_field(3, text.as_bytes())?;
            }
            Next::Object => {
                let depth = self.enter(depth)?;
                let at = self.open(5)?;
                self.struct_fields(depth)?;
                self.close(at)?;
            }
            Next::Array => {
                let depth = self.enter(depth)?;
                let at = self.open(6)?;
                self.list_values(depth)?;
                self.close(at)?;
            }
        }
        Ok(())
    }

    /// The entries of a `google.protobuf.Struct`: `{` is next.
    fn struct_fields(&mut self, depth: usize) -> Result<(), EncodeError> {
        self.lex.begin_object()?;
        let mut first = true;
        while let Some(key) = self.lex.next_key(first)? {
            first = false;
            let entry = self.open(1)?;
            self.bytes_field(1, key.as_bytes())?;
            let value = self.open(2)?;
            self.value(depth).map_err(|e| e.within_key(&key))?;
            self.close(value)?;
            self.close(entry)?;
        }
        Ok(())
    }

    /// The values of a `google.protobuf.ListValue`: `[` is next.
    fn list_values(&mut self, depth: usize) -> Result<(), EncodeError> {
        self.lex.begin_array()?;
        let (mut index, mut first) = (0, true);
        while self.lex.next_element(first)? {
            first = false;
            let at = self.open(1)?;
            self.value(depth).map_err(|e| e.within_index(index))?;
            self.close(at)?;
            index += 1;
        }
        Ok(())
    }
}

/// A JSON number as a double, refusing integer literals a double would
/// round and numbers past its range.
fn double_of(number: NumberText<'_>) -> Result<f64, Problem> {
    let unsigned = number.text.strip_prefix('-').unwrap_or(number.text);
    // `12`, or `12.000`: written as an integer, meant exactly.
    let whole = match unsigned.split_once('.') {
        None if number.integer => Some(unsigned),
        Some((whole, fraction)) if !fraction.contains(['e', 'E']) && fraction.bytes().all(|b| b == b'0') => Some(whole),
        _ => None,
    };
    if let Some(whole) = whole
        && (whole.len() > 16 || whole.parse::<u64>().is_ok_and(|n| n > EXACT_INTEGER_LIMIT))
    {
        return Err(Problem::InexactInteger(quoted(number.text)));
    }
    let value: f64 =
        number.text.parse().map_err(|_| Problem::OutOfRange(format!("{} is not a number", quoted(number.text))))?;
    if !value.is_finite() {
        return Err(Problem::OutOfRange(format!(
            "the number {} is beyond the range of a double (about ±1.8e308)",
            quoted(number.text)
        )));
    }
    Ok(value)
}

/// An integer of `kind` from its JSON text (a number literal or a string):
/// exact for integer literals, and a fraction-free double otherwise.
fn integer_text(text: &str, kind: &Kind) -> Result<i128, Problem> {
    let (min, max, name): (i128, i128, &str) = match kind {
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => (i32::MIN.into(), i32::MAX.into(), "a 32-bit integer"),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => (i64::MIN.into(), i64::MAX.into(), "a 64-bit integer"),
        Kind::Uint32 | Kind::Fixed32 => (0, u32::MAX.into(), "an unsigned 32-bit integer"),
        Kind::Uint64 | Kind::Fixed64 => (0, u64::MAX.into(), "an unsigned 64-bit integer"),
        Kind::Double | Kind::Float | Kind::Bool | Kind::String | Kind::Bytes | Kind::Message(_) | Kind::Enum(_) => {
            unreachable!("only integer kinds are read as integers")
        }
    };
    let out_of_range = || Problem::OutOfRange(format!("{} is out of range for {name}", quoted(text)));
    let value = match text.parse::<i128>() {
        Ok(value) => value,
        Err(_) => {
            let float: f64 =
                text.parse().map_err(|_| Problem::OutOfRange(format!("'{}' is not {name}", quoted(text))))?;
            if float.fract() != 0.0 || !float.is_finite() {
                return Err(Problem::OutOfRange(format!("{} is not {name}", quoted(text))));
            }
            if float.abs() >= 1.7e38 {
                return Err(out_of_range());
            }
            float as i128
        }
    };
    if value < min || value > max {
        return Err(out_of_range());
    }
    Ok(value)
}

/// Standard or URL-safe base64, padded or not (protobuf's JSON mapping).
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    let engine = if text.contains(['-', '_']) { &URL_SAFE } else { &STANDARD };
    engine.decode(text).map_err(|e| format!("invalid base64: {e}"))
}

/// A value of `descriptor` in its documented spelling, for error messages:
/// the first one past the `…_UNSPECIFIED` zero when there is one.
fn example_enum_name(descriptor: &EnumDescriptor) -> String {
    let value = descriptor.values().find(|value| value.number() != 0).or_else(|| descriptor.values().next());
    value.map(|value| super::enum_names::enum_value_json_name(descriptor, value.name())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use prost_reflect::{DeserializeOptions, DynamicMessage, ReflectMessage};
    use serde_json::json;

    use super::*;
    use crate::api::descriptors::pool;

    fn descriptor(name: &str) -> MessageDescriptor {
        pool().get_message_by_name(name).unwrap()
    }

    fn encode_with(name: &str, text: &str, limit: usize) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        encode(&mut out, 0, limit, text.as_bytes(), Target::Message(&descriptor(name)))?;
        Ok(out)
    }

    fn encoded(name: &str, text: &str) -> Result<DynamicMessage, EncodeError> {
        let bytes = encode_with(name, text, usize::MAX)?;
        Ok(DynamicMessage::decode(descriptor(name), bytes.as_slice()).expect("the encoding decodes"))
    }

    /// prost-reflect's reading of the same JSON, the reference.
    fn reference(name: &str, text: &str) -> DynamicMessage {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        DynamicMessage::deserialize_with_options(descriptor(name), &mut deserializer, &DeserializeOptions::new())
            .unwrap()
    }

    #[test]
    fn encodes_what_prost_reflect_reads() {
        let long = "x".repeat(20_000);
        let cases = [
            (
                "weft.v1.StartRunRequest",
                json!({"workflowId": "wf_1", "version": 3, "input": {
                "a": [1, 2.5, -3, "x", null, true, false, {"deep": [[], {}]}], "long": long,
                "unicode": "é\u{1F600}\"\\\n", "n": 9007199254740992_u64, "neg": -9007199254740992_i64,
                "big": 1e300, "tiny": 5e-324}, "sharedState": {"k": {"v": [null]}}}),
            ),
            ("weft.v1.StartRunRequest", json!({"input": null, "user_id": "u"})),
            ("weft.v1.StartRunRequest", json!({"input": [long.clone(), long]})),
            (
                "weft.v1.Workflow",
                json!({"name": "w", "status": "WORKFLOW_STATUS_PAUSED", "tags": ["b", "a"],
                "steps": [{"id": "t", "type": "transform", "output": {"z": "$.a", "a": "$.b"},
                "dependsOn": ["s"], "timeout": "3s"}]}),
            ),
            ("weft.v1.CompleteTaskRequest", json!({"leaseToken": 18446744073709551615_u64})),
            ("weft.v1.Money", json!({"amount": -9223372036854775808_i64, "currency": "usd"})),
        ];
        for (name, value) in cases {
            let text = value.to_string();
            assert_eq!(encoded(name, &text).unwrap(), reference(name, &text), "{name}: {text:.200}");
        }
    }

    #[test]
    fn enums_read_either_spelling() {
        let short = encoded("weft.v1.Workflow", r#"{"status": "paused", "on_failure": "retry"}"#).unwrap();
        let long =
            reference("weft.v1.Workflow", r#"{"status": "WORKFLOW_STATUS_PAUSED", "onFailure": "FAILURE_MODE_RETRY"}"#);
        assert_eq!(short, long);
        let err = encoded("weft.v1.Workflow", r#"{"status": "sleeping"}"#).unwrap_err();
        assert_eq!(err.path(), "status");
        assert!(err.message().contains("'sleeping' is not a value of"), "{}", err.message());
        // Declared numbers are read, as the OpenAPI document says; zero
        // (unspecified) and undeclared ones are refused by name.
        assert_eq!(
            encoded("weft.v1.Workflow", r#"{"status": 3}"#).unwrap(),
            reference("weft.v1.Workflow", r#"{"status": "WORKFLOW_STATUS_PAUSED"}"#)
        );
        for body in [r#"{"status": -297}"#, r#"{"status": 0}"#, r#"{"status": 99}"#, r#"{"onFailure": 2.5}"#] {
            let err = encoded("weft.v1.Workflow", body).unwrap_err();
            assert!(
                err.message().contains("is not a value of") || err.message().contains("integer"),
                "{body}: {}",
                err.message()
            );
        }
        assert!(encoded("weft.v1.Step", r#"{"onTimeout": 2}"#).is_err(), "a number is not a Branch");
    }

    #[test]
    fn integers_a_double_would_round_are_refused_by_path() {
        let err = encoded("weft.v1.StartRunRequest", r#"{"input": {"ids": [1, 2, 3, 9007199254740993]}}"#).unwrap_err();
        assert_eq!(err.problem, Problem::InexactInteger("9007199254740993".into()));
        assert_eq!(err.path(), "input.ids[3]");
        assert_eq!(err.reason(), "INTEGER_TOO_LARGE");
        assert!(err.message().starts_with("input.ids[3]: the integer 9007199254740993"), "{}", err.message());
        assert!(err.message().contains("send it as a string"), "{}", err.message());
        for text in
            ["-9007199254740993", "9007199254740993.000", "123456789012345678901234567890", "18446744073709551616"]
        {
            let body = format!(r#"{{"input": {{"odd key": {text}}}}}"#);
            let err = encoded("weft.v1.StartRunRequest", &body).unwrap_err();
            assert!(matches!(err.problem, Problem::InexactInteger(_)), "{text}: {err:?}");
            assert_eq!(err.path(), r#"input["odd key"]"#);
        }
        for fine in ["9007199254740992", "-9007199254740992", "1e300", "9007199254740993.5", "1.5e16"] {
            encoded("weft.v1.StartRunRequest", &format!(r#"{{"input": [{fine}]}}"#)).unwrap();
        }
        // A uint64 field keeps every integer exactly.
        let exact = encoded("weft.v1.CompleteTaskRequest", r#"{"leaseToken": 9007199254740993}"#).unwrap();
        let field = exact.descriptor().get_field_by_name("lease_token").unwrap();
        assert_eq!(exact.get_field(&field).as_u64(), Some(9_007_199_254_740_993));
    }

    #[test]
    fn numbers_past_the_double_range_are_refused() {
        let err = encoded("weft.v1.StartRunRequest", r#"{"input": {"x": 1e400}}"#).unwrap_err();
        assert_eq!(err.reason(), "NUMBER_OUT_OF_RANGE");
        assert_eq!(err.path(), "input.x");
        let err = encoded("weft.v1.StartRunRequest", r#"{"version": 4294967296}"#).unwrap_err();
        assert_eq!(err.reason(), "NUMBER_OUT_OF_RANGE");
        assert_eq!(err.path(), "version");
        assert!(encoded("weft.v1.StartRunRequest", r#"{"version": 1.5}"#).is_err());
        assert!(encoded("weft.v1.StartRunRequest", r#"{"version": 2.0}"#).is_ok());
    }

    #[test]
    fn nesting_is_capped_without_recursing_past_it() {
        for open in ["[", "{\"a\":"] {
            let body = format!(r#"{{"input": {}}}"#, open.repeat(100_000));
            let err = encoded("weft.v1.StartRunRequest", &body).unwrap_err();
            assert_eq!(err.problem, Problem::TooDeep, "{open}");
            assert_eq!(err.reason(), "BODY_TOO_DEEP");
        }
        // Objects inside a value take three protobuf levels each: 33 fit
        // under prost's 100, 34 do not.
        let nested = |levels: usize| format!(r#"{{"input": {}1{}}}"#, "{\"a\":".repeat(levels), "}".repeat(levels));
        encoded("weft.v1.StartRunRequest", &nested(33)).unwrap();
        let err = encoded("weft.v1.StartRunRequest", &nested(34)).unwrap_err();
        assert_eq!(err.problem, Problem::TooDeep);
        assert!(err.path().starts_with("input.a.a."), "{}", err.path());
    }

    #[test]
    fn the_encoding_stops_at_the_limit() {
        let ids: Vec<String> = (0..100_000).map(|i| (i % 10).to_string()).collect();
        let body = format!(r#"{{"input": [{}]}}"#, ids.join(","));
        let err = encode_with("weft.v1.StartRunRequest", &body, 100_000).unwrap_err();
        assert_eq!(err.problem, Problem::TooLarge { limit: 100_000 });
        assert!(err.message().contains("100000-byte message limit"), "{}", err.message());
        let fits = encode_with("weft.v1.StartRunRequest", &body, 2_000_000).unwrap();
        // 11 bytes a number; a tag and a 3-byte length each for the Value
        // and its ListValue.
        assert_eq!(fits.len(), 100_000 * 11 + 8);
    }

    #[test]
    fn mistakes_name_their_place() {
        let err = encoded("weft.v1.StartRunRequest", "{\"input\": [1,\n 2,]}").unwrap_err();
        assert_eq!(err.reason(), "MALFORMED_JSON");
        assert!(err.message().contains("at line 2 column 4"), "{}", err.message());
        let err = encoded("weft.v1.CreateWorkflowRequest", r#"{"workflow": {"steps": [{"id": "a", "tpye": 1}]}}"#)
            .unwrap_err();
        assert_eq!(err.path(), "workflow.steps[0]");
        assert!(err.message().contains("unknown field 'tpye'"), "{}", err.message());
        let err = encoded("weft.v1.StartRunRequest", r#"{"version": 1, "version": 2}"#).unwrap_err();
        assert!(err.message().contains("given twice"), "{}", err.message());
        let err = encoded("weft.v1.StartRunRequest", "[1]").unwrap_err();
        assert_eq!(err.message(), "the request body: must be a JSON object");
        let err = encoded("weft.v1.StartRunRequest", r#"{"workflowId": 7}"#).unwrap_err();
        assert_eq!(err.path(), "workflowId");
        assert!(encoded("weft.v1.StartRunRequest", "{\"workflowId\": \"\u{0}\"}").is_err());
    }

    #[test]
    fn typed_numbers_are_refused_as_strings() {
        let cases = [
            ("weft.v1.StartRunRequest", r#"{"version": "0"}"#, "version", "expected an integer, not a string"),
            ("weft.v1.CompleteTaskRequest", r#"{"leaseToken": "18446744073709551615"}"#, "leaseToken", "integer"),
            ("weft.v1.Money", r#"{"amount": "-5"}"#, "amount", "integer"),
            ("weft.v1.BlockPosition", r#"{"x": "1.5"}"#, "x", "expected a number, not a string"),
            ("weft.v1.BlockPosition", r#"{"y": "NaN"}"#, "y", "not a string"),
        ];
        for (name, text, path, said) in cases {
            let err = encoded(name, text).unwrap_err();
            assert_eq!(err.reason(), "INVALID_ARGUMENT", "{text}");
            assert_eq!(err.path(), path, "{text}");
            assert!(err.message().contains(said), "{text}: {}", err.message());
        }
    }
}
