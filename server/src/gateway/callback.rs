//! `POST /v1/callbacks/{token}`: where receivers of webhooks that wait for
//! a callback answer. The one route not derived from a proto annotation:
//! its signature covers the raw body bytes, which transcoding to a message
//! and back would not preserve. Answers 202 with `{"accepted": true}`, or
//! an error body like every other route's.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::json;
use tonic::Code;

use super::errors;
use crate::engine::builtin::{CallbackError, CallbackReceiver};
use crate::outbound::SIGNATURE_HEADER;

/// The route's path, axum syntax.
pub const PATH: &str = "/v1/callbacks/{token}";

pub(super) async fn handle(
    State(receiver): State<CallbackReceiver>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match receiver.deliver(&token, signature, &body).await {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "accepted": true }))).into_response(),
        Err(err) => {
            let message = err.to_string();
            let (code, reason, status) = match err {
                CallbackError::UnknownToken => (Code::NotFound, "CALLBACK_TOKEN_UNKNOWN", StatusCode::NOT_FOUND),
                CallbackError::Signature(_) => {
                    (Code::Unauthenticated, "CALLBACK_SIGNATURE_INVALID", StatusCode::UNAUTHORIZED)
                }
                CallbackError::NotJson(_) => (Code::InvalidArgument, "CALLBACK_BODY_INVALID", StatusCode::BAD_REQUEST),
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
