//! Turning an HTTP request into a gRPC request message (body, path
//! variables, query parameters) and calling the gRPC service in-process,
//! through the same router gRPC clients reach.

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value};
use tonic::Code;
use tower::ServiceExt;

use super::json_encode::{self, Target};
use super::routes::{BodyMapping, Route, percent_decode};

/// A request the gateway refuses before calling gRPC.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The gRPC code it stands for.
    pub code: Code,
    /// The `ErrorInfo` reason (`error_code`).
    pub reason: &'static str,
    /// What is wrong, naming the field or JSON path.
    pub message: String,
    /// The HTTP status when it is not the code's usual one (413).
    pub http: Option<http::StatusCode>,
}

/// Request headers passed on to the gRPC call.
const FORWARDED_HEADERS: &[&str] = &["authorization", "x-api-key", "x-request-id"];

fn set_path(object: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let mut parts = path.split('.').peekable();
    let mut current = object;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            // One value for a singular field: a second would silently win.
            if current.contains_key(part) {
                return Err(format!("'{path}' is given twice; it takes one value"));
            }
            current.insert(part.to_string(), value);
            return Ok(());
        }
        let next = current.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        current = next.as_object_mut().ok_or_else(|| format!("'{path}' crosses a non-object field '{part}'"))?;
    }
    Ok(())
}

/// The field at a dotted path of `descriptor` (proto or JSON names).
fn field_kind(descriptor: &MessageDescriptor, path: &str) -> Option<(Kind, bool)> {
    let mut message = descriptor.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = message.get_field_by_name(part).or_else(|| message.get_field_by_json_name(part))?;
        if parts.peek().is_none() {
            return Some((field.kind(), field.is_list()));
        }
        match field.kind() {
            Kind::Message(inner) => message = inner,
            _ => return None,
        }
    }
    None
}

/// A query or path value as the JSON the field expects.
fn scalar_json(kind: &Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Bool => match text {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!("'{text}' is not a boolean")),
        },
        Kind::Message(m) if !m.full_name().starts_with("google.protobuf.") => {
            Err("a message field cannot be set from the query string".into())
        }
        // Typed numbers travel as JSON numbers (the body encoder refuses
        // strings for them), so the text is read as one. serde_json keeps
        // every 64-bit integer exact; past that it reads a double, which
        // the encoder refuses as out of range.
        Kind::Double
        | Kind::Float
        | Kind::Int32
        | Kind::Sint32
        | Kind::Sfixed32
        | Kind::Int64
        | Kind::Sint64
        | Kind::Sfixed64
        | Kind::Uint32
        | Kind::Fixed32
        | Kind::Uint64
        | Kind::Fixed64 => match serde_json::from_str::<Value>(text) {
            Ok(number @ Value::Number(_)) => Ok(number),
            _ => Err(format!("'{text}' is not a number")),
        },
        Kind::String | Kind::Bytes | Kind::Enum(_) | Kind::Message(_) => Ok(Value::String(text.to_string())),
    }
}

/// The parts of an HTTP request that make the gRPC request message.
#[derive(Debug, Clone)]
pub struct RequestParts {
    /// The body, as read (at most the body limit).
    pub body: Bytes,
    /// Path variables bound by the route.
    pub path_values: Vec<(String, String)>,
    /// The query string, if any.
    pub query: Option<String>,
    /// `Last-Event-ID`, for streams.
    pub last_event_id: Option<String>,
}

fn invalid(message: impl Into<String>) -> Refusal {
    Refusal { code: Code::InvalidArgument, reason: "INVALID_ARGUMENT", message: message.into(), http: None }
}

impl From<json_encode::EncodeError> for Refusal {
    fn from(error: json_encode::EncodeError) -> Self {
        let (code, http) = match error.problem {
            json_encode::Problem::TooLarge { .. } => {
                (Code::ResourceExhausted, Some(http::StatusCode::PAYLOAD_TOO_LARGE))
            }
            json_encode::Problem::Syntax { .. }
            | json_encode::Problem::Mismatch(_)
            | json_encode::Problem::TooDeep
            | json_encode::Problem::InexactInteger(_)
            | json_encode::Problem::OutOfRange(_) => (Code::InvalidArgument, None),
        };
        Refusal { code, reason: error.reason(), message: error.message(), http }
    }
}

