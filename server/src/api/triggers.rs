//! `weft.v1.TriggerService`: deploying a workflow, arming its webhook, its
//! status, and the inbound call over gRPC (REST callers use the raw-body
//! route `POST /hooks/{webhook_id}`, `gateway/hooks.rs`). The engine
//! (`engine/triggers`) checks every bound; this module maps the wire types.
//! Deploy, undeploy and arm need a write key, status a read key; the
//! inbound call is authenticated by the webhook's secret, not by a key.
//! DeliverCallback stays UNIMPLEMENTED here by design: callbacks are
//! signed over their raw body, so only their REST route serves them.

use tonic::{Code, Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::trigger_service_server::TriggerService;

use crate::api::auth;
use crate::api::convert::timestamp;
use crate::api::convert_runs::value_from_pb;
use crate::api::error;
use crate::engine::WorkflowCatalog;
use crate::engine::triggers::signature::{MAX_HEADER_BYTES, Presented};
use crate::engine::triggers::{InboundBody, InboundCall, InboundRefusal, TriggerState, Triggers};

/// The TriggerService implementation.
pub struct TriggerApi {
    triggers: Triggers,
    /// Resolves a workflow named by id or by name.
    catalog: WorkflowCatalog,
}

impl TriggerApi {
    /// A service over `triggers`.
    pub fn new(triggers: Triggers, catalog: WorkflowCatalog) -> Self {
        Self { triggers, catalog }
    }
}

fn state_to_pb(state: &TriggerState) -> pb::TriggerStatus {
    pb::TriggerStatus {
        workflow_id: state.workflow_id.clone(),
        deployed: state.deployed,
        armed: state.armed_until_ms.is_some(),
        armed_until: state.armed_until_ms.map(timestamp),
        webhook_id: state.webhook_id.clone(),
        webhook_url: state.webhook_url.clone(),
        deploy_time: state.deployed_ms.map(timestamp),
        last_fire_time: state.last_fired_ms.map(timestamp),
        last_run_id: state.last_run_id.clone().unwrap_or_default(),
    }
}

/// The gRPC status of a refused inbound call.
pub fn refusal_status(refusal: InboundRefusal) -> Status {
    let code = match &refusal {
        InboundRefusal::Engine(_) => None,
        InboundRefusal::Invalid { field, message } => return error::invalid_argument(field, message.clone()),
        InboundRefusal::NotJson(_) => Some(Code::InvalidArgument),
        InboundRefusal::UnknownWebhook(_) => Some(Code::NotFound),
        InboundRefusal::Unauthenticated(_) => Some(Code::Unauthenticated),
        InboundRefusal::NotDeployed | InboundRefusal::NotArmed | InboundRefusal::WindowExpired => {
            Some(Code::FailedPrecondition)
        }
        InboundRefusal::TooLarge(_) => Some(Code::ResourceExhausted),
    };
    match (code, refusal) {
        (_, InboundRefusal::Engine(err)) => err.into(),
        (Some(code), refusal) => error::with_reason(code, refusal.to_string(), refusal.reason()),
        (None, refusal) => error::with_reason(Code::Internal, refusal.to_string(), "INTERNAL"),
    }
}

fn header_field<'a>(field: &str, value: &'a str) -> Result<Option<&'a str>, Status> {
    if value.len() > MAX_HEADER_BYTES {
        return Err(error::invalid_argument(field, format!("at most {MAX_HEADER_BYTES} bytes")));
    }
    Ok(Some(value).filter(|v| !v.is_empty()))
}

#[tonic::async_trait]
impl TriggerService for TriggerApi {
    async fn deploy_workflow(
        &self,
        request: Request<pb::DeployWorkflowRequest>,
    ) -> Result<Response<pb::DeployWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve(&tenant, "workflow_id", &r.workflow_id).await?;
        let (state, secret) = self.triggers.deploy(&tenant, &workflow_id, r.rotate_secret).await?;
        Ok(Response::new(pb::DeployWorkflowResponse {
            ok: true,
            trigger: Some(state_to_pb(&state)),
            webhook_secret: secret.unwrap_or_default(),
        }))
    }

    async fn undeploy_workflow(
        &self,
        request: Request<pb::UndeployWorkflowRequest>,
    ) -> Result<Response<pb::UndeployWorkflowResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve(&tenant, "workflow_id", &r.workflow_id).await?;
        let state = self.triggers.undeploy(&tenant, &workflow_id).await?;
        Ok(Response::new(pb::UndeployWorkflowResponse { ok: true, trigger: Some(state_to_pb(&state)) }))
    }

    async fn arm_webhook(
        &self,
        request: Request<pb::ArmWebhookRequest>,
    ) -> Result<Response<pb::ArmWebhookResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve(&tenant, "workflow_id", &r.workflow_id).await?;
        let state = self.triggers.arm(&tenant, &workflow_id, r.window_seconds).await?;
        Ok(Response::new(pb::ArmWebhookResponse {
            ok: true,
            armed_until: state.armed_until_ms.map(timestamp),
            webhook_id: state.webhook_id,
            webhook_url: state.webhook_url,
        }))
    }

    async fn fire_webhook(
        &self,
        request: Request<pb::FireWebhookRequest>,
    ) -> Result<Response<pb::FireWebhookResponse>, Status> {
        let r = request.into_inner();
        let presented = Presented {
            secret: header_field("secret", &r.secret)?,
            signature: header_field("signature", &r.signature)?,
            timestamp: (r.timestamp != 0).then_some(r.timestamp),
        };
        let body = match (&r.payload, r.raw_body.is_empty()) {
            (Some(_), false) => {
                return Err(error::invalid_argument("payload", "send the body once: payload or raw_body"));
            }
            (Some(payload), true) => InboundBody::Value(value_from_pb(payload)),
            (None, _) => InboundBody::Raw(&r.raw_body),
        };
        let call = InboundCall { webhook_id: &r.webhook_id, presented, body };
        let run_id = self.triggers.fire(call).await.map_err(refusal_status)?;
        Ok(Response::new(pb::FireWebhookResponse { run_id }))
    }

    async fn get_trigger_status(
        &self,
        request: Request<pb::GetTriggerStatusRequest>,
    ) -> Result<Response<pb::GetTriggerStatusResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve(&tenant, "workflow_id", &r.workflow_id).await?;
        let state = self.triggers.status(&tenant, &workflow_id).await?;
        Ok(Response::new(pb::GetTriggerStatusResponse { trigger: Some(state_to_pb(&state)) }))
    }

    async fn deliver_callback(
        &self,
        _request: Request<pb::DeliverCallbackRequest>,
    ) -> Result<Response<pb::DeliverCallbackResponse>, Status> {
        Err(error::with_reason(
            Code::Unimplemented,
            "DeliverCallback is served only at its REST route POST /v1/callbacks/{token}: its signature covers the \
             raw body bytes",
            "NOT_IMPLEMENTED",
        ))
    }
}
