//! `POST /v1/callbacks/{token}`: where receivers of webhooks that wait for
//! a callback answer (TriggerService.DeliverCallback's REST binding, which
//! `/openapi.json` describes from the proto). It is served here rather than
//! transcoded: the signature covers the raw body bytes, which decoding into
//! a message would not keep. Answers 200 with the DeliverCallbackResponse
//! JSON, or an error body like every other route's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use tonic::Code;

use super::errors;
use crate::engine::builtin::{Callback, CallbackError, CallbackReceiver};
use crate::outbound::{SIGNATURE_HEADER, X_SIGNATURE_HEADER, X_TIMESTAMP_HEADER};

/// The route's path, axum syntax.
pub const PATH: &str = "/v1/callbacks/{token}";

/// Any method but POST: 405 with the usual error body and `Allow: POST`.
pub(super) async fn wrong_method(method: http::Method) -> Response {
    let message = format!("{method} is not allowed on a callback URL; use POST");
    let mut response =
        errors::gateway(Code::Unimplemented, "METHOD_NOT_ALLOWED", message, Some(StatusCode::METHOD_NOT_ALLOWED));
    response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    response
}

pub(super) async fn handle(
    State(receiver): State<CallbackReceiver>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let callback = Callback {
        token: &token,
        signature: header(SIGNATURE_HEADER),
        x_signature: header(X_SIGNATURE_HEADER),
        x_timestamp: header(X_TIMESTAMP_HEADER),
        body: &body,
    };
    match receiver.deliver(callback).await {
        Ok((run_id, step_id)) => {
            let answer = json!({"accepted": true, "duplicate": false, "runId": run_id, "stepId": step_id});
            (StatusCode::OK, Json(answer)).into_response()
        }
        Err(err) => {
            let message = err.to_string();
            let (code, reason, status) = match err {
                CallbackError::UnknownToken => (Code::NotFound, "CALLBACK_TOKEN_UNKNOWN", StatusCode::NOT_FOUND),
                CallbackError::Signature(_) => {
                    (Code::Unauthenticated, "CALLBACK_SIGNATURE_INVALID", StatusCode::UNAUTHORIZED)
                }
                CallbackError::NotJson(_) => (Code::InvalidArgument, "CALLBACK_BODY_INVALID", StatusCode::BAD_REQUEST),
                CallbackError::Refused(_) => (Code::InvalidArgument, "CALLBACK_BODY_REFUSED", StatusCode::BAD_REQUEST),
                CallbackError::TooLarge(_) => {
                    (Code::ResourceExhausted, "BODY_TOO_LARGE", StatusCode::PAYLOAD_TOO_LARGE)
                }
                CallbackError::Spent(_) => (Code::FailedPrecondition, "CALLBACK_TOKEN_USED", StatusCode::CONFLICT),
                CallbackError::Engine(_) => (Code::Unavailable, "UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE),
            };
            errors::gateway(code, reason, message, Some(status))
        }
    }
}
