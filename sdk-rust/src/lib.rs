//! `weftflow`: a Rust client for the Weft workflow engine.
//!
//! A thin layer over the generated tonic clients: [`Weft::connect`] opens
//! one HTTP/2 channel and hands out a client per service, all sharing it.
//! The generated messages are re-exported as [`pb`]. On top:
//! - [`builder`]: the typed workflow builder (`workflow("name").step(..).build()`);
//! - [`Weft::stream_run`]: a run's events as a resumable `Stream`;
//! - [`worker`]: serve agents with async handlers (leases, heartbeats,
//!   cancellation and graceful shutdown handled);
//! - [`json`]: `serde_json` to and from protobuf's `Value`/`Struct`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weftflow::Error> {
//! let weft = weftflow::Weft::connect("http://127.0.0.1:7070").await?;
//! let workflows = weft.workflows().list_workflows(weftflow::pb::ListWorkflowsRequest::default()).await?;
//! println!("{} workflows", workflows.into_inner().total);
//! # Ok(()) }
//! ```

pub mod builder;
pub mod json;
mod runs;
mod stream;
pub mod views;
pub mod worker;

pub use runs::{Applied, ApplyOutcome, RunOptions};
pub use views::{Cost, Run, RunStatus, Step, StepStatus};

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

pub use weft_proto::v1 as pb;

use pb::approval_service_client::ApprovalServiceClient;
use pb::key_service_client::KeyServiceClient;
use pb::notification_service_client::NotificationServiceClient;
use pb::run_service_client::RunServiceClient;
use pb::schedule_service_client::ScheduleServiceClient;
use pb::template_service_client::TemplateServiceClient;
use pb::trigger_service_client::TriggerServiceClient;
use pb::worker_service_client::WorkerServiceClient;
use pb::workflow_service_client::WorkflowServiceClient;

/// Why a client could not be built or a call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint URL is malformed or the connection failed.
    #[error("cannot connect to weft: {0}")]
    Connect(#[from] tonic::transport::Error),
    /// The server answered with an error status.
    #[error("weft answered {}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    /// An API key holds characters no header can carry.
    #[error("the API key is not valid header text")]
    InvalidKey,
}

/// The channel every client speaks over: the connection, with the API key
/// (if any) added to each call as `authorization: Bearer …`.
pub type Transport = InterceptedService<Channel, Credentials>;

/// Adds the API key to each call.
#[derive(Clone, Debug, Default)]
pub struct Credentials(Option<MetadataValue<Ascii>>);

impl Interceptor for Credentials {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A connection to one Weft server.
#[derive(Clone, Debug)]
pub struct Weft {
    channel: Channel,
    credentials: Credentials,
}

impl Weft {
    /// Connects to `url` (`http://host:port`) eagerly, so a wrong address
    /// fails here rather than at the first call.
    pub async fn connect(url: impl Into<String>) -> Result<Self, Error> {
        let channel = Endpoint::from_shared(url.into())?.connect().await?;
        Ok(Self { channel, credentials: Credentials::default() })
    }

    /// A client over an existing channel.
    pub fn from_channel(channel: Channel) -> Self {
        Self { channel, credentials: Credentials::default() }
    }

    /// The same connection, sending `key` (`wk_…`) with every call.
    pub fn with_api_key(mut self, key: &str) -> Result<Self, Error> {
        let value = format!("Bearer {key}").parse().map_err(|_| Error::InvalidKey)?;
        self.credentials = Credentials(Some(value));
        Ok(self)
    }

    fn transport(&self) -> Transport {
        InterceptedService::new(self.channel.clone(), self.credentials.clone())
    }

    /// Workflow definitions and versions.
    pub fn workflows(&self) -> WorkflowServiceClient<Transport> {
        WorkflowServiceClient::new(self.transport())
    }

    /// Runs and their events.
    pub fn runs(&self) -> RunServiceClient<Transport> {
        RunServiceClient::new(self.transport())
    }

    /// The worker task queue.
    pub fn workers(&self) -> WorkerServiceClient<Transport> {
        WorkerServiceClient::new(self.transport())
    }

    /// Human approvals.
    pub fn approvals(&self) -> ApprovalServiceClient<Transport> {
        ApprovalServiceClient::new(self.transport())
    }

    /// API keys of the caller's tenant (admin keys only).
    pub fn keys(&self) -> KeyServiceClient<Transport> {
        KeyServiceClient::new(self.transport())
    }

    /// Notification webhook subscriptions and their delivery log (admin
    /// keys only).
    pub fn notifications(&self) -> NotificationServiceClient<Transport> {
        NotificationServiceClient::new(self.transport())
    }

    /// Cron schedules.
    pub fn schedules(&self) -> ScheduleServiceClient<Transport> {
        ScheduleServiceClient::new(self.transport())
    }

    /// Workflow templates.
    pub fn templates(&self) -> TemplateServiceClient<Transport> {
        TemplateServiceClient::new(self.transport())
    }

    /// Deploy, arm and fire webhook triggers.
    pub fn triggers(&self) -> TriggerServiceClient<Transport> {
        TriggerServiceClient::new(self.transport())
    }
}
