//! The Rust SDK's plain-value surface against a live server: a handler may
//! answer a bare JSON value, `execute` and `get_run` answer `Run` values
//! whose statuses compare with the API's names and whose outputs are
//! `serde_json::Value`, and a handler's typed error decides whether the
//! step's retries apply.

use serde_json::json;
use tokio::sync::oneshot;
use weft_sdk::builder::{agent, workflow};
use weft_sdk::worker::{TaskContext, TaskError, Worker};
use weft_sdk::{RunOptions, RunStatus, StepStatus};
use weft_tests::TestServer;
use weft_tests::workflows::create_pb;

#[tokio::test]
async fn bare_values_and_typed_errors_come_back_as_plain_rust_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let weft = server.client().await;
    let definition = workflow("sdk-native")
        .step(agent("a", "plain", "give x").input_map("x", "$.input.x"))
        .step(agent("b", "judge", "judge").depends_on(["a"]).input_map("x", "$.a.output.x").retries(2))
        .build();
    let workflow_id = create_pb(&weft, definition).await.id;
    let (stop, stopped) = oneshot::channel::<()>();
    let worker = Worker::new(&weft)
        .agent("plain", |task: TaskContext| async move { Ok::<_, TaskError>(json!({"x": task.input()["x"]})) })
        .agent("judge", |task: TaskContext| async move {
            match task.input()["x"].as_i64() {
                Some(1) => Ok(json!({"verdict": "fine"})),
                Some(2) => Err(TaskError::permanent("two is never fine")),
                _ => Err(TaskError::retryable("try again")),
            }
        });
    let serving = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let quick = || RunOptions { timeout: Some(std::time::Duration::from_secs(20)), ..RunOptions::default() };

    let run = weft.execute(&workflow_id, json!({"x": 1}), quick()).await.unwrap();
    assert_eq!(run.status, RunStatus::Completed, "{run}");
    assert_eq!(run.status, "completed");
    let a = run.step("a").unwrap();
    assert_eq!(a.output, Some(json!({"x": 1})), "a bare value is the step's output");
    assert_eq!((a.status, a.attempts), (StepStatus::Completed, 1));
    let again = weft.get_run(&run.id).await.unwrap();
    assert_eq!((again.id.as_str(), again.status), (run.id.as_str(), RunStatus::Completed));
    assert_eq!(again.input, json!({"x": 1}));

    let run = weft.execute(&workflow_id, json!({"x": 2}), quick()).await.unwrap();
    assert_eq!(run.status, "failed", "{run}");
    let b = run.step("b").unwrap();
    assert_eq!(b.attempts, 1, "a permanent error skips the retries: {b:?}");
    assert!(b.error.as_deref().unwrap_or_default().contains("two is never fine"), "{b:?}");
    assert_eq!(run.error.as_ref().map(|e| e.step_id.as_str()), Some("b"));

    let run = weft.execute(&workflow_id, json!({"x": 3}), quick()).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed, "{run}");
    assert_eq!(run.step("b").unwrap().attempts, 3, "a retryable error uses the step's two retries");

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_run_of_an_unknown_workflow_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let weft = server.client().await;
    let error = weft.start_run("wf_missing", json!({}), RunOptions::default()).await.unwrap_err();
    match error {
        weft_sdk::Error::Status(status) => assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}"),
        other => panic!("expected a status, got {other:?}"),
    }
    let error = weft.get_run("wfrun_missing").await.unwrap_err();
    assert!(matches!(error, weft_sdk::Error::Status(ref s) if s.code() == tonic::Code::NotFound), "{error:?}");
    let error = weft.get_run("").await.unwrap_err();
    assert!(matches!(error, weft_sdk::Error::Status(ref s) if s.code() == tonic::Code::InvalidArgument), "{error:?}");
}
