//! The documented lead pipeline, start to finish.

use serde_json::json;

use super::*;
use crate::fixtures::lead_pipeline;

#[test]
fn seed_lead_pipeline_runs_to_completion() {
    let mut h = Harness::started(lead_pipeline(), json!({"company": "Stripe", "website": "https://stripe.com"}));
    assert_eq!(h.keys(), ["linkedin", "news", "twitter"], "the research fans out; the fallback waits");
    assert_eq!(h.task("twitter").task.as_deref(), Some("Twitter for Stripe"));
    h.try_succeed("twitter", json!({"handle": "@stripe"}), 40).expect("twitter");
    h.try_succeed("linkedin", json!({"url": "in/stripe"}), 35).expect("linkedin");
    let articles = json!([{"title": "Stripe raises"}, {"title": "Stripe ships"}, {"title": "Stripe hires"},
        {"title": "Stripe expands"}]);
    h.try_succeed("news", json!({"articles": articles}), 25).expect("news");
    assert_eq!(h.output("reshape").expect("reshape ran")["news"], articles);
    assert_eq!(h.keys(), ["score-article[0]", "score-article[1]", "score-article[2]"], "concurrency 3");
    assert_eq!(
        h.task("score-article[1]").task.as_deref(),
        Some("Rate relevance of this article for ICP fit: Stripe ships")
    );
    for key in ["score-article[2]", "score-article[0]", "score-article[3]", "score-article[1]"] {
        let title = h.task(key).input["article"]["title"].clone();
        h.try_succeed(key, json!({"title": title, "relevance": 0.9}), 5).expect("item");
    }
    assert_eq!(h.output("score-news").expect("map output")[3]["title"], json!("Stripe expands"));
    let score_input = h.task("score").input.clone();
    assert_eq!(score_input["company"], json!("Stripe"));
    assert_eq!(score_input["newsScores"].as_array().map(Vec::len), Some(4));
    h.try_succeed("score", json!({"score": 82}), 50).expect("score");
    assert_eq!(h.output("route"), Some(json!({"result": true})));
    assert_eq!(h.status("archive"), StepStatus::Skipped);
    // The approval step pauses the run (no task) until a person decides.
    assert_eq!((h.status("approve-crm"), h.run.status()), (StepStatus::Paused, RunStatus::Paused));
    assert!(h.timers.contains_key("approve-crm"), "its 4h timeout is armed");
    let answer = Command::Answer {
        step: "approve-crm".into(),
        option: "approve".into(),
        decided_by: "alice".into(),
        comment: String::new(),
        approval_id: None,
        now_ms: h.now_ms,
    };
    h.apply(answer).expect("the decision is accepted");

    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.status("fallback-score"), StepStatus::Skipped);
    let decided = json!({"approve-crm": {"decision": "approve", "decidedBy": "alice"}});
    assert_eq!(h.run.output(), Some(&decided));
    assert_eq!(h.run.total_cost_cents(), 40 + 35 + 25 + 4 * 5 + 50);
    let last = h.events.last().expect("events");
    assert_eq!((last.event_type, last.total_cost_cents), (EventType::RunCompleted, Some(170)));
    let sequences: Vec<u64> = h.events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=h.events.len() as u64).collect::<Vec<_>>());
    let started = h.trace().iter().filter(|t| t.starts_with("step.started")).count();
    let finished =
        h.trace().iter().filter(|t| t.starts_with("step.completed") || t.starts_with("step.skipped")).count();
    assert_eq!(finished, h.run.steps().len(), "every instance ends once");
    assert_eq!(started + 2, finished, "archive and fallback-score are skipped without starting");
}

#[test]
fn seed_lead_pipeline_falls_back_when_the_scorer_fails() {
    let mut h = Harness::started(lead_pipeline(), json!({"company": "Stripe", "website": "https://stripe.com"}));
    for key in ["twitter", "linkedin"] {
        h.succeed(key, json!({}));
    }
    h.succeed("news", json!({"articles": []}));
    h.fail("score", "scorer down", false);
    assert_eq!(h.task("fallback-score").agent.as_deref(), Some("lead-scorer-lite"));
    h.succeed("fallback-score", json!({"score": 40}));
    // The route reads `$.score.output`, which the failed scorer never wrote.
    assert_eq!(h.output("route"), Some(json!({"result": false})));
    h.succeed("archive", json!({"archived": true}));
    assert_eq!(h.run.status(), RunStatus::Completed);
}
