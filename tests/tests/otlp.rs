//! OTLP trace export and the W3C trace context, end to end, against an
//! in-process OTLP/gRPC collector: a run started with a `traceparent`
//! (gRPC metadata or REST header) has its spans exported under that trace
//! id, every task of it reaches the worker with `trace_context` in that
//! trace (by PollTask and by the SDK's stream), also after a restart, and
//! the Rust SDK's handler span (feature `opentelemetry`) joins it. A
//! malformed traceparent is ignored: the call succeeds and the run gets a
//! trace of the server's own.
//!
//! The tracing subscriber is global to the process, so this binary holds
//! one test that installs it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weft_sdk::builder::{agent, workflow};
use weft_sdk::worker::{Outcome, Worker};
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::config::TelemetrySettings;
use weft_tests::runs::{start_request, wait_finished};
use weft_tests::workers::{complete, poll_one, register};
use weft_tests::workflows::create_pb;
use weft_tests::{TestServer, eventually, http1};

/// A span as the collector received it.
#[derive(Debug, Clone)]
struct Received {
    trace_id: String,
    span_id: String,
    name: String,
}

/// The collector: keeps every span exported to it.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Received>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push(Received {
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        name: span.name,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

impl Collector {
    /// Serves OTLP/gRPC on a fresh port; its `http://` URL.
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        url
    }

    /// Names of the spans received in trace `trace_id`.
    fn names_in(&self, trace_id: &str) -> Vec<String> {
        self.in_trace(trace_id).into_iter().map(|s| s.name).collect()
    }

    /// The spans received in trace `trace_id`.
    fn in_trace(&self, trace_id: &str) -> Vec<Received> {
        self.0.lock().unwrap().iter().filter(|s| s.trace_id == trace_id).cloned().collect()
    }
}

/// `traceparent` of a sampled span in trace `trace_id`.
fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-00f067aa0ba902b7-01")
}

/// The trace id of a task's `trace_context`, which must hold a valid
/// version-00 `traceparent`.
fn trace_of(task: &pb::Task) -> String {
    let parent = task.trace_context.get("traceparent").unwrap_or_else(|| panic!("no traceparent: {task:?}"));
    let parts: Vec<&str> = parent.split('-').collect();
    assert_eq!((parts.len(), parts[0], parts[1].len(), parts[2].len()), (4, "00", 32, 16), "{parent}");
    parts[1].to_owned()
}

/// A one-step workflow of `agent_name`; its id.
async fn one_step(weft: &Weft, agent_name: &str) -> String {
    let definition = workflow(format!("traced-{agent_name}")).step(agent("work", agent_name, "do it")).build();
    create_pb(weft, definition).await.id
}

