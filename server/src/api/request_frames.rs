//! Middleware: reads and checks the body of every gRPC and gRPC-web request
//! to a single-message RPC before any service sees it.
//!
//! tonic answers INTERNAL to framing mistakes, tonic-web to bodies that are
//! not base64, and tonic-health's codec to bytes that are not protobuf; all
//! of them are the client's mistakes. Every Weft RPC and both health RPCs
//! take exactly one request message, and gRPC-web has no client streaming,
//! so the body (bounded by the message limit) is read whole and checked:
//!
//! - a message declaring more than the limit: RESOURCE_EXHAUSTED (tonic's
//!   OUT_OF_RANGE is not what clients expect), before the rest is read;
//! - anything but exactly one well-formed frame ([`FrameProblem`]):
//!   INVALID_ARGUMENT, reason `MALFORMED_FRAME`;
//! - gRPC-web-text that is not base64: INVALID_ARGUMENT. The decoded bytes
//!   go on as binary gRPC-web, so tonic-web never decodes client text;
//! - a health request that is not protobuf: INVALID_ARGUMENT, reason
//!   `MALFORMED_MESSAGE`. Weft's own messages are checked where they are
//!   decoded, by `weft_proto::codec::RequestCodec`.
//!
//! A refused request never reaches a service, so nothing is stored. The body
//! that passes is handed on as the chunks that arrived (no copy), followed
//! by its trailers. Reflection's bidirectional stream over HTTP/2 passes
//! untouched: it cannot be read whole, and tonic-reflection ends the stream
//! on a request it cannot decode instead of answering INTERNAL. So does
//! the worker stream (WorkerService.ConnectWorker), whose messages the server
//! codec decodes one by one (INVALID_ARGUMENT for one that does not) under
//! the same size limit; over gRPC-web, which has no client streaming, its
//! body is checked as one message like any other.
//!
//! A request of [`HEAVY_BYTES`] or more is served on tokio's blocking pool:
//! decoding a message of a few MiB (hundreds of thousands of
//! `google.protobuf.Value`s) and converting it takes tens of milliseconds of
//! CPU that would otherwise hold an async worker, and a burst of them would
//! starve health checks and small calls of every worker. On a thread of its
//! own the work is preempted by the kernel instead, and [`HeavyRequests`]
//! lets only a few run at once, which also bounds the memory their decoded
//! messages hold. ExecuteWorkflow and ExecuteWorkflowStream stay on the
//! workers: they hold their call for the whole run, and would hold a
//! permit as long.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Version, header};
use http_body_util::{BodyExt, StreamBody};
use prost::Message;
use tokio::sync::Semaphore;
use tonic::Status;

use super::error;
use super::frame_check::{FrameProblem, HEADER_LEN, UnaryFrame};
use super::web_text::TextDecoder;

/// Requests whose body is at least this many bytes are served off the
/// async workers.
pub const HEAVY_BYTES: usize = 64 * 1024;

/// RPCs that wait for a whole run before answering, never served on the
/// blocking pool (see the module docs).
const WHOLE_RUN_PREFIX: &str = "/weft.v1.RunService/ExecuteWorkflow";

/// The bound on requests of [`HEAVY_BYTES`] or more served at once.
#[derive(Debug, Clone)]
pub struct HeavyRequests(Arc<Semaphore>);

impl HeavyRequests {
    /// One at a time per CPU, at least two: the work is CPU-bound.
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self(Arc::new(Semaphore::new(cpus.max(2))))
    }
}

impl Default for HeavyRequests {
    fn default() -> Self {
        Self::new()
    }
}

/// Paths of the reflection services (bidirectional streams).
const REFLECTION_PREFIX: &str = "/grpc.reflection.";
/// The worker stream: many messages, each checked by tonic as it arrives
/// (size limit, decoding) and by `worker_stream.rs` (the protocol).
const WORKER_STREAM_PATH: &str = "/weft.v1.WorkerService/ConnectWorker";
/// Paths of the health service, whose codec is tonic's.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// How the request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// HTTP/2 gRPC, whatever its content type (tonic reads any as gRPC).
    Grpc,
    /// Binary gRPC-web.
    GrpcWeb,
    /// Base64 gRPC-web.
    GrpcWebText,
}

impl Wire {
    /// The body encoding of a request this middleware checks; `None` for one
    /// it passes on: reflection's stream, and HTTP/1 requests that are not
    /// gRPC-web, which tonic-web answers with 400 itself.
    fn of(request: &Request) -> Option<Self> {
        // tonic-web matches these four content types exactly; so does this.
        let wire = match request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            Some("application/grpc-web" | "application/grpc-web+proto") => Self::GrpcWeb,
            Some("application/grpc-web-text" | "application/grpc-web-text+proto") => Self::GrpcWebText,
            _ if request.version() == Version::HTTP_2 => Self::Grpc,
            _ => return None,
        };
        let path = request.uri().path();
        let streaming = wire == Self::Grpc && (path.starts_with(REFLECTION_PREFIX) || path == WORKER_STREAM_PATH);
        (!streaming).then_some(wire)
    }
}

