//! Server-streaming RPCs over HTTP: Server-Sent Events (`text/event-stream`)
//! or newline-delimited JSON (`application/x-ndjson`), chosen by Accept.
//!
//! Each message is one SSE event whose `id:` is the run event sequence (so a
//! browser reconnecting with Last-Event-ID resumes exactly) and whose
//! `event:` is the event type, spelled as the route's family profile says
//! (`step.started` on `/v1`, `step_started` on `/api`); `data:` is written
//! with the family's keys. A comment keeps idle connections alive every 15
//! seconds. The HTTP stream ends when the RPC's stream ends; an error after
//! the first event arrives as an `error` event, and so does a failure to
//! start on the streams whose document asks for that (HTTP 200).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt, stream};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tonic::Code;

use super::profile::{ErrorForm, EventNames, Profile};
use super::routes::Route;
use super::transcode::{GrpcStatus, take_frames};
use super::{errors, json_wire};

/// Interval of the SSE keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How the client asked to receive the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// `text/event-stream` (the default).
    Sse,
    /// `application/x-ndjson`.
    Ndjson,
}

impl StreamFormat {
    /// The format named by an Accept header.
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/x-ndjson") && !a.contains("text/event-stream") => Self::Ndjson,
            _ => Self::Sse,
        }
    }
}

/// One item of the stream: a message as REST JSON text, or the final error.
enum Item {
    Message(String),
    Error(GrpcStatus),
}

/// The two fields of an event the SSE framing needs; the rest of the JSON
/// is skipped, not built into a tree.
#[derive(Debug, Default, serde::Deserialize)]
struct EventHead {
    #[serde(rename = "type")]
    kind: Option<String>,
    sequence: Option<u64>,
}

struct Reader {
    body: Body,
    buffer: BytesMut,
    ready: VecDeque<Item>,
    done: bool,
    route: Route,
}

fn shape(route: &Route, frame: &Bytes) -> Item {
    let descriptor = route.method.output();
    let naming = &route.family.profile().naming;
    let mut out = Vec::with_capacity(frame.len() + 64);
    let written = match route.response_body.as_ref().and_then(|name| descriptor.get_field_by_name(name)) {
        Some(field) => json_wire::write_field(&mut out, &descriptor, frame, &field, naming),
        None => json_wire::write_named(&mut out, &descriptor, frame, false, naming),
    };
    match written.map(|()| String::from_utf8(out)) {
        Ok(Ok(json)) => Item::Message(json),
        Ok(Err(_)) => Item::Error(internal("the JSON writer wrote invalid UTF-8".into())),
        Err(e) => Item::Error(internal(e.to_string())),
    }
}

fn internal(message: String) -> GrpcStatus {
    GrpcStatus { code: Code::Internal, message, details_bin: None }
}

async fn next_item(mut reader: Reader) -> Option<(Item, Reader)> {
    loop {
        if let Some(item) = reader.ready.pop_front() {
            return Some((item, reader));
        }
        if reader.done {
            return None;
        }
        match reader.body.frame().await {
            Some(Ok(frame)) => {
                if let Some(trailers) = frame.trailers_ref() {
                    reader.done = true;
                    if let Some(status) = GrpcStatus::from_headers(trailers).filter(|s| s.code != Code::Ok) {
                        reader.ready.push_back(Item::Error(status));
                    }
                } else if let Ok(data) = frame.into_data() {
                    reader.buffer.extend_from_slice(&data);
                    match take_frames(&mut reader.buffer) {
                        Ok(frames) => {
                            let items: Vec<Item> = frames.iter().map(|f| shape(&reader.route, f)).collect();
                            reader.ready.extend(items);
                        }
                        Err(message) => {
                            reader.done = true;
                            reader.ready.push_back(Item::Error(GrpcStatus {
                                code: Code::Internal,
                                message,
                                details_bin: None,
                            }));
                        }
                    }
                }
            }
            Some(Err(e)) => {
                reader.done = true;
                let message = format!("the stream broke: {e}");
                reader.ready.push_back(Item::Error(GrpcStatus { code: Code::Unavailable, message, details_bin: None }));
            }
            None => reader.done = true,
        }
    }
}

fn items(route: &Route, body: Body) -> impl Stream<Item = Item> + Send + 'static {
    let reader = Reader { body, buffer: BytesMut::new(), ready: VecDeque::new(), done: false, route: route.clone() };
    stream::unfold(reader, next_item)
}

/// An error that ends a stream: the body a unary error of the route has,
/// with `"type": "error"` so it reads like the other stream items. A
/// timeout keeps its `error_code` in every form, so that a client can tell
/// it from a failure.
fn error_json(form: ErrorForm, status: &GrpcStatus) -> Value {
    let (http, full) = errors::status_json(status.code, &status.message, status.details_bin.as_deref());
    let timeout = full.get("error_code").cloned().filter(|code| code == "EXECUTION_TIMEOUT");
    let mut body = errors::in_form(form, http, full);
    if let Some(code) = timeout {
        body["error_code"] = code;
    }
    body["type"] = json!("error");
    body
}

fn sse_event(events: EventNames, form: ErrorForm, item: Item) -> Event {
    match item {
        Item::Message(json) => {
            let mut event = Event::default();
            let head: EventHead = serde_json::from_str(&json).unwrap_or_default();
            if let Some(kind) = head.kind {
                let name = match events {
                    EventNames::Dotted => kind,
                    EventNames::Underscored => kind.replace('.', "_"),
                };
                event = event.event(name);
            }
            if let Some(sequence) = head.sequence {
                event = event.id(sequence.to_string());
            }
            event.data(json)
        }
        Item::Error(status) => Event::default().event("error").data(error_json(form, &status).to_string()),
    }
}

/// The HTTP response for a streaming RPC's gRPC response.
pub fn respond(route: &Route, response: http::Response<Body>, format: StreamFormat) -> Response {
    let profile: &'static Profile = route.family.profile();
    let form = profile.error_form(&route.http_method, &route.template);
    let refused = GrpcStatus::from_headers(response.headers()).filter(|s| s.code != Code::Ok);
    // A key, scope or rate refusal keeps its status even on an in-band
    // stream: it is the gatekeeper's answer, not the execution's.
    let in_band = |status: &GrpcStatus| {
        let (http, _) = errors::status_json(status.code, &status.message, status.details_bin.as_deref());
        profile.in_band_stream_errors(route.method.name()) && !errors::is_gatekeeper(http)
    };
    let items = match refused {
        Some(status) if in_band(&status) => stream::iter([Item::Error(status)]).boxed(),
        Some(status) => return errors::from_grpc_in(form, status.code, &status.message, status.details_bin.as_deref()),
        None => items(route, response.into_body()).boxed(),
    };
    let events = profile.events;
    match format {
        StreamFormat::Sse => {
            let events = items.map(move |item| Ok::<Event, Infallible>(sse_event(events, form, item)));
            Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
        }
        StreamFormat::Ndjson => {
            let lines = items.map(move |item| {
                let mut line = match item {
                    Item::Message(json) => json,
                    Item::Error(status) => error_json(form, &status).to_string(),
                };
                line.push('\n');
                Ok::<Bytes, Infallible>(Bytes::from(line))
            });
            let mut response = Body::from_stream(lines).into_response();
            response
                .headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/x-ndjson"));
            response
        }
    }
}
