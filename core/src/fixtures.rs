//! Documented example definitions, shared by the engine's unit tests and
//! the end-to-end tests, so every test means the same pipeline.

use serde_json::{Value, json};

/// The "Complete example" lead pipeline of the documented step JSON
/// (seed 000), as users write it.
pub fn lead_pipeline() -> Value {
    json!({
        "name": "lead-pipeline",
        "inputSchema": {"type": "object", "required": ["company", "website"], "properties": {
            "company": {"type": "string"}, "website": {"type": "string", "format": "uri"}}},
        "policy": {"allowTools": ["web_search", "http_get"], "requireApprovalFor": ["update_crm"],
                   "maxTotalCost": {"amount": 1000, "currency": "usd"}},
        "steps": [
            {"id": "research", "type": "parallel", "steps": [
                {"id": "twitter", "type": "agent", "agent": "social-agent", "task": "Twitter for {{ input.company }}"},
                {"id": "linkedin", "type": "agent", "agent": "social-agent", "task": "LinkedIn for {{ input.company }}"},
                {"id": "news", "type": "agent", "agent": "news-agent", "task": "Recent news for {{ input.company }}"}
            ]},
            {"id": "reshape", "type": "transform", "dependsOn": ["research"], "output": {
                "twitter": "$.twitter.output", "linkedin": "$.linkedin.output",
                "news": "$.news.output.articles", "company": "$.input.company"}},
            {"id": "score-news", "type": "map", "dependsOn": ["reshape"], "over": "$.reshape.output.news",
             "as": "article", "concurrency": 3, "step": {
                "id": "score-article", "type": "agent", "agent": "relevance-scorer",
                "task": "Rate relevance of this article for ICP fit: {{ article.title }}",
                "inputMap": {"article": "$.article"}}},
            {"id": "score", "type": "agent", "agent": "lead-scorer", "dependsOn": ["score-news"],
             "task": "Score this lead 0-100 for ICP fit",
             "inputMap": {"twitter": "$.reshape.output.twitter", "linkedin": "$.reshape.output.linkedin",
                          "newsScores": "$.score-news.output", "company": "$.input.company"},
             "onStepFailure": {"action": "goto", "target": "fallback-score"}},
            {"id": "fallback-score", "type": "agent", "agent": "lead-scorer-lite",
             "task": "Minimal score based only on LinkedIn data",
             "inputMap": {"linkedin": "$.reshape.output.linkedin"}},
            {"id": "route", "type": "condition", "dependsOn": ["score"],
             "expression": "$.score.output.score >= 70",
             "onTrue": {"next": "approve-crm"}, "onFalse": {"next": "archive"}},
            {"id": "approve-crm", "type": "approval", "action": "update_crm", "timeout": "4h", "defaultAction": "deny"},
            {"id": "archive", "type": "agent", "agent": "archiver", "task": "Archive this lead with ICP miss reason",
             "inputMap": {"lead": "$.reshape.output", "score": "$.score.output"}}
        ]
    })
}
