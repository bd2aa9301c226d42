//! `GET /metrics` over real sockets: after a run that completes and one
//! that fails, the Prometheus text parses and its counters say exactly what
//! happened (runs by workflow and status, step durations by type, tasks by
//! agent, writer commits, requests by gRPC method and REST route); and it
//! needs no key where keys are required, and refuses POST with 405.
//!
//! The recorder is process-wide, shared by every server of this test
//! binary: the workflow and agent names are unique to the test that counts
//! them, and only that test runs workflows, so exact values hold.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use prometheus_parse::{Sample, Scrape, Value as Metric};
use prost::Message;
use serde_json::json;
use weft_sdk::pb;
use weft_tests::auth::start_requiring_keys;
use weft_tests::http1::grpc_frame;
use weft_tests::runs::{start, wait_finished};
use weft_tests::store::TestStore;
use weft_tests::workers::{complete, poll, poll_one, register};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, eventually, http1};

const WORKFLOW: &str = "metrics-counted";
const AGENT: &str = "metrics-agent";
const GET_WORKFLOW: &str = "/weft.v1.WorkflowService/GetWorkflow";

async fn scrape_metrics(addr: SocketAddr) -> Scrape {
    let answer = http1::request(addr, "GET", "/metrics", &[], b"").await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = String::from_utf8(answer.body.clone()).unwrap();
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("the exposition text parses")
}

/// Samples of `name` whose labels include every pair of `labels`.
fn samples<'a>(scrape: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect()
}

/// The one counter or gauge of `name` with `labels` (0 when absent).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = samples(scrape, name, labels);
    assert!(found.len() <= 1, "{name} {labels:?} names one series: {found:?}");
    found.first().map_or(0.0, |s| match &s.value {
        Metric::Counter(v) | Metric::Gauge(v) | Metric::Untyped(v) => *v,
        other => panic!("{name} is not a counter or gauge: {other:?}"),
    })
}

