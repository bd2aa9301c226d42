//! The Rust SDK's `stream_run` against a live server: a run's events in
//! order up to its terminal one, a resume after a sequence, and a refusal.
//! (That the typed builder makes exactly what the documented JSON makes is
//! checked on the `lead_pipeline` example, in `sdk_examples.rs`.)

use serde_json::json;
use tokio_stream::StreamExt;
use weft_sdk::builder::{delay, transform, workflow};
use weft_sdk::json::to_proto_value;
use weft_sdk::pb;
use weft_tests::TestServer;

#[tokio::test]
async fn stream_run_yields_every_event_in_order_until_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let weft = server.client().await;
    let definition = workflow("streamed")
        .transform(transform("pick").output("n", "$.input.n"))
        .step(delay("pause", 1).depends_on(["pick"]))
        .transform(transform("done").depends_on(["pause"]).output("n", "$.pick.output.n"))
        .build();
    let workflow_id = weft
        .workflows()
        .create_workflow(pb::CreateWorkflowRequest { workflow: Some(definition), request_id: String::new() })
        .await
        .unwrap()
        .into_inner()
        .id;
    let run_id = weft
        .runs()
        .start_run(pb::StartRunRequest {
            workflow_id,
            input: Some(to_proto_value(&json!({"n": 7}))),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .run_id;

    let events: Vec<pb::RunEvent> = weft.stream_run(&run_id, 0).map(|e| e.expect("no stream error")).collect().await;
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(events.last().unwrap().r#type, "run.completed", "{events:?}");
    assert!(events.iter().any(|e| e.r#type == "step.completed" && e.step_id == "done"));

    let tail: Vec<pb::RunEvent> = weft.stream_run(&run_id, 3).map(|e| e.unwrap()).collect().await;
    assert_eq!(tail.first().map(|e| e.sequence), Some(4), "resumes after the given sequence");
    assert_eq!(tail.len(), events.len() - 3);

    let unknown: Vec<_> = weft.stream_run("wfrun_nope", 0).collect().await;
    assert_eq!(unknown.len(), 1);
    match &unknown[0] {
        Err(weft_sdk::Error::Status(status)) => assert_eq!(status.code(), tonic::Code::NotFound),
        other => panic!("expected NOT_FOUND, got {other:?}"),
    }
}
