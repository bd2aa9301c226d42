//! REST error bodies: a `google.rpc.Status` in JSON (`code`, `message`,
//! `details`) that also carries the documented `error` (the message) and
//! `error_code` (UPPER_SNAKE, from the `ErrorInfo` reason), so clients
//! written against any documented shape can read it; or, where a family's
//! document lists a smaller body, just `{error, error_code}` or `{error}`
//! ([`ErrorForm`]).

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use prost_reflect::DynamicMessage;
use serde_json::{Value, json};
use tonic::Code;

use super::profile::ErrorForm;
use super::{json as rest_json, status};
use crate::api::descriptors::pool;
use crate::api::error::ERROR_DOMAIN;

/// The `details` of a `grpc-status-details-bin` value, as JSON (`Any`s
/// resolved through the descriptor pool, `@type` included).
fn details_json(details_bin: &str) -> Vec<Value> {
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    let Ok(bytes) = engine.decode(details_bin.trim_end_matches('=')) else { return Vec::new() };
    let Some(descriptor) = pool().get_message_by_name("google.rpc.Status") else { return Vec::new() };
    let Ok(status) = DynamicMessage::decode(descriptor, bytes.as_slice()) else { return Vec::new() };
    match rest_json::to_json(&status).get("details") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn reason_of(details: &[Value]) -> Option<String> {
    details
        .iter()
        .find(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("google.rpc.ErrorInfo")))
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Whole seconds of the `RetryInfo` detail's delay (protobuf JSON writes a
/// Duration as `"0.500s"`), rounded up and at least 1, for `Retry-After`.
fn retry_after_secs(details: &[Value]) -> Option<u64> {
    let info = details
        .iter()
        .find(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.ends_with("google.rpc.RetryInfo")))?;
    let seconds: f64 = info.get("retryDelay").and_then(Value::as_str)?.strip_suffix('s')?.parse().ok()?;
    // Bounded so that a nonsense delay cannot overflow the cast.
    Some((seconds.ceil().clamp(1.0, 86_400.0)) as u64)
}

/// The JSON body and HTTP status of a gRPC error (`details_bin` is the raw
/// `grpc-status-details-bin` header, if any).
pub fn status_json(code: Code, message: &str, details_bin: Option<&str>) -> (http::StatusCode, Value) {
    let details = details_bin.map(details_json).unwrap_or_default();
    let reason = reason_of(&details);
    let http = status::error_status(code, reason.as_deref());
    let error_code = reason.unwrap_or_else(|| status::default_error_code(code).to_string());
    let body = json!({
        "code": code as i32,
        "message": message,
        "details": details,
        "error": message,
        "error_code": error_code,
    });
    (http, body)
}

/// Whether an error answer is a refusal by the API's gatekeepers (a key,
/// a scope, a per-tenant limit) rather than the route's own error: those
/// keep their `error_code` and their status in every family, so that a
/// client can always tell "fix your key" or "slow down" apart.
pub fn is_gatekeeper(http: http::StatusCode) -> bool {
    matches!(http.as_u16(), 401 | 403 | 429)
}

/// `body` (the full Status form, answered with `http`) cut down to `form`.
pub fn in_form(form: ErrorForm, http: http::StatusCode, mut body: Value) -> Value {
    match form {
        ErrorForm::Status => body,
        ErrorForm::Plain if !is_gatekeeper(http) => json!({"error": body["error"].take()}),
        ErrorForm::Structured | ErrorForm::Plain => {
            json!({"error": body["error"].take(), "error_code": body["error_code"].take()})
        }
    }
}

/// The response for a gRPC error, its body in `form`.
///
/// A refusal carrying `RetryInfo` (a per-tenant limit: 429) gets a
/// `Retry-After` header with the delay in whole seconds.
pub fn from_grpc_in(form: ErrorForm, code: Code, message: &str, details_bin: Option<&str>) -> Response {
    let (http, body) = status_json(code, message, details_bin);
    let retry_after = body.get("details").and_then(Value::as_array).and_then(|d| retry_after_secs(d));
    let mut response = (http, Json(in_form(form, http, body))).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// An error found by the gateway itself (no route, malformed JSON, body too
/// large), with an `ErrorInfo` detail carrying `reason`.
pub fn gateway(code: Code, reason: &str, message: impl Into<String>, http: Option<http::StatusCode>) -> Response {
    gateway_in(ErrorForm::Status, code, reason, message, http)
}

/// [`gateway`] with the body in `form`.
pub fn gateway_in(
    form: ErrorForm,
    code: Code,
    reason: &str,
    message: impl Into<String>,
    http: Option<http::StatusCode>,
) -> Response {
    let message = message.into();
    let body = json!({
        "code": code as i32,
        "message": message,
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": ERROR_DOMAIN,
        }],
        "error": message,
        "error_code": reason,
    });
    let http = http.unwrap_or_else(|| status::error_status(code, Some(reason)));
    (http, Json(in_form(form, http, body))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_the_delay_up_to_whole_seconds_and_at_least_one() {
        let info =
            |delay: &str| vec![json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay})];
        assert_eq!(retry_after_secs(&info("0.001s")), Some(1));
        assert_eq!(retry_after_secs(&info("0s")), Some(1));
        assert_eq!(retry_after_secs(&info("1s")), Some(1));
        assert_eq!(retry_after_secs(&info("1.200s")), Some(2));
        assert_eq!(retry_after_secs(&[json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo"})]), None);
    }
}
