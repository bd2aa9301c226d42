//! `WorkerService.ConnectWorker`: one bidirectional stream per worker process.
//! This module owns the gRPC side of it: the hello and its welcome, the
//! protocol checks of each message (the bounds below), running the reports
//! through the same checked paths as the unary RPCs (`workers.rs`), and
//! batching pushed tasks and answers into messages. The credits and the
//! claims they keep waiting in the writer are the engine's
//! (`engine::tasks::WorkerStream`).
//!
//! One task per stream drives it. Everything that is ready at once (tasks
//! claimed in one commit, answers of reports committed together) goes out
//! in one message; while the transport has not taken the last message, more
//! gathers for the next. A report's answer is sent only after its command
//! committed, since the checked paths return only then.
//!
//! Refusals: a protocol mistake ends the stream with INVALID_ARGUMENT
//! naming the field, before the message carrying it changes anything; a bad
//! report is answered with its own error and the stream goes on.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status, Streaming};
use weft_proto::v1 as pb;
use weft_proto::v1::report_answer::Answer;
use weft_proto::v1::worker_report::Report;

use crate::api::convert_workers::{status_to_pb, task_to_pb};
use crate::api::{error, workers};
use crate::engine::TaskQueue;
use crate::engine::tasks::{ClaimedTask, WorkerStream, check_credits, credit_limit};

/// What ConnectWorker answers with: the messages, then the status that
/// ends it.
pub type ConnectWorkerStream = tonic::codegen::BoxStream<pb::ConnectWorkerResponse>;

/// Most unused credits a stream may hold, whatever its concurrency.
pub const MAX_CREDITS: u32 = 1_000;
/// Most reports in one message.
pub const MAX_REPORTS_PER_MESSAGE: usize = 256;
/// Reports of one stream waiting for their answers before the server stops
/// reading the stream's messages (back-pressure, not an error).
const MAX_PENDING_REPORTS: usize = 1_024;
/// How long the first message (with `hello`) may take.
const HELLO_WAIT: Duration = Duration::from_secs(10);
/// A message stops gathering tasks and answers at about this many bytes
/// (clients decode 4 MiB by default); a single larger task still goes
/// alone.
const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Nor more than this many tasks and answers.
const MAX_BATCH_ITEMS: usize = 512;

type PendingAnswer = Pin<Box<dyn Future<Output = pb::ReportAnswer> + Send>>;

/// Serves one ConnectWorker call: waits for the hello, registers the worker,
/// and hands the rest of the stream to a task of its own. A refused hello
/// is the call's status, before any message.
pub(super) async fn connect(
    tasks: TaskQueue,
    tenant: String,
    mut inbound: Streaming<pb::ConnectWorkerRequest>,
) -> Result<ConnectWorkerStream, Status> {
    let first = match tokio::time::timeout(HELLO_WAIT, inbound.message()).await {
        Err(_) => {
            return Err(error::invalid_argument(
                "hello",
                format!("no first message within {} seconds; the first message must carry hello", HELLO_WAIT.as_secs()),
            ));
        }
        Ok(Err(status)) => return Err(inbound_status(status)),
        Ok(Ok(None)) => {
            return Err(error::invalid_argument(
                "hello",
                "the stream ended before its first message, which carries hello",
            ));
        }
        Ok(Ok(Some(first))) => first,
    };
    let Some(hello) = first.hello.clone() else {
        let what =
            if first.reports.is_empty() { "is required on the first message" } else { "must come before any report" };
        return Err(error::invalid_argument("hello", what));
    };
    // The whole first message is checked before the hello registers.
    check_reports(&first)?;
    if !first.drain {
        check_credits(0, first.credits, credit_limit(hello.concurrency, MAX_CREDITS))?;
    }
    let (welcome, concurrency) = workers::register(&tasks, &tenant, hello).await?;
    let claims = tasks.open_stream(&tenant, &welcome.worker_id, concurrency, MAX_CREDITS).await?;
    // One message in the channel at most: the next one gathers meanwhile.
    let (out, answers) = mpsc::channel(1);
    let session = Session {
        closing: tasks.closing(),
        tasks,
        tenant,
        claims,
        inbound,
        out,
        reading: true,
        reports: FuturesUnordered::new(),
        outbox: Outbox { welcome: Some(welcome), ..Outbox::default() },
    };
    tokio::spawn(session.run(first));
    Ok(Box::pin(ReceiverStream::new(answers)))
}

