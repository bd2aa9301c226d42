//! EstimateRun end to end: the documented lead pipeline estimated for a
//! sample input with cost hints a worker registered, every figure worked
//! out by hand below; the REST route; and bad requests (unknown workflow,
//! input the inputSchema refuses) that estimate nothing.

use serde_json::json;
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::api::convert::value_to_pb;
use weft_tests::workers::{register_with, usd};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1, lead_pipeline_json};

/// Per-call hints of every agent in the pipeline but `archiver`.
async fn register_hints(client: &Weft) {
    let hint = |agent: &str, min, max| pb::AgentCostHint {
        agent: agent.into(),
        min_cost: Some(usd(min)),
        max_cost: Some(usd(max)),
    };
    let request = pb::RegisterWorkerRequest {
        worker_id: "pricer".into(),
        agents: ["social-agent", "news-agent", "relevance-scorer", "lead-scorer", "lead-scorer-lite", "archiver"]
            .map(String::from)
            .to_vec(),
        concurrency: 1,
        cost_hints: vec![
            hint("social-agent", 10, 30),
            hint("news-agent", 20, 50),
            hint("relevance-scorer", 2, 5),
            hint("lead-scorer", 15, 40),
            hint("lead-scorer-lite", 5, 10),
        ],
        ..Default::default()
    };
    register_with(client, request).await;
}

async fn create_pipeline(server: &TestServer) -> String {
    create_json(server, lead_pipeline_json()).await
}

fn request(workflow_id: &str, input: serde_json::Value) -> pb::EstimateRunRequest {
    pb::EstimateRunRequest { workflow_id: workflow_id.into(), input: Some(value_to_pb(&input)), version: 0 }
}

#[tokio::test]
async fn the_lead_pipeline_estimate_matches_the_figures_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    register_hints(&client).await;
    let workflow_id = create_pipeline(&server).await;
    let input = json!({"company": "Stripe", "website": "https://stripe.com"});
    let estimate = client.runs().estimate_run(request(&workflow_id, input)).await.unwrap().into_inner();

    // What runs for this input, every step assumed to succeed:
    // - twitter, linkedin (social-agent) and news (news-agent) always: 1 call each;
    // - score-news maps over $.reshape.output.news, which comes from the news
    //   agent's output, so the input does not decide it: 0 to 10 items, and
    //   score-article (relevance-scorer) makes 0 to 10 calls;
    // - score (lead-scorer) always: 1 call;
    // - fallback-score (lead-scorer-lite) runs only if score fails: 0 to 1;
    // - route reads $.score.output, undecided: approve-crm (no agent) and
    //   archive (archiver, no hint) each 0 to 1.
    let calls: Vec<(&str, &str, u32, u32)> = estimate
        .steps
        .iter()
        .filter(|s| !s.agent.is_empty())
        .map(|s| (s.step_id.as_str(), s.agent.as_str(), s.calls_min, s.calls_max))
        .collect();
    assert_eq!(
        calls,
        [
            ("twitter", "social-agent", 1, 1),
            ("linkedin", "social-agent", 1, 1),
            ("news", "news-agent", 1, 1),
            ("score-article", "relevance-scorer", 0, 10),
            ("score", "lead-scorer", 1, 1),
            ("fallback-score", "lead-scorer-lite", 0, 1),
            ("archive", "archiver", 0, 1),
        ]
    );
    // Calls: min 1 + 1 + 1 + 0 + 1 + 0 + 0 = 4; max 1 + 1 + 1 + 10 + 1 + 1 + 1 = 16.
    assert_eq!((estimate.agent_calls_min, estimate.agent_calls_max), (4, 16));
    // Min cost: twitter 10 + linkedin 10 + news 20 + score 15 = 55 (steps
    // that may not run count 0).
    assert_eq!(estimate.min_cost, Some(usd(55)));
    // Max cost: twitter 30 + linkedin 30 + news 50 + score-article 10 × 5 = 50
    // + score 40 + fallback-score 10 = 210; archive has no hint, so it is
    // left out and flagged.
    assert_eq!(estimate.max_cost, Some(usd(210)));
    assert_eq!(estimate.unpriced_agents, ["archiver"]);
    // Every one of the 12 steps (8 top-level, 3 parallel children, the map's
    // sub-step) can run with this input.
    assert_eq!(estimate.step_count, 12);
    assert_eq!(estimate.steps.len(), 12, "the breakdown lists every step");

    let by_id = |id: &str| estimate.steps.iter().find(|s| s.step_id == id).unwrap();
    assert_eq!(by_id("score-article").max_cost, Some(usd(50)));
    assert!(by_id("score-news").note.contains("0 to 10 items"), "{}", by_id("score-news").note);
    assert!(by_id("route").note.contains("both branches"), "{}", by_id("route").note);
    assert!(by_id("archive").note.contains("no worker registered a cost hint"), "{}", by_id("archive").note);
    assert_eq!((by_id("reshape").r#type.as_str(), by_id("reshape").calls_max), ("transform", 0));

    let (status, rest) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/{workflow_id}/estimate"),
        Some(json!({"input": {"company": "Stripe", "website": "https://stripe.com"}})),
    )
    .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["minCost"], json!({"amount": 55, "currency": "usd"}), "{rest}");
    assert_eq!(rest["maxCost"]["amount"], 210);
    assert_eq!((rest["agentCallsMin"].clone(), rest["agentCallsMax"].clone()), (json!(4), json!(16)));

    let runs = client.runs().list_runs(pb::ListRunsRequest::default()).await.unwrap().into_inner();
    assert!(runs.runs.is_empty(), "an estimate starts no run");
}

#[tokio::test]
async fn estimates_of_unknown_workflows_or_refused_input_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow_id = create_pipeline(&server).await;

    let unknown = client.runs().estimate_run(request("wf_missing", json!({}))).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let mut old = request(&workflow_id, json!({"company": "Stripe", "website": "https://stripe.com"}));
    old.version = 7;
    assert_eq!(client.runs().estimate_run(old).await.unwrap_err().code(), Code::NotFound);
    let no_id = client.runs().estimate_run(request("", json!({}))).await.unwrap_err();
    assert_eq!(no_id.code(), Code::InvalidArgument);

    let refused = client.runs().estimate_run(request(&workflow_id, json!({"company": "Stripe"}))).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("inputSchema"), "{}", refused.message());
    let (status, answer) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/{workflow_id}/estimate"),
        Some(json!({"input": {"website": "not a uri"}})),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
}