/// The observation count of the histogram `name` with `labels`.
fn histogram_count(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> u64 {
    let found = samples(scrape, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels:?}: {found:?}");
    match &found[0].value {
        Metric::Histogram(buckets) => {
            let last = buckets.last().expect("a +Inf bucket");
            assert!(last.less_than.is_infinite(), "{buckets:?}");
            last.count as u64
        }
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_runs_steps_tasks_commits_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow_id = create_json(
        &server,
        json!({"name": WORKFLOW, "steps": [
            {"id": "fetch", "type": "agent", "agent": AGENT, "task": "Fetch"},
            {"id": "shape", "type": "transform", "dependsOn": ["fetch"], "output": {"x": "$.input.x"}}
        ]}),
    )
    .await;
    register(&client, "metrics-worker", &[AGENT]).await;

    // One run completes: the worker's task, then the transform.
    let completed = start(&client, &workflow_id, json!({"x": 1})).await;
    let task = poll_one(&client, "metrics-worker").await;
    complete(&client, &task, &json!({"ok": true})).await;
    assert_eq!(wait_finished(&client, &completed.id, 10).await.status, pb::RunStatus::Completed as i32);

    // One fails: the worker gives up on its task for good.
    let failed = start(&client, &workflow_id, json!({"x": 2})).await;
    let task = poll_one(&client, "metrics-worker").await;
    let fail = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: "boom".into(),
        retryable: false,
        ..Default::default()
    };
    client.workers().fail_task(fail).await.unwrap();
    assert_eq!(wait_finished(&client, &failed.id, 10).await.status, pb::RunStatus::Failed as i32);

    // REST, counted once by its route template (not as the gRPC call the
    // gateway makes inside), never by the raw path.
    let (status, _) = http1::json(server.addr, "GET", &format!("/v1/workflows/runs/{}", completed.id), None).await;
    assert_eq!(status, 200);
    let (status, _) = http1::json(server.addr, "GET", "/v1/workflows/runs/run_does_not_exist", None).await;
    assert_eq!(status, 404);

    // gRPC-web carries its status in a trailer frame at the end of the
    // body (base64 on its own in the text form): read there too.
    let get = grpc_frame(&pb::GetWorkflowRequest { id: workflow_id.clone() }.encode_to_vec());
    let text = BASE64.encode(&get);
    // Text asked without `accept` is answered in binary; with it, in text.
    let calls = [
        ("application/grpc-web+proto", "application/grpc-web+proto", get.as_slice()),
        ("application/grpc-web-text", "*/*", text.as_bytes()),
        ("application/grpc-web-text", "application/grpc-web-text", text.as_bytes()),
    ];
    for (content_type, accept, body) in calls {
        let headers = [("content-type", content_type), ("accept", accept), ("x-grpc-web", "1")];
        let answer = http1::request(server.addr, "POST", GET_WORKFLOW, &headers, body).await.unwrap();
        assert_eq!((answer.status, answer.header("grpc-status")), (200, None), "{content_type}: not trailers-only");
    }

    let scrape = scrape_metrics(server.addr).await;
    let workflow = [("workflow", WORKFLOW)];
    assert_eq!(value(&scrape, "weft_runs_started_total", &workflow), 2.0);
    assert_eq!(value(&scrape, "weft_runs_finished_total", &[("workflow", WORKFLOW), ("status", "completed")]), 1.0);
    assert_eq!(value(&scrape, "weft_runs_finished_total", &[("workflow", WORKFLOW), ("status", "failed")]), 1.0);
    assert_eq!(value(&scrape, "weft_runs_finished_total", &[("workflow", WORKFLOW), ("status", "cancelled")]), 0.0);

    // Steps: the agent step completed once and failed once; the transform
    // ran only in the run that completed.
    let step =
        |kind, status| histogram_count(&scrape, "weft_step_duration_seconds", &[("kind", kind), ("status", status)]);
    assert_eq!((step("agent", "completed"), step("agent", "failed"), step("transform", "completed")), (1, 1, 1));

    let agent = [("agent", AGENT), ("kind", "agent")];
    assert_eq!(value(&scrape, "weft_tasks_queued_total", &agent), 2.0);
    assert_eq!(value(&scrape, "weft_tasks_leased_total", &agent), 2.0);
    assert_eq!(histogram_count(&scrape, "weft_task_dispatch_seconds", &agent), 2);
    assert_eq!(value(&scrape, "weft_tasks_expired_total", &[("agent", AGENT)]), 0.0);

    // Every commit is one batch-size observation and one commit latency.
    let commits = value(&scrape, "weft_writer_commits_total", &[]);
    assert!(commits >= 4.0, "two starts and two outcomes at least: {commits}");
    assert_eq!(histogram_count(&scrape, "weft_writer_batch_commands", &[]) as f64, commits);
    assert_eq!(histogram_count(&scrape, "weft_writer_commit_duration_seconds", &[]) as f64, commits);
    assert_eq!(value(&scrape, "weft_runs_open", &[]), 0.0, "both runs finished");
    assert_eq!(value(&scrape, "weft_task_polls_parked", &[]), 0.0, "the built-in executor's claims are no polls");
    // Partitions exist only on Postgres (their count is each replica's,
    // and this binary's other server may be letting go of its own now).
    let partitions = samples(&scrape, "weft_partitions_held", &[]).len();
    assert_eq!(partitions, usize::from(TestStore::from_env().is_postgres()));

    // gRPC by method path and status code name.
    let grpc = |method, code| value(&scrape, "weft_grpc_requests_total", &[("method", method), ("code", code)]);
    assert_eq!(grpc("/weft.v1.WorkerService/PollTask", "OK"), 2.0);
    assert_eq!(grpc("/weft.v1.WorkerService/CompleteTask", "OK"), 1.0);
    assert_eq!(grpc("/weft.v1.WorkerService/FailTask", "OK"), 1.0);
    assert_eq!(
        grpc(GET_WORKFLOW, "OK"),
        3.0,
        "every gRPC-web answer, by its trailer frame: {:?}",
        samples(&scrape, "weft_grpc_requests_total", &[("method", GET_WORKFLOW)])
    );
    assert_eq!(
        histogram_count(
            &scrape,
            "weft_grpc_request_duration_seconds",
            &[("method", "/weft.v1.WorkerService/PollTask")]
        ),
        2
    );
    // GetRun was called over REST only (wait_finished reads runs through
    // GetRun over gRPC: counted there, not twice).
    let rest = |status| {
        value(
            &scrape,
            "weft_http_requests_total",
            &[("method", "GET"), ("route", "/v1/workflows/runs/:run_id"), ("status", status)],
        )
    };
    assert_eq!((rest("200"), rest("404")), (1.0, 1.0), "{:?}", samples(&scrape, "weft_http_requests_total", &[]));
    assert!(
        samples(&scrape, "weft_http_requests_total", &[])
            .iter()
            .all(|s| !s.labels.values().any(|v| v.contains(&completed.id) || v.contains("run_does_not_exist"))),
        "no label holds a raw path with an id"
    );
    let created = [("method", "POST"), ("route", "/v1/workflows"), ("status", "201")];
    assert_eq!(value(&scrape, "weft_http_requests_total", &created), 1.0);
    let described: BTreeMap<_, _> = scrape.docs.iter().collect();
    assert!(described.contains_key(&"weft_runs_started_total".to_string()), "every metric has its help text");

    // A worker's long poll with nothing to take parks in the writer.
    let idle = tokio::spawn({
        let client = client.clone();
        async move { poll(&client, "metrics-worker", 3).await }
    });
    eventually("the poll is parked", 5, || async {
        let parked = value(&scrape_metrics(server.addr).await, "weft_task_polls_parked", &[]);
        if parked == 1.0 { Ok(()) } else { Err(parked) }
    })
    .await;
    assert!(idle.await.unwrap().is_none());

    server.stop().await;
}

#[tokio::test]
async fn metrics_need_no_key_and_refuse_other_methods() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;

    let (status, refused) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(status, 401, "{refused}");
    let scrape = scrape_metrics(server.addr).await;
    assert!(!scrape.samples.is_empty());

    for method in ["POST", "PUT", "DELETE"] {
        let answer = http1::request(server.addr, method, "/metrics", &[], b"").await.unwrap();
        assert_eq!(answer.status, 405, "{method} /metrics");
        assert!(answer.headers.iter().any(|(n, v)| n == "allow" && v.contains("GET")), "{:?}", answer.headers);
    }
}
