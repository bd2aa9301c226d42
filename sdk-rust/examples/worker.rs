//! A worker serving every agent of the lead pipeline example, and of the
//! server's built-in templates (`templates/` in the repository), with
//! deterministic answers, so they can run end to end without a model. Reads the server address from `WEFT_URL` (default
//! `http://127.0.0.1:7070`) and runs until Ctrl-C or SIGTERM.
//!
//! ```sh
//! cargo run -p weftflow --example worker
//! ```
//!
//! The lead scorer gives 82 to every company except those whose name
//! contains "tiny" (35), so both routes of the pipeline can be exercised.
//! The archiver asks to use the `update_crm` tool, which the pipeline's
//! policy puts behind a person's approval.

use serde_json::{Value, json};
use weftflow::worker::{Outcome, TaskContext, TaskError, Worker};

type Answer = Result<Outcome, TaskError>;

/// The subject of a task text such as "Twitter for Stripe".
fn subject(task: &TaskContext) -> String {
    task.text().rsplit(" for ").next().unwrap_or_default().trim().to_string()
}

async fn social(task: TaskContext) -> Answer {
    let company = subject(&task);
    let handle = format!("@{}", company.to_lowercase().replace(' ', ""));
    Ok(Outcome::new(json!({"company": company, "handle": handle, "followers": 1200})).cost(4, "usd"))
}

async fn news(task: TaskContext) -> Answer {
    let company = subject(&task);
    let articles: Vec<Value> = ["raises a round", "launches a product", "hires a CFO"]
        .iter()
        .map(|what| json!({"title": format!("{company} {what}"), "url": "https://news.example.com/1"}))
        .collect();
    Ok(Outcome::new(json!({"articles": articles})).cost(6, "usd"))
}

async fn relevance(task: TaskContext) -> Answer {
    let title = task.input()["article"]["title"].as_str().unwrap_or_default().to_string();
    let relevance = if title.contains("raises") { 0.9 } else { 0.4 };
    Ok(Outcome::new(json!({"title": title, "relevance": relevance})).cost(2, "usd"))
}

async fn score(task: TaskContext) -> Answer {
    let company = task.input()["company"].as_str().unwrap_or_default().to_lowercase();
    let score = if company.contains("tiny") { 35 } else { 82 };
    Ok(Outcome::new(json!({"score": score, "reason": "deterministic example scorer"})).cost(10, "usd"))
}

async fn score_lite(_task: TaskContext) -> Answer {
    Ok(Outcome::new(json!({"score": 50})).cost(3, "usd"))
}

/// Records the miss in the CRM: `update_crm` needs a person's approval
/// under the pipeline's policy, so the step pauses until it is decided.
async fn archive(task: TaskContext) -> Answer {
    let score = task.input()["score"]["score"].clone();
    let company = task.input()["lead"]["company"].clone();
    let verdict = task
        .check_tool("update_crm", json!({"company": company, "status": "archived"}))
        .await
        .map_err(|e| TaskError::retryable(e.to_string()))?;
    Ok(Outcome::new(json!({"archived": true, "score": score, "crm": verdict.allowed, "why": verdict.reason}))
        .cost(1, "usd"))
}

/// The README tour's researcher: the company behind the website in the
/// task text ("Scrape company info from acme.com"). A bare JSON value is
/// the step's output.
async fn research(task: TaskContext) -> Result<Value, TaskError> {
    let website = task.text().rsplit(' ').next().unwrap_or_default().trim_start_matches("https://").to_string();
    let name = website.split('.').next().unwrap_or_default().to_string();
    Ok(json!({"company": {"name": name, "website": website, "employees": if name.contains("tiny") { 4 } else { 250 }}}))
}

