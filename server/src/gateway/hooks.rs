//! `POST /hooks/{webhook_id}` (and `/v1/hooks/{webhook_id}`): the inbound
//! call of a deployed workflow's webhook trigger (TriggerService.FireWebhook's
//! REST bindings, which `/openapi.json` describes from the proto). Served
//! here rather than transcoded, like callbacks: an HMAC signature covers the
//! raw body bytes, and the secret and signature come in headers. No API key
//! is asked for; the webhook's secret is the credential.
//!
//! Answers 202 with the run id, or an error with a distinct `error_code`
//! per refusal: 400, 401, 404, 409 (`WORKFLOW_NOT_DEPLOYED`,
//! `WEBHOOK_NOT_ARMED`), 410 (`WEBHOOK_WINDOW_EXPIRED`), 413, 422. `/hooks`
//! is in 004's family (`profile::Family::Api`): `{"run_id": …}` and
//! `{"error", "error_code"}` bodies; `/v1/hooks` answers `{"runId": …}` and
//! the full `google.rpc.Status` body, as every `/v1` route.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderMap, StatusCode};
use serde_json::json;
use tonic::Code;

use super::errors;
use super::profile::ErrorForm;
use crate::api::triggers::refusal_status;
use crate::engine::triggers::Triggers;
use crate::engine::triggers::inbound::{InboundBody, InboundCall, InboundRefusal, MAX_BODY_BYTES};
use crate::engine::triggers::signature::{
    MAX_HEADER_BYTES, Presented, SECRET_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

/// The route 004 documents, axum syntax.
pub const PATH: &str = "/hooks/{webhook_id}";
/// The same under `/v1`, as the proto binds it.
pub const V1_PATH: &str = "/v1/hooks/{webhook_id}";

/// Any method but POST: 405 with the usual error body and `Allow: POST`.
pub(super) async fn wrong_method(method: http::Method) -> Response {
    let message = format!("{method} is not allowed on a webhook URL; use POST");
    let mut response =
        errors::gateway(Code::Unimplemented, "METHOD_NOT_ALLOWED", message, Some(StatusCode::METHOD_NOT_ALLOWED));
    response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
    response
}

/// A refusal's error body in `form`.
fn refused(refusal: InboundRefusal, form: ErrorForm) -> Response {
    let status = refusal_status(refusal);
    let details = base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.details());
    errors::from_grpc_in(form, status.code(), status.message(), Some(&details))
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<Option<&'a str>, InboundRefusal> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    let text = value.to_str().ok().filter(|t| t.len() <= MAX_HEADER_BYTES).ok_or_else(|| InboundRefusal::Invalid {
        field: name,
        message: format!("must be visible ASCII of at most {MAX_HEADER_BYTES} bytes"),
    })?;
    Ok(Some(text.trim()))
}

fn presented(headers: &HeaderMap) -> Result<Presented<'_>, InboundRefusal> {
    let timestamp = match header(headers, TIMESTAMP_HEADER)? {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| InboundRefusal::Invalid {
            field: TIMESTAMP_HEADER,
            message: "must be the Unix time in whole seconds".into(),
        })?),
    };
    Ok(Presented { secret: header(headers, SECRET_HEADER)?, signature: header(headers, SIGNATURE_HEADER)?, timestamp })
}

async fn take(
    triggers: &Triggers,
    webhook_id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<String, InboundRefusal> {
    let presented = presented(headers)?;
    // One byte over the bound is enough to refuse; more is never read.
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES + 1)
        .await
        .map_err(|_| InboundRefusal::TooLarge(MAX_BODY_BYTES + 1))?;
    triggers.fire(InboundCall { webhook_id, presented, body: InboundBody::Raw(&bytes) }).await
}

/// `POST /hooks/{webhook_id}`.
pub(super) async fn handle(
    State(triggers): State<Triggers>,
    Path(webhook_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match take(&triggers, &webhook_id, &headers, body).await {
        Ok(run_id) => (StatusCode::ACCEPTED, Json(json!({"run_id": run_id}))).into_response(),
        Err(refusal) => refused(refusal, ErrorForm::Structured),
    }
}

/// `POST /v1/hooks/{webhook_id}`.
pub(super) async fn handle_v1(
    State(triggers): State<Triggers>,
    Path(webhook_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match take(&triggers, &webhook_id, &headers, body).await {
        Ok(run_id) => (StatusCode::ACCEPTED, Json(json!({"runId": run_id}))).into_response(),
        Err(refusal) => refused(refusal, ErrorForm::Status),
    }
}
