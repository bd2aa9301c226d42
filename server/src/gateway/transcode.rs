//! Turning an HTTP request into a gRPC request message (body, path
//! variables, query parameters) and calling the gRPC service in-process,
//! through the same router gRPC clients reach.

use axum::body::Body;
use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::BodyExt;
use prost::Message;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use serde_json::{Map, Value};
use tonic::Code;
use tower::ServiceExt;

use super::json as rest_json;
use super::routes::{BodyMapping, Route, percent_decode};

/// A request the gateway refuses before calling gRPC: (reason, message).
pub type Refusal = (&'static str, String);

/// Request headers passed on to the gRPC call.
const FORWARDED_HEADERS: &[&str] = &["authorization", "x-request-id", "x-weft-tenant"];

fn set_path(object: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let mut parts = path.split('.').peekable();
    let mut current = object;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
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
        // Numbers as strings are valid protobuf JSON for every numeric type.
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Builds the request message of `route` from its parts.
pub fn request_message(
    route: &Route,
    body: &[u8],
    path_values: &[(String, String)],
    query: Option<&str>,
    last_event_id: Option<&str>,
) -> Result<DynamicMessage, Refusal> {
    let descriptor = route.method.input();
    let body_json: Option<Value> = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(
            serde_json::from_slice(body)
                .map_err(|e| ("MALFORMED_JSON", format!("the request body is not valid JSON: {e}")))?,
        )
    };
    let mut object = match (&route.body, body_json) {
        (BodyMapping::None, Some(_)) => {
            return Err((
                "INVALID_ARGUMENT",
                format!("{} {} takes no request body", route.http_method, route.template),
            ));
        }
        (_, None) => Map::new(),
        (BodyMapping::Whole, Some(Value::Object(map))) => map,
        (BodyMapping::Whole, Some(_)) => {
            return Err(("INVALID_ARGUMENT", "the request body must be a JSON object".into()));
        }
        (BodyMapping::Field(field), Some(value)) => Map::from_iter([(field.clone(), value)]),
    };
    for (field, value) in path_values {
        let (kind, _) = field_kind(&descriptor, field)
            .ok_or_else(|| ("INVALID_ARGUMENT", format!("path variable '{field}' names no request field")))?;
        let value = scalar_json(&kind, value).map_err(|e| ("INVALID_ARGUMENT", format!("{field}: {e}")))?;
        set_path(&mut object, field, value).map_err(|e| ("INVALID_ARGUMENT", e))?;
    }
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ("INVALID_ARGUMENT", format!("malformed query string: {e}")))?;
        for (key, text) in pairs {
            let (kind, repeated) = field_kind(&descriptor, &key)
                .ok_or_else(|| ("INVALID_ARGUMENT", format!("unknown query parameter '{key}'")))?;
            let value = scalar_json(&kind, &text).map_err(|e| ("INVALID_ARGUMENT", format!("{key}: {e}")))?;
            if repeated {
                let slot = object.entry(key.clone()).or_insert_with(|| Value::Array(Vec::new()));
                match slot {
                    Value::Array(items) => items.push(value),
                    _ => return Err(("INVALID_ARGUMENT", format!("'{key}' is given twice"))),
                }
            } else {
                set_path(&mut object, &key, value).map_err(|e| ("INVALID_ARGUMENT", e))?;
            }
        }
    }
    if let Some(id) = last_event_id
        && descriptor.get_field_by_name("after_sequence").is_some()
    {
        let sequence: u64 = id
            .trim()
            .parse()
            .map_err(|_| ("INVALID_ARGUMENT", format!("Last-Event-ID '{id}' is not a sequence number")))?;
        object.insert("afterSequence".into(), Value::String(sequence.to_string()));
    }
    rest_json::from_json(&descriptor, Value::Object(object)).map_err(|e| ("INVALID_ARGUMENT", e))
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

/// Calls `route`'s RPC on `grpc` with `message`; returns the response
/// headers and body (a stream of gRPC frames ending in trailers).
pub async fn call(
    grpc: &axum::Router,
    route: &Route,
    message: &DynamicMessage,
    incoming: &HeaderMap,
) -> http::Response<Body> {
    let payload = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(payload.len() + 5);
    frame.extend_from_slice(&[0]);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    // HTTP/2 because tonic-web hands only HTTP/2 requests of plain gRPC on.
    let mut request = http::Request::post(&route.grpc_path)
        .version(http::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::from(frame.freeze()))
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