/// The README tour's enricher: an ICP score from the company's size.
async fn enrich(task: TaskContext) -> Result<Value, TaskError> {
    let company = &task.input()["companyData"];
    let employees =
        company["employees"].as_i64().ok_or_else(|| TaskError::permanent("companyData.employees is missing"))?;
    Ok(json!({"company": company, "icp_score": if employees >= 50 { 82 } else { 35 }}))
}

/// Drafts the email of the approval-gated email template.
async fn write_email(task: TaskContext) -> Answer {
    let to = task.input()["to"].as_str().unwrap_or_default().to_string();
    let topic = task.input()["topic"].as_str().unwrap_or_default().to_string();
    let body = format!("Hello,\n\nA short note about {topic}.\n\nBest regards");
    Ok(Outcome::new(json!({"to": to, "subject": format!("About {topic}"), "body": body})).cost(2, "usd"))
}

/// "Sends" an approved email: answers as a mail API would, sends nothing.
async fn send_email(task: TaskContext) -> Answer {
    let email = &task.input()["email"];
    let id = format!("msg-{}", email["to"].as_str().unwrap_or_default().len());
    Ok(Outcome::new(json!({"sent": true, "to": email["to"], "subject": email["subject"], "messageId": id}))
        .cost(1, "usd"))
}

/// One item of the map-reduce summariser: its first eight words.
async fn summarize(task: TaskContext) -> Answer {
    let text = task.input()["text"].as_str().unwrap_or_default().to_string();
    let words: Vec<&str> = text.split_whitespace().collect();
    let summary = words.iter().take(8).copied().collect::<Vec<_>>().join(" ");
    Ok(Outcome::new(json!({"summary": summary, "words": words.len()})).cost(1, "usd"))
}

/// The reduce step: the item summaries joined, counted.
async fn reduce_summaries(task: TaskContext) -> Answer {
    let items = task.input()["summaries"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> =
        items.iter().filter_map(|item| item["summary"].as_str()).map(str::to_owned).filter(|s| !s.is_empty()).collect();
    Ok(Outcome::new(json!({"summary": parts.join("; "), "items": items.len()})).cost(2, "usd"))
}

/// The scheduled report: the period named in the task (daily by default).
async fn write_report(task: TaskContext) -> Answer {
    let text = task.text().to_lowercase();
    let period = ["weekly", "monthly"].into_iter().find(|p| text.contains(p)).unwrap_or("daily");
    let title = format!("{}{} report", period[..1].to_uppercase(), &period[1..]);
    Ok(Outcome::new(json!({"period": period, "title": title, "sections": ["summary", "highlights", "next steps"]}))
        .cost(3, "usd"))
}

#[tokio::main]
async fn main() -> Result<(), weftflow::Error> {
    let url = std::env::var("WEFT_URL").unwrap_or_else(|_| "http://127.0.0.1:7070".into());
    let weft = weftflow::Weft::connect(url.clone()).await?;
    println!("serving the README tour's, the lead pipeline's and the built-in templates' agents for {url}");
    Worker::new(&weft)
        .name("example-worker")
        .agent("web-researcher", research)
        .agent("data-enricher", enrich)
        .agent("social-agent", social)
        .agent("news-agent", news)
        .agent("relevance-scorer", relevance)
        .agent("lead-scorer", score)
        .agent("lead-scorer-lite", score_lite)
        .agent("archiver", archive)
        .agent("email-writer", write_email)
        .agent("email-sender", send_email)
        .agent("summarizer", summarize)
        .agent("summary-reducer", reduce_summaries)
        .agent("report-writer", write_report)
        .cost_hint("social-agent", 2, 5, "usd")
        .cost_hint("news-agent", 4, 8, "usd")
        .cost_hint("relevance-scorer", 1, 3, "usd")
        .cost_hint("lead-scorer", 8, 15, "usd")
        .cost_hint("lead-scorer-lite", 2, 4, "usd")
        .cost_hint("archiver", 1, 1, "usd")
        .concurrency(8)
        .run(shutdown())
        .await?;
    println!("worker stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