/// The gRPC request frame (the 5-byte prefix, then the message) of `route`
/// from its parts, encoded straight from the JSON ([`json_encode`]); the
/// message may not exceed `limit` bytes. Path variables, query parameters
/// and `Last-Event-ID` are encoded after the body: protobuf merges them in,
/// and a path variable wins over the same field in the body. The family's
/// request defaults go first, so that anything the client sends wins.
pub fn request_frame(route: &Route, parts: &RequestParts, limit: usize) -> Result<Bytes, Refusal> {
    let descriptor = route.method.input();
    let body = parts.body.as_ref();
    let mut out = Vec::with_capacity(5 + body.len().min(limit));
    out.extend_from_slice(&[0; 5]);
    let defaults = request_defaults(route);
    if !defaults.is_empty() {
        let text = serde_json::to_vec(&Value::Object(defaults)).expect("a JSON map serializes");
        json_encode::encode(&mut out, 5, limit, &text, Target::Message(&descriptor))?;
    }
    // Only a body of no bytes at all is "no body". Whitespace alone (a lone
    // `\r`, a form feed) is not a JSON document, so it is malformed JSON,
    // as the OpenAPI document and any JSON parser say.
    if !body.is_empty() {
        match &route.body {
            BodyMapping::None => {
                return Err(invalid(format!("{} {} takes no request body", route.http_method, route.template)));
            }
            BodyMapping::Whole => {
                json_encode::encode(&mut out, 5, limit, body, Target::Message(&descriptor))?;
            }
            BodyMapping::Field(name) => {
                let field = descriptor
                    .get_field_by_name(name)
                    .ok_or_else(|| invalid(format!("the body field '{name}' names no request field")))?;
                json_encode::encode(&mut out, 5, limit, body, Target::Field(&field))?;
            }
        }
    }
    let extras = extra_fields(route, parts)?;
    if !extras.is_empty() {
        let text = serde_json::to_vec(&Value::Object(extras)).expect("a JSON map serializes");
        json_encode::encode(&mut out, 5, limit, &text, Target::Message(&descriptor))?;
    }
    let len = u32::try_from(out.len() - 5).expect("the message limit is under 4 GiB");
    out[1..5].copy_from_slice(&len.to_be_bytes());
    Ok(Bytes::from(out))
}

/// The request defaults of the route's family for its RPC, as a JSON
/// object of request fields.
fn request_defaults(route: &Route) -> Map<String, Value> {
    route
        .family
        .profile()
        .defaults_of(route.method.name())
        .map(|d| (d.field.to_string(), serde_json::from_str(d.value).expect("profile defaults are JSON")))
        .collect()
}

/// Path variables, query parameters and `Last-Event-ID` as a JSON object
/// of request fields (small: they come from the request line). A query
/// parameter of `0` for a field the family gives a default means that
/// default, as leaving it out does.
fn extra_fields(route: &Route, parts: &RequestParts) -> Result<Map<String, Value>, Refusal> {
    let descriptor = &route.method.input();
    let mut object = Map::new();
    for (field, value) in &parts.path_values {
        let (kind, _) = field_kind(descriptor, field)
            .ok_or_else(|| invalid(format!("path variable '{field}' names no request field")))?;
        let value = scalar_json(&kind, value).map_err(|e| invalid(format!("{field}: {e}")))?;
        set_path(&mut object, field, value).map_err(invalid)?;
    }
    if let Some(query) = parts.query.as_deref().filter(|q| !q.is_empty()) {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| invalid(format!("malformed query string: {e}")))?;
        for (key, text) in pairs {
            let (kind, repeated) =
                field_kind(descriptor, &key).ok_or_else(|| invalid(format!("unknown query parameter '{key}'")))?;
            let value = scalar_json(&kind, &text).map_err(|e| invalid(format!("{key}: {e}")))?;
            if repeated {
                let slot = object.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
                match slot {
                    Value::Array(items) => items.push(value),
                    _ => return Err(invalid(format!("'{key}' is given twice"))),
                }
            } else {
                set_path(&mut object, &key, value).map_err(invalid)?;
            }
        }
    }
    if let Some(id) = parts.last_event_id.as_deref()
        && descriptor.get_field_by_name("after_sequence").is_some()
    {
        let sequence: u64 =
            id.trim().parse().map_err(|_| invalid(format!("Last-Event-ID '{id}' is not a sequence number")))?;
        object.insert("afterSequence".into(), Value::from(sequence));
    }
    for default in route.family.profile().defaults_of(route.method.name()) {
        if object.get(default.field).is_some_and(|given| given == 0) {
            object.remove(default.field);
        }
    }
    Ok(object)
}

