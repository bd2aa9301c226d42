//! The gRPC surface: one module per service, plus what every service shares
//! (status building, conversions, descriptors, the checks of request
//! bodies: size, framing, gRPC-web-text).
//!
//! [`router`] assembles gRPC (HTTP/2), gRPC-web (HTTP/1.1), server reflection
//! v1 and v1alpha, and `grpc.health.v1` into one axum router; the REST
//! gateway becomes its fallback and [`cors`] wraps both, on one port.

mod approvals;
pub mod auth;
pub mod convert;
pub mod convert_estimate;
pub mod convert_runs;
pub mod convert_workers;
pub mod descriptors;
pub mod error;
mod frame_check;
mod keys;
mod list_order;
mod notifications;
mod page_token;
mod request_checks;
mod request_frames;
mod runs;
mod schedules;
mod secrets;
mod templates;
pub mod triggers;
mod web_text;
mod worker_stream;
mod workers;
mod workflows;

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method};
use tonic::service::Routes;
use tonic_web::GrpcWebLayer;
use tower::Layer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use weft_proto::v1::approval_service_server::ApprovalServiceServer;
use weft_proto::v1::key_service_server::KeyServiceServer;
use weft_proto::v1::notification_service_server::NotificationServiceServer;
use weft_proto::v1::run_service_server::RunServiceServer;
use weft_proto::v1::schedule_service_server::ScheduleServiceServer;
use weft_proto::v1::secret_service_server::SecretServiceServer;
use weft_proto::v1::template_service_server::TemplateServiceServer;
use weft_proto::v1::trigger_service_server::TriggerServiceServer;
use weft_proto::v1::worker_service_server::WorkerServiceServer;
use weft_proto::v1::workflow_service_server::WorkflowServiceServer;

use crate::engine::{RunEngine, TaskQueue, WorkflowCatalog};

pub use approvals::ApprovalApi;
pub use keys::KeyApi;
pub use notifications::NotificationApi;
pub use runs::RunApi;
pub use schedules::ScheduleApi;
pub use secrets::SecretApi;
pub use templates::TemplateApi;
pub use triggers::TriggerApi;
pub use workers::WorkerApi;
pub use workflows::WorkflowApi;

/// What the api layer needs from the rest of the server.
pub struct ApiContext {
    /// Workflow definitions.
    pub catalog: WorkflowCatalog,
    /// Runs.
    pub runs: RunEngine,
    /// The task queue workers poll.
    pub tasks: TaskQueue,
    /// Largest request message, bytes.
    pub max_message_bytes: usize,
    /// What grpc.health.v1 reports for every service.
    pub health: crate::health::Health,
    /// API keys: who each call is, and KeyService.
    pub keys: std::sync::Arc<crate::engine::keys::KeyRing>,
    /// Tenants' secrets (SecretService).
    pub vault: crate::engine::builtin::SecretVault,
    /// Notification subscriptions and their delivery log (NotificationService).
    pub notifications: crate::engine::notify::Subscriptions,
    /// Deployable webhook triggers (TriggerService).
    pub triggers: crate::engine::triggers::Triggers,
    /// Built-in and saved templates (TemplateService).
    pub templates: crate::engine::templates::Templates,
    /// Cron schedules (ScheduleService).
    pub schedules: crate::engine::schedules::Schedules,
}

/// Fully qualified names of the services Weft serves, for health and docs.
pub const SERVICE_NAMES: &[&str] = &[
    "weft.v1.WorkflowService",
    "weft.v1.RunService",
    "weft.v1.WorkerService",
    "weft.v1.ApprovalService",
    "weft.v1.ScheduleService",
    "weft.v1.TemplateService",
    "weft.v1.TriggerService",
    "weft.v1.KeyService",
    "weft.v1.SecretService",
    "weft.v1.NotificationService",
];

