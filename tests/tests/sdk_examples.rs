//! The Rust SDK's examples, run as users run them: the `worker` example
//! serves the lead pipeline's agents, and `lead_pipeline` creates, estimates,
//! runs and streams the documented pipeline against a live server, approves
//! the CRM update the archiver asks for, and exits 0 only when the run
//! completed; a second company takes the approval-step route instead. Then
//! the worker stops cleanly on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
use weft_tests::examples::example;
use weft_tests::{TestServer, http1, lead_pipeline_json};

/// Runs the `lead_pipeline` example for one company; it must exit 0 within
/// a minute. Returns what it printed.
async fn run_pipeline(url: &str, company: &str, website: &str) -> String {
    let pipeline = Command::new(example("lead_pipeline"))
        .env("WEFT_URL", url)
        .args([company, website])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), pipeline)
        .await
        .expect("the pipeline example finishes within a minute")
        .expect("the pipeline example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "lead_pipeline ({company}) failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test]
async fn the_worker_and_lead_pipeline_examples_run_the_documented_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let url = server.url();

    let mut worker = Command::new(example("worker"))
        .env("WEFT_URL", &url)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the worker example starts");

    // "Tiny Corp" scores under 70, so the run takes the archive route.
    let stdout = run_pipeline(&url, "Tiny Corp", "https://tiny.example.com").await;
    assert!(stdout.contains("estimate:"), "{stdout}");

    // The example's builder stored exactly what the documented JSON stores:
    // applying the documented JSON under the same name changes nothing.
    let built_id = stdout
        .lines()
        .find_map(|line| line.strip_prefix("applied ")?.split_whitespace().next())
        .expect("the example names the workflow it applied");
    let body = serde_json::json!({"workflow": lead_pipeline_json()});
    let (status, applied) = http1::json(server.addr, "PUT", "/v1/workflows:apply", Some(body)).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!((applied["outcome"].as_str(), applied["workflow"]["id"].as_str()), (Some("unchanged"), Some(built_id)));
    assert!(stdout.contains("step.completed score-news"), "{stdout}");
    assert!(stdout.contains("step.skipped approve-crm"), "{stdout}");
    assert!(stdout.contains("approval.pending archive"), "the CRM update waits for a person: {stdout}");
    assert!(stdout.contains("approving tool_approval on step archive"), "{stdout}");
    assert!(stdout.contains("step.completed archive"), "{stdout}");
    assert!(stdout.contains(r#""crm":true"#), "the approval reached the worker: {stdout}");
    assert!(stdout.contains("run.completed"), "{stdout}");
    assert!(stdout.contains("run completed"), "{stdout}");

    // "Stripe" scores 82, so the run takes the approval route: the example
    // approves the approval step the same way, through ResumeRun.
    let stdout = run_pipeline(&url, "Stripe", "https://stripe.com").await;
    assert!(stdout.contains("approval.pending approve-crm"), "{stdout}");
    assert!(stdout.contains("approving approval on step approve-crm"), "{stdout}");
    assert!(stdout.contains("step.completed approve-crm"), "{stdout}");
    assert!(stdout.contains("step.skipped archive"), "{stdout}");
    assert!(stdout.contains("run completed"), "{stdout}");

    let pid = worker.id().expect("the worker is running").to_string();
    let signalled = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(signalled.success());
    let status = tokio::time::timeout(Duration::from_secs(10), worker.wait())
        .await
        .expect("the worker stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "the worker exits 0 after a graceful stop: {status}");
}
