//! HTTP health for orchestrators, beside `grpc.health.v1` and with no key:
//! `GET /healthz` answers 200 while the process serves HTTP at all
//! (liveness), and `GET /readyz` answers 200 only while the store answers,
//! the run writer runs and the server is not draining (readiness), 503
//! otherwise, with each condition in the JSON body so an operator sees
//! which one failed. Both read [`Health`], the same state gRPC health
//! reports, so the two never disagree.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;
use tonic::Code;

use super::errors;
use crate::health::Health;

/// Liveness: the process answers.
pub const LIVE_PATH: &str = "/healthz";
/// Readiness: the process should get traffic.
pub const READY_PATH: &str = "/readyz";

pub(super) async fn live() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

pub(super) async fn ready(State(health): State<Health>) -> Response {
    let conditions = health.conditions();
    let serving = conditions.serving();
    let body = json!({
        "ready": serving,
        "draining": conditions.draining,
        "storeReachable": !conditions.store_unreachable,
        "writerRunning": !conditions.writer_stopped,
    });
    let status = if serving { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

pub(super) async fn wrong_method(method: http::Method) -> Response {
    let message = format!("{method} is not allowed on a health probe; use GET");
    let mut response =
        errors::gateway(Code::Unimplemented, "METHOD_NOT_ALLOWED", message, Some(StatusCode::METHOD_NOT_ALLOWED));
    response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn readiness_follows_every_condition_and_names_the_failed_one() {
        let health = Health::new();
        let answer = ready(State(health.clone())).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(body(answer).await["ready"], true);

        health.set_store_reachable(false);
        let answer = ready(State(health.clone())).await;
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        let read = body(answer).await;
        assert_eq!((read["ready"].as_bool(), read["storeReachable"].as_bool()), (Some(false), Some(false)), "{read}");

        health.set_store_reachable(true);
        health.set_writer_stopped();
        let read = body(ready(State(health.clone())).await).await;
        assert_eq!((read["ready"].as_bool(), read["writerRunning"].as_bool()), (Some(false), Some(false)), "{read}");

        let draining = Health::new();
        draining.set_draining();
        let answer = ready(State(draining)).await;
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(answer).await["draining"], true);
    }
}