/// A gRPC status read from headers or trailers.
#[derive(Debug, Clone)]
pub struct GrpcStatus {
    /// The code.
    pub code: Code,
    /// The decoded message.
    pub message: String,
    /// `grpc-status-details-bin`, raw.
    pub details_bin: Option<String>,
}

impl GrpcStatus {
    /// The status carried by `headers`, if any.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let code = headers.get("grpc-status")?.to_str().ok()?.parse::<i32>().ok()?;
        let message = headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(|m| percent_decode(m).unwrap_or_else(|| m.to_string()))
            .unwrap_or_default();
        let details_bin = headers.get("grpc-status-details-bin").and_then(|v| v.to_str().ok()).map(str::to_string);
        Some(Self { code: Code::from_i32(code), message, details_bin })
    }
}

/// Calls `route`'s RPC on `grpc` with `frame` (from [`request_frame`]);
/// returns the response headers and body (a stream of gRPC frames ending
/// in trailers).
pub async fn call(grpc: &axum::Router, route: &Route, frame: Bytes, incoming: &HeaderMap) -> http::Response<Body> {
    // HTTP/2 because tonic-web hands only HTTP/2 requests of plain gRPC on.
    let mut request = http::Request::post(&route.grpc_path)
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::from(frame))
        .expect("a static gRPC request is well-formed");
    for name in FORWARDED_HEADERS {
        if let Some(value) = incoming.get(*name) {
            request.headers_mut().insert(*name, value.clone());
        }
    }
    match grpc.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Splits complete gRPC frames off the front of `buffer`.
pub fn take_frames(buffer: &mut BytesMut) -> Result<Vec<Bytes>, String> {
    let mut messages = Vec::new();
    while buffer.len() >= 5 {
        if buffer[0] != 0 {
            return Err("compressed gRPC frames are not expected in-process".into());
        }
        let len = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
        if buffer.len() < 5 + len {
            break;
        }
        buffer.advance(5);
        messages.push(buffer.split_to(len).freeze());
    }
    Ok(messages)
}

/// Reads a unary response: the one message, or the error status.
pub async fn unary_result(response: http::Response<Body>) -> Result<Bytes, GrpcStatus> {
    if let Some(status) = GrpcStatus::from_headers(response.headers()).filter(|s| s.code != Code::Ok) {
        return Err(status);
    }
    let internal = |message: String| GrpcStatus { code: Code::Internal, message, details_bin: None };
    let collected = response.into_body().collect().await.map_err(|e| internal(format!("reading the response: {e}")))?;
    let trailers = collected.trailers().cloned();
    let mut buffer = BytesMut::from(collected.to_bytes().as_ref());
    if let Some(status) = trailers.as_ref().and_then(GrpcStatus::from_headers).filter(|s| s.code != Code::Ok) {
        return Err(status);
    }
    let mut frames = take_frames(&mut buffer).map_err(internal)?;
    frames.pop().ok_or_else(|| internal("the service answered without a message".into()))
}