/// CORS for browser pages on the configured `origins` (`[http]
/// cors_origins`, canonical as browsers send them): gRPC-web and REST alike.
/// Any other origin gets no `Access-Control-Allow-Origin`, so its browser
/// refuses to send a preflighted call and hides every answer from the page.
/// Pages served by the server itself are same-origin and need no CORS.
/// Allows the headers a gRPC-web client and an API key need and exposes the
/// status trailers gRPC-web reads.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderName> =
        ["content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "authorization", "x-api-key"]
            .into_iter()
            .map(HeaderName::from_static)
            .collect();
    let exposed: Vec<HeaderName> = ["grpc-status", "grpc-message", "grpc-status-details-bin", "retry-after"]
        .into_iter()
        .map(HeaderName::from_static)
        .collect();
    // Validated at start (`HttpSettings::validate`), so every one converts.
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers(allowed)
        .expose_headers(exposed)
        .max_age(Duration::from_secs(24 * 60 * 60))
}

/// The router of every gRPC and gRPC-web service, behind the check of
/// request bodies (message size, framing, base64; see `request_frames`);
/// CORS is added by the caller around everything it serves.
pub async fn router(context: ApiContext) -> Result<axum::Router, tonic_reflection::server::Error> {
    let limit = context.max_message_bytes;
    let web = GrpcWebLayer::new();
    // The server stubs' codec answers an undecodable request with this.
    weft_proto::codec::set_decode_error_status(error::malformed_message);

    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(weft_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (health_reporter, health) = tonic_health::server::health_reporter();
    for name in SERVICE_NAMES {
        health_reporter.set_service_status(*name, tonic_health::ServingStatus::Serving).await;
    }
    tokio::spawn(context.health.report(health_reporter, SERVICE_NAMES));

    // Approvals are decided through the run writer, like any run command.
    let approvals = context.runs.clone();
    let catalog = context.catalog.clone();
    let workflows = WorkflowServiceServer::new(WorkflowApi::new(context.catalog)).max_decoding_message_size(limit);
    let routes = Routes::new(web.layer(workflows))
        .add_service(web.layer(
            RunServiceServer::new(RunApi::new(context.runs, context.tasks.clone())).max_decoding_message_size(limit),
        ))
        .add_service(
            web.layer(WorkerServiceServer::new(WorkerApi::new(context.tasks)).max_decoding_message_size(limit)),
        )
        .add_service(
            web.layer(ApprovalServiceServer::new(ApprovalApi::new(approvals)).max_decoding_message_size(limit)),
        )
        .add_service(
            web.layer(
                TriggerServiceServer::new(TriggerApi::new(context.triggers, catalog.clone()))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            web.layer(
                TemplateServiceServer::new(TemplateApi::new(context.templates, catalog.clone()))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            web.layer(
                ScheduleServiceServer::new(ScheduleApi::new(context.schedules, catalog.clone()))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(
            web.layer(KeyServiceServer::new(KeyApi::new(context.keys.clone())).max_decoding_message_size(limit)),
        )
        .add_service(
            web.layer(SecretServiceServer::new(SecretApi::new(context.vault)).max_decoding_message_size(limit)),
        )
        .add_service(
            web.layer(
                NotificationServiceServer::new(NotificationApi::new(context.notifications, catalog))
                    .max_decoding_message_size(limit),
            ),
        )
        .add_service(web.layer(health))
        .add_service(web.layer(reflection().build_v1()?))
        .add_service(web.layer(reflection().build_v1alpha()?))
        .prepare();

    let heavy_requests = request_frames::HeavyRequests::new();
    let keys = context.keys;
    // Keys are checked first, before a body is read: a caller without one
    // costs no more than the lookup.
    Ok(routes
        .into_axum_router()
        .layer(axum::middleware::from_fn(move |request, next| {
            request_frames::check(limit, heavy_requests.clone(), request, next)
        }))
        .layer(axum::middleware::from_fn(move |request, next| auth::check(keys.clone(), request, next))))
}

#[cfg(test)]
mod json_limits_tests;