/// What the next message carries.
#[derive(Default)]
struct Outbox {
    welcome: Option<pb::RegisterWorkerResponse>,
    tasks: Vec<(pb::Task, ClaimedTask)>,
    answers: Vec<pb::ReportAnswer>,
    bytes: usize,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.welcome.is_none() && self.tasks.is_empty() && self.answers.is_empty()
    }

    /// Whether the next message should go out before more is gathered.
    fn is_full(&self) -> bool {
        self.bytes >= MAX_BATCH_BYTES || self.tasks.len() + self.answers.len() >= MAX_BATCH_ITEMS
    }

    fn push_task(&mut self, claimed: ClaimedTask) {
        let task = task_to_pb(claimed.task());
        self.bytes += task.encoded_len();
        self.tasks.push((task, claimed));
    }

    fn push_answer(&mut self, answer: pb::ReportAnswer) {
        self.bytes += answer.encoded_len();
        self.answers.push(answer);
    }

    /// The message, and the claims it pushes.
    fn take(&mut self) -> (pb::ConnectWorkerResponse, Vec<ClaimedTask>) {
        let taken = std::mem::take(self);
        let (tasks, claimed) = taken.tasks.into_iter().unzip();
        (pb::ConnectWorkerResponse { welcome: taken.welcome, tasks, answers: taken.answers }, claimed)
    }
}

/// One stream after its hello.
struct Session {
    tasks: TaskQueue,
    tenant: String,
    claims: WorkerStream,
    inbound: Streaming<pb::ConnectWorkerRequest>,
    out: mpsc::Sender<Result<pb::ConnectWorkerResponse, Status>>,
    /// The worker has not half-closed (nor has the server stopped reading).
    reading: bool,
    reports: FuturesUnordered<PendingAnswer>,
    outbox: Outbox,
    closing: watch::Receiver<bool>,
}

/// What woke a stream's loop.
enum Event {
    Answer(pb::ReportAnswer),
    Claimed(Box<Result<ClaimedTask, crate::engine::EngineError>>),
    Message(Result<Option<pb::ConnectWorkerRequest>, Status>),
    Closing,
    Sent,
    Gone,
}

/// Why a stream's loop stopped.
enum End {
    /// Every answer is sent and the worker half-closed: OK.
    Done,
    /// The stream ends with this status.
    Refused(Status),
    /// The worker is gone: nothing more to say.
    Gone,
}

