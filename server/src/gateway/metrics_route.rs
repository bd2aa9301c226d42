//! `GET /metrics`: every metric of the process in Prometheus' text format
//! (see `telemetry::metrics` for the list), with no key, like the health
//! probes: scrapers carry no API key, and the numbers name no tenant's data
//! beyond workflow and agent names. The Host check still applies on
//! loopback listeners.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tonic::Code;

use super::errors;
use crate::telemetry::metrics;

/// Where Prometheus scrapes.
pub const PATH: &str = "/metrics";

pub(super) async fn scrape() -> Response {
    // Rendering folds the histograms' pending samples: a short CPU task,
    // kept off the async workers' hot loop only by being brief.
    let text = metrics::render();
    ([(http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response()
}

pub(super) async fn wrong_method(method: http::Method) -> Response {
    let message = format!("{method} is not allowed on {PATH}; use GET");
    let mut response =
        errors::gateway(Code::Unimplemented, "METHOD_NOT_ALLOWED", message, Some(StatusCode::METHOD_NOT_ALLOWED));
    response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
    response
}
