//! Refuses an oversized gRPC request message with RESOURCE_EXHAUSTED before
//! it is buffered.
//!
//! tonic reports an over-limit message as OUT_OF_RANGE; gRPC's convention,
//! and what clients retry on, is RESOURCE_EXHAUSTED. Every Weft RPC takes a
//! single request message, so reading the 5-byte frame header of the body is
//! enough to decide, and the body is passed on untouched otherwise.

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, stream};
use http::{HeaderValue, StatusCode, header};

/// gRPC status code RESOURCE_EXHAUSTED.
const RESOURCE_EXHAUSTED: &str = "8";

fn framed_grpc_content_type(request: &Request) -> Option<HeaderValue> {
    let value = request.headers().get(header::CONTENT_TYPE)?;
    let text = value.to_str().ok()?;
    // grpc-web-text is base64 and left to tonic's own limit.
    let framed = text.starts_with("application/grpc") && !text.starts_with("application/grpc-web-text");
    framed.then(|| value.clone())
}

fn refuse(content_type: HeaderValue, length: usize, limit: usize) -> Response {
    let message = format!("request message of {length} bytes is over the {limit}-byte limit");
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    headers.insert("grpc-status", HeaderValue::from_static(RESOURCE_EXHAUSTED));
    if let Ok(value) = HeaderValue::from_str(&message) {
        headers.insert("grpc-message", value);
    }
    response
}

/// Middleware: answers RESOURCE_EXHAUSTED when the first gRPC message of the
/// request declares more than `limit` bytes.
pub async fn enforce(limit: usize, request: Request, next: Next) -> Response {
    let Some(content_type) = framed_grpc_content_type(&request) else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let mut chunks = body.into_data_stream();
    let mut head = BytesMut::new();
    let mut failure = None;
    while head.len() < 5 {
        match chunks.next().await {
            Some(Ok(chunk)) => head.extend_from_slice(&chunk),
            Some(Err(err)) => {
                failure = Some(err);
                break;
            }
            None => break,
        }
    }
    if head.len() >= 5 {
        let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if length > limit {
            return refuse(content_type, length, limit);
        }
    }
    let replay = stream::iter([Ok::<Bytes, axum::Error>(head.freeze())]);
    let rest = stream::iter(failure.map(Err)).chain(chunks);
    let body = Body::from_stream(replay.chain(rest));
    next.run(Request::from_parts(parts, body)).await
}