/// A body that passed: its data chunks and trailers, in order.
struct CheckedBody {
    chunks: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

impl CheckedBody {
    /// The message bytes (after the frame header), for a small message.
    fn message(&self) -> Bytes {
        let mut all = BytesMut::new();
        for chunk in &self.chunks {
            all.extend_from_slice(chunk);
        }
        all.freeze().slice(HEADER_LEN..)
    }

    fn len(&self) -> usize {
        self.chunks.iter().map(Bytes::len).sum()
    }

    fn into_body(self) -> Body {
        let frames =
            self.chunks.into_iter().map(http_body::Frame::data).chain(self.trailers.map(http_body::Frame::trailers));
        Body::new(StreamBody::new(stream::iter(frames.map(Ok::<_, Infallible>))))
    }
}

fn frame_status(problem: FrameProblem) -> Status {
    match problem {
        FrameProblem::TooLarge { length, limit } => error::message_too_large(length, limit),
        other => error::malformed_frame(other.to_string()),
    }
}

/// Reads `body` whole, decoding base64 for gRPC-web-text, and checks that
/// it is exactly one frame of at most `limit` bytes. Stops at the first
/// problem, so an oversized or over-long body is never read to its end.
async fn read(mut body: Body, wire: Wire, limit: usize, encoding_named: bool) -> Result<CheckedBody, Status> {
    let mut frame = UnaryFrame::new(limit, encoding_named);
    let mut text = (wire == Wire::GrpcWebText).then(TextDecoder::default);
    let mut chunks = Vec::new();
    let mut trailers: Option<HeaderMap> = None;
    while let Some(next) = body.frame().await {
        let next = next.map_err(|e| error::malformed_frame(format!("the request body could not be read: {e}")))?;
        let data = match next.into_data() {
            Ok(data) => data,
            Err(other) => {
                if let Ok(more) = other.into_trailers() {
                    trailers.get_or_insert_with(HeaderMap::new).extend(more);
                }
                continue;
            }
        };
        let data = match &mut text {
            Some(decoder) => {
                let mut decoded = Vec::with_capacity(data.len() / 4 * 3);
                decoder.push(&data, &mut decoded).map_err(error::malformed_frame)?;
                Bytes::from(decoded)
            }
            None => data,
        };
        frame.push(&data).map_err(frame_status)?;
        if !data.is_empty() {
            chunks.push(data);
        }
    }
    if let Some(decoder) = &text {
        decoder.finish().map_err(error::malformed_frame)?;
    }
    frame.finish().map_err(frame_status)?;
    Ok(CheckedBody { chunks, trailers })
}

/// The refusal, in the wire format of the request: a trailers-only gRPC
/// answer (HTTP 200, status in the headers), which gRPC-web clients read
/// the same way.
fn refuse(status: Status, request_headers: &HeaderMap, path: &str) -> Response {
    tracing::debug!(path, code = ?status.code(), message = status.message(), "refused a malformed gRPC request");
    error::trailers_only(status, request_headers)
}

/// Middleware: checks the request body (see the module docs), then passes
/// the request on, or answers the refusal itself.
pub async fn check(limit: usize, heavy_requests: HeavyRequests, request: Request, next: Next) -> Response {
    let Some(wire) = Wire::of(&request) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    // Only a named, non-identity encoding allows the compressed flag; tonic
    // answers UNIMPLEMENTED to the encodings it does not accept.
    let encoding_named = parts.headers.get("grpc-encoding").is_some_and(|v| v.as_bytes() != b"identity");
    let checked = match read(body, wire, limit, encoding_named).await {
        Ok(checked) => checked,
        Err(status) => return refuse(status, &parts.headers, parts.uri.path()),
    };
    if parts.uri.path().starts_with(HEALTH_PREFIX)
        && let Err(e) = tonic_health::pb::HealthCheckRequest::decode(checked.message())
    {
        return refuse(error::malformed_message(e), &parts.headers, parts.uri.path());
    }
    if wire == Wire::GrpcWebText {
        // Decoded above: tonic-web reads it as binary and still answers in
        // the encoding the `accept` header asks for.
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc-web+proto"));
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    let heavy = checked.len() >= HEAVY_BYTES && !parts.uri.path().starts_with(WHOLE_RUN_PREFIX);
    let request = Request::from_parts(parts, checked.into_body());
    if !heavy {
        return next.run(request).await;
    }
    let Ok(_permit) = heavy_requests.0.acquire_owned().await else {
        return error::shutting_down().into_http();
    };
    // The service's future runs to its response head on a blocking thread;
    // it awaits the engine through channels as it would on a worker.
    let runtime = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || runtime.block_on(next.run(request))).await {
        Ok(response) => response,
        Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        Err(_) => error::shutting_down().into_http(),
    }
}
