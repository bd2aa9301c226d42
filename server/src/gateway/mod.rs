//! The REST/JSON gateway, driven entirely by the `google.api.http`
//! annotations of `weft.v1`: adding an annotated RPC is all it takes to
//! expose it. No route is written by hand.
//!
//! A request is matched against the [`routes::RouteTable`], turned into the
//! RPC's request message ([`transcode`]), and sent in-process through the
//! same router gRPC clients use, so REST and gRPC share every check. Bodies
//! are read straight into protobuf ([`json_encode`]) and answers written
//! straight from it ([`json_wire`]), large ones on a bounded blocking pool
//! ([`offload`]); unary answers come back as JSON ([`json`]), streams as SSE or NDJSON
//! ([`stream`]), errors as `google.rpc.Status` JSON ([`errors`]), and
//! `GET /openapi.json` describes it all ([`openapi`]). Bodies must be JSON
//! ([`media_type`], 415 otherwise), and a server on loopback answers only
//! to loopback host names ([`host_check`], 421 otherwise); pages on other
//! origins change nothing ([`origin_check`], 403). The two routes served
//! by hand are DeliverCallback's `POST /v1/callbacks/{token}` ([`callback`])
//! and FireWebhook's `POST /hooks/{webhook_id}` ([`hooks`]): their
//! signatures cover the raw body, which transcoding would not keep.

mod callback;
mod console;
mod enum_names;
mod errors;
mod hooks;
pub mod host_check;
pub mod json;
mod json_encode;
mod json_lex;
mod json_wire;
mod json_write;
mod media_type;
mod metrics_route;
mod offload;
mod openapi;
pub mod origin_check;
mod probes;
pub mod profile;
pub mod request_metrics;
pub mod routes;
mod status;
mod stream;
mod transcode;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{Method, StatusCode};
use serde_json::Value;
use tonic::Code;

use crate::api::descriptors::pool;
use crate::engine::builtin::CallbackReceiver;
use crate::engine::triggers::Triggers;
use crate::health::Health;
use routes::RouteTable;

/// The body transcoding and the answer writer without a server, for the
/// fuzz targets (`fuzz/`): a JSON body through [`transcode::request_frame`]
/// exactly as a request's, and protobuf bytes back to JSON through
/// [`json_wire::write`]. Not an API: nothing else should call these.
#[doc(hidden)]
pub mod fuzzing {
    pub use super::json_wire::{WireError, write};
    pub use super::transcode::{Refusal, RequestParts, request_frame};
}

/// Why the gateway could not be built.
#[derive(Debug, thiserror::Error)]
#[error("the REST bindings of weft.v1 are inconsistent:\n{}", .0.join("\n"))]
pub struct GatewayError(pub Vec<String>);

struct Gateway {
    table: RouteTable,
    grpc: Router,
    /// The largest body read, and the largest message it may encode to
    /// (`max_message_bytes`).
    body_limit: usize,
    openapi: Value,
    offload: offload::Offload,
}

/// The REST body of a unary answer, written from its protobuf bytes with
/// the route's family keys: the whole message with its top-level defaults,
/// or the `response_body` field (its default value when unset).
fn unary_answer(route: &routes::Route, bytes: &[u8]) -> Result<Vec<u8>, json_wire::WireError> {
    let descriptor = route.method.output();
    let naming = &route.family.profile().naming;
    let mut out = Vec::with_capacity(bytes.len() + 64);
    match route.response_body.as_ref().and_then(|name| descriptor.get_field_by_name(name)) {
        Some(field) => json_wire::write_field(&mut out, &descriptor, bytes, &field, naming)?,
        None => json_wire::write_named(&mut out, &descriptor, bytes, true, naming)?,
    }
    Ok(out)
}

