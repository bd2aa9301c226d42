//! `[runs] max_paused_lifetime` (issue 18, 001's server-wide limit on
//! paused runs): a run paused longer fails with RUN_TIMEOUT, over gRPC
//! and as REST shows it; a pause that ends in time fails nothing; and the
//! timer is stored, so it fires after a restart even on a server started
//! without the setting. Runs on the suite's store.

use std::time::Duration;

use serde_json::json;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_tests::runs::{self, wait_for};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

/// An agent step no worker serves: the run stays running until paused.
/// Named apart each time: names are unique per tenant.
fn waiting_for_a_worker() -> serde_json::Value {
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("idle {}", MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    json!({"name": name, "steps": [{"id": "work", "type": "agent", "agent": "nobody", "task": "t"}]})
}

fn limited(lifetime: Duration) -> Config {
    let mut config = Config::default();
    config.runs.max_paused_lifetime = Some(lifetime);
    config
}

async fn paused_run(server: &TestServer, client: &Weft) -> String {
    let id = create_json(server, waiting_for_a_worker()).await;
    let run = runs::start(client, &id, json!({})).await;
    runs::pause(client, &run.id, "waiting on a person").await.expect("PauseRun");
    run.id
}

fn error_code(run: &pb::Run) -> &str {
    run.error.as_ref().map(|e| e.code.as_str()).unwrap_or_default()
}

#[tokio::test]
async fn a_run_paused_past_the_limit_fails_with_run_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), limited(Duration::from_secs(2))).await;
    let client = server.client().await;
    let run_id = paused_run(&server, &client).await;
    let failed = wait_for(&client, &run_id, &[pb::RunStatus::Failed], 15).await;
    assert_eq!(error_code(&failed), "RUN_TIMEOUT", "{failed:?}");
    let (status, body) = http1::json(server.addr, "GET", &format!("/v1/workflows/runs/{run_id}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains("RUN_TIMEOUT"), "{body}");
    assert!(body.to_string().contains("max_paused_lifetime"), "{body}");

    // A pause that ends in time fails nothing, nor does its timer later.
    let run_id = paused_run(&server, &client).await;
    let resume = pb::ResumeRunRequest { run_id: run_id.clone(), ..Default::default() };
    runs::resume(&client, resume).await.expect("ResumeRun");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(runs::get_run(&client, &run_id).await.status, pb::RunStatus::Running as i32);
    server.stop().await;
}

#[tokio::test]
async fn the_pause_timer_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), limited(Duration::from_secs(5))).await;
    let client = server.client().await;
    let run_id = paused_run(&server, &client).await;
    server.stop().await;

    // Started without the setting: the stored timer still fires.
    let server = TestServer::start_on(database, Config::default()).await;
    let client = server.client().await;
    assert_eq!(runs::get_run(&client, &run_id).await.status, pb::RunStatus::Paused as i32, "not yet");
    let failed = wait_for(&client, &run_id, &[pb::RunStatus::Failed], 15).await;
    assert_eq!(error_code(&failed), "RUN_TIMEOUT", "{failed:?}");

    // And on this server, with no limit, a new pause waits as long as it must.
    let later = paused_run(&server, &client).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(runs::get_run(&client, &later).await.status, pb::RunStatus::Paused as i32);
    server.stop().await;
}
