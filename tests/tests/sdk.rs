//! The Rust SDK's ergonomic layer against a live server: the typed builder
//! makes exactly the workflow its documented JSON makes, and `stream_run`
//! yields a run's events in order up to its terminal one.

use serde_json::{Value, json};
use tokio_stream::StreamExt;
use weft_sdk::builder::{Policy, agent, approval, condition, delay, map, parallel, transform, workflow};
use weft_sdk::json::to_proto_value;
use weft_sdk::pb;
use weft_tests::{TestServer, http1, lead_pipeline_json};

/// The same pipeline through the builder, as the documents write it.
fn lead_pipeline_built() -> pb::Workflow {
    workflow("lead-pipeline")
        .input_schema(json!({"type": "object", "required": ["company", "website"], "properties": {
            "company": {"type": "string"}, "website": {"type": "string", "format": "uri"}}}))
        .policy(
            Policy::new()
                .allow_tools(["web_search", "http_get"])
                .require_approval_for(["update_crm"])
                .max_total_cost(1000, "usd"),
        )
        .step(parallel(
            "research",
            [
                agent("twitter", "social-agent", "Twitter for {{ input.company }}"),
                agent("linkedin", "social-agent", "LinkedIn for {{ input.company }}"),
                agent("news", "news-agent", "Recent news for {{ input.company }}"),
            ],
        ))
        .transform(
            transform("reshape")
                .depends_on(["research"])
                .output("twitter", "$.twitter.output")
                .output("linkedin", "$.linkedin.output")
                .output("news", "$.news.output.articles")
                .output("company", "$.input.company"),
        )
        .step(
            map(
                "score-news",
                "$.reshape.output.news",
                "article",
                agent(
                    "score-article",
                    "relevance-scorer",
                    "Rate relevance of this article for ICP fit: {{ article.title }}",
                )
                .input_map("article", "$.article"),
            )
            .depends_on(["reshape"])
            .concurrency(3),
        )
        .step(
            agent("score", "lead-scorer", "Score this lead 0-100 for ICP fit")
                .depends_on(["score-news"])
                .input_map("twitter", "$.reshape.output.twitter")
                .input_map("linkedin", "$.reshape.output.linkedin")
                .input_map("newsScores", "$.score-news.output")
                .input_map("company", "$.input.company")
                .on_failure_goto("fallback-score"),
        )
        .step(
            agent("fallback-score", "lead-scorer-lite", "Minimal score based only on LinkedIn data")
                .input_map("linkedin", "$.reshape.output.linkedin"),
        )
        .condition(
            condition("route", "$.score.output.score >= 70")
                .depends_on(["score"])
                .on_true("approve-crm")
                .on_false("archive"),
        )
        .step(approval("approve-crm", "update_crm").timeout("4h").default_action("deny"))
        .step(
            agent("archive", "archiver", "Archive this lead with ICP miss reason")
                .input_map("lead", "$.reshape.output")
                .input_map("score", "$.score.output"),
        )
        .build()
}

/// A stored workflow without what differs between two creations.
fn definition_of(mut stored: Value) -> Value {
    let object = stored.as_object_mut().unwrap();
    for key in ["id", "createdAt", "updatedAt"] {
        object.remove(key);
    }
    stored
}

#[tokio::test]
async fn the_builder_makes_the_documented_lead_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let built = client
        .workflows()
        .create_workflow(pb::CreateWorkflowRequest { workflow: Some(lead_pipeline_built()), request_id: String::new() })
        .await
        .expect("the built pipeline is a valid definition")
        .into_inner()
        .id;
    let (status, from_json) = http1::json(server.addr, "POST", "/v1/workflows", Some(lead_pipeline_json())).await;
    assert_eq!(status, 201, "{from_json}");
    let from_json = from_json["id"].as_str().unwrap().to_string();

    let (_, built) = http1::json(server.addr, "GET", &format!("/v1/workflows/{built}"), None).await;
    let (_, documented) = http1::json(server.addr, "GET", &format!("/v1/workflows/{from_json}"), None).await;
    assert_eq!(definition_of(built.clone()), definition_of(documented));
    assert_eq!(built["steps"].as_array().map(Vec::len), Some(8), "{built}");
}

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