/// A unary answer in its family's envelope, with its HTTP status. `/v1`'s
/// bare answers are sent as written, without a JSON tree.
fn enveloped(route: &routes::Route, body: Vec<u8>, query: Option<&str>) -> Response {
    let profile = route.family.profile();
    let answer = profile.answer(route.method.name());
    let success = status::success_status(&route.method);
    if answer == profile::Answer::Bare && profile.step_output_renames.is_empty() {
        return json_response(success, body);
    }
    let Ok(mut tree) = serde_json::from_slice::<Value>(&body) else {
        return errors::gateway(Code::Internal, "INTERNAL", "the JSON writer wrote invalid JSON", None);
    };
    profile::rename_step_outputs(&mut tree, profile.step_output_renames);
    match profile::shape_answer(answer, tree, query) {
        profile::Shaped::Body(value) => {
            json_response(success, serde_json::to_vec(&value).expect("a JSON tree serializes"))
        }
        profile::Shaped::Failed { status, code, message } => {
            let form = profile.error_form(&route.http_method, &route.template);
            errors::gateway_in(form, Code::Internal, code, message, Some(status))
        }
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// 415 with the route's error body and `Accept: application/json`.
fn unsupported_media_type(form: profile::ErrorForm, refusal: transcode::Refusal) -> Response {
    let mut response = errors::gateway_in(form, refusal.code, refusal.reason, refusal.message, refusal.http);
    let (name, value) = media_type::accept_header();
    response.headers_mut().insert(name, value);
    response
}

async fn handle(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::GET && parts.uri.path() == "/openapi.json" {
        return Json(gateway.openapi.clone()).into_response();
    }
    let (route, path_values) = match gateway.table.find(&parts.method, parts.uri.path()) {
        Ok(found) => found,
        Err(miss @ routes::RouteMiss::WrongMethod(_)) => {
            let message = format!("{} is not allowed on {}", parts.method, parts.uri.path());
            let mut response = errors::gateway(
                Code::Unimplemented,
                "METHOD_NOT_ALLOWED",
                message,
                Some(StatusCode::METHOD_NOT_ALLOWED),
            );
            response.headers_mut().extend(miss.allow_header().map(|allow| (http::header::ALLOW, allow)));
            return response;
        }
        Err(routes::RouteMiss::NoPath) => {
            let message = format!("no route for {} {}", parts.method, parts.uri.path());
            return errors::gateway(Code::NotFound, "ROUTE_NOT_FOUND", message, None);
        }
    };
    let form = route.family.profile().error_form(&route.http_method, &route.template);
    // A body must be declared JSON, so no browser sends one unasked
    // (`media_type`); the type is checked before the body is read.
    let declared = match route.body {
        routes::BodyMapping::None => None,
        routes::BodyMapping::Whole | routes::BodyMapping::Field(_) => match media_type::declared(&parts.headers) {
            Ok(declared) => Some(declared),
            Err(refusal) => return unsupported_media_type(form, refusal),
        },
    };
    let limit = gateway.body_limit;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let message =
                format!("the request body is over the {limit}-byte limit (max_message_bytes, WEFT_MAX_MESSAGE_BYTES)");
            return errors::gateway_in(
                form,
                Code::ResourceExhausted,
                "BODY_TOO_LARGE",
                message,
                Some(StatusCode::PAYLOAD_TOO_LARGE),
            );
        }
    };
    if declared == Some(media_type::Declared::Nothing) && !body.is_empty() {
        return unsupported_media_type(form, media_type::undeclared_body());
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let query = parts.uri.query().map(str::to_string);
    let request = transcode::RequestParts {
        body,
        path_values,
        query: query.clone(),
        last_event_id: if route.is_streaming() { header("last-event-id") } else { None },
    };
    let size = request.body.len();
    let encoding = route.clone();
    let frame = gateway.offload.run(size, move || transcode::request_frame(&encoding, &request, limit)).await;
    let frame = match frame {
        Ok(frame) => frame,
        Err(refusal) => return errors::gateway_in(form, refusal.code, refusal.reason, refusal.message, refusal.http),
    };
    let response = transcode::call(&gateway.grpc, route, frame, &parts.headers).await;
    if route.is_streaming() {
        let accept = header("accept");
        return stream::respond(route, response, stream::StreamFormat::from_accept(accept.as_deref()));
    }
    match transcode::unary_result(response).await {
        Ok(bytes) => {
            // Writing and enveloping a large answer both run off the async
            // workers (`offload`).
            let answering = route.clone();
            let written = gateway
                .offload
                .run(bytes.len(), move || {
                    unary_answer(&answering, &bytes).map(|body| enveloped(&answering, body, query.as_deref()))
                })
                .await;
            match written {
                Ok(response) => response,
                Err(e) => errors::gateway_in(form, Code::Internal, "INTERNAL", e.to_string(), None),
            }
        }
        Err(status) => errors::from_grpc_in(form, status.code, &status.message, status.details_bin.as_deref()),
    }
}

/// `grpc` with the REST gateway as its fallback: every path that is not a
/// gRPC method is matched against the annotations. Fails at start when two
/// bindings conflict or a template is malformed.
pub fn router(
    grpc: Router,
    body_limit: usize,
    callbacks: CallbackReceiver,
    triggers: Triggers,
    health: Health,
) -> Result<Router, GatewayError> {
    let table = RouteTable::from_pool(pool()).map_err(GatewayError)?;
    let openapi = openapi::document(&table);
    let offload = offload::Offload::new();
    tracing::debug!(permits = offload.permits(), "REST transcoding of large bodies runs on the blocking pool");
    let gateway = Arc::new(Gateway { table, grpc: grpc.clone(), body_limit, openapi, offload });
    let callback: Router = Router::new()
        .route(callback::PATH, post(callback::handle).fallback(callback::wrong_method))
        .with_state(callbacks);
    let hooks: Router = Router::new()
        .route(hooks::PATH, post(hooks::handle).fallback(hooks::wrong_method))
        .route(hooks::V1_PATH, post(hooks::handle_v1).fallback(hooks::wrong_method))
        .with_state(triggers);
    let probes: Router = Router::new()
        .route(probes::LIVE_PATH, get(probes::live).fallback(probes::wrong_method))
        .route(probes::READY_PATH, get(probes::ready).fallback(probes::wrong_method))
        .route(metrics_route::PATH, get(metrics_route::scrape).fallback(metrics_route::wrong_method))
        .with_state(health);
    let rest: Router = Router::new()
        .fallback(handle)
        .with_state(gateway)
        .merge(callback)
        .merge(hooks)
        .merge(probes)
        .merge(console::routes());
    Ok(grpc.fallback_service(rest.into_service::<Body>()))
}