/// StartRun over gRPC with `metadata`; the run id.
async fn start_grpc(weft: &Weft, workflow_id: &str, metadata: &[(&'static str, &str)]) -> String {
    let mut request = tonic::Request::new(start_request(workflow_id, &json!({})));
    for (name, value) in metadata {
        request.metadata_mut().insert(*name, value.parse().unwrap());
    }
    weft.runs().start_run(request).await.expect("StartRun").into_inner().run.unwrap().id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn traces_reach_the_collector_and_tasks_and_workers_carry_the_runs_trace() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let telemetry = Config {
        log: "warn".into(),
        telemetry: TelemetrySettings { otlp_endpoint: Some(endpoint) },
        ..Config::default()
    };
    let guard = weft_server::telemetry::init(&telemetry).unwrap();
    let flush = || tokio::task::block_in_place(|| guard.flush());
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), Config::default()).await;
    let weft = server.client().await;

    // gRPC metadata: the run's spans and its task are in the caller's trace.
    let grpc_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let workflow_id = one_step(&weft, "grpc-agent").await;
    let run_id = start_grpc(&weft, &workflow_id, &[("traceparent", &traceparent(grpc_trace))]).await;
    register(&weft, "poller", &["grpc-agent", "rest-agent", "bad-agent"]).await;
    let task = poll_one(&weft, "poller").await;
    assert_eq!((task.run_id.as_str(), trace_of(&task).as_str()), (run_id.as_str(), grpc_trace));
    assert_ne!(task.trace_context["traceparent"], traceparent(grpc_trace), "the parent is the server's span in it");
    complete(&weft, &task, &json!({"ok": true})).await;
    flush();
    let parent_span = task.trace_context["traceparent"].split('-').nth(2).unwrap().to_owned();
    let spans = eventually("the request's span reaches the collector", 10, || async {
        let spans = collector.in_trace(grpc_trace);
        if spans.iter().any(|s| s.name == "request") { Ok(spans) } else { Err(spans) }
    })
    .await;
    assert!(
        spans.iter().any(|s| s.span_id == parent_span),
        "the task's parent span {parent_span} is one of the run's exported spans: {spans:?}"
    );

    // A REST header works the same (REST is transcoded to gRPC inside).
    let rest_trace = "0af7651916cd43dd8448eb211c80319c";
    let workflow_id = one_step(&weft, "rest-agent").await;
    let header = traceparent(rest_trace);
    let path = format!("/v1/workflows/{workflow_id}/runs");
    let headers = [("content-type", "application/json"), ("traceparent", header.as_str()), ("tracestate", "k=v")];
    let response = http1::request(server.addr, "POST", &path, &headers, b"{\"input\": {}}").await.unwrap();
    assert_eq!(response.status, 202, "{}", String::from_utf8_lossy(&response.body));
    let task = poll_one(&weft, "poller").await;
    assert_eq!(trace_of(&task), rest_trace);
    assert_eq!(task.trace_context.get("tracestate").map(String::as_str), Some("k=v"));
    complete(&weft, &task, &json!({})).await;

    // A malformed traceparent is ignored: the start succeeds, and the run
    // is in a trace of the server's own.
    let workflow_id = one_step(&weft, "bad-agent").await;
    let garbage = "00-not-a-trace-context-at-all-xxxxxxxxxxxxxxxxxxxxxxxxxx";
    start_grpc(&weft, &workflow_id, &[("traceparent", garbage), ("tracestate", "=")]).await;
    let task = poll_one(&weft, "poller").await;
    let own = trace_of(&task);
    assert!(own != grpc_trace && own != rest_trace && own.bytes().any(|b| b != b'0'), "{own}");
    complete(&weft, &task, &json!({})).await;

    // The Rust SDK's worker (stream, feature `opentelemetry`): its handler
    // span is exported in the run's trace.
    let sdk_trace = "11112222333344445555666677778888";
    let workflow_id = one_step(&weft, "sdk-agent").await;
    let seen: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = {
        let seen = seen.clone();
        Worker::new(&weft).agent("sdk-agent", move |task| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().clone_from(&task.task().trace_context);
                Ok(Outcome::new(json!({"done": true})))
            }
        })
    };
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let run_id = start_grpc(&weft, &workflow_id, &[("traceparent", &traceparent(sdk_trace))]).await;
    let run = wait_finished(&weft, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let _ = stop.send(());
    running.await.unwrap().unwrap();
    assert!(seen.lock().unwrap()["traceparent"].contains(sdk_trace), "{:?}", seen.lock().unwrap());
    flush();
    eventually("the SDK handler's span reaches the collector in the run's trace", 10, || async {
        let names = collector.names_in(sdk_trace);
        if names.iter().any(|n| n == "weft.task") { Ok(()) } else { Err(names) }
    })
    .await;

    // Stored with the run: a task claimed after a restart still carries it.
    let restart_trace = "99990000aaaabbbbccccddddeeeeffff";
    let workflow_id = one_step(&weft, "restart-agent").await;
    start_grpc(&weft, &workflow_id, &[("traceparent", &traceparent(restart_trace))]).await;
    server.stop().await;
    let server = TestServer::start_on(database, Config::default()).await;
    let weft = server.client().await;
    register(&weft, "after-restart", &["restart-agent"]).await;
    let task = poll_one(&weft, "after-restart").await;
    assert_eq!(trace_of(&task), restart_trace);
    complete(&weft, &task, &json!({})).await;
    server.stop().await;
}