impl Session {
    async fn run(mut self, first: pb::ConnectWorkerRequest) {
        let mut end = match self.apply(first, true) {
            Ok(()) => None,
            Err(status) => Some(End::Refused(status)),
        };
        let mut stopping = false;
        while end.is_none() {
            if self.outbox.is_empty() && self.reports.is_empty() {
                if !self.reading && !stopping {
                    end = Some(End::Done);
                    break;
                }
                if stopping {
                    end = Some(End::Refused(error::shutting_down()));
                    break;
                }
            }
            let full = self.outbox.is_full();
            let can_read = self.reading && !full && self.reports.len() < MAX_PENDING_REPORTS;
            // Biased: whatever is ready is gathered first, so it all goes
            // out in one message when nothing more is.
            let event = tokio::select! {
                biased;
                Some(answer) = self.reports.next(), if !full && !self.reports.is_empty() => Event::Answer(answer),
                claimed = self.claims.next_task(), if !full && !stopping => Event::Claimed(Box::new(claimed)),
                message = self.inbound.message(), if can_read => Event::Message(message),
                _ = self.closing.wait_for(|closing| *closing), if !stopping => Event::Closing,
                permit = self.out.reserve(), if !self.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        let (message, claimed) = self.outbox.take();
                        permit.send(Ok(message));
                        claimed.into_iter().for_each(ClaimedTask::pushed);
                        Event::Sent
                    }
                    Err(_) => Event::Gone,
                },
                _ = self.out.closed() => Event::Gone,
            };
            end = match event {
                Event::Answer(answer) => {
                    self.outbox.push_answer(answer);
                    None
                }
                Event::Claimed(claimed) => match *claimed {
                    Ok(claimed) => {
                        self.outbox.push_task(claimed);
                        None
                    }
                    Err(err) => Some(End::Refused(err.into())),
                },
                Event::Message(Ok(Some(message))) => self.apply(message, false).err().map(End::Refused),
                // Half-closed: a drain; what is pending is still answered.
                Event::Message(Ok(None)) => {
                    self.reading = false;
                    self.claims.drain();
                    None
                }
                Event::Message(Err(status)) if is_client_mistake(&status) => Some(End::Refused(inbound_status(status))),
                Event::Message(Err(_)) | Event::Gone => Some(End::Gone),
                Event::Closing => {
                    // The server stops: answer what was taken, then end.
                    stopping = true;
                    self.reading = false;
                    self.claims.drain();
                    None
                }
                Event::Sent => None,
            };
        }
        match end {
            Some(End::Refused(status)) => {
                tracing::debug!(code = ?status.code(), message = status.message(), "a worker stream ended");
                let _ = self.out.send(Err(status)).await;
            }
            // Dropping the sender ends the stream with OK.
            Some(End::Done) | Some(End::Gone) | None => {}
        }
        // Dropping `self` withdraws the claims and hands back what the
        // outbox held unsent.
    }

    /// Takes one message (`first`: the hello's, whose checks are done):
    /// protocol checks first, so a refused message changes nothing; then
    /// drain or credits, then the reports.
    fn apply(&mut self, message: pb::ConnectWorkerRequest, first: bool) -> Result<(), Status> {
        if !first {
            if message.hello.is_some() {
                return Err(error::invalid_argument("hello", "is accepted on the first message only"));
            }
            check_reports(&message)?;
        }
        if message.drain {
            self.claims.drain();
        } else if message.credits > 0 {
            self.claims.grant(message.credits)?;
        }
        for report in message.reports {
            self.reports.push(Box::pin(answer(self.tasks.clone(), self.tenant.clone(), report)));
        }
        Ok(())
    }
}

/// INVALID_ARGUMENT naming `reports` for a message with too many.
fn check_reports(message: &pb::ConnectWorkerRequest) -> Result<(), Status> {
    if message.reports.len() > MAX_REPORTS_PER_MESSAGE {
        return Err(error::invalid_argument(
            "reports",
            format!("{} reports in one message; at most {MAX_REPORTS_PER_MESSAGE}", message.reports.len()),
        ));
    }
    Ok(())
}

/// Runs one report through its unary RPC's checked path.
async fn answer(tasks: TaskQueue, tenant: String, report: pb::WorkerReport) -> pb::ReportAnswer {
    let answered = match report.report {
        None => Err(error::invalid_argument("report", "must be one of complete, fail, heartbeat, check_tool_use")),
        Some(Report::Complete(r)) => workers::complete(&tasks, &tenant, r).await.map(Answer::Complete),
        Some(Report::Fail(r)) => workers::fail(&tasks, &tenant, r).await.map(Answer::Fail),
        Some(Report::Heartbeat(r)) => workers::heartbeat(&tasks, &tenant, r).await.map(Answer::Heartbeat),
        Some(Report::CheckToolUse(r)) => workers::check_tool_use(&tasks, &tenant, r).await.map(Answer::CheckToolUse),
    };
    match answered {
        Ok(answer) => pb::ReportAnswer { report_id: report.report_id, error: None, answer: Some(answer) },
        Err(status) => {
            pb::ReportAnswer { report_id: report.report_id, error: Some(status_to_pb(&status)), answer: None }
        }
    }
}

/// Whether reading the stream failed through the client's fault (a message
/// that does not decode, or over the size limit), not the transport's.
fn is_client_mistake(status: &Status) -> bool {
    matches!(status.code(), Code::InvalidArgument | Code::OutOfRange | Code::ResourceExhausted)
}

/// The status a failed read ends the stream with: tonic says OUT_OF_RANGE
/// for a message over the limit, which clients expect as
/// RESOURCE_EXHAUSTED (as the unary RPCs answer).
fn inbound_status(status: Status) -> Status {
    if status.code() == Code::OutOfRange {
        error::with_reason(Code::ResourceExhausted, status.message().to_owned(), "MESSAGE_TOO_LARGE")
    } else {
        status
    }
}
