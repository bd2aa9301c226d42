//! The complete lead pipeline of the workflow documents, driven from Rust:
//! create it with the typed builder, estimate it, run it, print its events
//! as they stream, approve the CRM update through the API when the run
//! pauses for it, and exit 0 only if the run completed.
//!
//! ```sh
//! cargo run -p weftflow --example worker &      # serves the agents
//! cargo run -p weftflow --example lead_pipeline -- Stripe https://stripe.com
//! ```
//!
//! Reads the server address from `WEFT_URL` (default `http://127.0.0.1:7070`).

use std::process::ExitCode;

use futures_util::StreamExt;
use serde_json::json;
use weftflow::builder::{Policy, agent, approval, condition, map, parallel, transform, workflow};
use weftflow::json::to_proto_value;
use weftflow::{RunStatus, Weft, pb};

fn lead_pipeline() -> pb::Workflow {
    workflow("lead-pipeline")
        .input_schema(json!({"type": "object", "required": ["company", "website"], "properties": {
            "company": {"type": "string"}, "website": {"type": "string", "format": "uri"}}}))
        .policy(
            Policy::new()
                .allow_tools(["web_search", "http_get"])
                .require_approval_for(["update_crm"])
                .max_total_cost(1000, "usd"),
        )
        // Parallel social and news research.
        .step(parallel(
            "research",
            [
                agent("twitter", "social-agent", "Twitter for {{ input.company }}"),
                agent("linkedin", "social-agent", "LinkedIn for {{ input.company }}"),
                agent("news", "news-agent", "Recent news for {{ input.company }}"),
            ],
        ))
        // A clean shape for the scorers: no agent, no cost.
        .transform(
            transform("reshape")
                .depends_on(["research"])
                .output("twitter", "$.twitter.output")
                .output("linkedin", "$.linkedin.output")
                .output("news", "$.news.output.articles")
                .output("company", "$.input.company"),
        )
        // Score every article, three at a time.
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

fn money(cost: &Option<pb::Money>) -> String {
    match cost {
        Some(m) => format!("{} {} cents", m.amount, m.currency),
        None => "0".into(),
    }
}

/// Approves what the run is waiting on (its pending action), answering
/// the paused step through ResumeRun as the person "lead_pipeline example".
async fn approve_pending(weft: &Weft, run_id: &str) -> Result<(), weftflow::Error> {
    let run = weft.runs().get_run(pb::GetRunRequest { run_id: run_id.into() }).await?.into_inner().run;
    let Some(pending) = run.and_then(|r| r.pending_action) else { return Ok(()) };
    println!("  approving {} on step {} ({})", pending.r#type, pending.step, pending.message);
    let answer = json!({"option": "approve", "decidedBy": "lead_pipeline example"});
    weft.runs()
        .resume_run(pb::ResumeRunRequest {
            run_id: run_id.into(),
            input: Some(pb::ResumeInput {
                resume: Some(pb::ResumeTarget { step: pending.step, input: Some(to_proto_value(&answer)) }),
            }),
            ..Default::default()
        })
        .await?;
    Ok(())
}

async fn run() -> Result<bool, weftflow::Error> {
    let url = std::env::var("WEFT_URL").unwrap_or_else(|_| "http://127.0.0.1:7070".into());
    let mut args = std::env::args().skip(1);
    let company = args.next().unwrap_or_else(|| "Stripe".into());
    let website = args.next().unwrap_or_else(|| "https://stripe.com".into());
    let weft = Weft::connect(url).await?;

    // Apply: the first run of the example creates the workflow, later runs
    // find it by name and change nothing.
    let created = weft.apply(lead_pipeline()).await?;
    println!("applied {} version {} ({:?})", created.id, created.version, created.outcome);

    let input = json!({"company": company, "website": website});
    let estimate = weft
        .runs()
        .estimate_run(pb::EstimateRunRequest {
            workflow_id: created.id.clone(),
            input: Some(to_proto_value(&input)),
            version: 0,
        })
        .await?
        .into_inner();
    println!(
        "estimate: {}..{} agent calls, cost {} to {}",
        estimate.agent_calls_min,
        estimate.agent_calls_max,
        money(&estimate.min_cost),
        money(&estimate.max_cost)
    );

    let started = weft
        .runs()
        .start_run(pb::StartRunRequest {
            workflow_id: created.id.clone(),
            user_id: "user_456".into(),
            input: Some(to_proto_value(&input)),
            ..Default::default()
        })
        .await?
        .into_inner();
    println!("run {} started", started.run_id);

    let mut events = Box::pin(weft.stream_run(started.run_id.clone(), 0));
    while let Some(event) = events.next().await {
        let event = event?;
        let step = if event.step_id.is_empty() { String::new() } else { format!(" {}", event.step_id) };
        println!("  #{} {}{step}", event.sequence, event.r#type);
        if event.r#type == "approval.pending" {
            approve_pending(&weft, &started.run_id).await?;
        }
    }

    let run = weft.get_run(&started.run_id).await?;
    println!("run {}, total cost {}, output {}", run.status, run.cost, run.output.clone().unwrap_or_default());
    Ok(run.status == RunStatus::Completed)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("lead_pipeline: {error}");
            ExitCode::FAILURE
        }
    }
}
