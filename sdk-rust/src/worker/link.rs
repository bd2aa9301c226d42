//! How a task's calls reach the server: on the worker's ConnectWorker
//! stream (as reports, answered on it), or as unary RPCs. Either way a
//! refusal is the `tonic::Status` the unary RPC would have answered, so
//! the callers treat both alike.

use std::time::Instant;

use bytes::Bytes;
use prost::Message;
use tokio::sync::{mpsc, oneshot};
use tonic::{Code, Status};

use crate::{Weft, pb};
use pb::report_answer::Answer;
use pb::worker_report::Report;

/// One report for the stream, and where its answer goes.
#[derive(Debug)]
pub(super) struct Asked {
    pub(super) report: Report,
    pub(super) answer: oneshot::Sender<Result<Answer, Status>>,
}

/// The way to the server of one running worker; cheap to clone.
#[derive(Debug, Clone)]
pub(super) enum Link {
    /// The unary RPCs.
    Unary(Weft),
    /// The stream's driver, which sends the reports it is given, batched,
    /// and routes each answer back (`stream.rs`).
    Stream(mpsc::Sender<Asked>),
}

impl Link {
    /// Sends `report` on the stream; UNAVAILABLE when no answer came before
    /// `until` (the lease's end: the stream is down) or the stream was
    /// lost with it unanswered, so the caller's retries apply.
    async fn ask(driver: &mpsc::Sender<Asked>, report: Report, until: Instant) -> Result<Answer, Status> {
        let (answer, answered) = oneshot::channel();
        let asked = async {
            driver.send(Asked { report, answer }).await.map_err(|_| Status::unavailable("the worker stopped"))?;
            answered.await.map_err(|_| Status::unavailable("the worker stream was lost before the answer"))?
        };
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left.max(std::time::Duration::from_millis(1)), asked).await {
            Ok(answer) => answer,
            Err(_) => Err(Status::unavailable("no answer on the worker stream while the lease held")),
        }
    }

    /// Heartbeat.
    pub(super) async fn heartbeat(
        &self,
        request: pb::HeartbeatRequest,
        until: Instant,
    ) -> Result<pb::HeartbeatResponse, Status> {
        match self {
            Link::Unary(weft) => weft.workers().heartbeat(request).await.map(tonic::Response::into_inner),
            Link::Stream(driver) => match Self::ask(driver, Report::Heartbeat(request), until).await? {
                Answer::Heartbeat(answer) => Ok(answer),
                other => Err(mismatched(&other)),
            },
        }
    }

    /// CompleteTask.
    pub(super) async fn complete(&self, request: pb::CompleteTaskRequest, until: Instant) -> Result<(), Status> {
        match self {
            Link::Unary(weft) => weft.workers().complete_task(request).await.map(|_| ()),
            Link::Stream(driver) => match Self::ask(driver, Report::Complete(request), until).await? {
                Answer::Complete(_) => Ok(()),
                other => Err(mismatched(&other)),
            },
        }
    }

    /// FailTask.
    pub(super) async fn fail(&self, request: pb::FailTaskRequest, until: Instant) -> Result<(), Status> {
        match self {
            Link::Unary(weft) => weft.workers().fail_task(request).await.map(|_| ()),
            Link::Stream(driver) => match Self::ask(driver, Report::Fail(request), until).await? {
                Answer::Fail(_) => Ok(()),
                other => Err(mismatched(&other)),
            },
        }
    }

    /// CheckToolUse. An approval wait can outlast the lease a little (the
    /// heartbeats keep it), so the stream's answer is awaited for the wait
    /// plus a lease.
    pub(super) async fn check_tool_use(
        &self,
        request: pb::CheckToolUseRequest,
        until: Instant,
    ) -> Result<pb::CheckToolUseResponse, Status> {
        match self {
            Link::Unary(weft) => weft.workers().check_tool_use(request).await.map(tonic::Response::into_inner),
            Link::Stream(driver) => {
                let until = until.max(Instant::now()) + std::time::Duration::from_secs(u64::from(request.wait_seconds));
                match Self::ask(driver, Report::CheckToolUse(request), until).await? {
                    Answer::CheckToolUse(answer) => Ok(answer),
                    other => Err(mismatched(&other)),
                }
            }
        }
    }
}

/// An answer of another kind than its report: the server's mistake.
fn mismatched(answer: &Answer) -> Status {
    Status::internal(format!("the server answered a report with {answer:?}"))
}

/// A stream's answer to one report, as the unary RPC would have given it.
pub(super) fn answer_of(answer: pb::ReportAnswer) -> Result<Answer, Status> {
    match (answer.error, answer.answer) {
        (Some(error), _) => {
            let code = Code::from(error.code);
            let message = error.message.clone();
            Err(Status::with_details(code, message, Bytes::from(error.encode_to_vec())))
        }
        (None, Some(answer)) => Ok(answer),
        (None, None) => Err(Status::internal("the server answered a report with neither an answer nor an error")),
    }
}
